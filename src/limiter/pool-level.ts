/**
 * Weighted max-min fair shares of a contended burst pool across the world.
 *
 * An isolate sees a few requests a second of any one tenant, so no sharing
 * inside one isolate can tell a tenant spread over a hundred locations from
 * one in two: shares followed demand. What does tell them apart is each
 * tenant's offered rate across all its isolates, which its TenantBucket adds
 * up from the isolates' reports ({@link OfferedRate}). With it, the fair share
 * is one number λ per unit of weight: tenant `i` is owed `min(dᵢ, wᵢ·λ)`, where
 * `Σ min(dᵢ, wᵢ·λ)` is the pool's rate. Each isolate counts the requests it
 * decides by their tenant's `d / w` ({@link DemandHistogram}, a few dozen
 * numbers however many tenants) and sends the counts with its pool lease
 * calls; each shard solves λ for its part of the rate from its isolates'
 * counts ({@link LevelSolver}) and returns it; every isolate then passes the
 * fraction `wᵢ·λ / dᵢ` of a tenant's requests to the pool ({@link passes}),
 * so that, summed over its isolates, the tenant gets `wᵢ·λ`.
 *
 * Exactness does not depend on any of this: the shards still grant only the
 * tokens they have. Pure; the clock is passed in.
 */

/** Bins per doubling of `d / w`: shares land within half a bin (2.2 %) of the level. */
export const BINS_PER_OCTAVE = 16;

/** `d / w` below 2⁻⁸ (one request in four minutes) falls in the first bin. */
const MIN_OCTAVE = -8;

/** Number of bins: `d / w` from 2⁻⁸ to 2¹⁴ requests/s per unit of weight. */
export const LEVEL_BINS = (14 - MIN_OCTAVE) * BINS_PER_OCTAVE;

/**
 * The bin of a tenant offering `offered` requests/s at weight `weight`.
 * @example levelBin(16, 1) // 192: 2⁴ is 12 octaves above 2⁻⁸
 */
export function levelBin(offered: number, weight: number): number {
	const x = offered / (weight > 0 ? weight : 1);
	if (!(x > 0)) return 0;
	const bin = Math.round((Math.log2(x) - MIN_OCTAVE) * BINS_PER_OCTAVE);
	return bin < 0 ? 0 : bin >= LEVEL_BINS ? LEVEL_BINS - 1 : bin;
}

/** The `d / w` a bin stands for. */
export function binValue(bin: number): number {
	return 2 ** (bin / BINS_PER_OCTAVE + MIN_OCTAVE);
}

/**
 * The level λ at which `Σ rate[b] · min(1, λ / binValue(b)) = target`, or
 * Infinity when everything together asks for no more than `target`.
 * @example solveLevel(new Map([[levelBin(1, 1), 1], [levelBin(16, 1), 16]]), 9) // ≈ 8
 */
export function solveLevel(rates: ReadonlyMap<number, number>, target: number): number {
	let total = 0;
	for (const rate of rates.values()) total += rate;
	if (total <= target) return Number.POSITIVE_INFINITY;
	const bins = [...rates.keys()].sort((a, b) => a - b);
	// Below the level a bin gets all it asks; from the level up, λ / x of it: Σ rate / x over those bins.
	let below = 0;
	let perLevel = 0;
	for (const bin of bins) perLevel += (rates.get(bin) as number) / binValue(bin);
	for (const bin of bins) {
		const lambda = (target - below) / perLevel;
		if (lambda <= binValue(bin)) return Math.max(0, lambda);
		const rate = rates.get(bin) as number;
		below += rate;
		perLevel -= rate / binValue(bin);
	}
	return Number.POSITIVE_INFINITY;
}

/**
 * Whether a request of `cost` passes to the pool at level `level`, given the
 * tenant's offered rate `offered` and weight: it passes `w·λ / d` of them, by a
 * credit carried on the tenant's entry (deterministic: a tenant owed a tenth
 * of its requests gets every tenth, not a random tenth). Returns the new
 * credit, negative when the request does not pass.
 */
export function passes(credit: number, cost: number, offered: number, weight: number, level: number): number {
	const fraction = offered > 0 ? Math.min(1, (weight * level) / offered) : 1;
	const next = credit + fraction * cost;
	// No banking: a tenant that was owed more than it asked cannot save it for a burst.
	return next >= cost ? Math.min(next - cost, cost) : -1 - next;
}

/** Recovers the credit kept after a refusal ({@link passes} returns `-1 - credit`). */
export function keptCredit(result: number): number {
	return result < 0 ? -1 - result : result;
}

/**
 * Reads flat `[bin, amount, …]` pairs into a map of bin to amount × `scale`,
 * skipping bins out of range and amounts that are not positive (they come
 * from other objects).
 */
