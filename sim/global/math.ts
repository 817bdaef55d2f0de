/**
 * The pure arithmetic of the global simulation, tested on its own: weighted
 * water-filling (used both to shape the workload and to compute fair shares
 * of the pool), the linear-time worst-window over-admission, and percentiles
 * from a histogram.
 */
import type { BucketPolicy } from "../../src/limiter/bucket";

/**
 * The level λ at which Σ min(caps[i], weights[i] · λ) = total (weighted
 * max-min fairness: every item gets its weight times λ, or its cap if that is
 * less). Infinity when the caps together do not reach `total`.
 * @example waterFill([1, 10, 10], [1, 1, 2], 13) // 4: 1 + 4 + 8
 */
export function waterFill(caps: ArrayLike<number>, weights: ArrayLike<number>, total: number): number {
	const n = caps.length;
	const order = Array.from({ length: n }, (_, i) => i).filter((i) => (weights[i] as number) > 0);
	// Items reach their cap at λ = cap / weight; fill in that order.
	const level = (i: number): number => (caps[i] as number) / (weights[i] as number);
	order.sort((a, b) => level(a) - level(b));
	let capped = 0;
	let weightLeft = 0;
	for (const i of order) weightLeft += weights[i] as number;
	for (const i of order) {
		// With every item from here on uncapped, λ = (total − capped) / weightLeft.
		const lambda = (total - capped) / weightLeft;
		if (lambda <= level(i)) return Math.max(0, lambda);
		capped += caps[i] as number;
		weightLeft -= weights[i] as number;
	}
	return Number.POSITIVE_INFINITY;
}

/**
 * What an ideal scheduler that shares `capacities[s]` in second `s` by
 * weighted max-min fairness, among what each item sent in that second, gives
 * each item over all the seconds: `counts[i * seconds + s]` is what item `i`
 * sent in second `s`. It knows every arrival and decides with no delay: the
 * allocation a limiter that shares the pool second by second aims at (see
 * report.ts).
 * @example waterFillBySecond(new Float32Array([8, 2, 8, 8]), 2, [1, 1], [10, 10]) // [7, 13]: 5 + 2, 5 + 8
 */
export function waterFillBySecond(
	counts: Float32Array,
	seconds: number,
	weights: ArrayLike<number>,
	capacities: ArrayLike<number>,
): Float64Array {
	const size = weights.length;
	const total = new Float64Array(size);
	const senders: number[] = [];
	for (let s = 0; s < seconds; s++) {
		// Only the items that sent anything this second share it (a few thousand of a hundred thousand).
		senders.length = 0;
		for (let i = 0; i < size; i++) if ((counts[i * seconds + s] as number) > 0) senders.push(i);
		const sent = senders.map((i) => counts[i * seconds + s] as number);
		const level = waterFill(
			sent,
			senders.map((i) => weights[i] as number),
			capacities[s] as number,
		);
		senders.forEach((i, k) => {
			total[i] = (total[i] as number) + Math.min(sent[k] as number, (weights[i] as number) * level);
		});
	}
	return total;
}

/**
 * Online worst excess of admissions over `burst + rate × span` in any window
 * [t1, t2] of admission instants, in O(1) per admission: with A(t) the count
 * admitted before t, the excess of the window ending at the n-th admission is
 * n − rate·t2 − min over t1 ≤ t2 of (A(t1) − rate·t1) − burst. Admission
 * times must not decrease.
 */
export class ExcessTracker {
	#count = 0;
	#min = Number.POSITIVE_INFINITY;
	/** Largest excess seen so far (0 if none). */
	worst = 0;

	constructor(readonly policy: BucketPolicy) {}

