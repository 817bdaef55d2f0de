/**
 * The lease protocol's exactness as a property: random traffic and costs over
 * several isolates, with late, lost and failed calls, missed deadlines, clock
 * jumps, object evictions, isolate restarts and policy changes, against the
 * real isolate, tenant and pool code. In every window each tenant admits at
 * most `burst + rate × span`, and all tenants together at most the pool's.
 * fast-check prints the seed and the shrunk case of any failure.
 *
 * The limits are small on purpose (tenant bursts of 10–40 at 5–20/s, a pool
 * below the tenants' sum) and the traffic far above them: a property that is
 * never near its bound cannot catch an over-admission. With production-sized
 * limits (hundreds of tokens) the runs used a tenth of them and a bug that
 * over-admits a lease or two went unseen. The test checks that the runs come
 * close to the bounds, so that it cannot quietly go weak again.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { BucketPolicy } from "../../src/limiter/bucket";
import { type LeaseReply, type LeaseRequest, POOL_LEASE_LIFETIMES } from "../../src/limiter/lease";
import { type Decision, type Grantor, LocalLimiter } from "../../src/limiter/local";
import { PoolRoot, type RootReply, rootFor, type ShardReport } from "../../src/limiter/pool-root";
import { BURST_POOL_TIER, shardName, shardOf, shardPolicy } from "../../src/limiter/pool-shards";
import { TenantLedger, type TenantLedgerState } from "../../src/limiter/tenant-ledger";
import type { TenantPolicy } from "../../src/tiers";

/** Simulated time: callbacks run in time order, promises settle between them. */
class World {
	time = 1_700_000_000_000;
	#queue: { at: number; seq: number; run: () => void }[] = [];
	#seq = 0;
	readonly now = (): number => this.time;
	at(delayMs: number, run: () => void): void {
		const event = { at: this.time + Math.max(0, delayMs), seq: this.#seq++, run };
		let i = this.#queue.length;
		while (i > 0 && (this.#queue[i - 1] as typeof event).at > event.at) i--;
		this.#queue.splice(i, 0, event);
	}
	/** Sleeps ending at the same instant share one event: a burst's waiters all start their deadlines at once. */
	#sleeps = new Map<number, Promise<void>>();
	readonly sleep = (ms: number): Promise<void> => {
		const until = this.time + Math.max(0, ms);
		let slept = this.#sleeps.get(until);
		if (!slept) {
			slept = new Promise((resolve) =>
				this.at(ms, () => {
					this.#sleeps.delete(until);
					resolve();
				}),
			);
			this.#sleeps.set(until, slept);
		}
		return slept;
	};
	async run(): Promise<void> {
		for (let event = this.#queue.shift(); event; event = this.#queue.shift()) {
			this.time = Math.max(this.time, event.at);
			event.run();
			for (let i = 0; i < 100; i++) await null;
		}
	}
}

type Admission = { at: number; cost: number };

/** The largest `count - burst - rate × span` of any window of admissions given in time order (linear time). */
function excess(admissions: Admission[], policy: BucketPolicy): number {
	let count = 0;
	let lowest = Number.POSITIVE_INFINITY;
	let worst = Number.NEGATIVE_INFINITY;
	for (const { at, cost } of admissions) {
		const seconds = at / 1000;
		lowest = Math.min(lowest, count - policy.rate * seconds);
		count += cost;
		worst = Math.max(worst, count - policy.rate * seconds - lowest - policy.burst);
	}
	return worst;
}

/** The largest excess over `burst + rate × span` of admissions given in time order; 0 if none. */
function worstExcess(admissions: Admission[], policy: BucketPolicy): number {
	const worst = excess(admissions, policy);
	return worst > 1e-6 ? worst : 0;
}

/** Whether some window of the admissions holds at least `fraction` of `burst + rate × span`. */
function reaches(admissions: Admission[], policy: BucketPolicy, fraction: number): boolean {
	return excess(admissions, { rate: policy.rate * fraction, burst: policy.burst * fraction }) >= -1e-6;
}

/**
 * A tier's limits: small, so that a few dozen requests reach them (a lease is
 * at most a tenth of the burst, so these are leased one to four tokens at a
 * time, and a burst takes many calls to drain).
 */
const tier = fc.record({ rate: fc.integer({ min: 5, max: 20 }), burst: fc.integer({ min: 10, max: 40 }) });

/**
 * The two tiers a tenant moves between, and the pool: each shard holds
 * 40–110 % of both tenants' limits together, mostly below their sum so that
 * the pool binds too, sometimes above so that the tenants' own limits do.
 */
const limits = fc.record({ a: tier, b: tier, poolPercent: fc.integer({ min: 40, max: 110 }) });

/** A call's usual round trip, and how late it is when it is one of the late ones (going or coming back). */
const link = fc.record({
	up: fc.integer({ min: 0, max: 40 }),
	down: fc.integer({ min: 0, max: 40 }),
	late: fc.integer({ min: 0, max: 1_500 }),
	lateBack: fc.boolean(),
	lost: fc.boolean(),
	failed: fc.boolean(),
});

/**
 * One call in `late` (`lost`, `failed`) is late (lost, failed) if its link says so. Every admission here
 * takes a call or two, so faults must be rarer per call than with big leases: one per burst would trip the
 * circuit breaker in every burst, and runs would spend their time refusing while it is open, far from any bound.
 */
const faults = fc.record({
	late: fc.integer({ min: 30, max: 300 }),
	lost: fc.integer({ min: 30, max: 300 }),
	failed: fc.integer({ min: 30, max: 300 }),
});

type Link = typeof link extends fc.Arbitrary<infer T> ? T : never;

const event = fc.oneof(
	{
		weight: 12,
		arbitrary: fc.record({
			kind: fc.constant("request" as const),
			isolate: fc.nat(3),
			tenant: fc.nat(1),
			/** Costs taken in turn: a request that costs more than the lease has left hands the rest back. */
			costs: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 }),
			requests: fc.integer({ min: 1, max: 60 }),
			/** All at once (a burst), or one every so many ms (a stream, which keeps a tenant at its rate). */
			everyMs: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 50 })),
		}),
	},
	{ weight: 1, arbitrary: fc.record({ kind: fc.constant("restart" as const), isolate: fc.nat(3) }) },
	{ weight: 1, arbitrary: fc.record({ kind: fc.constant("evict" as const), tenant: fc.nat(1) }) },
	{ weight: 1, arbitrary: fc.record({ kind: fc.constant("jump" as const), ms: fc.integer({ min: 0, max: 5_000 }) }) },
	{ weight: 1, arbitrary: fc.record({ kind: fc.constant("policy" as const), tenant: fc.nat(1) }) },
	{
		weight: 1,
		arbitrary: fc.record({ kind: fc.constant("pool" as const), forMs: fc.integer({ min: 0, max: 5_000 }) }),
	},
);