export function readBins(flat: readonly number[], scale = 1): Map<number, number> {
	const bins = new Map<number, number>();
	for (let i = 0; i + 1 < flat.length; i += 2) {
		const bin = flat[i] as number;
		const amount = (flat[i + 1] as number) * scale;
		if (Number.isInteger(bin) && bin >= 0 && bin < LEVEL_BINS && amount > 0)
			bins.set(bin, (bins.get(bin) ?? 0) + amount);
	}
	return bins;
}

/** The shortest time an isolate's counts must cover before they are sent. */
export const MIN_SPAN_MS = 200;

/** An isolate's counts of the requests it decided, by their tenant's bin, since its last pool call. */
export class DemandHistogram {
	readonly #counts = new Map<number, number>();
	#since: number;

	constructor(now: number) {
		this.#since = now;
	}

	/** Counts a request of `cost` in `bin`. */
	add(bin: number, cost: number): void {
		this.#counts.set(bin, (this.#counts.get(bin) ?? 0) + cost);
	}

	/**
	 * The counts as flat `[bin, count, …]` pairs and the milliseconds they
	 * cover, then starts over; nothing while they cover less than
	 * {@link MIN_SPAN_MS} (three requests in five milliseconds are no 600/s).
	 */
	take(now: number): { bins: number[]; ms: number } | undefined {
		const ms = now - this.#since;
		if (ms < MIN_SPAN_MS) return undefined;
		this.#since = now;
		if (this.#counts.size === 0) return undefined;
		const bins: number[] = [];
		for (const [bin, count] of this.#counts) bins.push(bin, count);
		this.#counts.clear();
		return { bins, ms };
	}
}

/**
 * A report older than this many of its own spans (or {@link REPORT_MIN_MS})
 * no longer counts. Short: counts are binned by offered rates that change
 * while a tenant's isolates learn them, and a level solved from old counts
 * fits the old rates (at 1 s, small contended deployments left 6–9 % of the
 * pool unused; at 400 ms, 0–1 %).
 */
const REPORT_SPANS = 2;
const REPORT_MIN_MS = 400;

/** A shard's view of its isolates' demand: each isolate's latest report, as rates, summed per bin. */
export class DemandReports {
	readonly #reports = new Map<string, { at: number; keepMs: number; rates: Map<number, number> }>();
	readonly #total = new Map<number, number>();

	/** Replaces what isolate `isolate` reported last with `bins` counted over `ms`. */
	report(isolate: string, bins: readonly number[], ms: number, now: number): void {
		this.#forget(isolate);
		const span = Math.max(ms, 1);
		const rates = readBins(bins, 1000 / span);
		for (const [bin, rate] of rates) this.#total.set(bin, (this.#total.get(bin) ?? 0) + rate);
		this.#reports.set(isolate, { at: now, keepMs: Math.max(REPORT_MIN_MS, REPORT_SPANS * span), rates });
	}

	/** The demand of the isolates still reporting at `now`, as flat `[bin, requests/s, …]` pairs. */
	totals(now: number): number[] {
		// Reports are kept in the order they came: the stale ones are at the front.
		for (const [isolate, report] of this.#reports) {
			if (now - report.at <= report.keepMs) break;
			this.#forget(isolate);
		}
		const flat: number[] = [];
		for (const [bin, rate] of this.#total) flat.push(bin, rate);
		return flat;
	}

	#forget(isolate: string): void {
		const old = this.#reports.get(isolate);
		if (!old) return;
		this.#reports.delete(isolate);
		for (const [bin, rate] of old.rates) {
			const left = (this.#total.get(bin) ?? 0) - rate;
			if (left > 1e-9) this.#total.set(bin, left);
			else this.#total.delete(bin);
		}
	}
}

/** Time constant of a TenantBucket's offered rate (ms): isolates report every few seconds, in lumps. */
export const OFFERED_TAU_MS = 4_000;

/** A tenant's first reports count as covering at least this long (they cover time before the first call). */
const OFFERED_MIN_COVER_MS = 1_000;

/**
 * A TenantBucket's estimate of its tenant's offered rate across all its
 * isolates: what they report deciding, in an exponentially decaying sum (a
 * rate taken per report from each isolate's own interval overstates: a call
 * that follows another closely turns two requests into a hundred a second).
 */
export class OfferedRate {
	#sum = 0;
	#at = Number.NEGATIVE_INFINITY;
	#since = Number.NaN;

	/** `count` more requests were decided; returns the offered rate per second. */
	report(count: number, now: number): number {
		this.#sum = this.#sum * Math.exp(-Math.max(0, now - this.#at) / OFFERED_TAU_MS) + count;
		if (now > this.#at) this.#at = now;
		if (Number.isNaN(this.#since)) this.#since = now;
		// A young sum covers less than its time constant: divided by what it covers, it does not start at zero (a
		// level solved from tenants that seem to offer nothing holds every one of them to nothing).
		const covered =
			OFFERED_TAU_MS * (1 - Math.exp(-Math.max(OFFERED_MIN_COVER_MS, now - this.#since) / OFFERED_TAU_MS));
		return (this.#sum * 1000) / covered;
	}
}
