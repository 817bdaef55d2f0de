/**
 * Breaks of the lease protocol's exactness found by an adversarial review
 * (issue 13), each against the real ledger and isolate code on a fake clock.
 * A tenant's bucket and a burst-pool shard are the same ledger leased with the
 * same protocol, so the ledger's breaks are checked at both levels; the
 * isolate's, on its tenant lease and on its pool lease.
 */
import { describe, expect, it } from "vitest";
import { Cluster, FakeClock } from "../../sim/cluster";
import { worstWindowExcess } from "../../sim/scenarios";
import type { BucketPolicy } from "../../src/limiter/bucket";
import {
	LEASE_GRACE_MS,
	LEASE_TTL_MS,
	type LeaseReply,
	type LeaseRequest,
	POOL_LEASE_LIFETIMES,
	POOL_LEASE_TTL_MS,
	ROOMY_LEASE_TTL_MS,
} from "../../src/limiter/lease";
import { type Decision, type Grantor, LocalLimiter, type PoolOptions } from "../../src/limiter/local";
import { BURST_POOL_TIER, shardName, shardPolicy } from "../../src/limiter/pool-shards";
import { TenantLedger } from "../../src/limiter/tenant-ledger";
import { policyForTier, type TenantPolicy } from "../../src/tiers";

const starter = policyForTier("starter") as TenantPolicy;
const scale = policyForTier("scale") as TenantPolicy;

/** A deadline that never comes: calls here answer when the test says. */
const never = (): Promise<void> => new Promise<void>(() => {});

/** A burst-pool shard (the whole pool: one shard) on `clock`, as a BurstPool object holds it. */
function shardOn(clock: FakeClock, pool: BucketPolicy): TenantLedger {
	const ledger = new TenantLedger(undefined, { now: clock.now, save: () => {}, lifetimes: POOL_LEASE_LIFETIMES });
	ledger.configure(shardPolicy(pool, 1, clock.now()), BURST_POOL_TIER);
	return ledger;
}

/** One level of leasing: the ledger, the key and policy its requests carry, and how long its leases last. */
interface Level {
	name: string;
	key: string;
	policy: TenantPolicy;
	ttlMs: number;
	ledger(clock: FakeClock): TenantLedger;
}

const SHARD_POOL: BucketPolicy = { rate: 100, burst: 1_000 };

const levels: Level[] = [
	{
		name: "a tenant's bucket",
		key: "t:a",
		policy: starter,
		// The first grants here leave the bucket roomy: they are long leases.
		ttlMs: ROOMY_LEASE_TTL_MS,
		ledger: (clock) => new TenantLedger(undefined, { now: clock.now, save: () => {} }),
	},
	{
		name: "a burst-pool shard",
		key: shardName(0),
		policy: shardPolicy(SHARD_POOL, 1, 0),
		ttlMs: POOL_LEASE_TTL_MS,
		ledger: (clock) => shardOn(clock, SHARD_POOL),
	},
];

const askOf =
	(level: Level) =>
	(isolate: string, lease: string, fields: Partial<LeaseRequest> = {}): LeaseRequest => ({
		key: level.key,
		isolate,
		lease,
		policy: level.policy,
		min: 1,
		want: 1,
		returned: 0,
		admitted: 0,
		denied: 0,
		...fields,
	});

const ask = askOf(levels[0] as Level);

/** A grantor answering from `replies` in turn, then refusing; records what it was asked. */
function scripted(replies: LeaseReply[], asked: LeaseRequest[] = []): Grantor {
	return async (request) => {
		asked.push(request);
		return (
			replies.shift() ?? {
				granted: 0,
				ttlMs: 0,
				remaining: 0,
				retryAfterMs: 1_000,
				reason: "tenant_rate",
				policy: request.policy,
			}
		);
	};
}

