/**
 * The scenarios of the global simulation, as variations of one set of
 * command-line options: an Internet-shaped steady load, the same with hot
 * tenants over their limits, a pool surge, and fast isolate churn.
 */
import type { FailMode } from "../../src/limiter/failure-policy";
import { DEFAULT_POOL_SHARDS } from "../../src/limiter/pool-shards";
import { DEFAULT_BURST_POOL } from "../../src/tiers";
import type { EngineOptions } from "./engine";

/** The options every scenario starts from (see run.ts for their flags). */
export interface GlobalOptions {
	tenants: number;
	rps: number;
	zipf: number;
	seed: number;
	pops: number;
	isolatesPerPop: number;
	durationS: number;
	warmupS: number;
	/** Mean isolate lifetime, and the churn scenario's. */
	lifetimeS: number;
	churnLifetimeS: number;
	/** The pool's rate and burst (the surge scenario offers twice the rate). */
	poolRate: number;
	/** Shards the pool is split into (`POOL_SHARDS`). */
	poolShards: number;
	/** Hot tenants in internet-hot, each at `hotFactor` × its tier's rate from `hotLocations` locations. */
	hotTenants: number;
	hotFactor: number;
	hotLocations: number;
	rttMinMs: number;
	rttMaxMs: number;
	timeoutMs: number;
	failMode: FailMode;
}

/** The defaults: production settings (50 ms deadline, `local` failure mode), an Internet-sized population. */
export const DEFAULTS: GlobalOptions = {
	tenants: 100_000,
	rps: 40_000,
	zipf: 1.1,
	seed: 1,
	pops: 200,
	isolatesPerPop: 2,
	durationS: 60,
	warmupS: 10,
	lifetimeS: 60,
	churnLifetimeS: 5,
	poolRate: DEFAULT_BURST_POOL.rate,
	poolShards: DEFAULT_POOL_SHARDS,
	hotTenants: 50,
	hotFactor: 3,
	hotLocations: 50,
	rttMinMs: 2,
	rttMaxMs: 250,
	timeoutMs: 50,
	failMode: "local",
};

export const SCENARIO_NAMES = ["internet-steady", "internet-hot", "internet-pool-surge", "internet-churn"] as const;
export type ScenarioName = (typeof SCENARIO_NAMES)[number];

/** What each scenario changes. */
const VARIANTS: Record<ScenarioName, (o: GlobalOptions) => Partial<EngineOptions>> = {
	// Every tenant below its limit (at most 0.9 × its tier's rate).
	"internet-steady": () => ({}),
	// Extra tenants (not drawn from the Zipf ranks, so the others' load is unchanged) far over their limit.
	"internet-hot": (o) => ({ hotTenants: o.hotTenants }),
	// Tenants up to 1.5 × their tier's rate, together twice what the pool admits.
	"internet-pool-surge": (o) => ({ capFactor: 1.5, rps: 2 * o.poolRate }),
	"internet-churn": (o) => ({ lifetimeMs: o.churnLifetimeS * 1000 }),
};

/** The engine options of scenario `name`. */
export function scenarioOptions(name: ScenarioName, o: GlobalOptions): EngineOptions {
	return {
		tenants: o.tenants,
		rps: o.rps,
		zipf: o.zipf,
		seed: o.seed,
		pops: o.pops,
		capFactor: 0.9,
		hotTenants: 0,
		hotFactor: o.hotFactor,
		hotLocations: o.hotLocations,
		rttMinMs: o.rttMinMs,
		rttMaxMs: o.rttMaxMs,
		isolatesPerPop: o.isolatesPerPop,
		durationMs: o.durationS * 1000,
		warmupMs: o.warmupS * 1000,
		lifetimeMs: o.lifetimeS * 1000,
		pool: { rate: o.poolRate, burst: o.poolRate },
		poolShards: o.poolShards,
		timeoutMs: o.timeoutMs,
		failMode: o.failMode,
		...VARIANTS[name](o),
	};
}
