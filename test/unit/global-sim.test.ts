import { describe, expect, it } from "vitest";
import type { EngineOptions, EngineResult } from "../../sim/global/engine";
import {
	bruteForceExcess,
	ExcessTable,
	ExcessTracker,
	meanAndSd,
	waterFill,
	waterFillBySecond,
} from "../../sim/global/math";
import { mulberry32 } from "../../sim/global/prng";
import { poolShareErrors, type ScenarioReport } from "../../sim/global/report";
import { simulateGlobal } from "../../sim/global/run";
import { DEFAULTS, type GlobalOptions } from "../../sim/global/scenarios";

describe("waterFill", () => {
	it("matches a hand-computed case", () => {
		// λ = 4: the first item is capped at 1, the others get 1 × 4 and 2 × 4; 1 + 4 + 8 = 13.
		expect(waterFill([1, 10, 10], [1, 1, 2], 13)).toBeCloseTo(4, 12);
		// Nothing capped: λ = 12 / (1 + 2 + 3).
		expect(waterFill([100, 100, 100], [1, 2, 3], 12)).toBeCloseTo(2, 12);
		expect(waterFill([1, 2], [1, 1], 4)).toBe(Number.POSITIVE_INFINITY);
	});
});

describe("waterFillBySecond", () => {
	it.each([
		// Each second shared on its own: 5 + 5, then the first sends 2 and the second takes the other 8. Shared over both
		// seconds at once, 10 each: the first cannot make up in the second what it did not send.
		{ counts: [8, 2, 8, 8], seconds: 2, weights: [1, 1], capacities: [10, 10], expected: [7, 13] },
		// Weights 1 and 2 over one second: 3 and 6 of 9, the third sends 1 and gets it.
		{ counts: [10, 10, 1], seconds: 1, weights: [1, 2, 1], capacities: [10], expected: [3, 6, 1] },
		// A second that nobody fills: everyone gets what it sent; a half second shares half as much.
		{ counts: [1, 8, 2, 8], seconds: 2, weights: [1, 1], capacities: [10, 5], expected: [1 + 2.5, 2 + 2.5] },
	])("gives $expected of $counts", ({ counts, seconds, weights, capacities, expected }) => {
		const got = waterFillBySecond(new Float32Array(counts), seconds, weights, capacities);
		expect(Array.from(got).map((v) => Number(v.toFixed(9)))).toEqual(expected);
	});
});

describe("meanAndSd", () => {
	it.each([
		[[], 0, 0],
		[[5], 5, 0],
		[[1, 3], 2, 1],
		[[10, 0, -10], 0, Math.sqrt(200 / 3)],
		[[2, 4, 4, 4, 5, 5, 7, 9], 5, 2],
	])("of %j: mean %f, sd %f", (values, mean, sd) => {
		const result = meanAndSd(values);
		expect(result.mean).toBeCloseTo(mean, 12);
		expect(result.sd).toBeCloseTo(sd, 12);
	});
});

describe("over-admission in linear time", () => {
	it("agrees with the O(n²) oracle on random admissions", () => {
		const random = mulberry32(42);
		for (let round = 0; round < 200; round++) {
			const policy = { rate: 1 + Math.floor(random() * 20), burst: 1 + Math.floor(random() * 10) };
			const times: number[] = [];
			let t = 0;
			for (let n = Math.floor(random() * 60); n > 0; n--) {
				// Bursts of simultaneous admissions and gaps of up to a second.
				if (random() < 0.7) t += Math.floor(random() * 1000 * random());
				times.push(t);
			}
			const tracker = new ExcessTracker(policy);
			const table = new ExcessTable(2);
			for (const at of times) {
				tracker.admit(at);
				table.admit(1, at, policy.rate, policy.burst);
			}
			const oracle = bruteForceExcess(times, policy);
			expect(tracker.worst).toBeCloseTo(oracle, 6);
			expect(table.max()).toBeCloseTo(oracle, 6);
		}
	});
});

const small: GlobalOptions = {
	...DEFAULTS,
	tenants: 2_000,
	pops: 10,
	isolatesPerPop: 2,
	rps: 2_000,
	durationS: 12,
	warmupS: 3,
	hotTenants: 4,
	hotLocations: 5,
};

