/**
 * `npm run bench`: throughput, latency and Durable Object calls of
 * (a) a pass-through Worker, (b) this limiter, (c) a naive limiter that calls a
 * Durable Object per request and (d) hono-rate-limiter's DurableObjectStore,
 * each in workerd started directly (no wrangler dev proxy, no Miniflare), in
 * front of an origin Worker (bench/throughput.ts). Then the paired run
 * (bench/paired.ts), issue 5's noisy neighbour (bench/noisy-neighbour.ts) and
 * issue 13's round trip to the objects (bench/rtt.ts).
 * Prints tables and writes bench/results.json, together with the simulation's
 * accuracy and the isolate memory figures.
 *
 * `npm run bench -- limiter noisy-neighbour` runs only the parts named;
 * `--rtt-ms N` sets the rtt run's round trip (else BENCH_RTT_MS, 25).
 */
import { spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { parseArgs } from "node:util";
import { simulate } from "../sim/run";
import { buildDir, bundle } from "./build";
import { measureMemory } from "./memory";
import { type NeighbourResult, noisyNeighbour } from "./noisy-neighbour";
import { paired } from "./paired";
import { canPin } from "./processes";
import { report } from "./report";
import { rtt } from "./rtt";
import { RTT_MS } from "./settings";
import { throughput } from "./throughput";
import { VARIANTS } from "./variants";

const LAYOUTS = ["shared", "split"] as const;
/** What can be named on the command line: a variant's throughput run, or a part. */
const PARTS = [
	...VARIANTS.map((v) => v.name),
	"paired",
	"noisy-neighbour",
	...LAYOUTS.map((layout) => `noisy-neighbour:${layout}`),
	"rtt",
];

const { positionals: only, values } = parseArgs({
	allowPositionals: true,
	strict: true,
	options: { "rtt-ms": { type: "string" } },
});
const rttMs = Number(values["rtt-ms"] ?? RTT_MS);
if (!Number.isFinite(rttMs) || rttMs < 0) {
	console.error(`bench: --rtt-ms must be a number of milliseconds ≥ 0, got ${values["rtt-ms"]}`);
	process.exit(2);
}
const unknown = only.filter((name) => !PARTS.includes(name));
if (unknown.length > 0) {
	console.error(`bench: unknown ${unknown.join(", ")}; name any of: ${PARTS.join(", ")}`);
	process.exit(2);
}

mkdirSync(buildDir, { recursive: true });
// The helpers every workerd config embeds.
for (const helper of ["origin", "kv", "stats"]) await bundle(`bench/workers/${helper}.ts`, helper);
if (canPin() && !process.env.BENCH_PINNED) {
	// Re-run this process pinned to CPU 0; workerd gets CPU 1.
	const child = spawn("taskset", ["-c", "0", process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
		stdio: "inherit",
		env: { ...process.env, BENCH_PINNED: "1" },
	});
	process.exit(await new Promise<number>((resolve) => child.once("exit", (code) => resolve(code ?? 1))));
}

/** Nothing named runs everything. */
const wanted = (name: string) => only.length === 0 || only.includes(name);
const throughputResult = await throughput(VARIANTS.filter((variant) => wanted(variant.name)));
const pairedCosts = wanted("paired") ? await paired() : null;
/** `noisy-neighbour` runs both layouts; `noisy-neighbour:split` (or `:shared`) only that one. */
const neighbour: NeighbourResult[] = [];
for (const layout of LAYOUTS) {
	if (wanted("noisy-neighbour") || only.includes(`noisy-neighbour:${layout}`))
		neighbour.push(await noisyNeighbour(layout));
}
const rttResult = wanted("rtt") ? await rtt(rttMs) : null;
console.error("bench: simulation and memory…");
const scenarios = await simulate();
const memory = await measureMemory(100_000, 1_000_000).catch(() => null);
report({ throughput: throughputResult, paired: pairedCosts, neighbour, rtt: rttResult, scenarios, memory });
