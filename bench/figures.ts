/** Small arithmetic shared by the runs' summaries. */

/** The q-quantile of `samples` (sorts them in place). */
export function percentile(samples: number[], q: number): number {
	samples.sort((a, b) => a - b);
	return samples[Math.min(samples.length - 1, Math.floor(q * samples.length))] ?? 0;
}

/** `a / b` to three decimals, as the results print ratios. */
export function ratio(a: number, b: number): number {
	return Number((a / b).toFixed(3));
}

/** The arithmetic mean (0 for no values). */
export function mean(values: number[]): number {
	return values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
}

/** The median of `values` (the upper one of an even count), leaving them as they were. */
export function median(values: number[]): number {
	return percentile([...values], 0.5);
}
