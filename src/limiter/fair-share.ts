/**
 * Weighted sharing of an isolate's burst-pool tokens among its tenants.
 * Uncontended, every tenant takes what it needs and this costs one comparison.
 *
 * While the pool's root sets a fair level λ (see pool-level.ts and
 * pool-root.ts), it shares the whole world's pool: a tenant passes
 * `weight × λ / offered` of its requests, whichever isolates they reach. From
 * when its shard runs half empty, the isolate counts the requests it decides
 * by their tenant's `offered / weight`, for the root to solve λ from.
 *
 * Otherwise, while the pool is contended (within {@link CONTENDED_MS} of its
 * shard refusing, granting less than asked or running low, or of a request
 * denied for want of pool tokens), it shares what this one isolate holds: a
 * tenant served by many isolates gets its weighted share in each.
 *
 * Start-time fair queuing without a queue: each tenant has a virtual time
 * that advances by `cost / weight` with every pool token it takes; a tenant
 * more than a quantum ahead of the slowest active tenant is refused until the
 * others catch up; a tenant that fell behind (it asked for little) is lifted
 * to within a quantum of the service point, so it can neither bank credit nor
 * hold the others back. Backlogged tenants then share the isolate's pool
 * tokens in proportion to their tier weights.
 *
 * Pure; the clock is passed in.
 */
import { DemandHistogram, keptCredit, levelBin, passes } from "./pool-level";
import { currentRate, type RateMeter } from "./rate";

/** The pool counts as contended for this long after a sign of contention. */
export const CONTENDED_MS = 1_000;

/**
 * A shard left with less than this fraction of its burst after a grant is
 * running low. Small: a shard refills its burst in about a second, so one that
 * is a few per cent from empty is busy, not short; at a tenth, shards of a pool
 * used at 80 % kept starting weighted sharing, which refused tenants the pool
 * had tokens for (0.22 % of requests denied falsely in the global simulation;
 * 0.02 % at 3 %).
 */
export const LOW_FRACTION = 0.03;

/** A tenant that took nothing for this long no longer counts as active. */
export const ACTIVE_MS = 1_000;

/** The slowest active tenant is looked up again at most this often (a scan of the active tenants). */
export const SLOWEST_REFRESH_MS = 10;

/** An isolate counts its requests for the fair level while its shard was at most this full lately. */
export const COUNT_BELOW_FRACTION = 0.5;

/** How long after its shard last looked busy (or set a level) an isolate keeps counting, and the level holds. */
export const LEVEL_COUNT_MS = 2_000;

/**
 * A tenant the level refuses renews its lease ahead of time once the lease is
 * this old, for the offered rate its bucket returns: a roomy lease lasts 8 s,
 * and a level solved from rates that old left small contended deployments'
 * pools 12–21 % unused (renewed at 2 s, 7–8 %; at 1 s, 0–0.4 % with the
 * isolate's own share as a floor, see `offeredRate`). Only tenants over the
 * level pay it: a tenant call a second per isolate.
 */
export const OFFERED_REFRESH_MS = 1_000;

/** What fair sharing keeps per tenant (on its entry). */
export interface FairTenant {
	/** Pool tokens taken while contended, divided by weight (lifted, see above). */
	fairTime: number;
	/** The tenant's offered rate across its isolates, as its bucket last said (0: not known yet). */
	offered: number;
	/** What the level lets the tenant pass (see pool-level.ts `passes`). */
	poolCredit: number;
	/** What this isolate admits of the tenant… */
	demand: RateMeter;
	/** …and how many of its requests it admitted and denied since it last called the tenant's bucket. */
	admitted: number;
	denied: number;
}

/**
 * The tenant's offered rate as far as this isolate knows: its bucket's figure,
 * or what this isolate alone is offered if that is more (the bucket's figure
 * is as old as the isolate's last call to it, and 0 before any isolate
 * reported). What the isolate is offered is what it admits, scaled by what it
 * decided over what it admitted since that call (the level refuses most
 * requests of a tenant far over it); one more of each keeps the first
 * requests after a call from reading as a tenant that offers nothing.
 */
function offeredRate(tenant: FairTenant, now: number): number {
	const local = (currentRate(tenant.demand, now) * (tenant.admitted + tenant.denied + 1)) / (tenant.admitted + 1);
	return Math.max(tenant.offered, local);
}

/** One isolate's weighted sharing of its pool tokens. */
export class FairShare {
	#contendedUntil = 0;
	/** The later of `#contendedUntil` and `#countUntil`: before it, every tenant takes what it needs. */
	#busyUntil = 0;
	/** The level as the shard last said (Infinity: none), and until when requests are counted for it. */
	#level = Number.POSITIVE_INFINITY;
	#countUntil = 0;
	#demand: DemandHistogram | undefined;
	/** The service point: the highest virtual start time admitted so far. */
	#serviceTime = 0;
	/** Virtual time one quantum is worth: a quarter of the last pool grant per unit of active weight. */
	#quantum = 1;
	#lastGrant = 0;
	/** Tenants that asked lately: weight, when, and at which of this isolate's asks (`#asks`). */
	readonly #active = new Map<FairTenant, { weight: number; seen: number; ask: number }>();
	#asks = 0;
	#slowest = 0;
	#slowestAt = Number.NEGATIVE_INFINITY;
	#slowestTenant: FairTenant | undefined;

	/**
	 * Notes a pool reply: `granted` of `wanted` tokens, leaving the shard
	 * `remaining` of `burst`. A refusal, a short grant or a shard running low
	 * means contention.
	 */
	observeGrant(granted: number, wanted: number, remaining: number, burst: number, now: number): void {
		if (granted > 0) this.#lastGrant = granted;
		if (granted < wanted || remaining < burst * LOW_FRACTION) this.contend(now);
	}