/** A grantor that always grants `granted` tokens of `policy`: a side of the isolate that never binds. */
function plenty(granted: number, ttlMs: number, policy: TenantPolicy): Grantor {
	return async () => ({ granted, ttlMs, remaining: policy.burst, retryAfterMs: 0, policy });
}

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

const allowed = (decisions: Decision[]): number => decisions.filter((d) => d.allowed).length;

/** Lets lease calls started in the background land. */
async function settle(): Promise<void> {
	for (let i = 0; i < 20; i++) await Promise.resolve();
}

describe.each(levels)("$name", (level) => {
	const { burst, rate } = level.policy;
	/** The largest lease the ledger's isolates ask for: a tenth of the burst. */
	const part = burst / 10;
	const ask = askOf(level);

	describe("tokens of an expired lease", () => {
		it("handed back after the bucket stopped counting them are not credited again", () => {
			const clock = new FakeClock();
			const ledger = level.ledger(clock);
			// Isolate A holds a lease it never spends; the lease expires; the bucket is idle 10 s.
			expect(ledger.lease(ask("A", "a1", { want: part })).granted).toBe(part);
			clock.advance(10_000);
			// B takes the whole (refilled) bucket at once, spends it, and asks again (its lease is over).
			expect(ledger.lease(ask("B", "b1", { min: burst, want: burst })).granted).toBe(burst);
			expect(ledger.lease(ask("B", "b2", { previous: "b1" })).granted).toBe(0);
			// A comes back with its expired tokens: crediting them would let the same instant admit burst + part.
			const again = ledger.lease(ask("A", "a2", { previous: "a1", returned: part, want: part }));
			expect(burst + again.granted).toBeLessThanOrEqual(burst);
		});

		it("kept past the bucket's count are not counted under a new lease", () => {
			const clock = new FakeClock();
			const ledger = level.ledger(clock);
			expect(ledger.lease(ask("A", "a1", { want: part })).granted).toBe(part);
			clock.advance(level.ttlMs + LEASE_GRACE_MS);
			expect(ledger.lease(ask("B", "b1", { min: burst, want: burst })).granted).toBe(burst);
			// A asks ahead of time, keeping its whole (expired) lease: it must not be told to keep spending it.
			const again = ledger.lease(ask("A", "a2", { previous: "a1", held: part, want: part }));
			expect(burst + (again.held ?? 0) + again.granted).toBeLessThanOrEqual(burst);
		});
	});

	describe("an isolate whose clock runs behind the bucket's", () => {
		it("spends its lease while the bucket still counts it, by up to LEASE_GRACE_MS", () => {
			const clock = new FakeClock();
			const ledger = level.ledger(clock);
			// A's clock runs almost a grace behind: it spends its lease until the bucket's ttl + lag.
			const lag = LEASE_GRACE_MS - 1;
			expect(ledger.lease(ask("A", "a1", { want: part })).granted).toBe(part);
			clock.advance(level.ttlMs + lag - 1);
			// Just before A stops, B takes all the bucket has: with A's tokens, never more than a burst at once.
			const rest = ledger.lease(ask("B", "b1", { min: 1, want: burst }));
			expect(part + rest.granted).toBeLessThanOrEqual(burst);
			// Past the grace, A's lease is over by any clock within it, and the bucket is whole again.
			clock.advance(2);
			expect(ledger.snapshot()?.leasedOut).toBe(rest.granted);
		});
	});

	describe("two lease calls of one isolate", () => {
		it("are counted apart: the second cannot renew what the first already renewed", () => {
			const clock = new FakeClock();
			const ledger = level.ledger(clock);
			const keep = part / 2;
			expect(ledger.lease(ask("A", "a1", { want: part })).granted).toBe(part);
			// An ahead-of-time call keeps half of a1 and misses its deadline; a second call names a1 again.
			const first = ledger.lease(ask("A", "a2", { previous: "a1", held: keep, want: part }));
			const second = ledger.lease(ask("A", "a3", { previous: "a1", held: keep, want: part }));
			expect(first).toMatchObject({ granted: part, held: keep });
			expect(second.held ?? 0).toBe(0);
			// Everything the isolate can still spend stays counted: what it kept + both grants.
			expect(ledger.snapshot()?.leasedOut).toBe(keep + part + second.granted);
			// At this instant A can spend all of a1 (spent or kept), both grants; whoever takes the rest cannot
			// push the total over the burst.
			const rest = ledger.lease(ask("B", "b1", { min: 1, want: burst }));
			expect(part + first.granted + second.granted + rest.granted).toBeLessThanOrEqual(burst);
		});
	});

	describe("a bucket in debt", () => {
		it("after a failure's admissions are debited tells isolates 0 remaining, never less, and refills from the debt", () => {
			const clock = new FakeClock();
			const ledger = level.ledger(clock);
			// Two isolates each admitted a burst on their own while the bucket could not answer.
			const reply = ledger.lease(ask("A", "a1", { spent: 2 * burst }));
			expect(reply).toMatchObject({ granted: 0, remaining: 0 });
			// A burst in debt: burst / rate seconds of refill before the first token.
			const debtMs = (burst * 1000) / rate;
			clock.advance(debtMs - 100);
			expect(ledger.lease(ask("A", "a2")).granted).toBe(0);
			clock.advance(200);
			expect(ledger.lease(ask("A", "a3")).granted).toBe(1);
		});
	});
});

