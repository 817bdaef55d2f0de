/**
 * The lease protocol: what an isolate asks a TenantBucket (or a BurstPool
 * shard: the same protocol) for, and how big a lease should be.
 *
 * Invariant that makes the global count exact: a token is debited from the
 * grantor when it is leased, and only leased tokens are ever spent. Unspent
 * tokens may come back (credited, capped at burst) or be lost; they are never
 * spent twice.
 */
import type { TenantPolicy } from "../tiers";
import type { DemandHistogram } from "./pool-level";

/** Why a request was denied. */
export type DenyReason = "tenant_rate" | "burst_pool" | "suspended";

/** An isolate's request to a TenantBucket. */
export interface LeaseRequest {
	/** Bucket key: a tenant id, or `anon:<ip>`. */
	key: string;
	/** Random id of the asking isolate (for pacing a drained tenant's callers). */
	isolate: string;
	/** Id of the lease this call asks for, unique per call: each call's grant is counted on its own. */
	lease: string;
	/**
	 * The isolate's current lease, whose unspent tokens `returned` hands back and
	 * `held` keeps; neither counts unless the bucket still counts that lease.
	 */
	previous?: string;
	/** The policy the isolate believes in; the bucket keeps whichever version is newer. */
	policy: TenantPolicy;
	/** Smallest useful grant: the cost of the request that is waiting. */
	min: number;
	/** Tokens the isolate would like (its recent demand over the lease horizon). */
	want: number;
	/** Unspent tokens of `previous`, handed back. */
	returned: number;
	/**
	 * Tokens of `previous` the isolate keeps spending (it asks ahead of time);
	 * the bucket counts them under the new lease from now on. @default 0
	 */
	held?: number;
	/** Requests admitted by the isolate since its last call (statistics only). */
	admitted: number;
	/** Requests denied by the isolate since its last call (statistics only). */
	denied: number;
	/** Decisions the isolate's failure policy made since its last call (statistics only). @default 0 */
	fallbacks?: number;
	/**
	 * Tokens the isolate admitted on its own (`FAIL_MODE=local`) since its last
	 * call: the bucket debits them, below zero if need be, so that what was
	 * admitted during a failure counts once the bucket answers again. @default 0
	 */
	spent?: number;
	/**
	 * Pool calls only: the requests the isolate decided since its previous pool
	 * call, counted by their tenant's offered rate per unit of weight (flat
	 * `[bin, count, …]` pairs, see {@link DemandHistogram}), and the time they cover.
	 */
	demand?: { bins: number[]; ms: number };
}

/** A TenantBucket's answer. */
export interface LeaseReply {
	/** Tokens granted and already debited; 0 means denied. */
	granted: number;
	/**
	 * Tokens of the request's `held` now counted under the new lease: 0 when the
	 * bucket no longer counted `previous` (expired, or renewed by another call),
	 * and then the isolate must not spend them past their old lifetime. @default 0
	 */
	held?: number;
	/** How long the isolate may spend the lease (granted and held), from when it asked. */
	ttlMs: number;
	/** Whole tokens left in the tenant's bucket after this grant. */
	remaining: number;
	/** When denied: milliseconds until `min` tokens could be granted (may be Infinity). */
	retryAfterMs: number;
	/** When denied: which limit said no. */
	reason?: DenyReason;
	/** The policy in force at the bucket (may be newer than the request's). */
	policy: TenantPolicy;
	/**
	 * How long the isolate waits before asking again once this grant is spent, if
	 * the grant emptied the bucket (see {@link drainedPaceMs}). @default DENY_CACHE_MS
	 */
	paceMs?: number;
	/** TenantBucket replies: the tenant's offered rate across its isolates (requests/s, admitted or not). */
	offered?: number;
	/** Pool shard replies, while contended: the fair level λ (requests/s per unit of weight), see pool-level.ts. */
	level?: number;
}

/**
 * How long an isolate may hold a lease granted near the tenant's limit before
 * it must come back: bounds how long a policy change takes to bite there. Two
 * seconds, not one: an isolate that sees a tenant a few times a second (a big
 * tenant spread over a hundred locations) spends a small lease before it
 * expires instead of stranding it, and waits for a round trip half as often.
 */
export const LEASE_TTL_MS = 2_000;

