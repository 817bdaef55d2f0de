/**
 * Deterministic randomness for the global simulation: a seeded PRNG
 * (mulberry32), independent streams derived from one seed, the few
 * distributions the workload needs, and an alias table for picking a tenant
 * by weight in constant time. Nothing here calls Math.random.
 */

/** A generator of uniform numbers in [0, 1). */
export type Random = () => number;

/** mulberry32: small, fast, good enough for a simulation; 32-bit state. */
export function mulberry32(seed: number): Random {
	let state = seed >>> 0;
	return () => {
		state = (state + 0x6d2b79f5) >>> 0;
		let t = state;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
}

/**
 * An independent stream per purpose (workload, arrivals, jitter, restarts),
 * so that changing how often one is drawn from leaves the others unchanged.
 */
export function stream(seed: number, name: string): Random {
	let h = (seed ^ 0x9e3779b9) >>> 0;
	for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
	return mulberry32(h);
}

/** An exponential variate of the given mean. */
export function exponential(random: Random, mean: number): number {
	return -mean * Math.log(1 - random());
}

/** Log-uniform between `min` and `max`. */
export function logUniform(random: Random, min: number, max: number): number {
	return Math.exp(Math.log(min) + random() * (Math.log(max) - Math.log(min)));
}

/** `count` distinct integers from [0, n), in random order (partial Fisher–Yates over `scratch`). */
export function sample(random: Random, n: number, count: number, scratch: Int32Array): Int32Array {
	for (let i = 0; i < n; i++) scratch[i] = i;
	const k = Math.min(n, count);
	for (let i = 0; i < k; i++) {
		const j = i + Math.floor(random() * (n - i));
		const swap = scratch[i] as number;
		scratch[i] = scratch[j] as number;
		scratch[j] = swap;
	}
	return scratch.slice(0, k);
}

/** Vose's alias method: picks index i with probability weights[i] / Σ weights in O(1). */
export class AliasTable {
	readonly #probability: Float64Array;
	readonly #alias: Int32Array;

	constructor(weights: ArrayLike<number>) {
		const n = weights.length;
		let total = 0;
		for (let i = 0; i < n; i++) total += weights[i] as number;
		this.#probability = new Float64Array(n);
		this.#alias = new Int32Array(n);
		const scaled = new Float64Array(n);
		const small: number[] = [];
		const large: number[] = [];
		for (let i = 0; i < n; i++) {
			scaled[i] = ((weights[i] as number) * n) / total;
			((scaled[i] as number) < 1 ? small : large).push(i);
		}
		while (small.length > 0 && large.length > 0) {
			const s = small.pop() as number;
			const l = large.pop() as number;
			this.#probability[s] = scaled[s] as number;
			this.#alias[s] = l;
			scaled[l] = (scaled[l] as number) + (scaled[s] as number) - 1;
			((scaled[l] as number) < 1 ? small : large).push(l);
		}
		for (const i of large) this.#probability[i] = 1;
		for (const i of small) this.#probability[i] = 1;
	}

	/** One index, drawn with two uniforms. */
	pick(random: Random): number {
		const n = this.#probability.length;
		const i = Math.floor(random() * n);
		return random() < (this.#probability[i] as number) ? i : (this.#alias[i] as number);
	}
}