	/** Notes a sign of contention (a request denied for want of pool tokens). */
	contend(now: number): void {
		this.#contendedUntil = now + CONTENDED_MS;
		this.#busyUntil = Math.max(this.#contendedUntil, this.#countUntil);
	}

	/**
	 * Notes the shard's level (undefined: none) from a pool reply that left it
	 * `remaining` of `burst`, and counts requests from now on if it set one or
	 * is at most half full (a shard that refills its burst in a second can run
	 * from half to empty within a lease).
	 */
	observeLevel(level: number | undefined, remaining: number, burst: number, now: number): void {
		this.#level = level ?? Number.POSITIVE_INFINITY;
		if (level === undefined && remaining >= burst * COUNT_BELOW_FRACTION) return;
		this.#demand ??= new DemandHistogram(now);
		this.#countUntil = now + LEVEL_COUNT_MS;
		this.#busyUntil = Math.max(this.#contendedUntil, this.#countUntil);
	}

	/** Whether the pool's level shares the pool now (its refusals are the level's, not this isolate's queue's). */
	leveled(now: number): boolean {
		return this.#countUntil > now && this.#level < Number.POSITIVE_INFINITY;
	}

	/** The counts for the next pool call (see {@link DemandHistogram.take}). */
	takeDemand(now: number): { bins: number[]; ms: number } | undefined {
		return this.#demand?.take(now);
	}

	/** Counts a request refused for want of pool tokens: demand all the same. */
	count(tenant: FairTenant, weight: number, cost: number, now: number): void {
		if (this.#countUntil > now) this.#demand?.add(levelBin(offeredRate(tenant, now), weight), cost);
	}

	/**
	 * Whether `tenant` (of tier weight `weight`) may take `cost` pool tokens
	 * now; if so, they are charged to its virtual time.
	 */
	take(tenant: FairTenant, weight: number, cost: number, now: number): boolean {
		// Kept this small so that it inlines into every request's path; the sharing itself is apart.
		return now >= this.#busyUntil || this.#share(tenant, weight, cost, now);
	}

	/** {@link take} while the pool is busy: by the level, or by this isolate's queue. */
	#share(tenant: FairTenant, weight: number, cost: number, now: number): boolean {
		if (this.#countUntil > now) {
			const offered = offeredRate(tenant, now);
			this.#demand?.add(levelBin(offered, weight), cost);
			if (this.#level < Number.POSITIVE_INFINITY) {
				// The level shares the world's pool; the queue below would share a second time.
				const result = passes(tenant.poolCredit, cost, offered, weight, this.#level);
				tenant.poolCredit = keptCredit(result);
				return result >= 0;
			}
		}
		if (now >= this.#contendedUntil) return true;
		const w = weight > 0 ? weight : 1;
		const ask = ++this.#asks;
		const active = this.#active.get(tenant);
		if (active) {
			active.weight = w;
			active.seen = now;
			active.ask = ask;
		} else {
			this.#active.set(tenant, { weight: w, seen: now, ask });
		}
		tenant.fairTime = Math.max(tenant.fairTime, this.#serviceTime - this.#quantum);
		if (now - this.#slowestAt >= SLOWEST_REFRESH_MS) this.#refresh(now);
		// The slowest tenant itself is never held back (a lone tenant shares with nobody).
		if (this.#ahead(tenant)) {
			// Held back only by a tenant still asking: one gone quiet holds nobody back.
			const slowest = this.#slowestTenant && this.#active.get(this.#slowestTenant);
			if (slowest && this.#asking(slowest.ask)) return false;
			this.#refresh(now);
			if (this.#ahead(tenant)) return false;
		}
		this.#serviceTime = Math.max(this.#serviceTime, tenant.fairTime);
		tenant.fairTime += cost / w;
		// The slowest moved on: look again at the next take, or the others would be held to its old place.
		if (tenant === this.#slowestTenant) this.#slowestAt = Number.NEGATIVE_INFINITY;
		return true;
	}

	/** Whether `tenant` is more than a quantum ahead of the slowest active tenant (and not that tenant itself). */
	#ahead(tenant: FairTenant): boolean {
		if (tenant === this.#slowestTenant) return false;
		return tenant.fairTime > Math.max(this.#slowest, this.#serviceTime - this.#quantum) + this.#quantum;
	}

	/**
	 * Whether a tenant that last asked at `ask` still counts as asking: within
	 * the last two asks per active tenant (a backlogged tenant asks about once
	 * per round of them; one that asks less is taking less than its share and
	 * must not hold the others to its place).
	 */
	#asking(ask: number): boolean {
		return this.#asks - ask <= Math.max(8, 2 * this.#active.size);
	}

	/** Forgets tenants gone quiet, and finds the quantum and the slowest of the tenants still asking. */
	#refresh(now: number): void {
		this.#slowestAt = now;
		let slowest = Number.POSITIVE_INFINITY;
		let weight = 0;
		this.#slowestTenant = undefined;
		for (const [tenant, active] of this.#active) {
			if (now - active.seen > ACTIVE_MS) {
				this.#active.delete(tenant);
				continue;
			}
			weight += active.weight;
			if (this.#asking(active.ask) && tenant.fairTime < slowest) {
				slowest = tenant.fairTime;
				this.#slowestTenant = tenant;
			}
		}
		this.#slowest = Number.isFinite(slowest) ? slowest : this.#serviceTime;
		this.#quantum = Math.max(1, this.#lastGrant / 4 / Math.max(1, weight));
	}
}
