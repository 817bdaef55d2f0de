/**
 * What the global simulation measures, per request and per Durable Object
 * call, in flat per-tenant arrays: the exact reference bucket of every tenant
 * (what an exact limiter could admit), over-admission in any window (linear
 * time), waits and the floor of unavoidable waits, added latency, fallbacks,
 * false denials, and call rates. Rates and percentages count requests that
 * arrive after the warm-up; admitted, ideal and over-admission cover the run.
 */
import type { BucketPolicy } from "../../src/limiter/bucket";
import type { Decision } from "../../src/limiter/local";
import { ExcessTable, ExcessTracker, Histogram } from "./math";
import type { CallObserver } from "./objects";
import type { Scheduler } from "./scheduler";
import { policyOf, type Workload } from "./workload";

/** Trailing window over which the pool counts as under its rate (ms). */
const TRAILING_MS = 1_000;

/** Counts of one run, turned into the report by report.ts. */
export class Metrics implements CallObserver {
	offered = 0;
	admitted = 0;
	ideal = 0;
	/** After the warm-up (by arrival time). */
	requests = 0;
	admittedAfter = 0;
	idealAfter = 0;
	waited = 0;
	waitedFloor = 0;
	/** Tenant calls the cheapest exact limiter makes after the warm-up (see engine.ts). */
	callsFloor = 0;
	/** Tenant calls of the keep-alive schedule after the warm-up (see engine.ts). */
	keepAliveCalls = 0;
	fallbacks = 0;
	falseDenials = 0;
	/** False denials by the reason given (and the failure mode, when it decided). */
	readonly falseDenialsByReason = new Map<string, number>();
	tenantCalls = 0;
	poolCalls = 0;
	hottestBucketCalls = 0;
	hottestBucketTenant = -1;
	readonly latency = new Histogram(0.01, 10_000);
	/** Admitted after the warm-up, per tenant (for pool shares). */
	readonly tenantAdmitted: Float64Array;
	/** What the tenant's exact reference bucket took after the warm-up (the most any limiter could admit of it). */
	readonly tenantIdealAfter: Float64Array;
	/** The same, per tenant and second after the warm-up (`tenant * idealSeconds + second`). */
	readonly tenantIdealBySecond: Float32Array;
	readonly idealSeconds: number;
	/** Worst window excess: every admission, and leased admissions only (no fallback). */
	readonly tenantExcess: ExcessTable;
	readonly tenantExcessLeased: ExcessTable;
	readonly poolExcess: ExcessTracker;
	readonly poolExcessLeased: ExcessTracker;
	/** Pool calls per 1-s window of the run, per shard (shard-major). */
	readonly poolCallsPerSecond: Float64Array;
	readonly #seconds: number;
	readonly #refTokens: Float64Array;
	readonly #refAt: Float64Array;
	readonly #bucketWindow: Int32Array;
	readonly #bucketCount: Int32Array;
	readonly #trailing = new Int32Array(TRAILING_MS);
	#trailingSum = 0;
	#trailingMs = 0;

