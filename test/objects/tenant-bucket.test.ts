import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { DENY_CACHE_MS, LEASE_GRACE_MS, LEASE_TTL_MS, type LeaseRequest } from "../../src/limiter/lease";
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
		expect(first).toMatchObject({ granted: 1_000, remaining: 200, ttlMs: LEASE_TTL_MS });
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
		// Once the bucket stops counting the lease (its lifetime and grace are over), reset fills it all.
		vi.setSystemTime(T0 + LEASE_TTL_MS + LEASE_GRACE_MS);
		expect(await stub.reset()).toMatchObject({ tokens: 1_200, leasedOut: 0 });
	});

	it("an alarm armed by an older version fires once and changes nothing", async () => {
		const stub = env.TENANT_BUCKET.getByName("t:obj-alarm");
		await stub.lease(request("t:obj-alarm", 100));
		const stored = () =>
			runInDurableObject(stub, (_instance: TenantBucket, state) => state.storage.kv.get<unknown>("ledger"));
		const before = await stored();
		// Buckets used to arm an alarm to hand an idle tenant's burst-pool reserve back: some may still be set.
		await runInDurableObject(stub, (_instance: TenantBucket, state) => state.storage.setAlarm(T0 + 1_000));
		vi.setSystemTime(T0 + 1_000);
		expect(await runDurableObjectAlarm(stub)).toBe(true);
		expect(await runDurableObjectAlarm(stub)).toBe(false);
		expect(await stored()).toEqual(before);
		expect(await stub.state()).toMatchObject({ leasedOut: 100, leases: 1 });
	});
});