describe("the isolate", () => {
	const reply = (granted: number, ttlMs: number, policy: TenantPolicy, fields: Partial<LeaseReply> = {}) => ({
		granted,
		ttlMs,
		remaining: policy.burst,
		retryAfterMs: 0,
		policy,
		...fields,
	});
	const pool = shardPolicy(SHARD_POOL, 1, 0);

	it("does not hand back the tokens of its expired tenant lease", async () => {
		const clock = new FakeClock();
		const asked: LeaseRequest[] = [];
		const isolate = new LocalLimiter({
			now: clock.now,
			isolateId: "A",
			wait: never,
			grantor: async (request) => {
				asked.push(request);
				return reply(10, LEASE_TTL_MS, starter);
			},
		});
		expect((await isolate.admit("t:a", starter, 1)).allowed).toBe(true);
		clock.advance(LEASE_TTL_MS + 1);
		await isolate.admit("t:a", starter, 1);
		expect(asked.at(-1)).toMatchObject({ returned: 0 });
	});

	it("does not hand back the tokens of its expired pool lease", async () => {
		const clock = new FakeClock();
		const asked: LeaseRequest[] = [];
		const isolate = new LocalLimiter({
			now: clock.now,
			isolateId: "A",
			wait: never,
			grantor: plenty(1_000, LEASE_TTL_MS, starter),
			pool: {
				key: shardName(0),
				policy: SHARD_POOL,
				grantor: async (request) => {
					asked.push(request);
					return reply(10, POOL_LEASE_TTL_MS, pool);
				},
			},
		});
		expect((await isolate.admit("t:a", starter, 1)).allowed).toBe(true);
		// The pool lease is over; the tenant's still runs.
		clock.advance(POOL_LEASE_TTL_MS + 1);
		expect((await isolate.admit("t:a", starter, 1)).allowed).toBe(true);
		expect(asked).toHaveLength(2);
		expect(asked.at(-1)).toMatchObject({ returned: 0, held: 0 });
	});

	it("drops held tenant tokens the bucket did not renew once a new grant lands", async () => {
		const clock = new FakeClock();
		const isolate = new LocalLimiter({
			now: clock.now,
			isolateId: "A",
			wait: never,
			grantor: scripted([
				reply(20, LEASE_TTL_MS, starter),
				// The renewal went to another call: this one grants 5 and keeps nothing.
				reply(5, LEASE_TTL_MS, starter, { held: 0 }),
			]),
		});
		expect((await isolate.admit("t:a", starter, 1)).allowed).toBe(true);
		// 19 left; spend down to the prefetch point (a quarter of 20), which asks ahead of time.
		expect(spendNow(isolate, 14)).toBe(14);
		await settle();
		// 5 held tokens not renewed are dropped: only the 5 granted can be spent.
		expect(spendNow(isolate, 20)).toBe(5);
	});

	it("drops held pool tokens the shard did not renew once a new grant lands", async () => {
		const clock = new FakeClock();
		const asked: LeaseRequest[] = [];
		const replies: LeaseReply[] = [reply(20, POOL_LEASE_TTL_MS, pool)];
		const isolate = new LocalLimiter({
			now: clock.now,
			isolateId: "A",
			wait: never,
			grantor: plenty(1_000, LEASE_TTL_MS, starter),
			pool: {
				key: shardName(0),
				policy: SHARD_POOL,
				grantor: async (request) => {
					asked.push(request);
					// The renewal went to another call: this one grants what it asks for and keeps nothing.
					return replies.shift() ?? reply(request.want, POOL_LEASE_TTL_MS, pool, { held: 0 });
				},
			},
		});
		expect((await isolate.admit("t:a", starter, 1)).allowed).toBe(true);
		// 19 left; spend down to the prefetch point (a quarter of 20), which asks ahead of time keeping 5.
		expect(spendNow(isolate, 14)).toBe(14);
		expect(asked.at(-1)).toMatchObject({ held: 5 });
		await settle();
		// The 5 held tokens not renewed are dropped: only the new grant can be spent.
		const granted = (asked.at(-1) as LeaseRequest).want;
		expect(spendNow(isolate, granted + 20)).toBe(granted);
	});

	it("spends a late tenant reply only within the lease's lifetime counted from when it was asked for", async () => {
		const clock = new FakeClock();
		const ledger = new TenantLedger(undefined, { now: clock.now, save: () => {} });
		let late = true;
		// The first reply (a long lease: the bucket is roomy) reaches the isolate half a second after its lifetime.
		const isolate = new LocalLimiter({
			now: clock.now,
			isolateId: "A",
			failMode: "closed",
			breakerMs: 100,
			wait: never,
			grantor: async (request) => {
				const granted = ledger.lease(request);
				if (late) clock.advance(ROOMY_LEASE_TTL_MS + 500);
				late = false;
				return granted;
			},
		});
		const first = await isolate.admit("t:a", starter, 1);
		expect(first).toMatchObject({ allowed: false, fallback: "closed" });
		// The bucket stops counting the lease its lifetime and grace after the grant and refills; B then takes all
		// of it. The circuit the late reply opened is closed again by then.
		clock.advance(LEASE_GRACE_MS);
		expect(ledger.lease(ask("B", "b1", { min: starter.burst, want: starter.burst })).granted).toBe(starter.burst);
		// What A admits now is on top of B's whole burst at the same instant.
		expect(spendNow(isolate, 200)).toBe(0);
		expect(allowed(await Promise.all(Array.from({ length: 200 }, () => isolate.admit("t:a", starter, 1))))).toBe(0);
	});

	it("spends a late pool reply only within the lease's lifetime counted from when it was asked for", async () => {
		const clock = new FakeClock();
		const shard = shardOn(clock, SHARD_POOL);
		let late = true;
		const isolate = new LocalLimiter({
			now: clock.now,
			isolateId: "A",
			failMode: "closed",
			breakerMs: 100,
			wait: never,
			grantor: plenty(1_000, 10 * LEASE_TTL_MS, starter),
			pool: {
				key: shardName(0),
				policy: SHARD_POOL,
				grantor: async (request) => {
					const granted = shard.lease(request);
					if (late) clock.advance(POOL_LEASE_TTL_MS + 500);
					late = false;
					return granted;
				},
			},
		});
		const first = await isolate.admit("t:a", starter, 1);
		expect(first).toMatchObject({ allowed: false, fallback: "closed" });
		clock.advance(LEASE_GRACE_MS);
		// The shard no longer counts the late lease: B takes the whole pool at this instant.
		const ask = askOf(levels[1] as Level);
		expect(shard.lease(ask("B", "b1", { min: SHARD_POOL.burst, want: SHARD_POOL.burst })).granted).toBe(
			SHARD_POOL.burst,
		);
		expect(spendNow(isolate, 200)).toBe(0);
		const decisions = await Promise.all(Array.from({ length: 200 }, () => isolate.admit("t:a", starter, 1)));
		expect(allowed(decisions)).toBe(0);
		expect(decisions[0]).toMatchObject({ reason: "burst_pool" });
	});
});

