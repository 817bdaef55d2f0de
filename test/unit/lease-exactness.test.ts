/**
 * Breaks of the lease protocol's exactness found by an adversarial review
 * (issue 13), each against the real ledger and isolate code on a fake clock.
 */
import { describe, expect, it } from "vitest";
import { Cluster, FakeClock } from "../../sim/cluster";
import { worstWindowExcess } from "../../sim/scenarios";
import type { BucketPolicy } from "../../src/limiter/bucket";
import { BurstPoolLedger, newPool } from "../../src/limiter/burst-pool-ledger";
import { LEASE_TTL_MS, type LeaseReply, type LeaseRequest, type PoolLeaseRequest } from "../../src/limiter/lease";
import { LocalLimiter } from "../../src/limiter/local";
import { TenantLedger } from "../../src/limiter/tenant-ledger";
import { DEFAULT_BURST_POOL, policyForTier, type TenantPolicy } from "../../src/tiers";

const starter = policyForTier("starter") as TenantPolicy;

/** A tenant's ledger with an endless pool, on `clock`. */
function ledgerOn(clock: FakeClock): TenantLedger {
	return new TenantLedger(undefined, {
		now: clock.now,
		pool: async (request) => ({ granted: request.want, retryAfterMs: 0, policy: DEFAULT_BURST_POOL }),
		save: () => {},
	});
}

const ask = (isolate: string, lease: string, fields: Partial<LeaseRequest> = {}): LeaseRequest => ({
	key: "t:a",
	isolate,
	lease,
	policy: starter,
	min: 1,
	want: 1,
	returned: 0,
	admitted: 0,
	denied: 0,
	...fields,
});

/** Requests admitted by `isolate` right now, of `count` tried, answered without a lease call. */
function spendNow(isolate: LocalLimiter, count: number, policy = starter): number {
	let spent = 0;
	for (let i = 0; i < count; i++) {
		const decision = isolate.admit("t:a", policy, 1);
		if (decision instanceof Promise) break;
		if (decision.allowed) spent += 1;
	}
	return spent;
}

describe("tokens of an expired lease", () => {
	it("handed back after the bucket stopped counting them are not credited again", async () => {
		const clock = new FakeClock();
		const ledger = ledgerOn(clock);
		// Isolate A holds 120 tokens it never spends; its lease expires; the tenant is idle 10 s.
		expect((await ledger.lease(ask("A", "a1", { want: 120 }))).granted).toBe(120);
		clock.advance(10_000);
		// B takes the whole (refilled) bucket at once, spends it, and asks again (its lease is over).
		expect((await ledger.lease(ask("B", "b1", { min: 1_200, want: 1_200 }))).granted).toBe(1_200);
		expect((await ledger.lease(ask("B", "b2", { previous: "b1" }))).granted).toBe(0);
		// A comes back with its expired 120: crediting them would let the same instant admit 1,320.
		const again = await ledger.lease(ask("A", "a2", { previous: "a1", returned: 120, min: 1, want: 120 }));
		expect(1_200 + again.granted).toBeLessThanOrEqual(starter.burst);
	});

	it("are not handed back by the isolate", async () => {
		const clock = new FakeClock();
		const asked: LeaseRequest[] = [];
		const isolate = new LocalLimiter({
			now: clock.now,
			isolateId: "A",
			wait: () => new Promise<void>(() => {}),
			grantor: async (request): Promise<LeaseReply> => {
				asked.push(request);
				return { granted: 10, ttlMs: LEASE_TTL_MS, remaining: 1_000, retryAfterMs: 0, policy: starter };
			},
		});
		expect((await isolate.admit("t:a", starter, 1)).allowed).toBe(true);
		clock.advance(LEASE_TTL_MS + 1);
		await isolate.admit("t:a", starter, 1);
		expect(asked.at(-1)).toMatchObject({ returned: 0 });
	});
});

describe("two lease calls of one isolate", () => {
	it("are counted apart: the second cannot renew what the first already renewed", async () => {
		const clock = new FakeClock();
		const ledger = ledgerOn(clock);
		expect((await ledger.lease(ask("A", "a1", { want: 120 }))).granted).toBe(120);
		// An ahead-of-time call keeps 100 of a1 and misses its deadline; a second call names a1 again.
		const first = await ledger.lease(ask("A", "a2", { previous: "a1", held: 100, want: 120 }));
		const second = await ledger.lease(ask("A", "a3", { previous: "a1", held: 100, want: 120 }));
		expect(first).toMatchObject({ granted: 120, held: 100 });
		expect(second.held ?? 0).toBe(0);
		// Everything the isolate can spend stays counted: 100 kept + 120 + what the second granted.
		expect(ledger.snapshot()?.leasedOut).toBe(100 + 120 + second.granted);
		// So whoever takes the rest at this instant cannot push the total over the burst.
		const rest = await ledger.lease(ask("B", "b1", { min: 1, want: 1_200 }));
		expect(100 + 120 + second.granted + rest.granted).toBeLessThanOrEqual(starter.burst);
	});

	it("the isolate drops held tokens the bucket did not renew once a new grant lands", async () => {
		const clock = new FakeClock();
		const replies: LeaseReply[] = [
			{ granted: 20, ttlMs: LEASE_TTL_MS, remaining: 1_000, retryAfterMs: 0, policy: starter },
			// The renewal went to another call: this one grants 5 and keeps nothing.
			{ granted: 5, held: 0, ttlMs: LEASE_TTL_MS, remaining: 1_000, retryAfterMs: 0, policy: starter },
		];
		const isolate = new LocalLimiter({
			now: clock.now,
			isolateId: "A",
			wait: () => new Promise<void>(() => {}),
			grantor: async () => replies.shift() as LeaseReply,
		});
		expect((await isolate.admit("t:a", starter, 1)).allowed).toBe(true);
		// 19 left; spend down to the prefetch point (a quarter of 20), which asks ahead of time.
		expect(spendNow(isolate, 14)).toBe(14);
		for (let i = 0; i < 5; i++) await Promise.resolve();
		// 5 held tokens not renewed are dropped: only the 5 granted can be spent.
		expect(spendNow(isolate, 20)).toBe(5);
	});
});