/**
 * How long a lease lasts when its grant left the bucket at least
 * {@link ROOMY_FRACTION} full. Far from the limit, what an isolate holds cannot
 * make another wait or be denied (the long leases together hold at most the
 * other half of the burst), so it may hold it for longer: most of the world's
 * isolates see a quiet tenant every few seconds, and with a 2 s lease each of
 * those requests waited a round trip for a new one. Measured in the global
 * simulation (docs/scale.md): 8 s cut calls per admitted request from 0.80 to
 * 0.56 and waits from 27 % to 16 % of requests; 16 s added little and stranded
 * enough tokens to deny falsely. A policy change reaches a roomy tenant's
 * isolates within this long.
 */
export const ROOMY_LEASE_TTL_MS = 8_000;

/** How long a grantor's leases last: near its limit, and far from it. */
export interface LeaseLifetimes {
	/** A grant that left the bucket below {@link ROOMY_FRACTION} of its burst. */
	tightMs: number;
	/** A grant that left it at least that full. */
	roomyMs: number;
}

/** A TenantBucket's lease lifetimes. */
export const TENANT_LEASE_LIFETIMES: LeaseLifetimes = { tightMs: LEASE_TTL_MS, roomyMs: ROOMY_LEASE_TTL_MS };

/** A lease covers about this much of the isolate's recent traffic. */
export const LEASE_HORIZON_MS = 100;

/**
 * A busy isolate asks for at least this many tokens, so that one Durable
 * Object call serves at least this many requests…
 */
export const LEASE_MIN_BATCH = 64;

/** …as long as its traffic spends them within this long (quiet tenants still get tiny leases). */
export const LEASE_BATCH_HORIZON_MS = 500;

/** No single lease exceeds this fraction of the tenant's burst, so several isolates can share one tenant. */
export const LEASE_MAX_BURST_FRACTION = 0.1;

/**
 * A bucket counts a lease as out for this long after its TTL, so that an
 * isolate whose clock runs late has stopped spending it before the bucket
 * stops counting it.
 */
export const LEASE_GRACE_MS = 1_000;

/** How long an isolate answers a suspended tenant locally before asking again. */
export const SUSPENDED_RETRY_MS = 1_000;

/** After a denial the isolate answers locally for at least this long… */
export const DENY_CACHE_MS = 100;

/**
 * …and at most this long, however far off the retry time it tells the client:
 * then it asks the bucket again, so that a reset, a raised limit or a
 * re-enabled tenant reaches every isolate within a second.
 */
export const MAX_DENY_CACHE_MS = 1_000;

/** A drained tenant's isolates together ask its bucket about this often per second, however many they are (each at most MAX_DENY_CACHE_MS apart). */
export const DRAINED_CALLS_PER_S = 10;

/**
 * A drained bucket's callers wait at most this fraction of the time it takes
 * to refill its whole burst: a bucket that refills in a second (a pool shard)
 * must not leave its refill unclaimed for a second, which under-admits.
 */
export const PACE_FILL_FRACTION = 0.25;

/**
 * How long each isolate of a tenant whose bucket is empty waits between calls,
 * given how many isolates are asking: one isolate every DENY_CACHE_MS, several
 * proportionally longer, so that a flood spread over many isolates costs its
 * Durable Object about DRAINED_CALLS_PER_S calls a second instead of ten per
 * isolate; at most MAX_DENY_CACHE_MS, and at most {@link PACE_FILL_FRACTION} of
 * the bucket's refill time when its `policy` is given. Waiting loses nothing
 * as long as the bucket cannot fill up meanwhile: the refill stays for the next grant.
 * @example drainedPaceMs(1) // 100
 * @example drainedPaceMs(4) // 400
 * @example drainedPaceMs(50) // 1000: no isolate waits longer than MAX_DENY_CACHE_MS
 * @example drainedPaceMs(50, { rate: 6_250, burst: 6_250 }) // 250: a quarter of the second it takes to refill
 */
export function drainedPaceMs(activeIsolates: number, policy?: { rate: number; burst: number }): number {
	const spread = (Math.max(1, activeIsolates) * 1000) / DRAINED_CALLS_PER_S;
	const fill = policy && policy.rate > 0 ? (PACE_FILL_FRACTION * policy.burst * 1000) / policy.rate : Infinity;
	return Math.max(DENY_CACHE_MS, Math.min(MAX_DENY_CACHE_MS, fill, spread));
}

/**
 * A tenant whose bucket still held at least this fraction of its burst after the
 * last grant is far from its limit: its isolates' leases, however large, cannot
 * be what makes another isolate's request wait or be denied…
 */
