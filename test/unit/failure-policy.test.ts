import { describe, expect, it } from "vitest";
import { Cluster, FakeClock } from "../../sim/cluster";
import type { FailMode } from "../../src/limiter/failure-policy";
import { type LeaseReply, type LeaseRequest, POOL_LEASE_LIFETIMES } from "../../src/limiter/lease";
import { type Decision, LocalLimiter } from "../../src/limiter/local";
import { BURST_POOL_TIER, shardName, shardPolicy } from "../../src/limiter/pool-shards";
import { TenantLedger } from "../../src/limiter/tenant-ledger";
import { DEFAULT_BURST_POOL, policyForTier, type TenantPolicy } from "../../src/tiers";

const anonymous = policyForTier("anonymous") as TenantPolicy;
const starter = policyForTier("starter") as TenantPolicy;

/** A deadline the test fires by hand. */
function manualDeadline() {
	const pending: (() => void)[] = [];
	return {
		wait: () => new Promise<void>((resolve) => pending.push(resolve)),
		fire: () => {
			for (const resolve of pending.splice(0)) resolve();
		},
	};
}

function failing(mode: FailMode, fault: "throw" | "overload" | "hang") {
	const clock = new FakeClock();
	const deadline = manualDeadline();
	const calls: LeaseRequest[] = [];
	const limiter = new LocalLimiter({
		now: clock.now,
		isolateId: "i",
		failMode: mode,
		timeoutMs: 50,
		breakerMs: 1_000,
		wait: deadline.wait,
		grantor: (request) => {
			calls.push(request);
			if (fault === "hang") return new Promise<LeaseReply>(() => {});
			const error = Object.assign(new Error("object failed"), fault === "overload" ? { overloaded: true } : {});
			return Promise.reject(error);
		},
	});
	return { clock, deadline, calls, limiter };
}

async function decide(setup: ReturnType<typeof failing>): Promise<Decision> {
	const pending = setup.limiter.admit("anon:1", anonymous, 1);
	for (let i = 0; i < 10; i++) await Promise.resolve();
	setup.deadline.fire();
	return pending;
}

describe.each(["throw", "overload", "hang"] as const)("a bucket that fails by %s", (fault) => {
	it("FAIL_MODE=open admits and marks the decision", async () => {
		const decision = await decide(failing("open", fault));
		expect(decision).toMatchObject({ allowed: true, fallback: "open" });
	});

	it("FAIL_MODE=closed refuses with a retry time", async () => {
		const decision = await decide(failing("closed", fault));
		expect(decision).toMatchObject({ allowed: false, fallback: "closed" });
		expect(decision.allowed === false && decision.retryAfterMs).toBeGreaterThan(0);
	});

	it("FAIL_MODE=local enforces the tier's burst and rate from the isolate alone", async () => {
		const setup = failing("local", fault);
		const decisions: Decision[] = [];
		for (let i = 0; i < 25; i++) decisions.push(await decide(setup));
		expect(decisions.filter((d) => d.allowed)).toHaveLength(20);
		expect(decisions.every((d) => d.fallback === "local")).toBe(true);
		setup.clock.advance(500);
		const later: Decision[] = [];
		for (let i = 0; i < 10; i++) later.push(await decide(setup));
		expect(later.filter((d) => d.allowed)).toHaveLength(5);
	});

	it("the circuit breaker keeps the failing object from being called per request, then probes once", async () => {
		const setup = failing("local", fault);
		for (let i = 0; i < 30; i++) await decide(setup);
		expect(setup.calls).toHaveLength(1);
		setup.clock.advance(fault === "overload" ? 2_000 : 1_000);
		await decide(setup);
		await decide(setup);
		expect(setup.calls).toHaveLength(2);
	});
});

