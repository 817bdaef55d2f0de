import { describe, expect, it } from "vitest";
import { Cluster, FakeClock } from "../../sim/cluster";
import {
	DENY_CACHE_MS,
	drainedPaceMs,
	LEASE_GRACE_MS,
	LEASE_TTL_MS,
	type LeaseReply,
	type LeaseRequest,
	leaseSize,
	MAX_DENY_CACHE_MS,
	POOL_LEASE_LIFETIMES,
	POOL_LEASE_TTL_MS,
	poolLeaseSize,
	ROOMY_LEASE_TTL_MS,
} from "../../src/limiter/lease";
import { type Decision, LocalLimiter } from "../../src/limiter/local";
import { BURST_POOL_TIER, shardName, shardPolicy } from "../../src/limiter/pool-shards";
import { TenantLedger } from "../../src/limiter/tenant-ledger";
import { DEFAULT_BURST_POOL, policyForTier, type TenantPolicy } from "../../src/tiers";

const starter = policyForTier("starter") as TenantPolicy;
const anonymous = policyForTier("anonymous") as TenantPolicy;

/** Lets background lease calls (fetched ahead of time) finish. */
async function settle(): Promise<void> {
	for (let i = 0; i < 20; i++) await Promise.resolve();
}

function admitted(decisions: Decision[]): number {
	return decisions.filter((d) => d.allowed).length;
}

describe("leaseSize", () => {
	it.each([
		{ rate: 0, burst: 1200, min: 1, waiting: 0, size: 1 },
		{ rate: 10, burst: 1200, min: 1, waiting: 0, size: 5 },
		{ rate: 300, burst: 1200, min: 1, waiting: 0, size: 64 },
		{ rate: 1000, burst: 1200, min: 1, waiting: 0, size: 100 },
		{ rate: 5000, burst: 20_000, min: 1, waiting: 0, size: 500 },
		{ rate: 100_000, burst: 1200, min: 1, waiting: 0, size: 120 },
		{ rate: 0, burst: 1200, min: 1, waiting: 500, size: 120 },
		{ rate: 0, burst: 1200, min: 200, waiting: 0, size: 200 },
		{ rate: 0, burst: 5, min: 1, waiting: 3, size: 1 },
		{ rate: 180, burst: 1_000_000, min: 1, waiting: 0, size: 64 },
		{ rate: 180, burst: 1_000_000, min: 1, waiting: 0, roomy: true, size: 256 },
		{ rate: 1000, burst: 1_000_000, min: 1, waiting: 0, roomy: true, size: 256 },
		{ rate: 300, burst: 1200, min: 1, waiting: 0, roomy: true, size: 120 },
		{ rate: 10, burst: 1200, min: 1, waiting: 0, roomy: true, size: 40 },
		// A quiet tenant's roomy lease is still 8 tokens, within a tenth of the burst.
		{ rate: 0.5, burst: 1200, min: 1, waiting: 0, roomy: true, size: 8 },
		{ rate: 0, burst: 1200, min: 1, waiting: 0, roomy: true, size: 8 },
		{ rate: 0, burst: 30, min: 1, waiting: 0, roomy: true, size: 3 },
		{ rate: 0.5, burst: 1200, min: 1, waiting: 0, roomy: false, size: 1 },
	])(
		"$rate/s burst $burst min $min waiting $waiting roomy $roomy → $size",
		({ rate, burst, min, waiting, roomy, size }) => {
			expect(leaseSize(rate, burst, min, waiting, roomy)).toBe(size);
		},
	);
});

describe("drainedPaceMs", () => {
	it.each([
		{ isolates: 0, policy: undefined, pace: DENY_CACHE_MS },
		{ isolates: 1, policy: undefined, pace: DENY_CACHE_MS },
		{ isolates: 4, policy: undefined, pace: 400 },
		{ isolates: 8, policy: undefined, pace: 800 },
		{ isolates: 50, policy: undefined, pace: MAX_DENY_CACHE_MS },
		// Starter refills in 4 s: a quarter of that is the longest pace anyway.
		{ isolates: 50, policy: { rate: 300, burst: 1_200 }, pace: MAX_DENY_CACHE_MS },
		// A pool shard refills in 1 s: its callers wait a quarter of that, not a whole second.
		{ isolates: 50, policy: { rate: 6_250, burst: 6_250 }, pace: 250 },
		{ isolates: 8, policy: { rate: 100, burst: 200 }, pace: 500 },
		{ isolates: 4, policy: { rate: 1_000, burst: 200 }, pace: DENY_CACHE_MS },
		{ isolates: 8, policy: { rate: 0, burst: 200 }, pace: 800 },
	])("$isolates isolates, policy $policy → $pace ms", ({ isolates, policy, pace }) => {
		expect(drainedPaceMs(isolates, policy)).toBe(pace);
	});
});

