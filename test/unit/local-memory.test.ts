import { describe, expect, it, vi } from "vitest";
import { FakeClock } from "../../sim/cluster";
import { FORGET_AFTER_EXPIRY_MS, TenantConfigCache } from "../../src/config/tenant-config";
import type { LeaseRequest } from "../../src/limiter/lease";
import { IDLE_COMPACT_MS, LocalLimiter } from "../../src/limiter/local";
import { policyForTier, type TenantPolicy } from "../../src/tiers";

const starter = policyForTier("starter") as TenantPolicy;

function limiter(maxEntries?: number) {
	const clock = new FakeClock();
	const requests: LeaseRequest[] = [];
	const local = new LocalLimiter({
		now: clock.now,
		isolateId: "i",
		...(maxEntries ? { maxEntries } : {}),
		grantor: async (request) => {
			requests.push(request);
			return { granted: 10, ttlMs: 1_000, remaining: 1_000, retryAfterMs: 0, policy: request.policy };
		},
	});
	return { clock, requests, local };
}

describe("isolate memory", () => {
	it("keeps at most maxEntries tenants, dropping the least recently used", async () => {
		const { local } = limiter(3);
		for (const tenant of ["a", "b", "c", "d", "e"]) await local.admit(tenant, starter, 1);
		expect(local.size).toBe(3);
	});

	it("compacts idle tenants and still hands their unspent tokens back later", async () => {
		const { clock, requests, local } = limiter();
		await local.admit("quiet", starter, 1);
		clock.advance(IDLE_COMPACT_MS + 1_000);
		await local.admit("busy", starter, 1);
		expect(local.size).toBe(2);
		await local.admit("quiet", starter, 1);
		const last = requests.at(-1);
		expect(last).toMatchObject({ key: "quiet", returned: 9, admitted: 1 });
	});

	it("an idle tenant's fallback decisions are still reported after compaction", async () => {
		const clock = new FakeClock();
		const requests: LeaseRequest[] = [];
		let failing = true;
		const local = new LocalLimiter({
			now: clock.now,
			isolateId: "i",
			grantor: async (request) => {
				requests.push(request);
				if (failing) throw new Error("object down");
				return { granted: 10, ttlMs: 1_000, remaining: 1_000, retryAfterMs: 0, policy: request.policy };
			},
		});
		expect(await local.admit("flaky", starter, 1)).toMatchObject({ allowed: true, fallback: "local" });
		failing = false;
		clock.advance(IDLE_COMPACT_MS + 1_000);
		await local.admit("other", starter, 1);
		await local.admit("flaky", starter, 1);
		expect(requests.at(-1)).toMatchObject({ key: "flaky", fallbacks: 1, admitted: 1 });
	});

	it("policies of built-in tiers are shared, not copied per tenant", () => {
		expect(policyForTier("growth")).toBe(policyForTier("growth"));
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
				expect(await cache.policyFor(kv, "t", "starter", 30_000)).toMatchObject({ tier: "growth", version: 1 });
			}
			expect(warn).toHaveBeenCalledTimes(1);
			expect(String(warn.mock.calls[0]?.[0])).toContain("tenant:t");
		} finally {
			warn.mockRestore();
		}
	});

	it("the config cache forgets expired entries without a bad value", async () => {
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
