/**
 * `npm run sim:global`: the global simulation. Runs the real limiter code
 * (LocalLimiter, TenantLedger, BurstPoolLedger) for an Internet-shaped population
 * on simulated time with round-trip latencies, and prints one column per
 * scenario; `--json <file>` also writes the report. `--help` lists the flags.
 */
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import type { FailMode } from "../../src/limiter/failure-policy";
import { runEngine } from "./engine";
import { printReports, type ScenarioReport, scenarioReport } from "./report";
import { DEFAULTS, type GlobalOptions, SCENARIO_NAMES, type ScenarioName, scenarioOptions } from "./scenarios";

/** Flag name → option, all numeric but the fail mode. */
const FLAGS: Record<string, [keyof GlobalOptions, string]> = {
	tenants: ["tenants", "tenants drawn by Zipf rank"],
	rps: ["rps", "aggregate offered requests/s (internet-pool-surge: 2 × --pool-rate)"],
	zipf: ["zipf", "Zipf exponent of offered rates by rank"],
	seed: ["seed", "PRNG seed"],
	pops: ["pops", "locations"],
	"isolates-per-pop": ["isolatesPerPop", "isolates per location"],
	duration: ["durationS", "simulated seconds"],
	warmup: ["warmupS", "seconds excluded from rates at the start"],
	lifetime: ["lifetimeS", "mean isolate lifetime, seconds"],
	"churn-lifetime": ["churnLifetimeS", "mean isolate lifetime in internet-churn, seconds"],
	"pool-rate": ["poolRate", "burst pool rate and burst, requests/s"],
	"hot-tenants": ["hotTenants", "extra tenants over their limit in internet-hot"],
	"hot-factor": ["hotFactor", "hot tenants' offered rate, × their tier's rate"],
	"hot-locations": ["hotLocations", "locations each hot tenant sends from"],
	"rtt-min": ["rttMinMs", "shortest base round trip, ms"],
	"rtt-max": ["rttMaxMs", "longest base round trip, ms"],
	"timeout-ms": ["timeoutMs", "LocalLimiter deadline for a lease call, ms"],
};

const USAGE = `npm run sim:global -- [options]

  --scenario <names>   comma-separated, of ${SCENARIO_NAMES.join(", ")} (default: all)
  --json <file>        also write the report as JSON
  --fail-mode <mode>   open | closed | local (default ${DEFAULTS.failMode})
${Object.entries(FLAGS)
	.map(([flag, [key, help]]) => `  --${flag.padEnd(18)} ${help} (default ${DEFAULTS[key]})`)
	.join("\n")}
  --help               this text`;

/** Parses the command line; throws on an unknown flag or a bad value. */
export function parseOptions(args: string[]): {
	options: GlobalOptions;
	scenarios: ScenarioName[];
	json?: string;
	help: boolean;
} {
	const { values } = parseArgs({
		args,
		options: {
			...Object.fromEntries(Object.keys(FLAGS).map((flag) => [flag, { type: "string" as const }])),
			scenario: { type: "string" },
			json: { type: "string" },
			"fail-mode": { type: "string" },
			help: { type: "boolean", default: false },
		},
	});
	const options: GlobalOptions = { ...DEFAULTS };
	for (const [flag, [key]] of Object.entries(FLAGS)) {
		const raw = (values as Record<string, unknown>)[flag];
		if (typeof raw !== "string") continue;
		const value = Number(raw);
		if (!Number.isFinite(value) || value < 0) throw new Error(`--${flag}: not a number: ${raw}`);
		(options as unknown as Record<string, number>)[key] = value;
	}
	const mode = values["fail-mode"];
	if (typeof mode === "string") {
		if (mode !== "open" && mode !== "closed" && mode !== "local") throw new Error(`--fail-mode: ${mode}`);
		options.failMode = mode as FailMode;
	}
	const names = typeof values.scenario === "string" ? values.scenario.split(",") : [...SCENARIO_NAMES];
	for (const name of names)
		if (!SCENARIO_NAMES.includes(name as ScenarioName)) throw new Error(`--scenario: unknown ${name}`);
	return {
		options,
		scenarios: names as ScenarioName[],
		...(typeof values.json === "string" && { json: values.json }),
		help: values.help === true,
	};
}

/** Runs the scenarios in order, logging each one's wall time. */
export async function simulateGlobal(
	options: GlobalOptions,
	scenarios: readonly ScenarioName[],
	log: (line: string) => void = () => {},
): Promise<ScenarioReport[]> {
	const reports: ScenarioReport[] = [];
	for (const name of scenarios) {
		const engineOptions = scenarioOptions(name, options);
		const started = performance.now();
		const result = await runEngine(engineOptions);
		const wall = (performance.now() - started) / 1000;
		log(`${name}: ${result.metrics.offered} requests in ${wall.toFixed(1)} s wall`);
		reports.push(scenarioReport(name, result, engineOptions, wall));
	}
	return reports;
}

/** The report's workload header. */
export function workloadHeader(options: GlobalOptions) {
	return {
		tenants: options.tenants,
		pops: options.pops,
		isolates: options.pops * options.isolatesPerPop,
		aggregate_rps: options.rps,
		duration_s: options.durationS,
		zipf: options.zipf,
		seed: options.seed,
	};
}

if (import.meta.url === `file://${process.argv[1]}`) {
	const { options, scenarios, json, help } = parseOptions(process.argv.slice(2));
	if (help) {
		console.log(USAGE);
	} else {
		const reports = await simulateGlobal(options, scenarios, (line) => console.log(line));
		printReports(reports);
		if (json)
			writeFileSync(json, `${JSON.stringify({ workload: workloadHeader(options), scenarios: reports }, null, 2)}\n`);
	}
}