describe("one isolate against the real ledgers", () => {
	it("a burst of 1,300 concurrent requests admits the burst exactly, with a few round trips", async () => {
		const cluster = new Cluster();
		const isolate = cluster.isolate();
		const decisions = await Promise.all(Array.from({ length: 1300 }, () => isolate.admit("t:a", starter, 1)));
		expect(admitted(decisions)).toBe(1200);
		expect(cluster.calls.tenant).toBeLessThanOrEqual(15);
		const denied = decisions.find((d) => !d.allowed);
		expect(denied).toMatchObject({ reason: "tenant_rate" });
	});

	it("concurrent requests that find the lease empty share one refill", async () => {
		const cluster = new Cluster();
		const isolate = cluster.isolate();
		await Promise.all(Array.from({ length: 50 }, () => isolate.admit("t:a", starter, 1)));
		// The first refill asks for 1 token (no demand seen yet); everyone else waits for the second.
		expect(cluster.calls.tenant).toBeLessThanOrEqual(3);
	});

	it("after a denial, a flood is answered locally for at least 100 ms", async () => {
		const cluster = new Cluster();
		const isolate = cluster.isolate();
		await Promise.all(Array.from({ length: 1300 }, () => isolate.admit("t:a", starter, 1)));
		const before = cluster.calls.tenant;
		for (let step = 0; step < 99; step++) {
			cluster.clock.advance(1);
			await isolate.admit("t:a", starter, 1);
		}
		expect(cluster.calls.tenant).toBe(before);
		cluster.clock.advance(1);
		const after = await isolate.admit("t:a", starter, 1);
		expect(cluster.calls.tenant).toBe(before + 1);
		expect(after.allowed).toBe(true);
	});

	it("anonymous: 20 at once, then 10/s", async () => {
		const cluster = new Cluster();
		const isolate = cluster.isolate();
		const first = await Promise.all(Array.from({ length: 25 }, () => isolate.admit("anon:1.2.3.4", anonymous, 1)));
		expect(admitted(first)).toBe(20);
		cluster.clock.advance(1_000);
		const second = await Promise.all(Array.from({ length: 15 }, () => isolate.admit("anon:1.2.3.4", anonymous, 1)));
		expect(admitted(second)).toBe(10);
	});

	it("a cost above the burst asks the bucket at most once a second, never blocks cheaper requests, and sees a raised burst", async () => {
		const cluster = new Cluster();
		const isolate = cluster.isolate();
		const big = await isolate.admit("t:a", starter, 1201);
		expect(big).toMatchObject({ allowed: false, retryAfterMs: Number.POSITIVE_INFINITY });
		const calls = cluster.calls.tenant;
		for (let i = 0; i < 10; i++) {
			expect(await isolate.admit("t:a", starter, 1500)).toMatchObject({ retryAfterMs: Number.POSITIVE_INFINITY });
		}
		expect(cluster.calls.tenant).toBe(calls);
		expect((await isolate.admit("t:a", starter, 1)).allowed).toBe(true);
		// An operator raises the burst: the isolate hears it on its next ask, within a second.
		const raised = { ...starter, burst: 2_000, version: cluster.clock.now(), tiersVersion: cluster.clock.now() };
		cluster.ledger("t:a").configure(raised, "t:a");
		cluster.clock.advance(MAX_DENY_CACHE_MS);
		expect(await isolate.admit("t:a", starter, 1201)).toMatchObject({ allowed: true });
	});

	it.each([
		{ when: "roomy (a grant that leaves the bucket half full or more)", first: 1, ttlMs: ROOMY_LEASE_TTL_MS },
		{ when: "near the limit", first: 700, ttlMs: LEASE_TTL_MS },
	])("leases expire: tokens are not spent after the lease's lifetime, $when", async ({ first, ttlMs }) => {
		const cluster = new Cluster();
		const isolate = cluster.isolate();
		await isolate.admit("t:a", starter, first);
		await Promise.all(Array.from({ length: 20 }, () => isolate.admit("t:a", starter, 1)));
		await settle();
		const calls = cluster.calls.tenant;
		cluster.clock.advance(ttlMs);
		await isolate.admit("t:a", starter, 1);
		expect(cluster.calls.tenant).toBe(calls + 1);
	});

	it("asks for larger batches only while the tenant's bucket is at least half full", async () => {
		/** The second lease an isolate asks for at 200 requests/s, when every grant leaves `remaining` in the bucket. */
		const secondWant = async (remaining: number) => {
			const clock = new FakeClock();
			const asked: number[] = [];
			const isolate = new LocalLimiter({
				now: clock.now,
				isolateId: "i",
				grantor: async (request) => {
					asked.push(request.want);
					return { granted: 40, ttlMs: 1_000, remaining, retryAfterMs: 0, policy: starter };
				},
			});
			for (let i = 0; i < 40; i++) {
				await isolate.admit("t:a", starter, 1);
				clock.advance(5);
			}
			await settle();
			return asked[1];
		};
		// Near the limit, 64 tokens (320 ms of this traffic); far from it, 750 ms' worth up to a tenth of the burst.
		expect(await secondWant(starter.burst * 0.5 - 1)).toBe(64);
		expect(await secondWant(starter.burst * 0.5)).toBe(120);
	});

	it("fetches the next lease before the current one runs out, so requests do not wait", async () => {
		const clock = new FakeClock();
		const calls: { request: LeaseRequest; grant: (granted: number) => void }[] = [];
		const isolate = new LocalLimiter({
			now: clock.now,
			isolateId: "i",
			grantor: (request) =>
				new Promise<LeaseReply>((resolve) => {
					calls.push({
						request,
						grant: (granted) => resolve({ granted, ttlMs: 1_000, remaining: 500, retryAfterMs: 0, policy: starter }),
					});
				}),
		});
		const first = isolate.admit("t:a", starter, 1);
		await settle();
		calls[0]?.grant(100);
		expect((await first).allowed).toBe(true);
		// Down to 25 of 100: the next lease is asked for, holding on to the 25.
		for (let i = 0; i < 74; i++) await isolate.admit("t:a", starter, 1);
		expect(calls).toHaveLength(2);
		expect(calls[1]?.request).toMatchObject({ held: 25, returned: 0 });
		// While that call is out, the 25 held tokens still admit at once.
		const tick = () => new Promise((resolve) => setTimeout(() => resolve("waited"), 0));
		for (let i = 0; i < 25; i++)
			expect(await Promise.race([isolate.admit("t:a", starter, 1), tick()])).toMatchObject({ allowed: true });
		// Only then does a request wait for the lease.
		expect(await Promise.race([isolate.admit("t:a", starter, 1), tick()])).toBe("waited");
	});
});

