/**
 * The isolate-local micro-burst buckets: per tenant, the unspent part of a lease
 * that the tenant's global bucket already granted and debited, and one more for
 * the whole isolate, leased the same way from a shard of the burst pool. A
 * request is admitted when both cover it. Admission is local and synchronous
 * while the leases last; when one runs dry, one refill is in flight per lease
 * and every concurrent request waits on it (the next lease is fetched before
 * this one runs out); after a denial the lease is answered locally until it
 * may retry; when a bucket fails or misses the deadline, the failure policy
 * answers for it and a circuit breaker keeps the object from being called per
 * request.
 *
 * No `cloudflare:` imports: the grantor (a TenantBucket stub in production, the
 * real ledger in the simulation) and the clock are injected.
 */
import { newerView, type TenantPolicy } from "../tiers";
import type { BucketPolicy } from "./bucket";
import { chargeFallback, circuitOpenUntil, type FailMode, fallbackAnswer } from "./failure-policy";
import { FairShare, OFFERED_REFRESH_MS } from "./fair-share";
import { KEEP_ALIVE_PER_REQUEST, KeepAlives } from "./keep-alive";
import {
	DENY_CACHE_MS,
	type DenyReason,
	type LeaseReply,
	type LeaseRequest,
	leaseSize,
	MAX_DENY_CACHE_MS,
	poolLeaseSize,
	ROOMY_FRACTION,
	SUSPENDED_RETRY_MS,
} from "./lease";
import { currentRate, record } from "./rate";
import { type Entry, newEntry, TenantEntries } from "./tenant-entries";

/** Asks the global bucket behind `key` for a lease. */
export type Grantor = (request: LeaseRequest) => Promise<LeaseReply>;

/** What the limiter decided for one request. */
export type Decision =
	| {
			allowed: true;
			policy: TenantPolicy;
			remaining: number;
			/** Set when the failure policy, not the global bucket, admitted the request. */
			fallback?: FailMode;
	  }
	| {
			allowed: false;
			policy: TenantPolicy;
			remaining: number;
			reason: DenyReason;
			retryAfterMs: number;
			/** On a `burst_pool` denial, the pool's policy. */
			pool?: BucketPolicy;
			/** Set when the failure policy, not the global bucket, refused the request. */
			fallback?: FailMode;
	  };

/** The burst pool as an isolate sees it: where to lease from, and the policy to start from. */
export interface PoolOptions {
	/** Leases burst-pool tokens for this isolate (from its shard). */
	grantor: Grantor;
	/** The key the grantor's requests carry (the shard's name). */
	key: string;
	/** The shard's rate and burst until its replies say otherwise. */
	policy: BucketPolicy;
	/** How many shards the pool is split into (they share its rate and burst equally). @default 1 */
	shards?: number;
}

/** Options of {@link LocalLimiter}. */
export interface LocalLimiterOptions {
	/** Leases tokens from the tenant's global bucket. */
	grantor: Grantor;
	/** The burst pool every admission also needs a token of. @default none: no pool */
	pool?: PoolOptions;
	/** Milliseconds since the epoch. @default Date.now */
	now?: () => number;
	/** Identifies this isolate to the buckets. @default a random UUID */
	isolateId?: string;
	/** Most tenants remembered at once; the least recently used go first. @default 10000 */
	maxEntries?: number;
	/**
	 * What to do when the tenant's bucket cannot answer (error, overload, or no
	 * answer within `timeoutMs`): `open` admits, `closed` refuses (503), `local`
	 * enforces the tier's rate and burst from this isolate alone. @default "local"
	 */
	failMode?: FailMode;
	/**
	 * How long a request waits for a lease before the failure policy answers, at
	 * least: an isolate far from its objects waits {@link DEADLINE_RTT_FACTOR} times
	 * the round trip it measures (at most a lease's lifetime). @default 50
	 */
	timeoutMs?: number;
	/** After a failure the bucket is left alone this long, then one request probes it. @default 1000 */
	breakerMs?: number;
	/** Resolves after `ms`; injectable so that tests control time. @default setTimeout */
	wait?: (ms: number) => Promise<void>;
}

/** A lease's reply came after the lease had expired. */
export class LateLeaseError extends Error {
	constructor(readonly roundTripMs: number) {
		super(`lease reply took ${roundTripMs} ms, longer than the lease lasts`);
	}
}

