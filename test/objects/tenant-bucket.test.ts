import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { DENY_CACHE_MS, type LeaseRequest, POOL_IDLE_RELEASE_MS } from "../../src/limiter/lease";
import { BURST_POOL_NAME } from "../../src/objects/burst-pool";
import type { TenantBucket } from "../../src/objects/tenant-bucket";
import { policyForTier, type TenantPolicy } from "../../src/tiers";
import { useFrozenClock } from "../support/clock";

const T0 = 2_000_000_000_000;
const starter = policyForTier("starter") as TenantPolicy;

/** Each tenant's last lease id: every request is the next call of one isolate, ending its previous lease. */
const leases = new Map<string, number>();

function request(key: string, want: number, extra: Partial<LeaseRequest> = {}): LeaseRequest {
	const n = (leases.get(key) ?? 0) + 1;
	leases.set(key, n);
	const lease = { lease: `${key}#${n}`, ...(n > 1 && { previous: `${key}#${n - 1}` }) };
	return {
		key,
		isolate: "test-isolate",
		...lease,
		policy: starter,
		min: 1,
		want,
		returned: 0,
		admitted: 0,
		denied: 0,
		...extra,
	};
}

useFrozenClock(T0);

describe("TenantBucket", () => {
	it("grants leases debited from the bucket, then denies with a retry time", async () => {
		const stub = env.TENANT_BUCKET.getByName("t:obj-a");
		const first = await stub.lease(request("t:obj-a", 1_000));
		expect(first).toMatchObject({ granted: 1_000, remaining: 200, ttlMs: 1_000 });
		expect((await stub.lease(request("t:obj-a", 500))).granted).toBe(200);
		const denied = await stub.lease(request("t:obj-a", 10));
		// A token is 4 ms away, but one isolate asking an empty bucket is paced to DENY_CACHE_MS.
		expect(denied).toMatchObject({ granted: 0, reason: "tenant_rate", retryAfterMs: DENY_CACHE_MS });
	});

	it("is evicted and comes back with its state: a drained bucket stays drained", async () => {
		const stub = env.TENANT_BUCKET.getByName("t:obj-evict");
		await stub.lease(request("t:obj-evict", 1_200));
		await stub.lease(request("t:obj-evict", 1, { admitted: 1_200, denied: 7 }));
		await evictDurableObject(stub);
		const state = await stub.state();
		expect(state).toMatchObject({ tokens: 0, admitted: 1_200, denied: 7, leases: 1, leaseDenials: 1 });
		expect((await stub.lease(request("t:obj-evict", 1))).granted).toBe(0);
		vi.setSystemTime(T0 + 1_000);
		expect((await stub.lease(request("t:obj-evict", 1_000))).granted).toBe(300);
	});

	it("writes its state before the reply leaves (nothing un-awaited)", async () => {
		const stub = env.TENANT_BUCKET.getByName("t:obj-durable");
		await stub.lease(request("t:obj-durable", 100));
		const stored = await runInDurableObject(stub, (_instance: TenantBucket, state) =>
			state.storage.kv.get<{ bucket: { tokens: number } }>("ledger"),
		);
		expect(stored?.bucket.tokens).toBe(1_100);
	});

	it("reset fills the bucket again, less what is leased out", async () => {
		const stub = env.TENANT_BUCKET.getByName("t:obj-reset");
		await stub.lease(request("t:obj-reset", 1_000));
		expect(await stub.reset()).toMatchObject({ tokens: 200, leasedOut: 1_000 });
		vi.setSystemTime(T0 + 2_000);
		expect(await stub.reset()).toMatchObject({ tokens: 1_200, leasedOut: 0 });
	});

	it("its alarm hands an idle tenant's burst-pool reserve back to the pool", async () => {
		const pool = env.BURST_POOL.getByName(BURST_POOL_NAME);
		const stub = env.TENANT_BUCKET.getByName("t:obj-alarm");
		await stub.lease(request("t:obj-alarm", 1));
		const held = (await stub.state())?.poolTokens ?? 0;
		expect(held).toBeGreaterThan(0);
		const poolBefore = (await pool.state()).counters.returned;
		vi.setSystemTime(T0 + POOL_IDLE_RELEASE_MS);
		expect(await runDurableObjectAlarm(stub)).toBe(true);
		expect((await stub.state())?.poolTokens).toBe(0);
		expect((await pool.state()).counters.returned - poolBefore).toBe(held);
	});
});
