/**
 * The burst pool's root: one fair level for the world, and the shards' parts
 * of the pool's rate moved toward their demand at that level.
 *
 * The level alone (pool-level.ts) is not enough while each shard has a fixed
 * eighth of the rate: shards do not have equal numbers of isolates, so a shard
 * with fewer has room while another is short, and one with room sets no level
 * (its isolates pass every request, which hands a tenant that offers fifty
 * times its share far more than that share). Each shard reports its
 * isolates' demand here every {@link ROOT_INTERVAL_MS}; the root solves the
 * level from the sum and gives each shard its demand at that level as its rate.
 * Pure; nothing here reads a clock.
 */
import { binValue, readBins, solveLevel } from "./pool-level";

/** What a pool shard tells the pool's root, every {@link ROOT_INTERVAL_MS} while it is called. */
export interface ShardReport {
	shard: number;
	/** The rate the shard refills at now (requests/s). */
	rate: number;
	/** Its even part of the pool as configured (the pool's rate / shards), and that policy's version. */
	even: number;
	version: number;
	/** Its isolates' demand, flat `[bin, requests/s, …]` pairs. */
	demand: number[];
	/**
	 * Since its last report, per second: requests its isolates refused for want
	 * of its tokens, and refill its bucket threw away at capacity. The root moves
	 * rate from shards that waste to shards that refuse.
	 */
	refused: number;
	wasted: number;
	/**
	 * Tokens in its bucket now beyond {@link KEPT_STOCK} of its burst: its
	 * isolates may spend them on top of its rate. @default 0
	 */
	spare?: number;
}

/** The root's answer: the shard's rate from now on, and the pool's fair level while contended. */
export interface RootReply {
	rate: number;
	level?: number;
}

/** How often a shard that is being called reports to the root. */
export const ROOT_INTERVAL_MS = 250;

/** The least part of an even split a shard keeps, so that new demand there is served while the root catches up. */
const MIN_SHARE = 0.1;

/**
 * Each report moves the level this far (in log space) toward the one solved
 * from it, divided by the shards: a lone shard takes the solved level as it
 * is (smoothing it only delayed the level behind the rates it was solved for).
 */
const LEVEL_SMOOTHING = 1;
/** Each of a shard's reports moves its rate this far toward its demand at the level. */
const WANT_SMOOTHING = 0.3;

/** The world's counted demand must exceed what the pool can give by this factor before a level is set. */
const CONTENDED_OVER = 1.1;

/**
 * The level shares the pool's rate plus the shards' spare tokens spent over
 * this many seconds: a pool with a burst far above its rate serves its demand
 * in full while most of the burst lasts, as it does without a level. Solved
 * for the rate alone, the level held tenants to the rate from the moment
 * isolates start counting (their shard half empty), and the other half of the
 * burst was never spent (`npm run sim`'s equal-demand scenario: 146,180
 * admitted against 165,881 without a level; 162,276 now). Spent over one
 * second, the spare set the level higher during a long surge, and more of it
 * went first come, first served (`internet-pool-surge`: median share error
 * 5.8 % against 4.9 % over three).
 */
const SPARE_SPEND_S = 3;

/**
 * The fraction of a shard's burst that does not count as spare: a shard's
 * isolates hold leases and it refills between them, so some tokens sit in it
 * even while it is short.
 */
export const KEPT_STOCK = 0.1;

/** A wasting shard's boost grows by this factor per report, and shrinks by it otherwise. */
const BOOST_STEP = 1.25;
const MAX_BOOST = 4;

/** Each report, a shard's correction keeps this much of itself… */
const CORRECTION_DECAY = 0.9;
/** …and adds this much of what it refused less what it wasted (requests/s). */
const CORRECTION_GAIN = 0.3;

/**
 * The pool's root: one fair level for the world, and shards' rates that
 * follow their demand at that level, never adding up to more than the pool.
 *
 * A shard applies a rate when the root's reply reaches it and reports the
 * rate it applies with its next report (it has one report in flight at a
 * time, so by then any earlier reply was applied or lost). The root keeps a
 * bound per shard, `max(rate reported, rate sent)`, and raises a shard only
 * into what the others' bounds leave: `Σ bounds ≤ pool rate` at every
 * instant, so the shards' rates never add up to more (the bursts stay an even
 * split). Pure.
 */
export class PoolRoot {
	readonly #bound: Float64Array;
	readonly #demand: Map<number, number>[];
	/** Per shard: rate moved toward it (or away) for what it refused or wasted, beyond its demand at the level. */
	readonly #correction: Float64Array;
	readonly #smoothWant: Float64Array;
	/** Per shard: how much more than the level its isolates pass while it throws refill away. */
	readonly #boost: Float64Array;
	readonly #spare: Float64Array;
	#level = Number.POSITIVE_INFINITY;
	#contended = false;

