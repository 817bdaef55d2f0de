/**
 * The logic of one tenant's global bucket (the TenantBucket Durable Object is a
 * thin shell around it). It leases tenant tokens to isolates, and holds a
 * reserve of burst-pool tokens leased from the BurstPool so that most isolate
 * leases need no pool call. No `cloudflare:` imports: the clock, the pool and
 * persistence are injected, so the simulation runs the very same code.
 */
import { DEFAULT_BURST_POOL, newerView, type TenantPolicy } from "../tiers";
import { type BucketPolicy, type BucketState, credit, fullBucket, msUntil, refill } from "./bucket";
import {
	drainedPaceMs,
	LEASE_GRACE_MS,
	LEASE_TTL_MS,
	type LeaseReply,
	type LeaseRequest,
	MAX_DENY_CACHE_MS,
	POOL_HORIZON_MS,
	POOL_LEASE_TTL_MS,
	type PoolLeaseReply,
	type PoolLeaseRequest,
	SUSPENDED_RETRY_MS,
} from "./lease";
import { currentRate, newMeter, observe, type RateMeter } from "./rate";

/** Durable state of a tenant's bucket. */
export interface TenantLedgerState {
	key: string;
	policy: TenantPolicy;
	bucket: BucketState;
	/** Burst-pool tokens held for this tenant, already debited from the pool… */
	poolTokens: number;
	/**
	 * …which it may lease on to isolates until then (the pool stops counting
	 * them a while later). Absent in buckets saved by older releases: none.
	 */
	poolExpiresAt?: number;
	/** Tokens granted to isolates, for sizing pool leases. */
	grants: RateMeter;
	/** Unexpired leases by lease id: tokens counted as out and until when. */
	outstanding: Record<string, { granted: number; expiresAt: number }>;
	lastLeaseAt: number;
	counters: TenantCounters;
}

/** Lifetime counters of a tenant, visible in its state. */
export interface TenantCounters {
	/** Requests admitted, as reported by isolates. */
	admitted: number;
	/** Requests denied, as reported by isolates. */
	denied: number;
	/** Leases granted to isolates. */
	leases: number;
	/** Lease requests refused. */
	leaseDenials: number;
	/** Calls made to the BurstPool. */
	poolCalls: number;
	/** Decisions isolates made by their failure policy while this bucket could not answer. */
	fallbacks: number;
}

/** What an operator sees of a tenant's bucket. */
export interface TenantSnapshot extends TenantCounters {
	key: string;
	policy: TenantPolicy;
	/** Whole tokens in the bucket now. */
	tokens: number;
	/** Tokens in unexpired leases (an upper bound: isolates may have spent some). */
	leasedOut: number;
	/** Burst-pool tokens held in reserve. */
	poolTokens: number;
}

/** What the ledger needs from its surroundings. */
export interface TenantLedgerDeps {
	/** Milliseconds since the epoch. */
	now(): number;
	/** Leases tokens from the burst pool. */
	pool(request: PoolLeaseRequest): Promise<PoolLeaseReply>;
	/** Persists the state; called before any reply that depends on it leaves. */
	save(state: TenantLedgerState): void;
}

/** An isolate counts as one of the tenant's callers for this long after its last call. */
export const CALLER_ACTIVE_MS = 1_000;

/** Tokens in leases the bucket still counts as out. */
function reserved(state: TenantLedgerState, now: number): number {
	let total = 0;
	for (const lease of Object.values(state.outstanding)) if (lease.expiresAt > now) total += lease.granted;
	return total;
}

/** The bucket's policy with room only for what is not leased out. */
function capacity(policy: TenantPolicy, leasedOut: number): BucketPolicy {
	return { rate: policy.rate, burst: Math.max(0, policy.burst - leasedOut) };
}

/** No tenant holds more than this fraction of the pool's burst in reserve. */
export const POOL_MAX_FRACTION = 0.25;

const ZERO_COUNTERS: TenantCounters = {
	admitted: 0,
	denied: 0,
	leases: 0,
	leaseDenials: 0,
	poolCalls: 0,
	fallbacks: 0,
};

/** Pool calls one lease may wait on while concurrent leases spend what each call brings. */
const MAX_POOL_CALLS_PER_LEASE = 4;

