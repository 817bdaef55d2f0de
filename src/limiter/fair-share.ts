/**
 * Weighted sharing of an isolate's burst-pool tokens among its tenants while
 * the pool is contended (within {@link CONTENDED_MS} of its shard refusing,
 * granting less than asked or running low, or of a request denied for want of
 * pool tokens); uncontended, every tenant takes what it needs and this costs
 * one comparison. It shares what one isolate holds: a tenant served by many
 * isolates gets its weighted share in each.
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

/** What fair sharing keeps per tenant (on its entry). */
export interface FairTenant {
	/** Pool tokens taken while contended, divided by weight (lifted, see above). */
	fairTime: number;
}

/** One isolate's weighted sharing of its pool tokens. */
export class FairShare {
	#contendedUntil = 0;
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
	}

	/**
	 * Whether `tenant` (of tier weight `weight`) may take `cost` pool tokens
	 * now; if so, they are charged to its virtual time.
	 */
	take(tenant: FairTenant, weight: number, cost: number, now: number): boolean {
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
