/**
 * Deterministic traffic scenarios run against the real limiter logic (isolate
 * leases, tenant ledgers, the weighted pool) on a fake clock. Each reports
 * what was admitted against what an exact token bucket allows, and the worst
 * over-admission in any time window.
 */
import type { BucketPolicy } from "../src/limiter/bucket";
import { LEASE_MAX_BURST_FRACTION } from "../src/limiter/lease";
import type { LocalLimiter } from "../src/limiter/local";
import { policyForTier, type TenantPolicy } from "../src/tiers";
import { Cluster } from "./cluster";

/** One tenant's offered load. */
export interface TenantLoad {
	key: string;
	policy: TenantPolicy;
	/** Requests per second offered while on. */
	perSecond: number;
	/** On/off shape: on for `onMs` out of every `periodMs` (always on when absent). */
	onMs?: number;
	periodMs?: number;
}

/** A scenario: who sends what, through how many isolates, for how long. */
export interface Scenario {
	name: string;
	isolates: number;
	durationMs: number;
	tickMs: number;
	tenants: TenantLoad[];
	pool?: BucketPolicy;
	/** Replace one isolate (its leases die with it) this often. */
	churnEveryMs?: number;
	/**
	 * Under-admission and pool shares are measured from here to the end, once the
	 * opening burst is spent: a steady state, where the tokens isolates hold at
	 * either end of the window cancel out. @default 0
	 */
	windowFromMs?: number;
}

/** Per-tenant outcome. */
export interface TenantOutcome {
	key: string;
	tier: string;
	weight: number;
	offered: number;
	admitted: number;
	/** What an exact token bucket admits for the same arrivals. */
	ideal: number;
	/** Admitted and ideal within the measuring window. */
	windowAdmitted: number;
	windowIdeal: number;
	/** Largest excess over `burst + rate × length` in any window; must be 0. */
	overAdmitted: number;
}

/** A scenario's outcome. */
export interface ScenarioOutcome {
	name: string;
	isolates: number;
	admitted: number;
	ideal: number;
	over_admitted: number;
	/** Shortfall against the exact bucket within the measuring window. */
	under_admission_pct: number;
	/** For churn: the allowed loss, isolates replaced × largest lease. */
	loss_bound: number | null;
	tenant_calls_per_admitted: number;
	pool_calls_per_admitted: number;
	/** For contended pools: each tenant's share of the pool vs its weight's share, as a relative error. */
	share_errors: { key: string; weight: number; share: number; expected: number; error_pct: number }[] | null;
	tenants: TenantOutcome[];
}

/** Largest excess of admissions over `burst + rate × span` across all windows of ticks. */
export function worstWindowExcess(cumulative: number[], times: number[], policy: BucketPolicy): number {
	let worst = 0;
	for (let j = 0; j < cumulative.length; j++) {
		for (let i = 0; i <= j; i++) {
			const count = (cumulative[j] ?? 0) - (i > 0 ? (cumulative[i - 1] ?? 0) : 0);
			const span = ((times[j] ?? 0) - (times[i] ?? 0)) / 1000;
			worst = Math.max(worst, count - (policy.burst + policy.rate * span));
		}
	}
	return worst > 1e-9 ? worst : 0;
}

function arrivals(load: TenantLoad, at: number, tickMs: number, carry: Map<string, number>): number {
	if (load.onMs !== undefined && load.periodMs !== undefined && at % load.periodMs >= load.onMs) return 0;
	const due = (carry.get(load.key) ?? 0) + (load.perSecond * tickMs) / 1000;
	const whole = Math.floor(due);
	carry.set(load.key, due - whole);
	return whole;
}

