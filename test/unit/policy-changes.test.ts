/**
 * How configuration changes reach busy tenants: the real config cache, isolate
 * limiter and tenant ledger wired together on a fake clock, with KV written by
 * hand (no `version`) as an operator following the README would.
 */
import { describe, expect, it } from "vitest";
import { Cluster, type ClusterOptions } from "../../sim/cluster";
import { KV_SETTLE_MS, TenantConfigCache } from "../../src/config/tenant-config";
import { MAX_DENY_CACHE_MS } from "../../src/limiter/lease";
import type { Decision, LocalLimiter } from "../../src/limiter/local";
import type { TenantLedgerState } from "../../src/limiter/tenant-ledger";
import { BUILTIN_TIERS, policyForConfig, type TenantPolicy } from "../../src/tiers";

const TTL_MS = 30_000;

/** A KV namespace in memory, written by hand (a string is stored as it is: malformed JSON too). */
function handKv(values: Record<string, unknown>) {
	const raw = (value: unknown) => (typeof value === "string" ? value : JSON.stringify(value));
	const store = new Map(Object.entries(values).map(([key, value]) => [key, raw(value)]));
	return {
		put: (key: string, value: unknown) => store.set(key, raw(value)),
		get: async (key: string) => store.get(key) ?? null,
	};
}

/** Isolates, each with its own config cache and limiter, in front of one cluster of ledgers. */
function world(values: Record<string, unknown>, isolates = 2, options: ClusterOptions = {}) {
	const cluster = new Cluster(options);
	const kv = handKv(values);
	const background: Promise<unknown>[] = [];
	const defer = { waitUntil: (work: Promise<unknown>) => background.push(work.catch(() => {})) };
	const edges = Array.from({ length: isolates }, (_, i) => ({
		configs: new TenantConfigCache({ now: cluster.clock.now }),
		limiter: cluster.isolate(`i${i}`) as LocalLimiter,
	}));
	/** One request of `cost` for `tenant` through isolate `i`, background work let finish. */
	async function send(i: number, tenant: string, cost = 1): Promise<Decision> {
		const edge = edges[i % edges.length] as (typeof edges)[number];
		const policy = await edge.configs.policyFor(kv, tenant, "starter", TTL_MS, defer);
		const decision = await edge.limiter.admit(`t:${tenant}`, policy, cost, defer);
		while (background.length > 0) await Promise.all(background.splice(0));
		for (let n = 0; n < 20; n++) await Promise.resolve();
		return decision;
	}
	const inForce = (tenant: string) => cluster.ledger(`t:${tenant}`).snapshot()?.policy as TenantPolicy;
	return { cluster, kv, send, inForce, clock: cluster.clock };
}

describe("a change written into KV by hand", () => {
	it.each([
		{
			name: "a tenant's tier, no version",
			before: { "tenant:acme": { tier: "starter" } },
			change: ["tenant:acme", { tier: "growth" }],
			expected: { tier: "growth", burst: 1440 },
		},
		{
			name: "a tenant entry that had an absurd version",
			before: { "tenant:acme": { tier: "growth", version: Number.MAX_SAFE_INTEGER } },
			change: ["tenant:acme", { tier: "scale" }],
			expected: { tier: "scale", burst: 2400 },
		},
		{
			name: "the tier table (an override of starter)",
			before: { "tenant:acme": { tier: "starter" } },
			change: ["tiers", { starter: { rate: 5, burst: 10, weight: 1 } }],
			expected: { tier: "starter", rate: 5, burst: 10 },
		},
		{
			name: "the tier table (a custom tier deleted)",
			before: { "tenant:acme": { tier: "gold" }, tiers: { gold: { rate: 1000, burst: 4000, weight: 3 } } },
			change: ["tiers", {}],
			expected: { tier: "starter", burst: 1200 },
		},
	] as const)(
		"$name is in force for a tenant sending once a second within CONFIG_TTL_S + 1 s, and stays",
		async ({ before, change, expected }) => {
			const { kv, send, inForce, clock } = world(before);
			// Two isolates, one second apart, each sending every second: their caches expire at different times.
			for (let s = 0; s < 20; s++) {
				await send(s, "acme");
				clock.advance(500);
			}
			kv.put(change[0], change[1]);
			const changedAt = clock.now();
			let arrivedAt: number | undefined;
			const seen: number[] = [];
			for (let s = 0; s < 4 * (TTL_MS / 500); s++) {
				clock.advance(500);
				const decision = await send(s, "acme");
				seen.push(inForce("acme").burst);
				if (arrivedAt === undefined && inForce("acme").burst === expected.burst) arrivedAt = clock.now();
				if (arrivedAt !== undefined) expect(decision.policy).toMatchObject(expected);
			}
			expect(arrivedAt).toBeDefined();
			expect((arrivedAt as number) - changedAt).toBeLessThanOrEqual(TTL_MS + 1_000);
			// Never rolled back once in force: no flapping between isolates with old and new views.
			const first = seen.indexOf(expected.burst);
			expect(seen.slice(first).every((burst) => burst === expected.burst)).toBe(true);
			expect(inForce("acme")).toMatchObject(expected);
		},
	);
});