/** A new lease is fetched in the background once the current one is down to this fraction… */
export const PREFETCH_FRACTION = 0.25;

/**
 * …or once it ends within this many round trips, so that steady traffic never
 * waits for one (a tenant active here but sparse has its lease renewed about
 * then by whichever request comes, see `#keepAlive`).
 */
export const PREFETCH_ROUND_TRIPS = 2;

/**
 * A request waits for a lease this many times the isolate's measured round
 * trip (when that is longer than the configured deadline): a healthy object
 * far away is waited for, one that stopped answering is not.
 */
export const DEADLINE_RTT_FACTOR = 3;

/** …but never longer than this: a client waits at most a second for its isolate's objects. */
export const MAX_DEADLINE_MS = 1_000;

/** An isolate that has measured no round trip yet waits this long: the farthest healthy object's round trip, with room. */
export const FIRST_DEADLINE_MS = 400;

/**
 * Keeps background work alive past the request that started it: the request's
 * `ExecutionContext` itself, so that passing it on costs no closure per request.
 */
export interface Defer {
	waitUntil(work: Promise<unknown>): void;
}

/** The isolate's view of every tenant it serves. */
export class LocalLimiter {
	readonly #entries: TenantEntries;
	readonly #grantor: Grantor;
	/** The isolate's lease of burst-pool tokens (an entry like a tenant's, outside the LRU), if there is a pool. */
	readonly #pool: { entry: Entry; key: string; grantor: Grantor; shards: number } | undefined;
	readonly #fair = new FairShare();
	readonly #now: () => number;
	readonly #isolateId: string;
	readonly #failMode: FailMode;
	readonly #timeoutMs: number;
	readonly #breakerMs: number;
	readonly #wait: ((ms: number) => Promise<void>) | undefined;
	/** Tenants' leases to renew before they expire, by when. */
	readonly #keepAlives = new KeepAlives<{ key: string; lease: string | undefined }>();
	/** Lease calls made so far: with the isolate id, each call's lease id. */
	#leases = 0;
	/** Smoothed round trip of lease calls that succeeded, in ms (0 before the first). */
	#rttMs = 0;