/** Runs a scenario to completion. */
export async function runScenario(scenario: Scenario): Promise<ScenarioOutcome> {
	const cluster = new Cluster(scenario.pool ? { pool: scenario.pool } : {});
	let generation = 0;
	const isolates: LocalLimiter[] = Array.from({ length: scenario.isolates }, () =>
		cluster.isolate(`g0-${generation++}`),
	);
	const carry = new Map<string, number>();
	const start = cluster.clock.now();
	const cumulative = new Map<string, number[]>(scenario.tenants.map((t) => [t.key, []]));
	const reference = new Map(scenario.tenants.map((t) => [t.key, { tokens: t.policy.burst, at: start }]));
	const outcome = new Map<string, TenantOutcome>(
		scenario.tenants.map((t) => [
			t.key,
			{
				key: t.key,
				tier: t.policy.tier,
				weight: t.policy.weight,
				offered: 0,
				admitted: 0,
				ideal: 0,
				windowAdmitted: 0,
				windowIdeal: 0,
				overAdmitted: 0,
			},
		]),
	);
	const times: number[] = [];
	let replaced = 0;
	let next = 0;
	for (let at = 0; at < scenario.durationMs; at += scenario.tickMs) {
		if (scenario.churnEveryMs && at > 0 && at % scenario.churnEveryMs === 0) {
			isolates[replaced % isolates.length] = cluster.isolate(`g${replaced + 1}-${generation++}`);
			replaced += 1;
		}
		const now = cluster.clock.now();
		const pending: Promise<void>[] = [];
		for (const load of scenario.tenants) {
			const count = arrivals(load, at, scenario.tickMs, carry);
			const result = outcome.get(load.key) as TenantOutcome;
			const ref = reference.get(load.key) as { tokens: number; at: number };
			ref.tokens = Math.min(load.policy.burst, ref.tokens + ((now - ref.at) * load.policy.rate) / 1000);
			ref.at = now;
			for (let n = 0; n < count; n++) {
				result.offered += 1;
				if (ref.tokens >= 1) {
					ref.tokens -= 1;
					result.ideal += 1;
					if (at >= (scenario.windowFromMs ?? 0)) result.windowIdeal += 1;
				}
				const isolate = isolates[next++ % isolates.length] as LocalLimiter;
				pending.push(
					Promise.resolve(isolate.admit(load.key, load.policy, 1)).then((decision) => {
						if (!decision.allowed) return;
						result.admitted += 1;
						if (at >= (scenario.windowFromMs ?? 0)) result.windowAdmitted += 1;
					}),
				);
			}
		}
		await Promise.all(pending);
		for (const load of scenario.tenants)
			(cumulative.get(load.key) as number[]).push(outcome.get(load.key)?.admitted ?? 0);
		times.push(now);
		cluster.clock.advance(scenario.tickMs);
	}
	const tenants = [...outcome.values()];
	for (const load of scenario.tenants) {
		const result = outcome.get(load.key) as TenantOutcome;
		result.overAdmitted = worstWindowExcess(cumulative.get(load.key) as number[], times, load.policy);
	}
	const admitted = tenants.reduce((sum, t) => sum + t.admitted, 0);
	let ideal = tenants.reduce((sum, t) => sum + t.ideal, 0);
	const windowAdmitted = tenants.reduce((sum, t) => sum + t.windowAdmitted, 0);
	let windowIdeal = tenants.reduce((sum, t) => sum + t.windowIdeal, 0);
	if (scenario.pool) {
		const from = scenario.windowFromMs ?? 0;
		ideal = Math.min(ideal, Math.floor(scenario.pool.burst + (scenario.pool.rate * scenario.durationMs) / 1000));
		windowIdeal = Math.min(windowIdeal, Math.floor((scenario.pool.rate * (scenario.durationMs - from)) / 1000));
	}
	const largestLease = Math.max(...scenario.tenants.map((t) => Math.floor(t.policy.burst * LEASE_MAX_BURST_FRACTION)));
	let shareErrors: ScenarioOutcome["share_errors"] = null;
	if (scenario.pool) {
		const totalWeight = tenants.reduce((sum, t) => sum + t.weight, 0);
		shareErrors = tenants.map((t) => {
			const share = t.windowAdmitted / windowAdmitted;
			const expected = t.weight / totalWeight;
			return {
				key: t.key,
				weight: t.weight,
				share,
				expected,
				error_pct: (Math.abs(share - expected) / expected) * 100,
			};
		});
	}
	return {
		name: scenario.name,
		isolates: scenario.isolates,
		admitted,
		ideal,
		over_admitted: tenants.reduce((sum, t) => sum + t.overAdmitted, 0),
		under_admission_pct: windowIdeal > 0 ? (Math.max(0, windowIdeal - windowAdmitted) / windowIdeal) * 100 : 0,
		loss_bound: scenario.churnEveryMs ? (replaced + scenario.isolates) * largestLease : null,
		tenant_calls_per_admitted: admitted > 0 ? cluster.calls.tenant / admitted : 0,
		pool_calls_per_admitted: admitted > 0 ? cluster.calls.pool / admitted : 0,
		share_errors: shareErrors,
		tenants,
	};
}

