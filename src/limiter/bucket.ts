/**
 * Token-bucket math. One implementation serves the isolate, the TenantBucket and
 * the BurstPool. Pure: state in, state out, the clock passed in as `now` (ms).
 */

/** Refill rate and capacity of a bucket. */
export interface BucketPolicy {
	/** Tokens added per second. */
	rate: number;
	/** Capacity; also the tokens a new bucket starts with. */
	burst: number;
}

/** A bucket's state: fractional tokens as of `updatedAt`. */
export interface BucketState {
	tokens: number;
	/** Milliseconds since the epoch of the last refill. */
	updatedAt: number;
}

/** Outcome of {@link take} and {@link takeUpTo}. */
export interface TakeResult {
	/** Whole tokens taken: 0 when denied. */
	taken: number;
	/** Tokens left after the take. */
	remaining: number;
	/** When denied, milliseconds until the minimum could be taken; `Infinity` if never. 0 when allowed. */
	retryAfterMs: number;
	state: BucketState;
}

/** A full bucket as of `now`. */
export function fullBucket(policy: BucketPolicy, now: number): BucketState {
	return { tokens: policy.burst, updatedAt: now };
}

/**
 * Adds what `rate` earned since `updatedAt`, capped at `burst`. A clock that
 * went backwards adds nothing and does not move `updatedAt` back, so time is
 * never counted twice.
 */
export function refill(state: BucketState, policy: BucketPolicy, now: number): BucketState {
	if (now <= state.updatedAt) return state.tokens > policy.burst ? { ...state, tokens: policy.burst } : state;
	const earned = ((now - state.updatedAt) * policy.rate) / 1000;
	return { tokens: Math.min(policy.burst, state.tokens + earned), updatedAt: now };
}

/** Milliseconds from `state` (already refilled) until it holds `tokens`; `Infinity` if never. */
export function msUntil(state: BucketState, policy: BucketPolicy, tokens: number): number {
	if (tokens > policy.burst) return Number.POSITIVE_INFINITY;
	if (state.tokens >= tokens) return 0;
	if (policy.rate <= 0) return Number.POSITIVE_INFINITY;
	return Math.ceil(((tokens - state.tokens) * 1000) / policy.rate);
}

/**
 * Takes as many whole tokens as are there, up to `max`, but only if at least
 * `min` are: the primitive behind leases.
 * @example takeUpTo(fullBucket({ rate: 10, burst: 20 }, 0), { rate: 10, burst: 20 }, 0, 1, 50).taken // 20
 */
export function takeUpTo(state: BucketState, policy: BucketPolicy, now: number, min: number, max: number): TakeResult {
	const current = refill(state, policy, now);
	const whole = Math.floor(current.tokens);
	if (whole < min || min > policy.burst) {
		return {
			taken: 0,
			remaining: current.tokens,
			retryAfterMs: Math.max(1, msUntil(current, policy, min)),
			state: current,
		};
	}
	const taken = Math.min(Math.max(min, max), whole);
	const next = { tokens: current.tokens - taken, updatedAt: current.updatedAt };
	return { taken, remaining: next.tokens, retryAfterMs: 0, state: next };
}

/**
 * Takes exactly `cost` tokens, or none.
 * @example take(fullBucket({ rate: 300, burst: 1200 }, 0), { rate: 300, burst: 1200 }, 0, 1).remaining // 1199
 */
export function take(state: BucketState, policy: BucketPolicy, now: number, cost: number): TakeResult {
	return takeUpTo(state, policy, now, cost, cost);
}

/**
 * Gives back tokens that were taken but not spent. Capped at `burst`: a bucket
 * that refilled while the tokens were out cannot hold more than it would have
 * held had they never left, so credit never over-admits.
 */
export function credit(state: BucketState, policy: BucketPolicy, now: number, tokens: number): BucketState {
	const current = refill(state, policy, now);
	return { tokens: Math.min(policy.burst, current.tokens + Math.max(0, tokens)), updatedAt: current.updatedAt };
}