export const ROOMY_FRACTION = 0.5;

/** …so a busy isolate of such a tenant batches up to this many tokens… */
export const ROOMY_MAX_BATCH = 256;

/** …over up to this much of its traffic (half a roomy lease's life, so that it is spent before it expires)… */
export const ROOMY_BATCH_HORIZON_MS = ROOMY_LEASE_TTL_MS / 2;

/**
 * …and asks for at least this many, however quiet the tenant: the isolate's
 * next requests within the lease's 8 s need no call (a one-token lease is spent
 * by the request that asked, and its successor fetched at once), and what it
 * strands is counted out only while the bucket is at least half full, where it
 * denies no one. Measured in the global simulation: calls per admitted request
 * 0.56 → 0.39 in `internet-steady`, 0.82 → 0.45 in `internet-churn`.
 */
export const ROOMY_MIN_BATCH = 8;

/**
 * How many tokens to ask for: about 100 ms of the isolate's recent demand, or a
 * batch of 64 if its traffic would spend that within 500 ms (with `roomy`, far
 * from the tenant's limit: up to 256 over 4 s, and at least 8), plus what is
 * already waiting; never more than a tenth of the burst, never less than `min`.
 * @example leaseSize(300, 1200, 1, 0) // 64: 300/s spends 64 in about 200 ms
 * @example leaseSize(10, 1200, 1, 0) // 5: a quiet tenant strands no more than a few
 * @example leaseSize(10, 1200, 1, 0, true) // 40: 4 s of traffic, spent well within a roomy lease's 8 s
 * @example leaseSize(0.5, 1200, 1, 0, true) // 8: a quiet tenant's isolate asks again only after 8 requests or 8 s
 * @example leaseSize(180, 1_000_000, 1, 0, true) // 256
 */
export function leaseSize(ratePerS: number, burst: number, min: number, waiting: number, roomy = false): number {
	const cap = Math.max(1, Math.floor(burst * LEASE_MAX_BURST_FRACTION));
	const horizon = (ratePerS * LEASE_HORIZON_MS) / 1000;
	const batch = roomy
		? Math.max(ROOMY_MIN_BATCH, Math.min(ROOMY_MAX_BATCH, (ratePerS * ROOMY_BATCH_HORIZON_MS) / 1000))
		: Math.min(LEASE_MIN_BATCH, (ratePerS * LEASE_BATCH_HORIZON_MS) / 1000);
	const expected = Math.ceil(Math.max(horizon, batch));
	return Math.max(min, Math.min(cap, Math.max(1, expected, waiting)));
}

/**
 * A pool shard's leases last this long, shorter than a tenant's: an isolate
 * spends its pool lease (all its tenants' traffic) within a fraction of this,
 * and the tokens of an isolate that died stay counted by the shard only this
 * long (plus the grace), which matters when hundreds of isolates restart.
 */
export const POOL_LEASE_TTL_MS = 1_000;

/** A pool shard's lease lifetimes: short however full the shard, for the reason above. */
export const POOL_LEASE_LIFETIMES: LeaseLifetimes = { tightMs: POOL_LEASE_TTL_MS, roomyMs: POOL_LEASE_TTL_MS };

/** An isolate's pool lease covers about this much of its traffic (all tenants together)… */
export const POOL_LEASE_HORIZON_MS = 500;

/** …and at least this many tokens: a pool token stranded in a quiet isolate costs the pool next to nothing. */
export const POOL_LEASE_MIN_BATCH = 8;

/**
 * How many burst-pool tokens an isolate asks its shard for: about
 * {@link POOL_LEASE_HORIZON_MS} of its traffic across every tenant, plus what
 * is waiting; at least {@link POOL_LEASE_MIN_BATCH} and `min`, at most a tenth
 * of the shard's burst.
 * @example poolLeaseSize(1_000, 6_250, 1, 0) // 500
 * @example poolLeaseSize(2, 6_250, 1, 0) // 8
 * @example poolLeaseSize(100_000, 6_250, 1, 0) // 625
 */
export function poolLeaseSize(ratePerS: number, burst: number, min: number, waiting: number): number {
	const cap = Math.max(1, Math.floor(burst * LEASE_MAX_BURST_FRACTION));
	const expected = Math.ceil((ratePerS * POOL_LEASE_HORIZON_MS) / 1000);
	return Math.max(min, Math.min(cap, Math.max(POOL_LEASE_MIN_BATCH, expected, waiting)));
}