	constructor(
		readonly workload: Workload,
		readonly scheduler: Scheduler,
		readonly pool: BucketPolicy,
		readonly warmupMs: number,
		durationMs: number,
		readonly poolShards: number,
	) {
		const n = workload.size;
		this.tenantAdmitted = new Float64Array(n);
		this.tenantIdealAfter = new Float64Array(n);
		this.idealSeconds = Math.max(0, Math.ceil((durationMs - warmupMs) / 1000));
		this.tenantIdealBySecond = new Float32Array(n * this.idealSeconds);
		this.tenantExcess = new ExcessTable(n);
		this.tenantExcessLeased = new ExcessTable(n);
		this.poolExcess = new ExcessTracker(pool);
		this.poolExcessLeased = new ExcessTracker(pool);
		this.#seconds = Math.ceil(durationMs / 1000);
		this.poolCallsPerSecond = new Float64Array(this.#seconds * poolShards);
		this.#refTokens = new Float64Array(n);
		for (let i = 0; i < n; i++) this.#refTokens[i] = policyOf(workload, i).burst;
		this.#refAt = new Float64Array(n);
		this.#bucketWindow = new Int32Array(n).fill(-1);
		this.#bucketCount = new Int32Array(n);
	}

	/**
	 * A request of `tenant` arrives now: the reference bucket takes it if it can.
	 * Returns whether a denial of it would be false (the reference had the
	 * token and the pool admitted less than its rate in the trailing second).
	 */
	arrive(tenant: number): boolean {
		const t = this.scheduler.time;
		const policy = policyOf(this.workload, tenant);
		const tokens = Math.min(
			policy.burst,
			(this.#refTokens[tenant] as number) + ((t - (this.#refAt[tenant] as number)) * policy.rate) / 1000,
		);
		this.#refAt[tenant] = t;
		const after = t >= this.warmupMs;
		this.offered += 1;
		if (after) this.requests += 1;
		if (tokens < 1) {
			this.#refTokens[tenant] = tokens;
			return false;
		}
		this.#refTokens[tenant] = tokens - 1;
		this.ideal += 1;
		if (after) {
			this.idealAfter += 1;
			this.tenantIdealAfter[tenant] = (this.tenantIdealAfter[tenant] as number) + 1;
			const second = Math.min(this.idealSeconds - 1, Math.floor((t - this.warmupMs) / 1000));
			const slot = tenant * this.idealSeconds + second;
			this.tenantIdealBySecond[slot] = (this.tenantIdealBySecond[slot] as number) + 1;
		}
		this.#advanceTrailing(t);
		return this.#trailingSum < this.pool.rate;
	}

	/**
	 * The decision for a request of `tenant` that arrived at `arrivedAt` came
	 * now; `waited` if `admit` returned a promise, `floor` if it was the first
	 * of its tenant in its isolate within a lease lifetime.
	 */
	decide(
		tenant: number,
		arrivedAt: number,
		decision: Decision,
		waited: boolean,
		floor: boolean,
		falseIfDenied: boolean,
	) {
		const t = this.scheduler.time;
		const after = arrivedAt >= this.warmupMs;
		if (decision.allowed) {
			const policy = policyOf(this.workload, tenant);
			this.admitted += 1;
			this.tenantExcess.admit(tenant, t, policy.rate, policy.burst);
			this.poolExcess.admit(t);
			if (!decision.fallback) {
				this.tenantExcessLeased.admit(tenant, t, policy.rate, policy.burst);
				this.poolExcessLeased.admit(t);
			}
			this.#advanceTrailing(t);
			this.#trailing[Math.floor(t) % TRAILING_MS] = (this.#trailing[Math.floor(t) % TRAILING_MS] as number) + 1;
			this.#trailingSum += 1;
			if (after) {
				this.admittedAfter += 1;
				this.tenantAdmitted[tenant] = (this.tenantAdmitted[tenant] as number) + 1;
			}
		} else if (after && falseIfDenied) {
			this.falseDenials += 1;
			const why = decision.fallback ? `${decision.reason}/${decision.fallback}` : decision.reason;
			this.falseDenialsByReason.set(why, (this.falseDenialsByReason.get(why) ?? 0) + 1);
		}
		if (!after) return;
		if (decision.fallback) this.fallbacks += 1;
		if (waited) this.waited += 1;
		if (floor) this.waitedFloor += 1;
		this.latency.add(t - arrivedAt);
	}

	/** A request at `t` that no earlier lease of its isolate could cover: a call every limiter must make. */
	leaseNeeded(t: number): void {
		if (t >= this.warmupMs) this.callsFloor += 1;
	}

	/** A call of the keep-alive schedule at `t`. */
	keepAliveCall(t: number): void {
		if (t >= this.warmupMs) this.keepAliveCalls += 1;
	}

	tenantCall(tenant: number): void {
		const t = this.scheduler.time;
		const window = Math.floor(t / 1000);
		if (this.#bucketWindow[tenant] !== window) {
			this.#bucketWindow[tenant] = window;
			this.#bucketCount[tenant] = 0;
		}
		const count = (this.#bucketCount[tenant] as number) + 1;
		this.#bucketCount[tenant] = count;
		if (t < this.warmupMs) return;
		this.tenantCalls += 1;
		if (count > this.hottestBucketCalls) {
			this.hottestBucketCalls = count;
			this.hottestBucketTenant = tenant;
		}
	}

	poolCall(shard: number): void {
		const t = this.scheduler.time;
		const window = Math.floor(t / 1000);
		const slot = shard * this.#seconds + window;
		if (window < this.#seconds) this.poolCallsPerSecond[slot] = (this.poolCallsPerSecond[slot] as number) + 1;
		if (t >= this.warmupMs) this.poolCalls += 1;
	}

	/** Moves the trailing second's ring of 1-ms slots up to `t`. */
	#advanceTrailing(t: number): void {
		const ms = Math.floor(t);
		if (ms - this.#trailingMs >= TRAILING_MS) {
			this.#trailing.fill(0);
			this.#trailingSum = 0;
			this.#trailingMs = ms;
			return;
		}
		while (this.#trailingMs < ms) {
			this.#trailingMs += 1;
			const slot = this.#trailingMs % TRAILING_MS;
			this.#trailingSum -= this.#trailing[slot] as number;
			this.#trailing[slot] = 0;
		}
	}
}
