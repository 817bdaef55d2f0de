import { afterEach, beforeEach, vi } from "vitest";

/**
 * Freezes `Date` at `start` for each test of the calling suite. The Worker and
 * its Durable Objects run in the test's isolate, so they see the same clock;
 * move it with `vi.setSystemTime`.
 */
export function useFrozenClock(start: number): void {
	beforeEach(() => {
		vi.useFakeTimers({ toFake: ["Date"] });
		vi.setSystemTime(start);
	});
	afterEach(() => {
		vi.useRealTimers();
	});
}
