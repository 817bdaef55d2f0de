/**
 * The logic of the cross-tenant burst pool (the BurstPool Durable Object is a
 * thin shell around it). Only TenantBuckets call it, in leases; never a request.
 *
 * Uncontended, any tenant may take what it asks for. Contended (a grant would
 * leave the pool running low), tenants are served in weighted fair order, as
 * in start-time fair queuing: each tenant has a virtual time that advances by
 * `granted / weight`; a tenant more than a quantum ahead of the slowest active
 * tenant waits; a tenant that fell behind (it asked for little) is lifted to
 * within a quantum of the service point, so it can neither bank credit nor
 * hold the others back. Tenants that keep asking receive pool tokens in
 * proportion to their weights.
 *
 * No `cloudflare:` imports; the clock is injected.
 */
import { type BucketPolicy, type BucketState, credit, fullBucket, refill, takeUpTo } from "./bucket";
import { POOL_HOLD_MS, POOL_LEASE_TTL_MS, type PoolLeaseReply, type PoolLeaseRequest } from "./lease";

/** Durable state of the burst pool. Fairness bookkeeping is soft and stays in memory. */
export interface BurstPoolLedgerState {
	policy: BucketPolicy;
	bucket: BucketState;
	/**
	 * Pool tokens each tenant holds (in its reserve and its isolates' leases) and
	 * until when they count: the bucket never refills over them, so tokens held
	 * while it refilled cannot be spent on top of a full pool. Absent in state
	 * saved by older releases.
	 */
	held?: Record<string, { tokens: number; expiresAt: number }>;
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
	/** Lease calls refused (empty pool or over the caller's fair share). */
	denials: number;
}

/** The pool counts as contended when a grant would leave less than this fraction of its burst. */
export const CONTENDED_FRACTION = 0.25;

/** A tenant that has not asked for this long no longer counts as active. */
export const ACTIVE_MS = 1_000;

/**
 * Under contention a tenant may run ahead of the slowest active tenant by this
 * much of its fair share (and one grant is at most that big), so shares over
 * any longer window are close to the weights.
 */
export const FAIR_SLICE_MS = 100;

/** Fairness bookkeeping of one tenant. */
interface Share {
	weight: number;
	/** Tokens granted divided by weight, since the tenant first asked (lifted, see above). */
	vtime: number;
	lastSeen: number;
}

/** A new pool, full. */
export function newPool(policy: BucketPolicy, now: number): BurstPoolLedgerState {
	return {
		policy,
		bucket: fullBucket(policy, now),
		held: {},
		counters: { calls: 0, granted: 0, returned: 0, denials: 0 },
	};
}

/** Tokens tenants hold, forgetting expired holdings. */
function holdings(state: BurstPoolLedgerState, now: number): number {
	let total = 0;
	const held = state.held ?? {};
	for (const [key, holding] of Object.entries(held)) {
		if (holding.expiresAt <= now) delete held[key];
		else total += holding.tokens;
	}
	return total;
}

/** The pool's policy with room only for what tenants do not hold. */
function room(state: BurstPoolLedgerState, now: number): BucketPolicy {
	return { rate: state.policy.rate, burst: Math.max(0, state.policy.burst - holdings(state, now)) };
}

/** What the ledger needs from its surroundings. */
export interface BurstPoolLedgerDeps {
	now(): number;
	/** Persists the state; called before the reply leaves. */
	save(state: BurstPoolLedgerState): void;
}

/** The burst pool: a token bucket leased out in bulk, shared by weight under contention. */
export class BurstPoolLedger {
	#state: BurstPoolLedgerState;
	readonly #shares = new Map<string, Share>();
	/** The service point: the highest virtual start time granted so far. */
	#serviceTime = 0;
	/** Virtual time one fair slice is worth, as of the last contended call. */
	#quantum = 1;
	readonly #deps: BurstPoolLedgerDeps;

	constructor(state: BurstPoolLedgerState, deps: BurstPoolLedgerDeps) {
		this.#state = state;
		this.#deps = deps;
	}