	/**
	 * A root for a pool of `rate` split into `shards`, every shard at an even
	 * split, or at most at `bounds` (what a root before this one saved).
	 */
	constructor(
		readonly rate: number,
		readonly shards: number,
		bounds?: readonly number[],
		/** The version of the pool's policy this root is for. @default 0 */
		readonly version = 0,
	) {
		this.#bound = new Float64Array(shards).fill(rate / shards);
		if (bounds?.length === shards) this.#bound.set(bounds);
		this.#demand = Array.from({ length: shards }, () => new Map());
		this.#correction = new Float64Array(shards);
		this.#smoothWant = new Float64Array(shards).fill(Number.NaN);
		this.#boost = new Float64Array(shards).fill(1);
		this.#spare = new Float64Array(shards);
	}

	/** The most each shard may be refilling at now: what a root after this one must start from. */
	get bounds(): number[] {
		return Array.from(this.#bound);
	}

	/** Takes shard `report.shard`'s report; returns its new rate and the level. */
	report(report: ShardReport): RootReply {
		const s = report.shard;
		if (!(s >= 0 && s < this.shards)) return { rate: report.rate };
		this.#demand[s] = readBins(report.demand);
		this.#spare[s] = Math.max(0, report.spare ?? 0);
		let spare = 0;
		for (const tokens of this.#spare) spare += tokens;
		const target = this.rate + spare / SPARE_SPEND_S;
		this.#correction[s] =
			CORRECTION_DECAY * (this.#correction[s] as number) + CORRECTION_GAIN * (report.refused - report.wasted);
		const world = new Map<number, number>();
		for (const shard of this.#demand) for (const [bin, rate] of shard) world.set(bin, (world.get(bin) ?? 0) + rate);
		let total = 0;
		for (const rate of world.values()) total += rate;
		// Counts run a little high (an isolate that died is counted until its report goes stale): contention starts
		// only clearly over what the pool can give, and ends once under it.
		if (total > target * CONTENDED_OVER) this.#contended = true;
		else if (total <= target) this.#contended = false;
		const solved = this.#contended ? solveLevel(world, target) : Number.POSITIVE_INFINITY;
		// Smoothed across reports (geometrically: levels span decades) over about one round of every shard's, so
		// that one shard's noisy counts move it little, whatever the number of shards.
		const smoothing = Math.min(1, LEVEL_SMOOTHING / this.shards);
		this.#level =
			Number.isFinite(solved) && Number.isFinite(this.#level) && this.#level > 0
				? this.#level ** (1 - smoothing) * solved ** smoothing
				: solved;
		const wanted = this.#want(s);
		const want =
			Number.isFinite(this.#level) && Number.isFinite(this.#smoothWant[s] as number)
				? (this.#smoothWant[s] as number) * (1 - WANT_SMOOTHING) + wanted * WANT_SMOOTHING
				: wanted;
		this.#smoothWant[s] = want;
		// The shard runs at what it reports until our answer reaches it, and may run at the answer from then on.
		let others = 0;
		for (let t = 0; t < this.shards; t++) if (t !== s) others += this.#bound[t] as number;
		const rate = Math.max(0, Math.min(want, this.rate - others));
		this.#bound[s] = Math.max(report.rate, rate);
		// Refill a shard throws away is pool no tenant gets: its isolates pass more until it stops (never less than the
		// level, so that a shard short of tokens shares them as every other does).
		const boost = (this.#boost[s] as number) * (report.wasted > report.refused ? BOOST_STEP : 1 / BOOST_STEP);
		this.#boost[s] = Math.min(MAX_BOOST, Math.max(1, boost));
		return Number.isFinite(this.#level) ? { rate, level: this.#level * (this.#boost[s] as number) } : { rate };
	}

	/** What shard `s` should refill at: its demand at the level, scaled so that the shards' add up to the pool. */
	#want(s: number): number {
		const even = this.rate / this.shards;
		// Uncontended, isolates count their demand only where a shard runs half empty: the counts are partial, and an
		// even split is what no count can make worse.
		if (!Number.isFinite(this.#level)) return even;
		const atLevel = this.#demand.map((shard) => {
			let total = 0;
			for (const [bin, rate] of shard) total += rate * Math.min(1, this.#level / binValue(bin));
			return total;
		});
		let all = 0;
		for (const demand of atLevel) all += demand;
		let sum = 0;
		let mine = 0;
		for (let t = 0; t < this.shards; t++) {
			const target = Math.max(
				MIN_SHARE * even,
				((atLevel[t] as number) * this.rate) / all + (this.#correction[t] as number),
			);
			sum += target;
			if (t === s) mine = target;
		}
		return (mine * this.rate) / sum;
	}
}

/**
 * The root that answers `report`: `root` itself, or a new one when the report
 * comes from a newer pool policy (an operator changed the pool; every shard
 * starts again from its even part, and so does the root). Reports of an
 * older policy than the root's are from shards not reconfigured yet: they
 * get no new rate (`undefined`), which keeps them where they are.
 */
export function rootFor(root: PoolRoot | undefined, report: ShardReport, shards: number): PoolRoot | undefined {
	if (root && report.version < root.version) return undefined;
	if (root && report.version === root.version && root.shards === shards) return root;
	return new PoolRoot(report.even * shards, shards, undefined, report.version);
}
