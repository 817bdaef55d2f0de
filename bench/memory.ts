/**
 * `npm run bench:memory`: isolate memory per tenant. One isolate (a
 * LocalLimiter and a TenantConfigCache, as the Worker holds them) sees
 * 100,000 tenants once each; the heap is measured after a full GC.
 */

import { FakeClock } from "../sim/cluster";
import { TenantConfigCache } from "../src/config/tenant-config";
import { LEASE_TTL_MS } from "../src/limiter/lease";
import { LocalLimiter } from "../src/limiter/local";
import { policyForTier, type TenantPolicy } from "../src/tiers";

function heap(): number {
	const gc = (globalThis as { gc?: () => void }).gc;
	if (!gc) throw new Error("run with node --expose-gc");
	gc();
	gc();
	return process.memoryUsage().heapUsed;
}

/** Measures an isolate that has seen `tenants` tenants; returns bytes per tenant and total MB. */
export async function measureMemory(tenants = 100_000, maxEntries?: number) {
	const clock = new FakeClock();
	const starter = policyForTier("starter") as TenantPolicy;
	const limiter = new LocalLimiter({
		now: clock.now,
		isolateId: "memory",
		...(maxEntries ? { maxEntries } : {}),
		grantor: async (request) => ({
			granted: request.want,
			ttlMs: LEASE_TTL_MS,
			remaining: 1_000,
			retryAfterMs: 0,
			policy: request.policy,
		}),
	});
	const configs = new TenantConfigCache({ now: clock.now, ...(maxEntries ? { maxEntries } : {}) });
	const kv = { get: async () => null };
	const before = heap();
	for (let i = 0; i < tenants; i++) {
		const tenant = `tenant-${i.toString(36).padStart(8, "0")}`;
		const policy = await configs.policyFor(kv, tenant, "starter", 30_000);
		await limiter.admit(`t:${tenant}`, policy ?? starter, 1);
		if (i % 1_000 === 0) clock.advance(1);
	}
	// Every lease has expired and the tenants went quiet; one busy tenant keeps the isolate running.
	clock.advance(LEASE_TTL_MS * 60);
	for (let s = 0; s < 120; s++) {
		await limiter.admit("t:busy", starter, 1);
		await configs.policyFor(kv, "busy", "starter", 30_000);
		clock.advance(1_000);
	}
	const after = heap();
	const entries = limiter.size;
	const kept = Math.max(entries, configs.size);
	return {
		tenants,
		entries,
		configEntries: configs.size,
		/** Per tenant still remembered by the limiter or the config cache. */
		bytesPerEntry: kept > 0 ? (after - before) / kept : 0,
		totalMB: (after - before) / 1024 / 1024,
	};
}

if (import.meta.url === `file://${process.argv[1]}`) {
	// Warm up, so that compiled code is not counted as per-tenant memory.
	await measureMemory(20_000);
	const bounded = await measureMemory(100_000);
	console.log(
		`isolate that saw ${bounded.tenants} tenants: ${bounded.entries} limiter and ${bounded.configEntries} config entries kept, ` +
			`${bounded.bytesPerEntry.toFixed(0)} bytes per tenant kept (limiter + config cache), ${bounded.totalMB.toFixed(1)} MB`,
	);
	const unbounded = await measureMemory(100_000, 1_000_000);
	console.log(
		`same with no LRU cap: ${unbounded.entries} idle limiter and ${unbounded.configEntries} config entries, ${unbounded.bytesPerEntry.toFixed(0)} bytes per tenant kept, ` +
			`${unbounded.totalMB.toFixed(1)} MB`,
	);
}
