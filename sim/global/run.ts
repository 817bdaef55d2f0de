/**
 * `npm run sim:global`: the global simulation. Runs the real limiter code
 * (LocalLimiter, TenantLedger for tenants and pool shards) for an Internet-shaped population
 * on simulated time with round-trip latencies, and prints one column per
 * scenario; `--json <file>` also writes the report. `--help` lists the flags.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
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
	"pool-shards": ["poolShards", "Durable Objects the burst pool is split into"],
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
  --jobs <n>           scenarios run at once, each in its own process (default: the machine's cores)
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
	jobs: number;
} {
	const { values } = parseArgs({
		args,
		options: {
			...Object.fromEntries(Object.keys(FLAGS).map((flag) => [flag, { type: "string" as const }])),
			scenario: { type: "string" },
			json: { type: "string" },
			"fail-mode": { type: "string" },
			jobs: { type: "string" },
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
	const jobs = typeof values.jobs === "string" ? Number(values.jobs) : availableParallelism();
	if (!Number.isInteger(jobs) || jobs < 1) throw new Error(`--jobs: not a positive integer: ${values.jobs}`);
	return {
		options,
		scenarios: names as ScenarioName[],
		...(typeof values.json === "string" && { json: values.json }),
		help: values.help === true,
		jobs,
	};
}

const LONGEST_FIRST: readonly ScenarioName[] = [
	"internet-pool-surge",
	"internet-hot",
	"internet-churn",
	"internet-steady",
];

/**
 * Runs each scenario in a child process of its own, `jobs` at a time (the
 * scenarios share nothing, and one process uses one core), forwarding every
 * flag; returns the reports in the order asked.
 */
async function simulateInParallel(args: string[], scenarios: readonly ScenarioName[], jobs: number) {
	const dir = mkdtempSync(join(tmpdir(), "sim-global-"));
	// The flags other than these are the child's as given.
	const own = new Set(["--scenario", "--json", "--jobs"]);
	const forwarded = args.filter((arg, i) => !own.has(arg) && !own.has(args[i - 1] as string));
	const runOne = (name: ScenarioName): Promise<ScenarioReport> =>
		new Promise((resolve, reject) => {
			const file = join(dir, `${name}.json`);
			const child = spawn(
				process.execPath,
				[
					...process.execArgv,
					process.argv[1] as string,
					...forwarded,
					"--scenario",
					name,
					"--json",
					file,
					"--jobs",
					"1",
				],
				{ stdio: ["ignore", "pipe", "inherit"] },
			);
			let out = "";
			child.stdout.on("data", (chunk: Buffer) => {
				out += chunk.toString();
			});
			child.on("exit", (code) => {
				if (code !== 0) return reject(new Error(`${name} exited with ${code}`));
				console.log(out.split("\n")[0]);
				resolve(
					(JSON.parse(readFileSync(file, "utf8")) as { scenarios: ScenarioReport[] }).scenarios[0] as ScenarioReport,
				);
			});
		});
	const reports: ScenarioReport[] = new Array(scenarios.length);
	// The longest first (the surge offers the most requests, the hot tenants next), so the cores finish together.
	const order = [...scenarios.keys()].sort(
		(a, b) => LONGEST_FIRST.indexOf(scenarios[a] as ScenarioName) - LONGEST_FIRST.indexOf(scenarios[b] as ScenarioName),
	);
	const worker = async (): Promise<void> => {
		for (let index = order.shift(); index !== undefined; index = order.shift())
			reports[index] = await runOne(scenarios[index] as ScenarioName);
	};
	await Promise.all(Array.from({ length: Math.min(jobs, scenarios.length) }, worker));
	rmSync(dir, { recursive: true, force: true });
	return reports;
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
	const args = process.argv.slice(2);
	const { options, scenarios, json, help, jobs } = parseOptions(args);
	if (help) {
		console.log(USAGE);
	} else {
		const reports =
			jobs > 1 && scenarios.length > 1
				? await simulateInParallel(args, scenarios, jobs)
				: await simulateGlobal(options, scenarios, (line) => console.log(line));
		printReports(reports);
		if (json)
			writeFileSync(json, `${JSON.stringify({ workload: workloadHeader(options), scenarios: reports }, null, 2)}\n`);
	}
}
