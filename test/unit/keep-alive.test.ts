import { describe, expect, it } from "vitest";
import { KeepAlives } from "../../src/limiter/keep-alive";

/** Pops the items due at `now`, at most `max`. */
function takeDue(heap: KeepAlives<number>, now: number, max: number): number[] {
	const due: number[] = [];
	while (due.length < max) {
		const item = heap.popDue(now);
		if (item === undefined) break;
		due.push(item);
	}
	return due;
}

describe("KeepAlives", () => {
	it.each([
		{ name: "in order", at: [1, 2, 3, 4], now: 3, max: 10, due: [1, 2, 3], next: 4 },
		{ name: "reversed", at: [9, 7, 5, 3, 1], now: 6, max: 10, due: [1, 3, 5], next: 7 },
		{ name: "ties", at: [2, 2, 1, 2], now: 2, max: 10, due: [1, 2, 2, 2], next: Number.POSITIVE_INFINITY },
		{ name: "at most max", at: [5, 1, 4, 2, 3], now: 10, max: 2, due: [1, 2], next: 3 },
		{ name: "none due", at: [5, 6], now: 4, max: 10, due: [], next: 5 },
		{ name: "empty", at: [], now: 4, max: 10, due: [], next: Number.POSITIVE_INFINITY },
	])("$name", ({ at, now, max, due, next }) => {
		const heap = new KeepAlives<number>();
		for (const t of at) heap.add(t, t);
		expect(takeDue(heap, now, max)).toEqual(due);
		expect(heap.next).toBe(next);
		expect(takeDue(heap, Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY)).toHaveLength(at.length - due.length);
	});

	it("hands out any interleaving of adds and takes in the order a sort gives", () => {
		// A fixed pseudo-random sequence; the oracle is a sorted array.
		let seed = 7;
		const random = () => {
			seed = (seed * 48271) % 2147483647;
			return seed / 2147483647;
		};
		const heap = new KeepAlives<number>();
		const oracle: number[] = [];
		let now = 0;
		for (let step = 0; step < 2_000; step++) {
			if (random() < 0.6) {
				const at = now + Math.floor(random() * 50);
				heap.add(at, at);
				oracle.push(at);
			} else {
				now += Math.floor(random() * 10);
				const max = 1 + Math.floor(random() * 4);
				oracle.sort((a, b) => a - b);
				const expected: number[] = [];
				while (expected.length < max && oracle.length > 0 && (oracle[0] as number) <= now)
					expected.push(oracle.shift() as number);
				expect(takeDue(heap, now, max)).toEqual(expected);
				expect(heap.next).toBe(oracle.length > 0 ? Math.min(...oracle) : Number.POSITIVE_INFINITY);
			}
		}
	});
});