describe("an operator's push", () => {
	it("re-enabling a suspended tenant reaches an isolate that cached the suspension within 1 s", async () => {
		const { kv, send, cluster, clock } = world({ "tenant:off": { tier: "starter", enabled: false } }, 1);
		for (let s = 0; s < 3; s++) {
			expect(await send(0, "off")).toMatchObject({ allowed: false, reason: "suspended" });
			clock.advance(300);
		}
		// What the admin API does: KV first, then the push with its version.
		kv.put("tenant:off", { tier: "starter", version: clock.now() });
		const enabled = policyForConfig({ tier: "starter", version: 0 }, BUILTIN_TIERS, clock.now() + KV_SETTLE_MS);
		cluster.ledger("t:off").configure(enabled as TenantPolicy, "t:off");
		clock.advance(1_000);
		expect(await send(0, "off")).toMatchObject({ allowed: true });
	});

	it("a push outranks isolates' reads of KV until KV has settled, then their reads count again", async () => {
		const { kv, send, cluster, clock, inForce } = world({ "tenant:acme": { tier: "starter" } }, 1);
		await send(0, "acme");
		const pushed = policyForConfig({ tier: "scale", version: 0 }, BUILTIN_TIERS, clock.now() + KV_SETTLE_MS);
		cluster.ledger("t:acme").configure(pushed as TenantPolicy, "t:acme");
		// This location's KV still serves the old value for a while: the push stands.
		for (let s = 0; s < 50; s++) {
			clock.advance(1_000);
			await send(0, "acme");
			expect(inForce("acme").tier).toBe("scale");
		}
		// An operator then writes KV by hand: in force once KV has settled and the cache read it.
		kv.put("tenant:acme", { tier: "growth" });
		for (let s = 0; s < (KV_SETTLE_MS + TTL_MS) / 1_000 + 1; s++) {
			clock.advance(1_000);
			await send(0, "acme");
		}
		expect(inForce("acme").tier).toBe("growth");
	});
});

describe("what isolates cache after a denial", () => {
	const costly = { "tenant:slow": { tier: "starter", rate: 1, burst: 100 } };

	it("a reset is heard within 1 s, however long the denial's retry time", async () => {
		const { send, cluster, clock } = world({ "tenant:slow": { tier: "starter", rate: 1, burst: 10 } }, 1);
		expect(await send(0, "slow", 10)).toMatchObject({ allowed: true });
		clock.advance(1_500);
		const denied = await send(0, "slow", 10);
		expect(denied).toMatchObject({ allowed: false, reason: "tenant_rate" });
		// The client is told the truth: 8.5 s until 10 tokens are back.
		expect(denied.allowed === false && denied.retryAfterMs).toBeGreaterThan(8_000);
		cluster.ledger("t:slow").reset();
		clock.advance(1_000);
		expect(await send(0, "slow", 10)).toMatchObject({ allowed: true });
	});

	it("denying an expensive request never blocks a cheaper one the bucket can serve", async () => {
		const { send } = world(costly, 1);
		expect(await send(0, "slow", 50)).toMatchObject({ allowed: true });
		expect(await send(0, "slow", 100)).toMatchObject({ allowed: false, reason: "tenant_rate" });
		// 50 tokens are left: cheaper requests are served at once, and the expensive one is still refused.
		for (let i = 0; i < 40; i++) expect(await send(0, "slow", 1)).toMatchObject({ allowed: true });
		expect(await send(0, "slow", 100)).toMatchObject({ allowed: false });
	});

	it("a request no cheaper than the one denied is still answered locally", async () => {
		const { send, cluster } = world(costly, 1);
		await send(0, "slow", 100);
		await send(0, "slow", 100);
		const calls = cluster.calls.tenant;
		for (let i = 0; i < 20; i++) expect(await send(0, "slow", 60)).toMatchObject({ allowed: false });
		expect(cluster.calls.tenant).toBe(calls);
	});
});

