import { describe, expect, it } from "vitest";
import { parsePoolShards, parseSettings, SettingsError } from "../../src/config/settings";
import { POOL_LEASE_MIN_BATCH, poolLeaseSize } from "../../src/limiter/lease";
import { BURST_POOL_TIER, DEFAULT_POOL_SHARDS, shardName, shardOf, shardPolicy } from "../../src/limiter/pool-shards";
import { DEFAULT_BURST_POOL } from "../../src/tiers";

describe("shardName", () => {
	it.each([
		{ index: 0, name: "shard-0" },
		{ index: 3, name: "shard-3" },
		{ index: 7, name: "shard-7" },
		{ index: 255, name: "shard-255" },
	])("$index → $name", ({ index, name }) => {
		expect(shardName(index)).toBe(name);
	});

	it("names every shard differently", () => {
		const names = Array.from({ length: 256 }, (_, i) => shardName(i));
		expect(new Set(names).size).toBe(256);
	});
});

describe("shardOf", () => {
	it.each([
		{ id: "isolate-a", shards: 1, shard: 0 },
		{ id: "", shards: 1, shard: 0 },
		{ id: "", shards: 8, shard: 0x811c9dc5 % 8 },
		{ id: "a", shards: 2, shard: 0 },
		{ id: "b", shards: 2, shard: 1 },
	])("$id over $shards → $shard", ({ id, shards, shard }) => {
		expect(shardOf(id, shards)).toBe(shard);
	});

	it.each([1, 2, 3, 8, 16, 255, 256])("always a whole shard index of %i, the same for the same id", (shards) => {
		for (let i = 0; i < 200; i++) {
			const id = crypto.randomUUID();
			const shard = shardOf(id, shards);
			expect(Number.isInteger(shard)).toBe(true);
			expect(shard).toBeGreaterThanOrEqual(0);
			expect(shard).toBeLessThan(shards);
			expect(shardOf(id, shards)).toBe(shard);
		}
	});

	it("spreads 10,000 random isolate ids over 8 shards within 15 % of even", () => {
		const shards = 8;
		const ids = 10_000;
		const counts = new Array<number>(shards).fill(0);
		for (let i = 0; i < ids; i++) {
			const shard = shardOf(crypto.randomUUID(), shards);
			counts[shard] = (counts[shard] ?? 0) + 1;
		}
		const even = ids / shards;
		for (const count of counts) {
			expect(count).toBeGreaterThanOrEqual(even * 0.85);
			expect(count).toBeLessThanOrEqual(even * 1.15);
		}
	});
});

describe("shardPolicy", () => {
	it.each([
		{ pool: DEFAULT_BURST_POOL, shards: 8, version: 0, rate: 6_250, burst: 6_250 },
		{ pool: DEFAULT_BURST_POOL, shards: 1, version: 5, rate: 50_000, burst: 50_000 },
		{ pool: { rate: 8, burst: 400 }, shards: 8, version: 9, rate: 1, burst: 50 },
		{ pool: { rate: 1, burst: 10 }, shards: 4, version: 0, rate: 0.25, burst: 2.5 },
		{ pool: { rate: 40_000, burst: 45_000 }, shards: 3, version: 1, rate: 40_000 / 3, burst: 15_000 },
	])("$pool over $shards shards → rate $rate, burst $burst", ({ pool, shards, version, rate, burst }) => {
		expect(shardPolicy(pool, shards, version)).toEqual({
			tier: BURST_POOL_TIER,
			rate,
			burst,
			weight: 1,
			version,
			tiersVersion: version,
		});
	});

	it.each([1, 3, 8, 256])("%i shards together hold the pool, no more", (shards) => {
		const pool = { rate: 12_345, burst: 67_890 };
		const part = shardPolicy(pool, shards, 0);
		expect(part.rate * shards).toBeCloseTo(pool.rate, 6);
		expect(part.burst * shards).toBeCloseTo(pool.burst, 6);
	});
});

describe("poolLeaseSize", () => {
	it.each([
		// About 500 ms of the isolate's traffic…
		{ rate: 1_000, burst: 6_250, min: 1, waiting: 0, size: 500 },
		{ rate: 100, burst: 6_250, min: 1, waiting: 0, size: 50 },
		{ rate: 33, burst: 6_250, min: 1, waiting: 0, size: 17 },
		// …at least a batch of 8, even for a quiet or new isolate…
		{ rate: 0, burst: 6_250, min: 1, waiting: 0, size: POOL_LEASE_MIN_BATCH },
		{ rate: 2, burst: 6_250, min: 1, waiting: 0, size: POOL_LEASE_MIN_BATCH },
		// …or what is waiting…
		{ rate: 0, burst: 6_250, min: 1, waiting: 300, size: 300 },
		{ rate: 1_000, burst: 6_250, min: 1, waiting: 600, size: 600 },
		// …at most a tenth of the shard's burst…
		{ rate: 100_000, burst: 6_250, min: 1, waiting: 0, size: 625 },
		{ rate: 1_000, burst: 6_250, min: 1, waiting: 900, size: 625 },
		{ rate: 0, burst: 50, min: 1, waiting: 0, size: 5 },
		{ rate: 0, burst: 5, min: 1, waiting: 0, size: 1 },
		// …but never less than the request that waits.
		{ rate: 0, burst: 6_250, min: 700, waiting: 0, size: 700 },
		{ rate: 0, burst: 5, min: 3, waiting: 3, size: 3 },
	])("$rate/s, shard burst $burst, min $min, waiting $waiting → $size", ({ rate, burst, min, waiting, size }) => {
		expect(poolLeaseSize(rate, burst, min, waiting)).toBe(size);
	});
});

describe("POOL_SHARDS", () => {
	it.each([
		{ raw: undefined, shards: DEFAULT_POOL_SHARDS },
		{ raw: "", shards: DEFAULT_POOL_SHARDS },
		{ raw: "1", shards: 1 },
		{ raw: "8", shards: 8 },
		{ raw: "16", shards: 16 },
		{ raw: "256", shards: 256 },
	])("$raw → $shards", ({ raw, shards }) => {
		expect(parsePoolShards(raw === undefined ? {} : { POOL_SHARDS: raw })).toBe(shards);
	});

	it("defaults to 8", () => {
		expect(DEFAULT_POOL_SHARDS).toBe(8);
	});

	it.each(["0", "257", "x", "1.5", "-1", "1e3", " "])("%j is refused with a SettingsError naming it", (raw) => {
		expect(() => parsePoolShards({ POOL_SHARDS: raw })).toThrow(SettingsError);
		expect(() => parsePoolShards({ POOL_SHARDS: raw })).toThrow(/^POOL_SHARDS must be an integer from 1 to 256/);
	});

	it("reaches the settings", () => {
		const origin = { ORIGIN_URL: "https://origin.example" };
		expect(parseSettings(origin).poolShards).toBe(DEFAULT_POOL_SHARDS);
		expect(parseSettings({ ...origin, POOL_SHARDS: "32" }).poolShards).toBe(32);
		expect(() => parseSettings({ ...origin, POOL_SHARDS: "0" })).toThrow(/^POOL_SHARDS/);
	});
});