const scenario = fc.record({
	limits,
	isolates: fc.integer({ min: 1, max: 4 }),
	shards: fc.integer({ min: 1, max: 2 }),
	timeoutMs: fc.oneof(
		{ weight: 1, arbitrary: fc.integer({ min: 10, max: 100 }) },
		{ weight: 4, arbitrary: fc.integer({ min: 200, max: 2_000 }) },
	),
	links: fc.array(link, { minLength: 1, maxLength: 12 }),
	faults,
	events: fc.array(
		fc.record({ gapMs: fc.oneof(fc.integer({ min: 0, max: 100 }), fc.integer({ min: 0, max: 3_000 })), event }),
		{ minLength: 20, maxLength: 60, size: "max" },
	),
});

/** Each run is busy (a few hundred lease calls), so there are fewer than a quiet property would take. */
const NUM_RUNS = 500;

type Scenario = typeof scenario extends fc.Arbitrary<infer T> ? T : never;

async function play({
	limits: { a, b, poolPercent },
	isolates: count,
	shards,
	timeoutMs,
	links,
	faults,
	events,
}: Scenario) {
	const policyA: TenantPolicy = { tier: "a", ...a, weight: 1, version: 1, tiersVersion: 0 };
	const policyB: TenantPolicy = { tier: "b", ...b, weight: 2, version: 2, tiersVersion: 0 };
	const share = (x: number, y: number, min: number) =>
		shards * Math.max(min, Math.round(((x + y) * poolPercent) / 100));
	const POOL: BucketPolicy = { rate: share(a.rate, b.rate, 2), burst: share(a.burst, b.burst, 4) };
	/** What an operator may lower the pool to for a while. */
	const POOL_LOW: BucketPolicy = { rate: POOL.rate / 2, burst: POOL.burst / 2 };
	const world = new World();
	const start = world.time;
	let call = 0;
	const nextLink = () => {
		const { up, down, late, lateBack, lost, failed } = links[call++ % links.length] as Link;
		const isLate = call % faults.late === 0;
		return {
			up: up + (isLate && !lateBack ? late : 0),
			down: down + (isLate && lateBack ? late : 0),
			lost: lost && call % faults.lost === 0,
			failed: failed && call % faults.failed === 0,
		};
	};
	/** Every object's durable state, by key: tenants' buckets and the pool's shards alike. */
	const saved = new Map<string, TenantLedgerState>();
	/**
	 * The pool's root, as the BurstPool named "root" holds it: its reports and
	 * answers late, lost or failed like any call, and evicted with the shards
	 * (then loaded again from the bounds it saved).
	 */
	let root: PoolRoot | undefined;
	let rootSaved: PoolRoot | undefined;
	const rootCall = async (report: ShardReport): Promise<RootReply> => {
		const { up, down, lost, failed } = nextLink();
		await world.sleep(up);
		if (failed) throw new Error("injected failure");
		root ??= rootSaved && new PoolRoot(rootSaved.rate, rootSaved.shards, rootSaved.bounds, rootSaved.version);
		const current = rootFor(root, structuredClone(report), shards);
		const reply = current ? current.report(structuredClone(report)) : { rate: report.rate };
		if (current) root = current;
		rootSaved = root;
		if (lost) return new Promise<RootReply>(() => {});
		await world.sleep(down);
		return reply;
	};
	/** The objects in memory; an evicted one is loaded again from what it saved. */
	const ledgers = new Map<string, TenantLedger>();
	const isShard = (key: string) => key.startsWith("shard-");
	const ledger = (key: string): TenantLedger => {
		let found = ledgers.get(key);
		if (!found) {
			const state = saved.get(key);
			found = new TenantLedger(state && structuredClone(state), {
				now: world.now,
				save: (next) => saved.set(key, structuredClone(next)),
				// A shard as the BurstPool object holds it: shorter leases, and a root that moves rate between shards.
				...(isShard(key) && {
					lifetimes: POOL_LEASE_LIFETIMES,
					poolShard: true,
					shard: Number(key.slice("shard-".length)),
					root: rootCall,
				}),
			});
			ledgers.set(key, found);
		}
		return found;
	};
	let poolPolicy = POOL;
	let lowUntil = 0;
	const configurePool = () => {
		for (let i = 0; i < shards; i++)
			ledger(shardName(i)).configure(shardPolicy(poolPolicy, shards, world.time), BURST_POOL_TIER);
	};
	configurePool();
	/** One Durable Object call, tenant's or shard's: late, lost or failed as its link says. */
	const grantor: Grantor = async (request: LeaseRequest): Promise<LeaseReply> => {
		const { up, down, lost, failed } = nextLink();
		await world.sleep(up);
		if (failed) throw new Error("injected failure");
		const reply = ledger(request.key).lease(structuredClone(request));
		if (lost) return new Promise<LeaseReply>(() => {});
		await world.sleep(down);
		return structuredClone(reply);
	};
	let generation = 0;
	/** An isolate, and the shard it leases pool tokens from (all its life). */
	const isolate = () => {
		const isolateId = `i${generation++}`;
		const shard = shardOf(isolateId, shards);
		const limiter = new LocalLimiter({
			grantor,
			pool: { grantor, key: shardName(shard), policy: shardPolicy(POOL, shards, 0), shards },
			now: world.now,
			isolateId,
			failMode: "closed",
			timeoutMs,
			wait: world.sleep,
		});
		return { limiter, shard };
	};
	const limiters = Array.from({ length: count }, isolate);
	const policies = [policyA, policyB];
	/** When each tenant's policy first changed: until then its first policy alone bounds it. */
	const changed = [Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY];
	const admissions: Admission[][] = [[], []];
	const all: Admission[] = [];
	/** By shard: each admission spends a pool token of its isolate's shard, an exact bucket of its own. */
	const byShard: Admission[][] = Array.from({ length: shards }, () => []);
	let poolDenials = 0;
	const record = (tenant: number, shard: number, decision: Decision, cost: number) => {
		if (!decision.allowed) {
			if (decision.reason === "burst_pool") poolDenials += 1;
			return;
		}
		const admission = { at: world.time - start, cost };
		admissions[tenant]?.push(admission);
		byShard[shard]?.push(admission);
		all.push(admission);
	};
	const admit = (index: number, tenant: number, cost: number) => {
		const { limiter, shard } = limiters[index % count] as ReturnType<typeof isolate>;
		const decision = limiter.admit(`t:${tenant}`, policies[tenant] as TenantPolicy, cost);
		if (decision instanceof Promise) void decision.then((d) => record(tenant, shard, d, cost));
		else record(tenant, shard, decision, cost);
	};
	let offset = 0;
	for (const { gapMs, event } of events) {
		offset += gapMs;
		world.at(offset - (world.time - start), () => {
			switch (event.kind) {
				case "request":
					for (let n = 0; n < event.requests; n++) {
						const cost = event.costs[n % event.costs.length] as number;
						if (event.everyMs === 0) admit(event.isolate, event.tenant, cost);
						else world.at(n * event.everyMs, () => admit(event.isolate, event.tenant, cost));
					}
					break;
				case "restart":
					limiters[event.isolate % count] = isolate();
					break;
				case "evict":
					// A lease call runs to its end without waiting: any object may be evicted between calls. The
					// shards go with the tenant 0's bucket.
					ledgers.delete(`t:${event.tenant}`);
					if (event.tenant === 0) {
						for (let i = 0; i < shards; i++) ledgers.delete(shardName(i));
						root = undefined;
					}
					break;
				case "jump":
					world.time += event.ms;
					break;
				case "policy":
					changed[event.tenant] = Math.min(changed[event.tenant] as number, world.time - start);
					policies[event.tenant] = {
						...(policies[event.tenant]?.tier === "a" ? policyB : policyA),
						version: world.time,
					};
					break;
				case "pool":
					// An operator lowers the pool for a while, then raises it back (unless a later lowering still runs).
					poolPolicy = POOL_LOW;
					configurePool();
					lowUntil = Math.max(lowUntil, world.time + event.forMs);
					world.at(event.forMs, () => {
						if (world.time < lowUntil) return;
						poolPolicy = POOL;
						configurePool();
					});
					break;
			}
		});
	}
	await world.run();
	// Before its first policy change a tenant is bound by its first policy. Across a change either policy may be
	// in force: bound by the larger rate and burst (the pool's lower policy is below the other in both).
	const either = { rate: Math.max(a.rate, b.rate), burst: Math.max(a.burst, b.burst) };
	const first = [policyA, policyB];
	const bounds = admissions.map((admitted, tenant) => {
		const before = admitted.filter(({ at }) => at < (changed[tenant] as number));
		const policy = first[tenant] as BucketPolicy;
		return before.length === admitted.length
			? [{ admitted, policy }]
			: [
					{ admitted: before, policy },
					{ admitted, policy: either },
				];
	});
	// Worked out here, not by shardPolicy: a shard policy that miscounts must not move the bound with it. The root
	// moves rate between shards (never past the pool's in all): a shard's own bound is its burst plus the pool's rate.
	const shard = { rate: POOL.rate, burst: POOL.burst / shards };
	return {
		tenants: bounds.map((checks) => Math.max(...checks.map(({ admitted, policy }) => worstExcess(admitted, policy)))),
		pool: worstExcess(all, POOL),
		shards: byShard.map((admitted) => worstExcess(admitted, shard)),
		admitted: all.length,
		poolDenials,
		/** Whether some window came within 10 % of a tenant's bound, and of the pool's. */
		nearTenant: bounds.some((checks) => checks.some(({ admitted, policy }) => reaches(admitted, policy, 0.9))),
		nearPool: reaches(all, POOL, 0.9),
	};
}

