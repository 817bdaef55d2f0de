/**
 * Turns a run's counts into the scenario report (the JSON shape of
 * `--json`), including the weighted max-min fair shares of the pool, and
 * prints reports as a table.
 */
import type { EngineOptions, EngineResult } from "./engine";
import { meanAndSd, quantile, waterFill, waterFillBySecond } from "./math";
import { policyOf } from "./workload";

/** One scenario's line of the report. */
export interface ScenarioReport {
	name: string;
	admitted: number;
	ideal: number;
	tenant_over_admitted: number;
	pool_over_admitted: number;
	false_denials_pct: number;
	false_denials_by_reason_pct: Record<string, number>;
	under_admission_pct: number;
	burst_pool_calls_per_s: { mean: number; max: number };
	hottest_tenant_bucket_calls_per_s: number;
	do_calls_per_admitted: number;
	/** The fewest tenant calls per admitted request any exact limiter with the same longest lease makes. */
	do_calls_floor_per_admitted: number;
	/** The same for the cheapest exact limiter that knows no future and waits only on the floor. */
	do_calls_keepalive_per_admitted: number;
	waited_pct: number;
	waited_floor_pct: number;
	added_latency_ms: { p50: number; p99: number };
	fallback_pct: number;
	pool_share_error_pct: number | null;
	/** Extra keys: see the README of sim/global. */
	[extra: string]: unknown;
}

const pct = (part: number, whole: number): number => (whole > 0 ? (part / whole) * 100 : 0);
const round = (value: number, digits = 4): number => Number(value.toFixed(digits));

/** Per backlogged tenant, in per cent (see {@link poolShareErrors}). */
export interface PoolShareErrors {
	errors: number[];
	signed: number[];
	floors: number[];
	aboveFloor: number[];
	/** The ideal per-second scheduler's signed error against the same shares. */
	ideal: number[];
	/** The limiter's signed error against what that scheduler gave the tenant. */
	vsIdeal: number[];
}

/**
 * Each backlogged tenant's error against its weighted max-min fair share of
 * what the pool admitted (`signed`: positive above the share), and its
 * floor: how far below that share the requests its own exact bucket could
 * take fell (arrivals are Poisson: a tenant that offers a little more than
 * its share on average offers less in some runs, and no limiter can admit
 * what was never sent). The floor assumes a scheduler that shares the pool
 * over the whole run; one that shares it second by second (the pool is a
 * rate) caps a tenant in the seconds it sends more than the level and cannot
 * give it back in the seconds it sends less: `ideal` is what the best such
 * scheduler, knowing every arrival, misses each share by, and `vsIdeal` how
 * far the limiter is from what that scheduler gave each tenant.
 */
export function poolShareErrors(result: EngineResult, options: EngineOptions): PoolShareErrors | null {
	const { workload, metrics } = result;
	const seconds = (options.durationMs - options.warmupMs) / 1000;
	const demand = new Float64Array(workload.size);
	const weight = new Float64Array(workload.size);
	let totalDemand = 0;
	for (let i = 0; i < workload.size; i++) {
		const policy = policyOf(workload, i);
		demand[i] = Math.min(workload.rate[i] as number, policy.rate);
		weight[i] = policy.weight;
		totalDemand += demand[i] as number;
	}
	// An uncontended pool has no shares to get wrong.
	if (totalDemand <= options.pool.rate) return null;
	const level = waterFill(demand, weight, metrics.admittedAfter / seconds);
	if (!Number.isFinite(level)) return null;
	const capacities = Array.from(
		{ length: metrics.idealSeconds },
		(_, s) => Math.min(1, seconds - s) * (metrics.admittedAfter / seconds),
	);
	const bySecond = waterFillBySecond(metrics.tenantIdealBySecond, metrics.idealSeconds, weight, capacities);
	const errors: number[] = [];
	const signed: number[] = [];
	const floors: number[] = [];
	const aboveFloor: number[] = [];
	const ideal: number[] = [];
	const vsIdeal: number[] = [];
	for (let i = 0; i < workload.size; i++) {
		const fair = (weight[i] as number) * level;
		if ((demand[i] as number) <= fair * (1 + 1e-9)) continue;
		const admitted = metrics.tenantAdmitted[i] as number;
		const best = bySecond[i] as number;
		ideal.push(((best / seconds - fair) / fair) * 100);
		vsIdeal.push(best > 0 ? ((admitted - best) / best) * 100 : 0);
		const over = ((admitted / seconds - fair) / fair) * 100;
		const error = Math.abs(over);
		const floor = (Math.max(0, fair - (metrics.tenantIdealAfter[i] as number) / seconds) / fair) * 100;
		errors.push(error);
		signed.push(over);
		floors.push(floor);
		// The limiter's own part of the error: what the tenant's arrivals alone did not force on it.
		aboveFloor.push(Math.max(0, error - floor));
	}
	return { errors, signed, floors, aboveFloor, ideal, vsIdeal };
}

/** Signed errors (per cent) summed up: percentiles of their size, and their mean and spread. */
function summary(signed: readonly number[]): { p50: number; p95: number; max: number; bias: number; sd: number } {
	const sizes = signed.map(Math.abs);
	const { mean, sd } = meanAndSd(signed);
	return {
		p50: round(quantile(sizes, 0.5), 2),
		p95: round(quantile(sizes, 0.95), 2),
		max: round(Math.max(0, ...sizes), 2),
		bias: round(mean, 2),
		sd: round(sd, 2),
	};
}

