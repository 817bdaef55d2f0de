import { describe, expect, it, vi } from "vitest";
import { FakeClock } from "../../sim/cluster";
import { FORGET_AFTER_EXPIRY_MS, TenantConfigCache } from "../../src/config/tenant-config";

/** A KV reader whose answers the test releases by hand. */
function manualKv(values: Record<string, string>) {
	const waiting: (() => void)[] = [];
	let reads = 0;
	return {
		values,
		get reads() {
			return reads;
		},
		get: (key: string) => {
			reads += 1;
			return new Promise<string | null>((resolve) => waiting.push(() => resolve(values[key] ?? null)));
		},
		release: async () => {
			for (const answer of waiting.splice(0)) answer();
			for (let i = 0; i < 10; i++) await Promise.resolve();
		},
	};
}

/** A cache that has loaded tenant t as growth, whose KV entry now says scale. */
async function seenAsGrowth() {
	const clock = new FakeClock();
	const cache = new TenantConfigCache({ now: clock.now });
	const kv = manualKv({ "tenant:t": JSON.stringify({ tier: "growth" }) });
	const first = cache.policyFor(kv, "t", "starter", 30_000);
	// Two reads, each released: the tier table, then the tenant.
	await kv.release();
	await kv.release();
	expect(await first).toMatchObject({ tier: "growth" });
	kv.values["tenant:t"] = JSON.stringify({ tier: "scale" });
	return { clock, cache, kv };
}

describe("tenant config cache", () => {
	it("a tenant seen before is served its cached policy while KV is read again in the background", async () => {
		const { clock, cache, kv } = await seenAsGrowth();
		clock.advance(31_000);
		const deferred: Promise<unknown>[] = [];
		// Answered without waiting for KV, which has not answered yet.
		expect(
			await cache.policyFor(kv, "t", "starter", 30_000, { waitUntil: (work) => deferred.push(work) }),
		).toMatchObject({
			tier: "growth",
		});
		// The tier table and the tenant's entry, both expired, are read again.
		expect(deferred).toHaveLength(2);
		await kv.release();
		await kv.release();
		await Promise.all(deferred);
		expect(await cache.policyFor(kv, "t", "starter", 30_000)).toMatchObject({ tier: "scale" });
	});

	it("a tenant not seen for longer than the forget window waits for KV", async () => {
		const { clock, cache, kv } = await seenAsGrowth();
		clock.advance(30_000 + FORGET_AFTER_EXPIRY_MS + 1);
		const later = cache.policyFor(kv, "t", "starter", 30_000);
		await kv.release();
		await kv.release();
		expect(await later).toMatchObject({ tier: "scale" });
	});

	it("a malformed KV entry keeps the last good policy and is logged once, not per refresh", async () => {
		const clock = new FakeClock();
		const cache = new TenantConfigCache({ now: clock.now });
		let raw = JSON.stringify({ tier: "growth", version: 1 });
		const kv = { get: async (key: string) => (key === "tenant:t" ? raw : null) };
		const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
		try {
			expect(await cache.policyFor(kv, "t", "starter", 30_000)).toMatchObject({ tier: "growth" });
			raw = '{"tier": 7';
			for (let i = 0; i < 3; i++) {
				clock.advance(31_000);
				expect(await cache.policyFor(kv, "t", "starter", 30_000)).toMatchObject({ tier: "growth" });
			}
			expect(warn).toHaveBeenCalledTimes(1);
			expect(String(warn.mock.calls[0]?.[0])).toContain("tenant:t");
		} finally {
			warn.mockRestore();
		}
	});

	it("anonymous clients get the tier table's anonymous tier, overridden like any other", async () => {
		const clock = new FakeClock();
		const cache = new TenantConfigCache({ now: clock.now });
		let tiers: string | null = null;
		const kv = { get: async (key: string) => (key === "tiers" ? tiers : null) };
		expect(await cache.anonymousPolicy(kv, 30_000)).toMatchObject({ tier: "anonymous", rate: 10, burst: 20 });
		tiers = JSON.stringify({ anonymous: { rate: 1, burst: 2, weight: 0.5 } });
		clock.advance(31_000);
		const deferred: Promise<unknown>[] = [];
		cache.anonymousPolicy(kv, 30_000, { waitUntil: (work) => deferred.push(work) });
		await Promise.all(deferred);
		const policy = await cache.anonymousPolicy(kv, 30_000);
		expect(policy).toMatchObject({ tier: "anonymous", rate: 1, burst: 2 });
		// One object per read of the table, not one per request.
		expect(await cache.anonymousPolicy(kv, 30_000)).toBe(policy);
	});

	it("forgets expired entries without a bad value", async () => {
		const clock = new FakeClock();
		const cache = new TenantConfigCache({ now: clock.now });
		const kv = { get: async (key: string) => (key === "tenant:bad" ? "{oops" : null) };
		for (const tenant of ["a", "b", "bad"]) await cache.policyFor(kv, tenant, "starter", 30_000);
		expect(cache.size).toBe(3);
		clock.advance(31_000 + FORGET_AFTER_EXPIRY_MS);
		await cache.policyFor(kv, "c", "starter", 30_000);
		// a and b are gone; "bad" is kept (it would hold the last good value); c is new.
		expect(cache.size).toBe(2);
	});
});
