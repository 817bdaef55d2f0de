/**
 * Runs one scenario of the global simulation: isolates (the real
 * LocalLimiter) in every location, restarted after exponential lifetimes,
 * requests drawn from one Poisson process at the aggregate rate (tenant by
 * alias table, then one of its locations, then an isolate there), and the
 * objects behind them, all on the scheduler's simulated time.
 */
import type { BucketPolicy } from "../../src/limiter/bucket";
import type { FailMode } from "../../src/limiter/failure-policy";
import { ROOMY_LEASE_TTL_MS } from "../../src/limiter/lease";
import { type Decision, LocalLimiter } from "../../src/limiter/local";
import { shardName, shardOf, shardPolicy } from "../../src/limiter/pool-shards";
import { Metrics } from "./metrics";
import { Objects, RTT_JITTER } from "./objects";
import { exponential, stream } from "./prng";
import { Scheduler } from "./scheduler";
import { buildWorkload, policyOf, type Workload, type WorkloadOptions } from "./workload";

/**
 * A request is on the floor of waits if no request of its tenant reached its
 * isolate within this long: no limiter that is exact can answer it without a
 * round trip (the longest lease lasts this long). Nor can it answer the
 * requests that come before that round trip could be over (the shortest a
 * round trip from that location can be, the jitter at its lowest).
 */
export const FLOOR_WINDOW_MS = ROOMY_LEASE_TTL_MS;

/**
 * The calls of the cheapest limiter that knows no future and never makes a
 * request wait beyond the floor: it asks when a request finds no live lease,
 * and renews a lease as it expires if a request came after it was asked (the
 * tenant's next request may then come within a lifetime of that one, and must
 * find a lease). Renewals due after the isolate's last request of the tenant
 * are not counted: a lower bound.
 */
function keepAlive(kept: Map<number, number>, tenant: number, t: number, metrics: Metrics): void {
	let state = kept.get(tenant);
	while (state !== undefined) {
		const asked = state < 0 ? -1 - state : state;
		if (t < asked + FLOOR_WINDOW_MS) {
			kept.set(tenant, -1 - asked);
			return;
		}
		if (state >= 0) break;
		state = asked + FLOOR_WINDOW_MS;
		metrics.keepAliveCall(state);
	}
	kept.set(tenant, t);
	metrics.keepAliveCall(t);
}

/** Everything one scenario run needs. */
export interface EngineOptions extends WorkloadOptions {
	isolatesPerPop: number;
	durationMs: number;
	warmupMs: number;
	/** Mean isolate lifetime (ms), exponentially distributed. */
	lifetimeMs: number;
	pool: BucketPolicy;
	poolShards: number;
	timeoutMs: number;
	failMode: FailMode;
}

/** What a run leaves for the report. */
export interface EngineResult {
	workload: Workload;
	metrics: Metrics;
	scheduler: Scheduler;
	objects: Objects;
	isolatesStarted: number;
	errors: number;
}

interface Isolate {
	limiter: LocalLimiter;
	/** Last request time per tenant, for the floor of waits… */
	seen: Map<number, number>;
	/** …and when its last request on the floor came. */
	floorAt: Map<number, number>;
	/** The shortest round trip from the isolate's location. */
	minRttMs: number;
	/** Per tenant, until when the lease of the cheapest call schedule covers it (`do_calls_floor_per_admitted`). */
	covered: Map<number, number>;
	/** Per tenant, when the lease of the {@link keepAlive} schedule was asked for, as `-1 - t` once a request came after it. */
	kept: Map<number, number>;
}