describe("a tenant active in an isolate", () => {
	/** One isolate leasing from real ledgers that answer at once, and its calls per tenant. */
	function isolate() {
		const clock = new FakeClock();
		const ledger = new TenantLedger(undefined, { now: clock.now, save: () => {} });
		const calls: string[] = [];
		const limiter = new LocalLimiter({
			now: clock.now,
			isolateId: "i",
			grantor: (request) => {
				calls.push(request.key);
				return Promise.resolve(ledger.lease(request));
			},
		});
		const send = async (key: string) => {
			const decision = limiter.admit(key, starter, 1);
			const waited = decision instanceof Promise;
			const answer = await decision;
			await settle();
			return { waited, allowed: answer.allowed };
		};
		/** Tenants t:0… each send twice, now and a second later: a lease each planned for renewal. */
		const activate = async (count: number) => {
			const start = clock.now();
			for (let i = 0; i < count; i++) await send(`t:${i}`);
			clock.time = start + 1_000;
			for (let i = 0; i < count; i++) await send(`t:${i}`);
			return start;
		};
		return { clock, calls, send, activate };
	}

	it("has its lease renewed just before it expires, on any request, so its next request does not wait", async () => {
		const { clock, calls, send } = isolate();
		const start = clock.now();
		expect(await send("t:a")).toEqual({ waited: true, allowed: true });
		// A second request, 3 s later: the tenant is active here, and its next may come up to 8 s after this one.
		clock.time = start + 3_000;
		expect(await send("t:a")).toEqual({ waited: false, allowed: true });
		// Another tenant's request, just before a's lease (8 s, the bucket is roomy) expires, renews it.
		clock.time = start + ROOMY_LEASE_TTL_MS - 50;
		await send("t:b");
		expect(calls.filter((key) => key === "t:a")).toHaveLength(2);
		// 10 s after the first call (7 s after the last request): a live lease answers at once.
		clock.time = start + 10_000;
		expect(await send("t:a")).toEqual({ waited: false, allowed: true });
	});

	it("leaves a lease that only the request that asked for it used to expire: no call for a tenant gone quiet", async () => {
		const { clock, calls, send } = isolate();
		const start = clock.now();
		await send("t:a");
		for (let t = 1_000; t <= 20_000; t += 1_000) {
			clock.time = start + t;
			await send("t:b");
		}
		expect(calls.filter((key) => key === "t:a")).toHaveLength(1);
	});

	it("renews at most a few leases per request: each is a subrequest of it", async () => {
		const { clock, calls, send, activate } = isolate();
		const start = await activate(10);
		expect(calls).toHaveLength(10);
		clock.time = start + ROOMY_LEASE_TTL_MS - 50;
		await send("t:other");
		// The other tenant's own first call, and four renewals.
		expect(calls).toHaveLength(10 + 1 + 4);
		await send("t:other");
		expect(calls).toHaveLength(10 + 1 + 8);
	});

	it("counts only the leases it renews against that limit, not those renewed meanwhile", async () => {
		const { clock, calls, send, activate } = isolate();
		const start = await activate(10);
		// Six of the ten leases are renewed by their own tenants' requests (a quarter left): their plans are void.
		clock.time = start + 2_000;
		for (let i = 0; i < 6; i++) for (let n = 0; n < 8; n++) await send(`t:${i}`);
		const before = calls.length;
		clock.time = start + ROOMY_LEASE_TTL_MS - 50;
		await send("t:other");
		// Four renewals of the leases still planned for, not of the void ones, and the other tenant's first call.
		expect(calls.slice(before).sort()).toEqual(["t:6", "t:7", "t:8", "t:9", "t:other"]);
	});
});