describe("views that are partly newer, malformed or absurd (found by an adversarial review)", () => {
	it("an isolate that read the tenant's entry before a change and the tier table after it cannot roll the change back", async () => {
		const { kv, send, inForce, clock } = world({ "tenant:acme": { tier: "starter" } });
		const seen: string[] = [];
		for (let s = 0; s <= 75; s++) {
			if (s === 0) await send(1, "other"); // isolate 1 reads the tier table at 0 s
			if (s === 20) await send(0, "other"); // isolate 0 at 20 s
			if (s === 32) kv.put("tenant:acme", { tier: "growth" });
			if (s >= 5) await send(1, "acme");
			if (s >= 31) await send(0, "acme"); // read the old entry at 31 s, the table again at 50 s
			if (s >= 31) seen.push(inForce("acme").tier);
			clock.advance(1_000);
		}
		const first = seen.indexOf("growth");
		expect(first).toBeGreaterThanOrEqual(0);
		expect(first).toBeLessThanOrEqual(TTL_MS / 1_000 + 1);
		expect(seen.slice(first).every((tier) => tier === "growth")).toBe(true);
	});

	it("a malformed entry keeps each isolate's last good view without making the bucket flap between them", async () => {
		const { kv, send, inForce, clock } = world({ "tenant:acme": { tier: "starter" } });
		kv.put("tenant:acme", { tier: "scale" });
		for (let s = 0; s < 40; s++) {
			await send(0, "acme");
			clock.advance(1_000);
		}
		kv.put("tenant:acme", '{"tier": "scale", "burst": 12.5}');
		const seen: string[] = [];
		for (let s = 0; s < 180; s++) {
			await send(0, "acme"); // last good: scale
			await send(1, "acme"); // started after the typo: the default tier, never a good read
			seen.push(inForce("acme").tier);
			clock.advance(1_000);
		}
		expect(new Set(seen)).toEqual(new Set(["scale"]));
	});

	it("a change to a tenant is in force while the tier table is malformed", async () => {
		const { kv, send, inForce, clock } = world({ "tenant:acme": { tier: "starter" } }, 1);
		await send(0, "acme");
		clock.advance(5_000);
		kv.put("tiers", "{ gold: 1 }");
		clock.advance(5_000);
		kv.put("tenant:acme", { tier: "scale" });
		for (let s = 0; s <= TTL_MS / 1_000 + 1; s++) {
			await send(0, "acme");
			clock.advance(1_000);
		}
		expect(inForce("acme").tier).toBe("scale");
	});

	it("an admin push stands when KV then holds a malformed value", async () => {
		const { kv, send, inForce, clock, cluster } = world({ "tenant:acme": { tier: "starter" } }, 1);
		await send(0, "acme");
		kv.put("tenant:acme", { tier: "scale", version: clock.now() });
		const pushed = policyForConfig({ tier: "scale", version: 0 }, BUILTIN_TIERS, clock.now() + KV_SETTLE_MS);
		cluster.ledger("t:acme").configure(pushed as TenantPolicy, "t:acme");
		clock.advance(5_000);
		kv.put("tenant:acme", '{"tier":"scale",');
		for (let s = 0; s < 120; s++) {
			await send(0, "acme");
			expect(inForce("acme").tier).toBe("scale");
			clock.advance(1_000);
		}
	});

	it("a bucket stored by an older release with an absurd version gives way to reads and pushes", async () => {
		const { kv, send, inForce, clock, cluster } = world({ "tenant:acme": { tier: "starter" } }, 1);
		const now = clock.now();
		cluster.saved.set("t:acme", {
			key: "t:acme",
			policy: { tier: "starter", rate: 300, burst: 1200, weight: 1, version: Number.MAX_SAFE_INTEGER },
			bucket: { tokens: 1200, updatedAt: now },
			poolTokens: 0,
			grants: { rate: 0, updatedAt: now },
			outstanding: {},
			lastLeaseAt: now,
			counters: { admitted: 0, denied: 0, leases: 0, leaseDenials: 0, poolCalls: 0, fallbacks: 0 },
		} as unknown as TenantLedgerState);
		kv.put("tenant:acme", { tier: "scale" });
		await send(0, "acme");
		expect(inForce("acme").tier).toBe("scale");
		const pushed = policyForConfig({ tier: "growth", version: 0 }, BUILTIN_TIERS, clock.now() + KV_SETTLE_MS);
		expect(cluster.ledger("t:acme").configure(pushed as TenantPolicy, "t:acme").tier).toBe("growth");
	});

	it("a raised burst is heard within 1 s by an isolate whose requests cost more than the old one", async () => {
		const { kv, send, clock, cluster } = world({ "tenant:batch": { tier: "starter", rate: 100, burst: 100 } }, 1);
		expect(await send(0, "batch", 500)).toMatchObject({ allowed: false, retryAfterMs: Number.POSITIVE_INFINITY });
		kv.put("tenant:batch", { tier: "starter", rate: 100, burst: 1_000, version: clock.now() });
		const raised = policyForConfig(
			{ tier: "starter", rate: 100, burst: 1_000, version: 0 },
			BUILTIN_TIERS,
			clock.now() + KV_SETTLE_MS,
		);
		cluster.ledger("t:batch").configure(raised as TenantPolicy, "t:batch");
		clock.advance(MAX_DENY_CACHE_MS);
		// Admissible now (a 429 with a finite wait while the bucket refills to 500), no longer a 400.
		const after = await send(0, "batch", 500);
		expect(after.policy.burst).toBe(1_000);
		expect(after.allowed || Number.isFinite(after.retryAfterMs)).toBe(true);
	});

	it("a cheaper request asks once the bucket may have refilled enough for it, and is told its own wait", async () => {
		const { send, clock, cluster } = world({ "tenant:big": { tier: "starter", rate: 100, burst: 1_000 } }, 1);
		expect(await send(0, "big", 1_000)).toMatchObject({ allowed: true });
		clock.advance(200);
		expect(await send(0, "big", 1_000)).toMatchObject({ allowed: false }); // 20 tokens left
		const tooSoon = await send(0, "big", 50);
		expect(tooSoon).toMatchObject({ allowed: false });
		// 30 more tokens at 100/s: 300 ms, not the cost-1000 request's 9.8 s.
		expect(tooSoon.allowed === false && tooSoon.retryAfterMs).toBeLessThanOrEqual(300);
		const calls = cluster.calls.tenant;
		clock.advance(600);
		expect(await send(0, "big", 50)).toMatchObject({ allowed: true });
		expect(cluster.calls.tenant).toBe(calls + 1);
	});

	it("after a burst-pool denial, requests of falling costs are answered locally, not with a call each", async () => {
		const { send, clock, cluster } = world({ "tenant:acme": { tier: "scale" } }, 1, { pool: { rate: 1, burst: 200 } });
		await send(0, "other", 200);
		clock.advance(100);
		const calls = cluster.calls.tenant;
		for (let cost = 200; cost >= 1; cost--) {
			expect(await send(0, "acme", cost)).toMatchObject({ allowed: false, reason: "burst_pool" });
			clock.advance(1);
		}
		expect(cluster.calls.tenant - calls).toBeLessThanOrEqual(2);
	});
});