/** Runs one scenario to the end of its duration. */
export async function runEngine(options: EngineOptions): Promise<EngineResult> {
	const workload = buildWorkload(options);
	const scheduler = new Scheduler();
	const metrics = new Metrics(
		workload,
		scheduler,
		options.pool,
		options.warmupMs,
		options.durationMs,
		options.poolShards,
	);
	const objects = new Objects(
		workload,
		scheduler,
		stream(options.seed, "jitter"),
		options.pool,
		options.poolShards,
		metrics,
	);
	const perPop = options.isolatesPerPop;
	let started = 0;
	let grantorCalls = 0;
	let errors = 0;

	const newIsolate = (slot: number): Isolate => {
		const pop = Math.floor(slot / perPop);
		const rtt = workload.popRttMs[pop] as number;
		const isolateId = `p${pop}.${slot % perPop}#${started++}`;
		const shard = shardOf(isolateId, options.poolShards);
		const limiter = new LocalLimiter({
			grantor: (request) => {
				grantorCalls += 1;
				return objects.leaseTenant(rtt, request);
			},
			pool: {
				key: shardName(shard),
				grantor: (request) => {
					grantorCalls += 1;
					return objects.leasePool(rtt, shard, request);
				},
				policy: shardPolicy(options.pool, options.poolShards, 0),
				shards: options.poolShards,
			},
			now: scheduler.now,
			isolateId,
			failMode: options.failMode,
			timeoutMs: options.timeoutMs,
			wait: scheduler.sleep,
		});
		return {
			limiter,
			seen: new Map(),
			floorAt: new Map(),
			minRttMs: rtt * (1 - RTT_JITTER),
			covered: new Map(),
			kept: new Map(),
		};
	};
	const isolates = Array.from({ length: options.pops * perPop }, (_, slot) => newIsolate(slot));

	// A restart replaces the isolate: its leases and memory die with it. Requests already waiting in the old
	// one still get their answer there.
	const lifetimes = stream(options.seed, "restarts");
	const restart = (slot: number) => (): void => {
		isolates[slot] = newIsolate(slot);
		scheduler.at(scheduler.time + exponential(lifetimes, options.lifetimeMs), restart(slot));
	};
	for (let slot = 0; slot < isolates.length; slot++)
		scheduler.at(exponential(lifetimes, options.lifetimeMs), restart(slot));

	const random = stream(options.seed, "arrivals");
	const meanGapMs = 1000 / workload.totalRate;
	let nextArrival = exponential(random, meanGapMs);
	const keys = workload.keys;
	const fail = (): void => {
		errors += 1;
	};

	await scheduler.run(options.durationMs, {
		next: () => nextArrival,
		fire: () => {
			const tenant = workload.picker.pick(random);
			const from = workload.locationStart[tenant] as number;
			const count = (workload.locationStart[tenant + 1] as number) - from;
			const pop = workload.locations[from + Math.floor(random() * count)] as number;
			const slot = pop * perPop + Math.floor(random() * perPop);
			nextArrival += exponential(random, meanGapMs);

			const t = scheduler.time;
			const isolate = isolates[slot] as Isolate;
			const last = isolate.seen.get(tenant);
			const first = last === undefined || t - last >= FLOOR_WINDOW_MS;
			if (first) isolate.floorAt.set(tenant, t);
			const floor = first || t - (isolate.floorAt.get(tenant) as number) < isolate.minRttMs;
			isolate.seen.set(tenant, t);
			// The fewest calls any limiter with leases of at most FLOOR_WINDOW_MS makes: each request its isolate's
			// last counted lease does not cover needs a lease asked for within FLOOR_WINDOW_MS before it, and asking
			// as late as possible (just before it, knowing it comes) covers the most after it.
			if (t >= (isolate.covered.get(tenant) ?? -Infinity)) {
				isolate.covered.set(tenant, t + FLOOR_WINDOW_MS);
				metrics.leaseNeeded(t);
			}
			keepAlive(isolate.kept, tenant, t, metrics);
			const falseIfDenied = metrics.arrive(tenant);
			const calls = grantorCalls;
			const result = isolate.limiter.admit(keys[tenant] as string, policyOf(workload, tenant), 1);
			if (result instanceof Promise) {
				result.then((decision: Decision) => metrics.decide(tenant, t, decision, true, floor, falseIfDenied), fail);
				return true;
			}
			metrics.decide(tenant, t, result, false, floor, falseIfDenied);
			return grantorCalls !== calls;
		},
	});
	return { workload, metrics, scheduler, objects, isolatesStarted: started, errors };
}
