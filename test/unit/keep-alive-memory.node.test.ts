/**
 * Runs in Node (vitest.node.config.ts): only there can a test collect garbage
 * and read the heap.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { expect, it } from "vitest";
import { FakeClock } from "../../sim/cluster";
import type { LeaseReply } from "../../src/limiter/lease";
import { LocalLimiter } from "../../src/limiter/local";
import { policyForTier, type TenantPolicy } from "../../src/tiers";

setFlagsFromString("--expose_gc");
const gc = runInNewContext("gc") as () => void;
const starter = policyForTier("starter") as TenantPolicy;

/** Heap growth (MB) after `tenants` tenants send `each` requests apiece within a second, 100 kept at most. */
async function heapGrowth(tenants: number, each: number): Promise<number> {
	const clock = new FakeClock();
	const reply: LeaseReply = { granted: 8, ttlMs: 8_000, remaining: 1_000, retryAfterMs: 0, policy: starter };
	const limiter = new LocalLimiter({
		now: clock.now,
		isolateId: "i",
		maxEntries: 100,
		wait: () => new Promise(() => {}),
		grantor: () => Promise.resolve(reply),
	});
	gc();
	const before = process.memoryUsage().heapUsed;
	for (let i = 0; i < tenants; i++)
		for (let n = 0; n < each; n++) {
			await limiter.admit(`t:${i}`, starter, 1);
			clock.time += 0.01;
		}
	gc();
	expect(limiter.size).toBe(100);
	return (process.memoryUsage().heapUsed - before) / 1e6;
}

// Found by an adversarial review (2026-11-29): each tenant's second request plans its lease's renewal, and the plan
// held the whole entry for up to 8 s after the LRU dropped it: 23 MB here, against 0.3 MB with one request each.
it("plans of leases to renew do not keep tenants the LRU dropped in memory", async () => {
	const once = await heapGrowth(50_000, 1);
	const twice = await heapGrowth(50_000, 2);
	// What is left is the plans themselves (a key and a lease id each, about 100 bytes), until they fall due.
	expect(twice - once).toBeLessThan(10);
});
