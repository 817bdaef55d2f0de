import fc from "fast-check";
import { parseRateLimit } from "ratelimit-header-parser";
import { parseDictionary, parseItem, parseList } from "structured-headers";
import { describe, expect, it } from "vitest";
import {
	type AdvertisedPolicy,
	DEFAULT_HEADER_FLAVOURS,
	decisionHeaders,
	type HeaderFlavours,
	quotaWindow,
	rateLimitHeaders,
	resetSeconds,
	retryAfter,
	retryAfterSeconds,
} from "../../src/http/headers";
import type { Decision } from "../../src/limiter/local";
import { policyForTier, type TenantPolicy } from "../../src/tiers";

const starter = { name: "starter", rate: 300, burst: 1200 };
const pool = { name: "burst_pool", rate: 50_000, burst: 50_000 };

const DRAFT10: HeaderFlavours = { draft10: true, draft7: false, legacy: false };
const DRAFT7: HeaderFlavours = { draft10: false, draft7: true, legacy: false };
const LEGACY: HeaderFlavours = { draft10: false, draft7: false, legacy: true };
const both = (flavours: HeaderFlavours): HeaderFlavours => ({ ...flavours, legacy: true });

describe("rateLimitHeaders", () => {
	const admitted = { policy: starter, remaining: 917, resetS: 1 };
	const DRAFT10_FIELDS = { "RateLimit-Policy": '"starter";q=1200;w=4', RateLimit: '"starter";r=917;t=1' };
	const DRAFT7_FIELDS = { "RateLimit-Policy": "1200;w=4", RateLimit: "limit=1200, remaining=917, reset=1" };
	const LEGACY_FIELDS = { "X-RateLimit-Limit": "1200", "X-RateLimit-Remaining": "917", "X-RateLimit-Reset": "1" };

	it.each([
		{ name: "draft10", flavours: DRAFT10, expected: DRAFT10_FIELDS },
		{ name: "draft7", flavours: DRAFT7, expected: DRAFT7_FIELDS },
		{ name: "legacy", flavours: LEGACY, expected: LEGACY_FIELDS },
		{ name: "draft10,legacy", flavours: both(DRAFT10), expected: { ...DRAFT10_FIELDS, ...LEGACY_FIELDS } },
		{ name: "draft7,legacy", flavours: both(DRAFT7), expected: { ...DRAFT7_FIELDS, ...LEGACY_FIELDS } },
	])("$name: the flavour's syntax for an admitted request, nothing else", ({ flavours, expected }) => {
		expect(rateLimitHeaders(flavours, [starter], admitted)).toEqual(expected);
	});

	it("the default is draft7,legacy", () => {
		expect(DEFAULT_HEADER_FLAVOURS).toEqual(both(DRAFT7));
	});

	it.each([DRAFT10, DRAFT7, LEGACY])("Retry-After on a denial whatever the flavour (%j)", (flavours) => {
		const headers = rateLimitHeaders(flavours, [starter], { policy: starter, remaining: 0, resetS: 3 }, 3);
		expect(headers["Retry-After"]).toBe("3");
	});

	it("draft10 parses as RFC 9651 structured fields, with the violated policy named", () => {
		const headers = rateLimitHeaders(DRAFT10, [starter, pool], { policy: pool, remaining: 0, resetS: 2 }, 2);
		const policies = parseList(headers["RateLimit-Policy"] ?? "");
		expect(policies.map(([name, params]) => [name, params.get("q"), params.get("w")])).toEqual([
			["starter", 1200, 4],
			["burst_pool", 50000, 1],
		]);
		const [name, params] = parseItem(headers.RateLimit ?? "");
		expect([name, params.get("r"), params.get("t")]).toEqual(["burst_pool", 0, 2]);
		// Not a dictionary: the name is an sf-string, as the draft requires.
		expect(() => parseDictionary(headers.RateLimit ?? "")).toThrow();
	});

	it("draft7 is a dictionary with a policy list, about the violated policy", () => {
		const headers = rateLimitHeaders(DRAFT7, [starter, pool], { policy: pool, remaining: 0, resetS: 2 }, 2);
		const limit = parseDictionary(headers.RateLimit ?? "");
		expect(Object.fromEntries([...limit].map(([key, [value]]) => [key, value]))).toEqual({
			limit: 50000,
			remaining: 0,
			reset: 2,
		});
		expect(parseList(headers["RateLimit-Policy"] ?? "").map(([q, params]) => [q, params.get("w")])).toEqual([
			[1200, 4],
			[50000, 1],
		]);
		// Not a draft-10 list, which draft-10 clients must then ignore rather than misread.
		expect(() => parseList(headers.RateLimit ?? "")).toThrow();
	});

	it("draft7 lists a quota once: a pool with the tier's quota is not listed twice", () => {
		const twin = { name: "burst_pool", rate: 300, burst: 1200 };
		const headers = rateLimitHeaders(DRAFT7, [starter, twin], { policy: twin, remaining: 0, resetS: 1 }, 1);
		expect(headers["RateLimit-Policy"]).toBe("1200;w=4");
	});

	it.each([
		{ flavours: DRAFT7, remaining: 917, resetS: 1 },
		{ flavours: LEGACY, remaining: 917, resetS: 1 },
		{ flavours: both(DRAFT7), remaining: 0, resetS: 3 },
	])("ratelimit-header-parser reads $flavours", ({ flavours, remaining, resetS }) => {
		const before = Date.now();
		const headers = new Headers(rateLimitHeaders(flavours, [starter], { policy: starter, remaining, resetS }));
		const parsed = parseRateLimit(headers);
		expect(parsed).toMatchObject({ limit: 1200, used: 1200 - remaining, remaining });
		const reset = parsed?.reset?.getTime() ?? Number.NaN;
		expect(reset).toBeGreaterThanOrEqual(before + resetS * 1000);
		expect(reset).toBeLessThanOrEqual(Date.now() + resetS * 1000);
	});

	it("quotes odd policy names safely", () => {
		const odd = { name: 'a"b\\c\u0001', rate: 1, burst: 1 };
		const headers = rateLimitHeaders(DRAFT10, [odd], { policy: odd, remaining: 1, resetS: 0 });
		expect(parseItem(headers.RateLimit ?? "")[0]).toBe('a"b\\c');
	});
});

