/**
 * A cheap estimate of how fast something is consumed, used to size leases.
 * Pure; the clock is passed in.
 */

/** Counts in the current window plus the rate measured over earlier windows. */
export interface RateMeter {
	/** Smoothed rate, per second, over past windows. */
	rate: number;
	/** Start of the current window (ms). */
	since: number;
	/** Amount observed since `since`. */
	count: number;
}

/** Length of one measuring window. Short enough to follow a burst, long enough to smooth it. */
export const RATE_WINDOW_MS = 250;

/** A meter that has seen nothing. */
export function newMeter(now: number): RateMeter {
	return { rate: 0, since: now, count: 0 };
}

/**
 * Records `amount` consumed at `now` and closes the window when it is over, in
 * place: every meter has one owner, and the isolate records every request it
 * admits, where a new object each time would be garbage.
 */
export function record(meter: RateMeter, now: number, amount: number): void {
	const elapsed = now - meter.since;
	if (elapsed < RATE_WINDOW_MS) {
		meter.count += amount;
		return;
	}
	const measured = (meter.count * 1000) / elapsed;
	// After a long idle gap the old rate says nothing about the new traffic.
	meter.rate = elapsed > 4 * RATE_WINDOW_MS ? measured : (meter.rate + measured) / 2;
	meter.since = now;
	meter.count = amount;
}

/**
 * The best current estimate, per second: the smoothed rate, or the current
 * window's pace if that is higher (so a sudden burst is seen within one window).
 * The pace counts the gaps between what the window saw, not the first arrival:
 * one request early in a window is no burst (counted, it would read as 16/s and
 * size a sparse isolate's lease a dozen times too big).
 */
export function currentRate(meter: RateMeter, now: number): number {
	const elapsed = Math.max(now - meter.since, RATE_WINDOW_MS / 4);
	return Math.max(meter.rate, (Math.max(0, meter.count - 1) * 1000) / elapsed);
}