describe("an object that fails while its lease is still being spent", () => {
	// With the request's context to keep background work alive (the Worker's case), and without (a library caller's).
	it.each([
		["a context", { waitUntil: () => {} }],
		["no context", undefined],
	])("is not called again by renewals ahead of time before the breaker's time is up (%s)", async (_, defer) => {
		const clock = new FakeClock();
		const calls: number[] = [];
		let failing = false;
		const limiter = new LocalLimiter({
			now: clock.now,
			isolateId: "i",
			failMode: "open",
			breakerMs: 1_000,
			grantor: async (request) => {
				calls.push(clock.now());
				if (failing) throw new Error("object failed");
				const granted = Math.max(request.min, 20);
				return { granted, ttlMs: 2_000, remaining: 1_000, retryAfterMs: 0, policy: starter };
			},
		});
		const settle = async () => {
			for (let i = 0; i < 20; i++) await Promise.resolve();
		};
		expect(await limiter.admit("t:a", starter, 1, defer)).toMatchObject({ allowed: true });
		await settle();
		failing = true;
		const start = calls.length;
		// A request every 10 ms for a second: the lease's 20 tokens run low, and its end comes near.
		const opened: number[] = [];
		for (let t = 0; t < 100; t++) {
			clock.advance(10);
			await limiter.admit("t:a", starter, 1, defer);
			await settle();
			if (calls.length > start && opened.length === 0) opened.push(clock.now());
		}
		// The first failed call opens the breaker: until it is a second old, nothing calls the object again.
		const during = calls.filter((at) => at > (opened[0] as number) && at < (opened[0] as number) + 1_000);
		expect(opened).toHaveLength(1);
		expect(during).toEqual([]);
	});
});

describe("deadline", () => {
	it("a request does not wait past the deadline for a hanging object", async () => {
		const setup = failing("open", "hang");
		let settled = false;
		const pending = Promise.resolve(setup.limiter.admit("anon:1", anonymous, 1)).then((d) => {
			settled = true;
			return d;
		});
		for (let i = 0; i < 20; i++) await Promise.resolve();
		expect(settled).toBe(false);
		setup.deadline.fire();
		expect(await pending).toMatchObject({ allowed: true, fallback: "open" });
	});
});

describe("recovery and accounting", () => {
	it("fallback decisions are counted and reported to the bucket once it answers again", async () => {
		const cluster = new Cluster({ failTenantCall: () => failingNow });
		let failingNow = true;
		const deadline = manualDeadline();
		const isolate = new LocalLimiter({
			now: cluster.clock.now,
			isolateId: "i",
			failMode: "open",
			wait: deadline.wait,
			grantor: (request) => cluster.leaseTenant(request),
		});
		for (let i = 0; i < 3; i++) {
			const pending = isolate.admit("t:a", anonymous, 1);
			for (let j = 0; j < 10; j++) await Promise.resolve();
			deadline.fire();
			expect(await pending).toMatchObject({ fallback: "open" });
		}
		failingNow = false;
		cluster.clock.advance(1_000);
		const ok = await isolate.admit("t:a", anonymous, 1);
		expect(ok).toMatchObject({ allowed: true });
		expect(ok.fallback).toBeUndefined();
		// The statistics go with the isolate's next call: spend its lease until it asks again (ahead of time).
		const calls = cluster.calls.tenant;
		let leased = 1;
		for (; cluster.calls.tenant === calls && leased < 100; leased++) {
			expect(await isolate.admit("t:a", anonymous, 1)).toMatchObject({ allowed: true });
			for (let i = 0; i < 30; i++) await Promise.resolve();
		}
		// Three admitted by the failure policy, the rest by the lease: that call reported them all.
		expect(cluster.ledger("t:a").snapshot()).toMatchObject({ fallbacks: 3, admitted: 3 + leased });
	});
});