describe("an ahead renewal whose reply never reaches the isolate", () => {
	// Found by an adversarial review (2026-11-29): the bucket moved the held tokens from the isolate's 8 s lease to
	// the renewal, counted 2 s and the grace; the isolate, never told, spent them under the old lease's 8 s.
	const policy: TenantPolicy = { tier: "t", rate: 100, burst: 100, weight: 1, version: 1, tiersVersion: 0 };

	it.each(["lost", "rejected after the bucket answered"] as const)(
		"leaves the held tokens counted as long as the old lease: reply %s",
		async (mode) => {
			const clock = new FakeClock();
			const ledger = new TenantLedger(undefined, { now: clock.now, save: () => {} });
			let breakNext = false;
			const grantor = (request: LeaseRequest): Promise<LeaseReply> => {
				const reply = ledger.lease(structuredClone(request));
				if (request.isolate !== "A" || !breakNext || (request.held ?? 0) === 0) return Promise.resolve(reply);
				breakNext = false;
				return mode === "lost" ? new Promise(() => {}) : Promise.reject(new Error("connection reset"));
			};
			const isolate = (id: string) =>
				new LocalLimiter({ now: clock.now, isolateId: id, grantor, failMode: "closed", wait: never });
			const [a, b] = [isolate("A"), isolate("B")];
			const start = clock.now();
			let atOnce = 0;
			const send = async (limiter: LocalLimiter, cost: number) => {
				const decision = await limiter.admit("t:x", policy, cost);
				await settle();
				if (decision.allowed && clock.now() === start + 3_500) atOnce += cost;
				return decision.allowed;
			};
			// A's first lease: 8 tokens while the bucket is roomy, for 8 s. B's 45 leave it under half: short leases.
			expect(await send(a, 1)).toBe(true);
			expect(await send(b, 45)).toBe(true);
			// A spends down to a quarter: its renewal ahead (holding 2) reaches the bucket, the reply never comes back.
			breakNext = true;
			for (let i = 0; i < 5; i++) expect(await send(a, 1)).toBe(true);
			// 3.5 s on, past a short lease and its grace: B asks for the whole burst, A spends its two held tokens.
			clock.time = start + 3_500;
			await send(b, 100);
			await send(a, 1);
			await send(a, 1);
			expect(atOnce).toBeLessThanOrEqual(policy.burst);
		},
	);
});

