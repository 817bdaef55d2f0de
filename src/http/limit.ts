/**
 * The limiting route: identify, resolve the tenant's policy, admit locally or
 * lease, then forward to the origin or answer 429.
 */
import { runtimeFor } from "../runtime";
import { parseCost } from "./cost";
import { BURST_POOL_POLICY_NAME, decisionHeaders, retryAfter, retryAfterSeconds } from "./headers";
import { originHeaders, resolveIdentity } from "./identify";
import { errorResponse, ProblemError, problemResponse, QUOTA_EXCEEDED } from "./problem";
import { forward, OriginUnreachable } from "./proxy";

/**
 * Handles every request outside the control prefix (`url` is the request's,
 * parsed once). Never rejects: an error is answered by the one error handler.
 */
export async function limitAndForward(request: Request, env: Env, ctx: ExecutionContext, url: URL): Promise<Response> {
	// Caught here rather than by a `.catch` at the caller, which would cost a closure and a promise per request.
	try {
		const runtime = runtimeFor(env);
		const { settings } = runtime;
		const { headers: requestHeaders } = request;
		// `ctx` is what keeps background work (KV refreshes, leases) alive past this request.
		const resolved = resolveIdentity(url, requestHeaders, settings, runtime.credentials, ctx);
		const identity = resolved instanceof Promise ? await resolved : resolved;
		if (identity.kind === "refused") throw new ProblemError(identity.problem, identity.headers);
		// Path mode: the origin gets the canonical path the identity was read from.
		if (identity.path !== undefined) url.pathname = identity.path;
		const cost = parseCost(requestHeaders.get(settings.costHeader));
		if (cost === null) {
			throw new ProblemError({
				code: "invalid-cost",
				title: "Invalid request cost",
				status: 400,
				detail: `${settings.costHeader} must be an integer from 1 to 10000.`,
			});
		}
		// Both answer at once on the common path; awaiting only real promises saves two turns per request.
		const knownPolicy =
			identity.kind === "tenant"
				? runtime.configs.policyFor(env.CONFIG, identity.tenant, settings.defaultTier, settings.configTtlMs, ctx)
				: runtime.configs.anonymousPolicy(env.CONFIG, settings.configTtlMs, ctx);
		const policy = knownPolicy instanceof Promise ? await knownPolicy : knownPolicy;
		const throttled = identity.kind === "anonymous" ? identity.throttled : undefined;
		const decided = throttled ?? runtime.limiter.admit(identity.key, policy, cost, ctx);
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
				decision.reason === "burst_pool"
					? "the shared burst pool is exhausted"
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
					"violated-policies": [decision.reason === "burst_pool" ? BURST_POOL_POLICY_NAME : decision.policy.tier],
				},
				headers,
			);
		}
		let response: Response;
		try {
			// With API keys or path ids the limiter knows the tenant: the origin gets that, never a client's claim.
			response = await forward(request, settings.origin, url, originHeaders(settings, tenant));
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
	} catch (error) {
		return errorResponse(error, request);
	}
}