describe.each(["open", "closed", "local"] as const)("a failing burst-pool shard under FAIL_MODE=%s", (mode) => {
	it("the failure policy answers for the pool's part; the tenant is charged exactly the tokens it leased", async () => {
		const clock = new FakeClock();
		const deadline = manualDeadline();
		let poolUp = false;
		const tenantCalls: LeaseRequest[] = [];
		const poolCalls: LeaseRequest[] = [];
		let tenantGranted = 0;
		const ledger = new TenantLedger(undefined, { now: clock.now, save: () => {} });
		const shard = new TenantLedger(undefined, { now: clock.now, save: () => {}, lifetimes: POOL_LEASE_LIFETIMES });
		shard.configure(shardPolicy(DEFAULT_BURST_POOL, 1, clock.now()), BURST_POOL_TIER);
		const limiter = new LocalLimiter({
			now: clock.now,
			isolateId: "i",
			failMode: mode,
			wait: deadline.wait,
			grantor: async (request) => {
				tenantCalls.push(structuredClone(request));
				const reply = ledger.lease(request);
				tenantGranted += reply.granted;
				return reply;
			},
			pool: {
				key: shardName(0),
				policy: DEFAULT_BURST_POOL,
				grantor: async (request) => {
					poolCalls.push(structuredClone(request));
					if (!poolUp) throw new Error("pool unavailable");
					return shard.lease(request);
				},
			},
		});
		const during = await limiter.admit("t:a", starter, 1);
		if (mode === "closed") {
			// Refused as when a tenant's bucket fails under closed (a 503), naming the pool; retried once the circuit probes.
			expect(during).toMatchObject({
				allowed: false,
				reason: "burst_pool",
				fallback: "closed",
				pool: DEFAULT_BURST_POOL,
			});
			expect(during.allowed === false && during.retryAfterMs).toBe(1_000);
		} else {
			expect(during).toMatchObject({ allowed: true, fallback: mode });
		}
		// The tenant's lease was granted as usual: its bucket lost what it leased, and not a token more.
		expect(tenantGranted).toBeGreaterThan(0);
		expect(ledger.snapshot()?.tokens).toBe(starter.burst - tenantGranted);
		// The pool is not asked again while its circuit is open; the failure policy keeps answering for it.
		expect(await limiter.admit("t:a", starter, 1)).toMatchObject({ allowed: mode !== "closed", fallback: mode });
		expect(poolCalls).toHaveLength(1);
		expect(ledger.snapshot()?.tokens).toBe(starter.burst - tenantGranted);
		poolUp = true;
		clock.advance(1_000);
		const after = await limiter.admit("t:a", starter, 1);
		expect(after.allowed).toBe(true);
		expect(after.fallback).toBeUndefined();
		for (let i = 0; i < 30; i++) await Promise.resolve();
		// The failure was the pool's: its shard hears of the fallbacks (and, under local, debits what was admitted
		// without it), while the tenant's bucket never does.
		const admittedAlone = mode === "closed" ? 0 : 2;
		expect(poolCalls[1]).toMatchObject({
			fallbacks: 2,
			admitted: admittedAlone,
			denied: 2 - admittedAlone,
			spent: mode === "local" ? admittedAlone : 0,
		});
		const pool = shard.snapshot();
		expect(pool?.fallbacks).toBe(2);
		expect((pool?.tokens ?? 0) + (pool?.leasedOut ?? 0)).toBe(
			DEFAULT_BURST_POOL.burst - (mode === "local" ? admittedAlone : 0),
		);
		expect(tenantCalls.every((request) => !request.spent && !request.fallbacks)).toBe(true);
	});
});

describe("the tenant's bucket and the pool both failing under FAIL_MODE=local", () => {
	it("charges the tenant only for what the pool's failure policy admitted", async () => {
		const clock = new FakeClock();
		const calls: LeaseRequest[] = [];
		let up = false;
		const limiter = new LocalLimiter({
			now: clock.now,
			isolateId: "i",
			failMode: "local",
			wait: () => new Promise<void>(() => {}),
			grantor: async (request) => {
				calls.push(request);
				if (!up) throw new Error("down");
				return { granted: 10, ttlMs: 2_000, remaining: 1_000, retryAfterMs: 0, policy: starter };
			},
			// An isolate-alone pool bucket of 2 tokens: the third request on is refused for the pool.
			pool: {
				key: "shard-0",
				policy: { rate: 1, burst: 2 },
				grantor: async () => Promise.reject(new Error("pool down")),
			},
		});
		const answers: Decision[] = [];
		for (let i = 0; i < 5; i++) answers.push(await limiter.admit("t:a", starter, 1));
		expect(answers.map((d) => (d.allowed ? "admitted" : d.reason))).toEqual([
			"admitted",
			"admitted",
			"burst_pool",
			"burst_pool",
			"burst_pool",
		]);
		up = true;
		clock.advance(1_000);
		await limiter.admit("t:a", starter, 1);
		// Before: the tenant's isolate-alone bucket ran first, so all five were reported spent (and admitted).
		expect(calls.at(-1)).toMatchObject({ admitted: 2, denied: 3, spent: 2 });
	});
});