describe("the pool", () => {
	it("counts the leases isolates hold: one instant never admits more than its burst, nor any window more than burst + rate × span", async () => {
		const pool: BucketPolicy = { rate: 100, burst: 1_000 };
		const cluster = new Cluster({ pool });
		const tenants = Array.from({ length: 20 }, (_, i) => `t:${i}`);
		const isolates = Array.from({ length: 10 }, (_, i) => cluster.isolate(`i${i}`));
		const times: number[] = [];
		const cumulative: number[] = [];
		let total = 0;
		const record = (decisions: Decision[]) => {
			total += allowed(decisions);
			times.push(cluster.clock.now());
			cumulative.push(total);
		};
		// Lightly active for 10 s, every isolate for two tenants: each holds a pool lease, spent or not, expired or
		// not, while the shard refills.
		for (let tick = 0; tick < 40; tick++) {
			for (const [i, isolate] of isolates.entries()) {
				const key = tenants[(2 * i + (tick % 2)) % tenants.length] as string;
				record([await isolate.admit(key, starter, 1)]);
			}
			cluster.clock.advance(250);
		}
		// Then at one instant every tenant floods through every old isolate and a fresh one each.
		const before = total;
		const fresh = tenants.map((key) => cluster.isolate(`flood-${key}`));
		const flood = await Promise.all(
			tenants.flatMap((key, t) =>
				[...isolates, fresh[t] as LocalLimiter].map((isolate) =>
					Promise.all(Array.from({ length: 100 }, () => isolate.admit(key, starter, 1))),
				),
			),
		);
		record(flood.flat());
		const instant = total - before;
		expect(instant).toBeLessThanOrEqual(pool.burst);
		// The pool, not the tenants (20 × 1,200), is what held the flood: it ran dry.
		expect(instant).toBeGreaterThan(pool.burst / 2);
		expect(flood.flat().some((d) => !d.allowed && d.reason === "burst_pool")).toBe(true);
		expect(worstWindowExcess(cumulative, times, pool)).toBe(0);
	});

	it("a burst_pool refusal charges the tenant nothing, and a later pool grant admits again", async () => {
		const pool: BucketPolicy = { rate: 100, burst: 100 };
		const clock = new FakeClock();
		const shard = shardOn(clock, pool);
		// Someone else holds the whole pool.
		const ask = askOf({ ...(levels[1] as Level), policy: shardPolicy(pool, 1, 0) });
		expect(shard.lease(ask("B", "b1", { min: pool.burst, want: pool.burst })).granted).toBe(pool.burst);
		// The tenant's bucket grants 30 tokens once, for long enough to outlast B's pool lease, then refuses.
		const tenantCalls: LeaseRequest[] = [];
		const tenantGrant = 30;
		const poolBackMs = POOL_LEASE_TTL_MS + LEASE_GRACE_MS + 100;
		const isolate = new LocalLimiter({
			now: clock.now,
			isolateId: "A",
			wait: never,
			grantor: scripted(
				[{ granted: tenantGrant, ttlMs: 2 * poolBackMs, remaining: 0, retryAfterMs: 0, policy: starter }],
				tenantCalls,
			),
			pool: { key: shardName(0), policy: pool, grantor: async (request) => shard.lease(request) },
		});
		const refused = await Promise.all(Array.from({ length: tenantGrant }, () => isolate.admit("t:a", starter, 1)));
		expect(refused.every((d) => !d.allowed && d.reason === "burst_pool")).toBe(true);
		expect(refused[0]).toMatchObject({ pool });
		// More refusals from the isolate's memory of the pool's: the tenant's bucket is not asked again.
		for (let i = 0; i < 50; i++) expect(await isolate.admit("t:a", starter, 1)).toMatchObject({ reason: "burst_pool" });
		expect(tenantCalls).toHaveLength(1);
		// Once the shard stops counting B's lease (the tenant's lease still runs), every tenant token the isolate
		// holds admits, none lost to the 80 refusals; then the tenant's own limit says no.
		clock.advance(poolBackMs);
		const later = await Promise.all(Array.from({ length: tenantGrant + 10 }, () => isolate.admit("t:a", starter, 1)));
		expect(allowed(later)).toBe(tenantGrant);
		expect(later.filter((d) => !d.allowed).every((d) => d.reason === "tenant_rate")).toBe(true);
	});

	it("a refusal for a cost the pool can never grant does not shut the isolate out of the pool", async () => {
		const cluster = new Cluster({ pool: { rate: 100, burst: 500 } });
		const isolate = cluster.isolate("A");
		expect(await isolate.admit("t:a", starter, 600)).toMatchObject({ allowed: false, reason: "burst_pool" });
		cluster.clock.advance(1_000);
		expect((await isolate.admit("t:a", starter, 1)).allowed).toBe(true);
	});

	// Break 5 (the pool ledger's fair-queue time) has no counterpart: weighted fairness now lives at the isolate and is tested elsewhere.
});