describe("a late reply", () => {
	it("is spent only within the lease's lifetime counted from when it was asked for", async () => {
		const clock = new FakeClock();
		const ledger = ledgerOn(clock);
		// The reply reaches the isolate 1.5 s after the bucket granted it.
		const isolate = new LocalLimiter({
			now: clock.now,
			isolateId: "A",
			failMode: "closed",
			wait: () => new Promise<void>(() => {}),
			grantor: async (request) => {
				const reply = await ledger.lease(request);
				clock.advance(1_500);
				return reply;
			},
		});
		const first = await isolate.admit("t:a", starter, 1);
		expect(first).toMatchObject({ allowed: false, fallback: "closed" });
		// The bucket stops counting the lease 2 s after the grant and refills; B then takes all of it.
		clock.advance(600);
		expect((await ledger.lease(ask("B", "b1", { min: 1_200, want: 1_200 }))).granted).toBe(1_200);
		// What A spent now would be on top of B's 1,200.
		expect(spendNow(isolate, 200)).toBe(0);
	});
});

describe("the pool", () => {
	it("counts the reserves tenants hold: one instant never admits more than its burst", async () => {
		const pool: BucketPolicy = { rate: 100, burst: 1_000 };
		const cluster = new Cluster({ pool });
		const isolate = cluster.isolate("A");
		const tenants = Array.from({ length: 20 }, (_, i) => `t:${i}`);
		// Each tenant takes a little, so that its bucket leases a reserve from the pool.
		for (const key of tenants) await isolate.admit(key, starter, 1);
		// Lightly active for 10 s: the pool refills meanwhile.
		for (let s = 0; s < 10; s++) {
			cluster.clock.advance(1_000);
			for (const key of tenants) await isolate.admit(key, starter, 1);
		}
		// Then every tenant floods at one instant, from fresh isolates (no leases held).
		let admitted = 0;
		for (const key of tenants) {
			const flood = cluster.isolate(`flood-${key}`);
			const decisions = await Promise.all(Array.from({ length: 400 }, () => flood.admit(key, starter, 1)));
			admitted += decisions.filter((d) => d.allowed).length;
		}
		expect(admitted).toBeLessThanOrEqual(pool.burst);
		expect(admitted).toBeGreaterThan(0);
	});

	it("charges fair-queue time only under contention", () => {
		const clock = new FakeClock();
		const ledger = new BurstPoolLedger(newPool({ rate: 6_000, burst: 6_000 }, clock.now()), {
			now: clock.now,
			save: () => {},
		});
		const lease = (key: string, want: number, weight = 1): number =>
			ledger.lease({ key, weight, min: 1, want, returned: 0 } satisfies PoolLeaseRequest).granted;
		// A large uncontended grant, handed back: the pool is roomy again.
		expect(lease("big", 1_000)).toBe(1_000);
		ledger.lease({ key: "big", weight: 1, min: 0, want: 0, returned: 1_000 });
		clock.advance(1_000);
		// Now contended, with a peer of the same weight: the earlier grant is no debt, so both are served.
		expect(lease("peer", 5_000)).toBeGreaterThan(0);
		expect(lease("big", 5_000)).toBeGreaterThan(0);
	});

	it("a remembered refusal does not deny what the tenant's own reserve covers", async () => {
		const clock = new FakeClock();
		const poolCalls: PoolLeaseRequest[] = [];
		const ledger = new TenantLedger(undefined, {
			now: clock.now,
			pool: async (request) => {
				poolCalls.push(request);
				return poolCalls.length === 1
					? { granted: 10, retryAfterMs: 0, policy: DEFAULT_BURST_POOL }
					: { granted: 0, retryAfterMs: 1_000, policy: DEFAULT_BURST_POOL };
			},
			save: () => {},
		});
		expect((await ledger.lease(ask("A", "a1", { want: 10 }))).granted).toBe(10);
		// B's lease needs the pool, which refuses; the refusal is remembered for a second.
		expect(await ledger.lease(ask("B", "b1", { want: 5 }))).toMatchObject({ granted: 0, reason: "burst_pool" });
		// A hands its 10 back: the reserve covers a request for 1 of the 20 it would like.
		const again = await ledger.lease(ask("A", "a2", { previous: "a1", returned: 10, want: 20 }));
		expect(again.granted).toBeGreaterThanOrEqual(1);
		expect(poolCalls).toHaveLength(2);
	});
});