const starter = policyForTier("starter") as TenantPolicy;
const growth = policyForTier("growth") as TenantPolicy;
const scale = policyForTier("scale") as TenantPolicy;

function tiered(prefix: string, count: number, factor: number): TenantLoad[] {
	const tiers = [starter, growth, scale];
	return Array.from({ length: count }, (_, i) => {
		const policy = tiers[i % tiers.length] as TenantPolicy;
		return { key: `t:${prefix}${i}`, policy, perSecond: policy.rate * factor };
	});
}

/** A high-volume tenant (per-tenant overrides, as an API's biggest customers have). */
const highVolume: TenantPolicy = {
	tier: "enterprise",
	rate: 5_000,
	burst: 20_000,
	weight: 2,
	version: 0,
	tiersVersion: 0,
};

/**
 * Tenants of the three tiers offering the same rate: each tier's limit is above
 * its fair share of a contended pool, so shares must follow the weights (1, 1.2,
 * 2), not the demand nor the limits.
 */
function equalDemand(prefix: string, count: number, perSecond: number): TenantLoad[] {
	return tiered(prefix, count, 1).map((load) => ({ ...load, perSecond }));
}

/** The scenarios the simulation runs and the tests assert on. */
export const SCENARIOS: Scenario[] = [
	{
		name: "steady-high-rate",
		isolates: 4,
		durationMs: 10_000,
		tickMs: 10,
		tenants: [0, 1].map((i) => ({ key: `t:volume${i}`, policy: highVolume, perSecond: 4_750 })),
	},
	{
		name: "steady-overload",
		isolates: 4,
		durationMs: 20_000,
		tickMs: 10,
		tenants: tiered("steady", 3, 1.5),
		// At 1.5 × the rate a full burst takes 8 s to drain; measure the steady state after it.
		windowFromMs: 10_000,
	},
	{
		name: "bursty",
		isolates: 4,
		durationMs: 10_000,
		tickMs: 10,
		tenants: tiered("bursty", 3, 10).map((t) => ({ ...t, onMs: 200, periodMs: 1_000 })),
	},
	{
		name: "many-isolates",
		isolates: 32,
		durationMs: 16_000,
		tickMs: 10,
		tenants: tiered("many", 3, 2),
		// At 2 × the rate a full burst takes 4 s to drain.
		windowFromMs: 6_000,
	},
	{
		name: "isolate-churn",
		isolates: 8,
		durationMs: 10_000,
		tickMs: 10,
		tenants: tiered("churn", 3, 1.5),
		churnEveryMs: 250,
	},
	{
		name: "contended-pool",
		isolates: 4,
		durationMs: 12_000,
		tickMs: 10,
		tenants: tiered("contended", 3, 2),
		pool: { rate: 600, burst: 600 },
		windowFromMs: 2_000,
	},
	{
		name: "contended-pool-30-tenants",
		isolates: 8,
		durationMs: 12_000,
		tickMs: 10,
		tenants: tiered("crowd", 30, 2),
		pool: { rate: 6_000, burst: 6_000 },
		windowFromMs: 2_000,
	},
	{
		name: "contended-pool-equal-demand",
		isolates: 8,
		durationMs: 20_000,
		tickMs: 10,
		tenants: equalDemand("equal", 30, 600),
		// A pool burst far above its rate: the first 8 s are uncontended, with large grants.
		pool: { rate: 6_000, burst: 50_000 },
		windowFromMs: 10_000,
	},
];
