/**
 * Every rate-limit header the limiter sends, built in one place:
 * `RateLimit-Policy` and `RateLimit` (draft-ietf-httpapi-ratelimit-headers-10,
 * structured fields), `X-RateLimit-*` for older clients, and `Retry-After`.
 * Pure.
 */

/** One quota policy as advertised to clients. */
export interface AdvertisedPolicy {
	/** Policy name (the tier, or `surge_pool`). */
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

/**
 * The window a token bucket is advertised over: the seconds a full burst takes
 * to refill, so that `q` per `w` describes both burst and rate.
 * @example windowSeconds({ name: "starter", rate: 300, burst: 1200 }) // 4
 */
export function windowSeconds(policy: AdvertisedPolicy): number {
	if (policy.rate <= 0) return 1;
	return Math.max(1, Math.round(policy.burst / policy.rate));
}

/**
 * Seconds until at least `needed` more tokens are available, given `remaining`;
 * 0 when the bucket is already full.
 * @example resetSeconds({ name: "starter", rate: 300, burst: 1200 }, 917, 1) // 1
 */
export function resetSeconds(policy: AdvertisedPolicy, remaining: number, needed = 1): number {
	if (remaining >= policy.burst) return 0;
	if (policy.rate <= 0) return windowSeconds(policy);
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
	/** Its `RateLimit-Policy` member. */
	member: string;
	/** Its name as an sf-string. */
	name: string;
	/** Its `X-RateLimit-Limit`. */
	limit: string;
}

const policyFields = new WeakMap<AdvertisedPolicy, PolicyFields>();

function fieldsOf(policy: AdvertisedPolicy): PolicyFields {
	let fields = policyFields.get(policy);
	if (fields === undefined) {
		const name = sfString(policy.name);
		fields = {
			member: `${name};q=${sfInteger(policy.burst)};w=${windowSeconds(policy)}`,
			name,
			limit: String(sfInteger(policy.burst)),
		};
		policyFields.set(policy, fields);
	}
	return fields;
}

const policyField = (policy: AdvertisedPolicy): string => fieldsOf(policy).member;

/**
 * The headers for a response about `status`, advertising `policies` (the
 * tenant's own first). `retryAfterS` adds `Retry-After` (denials only).
 * @example
 * rateLimitHeaders([starter], { policy: starter, remaining: 917, resetS: 1 })
 * // RateLimit-Policy: "starter";q=1200;w=4   RateLimit: "starter";r=917;t=1
 */
export function rateLimitHeaders(
	policies: readonly AdvertisedPolicy[],
	status: PolicyStatus,
	retryAfterS?: number,
): Record<string, string> {
	const fields = fieldsOf(status.policy);
	const remaining = String(sfInteger(status.remaining));
	const reset = String(sfInteger(status.resetS));
	const headers: Record<string, string> = {
		// Usually the one policy advertised is the one the status is about, whose fields are already at hand.
		"RateLimit-Policy":
			policies.length === 1 && policies[0] === status.policy ? fields.member : policies.map(policyField).join(", "),
		RateLimit: `${fields.name};r=${remaining};t=${reset}`,
		"X-RateLimit-Limit": fields.limit,
		"X-RateLimit-Remaining": remaining,
		"X-RateLimit-Reset": reset,
	};
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