describe("quotaWindow", () => {
	it.each([
		{ rate: 300, burst: 1200, q: 1200, w: 4, why: "starter: burst / rate is whole, q is the burst" },
		{ rate: 360, burst: 1440, q: 1440, w: 4, why: "growth" },
		{ rate: 10, burst: 20, q: 20, w: 2, why: "anonymous" },
		{ rate: 50_000, burst: 50_000, q: 50_000, w: 1, why: "the burst pool" },
		{ rate: 1, burst: 50, q: 50, w: 50, why: "a slow pool" },
		{ rate: 1000, burst: 100, q: 1000, w: 1, why: "regression: was q=100;w=1, 100/s" },
		{ rate: 500, burst: 900, q: 1000, w: 2, why: "regression: was q=900;w=2, 450/s" },
		{ rate: 7, burst: 10, q: 7, w: 1, why: "was q=10;w=1, 10/s" },
		{ rate: 0.5, burst: 1, q: 1, w: 2, why: "a fractional pool rate" },
		{ rate: 1.5, burst: 1, q: 51, w: 34, why: "a window long enough for a whole q: 1.5/s" },
	])("$rate/s, burst $burst → q=$q;w=$w ($why)", ({ rate, burst, q, w }) => {
		expect(quotaWindow({ name: "t", rate, burst })).toEqual({ q, w });
	});

	const within1Percent = (policy: AdvertisedPolicy) => {
		const { q, w } = quotaWindow(policy);
		expect(Number.isInteger(q) && Number.isInteger(w) && w >= 1).toBe(true);
		expect(Math.abs(q / w - policy.rate)).toBeLessThanOrEqual(0.01 * policy.rate);
	};

	it("states the sustained rate within 1 % for any whole rate and burst from 1 to 1,000,000", () => {
		const limit = fc.integer({ min: 1, max: 1_000_000 });
		fc.assert(
			fc.property(limit, limit, (rate, burst) => {
				within1Percent({ name: "t", rate, burst });
				// Where the burst is a whole number of seconds' refill, q stays the burst.
				if (burst % rate === 0) expect(quotaWindow({ name: "t", rate, burst }).q).toBe(burst);
			}),
			{ numRuns: 2_000 },
		);
	});

	it("and within 1 % for fractional rates (POOL_RATE may be one)", () => {
		const rate = fc.double({ min: 0.001, max: 1_000_000, noNaN: true });
		const burst = fc.integer({ min: 1, max: 1_000_000 });
		fc.assert(
			fc.property(rate, burst, (r, b) => within1Percent({ name: "t", rate: r, burst: b })),
			{
				numRuns: 2_000,
			},
		);
	});
});