	/** Records one admission at `ms` (simulated milliseconds). */
	admit(ms: number): void {
		const ratePerMs = this.policy.rate / 1000;
		const start = this.#count - ratePerMs * ms;
		if (start < this.#min) this.#min = start;
		this.#count += 1;
		const excess = this.#count - ratePerMs * ms - this.#min - this.policy.burst;
		// Float noise of rate × time is far below a millionth of a token.
		if (excess > this.worst + 1e-6) this.worst = excess;
	}
}

/** The same, for many tenants at once in flat arrays (no object per tenant). */
export class ExcessTable {
	readonly #count: Float64Array;
	readonly #min: Float64Array;
	readonly worst: Float64Array;

	constructor(size: number) {
		this.#count = new Float64Array(size);
		this.#min = new Float64Array(size).fill(Number.POSITIVE_INFINITY);
		this.worst = new Float64Array(size);
	}

	/** Records one admission of tenant `i` at `ms` under `rate`/`burst`. */
	admit(i: number, ms: number, rate: number, burst: number): void {
		const ratePerMs = rate / 1000;
		const count = this.#count[i] as number;
		const start = count - ratePerMs * ms;
		if (start < (this.#min[i] as number)) this.#min[i] = start;
		this.#count[i] = count + 1;
		const excess = count + 1 - ratePerMs * ms - (this.#min[i] as number) - burst;
		if (excess > (this.worst[i] as number) + 1e-6) this.worst[i] = excess;
	}

	/** Largest excess of any tenant. */
	max(): number {
		let worst = 0;
		for (const w of this.worst) if (w > worst) worst = w;
		return worst;
	}
}

/** Brute-force O(n²) worst-window excess of sorted admission times: the oracle for the tests. */
export function bruteForceExcess(times: readonly number[], policy: BucketPolicy): number {
	let worst = 0;
	for (let j = 0; j < times.length; j++) {
		for (let i = 0; i <= j; i++) {
			let first = i;
			// A window starting at t_i holds every admission at t_i, even those listed before it.
			while (first > 0 && times[first - 1] === times[i]) first--;
			const count = j - first + 1;
			const span = ((times[j] as number) - (times[i] as number)) / 1000;
			worst = Math.max(worst, count - policy.burst - policy.rate * span);
		}
	}
	return worst > 1e-6 ? worst : 0;
}

/** A latency histogram in fixed bins, for percentiles without keeping every sample. */
export class Histogram {
	readonly #bins: Uint32Array;
	count = 0;

	constructor(
		readonly binMs: number,
		readonly maxMs: number,
	) {
		this.#bins = new Uint32Array(Math.ceil(maxMs / binMs) + 1);
	}

	add(ms: number, times = 1): void {
		const bin = Math.min(this.#bins.length - 1, Math.max(0, Math.round(ms / this.binMs)));
		this.#bins[bin] = (this.#bins[bin] as number) + times;
		this.count += times;
	}

	/** The q-quantile (0..1), to the bin's width. */
	quantile(q: number): number {
		if (this.count === 0) return 0;
		const rank = Math.ceil(q * this.count);
		let seen = 0;
		for (let i = 0; i < this.#bins.length; i++) {
			seen += this.#bins[i] as number;
			if (seen >= rank) return i * this.binMs;
		}
		return this.maxMs;
	}
}

/** The q-quantile of `values` (sorted copy, nearest rank). */
export function quantile(values: readonly number[], q: number): number {
	if (values.length === 0) return 0;
	const sorted = [...values].sort((a, b) => a - b);
	return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}

/**
 * The mean of `values` and their standard deviation around it (population),
 * both 0 for no values.
 * @example meanAndSd([1, 3]) // { mean: 2, sd: 1 }
 */
export function meanAndSd(values: readonly number[]): { mean: number; sd: number } {
	if (values.length === 0) return { mean: 0, sd: 0 };
	let sum = 0;
	for (const value of values) sum += value;
	const mean = sum / values.length;
	let squares = 0;
	for (const value of values) squares += (value - mean) ** 2;
	return { mean, sd: Math.sqrt(squares / values.length) };
}