/** The bucket of one tenant: exact, persistent, leasing. */
export class TenantLedger {
	#state: TenantLedgerState | undefined;
	#poolRefill: Promise<PoolLeaseReply> | null = null;
	/** The pool's burst as of its last reply (the default until then). */
	#poolBurst: number = DEFAULT_BURST_POOL.burst;
	/** The pool's last refusal, remembered until its retry time so that a refused tenant does not hammer it. */
	#poolRefusal: { until: number; reply: PoolLeaseReply } | null = null;
	/** Isolates that called lately, with when (memory only: after eviction pacing starts from one isolate). */
	readonly #callers = new Map<string, number>();
	readonly #deps: TenantLedgerDeps;

	constructor(state: TenantLedgerState | undefined, deps: TenantLedgerDeps) {
		this.#state = state;
		this.#deps = deps;
	}

	/**
	 * Grants up to `want` tokens (at least `min`) that are available both in the
	 * tenant's bucket and in the burst pool, or says why not. A pool denial
	 * leaves the tenant's bucket untouched.
	 */
	async lease(request: LeaseRequest): Promise<LeaseReply> {
		const { state, held } = this.#absorb(request, this.#deps.now());
		if (state.policy.suspended) return this.#deny(state, held, "suspended", SUSPENDED_RETRY_MS);
		let poolReply: PoolLeaseReply | null = null;
		for (let poolCalls = 0; ; poolCalls++) {
			const now = this.#deps.now();
			const { policy } = state;
			this.#settle(state, now);
			const whole = Math.floor(state.bucket.tokens);
			if (request.min > policy.burst || whole < request.min) {
				const retryAfterMs = Math.max(msUntil(state.bucket, policy, request.min), this.#paceMs());
				return this.#deny(state, held, "tenant_rate", retryAfterMs);
			}
			const want = Math.min(Math.max(request.want, request.min), whole);
			const poolWhole = Math.floor(this.#reserve(state, now));
			const refusal = this.#poolRefusal;
			// A refusal remembered from the pool stands only for what the tenant's own reserve cannot cover.
			if (!poolReply && refusal && refusal.until > now) poolReply = refusal.reply;
			if (poolWhole >= want || (poolReply && poolWhole >= request.min)) {
				return this.#grant(state, request, held, Math.min(want, poolWhole), now);
			}
			// A grant that concurrent leases spent first is no refusal: ask the pool again (a few times at most).
			if (poolReply && (poolReply.granted === 0 || poolCalls >= MAX_POOL_CALLS_PER_LEASE)) {
				const retryAfterMs = refusal && refusal.until > now ? refusal.until - now : poolReply.retryAfterMs;
				return { ...this.#deny(state, held, "burst_pool", retryAfterMs), pool: poolReply.policy };
			}
			poolReply = await this.#refillPool(state, want - poolWhole, request.min - poolWhole, now);
		}
	}

	/** The bucket as an operator sees it; undefined before the first lease. */
	snapshot(): TenantSnapshot | undefined {
		const state = this.#state;
		if (!state) return undefined;
		const now = this.#deps.now();
		const leasedOut = reserved(state, now);
		const bucket = refill(state.bucket, capacity(state.policy, leasedOut), now);
		return {
			key: state.key,
			policy: state.policy,
			tokens: Math.max(0, Math.floor(bucket.tokens)),
			leasedOut,
			poolTokens: state.poolTokens,
			...state.counters,
		};
	}

	/**
	 * Applies a policy pushed by an operator (from the next lease on), unless the
	 * bucket already holds a newer one (an equal version is a later push of the
	 * same instant, and wins). Returns the policy in force.
	 */
	configure(policy: TenantPolicy, key: string): TenantPolicy {
		const now = this.#deps.now();
		let state = this.#state;
		if (!state) {
			state = this.#fresh(key, policy, now);
		} else if (newerView(policy, state.policy, now, true)) {
			this.#settle(state, now);
			state.policy = policy;
			// A lower burst takes effect at once.
			this.#settle(state, now);
		}
		this.#deps.save(state);
		return state.policy;
	}

	/** Fills the bucket again, less what is leased out (which stays spendable). */
	reset(): void {
		const state = this.#state;
		if (!state) return;
		const now = this.#deps.now();
		state.bucket = fullBucket(capacity(state.policy, reserved(state, now)), now);
		this.#deps.save(state);
	}

	/**
	 * Gives the burst-pool reserve back if no lease came for `idleMs`, so an idle
	 * tenant does not strand pool tokens. Returns the milliseconds until it is
	 * worth asking again, or null when nothing is held.
	 */
	async releaseIdlePool(idleMs: number): Promise<number | null> {
		const state = this.#state;
		const now = this.#deps.now();
		// Nothing to release once the reserve expired: the pool stops counting it on its own soon after.
		if (!state || (state.poolExpiresAt ?? 0) <= now) return null;
		const idle = now - state.lastLeaseAt;
		if (idle < idleMs) return idleMs - idle;
		// A pool call in flight may bring a grant the pool already counts: releasing now would drop that count.
		if (this.#poolRefill) return idleMs;
		const returned = Math.floor(state.poolTokens);
		// Debit first: should the call fail, the tokens are lost (bounded), never spent twice. Isolates' leases
		// still out stay counted by the pool; what they hand back no longer rejoins a reserve.
		state.poolTokens = 0;
		state.poolExpiresAt = 0;
		this.#deps.save(state);
		const held = Math.ceil(reserved(state, now));
		await this.#deps.pool({ key: state.key, weight: state.policy.weight, min: 0, want: 0, returned, held });
		return null;
	}

	/** Absorbs what the request reports; returns the state and the tokens of `previous` now held under the new lease. */
	#absorb(request: LeaseRequest, now: number): { state: TenantLedgerState; held: number } {
		const state = this.#state ?? this.#fresh(request.key, request.policy, now);
		// Refill up to now under the old policy, with this isolate's lease still out.
		this.#settle(state, now);
		// Only a newer view of the configuration replaces the one in force; an isolate with an older one (a stale
		// cache) learns the newer from this reply.
		if (newerView(request.policy, state.policy, now)) state.policy = request.policy;
		// The isolate's previous lease is over: what it did not spend comes back,
		// and what it still holds is counted under the new lease. Only a lease still
		// counted has tokens to come back or be held: once the bucket stopped counting
		// one (it expired, or another call of the same isolate renewed it), it refilled
		// in their place, and counting them again would mint tokens.
		const previous = request.previous === undefined ? undefined : state.outstanding[request.previous];
		if (previous) delete state.outstanding[request.previous as string];
		const held = Math.min(request.held ?? 0, previous?.granted ?? 0);
		if (held > 0) state.outstanding[request.lease] = { granted: held, expiresAt: now + LEASE_TTL_MS + LEASE_GRACE_MS };
		const returned = Math.min(request.returned, (previous?.granted ?? 0) - held);
		if (returned > 0) {
			state.bucket = credit(state.bucket, capacity(state.policy, reserved(state, now)), now, returned);
			// Their pool tokens rejoin the reserve while it lasts (the pool still counts them).
			if ((state.poolExpiresAt ?? 0) > now) state.poolTokens += returned;
		}
		// What the isolate admitted alone while this bucket could not answer is spent too.
		if ((request.spent ?? 0) > 0)
			state.bucket = { tokens: state.bucket.tokens - (request.spent ?? 0), updatedAt: state.bucket.updatedAt };
		state.counters.admitted += request.admitted;
		state.counters.denied += request.denied;
		// Buckets saved before this counter existed lack it.
		state.counters.fallbacks = (state.counters.fallbacks ?? 0) + (request.fallbacks ?? 0);
		state.lastLeaseAt = now;
		// Pruned on every call, whatever its answer, so that isolates long gone are never remembered.
		for (const [isolate, at] of this.#callers) if (now - at > CALLER_ACTIVE_MS) this.#callers.delete(isolate);
		this.#callers.set(request.isolate, now);
		return { state, held };
	}

	/** The pool tokens the tenant may still lease on: none once its reserve expired. */
	#reserve(state: TenantLedgerState, now: number): number {
		if ((state.poolExpiresAt ?? 0) <= now) state.poolTokens = 0;
		return state.poolTokens;
	}

	/** How long a drained tenant's isolates wait between calls, given how many called in the last second. */
	#paceMs(): number {
		return drainedPaceMs(this.#callers.size);
	}

	#fresh(key: string, policy: TenantPolicy, now: number): TenantLedgerState {
		const state: TenantLedgerState = {
			key,
			policy,
			bucket: fullBucket(policy, now),
			poolTokens: 0,
			grants: newMeter(now),
			outstanding: {},
			lastLeaseAt: now,
			counters: { ...ZERO_COUNTERS },
		};
		this.#state = state;
		return state;
	}

	#grant(state: TenantLedgerState, request: LeaseRequest, held: number, granted: number, now: number): LeaseReply {
		state.bucket = { tokens: state.bucket.tokens - granted, updatedAt: state.bucket.updatedAt };
		state.poolTokens -= granted;
		state.grants = observe(state.grants, now, granted);
		state.counters.leases += 1;
		state.outstanding[request.lease] = { granted: granted + held, expiresAt: now + LEASE_TTL_MS + LEASE_GRACE_MS };
		this.#deps.save(state);
		return {
			granted,
			held,
			ttlMs: LEASE_TTL_MS,
			remaining: Math.max(0, Math.floor(state.bucket.tokens)),
			retryAfterMs: 0,
			policy: state.policy,
			paceMs: this.#paceMs(),
		};
	}

	#deny(state: TenantLedgerState, held: number, reason: LeaseReply["reason"], retryAfterMs: number): LeaseReply {
		state.counters.leaseDenials += 1;
		this.#deps.save(state);
		return {
			granted: 0,
			held,
			ttlMs: held > 0 ? LEASE_TTL_MS : 0,
			remaining: Math.max(0, Math.floor(state.bucket.tokens)),
			retryAfterMs: Math.max(1, retryAfterMs),
			reason,
			policy: state.policy,
		};
	}

