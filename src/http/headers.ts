/**
 * Every rate-limit header the limiter sends, built in one place, in the
 * flavours `RATELIMIT_HEADERS` selects: `draft10` (`RateLimit-Policy` and
 * `RateLimit` lists of draft-ietf-httpapi-ratelimit-headers-10), `draft7` (its
 * draft-7 predecessor: one `RateLimit: limit=…, remaining=…, reset=…`
 * dictionary), `legacy` (`X-RateLimit-*`); and `Retry-After`, always. Pure.
 */
import type { BucketPolicy } from "../limiter/bucket";
import type { Decision } from "../limiter/local";
import type { TenantPolicy } from "../tiers";

/** The header sets a response carries; `draft10` and `draft7` exclude each other (both are `RateLimit`). */
export interface HeaderFlavours {
	draft10: boolean;
	draft7: boolean;
	legacy: boolean;
}

/** Draft 7 for the clients that parse `RateLimit` (ratelimit-header-parser) plus `X-RateLimit-*` for the rest. */
export const DEFAULT_HEADER_FLAVOURS: Readonly<HeaderFlavours> = Object.freeze({
	draft10: false,
	draft7: true,
	legacy: true,
});

/** Name under which the burst pool is advertised when it is what said no. */
export const BURST_POOL_POLICY_NAME = "burst_pool";

/** One quota policy as advertised to clients. */
export interface AdvertisedPolicy {
	/** Policy name (the tier, or `burst_pool`). */
	name: string;
	rate: number;
	burst: number;
}

/** The state of the policy the response is about. */
export interface PolicyStatus {
	policy: AdvertisedPolicy;
	/** Whole tokens left. */
	remaining: number;
	/** Seconds until more quota is available (0 when the bucket is full). */
	resetS: number;
}

/** Largest relative error of `q / w` against the rate. */
const RATE_TOLERANCE = 0.01;

/**
 * The `q` and `w` a token bucket is advertised with: `q / w` is its sustained
 * rate (exactly for whole rates, within 1 % otherwise). `w` is the seconds a full
 * burst takes to refill, rounded, so `q` is the burst whenever that is whole.
 * @example quotaWindow({ name: "starter", rate: 300, burst: 1200 }) // { q: 1200, w: 4 }
 * @example quotaWindow({ name: "custom", rate: 1000, burst: 100 }) // { q: 1000, w: 1 }
 */
export function quotaWindow(policy: AdvertisedPolicy): { q: number; w: number } {
	const { rate, burst } = policy;
	if (!(rate > 0)) return { q: burst, w: 1 };
	let w = Math.max(1, Math.round(burst / rate));
	let q = Math.round(rate * w);
	// A fractional rate (the burst pool's may be) needs a window long enough for a whole q to be close.
	if (Math.abs(q - rate * w) > RATE_TOLERANCE * rate * w) {
		w = Math.max(w, Math.ceil(1 / (2 * RATE_TOLERANCE * rate)));
		q = Math.round(rate * w);
	}
	return { q, w };
}

/**
 * Seconds until at least `needed` more tokens are available, given `remaining`;
 * 0 when the bucket is already full.
 * @example resetSeconds({ name: "starter", rate: 300, burst: 1200 }, 917, 1) // 1
 */
export function resetSeconds(policy: AdvertisedPolicy, remaining: number, needed = 1): number {
	if (remaining >= policy.burst) return 0;
	if (policy.rate <= 0) return quotaWindow(policy).w;
	return Math.max(1, Math.ceil(needed / policy.rate));
}