	/**
	 * Grants up to `want` pool tokens (at least `min`) after crediting what the
	 * caller returned. A request with `want` 0 only returns tokens.
	 */
	lease(request: PoolLeaseRequest): PoolLeaseReply {
		const now = this.#deps.now();
		const state = this.#state;
		const { counters, policy } = state;
		counters.calls += 1;
		state.held ??= {};
		// Refill up to now with the tenant's holding still counted; then what it no longer holds comes back.
		state.bucket = refill(state.bucket, room(state, now), now);
		const before = state.held[request.key]?.tokens ?? 0;
		const held = Math.max(0, Math.min(request.held ?? 0, before));
		const returned = Math.max(0, Math.min(request.returned, before - held));
		if (held > 0) state.held[request.key] = { tokens: held, expiresAt: now + POOL_HOLD_MS };
		else delete state.held[request.key];
		state.bucket = credit(state.bucket, room(state, now), now, returned);
		counters.returned += returned;
		if (request.want <= 0) {
			this.#deps.save(state);
			return { granted: 0, held, ttlMs: POOL_LEASE_TTL_MS, retryAfterMs: 0, policy };
		}
		const share = this.#share(request, now);
		const min = Math.max(1, request.min);
		let want = request.want;
		const contended = state.bucket.tokens - want < policy.burst * CONTENDED_FRACTION;
		if (contended) {
			const { slowest, activeWeight } = this.#active(now);
			// Virtual time advances at rate / activeWeight per second for every backlogged tenant.
			this.#quantum = Math.max(1e-9, (policy.rate * FAIR_SLICE_MS) / 1000 / activeWeight);
			const ahead = share.vtime - slowest - this.#quantum;
			if (ahead > 0) {
				counters.denials += 1;
				this.#deps.save(state);
				const retryAfterMs = Math.ceil((ahead * activeWeight * 1000) / policy.rate);
				return {
					granted: 0,
					held,
					ttlMs: POOL_LEASE_TTL_MS,
					retryAfterMs: Math.min(1_000, Math.max(5, retryAfterMs)),
					policy,
				};
			}
			want = Math.max(min, Math.min(want, Math.ceil(this.#quantum * share.weight)));
		}
		const result = takeUpTo(state.bucket, room(state, now), now, min, want);
		state.bucket = result.state;
		if (result.taken === 0) counters.denials += 1;
		counters.granted += result.taken;
		if (held + result.taken > 0)
			state.held[request.key] = { tokens: held + result.taken, expiresAt: now + POOL_HOLD_MS };
		if (contended) {
			// Only contended grants take fair-queue time: a tenant served from a roomy pool owes the others nothing.
			this.#serviceTime = Math.max(this.#serviceTime, share.vtime);
			share.vtime += result.taken / share.weight;
		}
		this.#deps.save(state);
		return { granted: result.taken, held, ttlMs: POOL_LEASE_TTL_MS, retryAfterMs: result.retryAfterMs, policy };
	}

	/** The pool as an operator sees it. */
	snapshot(): BurstPoolLedgerState & { activeTenants: number } {
		const now = this.#deps.now();
		const state = this.#state;
		let activeTenants = 0;
		for (const share of this.#shares.values()) if (now - share.lastSeen <= ACTIVE_MS) activeTenants += 1;
		return { ...state, bucket: refill(state.bucket, room(state, now), now), activeTenants };
	}

	/** Changes the pool's rate and burst; tokens above the new burst are dropped. */
	configure(policy: BucketPolicy): void {
		const now = this.#deps.now();
		const state = this.#state;
		const settled = refill(state.bucket, room(state, now), now);
		state.policy = policy;
		state.bucket = refill(settled, room(state, now), now);
		this.#deps.save(state);
	}

	#share(request: PoolLeaseRequest, now: number): Share {
		let share = this.#shares.get(request.key);
		if (!share) {
			if (this.#shares.size >= 4_096) this.#prune(now);
			share = { weight: 1, vtime: 0, lastSeen: now };
			this.#shares.set(request.key, share);
		}
		share.weight = request.weight > 0 ? request.weight : 1;
		share.vtime = Math.max(share.vtime, this.#serviceTime - this.#quantum);
		share.lastSeen = now;
		return share;
	}

	/** The slowest virtual time among active tenants and their total weight. */
	#active(now: number): { slowest: number; activeWeight: number } {
		let slowest = Number.POSITIVE_INFINITY;
		let activeWeight = 0;
		for (const share of this.#shares.values()) {
			if (now - share.lastSeen > ACTIVE_MS) continue;
			activeWeight += share.weight;
			slowest = Math.min(slowest, Math.max(share.vtime, this.#serviceTime - this.#quantum));
		}
		return { slowest, activeWeight };
	}

	#prune(now: number): void {
		for (const [key, share] of this.#shares) if (now - share.lastSeen > 10 * ACTIVE_MS) this.#shares.delete(key);
	}
}
