import { describe, expect, it } from "vitest";
import { FakeClock } from "../../sim/cluster";
import type { LeaseRequest } from "../../src/limiter/lease";
import { LocalLimiter } from "../../src/limiter/local";
import { IDLE_COMPACT_MS } from "../../src/limiter/tenant-entries";
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

	it("compacts idle tenants, still reports their statistics, and hands back no expired tokens", async () => {
		const { clock, requests, local } = limiter();
		await local.admit("quiet", starter, 1);
		clock.advance(IDLE_COMPACT_MS + 1_000);
		await local.admit("busy", starter, 1);
		expect(local.size).toBe(2);
		await local.admit("quiet", starter, 1);
		const last = requests.at(-1);
		// The 9 tokens left expired with their lease: the bucket already counts them as back.
		expect(last).toMatchObject({ key: "quiet", returned: 0, admitted: 1 });
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
});
