/**
 * The logic of one exact global bucket leased out to isolates: a tenant's (the
 * TenantBucket Durable Object is a thin shell around it), or a shard of the
 * burst pool (so is the BurstPool object): one protocol at every level. No
 * `cloudflare:` imports: the clock and persistence are injected, so the
 * simulation runs the very same code.
 */
import { newerView, type TenantPolicy } from "../tiers";
import { type BucketPolicy, type BucketState, credit, fullBucket, msUntil, refill } from "./bucket";
import {
	drainedPaceMs,
	LEASE_GRACE_MS,
	type LeaseLifetimes,
	type LeaseReply,
	type LeaseRequest,
	ROOMY_FRACTION,
	SUSPENDED_RETRY_MS,
	TENANT_LEASE_LIFETIMES,
} from "./lease";
import { OfferedRate } from "./pool-level";
import { newMeter, type RateMeter, record } from "./rate";
import { type RootCall, ShardLink } from "./shard-link";

/** Durable state of a tenant's bucket. */
export interface TenantLedgerState {
	key: string;
	policy: TenantPolicy;
	bucket: BucketState;
	/** Tokens granted to isolates (their recent rate, for an operator). */
	grants: RateMeter;
	/** Unexpired short leases (granted near the limit) by lease id: tokens counted as out and until when. */
	outstanding: Record<string, Outstanding>;
	/**
	 * Unexpired long leases (granted while the bucket was roomy), apart so that
	 * each record's leases expire in the order they were counted. Missing in
	 * buckets saved before long leases existed.
	 */
	roomyOutstanding?: Record<string, Outstanding>;
	lastLeaseAt: number;
	counters: TenantCounters;
	/** A pool shard's rate as its root last set it (its policy's otherwise). */
	shareRate?: number;
}

/** Tokens counted as leased out under one lease, and until when. */
export interface Outstanding {
	granted: number;
	expiresAt: number;
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
}

/** What the ledger needs from its surroundings. */
export interface TenantLedgerDeps {
	/** Milliseconds since the epoch. */
	now(): number;
	/** Persists the state; called before any reply that depends on it leaves. */
	save(state: TenantLedgerState): void;
	/** How long leases last, near the limit and far from it. @default TENANT_LEASE_LIFETIMES */
	lifetimes?: LeaseLifetimes;
	/**
	 * A shard of the burst pool: solves the fair level from its isolates' demand
	 * and returns it while contended, instead of a tenant's offered rate. @default false
	 */
	poolShard?: boolean;
	/**
	 * A pool shard's root: takes the shard's report, answers its rate and the
	 * fair level (see {@link PoolRoot}). @default the shard is its own root
	 */
	root?: RootCall;
	/** A pool shard's index, for its root. @default 0 */
	shard?: number;
}

/** An isolate counts as one of the tenant's callers for this long after its last call. */
export const CALLER_ACTIVE_MS = 1_000;

/** Every lease the bucket counts, short and long. */
function leases(state: TenantLedgerState): Outstanding[] {
	return [...Object.values(state.outstanding), ...Object.values(state.roomyOutstanding ?? {})];
}

/** Tokens in leases the bucket still counts as out. */
function reserved(state: TenantLedgerState, now: number): number {
	let total = 0;
	for (const lease of leases(state)) if (lease.expiresAt > now) total += lease.granted;
	return total;
}

/** The bucket's policy with room only for what is not leased out. */
function capacity(policy: BucketPolicy, leasedOut: number): BucketPolicy {
	return { rate: policy.rate, burst: Math.max(0, policy.burst - leasedOut) };
}

const ZERO_COUNTERS: TenantCounters = {
	admitted: 0,
	denied: 0,
	leases: 0,
	leaseDenials: 0,
	fallbacks: 0,
};

/** The bucket of one tenant: exact, persistent, leasing. */
export class TenantLedger {
	#state: TenantLedgerState | undefined;
	/** Isolates that called lately, with when (memory only: after eviction pacing starts from one isolate). */
	readonly #callers = new Map<string, number>();
	readonly #deps: TenantLedgerDeps;
	readonly #lifetimes: LeaseLifetimes;
	/**
	 * Tokens in `outstanding`, kept as leases come and go: a pool shard has a
	 * lease out per busy isolate, hundreds, and summing them on every call
	 * would make each call's work grow with the isolates.
	 */
	#out = 0;
	/** A tenant's offered rate across its isolates (tenants), or the shard's link to the pool's root (shards). */
	readonly #offered: OfferedRate | undefined;
	readonly #shard: ShardLink | undefined;

