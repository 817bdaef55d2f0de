/**
 * The logic of the cross-tenant surge pool (the BurstPool Durable Object is a
 * thin shell around it). Only TenantBuckets call it, in leases; never a request.
 * Pure: the clock is passed in and the state is plain data.
 */
import { type BucketPolicy, type BucketState, credit, fullBucket, refill, takeUpTo } from "./bucket";
import type { PoolLeaseReply, PoolLeaseRequest } from "./lease";

/** Durable state of the surge pool. */
export interface PoolLedgerState {
	policy: BucketPolicy;
	bucket: BucketState;
	counters: PoolCounters;
}

/** Lifetime counters of the pool. */
export interface PoolCounters {
	/** Lease calls received. */
	calls: number;
	/** Tokens granted to TenantBuckets. */
	granted: number;
	/** Tokens handed back. */
	returned: number;
	/** Lease calls refused. */
	denials: number;
}

/** A new pool, full. */
export function newPool(policy: BucketPolicy, now: number): PoolLedgerState {
	return { policy, bucket: fullBucket(policy, now), counters: { calls: 0, granted: 0, returned: 0, denials: 0 } };
}

/**
 * Grants up to `want` pool tokens (at least `min`) after crediting what the
 * caller returned. A request with `want` 0 only returns tokens.
 */
export function leaseFromPool(
	state: PoolLedgerState,
	request: PoolLeaseRequest,
	now: number,
): { state: PoolLedgerState; reply: PoolLeaseReply } {
	const counters = { ...state.counters, calls: state.counters.calls + 1 };
	let bucket = state.bucket;
	if (request.returned > 0) {
		bucket = credit(bucket, state.policy, now, request.returned);
		counters.returned += request.returned;
	}
	if (request.want <= 0) {
		return {
			state: { ...state, bucket: refill(bucket, state.policy, now), counters },
			reply: { granted: 0, retryAfterMs: 0, policy: state.policy },
		};
	}
	const result = takeUpTo(bucket, state.policy, now, Math.max(1, request.min), request.want);
	if (result.taken === 0) counters.denials += 1;
	counters.granted += result.taken;
	return {
		state: { ...state, bucket: result.state, counters },
		reply: { granted: result.taken, retryAfterMs: result.retryAfterMs, policy: state.policy },
	};
}

/** Changes the pool's rate and burst; tokens above the new burst are dropped. */
export function configurePool(state: PoolLedgerState, policy: BucketPolicy, now: number): PoolLedgerState {
	const settled = refill(state.bucket, state.policy, now);
	return { ...state, policy, bucket: refill(settled, policy, now) };
}