describe("a small lease far from its bucket", () => {
	it("is renewed while its tokens still outlast the round trip, so a steady tenant does not wait", async () => {
		const clock = new FakeClock();
		const RTT = 150;
		// Near its limit (not roomy), a tenant at 10/s gets two tokens a lease; replies land a round trip later.
		const inFlight: { at: number; land: () => void }[] = [];
		const isolate = new LocalLimiter({
			now: clock.now,
			isolateId: "i",
			wait: () => new Promise(() => {}),
			grantor: () =>
				new Promise<LeaseReply>((resolve) => {
					const reply = { granted: 2, ttlMs: LEASE_TTL_MS, remaining: 100, retryAfterMs: 0, policy: starter };
					inFlight.push({ at: clock.now() + RTT, land: () => resolve(reply) });
				}),
		});
		const pending: Promise<Decision>[] = [];
		let waited = 0;
		const start = clock.now();
		for (let t = 0; t <= 4_000; t += 50) {
			clock.time = start + t;
			for (const call of inFlight.filter((c) => c.at <= clock.now())) {
				inFlight.splice(inFlight.indexOf(call), 1);
				call.land();
			}
			await settle();
			if (t % 100 !== 0) continue;
			const decision = isolate.admit("t:a", starter, 1);
			if (decision instanceof Promise) {
				// After the first second: the tenant's rate is known by then.
				if (t >= 1_000) waited += 1;
				pending.push(decision);
			}
		}
		for (const call of inFlight) call.land();
		expect(admitted(await Promise.all(pending))).toBe(pending.length);
		// Renewed only once spent (a quarter of two tokens is none), every other request would wait.
		expect(waited).toBe(0);
	});
});