describe("lease protocol, as a property", () => {
	it("worstExcess and reaches agree with comparing every pair of admissions", () => {
		fc.assert(
			fc.property(
				fc.array(fc.record({ gap: fc.integer({ min: 0, max: 2_000 }), cost: fc.integer({ min: 1, max: 5 }) }), {
					maxLength: 40,
				}),
				(steps) => {
					let at = 0;
					const admissions = steps.map(({ gap, cost }) => {
						at += gap;
						return { at, cost };
					});
					const policy = { rate: 3, burst: 7 };
					let brute = 0;
					let ratio = 0;
					for (let i = 0; i < admissions.length; i++) {
						let count = 0;
						for (let j = i; j < admissions.length; j++) {
							count += (admissions[j] as { cost: number }).cost;
							const span = ((admissions[j] as { at: number }).at - (admissions[i] as { at: number }).at) / 1000;
							brute = Math.max(brute, count - policy.burst - policy.rate * span);
							ratio = Math.max(ratio, count / (policy.burst + policy.rate * span));
						}
					}
					expect(worstExcess(admissions, policy)).toBeCloseTo(brute > 1e-6 ? brute : 0, 6);
					if (Math.abs(ratio - 0.9) > 1e-6) expect(reaches(admissions, policy, 0.9)).toBe(ratio > 0.9);
				},
			),
		);
	});

	it("never admits more than burst + rate × span, per tenant, per pool shard and for the pool", {
		timeout: 120_000,
	}, async () => {
		let runs = 0;
		let admitted = 0;
		let poolDenials = 0;
		let nearTenant = 0;
		let nearPool = 0;
		let nearEither = 0;
		await fc.assert(
			fc.asyncProperty(scenario, async (input) => {
				const outcome = await play(input);
				runs += 1;
				admitted += outcome.admitted;
				poolDenials += outcome.poolDenials;
				if (outcome.nearTenant) nearTenant += 1;
				if (outcome.nearPool) nearPool += 1;
				if (outcome.nearTenant || outcome.nearPool) nearEither += 1;
				expect(outcome.tenants).toEqual([0, 0]);
				expect(outcome.pool).toBe(0);
				expect(outcome.shards).toEqual(outcome.shards.map(() => 0));
			}),
			// Shrinking a failure replays busy runs thousands of times: it stops in time for fast-check, not the test's
			// timeout, to report the seed and the case shrunk so far (a run this slow fails too).
			{ numRuns: NUM_RUNS, plugins: [fc.interruptAfterTimeLimit(90_000, { failOnInterrupt: true })] },
		);
		// The runs did admit, and the pool did refuse: the property is not met by admitting nothing, nor only
		// because the tenants' own limits kept the pool from ever binding.
		expect(admitted).toBeGreaterThan(10 * runs);
		expect(poolDenials).toBeGreaterThan(0);
		// And the runs came close to the bounds, where an over-admission shows: most within 10 % of a tenant's or the
		// pool's, most of a tenant's, some of the pool's (measured: 68–73 %, 62–65 % and 15–19 %; the pool's bound is
		// the whole pool's now that the root moves rate between shards, and a shard's own bound is loose).
		expect(nearEither / runs).toBeGreaterThan(0.6);
		expect(nearTenant / runs).toBeGreaterThan(0.5);
		expect(nearPool / runs).toBeGreaterThan(0.1);
	});
});