	constructor(state: TenantLedgerState | undefined, deps: TenantLedgerDeps) {
		this.#state = state;
		this.#deps = deps;
		this.#lifetimes = deps.lifetimes ?? TENANT_LEASE_LIFETIMES;
		if (deps.poolShard) this.#shard = new ShardLink(deps.shard ?? 0, deps.root);
		else this.#offered = new OfferedRate();
		if (state) for (const lease of leases(state)) this.#out += lease.granted;
	}

	/** Grants up to `want` tokens (at least `min`), or says why not. */
	lease(request: LeaseRequest): LeaseReply {
		const reply = this.#lease(request);
		const now = this.#deps.now();
		const state = this.#state as TenantLedgerState;
		if (this.#offered) {
			// All of them, those over the tenant's own rate too: a share of the pool is passed as a fraction of them.
			reply.offered = this.#offered.report(request.admitted + request.denied, now);
		} else if (this.#shard) {
			const bucket = {
				rate: this.#rate(state),
				even: state.policy.rate,
				version: state.policy.version,
				tokens: state.bucket.tokens,
				burst: state.policy.burst,
			};
			const level = this.#shard.observe(request, bucket, now, (rate, version) => this.#applyRate(rate, version));
			if (level !== undefined) reply.level = level;
		}
		return reply;
	}

	/** A rate the pool's root set for this shard under policy `version`; false if the policy changed since. */
	#applyRate(rate: number, version: number): boolean {
		const state = this.#state;
		if (!state || state.policy.version !== version) return false;
		if (rate === this.#rate(state)) return true;
		// Refilled at the old rate until now; at the new one from now.
		this.#settle(state, this.#deps.now());
		state.shareRate = rate;
		this.#deps.save(state);
		return true;
	}