describe("a drained tenant, far from its bucket", () => {
	it("its isolate asks again just before the pace ends: the request at the end needs no round trip", async () => {
		const clock = new FakeClock();
		const ledger = new TenantLedger(undefined, { now: clock.now, save: () => {} });
		const small: TenantPolicy = { ...starter, tier: "small", rate: 10, burst: 20 };
		const RTT = 40;
		// The bucket answers when called; the reply lands a round trip later, when the test says so.
		const landing: (() => void)[] = [];
		let calls = 0;
		const isolate = new LocalLimiter({
			grantor: (request) => {
				calls += 1;
				const reply = ledger.lease(request);
				return new Promise((resolve) => landing.push(() => resolve(reply)));
			},
			now: clock.now,
			// No deadline: the failure policy is not what this is about.
			wait: () => new Promise(() => {}),
		});
		const roundTrip = async () => {
			clock.advance(RTT);
			for (const land of landing.splice(0)) land();
			await settle();
		};
		// Another isolate empties the bucket; this one is refused and learns the pace (and the round trip).
		const drain = {
			key: "t:a",
			isolate: "other",
			policy: small,
			min: 20,
			want: 20,
			returned: 0,
			admitted: 0,
			denied: 0,
		};
		expect(ledger.lease({ ...drain, lease: "o1" }).granted).toBe(20);
		// …and spends it all: its next call says so, and the bucket refills from empty.
		expect(ledger.lease({ ...drain, lease: "o2", previous: "o1" }).granted).toBe(0);
		const first = isolate.admit("t:a", small, 1);
		await roundTrip();
		expect(await first).toMatchObject({ allowed: false, reason: "tenant_rate" });
		// The pace: retry after the bucket refills a token and its two callers' pace, 200 ms.
		const paceEnd = clock.now() + drainedPaceMs(2, small);
		// Well inside the pace: denied here, no call.
		expect(isolate.admit("t:a", small, 1)).toMatchObject({ allowed: false });
		expect(calls).toBe(1);
		// Within two round trips of its end: still denied here, and the next call goes out now…
		clock.time = paceEnd - RTT - 10;
		expect(isolate.admit("t:a", small, 1)).toMatchObject({ allowed: false });
		expect(calls).toBe(2);
		await roundTrip();
		// …so that the request at the end finds its answer already here.
		clock.time = paceEnd;
		expect(isolate.admit("t:a", small, 1)).toMatchObject({ allowed: true });
	});
});