describe("FAIL_MODE=local", () => {
	it("keeps one isolate within the tier even when its bucket fails every other second", async () => {
		let failing = false;
		const cluster = new Cluster({ failTenantCall: () => failing });
		const isolate = cluster.isolate("A");
		const start = cluster.clock.now();
		const cumulative: number[] = [];
		const times: number[] = [];
		let admitted = 0;
		let firstFailure = -1;
		for (let tick = 0; tick < 1_000; tick++) {
			const now = cluster.clock.now();
			failing = Math.floor((now - start) / 1_000) % 2 === 1;
			if (failing && firstFailure < 0) firstFailure = tick;
			const decisions = await Promise.all(Array.from({ length: 10 }, () => isolate.admit("t:a", starter, 1)));
			admitted += decisions.filter((d) => d.allowed).length;
			cumulative.push(admitted);
			times.push(now);
			cluster.clock.advance(10);
		}
		// From its first failure on, the isolate alone keeps to burst + rate × span in every window.
		const from = firstFailure - 1;
		const base = cumulative[from] ?? 0;
		const after = cumulative.slice(from + 1).map((count) => count - base);
		expect(worstWindowExcess(after, times.slice(from + 1), starter)).toBe(0);
	});

	it("what the isolate admitted alone counts against the bucket once it answers again", async () => {
		let failing = true;
		const cluster = new Cluster({ failTenantCall: () => failing });
		const isolate = cluster.isolate("A");
		const admitAll = async (count: number): Promise<number> => {
			let admitted = 0;
			for (let i = 0; i < count; i++) if ((await isolate.admit("t:a", starter, 1)).allowed) admitted += 1;
			return admitted;
		};
		// The first failure: the isolate alone admits a full burst, which the bucket never saw.
		expect(await admitAll(1_300)).toBe(starter.burst);
		// The breaker's second later the bucket answers, and must not hand out a second full burst.
		failing = false;
		cluster.clock.advance(1_000);
		const afterRecovery = await admitAll(1_300);
		expect(starter.burst + afterRecovery).toBeLessThanOrEqual(starter.burst + starter.rate * 1);
	});
});

describe("a bucket in debt", () => {
	it("after a failure's admissions are debited tells isolates 0 remaining, never less, and refills from the debt", async () => {
		const clock = new FakeClock();
		const ledger = ledgerOn(clock);
		// Two isolates each admitted a burst on their own while the bucket could not answer.
		const reply = await ledger.lease(ask("A", "a1", { spent: 2_400 }));
		expect(reply).toMatchObject({ granted: 0, remaining: 0 });
		// 1,200 in debt: 4 s of refill before the first token.
		clock.advance(3_900);
		expect((await ledger.lease(ask("A", "a2"))).granted).toBe(0);
		clock.advance(200);
		expect((await ledger.lease(ask("A", "a3"))).granted).toBe(1);
	});
});

describe("the pool reserve", () => {
	it("is not released while a pool call is in flight (its grant would go uncounted)", async () => {
		const clock = new FakeClock();
		let answer: (() => void) | undefined;
		const requests: PoolLeaseRequest[] = [];
		const ledger = new TenantLedger(undefined, {
			now: clock.now,
			pool: async (request) => {
				requests.push(request);
				if (requests.length > 1) await new Promise<void>((resolve) => (answer = resolve));
				return {
					granted: request.want,
					held: request.held ?? 0,
					ttlMs: 2_000,
					retryAfterMs: 0,
					policy: DEFAULT_BURST_POOL,
				};
			},
			save: () => {},
		});
		expect((await ledger.lease(ask("A", "a1", { want: 2 }))).granted).toBe(2);
		// A lease that needs the pool again; its reply is slow.
		const pending = ledger.lease(ask("A", "a2", { previous: "a1", min: 50, want: 50 }));
		clock.advance(1_000);
		expect(await ledger.releaseIdlePool(1_000)).not.toBeNull();
		expect(requests.filter((r) => r.want === 0)).toHaveLength(0);
		answer?.();
		expect((await pending).granted).toBe(50);
	});

	it("a refusal for a cost the pool can never grant does not shut the tenant out of the pool", async () => {
		const cluster = new Cluster({ pool: { rate: 100, burst: 500 } });
		expect(await cluster.isolate("A").admit("t:a", starter, 600)).toMatchObject({ allowed: false });
		cluster.clock.advance(1_000);
		expect((await cluster.isolate("B").admit("t:a", starter, 1)).allowed).toBe(true);
	});
});
