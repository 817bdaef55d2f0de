import { describe, expect, it } from "vitest";
import { Cluster, FakeClock } from "../../sim/cluster";
import type { FailMode } from "../../src/limiter/failure-policy";
import type { LeaseReply, LeaseRequest } from "../../src/limiter/lease";
import { type Decision, LocalLimiter } from "../../src/limiter/local";
import { TenantLedger } from "../../src/limiter/tenant-ledger";
import { policyForTier, type TenantPolicy } from "../../src/tiers";

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
		for (let i = 0; i < 30; i++) await Promise.resolve();
		// Three admitted by the failure policy, one by the lease; the next call (fetched ahead) reported them all.
		expect(cluster.ledger("t:a").snapshot()).toMatchObject({ fallbacks: 3, admitted: 4 });
	});
});

describe.each(["open", "closed", "local"] as const)("a failing BurstPool under FAIL_MODE=%s", (mode) => {
	it("fails the TenantBucket's lease, so the edge's failure policy answers; the tenant is not charged", async () => {
		const clock = new FakeClock();
		let poolUp = false;
		const ledger = new TenantLedger(undefined, {
			now: clock.now,
			save: () => {},
			pool: async (request) => {
				if (!poolUp) throw new Error("pool unavailable");
				return { granted: request.want, retryAfterMs: 0, policy: { rate: 50_000, burst: 50_000 } };
			},
		});
		const limiter = new LocalLimiter({
			now: clock.now,
			isolateId: "i",
			failMode: mode,
			grantor: (request) => ledger.lease(request),
		});
		const during = await limiter.admit("t:a", starter, 1);
		expect(during).toMatchObject({ allowed: mode !== "closed", fallback: mode });
		expect(ledger.snapshot()?.tokens).toBe(starter.burst);
		poolUp = true;
		clock.advance(1_001);
		const after = await limiter.admit("t:a", starter, 1);
		expect(after.allowed).toBe(true);
		expect(after.fallback).toBeUndefined();
		expect(ledger.snapshot()).toMatchObject({ fallbacks: 1 });
	});
});