describe("FAIL_MODE=local", () => {
	/** Ticks of 10 ms with 10 requests each for 10 s; from the first failure on, every window keeps to `bound`. */
	async function failEveryOtherSecond(
		isolate: LocalLimiter,
		clock: FakeClock,
		setFailing: (failing: boolean) => void,
		policy: TenantPolicy,
		bound: BucketPolicy,
	): Promise<void> {
		const start = clock.now();
		const cumulative: number[] = [];
		const times: number[] = [];
		let admitted = 0;
		let firstFailure = -1;
		for (let tick = 0; tick < 1_000; tick++) {
			const now = clock.now();
			const failing = Math.floor((now - start) / 1_000) % 2 === 1;
			setFailing(failing);
			if (failing && firstFailure < 0) firstFailure = tick;
			const decisions = await Promise.all(Array.from({ length: 10 }, () => isolate.admit("t:a", policy, 1)));
			admitted += allowed(decisions);
			cumulative.push(admitted);
			times.push(now);
			clock.advance(10);
		}
		// From its first failure on, the isolate alone keeps to burst + rate × span in every window.
		const from = firstFailure - 1;
		const base = cumulative[from] ?? 0;
		const after = cumulative.slice(from + 1).map((count) => count - base);
		expect(after.at(-1)).toBeGreaterThan(0);
		expect(worstWindowExcess(after, times.slice(from + 1), bound)).toBe(0);
	}

	/** An isolate of `cluster` whose pool calls fail while `failing()` says so. */
	function poolFailing(cluster: Cluster, pool: BucketPolicy, failing: () => boolean): LocalLimiter {
		const options: PoolOptions = {
			key: shardName(0),
			policy: pool,
			grantor: async (request) => {
				if (failing()) throw new Error("injected failure");
				return cluster.leasePool(request);
			},
		};
		return new LocalLimiter({
			grantor: (request) => cluster.leaseTenant(request),
			pool: options,
			now: cluster.clock.now,
			isolateId: "A",
			wait: never,
		});
	}

	it("keeps one isolate within the tier even when its bucket fails every other second", async () => {
		let failing = false;
		const cluster = new Cluster({ failTenantCall: () => failing });
		const isolate = cluster.isolate("A");
		await failEveryOtherSecond(isolate, cluster.clock, (f) => (failing = f), starter, starter);
	});

	it("keeps one isolate within the pool even when its shard fails every other second", async () => {
		const pool: BucketPolicy = { rate: 200, burst: 500 };
		let failing = false;
		const cluster = new Cluster({ pool });
		const isolate = poolFailing(cluster, pool, () => failing);
		await failEveryOtherSecond(isolate, cluster.clock, (f) => (failing = f), scale, pool);
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

	it("what the isolate admitted alone counts against the pool once its shard answers again", async () => {
		const pool: BucketPolicy = { rate: 100, burst: 600 };
		let failing = true;
		const cluster = new Cluster({ pool });
		const isolate = poolFailing(cluster, pool, () => failing);
		const admitAll = async (count: number): Promise<number> => {
			let admitted = 0;
			for (let i = 0; i < count; i++) if ((await isolate.admit("t:a", starter, 1)).allowed) admitted += 1;
			return admitted;
		};
		// The shard's first failure: the isolate alone admits the pool's burst (less than the tenant's), which the
		// shard never saw.
		expect(await admitAll(1_000)).toBe(pool.burst);
		// The breaker's second later the shard answers, and must not hand out a second full burst.
		failing = false;
		cluster.clock.advance(1_000);
		const afterRecovery = await admitAll(1_000);
		expect(pool.burst + afterRecovery).toBeLessThanOrEqual(pool.burst + pool.rate * 1);
		// The shard was told: it counts the isolate's admissions as spent.
		expect(cluster.pool.snapshot()?.tokens).toBeLessThanOrEqual(pool.rate * 1);
	});
});