function sane(report: ScenarioReport): void {
	const offered = report.offered as number;
	expect(report.admitted).toBeGreaterThan(0);
	expect(report.admitted).toBeLessThanOrEqual(offered);
	expect(report.ideal).toBeLessThanOrEqual(offered);
	expect(report.grantor_errors).toBe(0);
	for (const value of [report.waited_pct, report.waited_floor_pct, report.fallback_pct, report.false_denials_pct]) {
		expect(value).toBeGreaterThanOrEqual(0);
		expect(value).toBeLessThanOrEqual(100);
	}
	expect(report.added_latency_ms.p50).toBeLessThanOrEqual(report.added_latency_ms.p99);
	expect(report.burst_pool_calls_per_s.mean).toBeLessThanOrEqual(report.burst_pool_calls_per_s.max);
}

describe("poolShareErrors", () => {
	it("gives each backlogged tenant's error, its floor, and the part of the error above its floor", () => {
		// Three starter tenants (weight 1) offering their tier's 300/s; the pool admitted 600/s for 10 s: 200/s each is
		// fair. They got 220, 200 and 180/s; their exact reference buckets took 300, 300 and 190/s (the third one's
		// arrivals fell 5 % short of its share, which no limiter can make up).
		const seconds = 10;
		// The third sent all of its 1,900 in the odd seconds, 380 in each: shared second by second, it gets 200 of them
		// (the others 200 each), and nothing in the even seconds, where the others take 300 each.
		const bySecond = [300, 300, 0].flatMap((even, tenant) =>
			Array.from({ length: seconds }, (_, s) => (s % 2 === 0 ? even : tenant === 2 ? 380 : 300)),
		);
		const result = {
			workload: { size: 3, tier: new Uint8Array([0, 0, 0]), rate: new Float64Array([300, 300, 300]) },
			metrics: {
				admittedAfter: 600 * seconds,
				tenantAdmitted: new Float64Array([220, 200, 180].map((r) => r * seconds)),
				tenantIdealAfter: new Float64Array([300, 300, 190].map((r) => r * seconds)),
				tenantIdealBySecond: new Float32Array(bySecond),
				idealSeconds: seconds,
			},
		} as unknown as EngineResult;
		const options = { durationMs: 12_000, warmupMs: 2_000, pool: { rate: 600, burst: 600 } } as EngineOptions;
		const shares = poolShareErrors(result, options);
		const rounded = (values: number[] | undefined) => values?.map((v) => Number(v.toFixed(6)));
		expect(rounded(shares?.errors)).toEqual([10, 0, 10]);
		expect(rounded(shares?.signed)).toEqual([10, 0, -10]);
		expect(rounded(shares?.floors)).toEqual([0, 0, 5]);
		expect(rounded(shares?.aboveFloor)).toEqual([10, 0, 5]);
		// The best per-second scheduler gives them 250, 250 and 100/s: 25 % over, 25 % over, 50 % under.
		expect(rounded(shares?.ideal)).toEqual([25, 25, -50]);
		// The limiter against that: 220 / 250, 200 / 250, 180 / 100.
		expect(rounded(shares?.vsIdeal)).toEqual([-12, -20, 80]);
	});

	it("has nothing to say of a pool its tenants' limits keep uncontended", () => {
		const result = {
			workload: { size: 2, tier: new Uint8Array([0, 0]), rate: new Float64Array([1_000, 1_000]) },
			metrics: {
				admittedAfter: 0,
				tenantAdmitted: new Float64Array(2),
				tenantIdealAfter: new Float64Array(2),
				tenantIdealBySecond: new Float32Array(2 * 10),
				idealSeconds: 10,
			},
		} as unknown as EngineResult;
		// Offered 2,000/s, but each tenant's limit is 300/s: 600/s at most against a pool of 1,000/s.
		const options = { durationMs: 12_000, warmupMs: 2_000, pool: { rate: 1_000, burst: 1_000 } } as EngineOptions;
		expect(poolShareErrors(result, options)).toBeNull();
	});
});