	/** The rate the bucket refills at: a pool shard's as its root set it. */
	#rate(state: TenantLedgerState): number {
		return state.shareRate ?? state.policy.rate;
	}

	/** The policy the bucket's arithmetic uses (a shard's rate as its root set it). */
	#bucketPolicy(state: TenantLedgerState): BucketPolicy {
		return state.shareRate === undefined ? state.policy : { rate: state.shareRate, burst: state.policy.burst };
	}

	#lease(request: LeaseRequest): LeaseReply {
		const now = this.#deps.now();
		const { state, held } = this.#absorb(request, now);
		if (state.policy.suspended) return this.#deny(state, held, "suspended", SUSPENDED_RETRY_MS);
		const { policy } = state;
		const whole = Math.floor(state.bucket.tokens);
		if (request.min > policy.burst || whole < request.min) {
			const retryAfterMs = Math.max(
				msUntil(state.bucket, this.#bucketPolicy(state), request.min),
				this.#paceMs(policy),
			);
			return this.#deny(state, held, "tenant_rate", retryAfterMs);
		}
		return this.#grant(state, request, held, Math.min(Math.max(request.want, request.min), whole), now);
	}

	/** The bucket as an operator sees it; undefined before the first lease. */
	snapshot(): TenantSnapshot | undefined {
		const state = this.#state;
		if (!state) return undefined;
		const now = this.#deps.now();
		const leasedOut = reserved(state, now);
		const bucket = refill(state.bucket, capacity(this.#bucketPolicy(state), leasedOut), now);
		return {
			key: state.key,
			policy: state.policy,
			tokens: Math.max(0, Math.floor(bucket.tokens)),
			leasedOut,
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
			// A pool shard starts again from its even part of the new pool; its root learns of it from its next report.
			state.shareRate = undefined;
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
		const previous = request.previous === undefined ? undefined : this.#drop(state, request.previous, now);
		const held = Math.min(request.held ?? 0, previous?.granted ?? 0);
		// Counted at least as long as the previous lease was: should this reply never reach the isolate, it spends
		// them until that lease's end.
		if (held > 0) this.#count(state, request.lease, held, now, this.#lifetimes.tightMs, previous?.expiresAt);
		const returned = Math.min(request.returned, (previous?.granted ?? 0) - held);
		if (returned > 0)
			state.bucket = credit(state.bucket, capacity(this.#bucketPolicy(state), this.#out), now, returned);
		// What the isolate admitted alone while this bucket could not answer is spent too.
		if ((request.spent ?? 0) > 0)
			state.bucket = { tokens: state.bucket.tokens - (request.spent ?? 0), updatedAt: state.bucket.updatedAt };
		state.counters.admitted += request.admitted;
		state.counters.denied += request.denied;
		// Buckets saved before this counter existed lack it.
		state.counters.fallbacks = (state.counters.fallbacks ?? 0) + (request.fallbacks ?? 0);
		state.lastLeaseAt = now;
		// Pruned on every call, whatever its answer, so that isolates long gone are never remembered.
		// Re-inserted on every call, the map runs from the longest silent caller: prune from its front.
		for (const [isolate, at] of this.#callers) {
			if (now - at <= CALLER_ACTIVE_MS) break;
			this.#callers.delete(isolate);
		}
		this.#callers.delete(request.isolate);
		this.#callers.set(request.isolate, now);
		return { state, held };
	}

	/** How long a drained tenant's isolates wait between calls, given how many called in the last second. */
	#paceMs(policy: TenantPolicy): number {
		return drainedPaceMs(this.#callers.size, policy);
	}

	#fresh(key: string, policy: TenantPolicy, now: number): TenantLedgerState {
		const state: TenantLedgerState = {
			key,
			policy,
			bucket: fullBucket(policy, now),
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
		record(state.grants, now, granted);
		state.counters.leases += 1;
		// Long only while what stays in the bucket is half the burst or more: the long leases out then hold at
		// most the other half, and a tenant that nears its limit is back on short leases within one of them.
		const roomy = state.bucket.tokens >= state.policy.burst * ROOMY_FRACTION;
		const ttlMs = roomy ? this.#lifetimes.roomyMs : this.#lifetimes.tightMs;
		this.#count(state, request.lease, granted + held, now, ttlMs);
		this.#deps.save(state);
		return {
			granted,
			held,
			ttlMs,
			remaining: Math.max(0, Math.floor(state.bucket.tokens)),
			retryAfterMs: 0,
			policy: state.policy,
			paceMs: this.#paceMs(state.policy),
		};
	}

	#deny(state: TenantLedgerState, held: number, reason: LeaseReply["reason"], retryAfterMs: number): LeaseReply {
		state.counters.leaseDenials += 1;
		this.#deps.save(state);
		return {
			granted: 0,
			held,
			ttlMs: held > 0 ? this.#lifetimes.tightMs : 0,
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
		// The leases of one record all live as long, so they expire in the order they were counted (a key's
		// insertion order): drop them from the front. One a clock jump left behind a later one goes when it
		// reaches the front; until then it only counts as out a little longer, which never over-admits.
		for (const record of [state.outstanding, state.roomyOutstanding ?? {}])
			for (const id in record) {
				if ((record[id] as Outstanding).expiresAt > now) break;
				this.#drop(state, id, now);
			}
		// What a shard's bucket would hold with no cap (a tenant's need not be worked out: nobody asks).
		const uncapped = this.#shard
			? state.bucket.tokens + (this.#rate(state) * Math.max(0, now - state.bucket.updatedAt)) / 1000
			: 0;
		state.bucket = refill(state.bucket, capacity(this.#bucketPolicy(state), this.#out), now);
		// What it could not hold: its rate is more than its isolates take.
		this.#shard?.waste(Math.max(0, uncapped - state.bucket.tokens));
	}

	/**
	 * Counts `granted` tokens out under lease `id` until its lifetime `ttlMs`
	 * and the grace are over, and no sooner than `until` or than lease `id`
	 * was counted until already.
	 */
	#count(state: TenantLedgerState, id: string, granted: number, now: number, ttlMs: number, until = 0): void {
		const counted = this.#drop(state, id, now);
		const expiresAt = Math.max(now + ttlMs + LEASE_GRACE_MS, until, counted?.expiresAt ?? 0);
		const lease = { granted, expiresAt };
		// Each record's leases expire in the order they were counted: one counted longer goes with the long ones.
		if (expiresAt <= now + this.#lifetimes.tightMs + LEASE_GRACE_MS) state.outstanding[id] = lease;
		else {
			state.roomyOutstanding ??= {};
			state.roomyOutstanding[id] = lease;
		}
		this.#out += granted;
	}

	/** Stops counting lease `id`; returns it if it was still live (an expired one has nothing to give back). */
	#drop(state: TenantLedgerState, id: string, now: number): Outstanding | undefined {
		const record = id in state.outstanding ? state.outstanding : state.roomyOutstanding;
		const lease = record?.[id];
		if (!record || !lease) return undefined;
		delete record[id];
		this.#out -= lease.granted;
		return lease.expiresAt > now ? lease : undefined;
	}
}