describe("many isolates", () => {
	it("never admit more than burst + rate × elapsed between them", async () => {
		const cluster = new Cluster();
		const isolates = Array.from({ length: 8 }, (_, i) => cluster.isolate(`i${i}`));
		let total = 0;
		const start = cluster.clock.now();
		for (let tick = 0; tick < 200; tick++) {
			const decisions = await Promise.all(
				isolates.flatMap((isolate) => Array.from({ length: 5 }, () => isolate.admit("t:a", starter, 1))),
			);
			total += admitted(decisions);
			cluster.clock.advance(10);
		}
		const ideal = starter.burst + (starter.rate * (cluster.clock.now() - start)) / 1000;
		expect(total).toBeLessThanOrEqual(ideal);
		// What is missing is refill waiting in the bucket for the next paced call: at most one pace of rate.
		expect(total).toBeGreaterThanOrEqual(ideal - (starter.rate * drainedPaceMs(8)) / 1000);
	});

	it("a tenant flooding over its limit costs at most one call per isolate per pace, grants included", async () => {
		const cluster = new Cluster();
		const isolates = Array.from({ length: 4 }, (_, i) => cluster.isolate(`i${i}`));
		// Drain the burst first, then flood at 4,000/s against 300/s for 2 s.
		const drain = await Promise.all(
			Array.from({ length: 1300 }, (_, i) => (isolates[i % 4] as LocalLimiter).admit("t:a", starter, 1)),
		);
		const before = cluster.calls.tenant;
		let total = admitted(drain);
		for (let ms = 0; ms < 2_000; ms++) {
			cluster.clock.advance(1);
			const decisions = await Promise.all(isolates.map((isolate) => isolate.admit("t:a", starter, 1)));
			total += admitted(decisions);
		}
		await settle();
		// Four isolates wait 400 ms each between calls: about 10 calls a second for the tenant, not 40.
		expect(cluster.calls.tenant - before).toBeLessThanOrEqual(4 * (2_000 / drainedPaceMs(4)) + 4);
		// Refill that arrives while isolates deny locally waits in the bucket: only the last pace's is still there.
		expect(total).toBeLessThanOrEqual(starter.burst + starter.rate * 2);
		expect(total).toBeGreaterThanOrEqual(starter.burst + starter.rate * 2 - (starter.rate * drainedPaceMs(4)) / 1000);
	});

	it("unspent tokens go back with the next call", async () => {
		const cluster = new Cluster();
		const ledger = cluster.ledger("t:a");
		const ask = { key: "t:a", isolate: "a", policy: starter, min: 1, admitted: 0, denied: 0 };
		expect((await ledger.lease({ ...ask, lease: "a1", want: 100, returned: 0 })).remaining).toBe(1100);
		const next = await ledger.lease({ ...ask, lease: "a2", previous: "a1", want: 1, returned: 60 });
		expect(next.remaining).toBe(1159);
		expect(ledger.snapshot()?.leasedOut).toBe(1);
	});

	it("a bucket that refilled while leases were out cannot stack on them: any window stays within burst + rate × length", async () => {
		const cluster = new Cluster();
		const ledger = cluster.ledger("t:a");
		const ask = { key: "t:a", policy: starter, min: 1, returned: 0, admitted: 0, denied: 0 };
		// Eight isolates take 120 each and sit on them while the bucket refills for 900 ms.
		for (let i = 0; i < 8; i++) await ledger.lease({ ...ask, isolate: `i${i}`, lease: `i${i}`, want: 120 });
		cluster.clock.advance(900);
		const more = await ledger.lease({ ...ask, isolate: "late", lease: "late", want: 10_000 });
		// Spending the 960 held plus everything granted now stays within one burst (+ 900 ms of rate).
		expect(960 + more.granted).toBeLessThanOrEqual(1200 + 0.9 * 300);
		expect(960 + more.granted + more.remaining).toBeLessThanOrEqual(1200);
	});
});

describe("burst pool", () => {
	it("a burst from several isolates at once is not refused by a pool that has tokens", async () => {
		const cluster = new Cluster();
		const isolates = Array.from({ length: 4 }, (_, i) => cluster.isolate(`i${i}`));
		const decisions = await Promise.all(
			Array.from({ length: 1300 }, (_, i) => (isolates[i % 4] as LocalLimiter).admit("t:a", starter, 1)),
		);
		expect(decisions.filter((d) => !d.allowed && d.reason === "burst_pool")).toHaveLength(0);
		// What is missing from the burst sits in leases other isolates still hold.
		expect(admitted(decisions)).toBeGreaterThanOrEqual(0.9 * starter.burst);
		expect(admitted(decisions)).toBeLessThanOrEqual(starter.burst);
	});

	it("a pool denial does not charge the tenant: what it leased waits in the isolate for the pool", async () => {
		// 10 pool tokens, one more every 100 ms: the isolate's shard runs dry long before the tenant's bucket.
		const pool = { rate: 10, burst: 10 };
		const cluster = new Cluster({ pool });
		const isolate = cluster.isolate();
		const decisions = await Promise.all(Array.from({ length: 30 }, () => isolate.admit("t:a", starter, 1)));
		expect(admitted(decisions)).toBe(pool.burst);
		expect(decisions.filter((d) => !d.allowed).every((d) => d.reason === "burst_pool")).toBe(true);
		const ledger = cluster.ledger("t:a");
		const before = ledger.snapshot();
		const tenantCalls = cluster.calls.tenant;
		// The tenant's bucket was debited for its leases only, which cover more than the pool let through.
		expect(starter.burst - (before?.tokens ?? 0)).toBeGreaterThan(pool.burst);
		// More pool denials, answered from the isolate's cache: the tenant's bucket is neither asked nor charged.
		for (let i = 0; i < 20; i++) {
			expect(await isolate.admit("t:a", starter, 1)).toMatchObject({ allowed: false, reason: "burst_pool", pool });
		}
		await settle();
		expect(ledger.snapshot()).toEqual(before);
		expect(cluster.calls.tenant).toBe(tenantCalls);
		// Once the pool has a token again, the tenant's tokens still in the isolate's lease admit: no call to its bucket.
		cluster.clock.advance(1_000 / pool.rate);
		expect(await isolate.admit("t:a", starter, 1)).toMatchObject({ allowed: true });
		expect(cluster.calls.tenant).toBe(tenantCalls);
	});

	it("one pool lease serves all of an isolate's tenants: its calls follow the traffic, not the tenants", async () => {
		/** Calls made by one isolate serving `count` tenants for 2 s, 400 requests/s in all. */
		const callsWith = async (count: number) => {
			const cluster = new Cluster();
			const isolate = cluster.isolate();
			const tenants = Array.from({ length: count }, (_, i) => `t:${i}`);
			for (let request = 0; request < 800; request++) {
				await isolate.admit(tenants[request % count] as string, starter, 1);
				cluster.clock.advance(2.5);
			}
			await settle();
			return cluster.calls;
		};
		const few = await callsWith(4);
		const many = await callsWith(16);
		expect(many.tenant).toBeGreaterThan(few.tenant);
		expect(many.pool).toBeLessThanOrEqual(few.pool + 1);
		expect(many.pool).toBeLessThan(many.tenant / 2);
	});
});