describe("global simulation, small", { timeout: 60_000 }, () => {
	it("is exact when no call misses its deadline (leases only, no fallback)", async () => {
		// A deadline no round trip reaches: every admission spends leased tokens.
		const options = { ...small, timeoutMs: 10_000 };
		const reports = await simulateGlobal(options, ["internet-steady", "internet-hot"]);
		for (const report of reports) {
			sane(report);
			expect(report.fallback_pct).toBe(0);
			expect(report.tenant_over_admitted).toBe(0);
			expect(report.pool_over_admitted).toBe(0);
		}
	});

	it("keeps leased admissions exact at the production deadline, under a contended pool", async () => {
		const [surge] = await simulateGlobal({ ...small, poolRate: 1_000 }, ["internet-pool-surge"]);
		const report = surge as ScenarioReport;
		sane(report);
		// Fallback admissions (FAIL_MODE=local, per isolate) are not exact by design; leased ones are.
		expect(report.tenant_over_admitted_excl_fallback).toBe(0);
		expect(report.pool_over_admitted_excl_fallback).toBe(0);
		expect(report.pool_share_error_pct).not.toBeNull();
		// Shares follow weights across the world, not how many locations a tenant sends from (the pool's root and
		// fair level). Before them the 95th percentile tenant here took 6 times its share (error 519 %); now about 2
		// times on this tiny pool, where a fair share is a few requests a second and the median tenant is 30–50 % off
		// with the level or without it (seeds 1–3).
		expect(report.pool_share_error_p95_pct as number).toBeLessThan(200);
		// The floor is a shortfall of what a tenant sent against its share: a percentage of that share.
		expect(report.pool_share_floor_pct).toBeGreaterThanOrEqual(0);
		expect(report.pool_share_floor_pct).toBeLessThanOrEqual(100);
		expect(report.pool_share_error_above_floor_pct).toBeGreaterThanOrEqual(0);
		expect(report.pool_share_error_above_floor_pct).toBeLessThanOrEqual(report.pool_share_error_pct as number);
		// Signed errors have a mean and a spread no larger than the largest error itself.
		expect(Math.abs(report.pool_share_bias_pct as number)).toBeLessThanOrEqual(report.pool_share_error_pct as number);
		expect(report.pool_share_error_sd_pct as number).toBeGreaterThan(0);
		expect(report.pool_share_error_sd_pct as number).toBeLessThanOrEqual(report.pool_share_error_pct as number);
		// The best per-second scheduler on the same arrivals: a summary of the same shape for it, and for the limiter
		// against it.
		for (const key of ["pool_share_ideal_1s_pct", "pool_share_error_vs_ideal_1s_pct"]) {
			const figures = report[key] as { p50: number; p95: number; max: number; bias: number; sd: number };
			expect(figures.p50).toBeGreaterThanOrEqual(0);
			expect(figures.p50).toBeLessThanOrEqual(figures.p95);
			expect(figures.p95).toBeLessThanOrEqual(figures.max);
			expect(Math.abs(figures.bias)).toBeLessThanOrEqual(figures.max);
		}
	});

	// Issue 13's report: with every TenantBucket leasing its own reserve from one pool, 5,000 quiet tenants at 40 %
	// of the pool's rate were denied `surge_pool` by the thousand, and the pool took a call per active tenant.
	it("never denies for the pool while it is far under its rate", async () => {
		const [steady] = await simulateGlobal({ ...small, poolRate: 5_000 }, ["internet-steady"]);
		const report = steady as ScenarioReport;
		sane(report);
		// Before: 57 % of these requests were denied while their tenant and the pool both had room.
		expect(report.false_denials_pct).toBe(0);
	});

	it("takes pool calls per isolate, not per tenant", async () => {
		const options = { ...small, durationS: 6, warmupS: 2, poolShards: 1 };
		const [few] = await simulateGlobal({ ...options, tenants: 500 }, ["internet-steady"]);
		const [many] = await simulateGlobal({ ...options, tenants: 20_000 }, ["internet-steady"]);
		const fewCalls = (few as ScenarioReport).burst_pool_calls_per_s.mean;
		// Forty times the tenants at the same aggregate rate: about the same pool calls (before: 3.2 × as many).
		expect((many as ScenarioReport).burst_pool_calls_per_s.mean).toBeLessThan(1.5 * fewCalls);
		expect(Number((many as ScenarioReport).tenant_buckets)).toBeGreaterThan(
			5 * Number((few as ScenarioReport).tenant_buckets),
		);
	});

	it("is deterministic", async () => {
		const options = { ...small, durationS: 4, warmupS: 1 };
		const [a] = await simulateGlobal(options, ["internet-churn"]);
		const [b] = await simulateGlobal(options, ["internet-churn"]);
		const strip = (r: ScenarioReport | undefined) => ({ ...r, wall_s: 0 });
		expect(strip(a)).toEqual(strip(b));
	});
});