	constructor(options: LocalLimiterOptions) {
		this.#grantor = options.grantor;
		this.#now = options.now ?? (() => Date.now());
		this.#isolateId = options.isolateId ?? crypto.randomUUID();
		this.#entries = new TenantEntries(options.maxEntries ?? 10_000);
		this.#failMode = options.failMode ?? "local";
		this.#timeoutMs = options.timeoutMs ?? 50;
		this.#breakerMs = options.breakerMs ?? 1_000;
		this.#wait = options.wait;
		const pool = options.pool;
		if (pool) {
			// Version 0: whatever the shard holds is newer, and its replies bring it here.
			const policy: TenantPolicy = { tier: "burst_pool", ...pool.policy, weight: 1, version: 0, tiersVersion: 0 };
			const entry = newEntry(policy, this.#now());
			this.#pool = { entry, key: pool.key, grantor: pool.grantor, shards: pool.shards ?? 1 };
		}
	}

	/** Number of tenants currently remembered, in use or idle. */
	get size(): number {
		return this.#entries.size;
	}

	/**
	 * Decides one request of `cost` tokens for the bucket `key`. Answers at
	 * once, without any I/O, while the tenant's lease covers it (or a denial is
	 * cached, or the failure policy is answering), and fetches the next lease in
	 * the background before this one runs out; returns a promise only when the
	 * request has to wait for a lease. Rejects only if the grantor does.
	 * `defer` keeps a lease call alive should the request that started it end first.
	 */
	admit(key: string, policy: TenantPolicy, cost: number, defer?: Defer): Decision | Promise<Decision> {
		const now = this.#now();
		if (now >= this.#keepAlives.next) this.#renewDue(now, defer);
		const entry = this.#entries.use(key, policy, now);
		return this.#decide(key, entry, cost, now, defer) ?? this.#waitAndAdmit(key, entry, cost, defer);
	}

	/**
	 * The decision that needs no lease call, if there is one: both the tenant's
	 * lease and the pool's cover the request (or a cached denial or the failure
	 * policy answers for the one that does not).
	 */
	#decide(key: string, entry: Entry, cost: number, now: number, defer: Defer | undefined): Decision | undefined {
		if (entry.policy.suspended) {
			// Refused here for a while, then the bucket is asked again: re-enabling the tenant must reach this isolate.
			if (entry.denyUntil > now || entry.breakerUntil > now)
				return this.#refuse(entry, "suspended", SUSPENDED_RETRY_MS);
			return undefined;
		}
		const tenant = this.#state(entry, cost, now);
		if (tenant === "wait") return undefined;
		if (tenant === "leased" && entry.keepAliveFor !== entry.leaseId) this.#keepAlive(key, entry);
		if (tenant === "denied") {
			entry.denied += 1;
			this.#askBeforePaceEnds(key, entry, cost, now, defer);
			return this.#denied(entry, cost, now);
		}
		const pool = this.#pool;
		const poolState = pool ? this.#poolState(key, entry, pool.entry, cost, now, defer) : "leased";
		if (typeof poolState === "object") return poolState;
		if (poolState === "wait") return undefined;
		let fallback: FailMode | undefined;
		// The pool's failure policy answers first: a request it refuses must not be charged to the tenant.
		if (pool && poolState === "failing") {
			const answer = this.#fallback(pool.entry, cost, now);
			if (!answer.allowed) {
				entry.denied += 1;
				return { ...answer, policy: entry.policy, pool: this.#poolPolicy() };
			}
			fallback = answer.fallback;
		}
		if (tenant === "failing") {
			const answer = this.#fallback(entry, cost, now);
			if (!answer.allowed) return answer;
			fallback ??= answer.fallback;
		}
		if (pool && poolState === "leased") this.#spend(pool.key, pool.entry, cost, now, defer);
		if (tenant === "leased") this.#spend(key, entry, cost, now, defer);
		// Spelled out rather than spread: this is the answer to nearly every request.
		const remaining = this.#remaining(entry);
		return fallback
			? { allowed: true, policy: entry.policy, remaining, fallback }
			: { allowed: true, policy: entry.policy, remaining };
	}

	/**
	 * The pool's side of a request the tenant's side can admit: its lease
	 * covers it, its failure policy must answer, a call is needed, or a
	 * `burst_pool` denial (cached from the shard, or this isolate's weighted
	 * sharing under contention) that charges the tenant nothing.
	 */
	#poolState(
		key: string,
		entry: Entry,
		pool: Entry,
		cost: number,
		now: number,
		defer: Defer | undefined,
	): "leased" | "failing" | "wait" | Decision {
		const state = this.#state(pool, cost, now);
		if (state === "denied") {
			this.#fair.contend(now);
			this.#fair.count(entry, entry.policy.weight, cost, now);
			pool.denied += 1;
			entry.denied += 1;
			return { ...this.#denied(pool, cost, now), policy: entry.policy, remaining: this.#remaining(entry) };
		}
		// Under contention the pool's tokens go to tenants by weight: the world's by the pool's level, or this isolate's.
		if (state === "leased" && !this.#fair.take(entry, entry.policy.weight, cost, now)) {
			entry.denied += 1;
			// The level needs the tenant's offered rate as its bucket adds it up, and a roomy lease lasts seconds.
			const leasedAt = entry.leaseExpiresAt - entry.leaseMs;
			if (this.#mayCall(entry, now) && now - leasedAt > OFFERED_REFRESH_MS && this.#fair.leveled(now))
				this.#start(key, entry, 1, true, defer).catch(() => {});
			return {
				allowed: false,
				policy: entry.policy,
				remaining: this.#remaining(entry),
				reason: "burst_pool",
				retryAfterMs: DENY_CACHE_MS,
				pool: this.#poolPolicy(),
			};
		}
		return state;
	}

	/**
	 * Whether a lease covers `cost` now (`leased`), a cached denial answers
	 * (`denied`), the failure policy must (`failing`), or a call is needed (`wait`).
	 */
	#state(entry: Entry, cost: number, now: number): "leased" | "denied" | "failing" | "wait" {
		if (entry.tokens >= cost && entry.leaseExpiresAt > now) return "leased";
		if (entry.denyUntil > now && this.#stillDenied(entry, cost, now)) return "denied";
		if (entry.breakerUntil > now) return "failing";
		return "wait";
	}

	/** Spends leased tokens, fetching the next lease in the background if this one ends soon. */
	#spend(key: string, entry: Entry, cost: number, now: number, defer: Defer | undefined): void {
		// Leased tokens were debited globally: spending them is exact even if a later lease was refused.
		entry.tokens -= cost;
		entry.admitted += 1;
		if (entry.fallbackBucket) entry.fallbackBucket = chargeFallback(entry.fallbackBucket, entry.policy, now, cost);
		record(entry.demand, now, cost);
		if (this.#mayCall(entry, now) && entry.denyUntil <= now && this.#endsSoon(entry, now)) {
			// Errors surface on the next blocking refill; this one only saves a wait.
			this.#start(key, entry, 1, true, defer).catch(() => {});
		}
	}

	/**
	 * Plans the renewal of the tenant's lease just before it expires, once a
	 * request other than the one that asked for it has come: the tenant is
	 * active in this isolate, and its next request, which may come up to a
	 * lease's lifetime after this one, should find a live lease rather than
	 * wait. A lease that only the request that asked for it used is not
	 * renewed: it covers the next request within its lifetime as it is.
	 */
	#keepAlive(key: string, entry: Entry): void {
		if (entry.lastUsed <= entry.leaseExpiresAt - entry.leaseMs) return;
		entry.keepAliveFor = entry.leaseId;
		// The key, not the entry: a plan must not keep an entry the LRU dropped in memory until it falls due.
		this.#keepAlives.add(entry.leaseExpiresAt - this.#renewBeforeExpiryMs(), { key, lease: entry.leaseId });
	}

	/**
	 * Renews the leases that fall due by now and are still the ones planned for
	 * (see {@link #keepAlive}), at most {@link KEEP_ALIVE_PER_REQUEST}: the rest
	 * go with the next request.
	 */
	#renewDue(now: number, defer: Defer | undefined): void {
		for (let renewed = 0; renewed < KEEP_ALIVE_PER_REQUEST; ) {
			const due = this.#keepAlives.popDue(now);
			if (!due) return;
			const entry = this.#entries.get(due.key);
			if (!entry || entry.leaseId !== due.lease || !this.#mayCall(entry, now) || entry.denyUntil > now) continue;
			if (entry.leaseExpiresAt <= now) continue;
			this.#start(due.key, entry, 1, true, defer).catch(() => {});
			renewed += 1;
		}
	}

	/**
	 * Starts a drained tenant's next call a couple of round trips before its
	 * pace ends, so that the answer is here by then: it would be made at the
	 * end anyway (one call per pace), and made there it keeps the request that
	 * starts it, and those that come during its round trip, waiting.
	 */
	#askBeforePaceEnds(key: string, entry: Entry, cost: number, now: number, defer: Defer | undefined): void {
		if (!this.#mayCall(entry, now) || entry.denyUntil - now > PREFETCH_ROUND_TRIPS * this.#rttMs) return;
		this.#start(key, entry, cost, true, defer).catch(() => {});
	}

	/**
	 * Waits for the refills in flight of whichever lease (the tenant's, the
	 * pool's, or both) cannot answer (starting them if none is), then decides;
	 * at the deadline the failure policy answers for a lease still missing.
	 */
	async #waitAndAdmit(key: string, entry: Entry, cost: number, defer: Defer | undefined): Promise<Decision> {
		for (;;) {
			const now = this.#now();
			const leases: [string, Entry][] = [];
			if (entry.policy.suspended || this.#state(entry, cost, now) === "wait") leases.push([key, entry]);
			const pool = this.#pool;
			if (pool && this.#state(pool.entry, cost, now) === "wait") leases.push([pool.key, pool.entry]);
			let timer: ReturnType<typeof setTimeout> | undefined;
			const refills = leases.map(([leaseKey, leased]) => {
				leased.waiting += cost;
				return leased.refill ?? this.#start(leaseKey, leased, cost, false, defer);
			});
			try {
				const deadline =
					this.#wait?.(this.#deadlineMs()) ??
					new Promise<void>((resolve) => {
						timer = setTimeout(resolve, this.#deadlineMs());
					});
				const answered = Promise.all(
					refills.map((refill, i) =>
						refill.then(
							() => true,
							(error: unknown) => this.#trip((leases[i] as [string, Entry])[1], error),
						),
					),
				);
				if (!(await Promise.race([answered.then(() => true), deadline.then(() => false)]))) {
					const missed = this.#now();
					refills.forEach((refill, i) => {
						const leased = (leases[i] as [string, Entry])[1];
						// A call still hanging is abandoned (it may still land its tokens); the next probe makes a new one.
						if (leased.refill !== refill) return;
						leased.refill = null;
						// Missing the deadline opens the circuit as a failure does, unless a failure already opened it.
						if (leased.breakerUntil <= missed) leased.breakerUntil = circuitOpenUntil(null, missed, this.#breakerMs);
					});
				}
			} finally {
				// A timer left running would hold this request's state until it fires.
				if (timer !== undefined) clearTimeout(timer);
				for (const [, leased] of leases) leased.waiting -= cost;
			}
			const decision = this.#decide(key, entry, cost, this.#now(), defer);
			if (decision) return decision;
		}
	}

	/**
	 * Whether a call no request waits for (a renewal ahead of time, a
	 * keep-alive, an early ask) may start now: none is in flight, and the
	 * circuit is closed (after a failure the object is left alone for the
	 * breaker's time, renewals included: the isolate spends what it holds, and
	 * the next request after that time probes).
	 */
	#mayCall(entry: Entry, now: number): boolean {
		return !entry.refill && entry.breakerUntil <= now;
	}

	/** Whether the lease runs out (of tokens or of time) soon enough that the next one should be fetched now. */
	#endsSoon(entry: Entry, now: number): boolean {
		if (entry.tokens <= entry.lastGrant * PREFETCH_FRACTION) return true;
		if (entry.leaseExpiresAt - now <= this.#renewBeforeExpiryMs()) return true;
		// A small lease far from its bucket (two tokens, 200 ms away) is spent before a quarter of it would start
		// the next: its tokens must outlast the round trip too. Not the pool's: each early renewal keeps what the
		// isolate holds counted at its shard beside the new grant, and shards running low share out by weight.
		const soon = PREFETCH_ROUND_TRIPS * this.#rttMs;
		return entry !== this.#pool?.entry && entry.tokens * 1000 <= currentRate(entry.demand, now) * soon;
	}

	/** How long before a lease expires its successor is asked for, so that it lands in time. */
	#renewBeforeExpiryMs(): number {
		return Math.max(DENY_CACHE_MS, PREFETCH_ROUND_TRIPS * this.#rttMs);
	}

	/**
	 * How long a request waits for a lease: the configured deadline, or a few
	 * measured round trips; before the first call answered, {@link FIRST_DEADLINE_MS}
	 * (a new isolate far from its objects would otherwise miss every first
	 * deadline and answer by its failure policy).
	 */
	#deadlineMs(): number {
		if (this.#rttMs === 0) return Math.max(this.#timeoutMs, FIRST_DEADLINE_MS);
		return Math.min(MAX_DEADLINE_MS, Math.max(this.#timeoutMs, DEADLINE_RTT_FACTOR * this.#rttMs));
	}

	/** Opens the circuit after a failed call. */
	#trip(entry: Entry, error: unknown): false {
		entry.breakerUntil = circuitOpenUntil(error, this.#now(), this.#breakerMs);
		return false;
	}

	/** The failure policy's answer while the tenant's bucket cannot give one. */
	#fallback(entry: Entry, cost: number, now: number): Decision {
		entry.fallbacks += 1;
		// No failure mode admits a tenant known to be suspended, nor a cost its burst can never cover.
		if (entry.policy.suspended) return this.#refuse(entry, "suspended", SUSPENDED_RETRY_MS, this.#failMode);
		const reason = entry === this.#pool?.entry ? "burst_pool" : "tenant_rate";
		if (cost > entry.policy.burst) return this.#refuse(entry, reason, Number.POSITIVE_INFINITY, this.#failMode);
		const mode = this.#failMode;
		// The isolate-alone bucket starts from what the isolate last knew of the tenant's bucket, not full: what
		// the tenant spent just before the failure counts against what the isolate admits alone.
		const start = entry.fallbackBucket ?? { tokens: this.#remaining(entry), updatedAt: now };
		const { answer, bucket } = fallbackAnswer(mode, entry.policy, start, cost, now, entry.breakerUntil);
		entry.fallbackBucket = bucket;
		if (!answer.allowed) return this.#refuse(entry, reason, answer.retryAfterMs, mode);
		entry.admitted += 1;
		// The tenant's bucket is told with the next call and debits them: after the failure they count globally.
		if (mode === "local") entry.spent += cost;
		return { allowed: true, policy: entry.policy, remaining: answer.remaining, fallback: mode };
	}

	/** A refusal decided here, counted for the bucket's statistics. */
	#refuse(entry: Entry, reason: DenyReason, retryAfterMs: number, fallback?: FailMode): Decision {
		entry.denied += 1;
		return { allowed: false, policy: entry.policy, remaining: 0, reason, retryAfterMs, ...(fallback && { fallback }) };
	}

	/** Starts the tenant's one refill in flight. */
	#start(key: string, entry: Entry, min: number, ahead: boolean, defer: Defer | undefined): Promise<void> {
		const refill: Promise<void> = this.#refill(key, entry, min, ahead).finally(() => {
			// A call abandoned at its deadline may end after a newer one started.
			if (entry.refill === refill) entry.refill = null;
		});
		entry.refill = refill;
		// A failure opens the circuit whether or not a request waits for this call (a renewal ahead of time fails
		// with nobody waiting, and the requests after it must leave the object alone too).
		const tripped = refill.catch((error: unknown) => this.#trip(entry, error));
		defer?.waitUntil(tripped);
		return refill;
	}

	/**
	 * Asks for a new lease. Ahead of time, the isolate keeps spending what it
	 * holds and tells the bucket so (`held`); otherwise what is left (less than
	 * the waiting request needs) is handed back.
	 */
	async #refill(key: string, entry: Entry, min: number, ahead: boolean): Promise<void> {
		const now = this.#now();
		const isPool = entry === this.#pool?.entry;
		const rate = currentRate(entry.demand, now);
		const roomy = entry.remoteRemaining >= entry.policy.burst * ROOMY_FRACTION;
		const want = isPool
			? poolLeaseSize(rate, entry.policy.burst, min, entry.waiting)
			: leaseSize(rate, entry.policy.burst, min, entry.waiting, roomy);
		const live = entry.leaseExpiresAt > now;
		const held = ahead && live ? entry.tokens : 0;
		// Tokens of an expired lease are void: the bucket has stopped counting them (and refilled instead).
		const returned = !ahead && live ? entry.tokens : 0;
		if (!ahead || !live) entry.tokens = 0;
		const { admitted, denied, fallbacks, spent } = entry;
		entry.admitted = 0;
		entry.denied = 0;
		entry.fallbacks = 0;
		entry.spent = 0;
		this.#leases += 1;
		const lease = `${this.#isolateId}:${this.#leases}`;
		const grantor = isPool && this.#pool ? this.#pool.grantor : this.#grantor;
		let reply: LeaseReply;
		try {
			reply = await grantor({
				key,
				isolate: this.#isolateId,
				lease,
				...(entry.leaseId !== undefined && { previous: entry.leaseId }),
				policy: entry.policy,
				min,
				want,
				returned,
				held,
				admitted,
				denied,
				fallbacks,
				spent,
				...(isPool && { demand: this.#fair.takeDemand(now) }),
			});
		} catch (error) {
			// Statistics go with the next call; the returned tokens are lost (bounded), never double spent.
			entry.admitted += admitted;
			entry.denied += denied;
			entry.fallbacks += fallbacks;
			entry.spent += spent;
			throw error;
		}
		const after = this.#now();
		this.#rttMs = this.#rttMs === 0 ? after - now : 0.8 * this.#rttMs + 0.2 * (after - now);
		// The bucket answered: the circuit closes (the isolate-alone bucket stays, to bound the next failure too).
		entry.breakerUntil = 0;
		if (newerView(reply.policy, entry.policy, after, true)) entry.policy = reply.policy;
		entry.remoteRemaining = reply.remaining;
		if (isPool) this.#fair.observeLevel(reply.level, reply.remaining, reply.policy.burst, after);
		else if (reply.offered !== undefined) entry.offered = reply.offered;
		// Of what the isolate holds now, only what the bucket counts under the new lease lives on with it; the
		// rest keeps its old lifetime if nothing was granted, and is dropped otherwise (never spent uncounted).
		if (isPool) this.#fair.observeGrant(reply.granted, want, reply.remaining, reply.policy.burst, after);
		const kept = Math.min(entry.tokens, reply.held ?? 0);
		if (reply.granted > 0 || kept > 0) {
			entry.tokens = kept + reply.granted;
			entry.leaseId = lease;
			// From when it was asked for: the bucket counts the lease from its grant, which a late reply follows.
			entry.leaseExpiresAt = now + reply.ttlMs;
			entry.leaseMs = reply.ttlMs;
		}
		if (reply.granted > 0) {
			entry.lastGrant = reply.granted;
			// A reply later than the lease's lifetime brings nothing spendable: the object is too slow to lease
			// from, which the failure policy answers for as it does a missed deadline (and no loop asks again).
			if (entry.leaseExpiresAt <= after) throw new LateLeaseError(after - now);
			if (reply.remaining < 1 && reply.granted < want) {
				// The grant emptied the bucket: once it is spent, the isolate denies locally for as long as the
				// bucket paces its callers instead of asking an empty bucket again, so a tenant over its limit costs
				// one call per isolate per pace, granted or denied. Refill meanwhile stays in the bucket for the next lease.
				const pace = Math.max(DENY_CACHE_MS, reply.paceMs ?? 0);
				this.#remember(entry, after, isPool ? "burst_pool" : "tenant_rate", pace, pace, 1, reply.remaining);
			}
		} else {
			// A pool shard is a bucket like a tenant's: its "tenant_rate" is the pool's.
			const reason = isPool && reply.reason !== "suspended" ? "burst_pool" : (reply.reason ?? "tenant_rate");
			// Cached for at most MAX_DENY_CACHE_MS, so that a reset or a new policy is heard within a second.
			const cached = Number.isFinite(reply.retryAfterMs) ? reply.retryAfterMs : MAX_DENY_CACHE_MS;
			const cacheMs = Math.min(MAX_DENY_CACHE_MS, Math.max(cached, DENY_CACHE_MS));
			// Only the tenant's bucket measures costs: a cheaper request may fit in it; the pool's or a
			// suspension's refusal holds for every cost.
			const deniedCost = reason === "suspended" ? 1 : min;
			this.#remember(entry, after, reason, reply.retryAfterMs, cacheMs, deniedCost, reply.remaining);
		}
	}

	/** Remembers a denial (or a grant that emptied the bucket) for the deny cache. */
	#remember(
		entry: Entry,
		at: number,
		reason: DenyReason,
		retryAfterMs: number,
		cacheMs: number,
		deniedCost: number,
		left: number,
	): void {
		entry.reason = reason;
		entry.retryAt = at + retryAfterMs;
		entry.denyUntil = at + cacheMs;
		entry.deniedCost = deniedCost;
		entry.deniedLeft = Math.max(0, left);
		entry.deniedAt = at;
	}

	/**
	 * Whether the denial remembered still answers a request of `cost`: one no
	 * cheaper than what was denied, or more than the bucket can have refilled
	 * to since (a cheaper one that may fit asks the bucket).
	 */
	#stillDenied(entry: Entry, cost: number, now: number): boolean {
		if (cost >= entry.deniedCost) return true;
		return cost > entry.deniedLeft + (entry.policy.rate * (now - entry.deniedAt)) / 1000;
	}

	/** The whole pool's policy, as its shard last said, to advertise on a `burst_pool` denial. */
	#poolPolicy(): BucketPolicy | undefined {
		const pool = this.#pool;
		if (!pool) return undefined;
		return { rate: pool.entry.policy.rate * pool.shards, burst: pool.entry.policy.burst * pool.shards };
	}

	/** Best local estimate of the tenant's global remaining tokens. */
	#remaining(entry: Entry): number {
		return Math.min(entry.policy.burst, Math.floor(entry.remoteRemaining + entry.tokens));
	}

	/** A denial from the deny cache, with the wait this request's own cost needs. */
	#denied(entry: Entry, cost: number, now: number): Extract<Decision, { allowed: false }> {
		const { policy } = entry;
		const refilled = ((cost - entry.deniedLeft) * 1000) / policy.rate - (now - entry.deniedAt);
		const retryAfterMs =
			cost > policy.burst
				? Number.POSITIVE_INFINITY
				: Math.max(1, refilled, cost >= entry.deniedCost ? entry.retryAt - now : 0);
		return {
			allowed: false,
			policy,
			remaining: 0,
			reason: entry.reason,
			retryAfterMs,
			...(entry.reason === "burst_pool" && { pool: this.#poolPolicy() }),
		};
	}
}
