import { parseDictionary, parseItem, parseList } from "structured-headers";
import { describe, expect, it } from "vitest";
import { rateLimitHeaders, resetSeconds, retryAfterSeconds, windowSeconds } from "../../src/http/headers";

const starter = { name: "starter", rate: 300, burst: 1200 };
const pool = { name: "surge_pool", rate: 50_000, burst: 50_000 };

describe("rateLimitHeaders", () => {
	it("matches the draft's syntax for an admitted request", () => {
		const headers = rateLimitHeaders([starter], { policy: starter, remaining: 917, resetS: 1 });
		expect(headers).toEqual({
			"RateLimit-Policy": '"starter";q=1200;w=4',
			RateLimit: '"starter";r=917;t=1',
			"X-RateLimit-Limit": "1200",
			"X-RateLimit-Remaining": "917",
			"X-RateLimit-Reset": "1",
		});
	});

	it("parses as RFC 9651 structured fields, with the violated policy named", () => {
		const headers = rateLimitHeaders([starter, pool], { policy: pool, remaining: 0, resetS: 2 }, 2);
		const policies = parseList(headers["RateLimit-Policy"] ?? "");
		expect(policies.map(([name, params]) => [name, params.get("q"), params.get("w")])).toEqual([
			["starter", 1200, 4],
			["surge_pool", 50000, 1],
		]);
		const [name, params] = parseItem(headers.RateLimit ?? "");
		expect([name, params.get("r"), params.get("t")]).toEqual(["surge_pool", 0, 2]);
		expect(headers["Retry-After"]).toBe("2");
		// Not a dictionary: the name is an sf-string, as the draft requires.
		expect(() => parseDictionary(headers.RateLimit ?? "")).toThrow();
	});

	it("quotes odd policy names safely", () => {
		const headers = rateLimitHeaders([{ name: 'a"b\\c\u0001', rate: 1, burst: 1 }], {
			policy: { name: 'a"b\\c\u0001', rate: 1, burst: 1 },
			remaining: 1,
			resetS: 0,
		});
		expect(parseItem(headers.RateLimit ?? "")[0]).toBe('a"b\\c');
	});
});

describe("windowSeconds / resetSeconds / retryAfterSeconds", () => {
	it.each([
		{ policy: starter, w: 4 },
		{ policy: { name: "anonymous", rate: 10, burst: 20 }, w: 2 },
		{ policy: { name: "odd", rate: 7, burst: 10 }, w: 1 },
	])("$policy.name is advertised over $w s", ({ policy, w }) => {
		expect(windowSeconds(policy)).toBe(w);
	});

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
});