	/**
	 * Refills the bucket up to `now`, capped so that the bucket plus the tokens
	 * still leased out never exceed the burst: a lease spent late cannot stack
	 * on top of a bucket that refilled meanwhile. Expired leases are forgotten.
	 */
	#settle(state: TenantLedgerState, now: number): void {
		for (const [id, lease] of Object.entries(state.outstanding)) {
			if (lease.expiresAt <= now) delete state.outstanding[id];
		}
		state.bucket = refill(state.bucket, capacity(state.policy, reserved(state, now)), now);
	}

	/** One pool call at a time per tenant; concurrent leases wait on the same one. */
	#refillPool(state: TenantLedgerState, need: number, min: number, now: number): Promise<PoolLeaseReply> {
		if (!this.#poolRefill) {
			// Hold about POOL_HORIZON_MS of this tenant's grants, sized by use: the pool counts
			// every token a tenant holds, so a reserve sized by the burst would strand it across
			// thousands of quiet tenants. Never more than a burst, nor so much of the pool that
			// one big tenant could hoard it.
			// At least twice what this lease needs, so that the next lease of a quiet tenant needs no pool call.
			const target = Math.max(2 * need, Math.ceil((currentRate(state.grants, now) * POOL_HORIZON_MS) / 1000));
			const poolCap = Math.max(1, Math.floor(this.#poolBurst * POOL_MAX_FRACTION));
			const want = Math.max(need, Math.min(target, state.policy.burst, poolCap));
			state.counters.poolCalls += 1;
			// What the tenant holds, in reserve and in isolates' leases, stays counted by the pool under the renewed grant.
			const reserve = this.#reserve(state, now);
			const held = Math.ceil(reserve + reserved(state, now));
			const request = { key: state.key, weight: state.policy.weight, min: Math.max(1, min), want, returned: 0, held };
			this.#poolRefill = this.#deps
				.pool(request)
				.then((reply) => {
					this.#poolBurst = reply.policy.burst;
					// Should the pool count less than was held (its clock ran ahead), only that much of the reserve lives on.
					state.poolTokens = Math.min(this.#reserve(state, this.#deps.now()), reply.held ?? 0) + reply.granted;
					if (reply.granted > 0 || (reply.held ?? 0) > 0)
						state.poolExpiresAt = now + (reply.ttlMs ?? POOL_LEASE_TTL_MS);
					// Remembered for at most a second: a refusal for a cost the pool can never grant holds for no other.
					const until = this.#deps.now() + Math.min(reply.retryAfterMs, MAX_DENY_CACHE_MS);
					this.#poolRefusal = reply.granted > 0 ? null : { until, reply };
					this.#deps.save(state);
					return reply;
				})
				.finally(() => {
					this.#poolRefill = null;
				});
		}
		return this.#poolRefill;
	}
}
