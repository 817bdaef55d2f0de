import { describe, expect, it } from "vitest";
import { credit, fullBucket, msUntil, refill, take, takeUpTo } from "../../src/limiter/bucket";

const starter = { rate: 300, burst: 1200 };

describe("take", () => {
	it.each([
		{
			name: "full bucket admits",
			tokens: 1200,
			elapsedMs: 0,
			cost: 1,
			allowed: true,
			remaining: 1199,
			retryAfterMs: 0,
		},
		{
			name: "refill adds rate × elapsed",
			tokens: 0,
			elapsedMs: 100,
			cost: 30,
			allowed: true,
			remaining: 0,
			retryAfterMs: 0,
		},
		{
			name: "refill is capped at burst",
			tokens: 1000,
			elapsedMs: 10_000,
			cost: 1,
			allowed: true,
			remaining: 1199,
			retryAfterMs: 0,
		},
		{
			name: "long idle fills exactly to burst",
			tokens: 0,
			elapsedMs: 86_400_000,
			cost: 1200,
			allowed: true,
			remaining: 0,
			retryAfterMs: 0,
		},
		{
			name: "cost > 1 debits the cost",
			tokens: 50,
			elapsedMs: 0,
			cost: 20,
			allowed: true,
			remaining: 30,
			retryAfterMs: 0,
		},
		{
			name: "short by one token waits 1/rate",
			tokens: 0,
			elapsedMs: 0,
			cost: 1,
			allowed: false,
			remaining: 0,
			retryAfterMs: 4,
		},
		{
			name: "cost > 1 waits for all of it",
			tokens: 10,
			elapsedMs: 0,
			cost: 40,
			allowed: false,
			remaining: 10,
			retryAfterMs: 100,
		},
		{
			name: "fractional tokens do not count",
			tokens: 0,
			elapsedMs: 3,
			cost: 1,
			allowed: false,
			remaining: 0.9,
			retryAfterMs: 1,
		},
		{
			name: "cost > burst never fits",
			tokens: 1200,
			elapsedMs: 0,
			cost: 1201,
			allowed: false,
			remaining: 1200,
			retryAfterMs: Number.POSITIVE_INFINITY,
		},
	])("$name", ({ tokens, elapsedMs, cost, allowed, remaining, retryAfterMs }) => {
		const result = take({ tokens, updatedAt: 1_000 }, starter, 1_000 + elapsedMs, cost);
		expect(result.taken > 0).toBe(allowed);
		expect(result.taken).toBe(allowed ? cost : 0);
		expect(result.remaining).toBeCloseTo(remaining, 9);
		expect(result.retryAfterMs).toBe(retryAfterMs);
	});

	it("a denial still settles the refill, so retrying later is not double counted", () => {
		const denied = take({ tokens: 0, updatedAt: 0 }, starter, 2, 1);
		expect(denied.state).toEqual({ tokens: 0.6, updatedAt: 2 });
	});
});

describe("refill", () => {
	it("a clock that goes backwards adds nothing and keeps updatedAt", () => {
		expect(refill({ tokens: 5, updatedAt: 10_000 }, starter, 9_000)).toEqual({ tokens: 5, updatedAt: 10_000 });
	});

	it("a lowered burst clamps tokens at once", () => {
		expect(refill({ tokens: 1200, updatedAt: 0 }, { rate: 10, burst: 20 }, 0).tokens).toBe(20);
	});

	it("never admits more than burst + rate × elapsed over any sequence of takes", () => {
		let state = fullBucket(starter, 0);
		let admitted = 0;
		for (let now = 0; now <= 10_000; now += 7) {
			const result = take(state, starter, now, 1 + (now % 5));
			state = result.state;
			admitted += result.taken;
		}
		expect(admitted).toBeLessThanOrEqual(1200 + 300 * 10);
		expect(admitted).toBeGreaterThan(0.98 * (1200 + 300 * 10) - 5);
	});
});

describe("takeUpTo", () => {
	it.each([
		{ tokens: 100, min: 1, max: 30, taken: 30 },
		{ tokens: 12.5, min: 1, max: 30, taken: 12 },
		{ tokens: 12.5, min: 13, max: 30, taken: 0 },
		{ tokens: 100, min: 40, max: 30, taken: 40 },
	])("takes $taken of $tokens for min $min max $max", ({ tokens, min, max, taken }) => {
		expect(takeUpTo({ tokens, updatedAt: 0 }, starter, 0, min, max).taken).toBe(taken);
	});
});

describe("credit", () => {
	it("gives back unspent tokens, capped at burst", () => {
		expect(credit({ tokens: 100, updatedAt: 0 }, starter, 0, 50).tokens).toBe(150);
		expect(credit({ tokens: 1190, updatedAt: 0 }, starter, 0, 50).tokens).toBe(1200);
	});

	it("credited tokens never exceed what the bucket would hold had they not been lent", () => {
		// Lend 100, let the bucket refill for 1 s, take the 100 back.
		const lent = take(fullBucket(starter, 0), starter, 0, 100).state;
		const back = credit(lent, starter, 1_000, 100);
		expect(back.tokens).toBe(refill(fullBucket(starter, 0), starter, 1_000).tokens);
	});
});

describe("msUntil", () => {
	it.each([
		{ tokens: 0, want: 300, ms: 1000 },
		{ tokens: 299, want: 300, ms: 4 },
		{ tokens: 300, want: 300, ms: 0 },
		{ tokens: 0, want: 1201, ms: Number.POSITIVE_INFINITY },
	])("$want tokens from $tokens in $ms ms", ({ tokens, want, ms }) => {
		expect(msUntil({ tokens, updatedAt: 0 }, starter, want)).toBe(ms);
	});
});
