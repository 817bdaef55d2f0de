import { describe, expect, it } from "vitest";
import { circuitOpenUntil, type FailMode, fallbackAnswer } from "../../src/limiter/failure-policy";
import { policyForTier, type TenantPolicy } from "../../src/tiers";

/** 300/s, burst 1,200. */
const starter = policyForTier("starter") as TenantPolicy;

describe("fallbackAnswer", () => {
	it.each<[FailMode, { tokens: number; updatedAt: number } | null, number, object]>([
		["open", null, 1, { allowed: true, remaining: 0 }],
		["open", { tokens: 0, updatedAt: 0 }, 1, { allowed: true, remaining: 0 }],
		// closed: refused until the circuit's probe, 400 ms after now.
		["closed", null, 1, { allowed: false, retryAfterMs: 400 }],
		// local: the first fallback starts from a full bucket.
		["local", null, 1, { allowed: true, remaining: 1_199 }],
		["local", { tokens: 0.5, updatedAt: 1_000 }, 1, { allowed: false, retryAfterMs: 2 }],
		// 1 s of refill at 300/s since the bucket was last used.
		["local", { tokens: 0, updatedAt: 0 }, 300, { allowed: true, remaining: 0 }],
		["local", { tokens: 0, updatedAt: 0 }, 301, { allowed: false, retryAfterMs: 4 }],
	])("%s with bucket %o, cost %d → %o", (mode, bucket, cost, expected) => {
		const { answer } = fallbackAnswer(mode, starter, bucket, cost, 1_000, 1_400);
		expect(answer).toEqual(expected);
	});

	it("local mode hands back the bucket it spent from; the other modes keep theirs", () => {
		const first = fallbackAnswer("local", starter, null, 200, 1_000, 2_000);
		expect(first.bucket).toEqual({ tokens: 1_000, updatedAt: 1_000 });
		const second = fallbackAnswer("local", starter, first.bucket, 1_000, 1_000, 2_000);
		expect(second.answer).toEqual({ allowed: true, remaining: 0 });
		expect(fallbackAnswer("local", starter, second.bucket, 1, 1_000, 2_000).answer.allowed).toBe(false);
		expect(fallbackAnswer("open", starter, null, 1, 1_000, 2_000).bucket).toBeNull();
	});
});

describe("circuitOpenUntil", () => {
	it.each([
		[new Error("boom"), 2_000],
		[Object.assign(new Error("busy"), { overloaded: true }), 3_000],
		[Object.assign(new Error("not overloaded"), { overloaded: false }), 2_000],
		[null, 2_000],
		["a string", 2_000],
	])("after %o the circuit stays open until %d", (error, until) => {
		expect(circuitOpenUntil(error, 1_000, 1_000)).toBe(until);
	});
});
