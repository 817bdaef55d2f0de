import { describe, expect, it } from "vitest";
import { BUILTIN_TIERS, isTierName, parseTenantConfig, parseTierTable, policyForConfig } from "../../src/tiers";

describe("tiers", () => {
	it("match the design: starter 300/1200, growth 360/1440, scale 600/2400, weights 1 / 1.2 / 2", () => {
		expect(BUILTIN_TIERS).toMatchObject({
			starter: { rate: 300, burst: 1200, weight: 1 },
			growth: { rate: 360, burst: 1440, weight: 1.2 },
			scale: { rate: 600, burst: 2400, weight: 2 },
			anonymous: { rate: 10, burst: 20 },
		});
	});
});

describe("parseTenantConfig", () => {
	it.each([
		{ raw: '{"tier":"growth"}', result: { tier: "growth", version: 0 } },
		{ raw: '{"tier":"scale","version":7}', result: { tier: "scale", version: 7 } },
		{
			raw: '{"tier":"starter","rate":500,"burst":900}',
			result: { tier: "starter", version: 0, rate: 500, burst: 900 },
		},
	])("accepts $raw", ({ raw, result }) => {
		expect(parseTenantConfig(raw)).toEqual(result);
	});

	it.each([
		["{not json", /not JSON/],
		["[]", /not an object/],
		['{"tier":"gold"}', /unknown tier/],
		['{"tier":"toString"}', /unknown tier/],
		['{"tier":"starter","version":-1}', /version/],
		['{"tier":"starter","rate":-1}', /rate/],
		['{"tier":"starter","rate":1.5}', /rate/],
		['{"tier":"starter","burst":1000001}', /burst/],
		['{"tier":"starter","rate":"9"}', /rate/],
	])("rejects %s", (raw, message) => {
		const result = parseTenantConfig(raw);
		expect(result).toBeInstanceOf(Error);
		expect((result as Error).message).toMatch(message);
	});

	it("overrides apply on top of the tier, versioned by when they were read, not by the entry's own version", () => {
		expect(policyForConfig({ tier: "growth", rate: 500, version: 9_007_199_254_740_991 }, BUILTIN_TIERS, 3)).toEqual({
			tier: "growth",
			rate: 500,
			burst: 1440,
			weight: 1.2,
			version: 3,
			tiersVersion: 3,
		});
	});
});

describe("tier names", () => {
	it.each(["gold", "a", "tier_2-b", "x".repeat(32), "valueof"])("%s is a tier name", (name) => {
		expect(isTierName(name)).toBe(true);
	});

	it.each(["__proto__", "constructor", "Gold", "", "x".repeat(33), "a.b", "a b"])("%j is not", (name) => {
		expect(isTierName(name)).toBe(false);
	});

	it("a stored table cannot define __proto__ or constructor", () => {
		const gold = { rate: 5, burst: 10, weight: 1 };
		const table = parseTierTable(JSON.stringify({ __proto__: gold, constructor: gold, gold })) as Record<
			string,
			unknown
		>;
		expect(Object.getPrototypeOf(table)).toBe(Object.prototype);
		expect(Object.hasOwn(table, "__proto__")).toBe(false);
		expect(Object.hasOwn(table, "constructor")).toBe(false);
		expect(table.gold).toEqual(gold);
	});
});
