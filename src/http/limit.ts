/**
 * The limiting route: identify, resolve the tenant's policy, admit locally or
 * lease, then forward to the origin or answer 429.
 */
import { runtimeFor } from "../runtime";
import { parseCost } from "./cost";
import { decisionHeaders, retryAfter, retryAfterSeconds, SURGE_POLICY_NAME } from "./headers";
import { bucketKey, identify } from "./identify";
import { ProblemError, problemResponse, QUOTA_EXCEEDED } from "./problem";
import { forward, OriginUnreachable } from "./proxy";

/** Handles every request outside the control prefix (`url` is the request's, parsed once). */
export async function limitAndForward(request: Request, env: Env, ctx: ExecutionContext, url: URL): Promise<Response> {
	const runtime = runtimeFor(env);
	const { settings } = runtime;
	const { headers: requestHeaders } = request;
	let identity = identify(settings.tenantSource, url, requestHeaders);
	if (identity.kind === "api-key") {
		const owner = await runtime.keys.tenantFor(env.CONFIG, identity.apiKey, settings.configTtlMs);
		if (!owner) {
			throw new ProblemError(
				{
					code: "invalid-api-key",
					title: "Invalid API key",
					status: 401,
					detail: "The API key is unknown or revoked.",
				},
				{ "WWW-Authenticate": 'Bearer realm="api"' },
			);
		}
		identity = { kind: "tenant", tenant: owner, key: bucketKey(owner) };
	}
	if (identity.kind === "invalid") {
		throw new ProblemError({
			code: "invalid-tenant",
			title: "Invalid tenant id",
			status: 400,
			detail: identity.reason,
		});
	}
	if (identity.kind === "anonymous" && settings.anonymous === "reject") {
		throw new ProblemError(
			{ code: "tenant-required", title: "Tenant required", status: 401, detail: "This API requires a tenant id." },
			{ "WWW-Authenticate": 'Bearer realm="api"' },
		);
	}
	const cost = parseCost(requestHeaders.get(settings.costHeader));
	if (cost === null) {
		throw new ProblemError({
			code: "invalid-cost",
			title: "Invalid request cost",
			status: 400,
			detail: `${settings.costHeader} must be an integer from 1 to 10000.`,
		});
	}
	const defer = (work: Promise<unknown>) => ctx.waitUntil(work);
	// Both answer at once on the common path; awaiting only real promises saves two turns per request.
	const knownPolicy =
		identity.kind === "tenant"
			? runtime.configs.policyFor(env.CONFIG, identity.tenant, settings.defaultTier, settings.configTtlMs, defer)
			: runtime.configs.anonymousPolicy(env.CONFIG, settings.configTtlMs, defer);
	const policy = knownPolicy instanceof Promise ? await knownPolicy : knownPolicy;
	const decided = runtime.limiter.admit(identity.key, policy, cost, defer);
	const decision = decided instanceof Promise ? await decided : decided;
	const tenant = identity.kind === "tenant" ? identity.tenant : null;
	if (!decision.allowed && !Number.isFinite(decision.retryAfterMs)) {
		throw new ProblemError({
			code: "cost-exceeds-burst",
			title: "Request cost exceeds the burst",
			status: 400,
			detail: `A cost of ${cost} can never be admitted under a burst of ${decision.policy.burst}.`,
			tenant,
		});
	}
	if (!decision.allowed && decision.reason === "suspended") {
		throw new ProblemError({
			code: "tenant-suspended",
			title: "Tenant suspended",
			status: 403,
			detail: "This tenant's access is suspended.",
			tenant,
		});
	}
	if (!decision.allowed && decision.fallback === "closed") {
		return problemResponse(
			{
				code: "limiter-unavailable",
				title: "Service Unavailable",
				status: 503,
				detail: "The rate limiter cannot decide right now; retry shortly.",
				tenant,
				reason: "fallback",
			},
			retryAfter(retryAfterSeconds(decision.retryAfterMs, 1)),
		);
	}
	const { headers, retryAfterS } = decisionHeaders(decision, settings);
	if (!decision.allowed) {
		const limit =
			decision.reason === "surge_pool"
				? "the shared surge pool is exhausted"
				: `the ${decision.policy.tier} limit of ${decision.policy.rate} requests/s (burst ${decision.policy.burst}) is used up`;
		return problemResponse(
			{
				code: "rate-limited",
				type: QUOTA_EXCEEDED,
				title: "Quota Exceeded",
				status: 429,
				detail: `${tenant ? `Tenant ${tenant}` : "Anonymous client"}: ${limit}. Retry in ${retryAfterS} s.`,
				tenant,
				reason: decision.reason,
				retryAfter: retryAfterS,
				"violated-policies": [decision.reason === "surge_pool" ? SURGE_POLICY_NAME : decision.policy.tier],
			},
			headers,
		);
	}
	let response: Response;
	try {
		// With API keys or path ids the limiter knows the tenant: the origin gets that, never a client's claim.
		const trusted = settings.tenantSource.kind === "header" ? undefined : { "x-tenant-id": tenant };
		response = await forward(request, settings.origin, url, trusted);
	} catch (error) {
		if (!(error instanceof OriginUnreachable)) throw error;
		console.error(`origin unreachable: ${error.message}`);
		return problemResponse(
			{ code: "origin-unreachable", title: "Bad Gateway", status: 502, detail: "The origin could not be reached." },
			headers,
		);
	}
	// An unlimited tenant has no quota to advertise.
	if (!decision.policy.unlimited) {
		const out = response.headers;
		for (const name in headers) out.set(name, headers[name] as string);
	}
	return response;
}
