/**
 * The failure policy (`FAIL_MODE`): what the edge answers while a tenant's
 * bucket cannot (it threw, reported overload, or missed the deadline), and how
 * long the circuit stays open, so that a failing object is not called per
 * request. Pure; the clock is passed in.
 */
import type { TenantPolicy } from "../tiers";
import { type BucketPolicy, type BucketState, fullBucket, refill, take } from "./bucket";

/**
 * `open` admits, `closed` refuses (503), `local` enforces the tier's rate and
 * burst from the isolate alone (the `FAIL_MODE` setting).
 */
export type FailMode = "open" | "closed" | "local";

/** The failure policy's answer to one request. */
export type FallbackAnswer = { allowed: true; remaining: number } | { allowed: false; retryAfterMs: number };

/**
 * Answers one request of `cost` under `mode`. `closed` refuses until the
 * circuit's probe (`breakerUntil`); `local` spends from `bucket`, the
 * isolate-alone bucket (full when first used), and returns it to be kept.
 */
export function fallbackAnswer(
	mode: FailMode,
	policy: TenantPolicy,
	bucket: BucketState | null,
	cost: number,
	now: number,
	breakerUntil: number,
): { answer: FallbackAnswer; bucket: BucketState | null } {
	if (mode === "open") return { answer: { allowed: true, remaining: 0 }, bucket };
	if (mode === "closed") return { answer: { allowed: false, retryAfterMs: Math.max(1, breakerUntil - now) }, bucket };
	const result = take(bucket ?? fullBucket(policy, now), policy, now, cost);
	const answer: FallbackAnswer =
		result.taken > 0
			? { allowed: true, remaining: Math.floor(result.remaining) }
			: { allowed: false, retryAfterMs: result.retryAfterMs };
	return { answer, bucket: result.state };
}

/**
 * Until when the circuit stays open after `error`: `breakerMs`, twice that for
 * an object that reported overload (`.overloaded`), which is never retried sooner.
 */
export function circuitOpenUntil(error: unknown, now: number, breakerMs: number): number {
	const overloaded = (error as { overloaded?: boolean } | null)?.overloaded === true;
	return now + breakerMs * (overloaded ? 2 : 1);
}

/**
 * Charges an admission the tenant's bucket leased to the isolate-alone bucket,
 * which may go below zero: from a tenant's first failure on, the isolate admits
 * no more of it, failing or not, than the tier allows from the isolate alone.
 */
export function chargeFallback(bucket: BucketState, policy: BucketPolicy, now: number, cost: number): BucketState {
	const current = refill(bucket, policy, now);
	return { tokens: current.tokens - cost, updatedAt: current.updatedAt };
}