/** Serializes an sf-string (RFC 9651 §4.1.6). Policy names are restricted, but stay safe anyway. */
function sfString(value: string): string {
	const printable = value.replace(/[^\x20-\x7e]/g, "");
	return `"${printable.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** An sf-integer; the field allows 15 digits at most. */
function sfInteger(value: number): number {
	return Math.min(999_999_999_999_999, Math.max(0, Math.floor(value)));
}

/** The fields of one policy that never change, serialized once per policy object (the hot path reuses them). */
interface PolicyFields {
	/** Its draft-10 `RateLimit-Policy` member: `"name";q=…;w=…`. */
	member10: string;
	/** Its name as an sf-string. */
	name: string;
	/** Its draft-7 `RateLimit-Policy` member: `q;w=…`. */
	member7: string;
	/** Its draft-7 `q`, to keep two draft-7 members from sharing one. */
	q: number;
	/** Its burst: draft 7's `limit` and `X-RateLimit-Limit`, what `remaining` counts down from. */
	limit: string;
}

const policyFields = new WeakMap<AdvertisedPolicy, PolicyFields>();

function fieldsOf(policy: AdvertisedPolicy): PolicyFields {
	let fields = policyFields.get(policy);
	if (fields === undefined) {
		const name = sfString(policy.name);
		const { q, w } = quotaWindow(policy);
		const quota = `${sfInteger(q)};w=${sfInteger(w)}`;
		fields = { member10: `${name};q=${quota}`, name, member7: quota, q, limit: String(sfInteger(policy.burst)) };
		policyFields.set(policy, fields);
	}
	return fields;
}

const member10 = (policy: AdvertisedPolicy): string => fieldsOf(policy).member10;

/** Draft 7 forbids two policies with one quota: a burst pool equal to the tier shows once. */
function members7(policies: readonly AdvertisedPolicy[], status: PolicyFields): string {
	return policies
		.map(fieldsOf)
		.filter((fields) => fields === status || fields.q !== status.q)
		.map((fields) => fields.member7)
		.join(", ");
}

/**
 * The headers in `flavours` for a response about `status`, advertising
 * `policies` (the tenant's own first). `retryAfterS` adds `Retry-After`
 * (denials only), whatever the flavours.
 * @example
 * rateLimitHeaders({ draft10: true, draft7: false, legacy: false }, [starter], { policy: starter, remaining: 917, resetS: 1 })
 * // RateLimit-Policy: "starter";q=1200;w=4   RateLimit: "starter";r=917;t=1
 */
export function rateLimitHeaders(
	flavours: Readonly<HeaderFlavours>,
	policies: readonly AdvertisedPolicy[],
	status: PolicyStatus,
	retryAfterS?: number,
): Record<string, string> {
	// Usually the one policy advertised is the one the status is about, whose fields are already at hand.
	const alone = policies.length === 1 && policies[0] === status.policy;
	return headersFor(flavours, alone ? null : policies, status.policy, status.remaining, status.resetS, retryAfterS);
}

/**
 * {@link rateLimitHeaders} with the status spread out (`policies` null: `policy`
 * alone), so that the hot path allocates no status object nor one-policy list.
 */
function headersFor(
	flavours: Readonly<HeaderFlavours>,
	policies: readonly AdvertisedPolicy[] | null,
	policy: AdvertisedPolicy,
	remainingTokens: number,
	resetS: number,
	retryAfterS?: number,
): Record<string, string> {
	const fields = fieldsOf(policy);
	const remaining = String(sfInteger(remainingTokens));
	const reset = String(sfInteger(resetS));
	const alone = policies === null;
	const headers: Record<string, string> = {};
	if (flavours.draft10) {
		headers["RateLimit-Policy"] = alone ? fields.member10 : policies.map(member10).join(", ");
		headers.RateLimit = `${fields.name};r=${remaining};t=${reset}`;
	} else if (flavours.draft7) {
		headers["RateLimit-Policy"] = alone ? fields.member7 : members7(policies, fields);
		headers.RateLimit = `limit=${fields.limit}, remaining=${remaining}, reset=${reset}`;
	}
	if (flavours.legacy) {
		headers["X-RateLimit-Limit"] = fields.limit;
		headers["X-RateLimit-Remaining"] = remaining;
		headers["X-RateLimit-Reset"] = reset;
	}
	if (retryAfterS !== undefined) headers["Retry-After"] = String(retryAfterS);
	return headers;
}

/**
 * `Retry-After` in whole seconds: at least 1, and never earlier than the `t`
 * advertised for the violated policy.
 * @example retryAfterSeconds(1500, 1) // 2
 */
export function retryAfterSeconds(retryAfterMs: number, resetS: number): number {
	const seconds = Number.isFinite(retryAfterMs) ? Math.ceil(retryAfterMs / 1000) : resetS;
	return Math.max(1, resetS, seconds);
}

/**
 * `Retry-After` alone, for answers that are not about a quota (the limiter
 * cannot decide).
 * @example retryAfter(1) // { "Retry-After": "1" }
 */
export function retryAfter(seconds: number): Record<string, string> {
	return { "Retry-After": String(seconds) };
}

const advertisedPolicies = new WeakMap<BucketPolicy, AdvertisedPolicy>();

/**
 * A tenant's policy (named by its tier) or the pool's as advertised to clients;
 * one object per policy, so header fields built from it are reused.
 */
function advertised(policy: TenantPolicy | BucketPolicy, name: string): AdvertisedPolicy {
	let shown = advertisedPolicies.get(policy);
	if (!shown) {
		shown = { name, rate: policy.rate, burst: policy.burst };
		advertisedPolicies.set(policy, shown);
	}
	return shown;
}

/** What the headers of a decision depend on besides the decision. */
export interface HeaderSettings {
	/** `RATELIMIT_HEADERS`. */
	rateLimitHeaders: Readonly<HeaderFlavours>;
	/** The burst pool, advertised when it said no and the decision does not carry its policy. */
	pool: BucketPolicy;
}

/**
 * The rate-limit headers of a decision, and for a denial its `Retry-After` in
 * seconds. A decision made by the failure policy is marked `X-RateLimit-Fallback`.
 */
export function decisionHeaders(
	decision: Decision,
	settings: HeaderSettings,
): { headers: Record<string, string>; retryAfterS?: number } {
	const tenant = advertised(decision.policy, decision.policy.tier);
	const flavours = settings.rateLimitHeaders;
	let headers: Record<string, string>;
	let retryAfterS: number | undefined;
	if (decision.allowed) {
		headers = headersFor(flavours, null, tenant, decision.remaining, resetSeconds(tenant, decision.remaining));
	} else {
		const violated =
			decision.reason === "burst_pool" ? advertised(decision.pool ?? settings.pool, BURST_POOL_POLICY_NAME) : tenant;
		retryAfterS = retryAfterSeconds(decision.retryAfterMs, 1);
		const policies = violated === tenant ? null : [tenant, violated];
		headers = headersFor(flavours, policies, violated, 0, retryAfterS, retryAfterS);
	}
	if (decision.fallback) headers["X-RateLimit-Fallback"] = decision.fallback;
	return retryAfterS === undefined ? { headers } : { headers, retryAfterS };
}
