import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { parsePoolPolicy, parsePoolShards } from "../../src/config/settings";
import { LEASE_GRACE_MS, type LeaseRequest, POOL_LEASE_TTL_MS } from "../../src/limiter/lease";
import { levelBin } from "../../src/limiter/pool-level";
import type { ShardReport } from "../../src/limiter/pool-root";
import { BURST_POOL_TIER, ROOT_NAME, shardName } from "../../src/limiter/pool-shards";
import type { BurstPool } from "../../src/objects/burst-pool";
import type { TenantPolicy } from "../../src/tiers";
import { useFrozenClock } from "../support/clock";

const T0 = 2_050_000_000_000;
/** The pool as deployed (POOL_RATE, POOL_BURST) and how many shards share it (POOL_SHARDS). */
const pool = parsePoolPolicy(env);
const shards = parsePoolShards(env);
/** One shard's part of a pool. */
const part = (whole: { rate: number; burst: number }) => ({ rate: whole.rate / shards, burst: whole.burst / shards });

/** What an isolate believes of its shard before the first reply: the deployed pool's part, version 0. */
const believed: TenantPolicy = { tier: BURST_POOL_TIER, ...part(pool), weight: 1, version: 0, tiersVersion: 0 };

let calls = 0;

/** A pool lease call of isolate `isolate`, ending its `previous` lease if given. */
function request(shard: string, isolate: string, want: number, extra: Partial<LeaseRequest> = {}): LeaseRequest {
	calls += 1;
	return {
		key: shard,
		isolate,
		lease: `${isolate}:${calls}`,
		policy: believed,
		min: 1,
		want,
		returned: 0,
		admitted: 0,
		denied: 0,
		...extra,
	};
}

useFrozenClock(T0);

describe("BurstPool shard", () => {
	it("holds its part of the deployed pool", async () => {
		const state = await env.BURST_POOL.getByName(shardName(0)).state();
		expect(state).toMatchObject({ key: BURST_POOL_TIER, policy: { tier: BURST_POOL_TIER, ...part(pool) } });
		expect(state.tokens).toBe(Math.floor(part(pool).burst));
		expect(state.leasedOut).toBe(0);
	});

	it("its parts add up to the pool", async () => {
		const states = await Promise.all(
			Array.from({ length: shards }, (_, i) => env.BURST_POOL.getByName(shardName(i)).state()),
		);
		expect(states.reduce((sum, state) => sum + state.policy.rate, 0)).toBeCloseTo(pool.rate);
		expect(states.reduce((sum, state) => sum + state.policy.burst, 0)).toBeCloseTo(pool.burst);
	});

	it("leases to isolates like a tenant's bucket: debited, counted out until lifetime and grace are over, then refilled", async () => {
		const name = shardName(1);
		const stub = env.BURST_POOL.getByName(name);
		const { burst, rate } = part(pool);
		const first = await stub.lease(request(name, "a", burst - 100, { admitted: 3 }));
		expect(first).toMatchObject({ granted: burst - 100, remaining: 100, ttlMs: POOL_LEASE_TTL_MS, retryAfterMs: 0 });
		// The shard's policy comes back to the isolate, newer than the one it started from.
		expect(first.policy).toMatchObject({ tier: BURST_POOL_TIER, burst, rate });
		expect(first.policy.version).toBeGreaterThan(believed.version);
		expect((await stub.lease(request(name, "b", 1_000))).granted).toBe(100);
		const denied = await stub.lease(request(name, "c", 10));
		expect(denied.granted).toBe(0);
		expect(denied.retryAfterMs).toBeGreaterThan(0);
		expect(await stub.state()).toMatchObject({ tokens: 0, leasedOut: burst, leases: 2, leaseDenials: 1, admitted: 3 });
		// Still counted at the last instant of the grace: the shard does not refill on top of what isolates may spend…
		vi.setSystemTime(T0 + POOL_LEASE_TTL_MS + LEASE_GRACE_MS - 1);
		expect(await stub.state()).toMatchObject({ tokens: 0, leasedOut: burst });
		// …and then no longer.
		const over = POOL_LEASE_TTL_MS + LEASE_GRACE_MS;
		vi.setSystemTime(T0 + over);
		expect(await stub.state()).toMatchObject({
			tokens: Math.floor(Math.min(burst, (rate * over) / 1000)),
			leasedOut: 0,
		});
	});

	it("takes back an isolate's unspent tokens when it renews its lease", async () => {
		const name = shardName(2);
		const stub = env.BURST_POOL.getByName(name);
		const { burst } = part(pool);
		const first = request(name, "a", 500);
		await stub.lease(first);
		const renewed = await stub.lease(request(name, "a", 100, { previous: first.lease, returned: 200 }));
		// 300 of the 500 were spent; 200 came back; 100 are out under the new lease.
		expect(renewed).toMatchObject({ granted: 100, remaining: burst - 300 - 100 });
		expect(await stub.state()).toMatchObject({ leasedOut: 100, tokens: burst - 400 });
	});

	it("configure sets the whole pool, each shard taking its part, until configure(null) brings back the deployed one", async () => {
		const name = shardName(3);
		const stub = env.BURST_POOL.getByName(name);
		const whole = { rate: 800 * shards, burst: 1_600 * shards };
		const configured = await stub.configure(whole);
		expect(configured.policy).toMatchObject({ tier: BURST_POOL_TIER, rate: 800, burst: 1_600 });
		// A lower burst is in force at once.
		expect(configured.tokens).toBe(1_600);
		// The operator's pool outlives the object, and wins over the deployed vars when it comes back.
		await evictDurableObject(stub);
		expect((await stub.state()).policy).toMatchObject({ rate: 800, burst: 1_600 });
		expect(await runInDurableObject(stub, (_: BurstPool, state) => state.storage.kv.get("configured"))).toEqual(whole);
		// An isolate that still believes in the deployed pool changes nothing.
		expect(await stub.lease(request(name, "a", 100_000))).toMatchObject({
			granted: 1_600,
			policy: { rate: 800, burst: 1_600 },
		});
		expect((await stub.configure(null)).policy).toMatchObject(part(pool));
		await evictDurableObject(stub);
		expect((await stub.state()).policy).toMatchObject(part(pool));
		expect(await runInDurableObject(stub, (_: BurstPool, state) => state.storage.kv.get("configured"))).toBeUndefined();
	});
});