/** The report of one finished run. */
export function scenarioReport(
	name: string,
	result: EngineResult,
	options: EngineOptions,
	wallSeconds: number,
): ScenarioReport {
	const { metrics: m, scheduler, objects } = result;
	let ideal = Math.min(m.ideal, Math.floor(options.pool.burst + (options.pool.rate * options.durationMs) / 1000));
	ideal = Math.max(0, ideal);
	const idealAfter = Math.min(m.idealAfter, (options.pool.rate * (options.durationMs - options.warmupMs)) / 1000);
	// Per shard: each 1-s window after the warm-up of each BurstPool object.
	const seconds = m.poolCallsPerSecond.length / options.poolShards;
	const windows = Array.from({ length: options.poolShards }, (_, shard) =>
		Array.from(
			m.poolCallsPerSecond.subarray(shard * seconds + Math.ceil(options.warmupMs / 1000), (shard + 1) * seconds),
		),
	).flat();
	const shares = poolShareErrors(result, options);
	const errors = shares?.errors ?? [];
	const floors = shares?.floors ?? [];
	const aboveFloor = shares?.aboveFloor ?? [];
	// The limiter's errors, summed up as the per-second ideal's are below.
	const own = summary(shares?.signed ?? []);
	return {
		name,
		admitted: m.admitted,
		ideal,
		tenant_over_admitted: round(m.tenantExcess.max()),
		pool_over_admitted: round(m.poolExcess.worst),
		false_denials_pct: round(pct(m.falseDenials, m.requests)),
		false_denials_by_reason_pct: Object.fromEntries(
			[...m.falseDenialsByReason].map(([reason, count]) => [reason, round(pct(count, m.requests))]),
		),
		under_admission_pct: round(pct(idealAfter - m.admittedAfter, idealAfter)),
		burst_pool_calls_per_s: {
			mean: round(windows.reduce((a, b) => a + b, 0) / Math.max(1, windows.length), 1),
			max: Math.max(0, ...windows),
		},
		hottest_tenant_bucket_calls_per_s: m.hottestBucketCalls,
		do_calls_per_admitted: round((m.tenantCalls + m.poolCalls) / Math.max(1, m.admittedAfter)),
		do_calls_floor_per_admitted: round(m.callsFloor / Math.max(1, m.admittedAfter)),
		do_calls_keepalive_per_admitted: round(m.keepAliveCalls / Math.max(1, m.admittedAfter)),
		waited_pct: round(pct(m.waited, m.requests)),
		waited_floor_pct: round(pct(m.waitedFloor, m.requests)),
		added_latency_ms: { p50: round(m.latency.quantile(0.5), 2), p99: round(m.latency.quantile(0.99), 2) },
		fallback_pct: round(pct(m.fallbacks, m.requests)),
		pool_share_error_pct: errors.length > 0 ? own.max : null,
		pool_share_error_p50_pct: errors.length > 0 ? own.p50 : null,
		pool_share_error_p95_pct: errors.length > 0 ? own.p95 : null,
		pool_share_floor_pct: floors.length > 0 ? round(Math.max(...floors), 2) : null,
		pool_share_floor_p50_pct: floors.length > 0 ? round(quantile(floors, 0.5), 2) : null,
		pool_share_error_above_floor_pct: aboveFloor.length > 0 ? round(Math.max(...aboveFloor), 2) : null,
		pool_share_error_above_floor_p95_pct: aboveFloor.length > 0 ? round(quantile(aboveFloor, 0.95), 2) : null,
		pool_share_backlogged_tenants: shares ? errors.length : null,
		pool_share_bias_pct: shares ? own.bias : null,
		pool_share_error_sd_pct: shares ? own.sd : null,
		pool_share_ideal_1s_pct: shares ? summary(shares.ideal) : null,
		pool_share_error_vs_ideal_1s_pct: shares ? summary(shares.vsIdeal) : null,
		tenant_over_admitted_excl_fallback: round(m.tenantExcessLeased.max()),
		pool_over_admitted_excl_fallback: round(m.poolExcessLeased.worst),
		offered: m.offered,
		offered_rps: round(result.workload.totalRate, 1),
		admitted_after_warmup: m.admittedAfter,
		ideal_after_warmup: Math.round(idealAfter),
		hottest_tenant_bucket: m.hottestBucketTenant >= 0 ? result.workload.keys[m.hottestBucketTenant] : null,
		tenant_buckets: objects.buckets,
		pool_shards: options.poolShards,
		isolates_started: result.isolatesStarted,
		timers_fired: scheduler.fired,
		microtask_drains: scheduler.drains,
		grantor_errors: result.errors,
		wall_s: round(wallSeconds, 1),
	};
}

/** Prints the reports, one column per scenario. */
export function printReports(reports: ScenarioReport[]): void {
	const rows: Record<string, Record<string, unknown>> = {};
	for (const report of reports) {
		for (const [key, value] of Object.entries(report)) {
			if (key === "name") continue;
			const cells = value !== null && typeof value === "object" ? Object.entries(value) : [["", value]];
			for (const [sub, cell] of cells) {
				const row = sub ? `${key}.${sub}` : key;
				rows[row] ??= {};
				(rows[row] as Record<string, unknown>)[report.name] = cell;
			}
		}
	}
	console.table(rows);
}