describe("resetSeconds / retryAfterSeconds / retryAfter", () => {
	it.each([
		{ remaining: 1200, needed: 1, t: 0 },
		{ remaining: 917, needed: 1, t: 1 },
		{ remaining: 0, needed: 600, t: 2 },
	])("t=$t with $remaining left needing $needed", ({ remaining, needed, t }) => {
		expect(resetSeconds(starter, remaining, needed)).toBe(t);
	});

	it.each([
		{ ms: 3, t: 1, s: 1 },
		{ ms: 1001, t: 1, s: 2 },
		{ ms: 100, t: 3, s: 3 },
		{ ms: Number.POSITIVE_INFINITY, t: 4, s: 4 },
	])("Retry-After for $ms ms with t=$t is $s", ({ ms, t, s }) => {
		expect(retryAfterSeconds(ms, t)).toBe(s);
	});

	it("retryAfter is the header alone", () => {
		expect(retryAfter(2)).toEqual({ "Retry-After": "2" });
	});
});

describe("decisionHeaders", () => {
	const policy = policyForTier("starter") as TenantPolicy;
	const settings = { rateLimitHeaders: both(DRAFT10), pool: { rate: 50_000, burst: 50_000 } };

	it.each<{ name: string; decision: Decision; expected: Record<string, string>; retryAfterS?: number }>([
		{
			name: "admitted",
			decision: { allowed: true, policy, remaining: 1199 },
			expected: { RateLimit: '"starter";r=1199;t=1', "X-RateLimit-Remaining": "1199" },
		},
		{
			name: "admitted by the open failure policy, marked",
			decision: { allowed: true, policy, remaining: 5, fallback: "open" },
			expected: { RateLimit: '"starter";r=5;t=1', "X-RateLimit-Fallback": "open" },
		},
		{
			name: "denied by the tenant's bucket",
			decision: { allowed: false, policy, remaining: 0, reason: "tenant_rate", retryAfterMs: 1500 },
			expected: { "RateLimit-Policy": '"starter";q=1200;w=4', RateLimit: '"starter";r=0;t=2', "Retry-After": "2" },
			retryAfterS: 2,
		},
		{
			name: "denied by the burst pool, which the decision carries",
			decision: {
				allowed: false,
				policy,
				remaining: 0,
				reason: "burst_pool",
				retryAfterMs: 20,
				pool: { rate: 1, burst: 50 },
			},
			expected: {
				"RateLimit-Policy": '"starter";q=1200;w=4, "burst_pool";q=50;w=50',
				RateLimit: '"burst_pool";r=0;t=1',
				"X-RateLimit-Limit": "50",
				"Retry-After": "1",
			},
			retryAfterS: 1,
		},
		{
			name: "denied by the burst pool, from the settings",
			decision: { allowed: false, policy, remaining: 0, reason: "burst_pool", retryAfterMs: 20 },
			expected: { "RateLimit-Policy": '"starter";q=1200;w=4, "burst_pool";q=50000;w=1' },
			retryAfterS: 1,
		},
	])("$name", ({ decision, expected, retryAfterS }) => {
		const answer = decisionHeaders(decision, settings);
		expect(answer.headers).toMatchObject(expected);
		expect(answer.retryAfterS).toBe(retryAfterS);
		if (!decision.fallback) expect(answer.headers["X-RateLimit-Fallback"]).toBeUndefined();
	});
});