describe("BurstPool root", () => {
	const even = part(pool).rate;
	/** Shards' reports carry their policy's version: the root answers only the newest pool's. */
	let version = 0;
	/** A shard's report: running at `rate`, its isolates offering `demand`/s at 100/s per tenant of weight 1. */
	const report = (shard: number, rate: number, demand: number): ShardReport => ({
		shard,
		rate,
		even,
		version,
		demand: demand > 0 ? [levelBin(100, 1), demand] : [],
		refused: 0,
		wasted: 0,
	});

	// How rates move between several shards is the pure PoolRoot's (test/unit/pool-root.test.ts); here, the object.
	it("answers a contended world with one level and the shard's rate, and keeps its bounds across eviction", async () => {
		const root = env.BURST_POOL.getByName(ROOT_NAME);
		version = (await env.BURST_POOL.getByName(shardName(0)).state()).policy.version;
		// Twice the pool offered, by tenants at 100/s each: the level halves what each passes.
		const answer = await root.report(report(0, even, 2 * pool.rate));
		expect(answer.level).toBeGreaterThan(48);
		expect(answer.level).toBeLessThan(52);
		expect(answer.rate).toBeLessThanOrEqual(pool.rate);
		await evictDurableObject(root);
		const saved = await runInDurableObject(root, (_: BurstPool, state) => state.storage.kv.get("root"));
		expect(saved).toMatchObject({ rate: pool.rate, shards, version });
		// A shard of an older pool than the root's gets no new rate: it keeps the one it reported.
		expect(await root.report({ ...report(0, 123, 2 * pool.rate), version: version - 1 })).toEqual({ rate: 123 });
	});

	it("hears from a shard as soon as isolates lease from it", async () => {
		const root = env.BURST_POOL.getByName(ROOT_NAME);
		await env.BURST_POOL.getByName(shardName(2)).lease(request(shardName(2), "a", 10));
		await vi.waitFor(async () => {
			const saved = await runInDurableObject(root, (_: BurstPool, state) => state.storage.kv.get("root"));
			expect(saved).toMatchObject({ rate: pool.rate, shards });
		});
	});
});