/** A lease request of tenant `t:a` under starter, nothing handed back or reported, unless `fields` say otherwise. */
function leaseRequest(fields: Pick<LeaseRequest, "isolate" | "lease" | "want"> & Partial<LeaseRequest>): LeaseRequest {
	return { key: "t:a", policy: starter, min: 1, returned: 0, admitted: 0, denied: 0, ...fields };
}

describe("tenant ledger", () => {
	it("a grant that leaves the bucket half full or more is a long lease, one that leaves less a short one", () => {
		const clock = new FakeClock();
		const ledger = new TenantLedger(undefined, { now: clock.now, save: () => {} });
		const ask = (lease: string, want: number) => leaseRequest({ isolate: lease, lease, want });
		// 1,200 − 500 leaves 700, over half of the burst; − 200 more leaves 500, under it.
		expect(ledger.lease(ask("long", 500))).toMatchObject({ granted: 500, ttlMs: ROOMY_LEASE_TTL_MS });
		expect(ledger.lease(ask("short", 200))).toMatchObject({ granted: 200, ttlMs: LEASE_TTL_MS });
		// Each is counted as out for its own lifetime and the grace.
		clock.advance(LEASE_TTL_MS + LEASE_GRACE_MS - 1);
		expect(ledger.snapshot()?.leasedOut).toBe(700);
		clock.advance(1);
		expect(ledger.snapshot()?.leasedOut).toBe(500);
		clock.advance(ROOMY_LEASE_TTL_MS - LEASE_TTL_MS - 1);
		expect(ledger.snapshot()?.leasedOut).toBe(500);
		clock.advance(1);
		expect(ledger.snapshot()?.leasedOut).toBe(0);
	});

	it("a drained pool shard paces its many callers by a quarter of its refill time, 250 ms, not a second", () => {
		const clock = new FakeClock();
		const shard = new TenantLedger(undefined, { now: clock.now, save: () => {}, lifetimes: POOL_LEASE_LIFETIMES });
		// One of 8 shards of a 50,000/s pool: 6,250/s, burst 6,250.
		const policy = shardPolicy({ rate: 50_000, burst: 50_000 }, 8, clock.now());
		shard.configure(policy, BURST_POOL_TIER);
		const ask = (isolate: string) =>
			leaseRequest({ key: shardName(0), policy, isolate, lease: `${isolate}:1`, want: 1_000 });
		// 20 isolates take the whole shard; the next asks are refused, and told to wait 250 ms.
		for (let i = 0; i < 20; i++) shard.lease(ask(`i${i}`));
		expect(shard.lease(ask("i0"))).toMatchObject({ granted: 0, retryAfterMs: 250 });
	});

	it("an empty bucket paces its callers by how many isolates asked within the last second", async () => {
		const cluster = new Cluster();
		const ledger = cluster.ledger("t:a");
		let calls = 0;
		const last = new Map<string, string>();
		// Every call is a new lease that ends the isolate's previous one, all of it spent.
		const ask = (isolate: string) => {
			const lease = `l${++calls}`;
			const previous = last.get(isolate);
			last.set(isolate, lease);
			const base = { key: "t:a", policy: starter, min: 1, want: 1200, returned: 0, admitted: 0, denied: 0 };
			return { ...base, isolate, lease, ...(previous && { previous }) };
		};
		// One isolate drains the bucket: denied, it may ask again after DENY_CACHE_MS.
		while ((await ledger.lease(ask("i0"))).granted > 0);
		const alone = await ledger.lease(ask("i0"));
		expect(alone.retryAfterMs).toBe(DENY_CACHE_MS);
		// Three more isolates ask: each of the four now waits 400 ms, granted or denied.
		for (const isolate of ["i1", "i2"]) await ledger.lease(ask(isolate));
		expect((await ledger.lease(ask("i3"))).retryAfterMs).toBe(drainedPaceMs(4));
		cluster.clock.advance(100);
		const grant = await ledger.lease(ask("i0"));
		expect(grant).toMatchObject({ granted: 30, remaining: 0, paceMs: drainedPaceMs(4) });
		// A second later only the isolate still asking counts.
		cluster.clock.advance(1_001);
		expect((await ledger.lease(ask("i0"))).paceMs).toBe(DENY_CACHE_MS);
	});

	it("state survives eviction: a drained bucket stays drained", async () => {
		const cluster = new Cluster();
		const isolate = cluster.isolate();
		await Promise.all(Array.from({ length: 1300 }, () => isolate.admit("t:a", starter, 1)));
		cluster.evict("t:a");
		const fresh = cluster.isolate();
		expect((await fresh.admit("t:a", starter, 1)).allowed).toBe(false);
		expect(cluster.ledger("t:a").snapshot()?.tokens).toBe(0);
	});

	it("a newer policy version replaces an older one, never the reverse", async () => {
		const cluster = new Cluster();
		const isolate = cluster.isolate();
		const scale = policyForTier("scale", 5) as TenantPolicy;
		await isolate.admit("t:a", scale, 1);
		const stale = cluster.isolate();
		const decision = await stale.admit("t:a", starter, 1);
		expect(decision.policy).toMatchObject({ tier: "scale", version: 5 });
		expect(cluster.ledger("t:a").snapshot()?.policy.tier).toBe("scale");
	});

	it("a pool shard counts isolates' pool leases as out until their lifetime and grace are over, as a tenant's bucket does", async () => {
		const cluster = new Cluster();
		const isolates = Array.from({ length: 3 }, (_, i) => cluster.isolate(`i${i}`));
		for (const isolate of isolates) expect((await isolate.admit("t:a", starter, 1)).allowed).toBe(true);
		await settle();
		// Each isolate's first pool lease: no demand seen yet, one request waiting.
		const each = poolLeaseSize(0, DEFAULT_BURST_POOL.burst, 1, 1);
		const out = isolates.length * each;
		const { burst } = DEFAULT_BURST_POOL;
		expect(cluster.pool.snapshot()).toMatchObject({ leases: isolates.length, leasedOut: out, tokens: burst - out });
		// The shard refills meanwhile, but never on top of what is still leased out…
		cluster.clock.advance(POOL_LEASE_TTL_MS + LEASE_GRACE_MS - 1);
		expect(cluster.pool.snapshot()).toMatchObject({ leasedOut: out, tokens: burst - out });
		// …and stops counting the leases once isolates may no longer spend them: their unspent tokens refill in place.
		cluster.clock.advance(1);
		expect(cluster.pool.snapshot()).toMatchObject({ leasedOut: 0, tokens: burst });
		// An isolate whose lease expired leases afresh; the old lease is not counted again.
		expect((await (isolates[0] as LocalLimiter).admit("t:a", starter, 1)).allowed).toBe(true);
		expect(cluster.pool.snapshot()).toMatchObject({ leases: isolates.length + 1, leasedOut: each });
	});
});
