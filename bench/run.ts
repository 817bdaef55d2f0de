/**
 * `npm run bench`: throughput, latency and Durable Object calls of
 * (a) a pass-through Worker, (b) this limiter, (c) a naive limiter that calls a
 * Durable Object per request and (d) hono-rate-limiter's DurableObjectStore,
 * each in workerd started directly (no wrangler dev proxy, no Miniflare), in
 * front of an origin Worker. Several Worker services bound to the same Durable
 * Object namespaces stand for several isolates; autocannon loads each on its
 * own port. Then the paired run: pass-through and limiter at the same time on
 * one core, their CPU per request compared. Then issue 5's noisy neighbour:
 * quiet tenants' rate and latency alone and beside a tenant flooding at 2× its
 * limit. Prints tables and writes bench/results.json, together with the
 * simulation's accuracy and the isolate memory figures.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { Agent, request as httpRequest } from "node:http";
import { cpus } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import { build } from "esbuild";
import workerd from "workerd";
import { simulate } from "../sim/run";
import type { TenantLoad, TenantResult } from "./load";
import { measureMemory } from "./memory";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..");
const buildDir = join(here, ".build");

/** Knobs, overridable from the environment for quicker or longer runs. */
const ISOLATES = Number(process.env.BENCH_ISOLATES ?? 4);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 10);
const WARMUP_S = Number(process.env.BENCH_WARMUP_S ?? 3);
const LATENCY_REQUESTS = Number(process.env.BENCH_LATENCY_REQUESTS ?? 3_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const FIXED_RPS = Number(process.env.BENCH_FIXED_RPS ?? 500);
const FIXED_S = Number(process.env.BENCH_FIXED_S ?? 5);
const TENANTS = ["bench-0", "bench-1"];
/**
 * Noisy neighbour: each quiet tenant's steady rate (low enough for both load generators and the
 * split layout's second workerd to share one core without the flood falling behind), and how far over
 * its limit the neighbour floods.
 */
const QUIET_RPS = Number(process.env.BENCH_QUIET_RPS ?? 25);
const FLOOD_FACTOR = Number(process.env.BENCH_FLOOD_FACTOR ?? 2);
/**
 * Sent before the noisy-neighbour window opens, by the same generators: long enough for a flooding
 * neighbour to spend its burst (1,200 / (600 − 300) = 4 s), so that the window sees a sustained flood.
 */
const NEIGHBOUR_WARMUP_S = Number(process.env.BENCH_NEIGHBOUR_WARMUP_S ?? 5);
/** The neighbour's tier (bench/workers/kv.js): starter, 300/s. */
const NEIGHBOUR_LIMIT = 300;
/** The first process's ports: its origin, then its edge isolates; the stats reader and gateway at the top of the hundred. */
const ORIGIN_PORT = 9300;
/** The noisy-neighbour run's second process: its origin, its edge isolates, and the gateway it leases through. */
const REMOTE_ORIGIN_PORT = 9500;
const REMOTE_FIRST_PORT = 9501;
const GATEWAY_PORT = 9398;
const STATS_PORT = 9399;
const FIRST_PORT = 9301;
/** The paired run's second process: the same layout a few hundred ports up. */
const PAIRED_ORIGIN_PORT = 9600;
const COMPATIBILITY_DATE = "2026-10-01";
/**
 * With a git ref, the paired run compares the limiter as it was there with the
 * working tree's, instead of the pass-through Worker with the limiter: how a
 * change moves CPU per request, measured past the machine's drift.
 */
const BASE_REF = process.env.BENCH_BASE;

type VariantName = "pass-through" | "limiter" | "naive-do" | "hono-do-store" | "limiter-base";

interface Variant {
	name: VariantName;
	entry: string;
	/** Durable Object namespaces: binding name → class. */
	objects: Record<string, string>;
	/** Whether the worker reads tenant configuration from KV. */
	kv?: boolean;
}

interface Run {
	name: VariantName;
	rps: number;
	p50_ms: number;
	p99_ms: number;
	/** workerd CPU time per request at a fixed, unsaturated rate: what bounds throughput. */
	cpu_us_per_request: number;
	/** Share of one core workerd used during the saturated run: below 1, requests waited on something other than CPU. */
	saturated_cpu_share: number;
	c1_p50_ms: number;
	c1_p99_ms: number;
	admitted: number;
	non_2xx: number;
	tenant_calls_per_admitted: number | null;
	pool_calls_per_admitted: number | null;
}

/** Bundles `entry` (relative to `from`, the checkout by default); packages come from the checkout's node_modules. */
async function bundle(entry: string, name: string, from = root): Promise<string> {
	const outfile = join(buildDir, `${name}.js`);
	await build({
		entryPoints: [join(from, entry)],
		nodePaths: [join(root, "node_modules")],
		outfile,
		bundle: true,
		format: "esm",
		platform: "neutral",
		target: "es2022",
		conditions: ["workerd", "worker", "browser"],
		mainFields: ["module", "main"],
		external: ["cloudflare:*", "node:*"],
		logLevel: "error",
	});
	return outfile;
}

const VARIANTS: Variant[] = [
	{ name: "pass-through", entry: "bench/workers/pass-through.ts", objects: {} },
	{
		name: "limiter",
		entry: "src/worker.ts",
		objects: { TENANT_BUCKET: "TenantBucket", BURST_POOL: "BurstPool" },
		kv: true,
	},
	{ name: "naive-do", entry: "bench/workers/naive.ts", objects: { NAIVE: "NaiveBucket" } },
	{ name: "hono-do-store", entry: "bench/workers/hono-store.ts", objects: { HRL: "CountingRateLimiter" } },
];

/** Paths in a workerd config are relative to the config file. */
const embed = (file: string) => `embed ${JSON.stringify(relative(buildDir, file))}`;
const text = (name: string, value: string) => `(name = ${JSON.stringify(name)}, text = ${JSON.stringify(value)})`;
const simpleWorker = (name: string, file: string, bindings: string[] = []) =>
	`(name = ${JSON.stringify(name)}, worker = (modules = [(name = "${name}.js", esModule = ${embed(file)})], compatibilityDate = "${COMPATIBILITY_DATE}", bindings = [${bindings.join(", ")}]))`;
const config = (services: string[], sockets: string[]) =>
	`using Workerd = import "/workerd/workerd.capnp";\nconst config :Workerd.Config = (\n  services = [\n    ${services.join(",\n    ")}\n  ],\n  sockets = [\n    ${sockets.join(",\n    ")}\n  ]\n);\n`;
/** The first edge isolate's port of a process whose origin listens on `originPort`; the others follow. */
const firstEdgePort = (originPort: number) => originPort + (FIRST_PORT - ORIGIN_PORT);
const socket = (name: string, port: number) =>
	`(name = ${JSON.stringify(name)}, address = "127.0.0.1:${port}", http = (), service = ${JSON.stringify(name)})`;

/**
 * The edge's variables. The benchmark measures the lease path: a saturated core must not turn slow
 * lease calls into FAIL_MODE fallbacks (which are tested on their own).
 */
const edgeVars = (originPort: number) => [
	text("ORIGIN_URL", `http://127.0.0.1:${originPort}`),
	text("TENANT_SOURCE", "header:x-tenant-id"),
	text("DO_TIMEOUT_MS", "10000"),
	`(name = "CONFIG", kvNamespace = "kv")`,
];

/**
 * A workerd config: origin, KV, the objects' service, N edge services, and the
 * stats reader; with `gateway`, also the TenantBucket namespace over HTTP.
 * Ports count up from `originPort` as ORIGIN_PORT's do.
 */
function capnp(variant: Variant, script: string, gateway?: string, originPort = ORIGIN_PORT): string {
	const vars = edgeVars(originPort).slice(0, variant.kv ? 4 : 3);
	const objects = (service: string | null) =>
		Object.entries(variant.objects).map(
			([binding, className]) =>
				`(name = ${JSON.stringify(binding)}, durableObjectNamespace = (className = ${JSON.stringify(className)}${
					service ? `, serviceName = ${JSON.stringify(service)}` : ""
				}))`,
		);
	const worker = (bindings: string[], extra = "") =>
		`(modules = [(name = "worker.js", esModule = ${embed(script)})], compatibilityDate = "${COMPATIBILITY_DATE}", bindings = [${bindings.join(", ")}], globalOutbound = "net"${extra})`;
	const namespaces = Object.values(variant.objects)
		.map(
			(className) =>
				`(className = ${JSON.stringify(className)}, uniqueKey = ${JSON.stringify(`bench-${className}`)}, enableSql = true)`,
		)
		.join(", ");
	const services = [
		simpleWorker("origin", join(here, "workers/origin.js")),
		simpleWorker("kv", join(here, "workers/kv.js")),
		`(name = "net", network = (allow = ["public", "private", "local"]))`,
		`(name = "do-disk", disk = (path = ${JSON.stringify(storageDir(variant))}, writable = true))`,
		`(name = "objects", worker = ${worker([...vars, ...objects(null)], `, durableObjectNamespaces = [${namespaces}], durableObjectStorage = (localDisk = "do-disk")`)})`,
		simpleWorker("stats", join(buildDir, "stats.js"), objects("objects")),
		...Array.from(
			{ length: ISOLATES },
			(_, i) => `(name = "edge-${i}", worker = ${worker([...vars, ...objects("objects")])})`,
		),
	];
	const sockets = [
		socket("origin", originPort),
		socket("stats", originPort + (STATS_PORT - ORIGIN_PORT)),
		...Array.from({ length: ISOLATES }, (_, i) => socket(`edge-${i}`, firstEdgePort(originPort) + i)),
	];
	if (gateway) {
		services.push(simpleWorker("do-gateway", gateway, objects("objects")));
		sockets.push(socket("do-gateway", GATEWAY_PORT));
	}
	return config(services, sockets);
}

/**
 * The noisy-neighbour run's second workerd: its own origin and N edge isolates
 * running the limiter unchanged, leasing from the first process's TenantBuckets
 * through the gateway (bench/workers/remote-edge.ts).
 */
function capnpRemote(script: string): string {
	const bindings = [...edgeVars(REMOTE_ORIGIN_PORT), `(name = "DO_GATEWAY", service = "do-gateway")`];
	const services = [
		simpleWorker("origin", join(here, "workers/origin.js")),
		simpleWorker("kv", join(here, "workers/kv.js")),
		`(name = "net", network = (allow = ["public", "private", "local"]))`,
		`(name = "do-gateway", external = (address = "127.0.0.1:${GATEWAY_PORT}", http = ()))`,
		...Array.from(
			{ length: ISOLATES },
			(_, i) =>
				`(name = "edge-${i}", worker = (modules = [(name = "worker.js", esModule = ${embed(script)})], compatibilityDate = "${COMPATIBILITY_DATE}", bindings = [${bindings.join(", ")}], globalOutbound = "net"))`,
		),
	];
	const sockets = [
		socket("origin", REMOTE_ORIGIN_PORT),
		...Array.from({ length: ISOLATES }, (_, i) => socket(`edge-${i}`, REMOTE_FIRST_PORT + i)),
	];
	return config(services, sockets);
}

/**
 * A fresh directory for the variant's Durable Object storage, on disk: a
 * Durable Object's write is durable before its reply leaves (output gates), and
 * a synced local write is the closest this machine has to that cost.
 */
function storageDir(variant: Variant): string {
	return join(buildDir, `storage-${variant.name}`);
}

/**
 * Pins a command to one CPU where `taskset` exists, so that load generator and workerd do not trade cores.
 * A negative `nice` (honoured as root only) lets it preempt whatever else runs on that core.
 */
function pinned(cpu: number, command: string, args: string[], nice = 0): [string, string[]] {
	const [niced, nicedArgs] =
		nice < 0 && process.getuid?.() === 0 ? ["nice", ["-n", String(nice), command, ...args]] : [command, args];
	return existsSync("/usr/bin/taskset") && cpus().length > 1
		? ["taskset", ["-c", String(cpu), niced, ...nicedArgs]]
		: [niced, nicedArgs];
}

async function start(
	variant: Variant,
	script: string,
	gateway?: string,
	originPort = ORIGIN_PORT,
): Promise<ChildProcess> {
	rmSync(storageDir(variant), { recursive: true, force: true });
	mkdirSync(storageDir(variant), { recursive: true });
	return startWorkerd(variant.name, capnp(variant, script, gateway, originPort), 1, firstEdgePort(originPort));
}

/** Writes `text` as a workerd config and serves it on `cpu` until the edge on `port` answers. */
async function startWorkerd(name: string, text: string, cpu: number, port: number, nice = 0): Promise<ChildProcess> {
	const file = join(buildDir, `${name}.capnp`);
	writeFileSync(file, text);
	const [command, args] = pinned(cpu, workerd.default, ["serve", "--experimental", file], nice);
	const child = spawn(command, args, { stdio: ["ignore", "ignore", "ignore"] });
	for (let i = 0; i < 100; i++) {
		await new Promise((resolve) => setTimeout(resolve, 100));
		const up = await fetch(`http://127.0.0.1:${port}/_limiter/health`).then(
			() => true,
			() => false,
		);
		if (up) return child;
	}
	child.kill();
	throw new Error(`workerd did not start for ${name}`);
}

async function countCalls(
	variant: Variant,
	tenants = TENANTS,
): Promise<{ tenant: number; pool: number | null } | null> {
	if (Object.keys(variant.objects).length === 0) return null;
	const response = await fetch(`http://127.0.0.1:${STATS_PORT}/?tenants=${tenants.join(",")}`);
	return (await response.json()) as { tenant: number; pool: number | null };
}

/** CPU time (user + system) a process has used, in milliseconds. */
function cpuMs(pid: number): number {
	const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
	const ticks = Number(fields[11]) + Number(fields[12]);
	return (ticks * 1000) / 100;
}

interface Load {
	rps: number;
	p50: number;
	p99: number;
	ok: number;
	other: number;
}

async function load(
	durationS: number,
	connections = CONNECTIONS,
	overallRate?: number,
	firstPort = FIRST_PORT,
): Promise<Load> {
	const perIsolate = Math.max(1, Math.floor(connections / ISOLATES));
	const results = await Promise.all(
		Array.from({ length: ISOLATES }, (_, i) =>
			autocannon({
				url: `http://127.0.0.1:${firstPort + i}/v1/items`,
				connections: perIsolate,
				duration: durationS,
				...(overallRate ? { overallRate: overallRate / ISOLATES } : {}),
				requests: TENANTS.map((tenant) => ({ method: "GET", headers: { "x-tenant-id": tenant } })),
			}),
		),
	);
	const total = results.reduce((sum, r) => sum + r.requests.total, 0);
	const weighted = (pick: (r: autocannon.Result) => number) =>
		results.reduce((sum, r) => sum + pick(r) * r.requests.total, 0) / Math.max(1, total);
	return {
		rps: results.reduce((sum, r) => sum + r.requests.total, 0) / durationS,
		p50: weighted((r) => r.latency.p50),
		p99: weighted((r) => r.latency.p99),
		ok: results.reduce((sum, r) => sum + r["2xx"], 0),
		other: results.reduce((sum, r) => sum + r.non2xx + r.errors + r.timeouts, 0),
	};
}

/** The q-quantile of `samples` (sorts them in place). */
function percentile(samples: number[], q: number): number {
	samples.sort((a, b) => a - b);
	return samples[Math.min(samples.length - 1, Math.floor(q * samples.length))] ?? 0;
}

/** Sequential requests on one keep-alive connection: latency with microsecond resolution. */
async function sequentialLatency(count: number): Promise<{ p50: number; p99: number }> {
	const agent = new Agent({ keepAlive: true, maxSockets: 1 });
	const samples: number[] = [];
	for (let i = 0; i < count; i++) {
		const started = process.hrtime.bigint();
		await new Promise<void>((resolve, reject) => {
			const req = httpRequest(
				{
					host: "127.0.0.1",
					port: FIRST_PORT,
					path: "/v1/items",
					agent,
					headers: { "x-tenant-id": TENANTS[i % TENANTS.length] },
				},
				(res) => {
					res.resume();
					res.on("end", resolve);
				},
			);
			req.on("error", reject);
			req.end();
		});
		samples.push(Number(process.hrtime.bigint() - started) / 1e6);
	}
	agent.destroy();
	return { p50: percentile(samples, 0.5), p99: percentile(samples, 0.99) };
}

async function measure(variant: Variant): Promise<Run> {
	const script = await bundle(variant.entry, variant.name);
	const child = await start(variant, script);
	try {
		await load(WARMUP_S);
		await sequentialLatency(Math.floor(LATENCY_REQUESTS / 3));
		const c1 = await sequentialLatency(LATENCY_REQUESTS);
		const fixedStart = cpuMs(child.pid as number);
		const fixed = await load(FIXED_S, CONNECTIONS, FIXED_RPS);
		const fixedCpu = cpuMs(child.pid as number) - fixedStart;
		const before = await countCalls(variant);
		const busyStart = cpuMs(child.pid as number);
		const result = await load(DURATION_S);
		const busy = (cpuMs(child.pid as number) - busyStart) / (DURATION_S * 1000);
		const after = await countCalls(variant);
		const per = (pick: (calls: { tenant: number; pool: number | null }) => number | null) => {
			if (!before || !after) return null;
			const a = pick(after);
			const b = pick(before);
			return a === null || b === null ? null : (a - b) / Math.max(1, result.ok);
		};
		return {
			name: variant.name,
			rps: Math.round(result.rps),
			p50_ms: result.p50,
			p99_ms: result.p99,
			cpu_us_per_request: Math.round((fixedCpu * 1000) / Math.max(1, fixed.ok + fixed.other)),
			saturated_cpu_share: Number(busy.toFixed(3)),
			c1_p50_ms: Number(c1.p50.toFixed(3)),
			c1_p99_ms: Number(c1.p99.toFixed(3)),
			admitted: result.ok,
			non_2xx: result.other,
			tenant_calls_per_admitted: per((c) => c.tenant),
			pool_calls_per_admitted: per((c) => c.pool),
		};
	} finally {
		await stop(child);
	}
}

/** Ends a workerd and waits until it has gone, so that its ports are free for the next one. */
async function stop(child: ChildProcess): Promise<void> {
	child.kill();
	await new Promise((resolve) => child.once("exit", resolve));
}

/** The limiter's `src/` as it is at `ref`, extracted under the build directory; returns the directory it is in. */
function sourceAt(ref: string): string {
	const dir = join(buildDir, "base");
	rmSync(dir, { recursive: true, force: true });
	mkdirSync(dir, { recursive: true });
	const archive = spawnSync("git", ["-C", root, "archive", "--format=tar", ref, "src"], { maxBuffer: 1 << 30 });
	if (archive.status !== 0) throw new Error(`git archive ${ref}: ${archive.stderr.toString().trim()}`);
	const untar = spawnSync("tar", ["-x", "-C", dir], { input: archive.stdout });
	if (untar.status !== 0) throw new Error(`tar: ${untar.stderr.toString().trim()}`);
	return dir;
}

/**
 * The pass-through Worker (with BENCH_BASE, the limiter at that ref) and the
 * limiter at the same time: two workerd processes pinned to the same core,
 * each loaded by its own closed-loop generator. Whatever the machine does
 * (here its speed drifts by ±25 % between back-to-back runs), it does to both,
 * so their workerd CPU per request compares to within a few per cent. Returns
 * each round's limiter / baseline CPU per request, sorted.
 */
async function paired(): Promise<number[]> {
	const limiter = VARIANTS.find((v) => v.name === "limiter") as Variant;
	const pass = VARIANTS.find((v) => v.name === "pass-through") as Variant;
	const baseline: Variant = BASE_REF ? { ...limiter, name: "limiter-base" } : pass;
	const baselineScript = BASE_REF
		? await bundle(limiter.entry, baseline.name, sourceAt(BASE_REF))
		: await bundle(pass.entry, pass.name);
	const limiterScript = await bundle(limiter.entry, limiter.name);
	const costs: number[] = [];
	for (let round = 1; round <= ROUNDS; round++) {
		console.error(`bench: paired, round ${round}/${ROUNDS}: ${baseline.name} and limiter at once, on one core…`);
		const children = [await start(baseline, baselineScript)];
		try {
			children.push(await start(limiter, limiterScript, undefined, PAIRED_ORIGIN_PORT));
			const both = (durationS: number) =>
				Promise.all([load(durationS), load(durationS, CONNECTIONS, undefined, firstEdgePort(PAIRED_ORIGIN_PORT))]);
			await both(WARMUP_S);
			const before = children.map((child) => cpuMs(child.pid as number));
			const served = await both(DURATION_S);
			const perRequest = children.map(
				(child, i) =>
					(cpuMs(child.pid as number) - (before[i] as number)) /
					Math.max(1, (served[i] as Load).ok + (served[i] as Load).other),
			);
			costs.push(ratio(perRequest[1] as number, perRequest[0] as number));
		} finally {
			for (const child of children) await stop(child);
		}
	}
	return costs.sort((a, b) => a - b);
}

/**
 * Runs each group of loads in its own generator process (bench/load.ts) pinned to its CPU, all starting
 * at the same instant: `warmupS` seconds sent and not recorded, then `durationS` measured.
 * `atMeasureStart` runs when the measured window opens (to read counters there); its value comes back
 * with every load's results.
 */
async function tenantLoads<T>(
	groups: { cpu: number; loads: TenantLoad[]; nice?: number; tickMs?: number }[],
	durationS: number,
	warmupS: number,
	atMeasureStart: () => Promise<T>,
): Promise<{ results: TenantResult[]; atStart: T }> {
	const startAt = Date.now() + 1_500;
	const atStart = new Promise((resolve) => setTimeout(resolve, startAt + warmupS * 1000 - Date.now())).then(
		atMeasureStart,
	);
	const outputs = await Promise.all(
		groups.map(({ cpu, loads, nice, tickMs }) => {
			const [command, args] = pinned(
				cpu,
				process.execPath,
				["--import", "tsx", join(here, "load.ts"), JSON.stringify({ loads, durationS, warmupS, tickMs, startAt })],
				nice,
			);
			const child = spawn(command, args, { stdio: ["ignore", "pipe", "inherit"] });
			let out = "";
			child.stdout?.on("data", (chunk: Buffer) => {
				out += chunk.toString();
			});
			return new Promise<TenantResult[]>((resolve, reject) =>
				child.once("exit", (code) =>
					code === 0 ? resolve(JSON.parse(out) as TenantResult[]) : reject(new Error(`load generator exited ${code}`)),
				),
			);
		}),
	);
	return { results: outputs.flat(), atStart: await atStart };
}

interface NeighbourRun {
	name: "alone" | "neighbour-at-limit" | "neighbour-flooding";
	neighbour_offered_rps: number;
	neighbour_admitted_rps: number;
	/** Mean over the quiet tenants. */
	quiet_admitted_rps: number;
	/** Over all quiet tenants' requests together. */
	quiet_p50_ms: number;
	quiet_p99_ms: number;
	/** Each round's quiet p99, in round order: how far one round's figure can be trusted. */
	quiet_p99_ms_rounds: number[];
	/** The control's requests, straight to the origin. */
	control_p50_ms: number;
	control_p99_ms: number;
	neighbour_tenant_calls_per_s: number;
	cpu_share: number;
}

/**
 * Where the neighbour's requests are served. `shared`: by the quiet tenants'
 * own four isolates, on their core. `split`: by four isolates of a second
 * workerd on the other core, leasing from the same TenantBuckets and surge
 * pool over HTTP, as another edge machine would; what it shares with the quiet
 * tenants is then only what the limiter shares (its Durable Objects).
 */
type Layout = "shared" | "split";

/**
 * Issue 5's noisy neighbour: one quiet tenant per isolate at a steady rate,
 * measured alone, next to a neighbour (starter tier) at exactly its limit, and
 * next to the neighbour flooding at FLOOD_FACTOR × its limit from every
 * isolate. Rounds interleave; latencies are pooled over the rounds.
 */
async function noisyNeighbour(layout: Layout): Promise<{
	layout: Layout;
	runs: NeighbourRun[];
	quiet_rps_ratio: number;
	quiet_p99_ratio: number;
	quiet_p99_ratio_vs_at_limit: number;
}> {
	const variant = VARIANTS.find((v) => v.name === "limiter") as Variant;
	const script = await bundle(variant.entry, "limiter");
	const gateway = layout === "split" ? await bundle("bench/workers/do-gateway.ts", "do-gateway") : undefined;
	const remote = layout === "split" ? await bundle("bench/workers/remote-edge.ts", "remote-edge") : undefined;
	const quiet: TenantLoad[] = Array.from({ length: ISOLATES }, (_, i) => ({
		tenant: `quiet-${i}`,
		isolate: i,
		rps: QUIET_RPS,
		port: FIRST_PORT + i,
	}));
	// The control: the same rate straight to the origin Worker in the same workerd, past no limiter. What
	// its latency does is what the shared core does, whatever the limiter does.
	quiet.push({ tenant: "control", isolate: 0, rps: QUIET_RPS, port: ORIGIN_PORT });
	const neighbour = (factor: number) =>
		Array.from({ length: ISOLATES }, (_, i) => ({
			tenant: "noisy",
			isolate: i,
			rps: (NEIGHBOUR_LIMIT * factor) / ISOLATES,
			port: (remote ? REMOTE_FIRST_PORT : FIRST_PORT) + i,
		}));
	const kinds: [NeighbourRun["name"], TenantLoad[]][] = [
		["alone", []],
		["neighbour-at-limit", neighbour(1)],
		["neighbour-flooding", neighbour(FLOOD_FACTOR)],
	];
	/** Every round's raw figures per kind; latencies are pooled over rounds, so that p99 rests on all samples. */
	const pooled = new Map<NeighbourRun["name"], { results: TenantResult[]; calls: number; cpu: number }[]>();
	for (let round = 1; round <= ROUNDS; round++) {
		for (const [name, extra] of kinds) {
			console.error(`bench: noisy neighbour (${layout}), round ${round}/${ROUNDS}, ${name}…`);
			// A fresh workerd each time: the neighbour starts with a full bucket, nothing is left over from the last run.
			const child = await start(variant, script, gateway);
			const second = remote
				? // Ahead of the neighbour's generator on their shared core, so that the flood is served as sent.
					await startWorkerd("remote-edge", capnpRemote(remote), 0, REMOTE_FIRST_PORT, -5).catch((error) => {
						child.kill();
						throw error;
					})
				: null;
			try {
				// Both generators stay off the quiet tenants' core (a generator beside the workerd it measures
				// waits behind it and reports that as latency: p99 from 9 to 150 ms between identical rounds).
				// The quiet one preempts everything else on its core; the neighbour's sends in 20 ms batches (a third
				// less CPU than pacing each request), so that the core keeps room for the flood.
				const groups = [
					{ cpu: 0, loads: quiet, nice: -15 },
					{ cpu: 0, loads: extra, tickMs: 20 },
				].filter((group) => group.loads.length > 0);
				const counters = async () => ({
					calls: (await countCalls(variant, ["noisy"]))?.tenant ?? 0,
					cpu: cpuMs(child.pid as number),
				});
				const { results, atStart } = await tenantLoads(groups, DURATION_S, NEIGHBOUR_WARMUP_S, counters);
				const atEnd = await counters();
				const cpu = (atEnd.cpu - atStart.cpu) / (DURATION_S * 1000);
				const calls = atEnd.calls - atStart.calls;
				pooled.set(name, [...(pooled.get(name) ?? []), { results, calls, cpu }]);
			} finally {
				await stop(child);
				if (second) await stop(second);
			}
		}
	}
	const quietOf = (results: TenantResult[]) => results.filter((r) => r.tenant.startsWith("quiet-"));
	const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
	const ms = (value: number) => Number(value.toFixed(2));
	const runs = kinds.map(([name]): NeighbourRun => {
		const all = pooled.get(name) ?? [];
		const results = all.flatMap((round) => round.results);
		const quietResults = quietOf(results);
		const quietLatencies = quietResults.flatMap((r) => r.latencies);
		const control = results.filter((r) => r.tenant === "control").flatMap((r) => r.latencies);
		const noisy = results.filter((r) => r.tenant === "noisy");
		return {
			name,
			neighbour_offered_rps: noisy.reduce((sum, r) => sum + r.rps, 0) / all.length,
			neighbour_admitted_rps: Number((noisy.reduce((sum, r) => sum + r.admitted_rps, 0) / all.length).toFixed(1)),
			quiet_admitted_rps: Number(mean(quietResults.map((r) => r.admitted_rps)).toFixed(1)),
			quiet_p50_ms: ms(percentile(quietLatencies, 0.5)),
			quiet_p99_ms: ms(percentile(quietLatencies, 0.99)),
			quiet_p99_ms_rounds: all.map((round) =>
				ms(
					percentile(
						quietOf(round.results).flatMap((r) => r.latencies),
						0.99,
					),
				),
			),
			control_p50_ms: ms(percentile(control, 0.5)),
			control_p99_ms: ms(percentile(control, 0.99)),
			neighbour_tenant_calls_per_s: Number((mean(all.map((round) => round.calls)) / DURATION_S).toFixed(1)),
			cpu_share: Number(mean(all.map((round) => round.cpu)).toFixed(3)),
		};
	});
	const [alone, atLimit, flooding] = runs as [NeighbourRun, NeighbourRun, NeighbourRun];
	return {
		layout,
		runs,
		quiet_rps_ratio: ratio(flooding.quiet_admitted_rps, alone.quiet_admitted_rps),
		quiet_p99_ratio: ratio(flooding.quiet_p99_ms, alone.quiet_p99_ms),
		quiet_p99_ratio_vs_at_limit: ratio(flooding.quiet_p99_ms, atLimit.quiet_p99_ms),
	};
}

function ratio(a: number, b: number): number {
	return Number((a / b).toFixed(3));
}

mkdirSync(buildDir, { recursive: true });
await bundle("bench/workers/stats.ts", "stats");
if (existsSync("/usr/bin/taskset") && cpus().length > 1 && !process.env.BENCH_PINNED) {
	// Re-run this process pinned to CPU 0; workerd gets CPU 1.
	const child = spawn("taskset", ["-c", "0", process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
		stdio: "inherit",
		env: { ...process.env, BENCH_PINNED: "1" },
	});
	process.exit(await new Promise<number>((resolve) => child.once("exit", (code) => resolve(code ?? 1))));
}
/** `npm run bench -- limiter noisy-neighbour` runs only what is named. */
const only = process.argv.slice(2);
const wanted = (name: string) => only.length === 0 || only.includes(name);
const selected = VARIANTS.filter((variant) => wanted(variant.name));
const rounds = new Map<VariantName, Run[]>();
for (let round = 1; round <= ROUNDS; round++) {
	for (const variant of selected) {
		console.error(
			`bench: round ${round}/${ROUNDS}, ${variant.name} (${ISOLATES} isolates, ${CONNECTIONS} connections, ${DURATION_S} s)…`,
		);
		const run = await measure(variant);
		rounds.set(variant.name, [...(rounds.get(variant.name) ?? []), run]);
	}
}
/** Each variant's median round by throughput: runs interleave, so drift in the machine hits all alike. */
const runs: Run[] = selected.map((variant) => {
	const all = [...(rounds.get(variant.name) ?? [])].sort((a, b) => a.rps - b.rps);
	return all[Math.floor(all.length / 2)] as Run;
});
const find = (name: VariantName) => runs.find((r) => r.name === name);
/** The limiter's req/s over `other`'s, round by round: each pair ran back to back, on the same machine state. */
const roundRatios = (other: VariantName): number[] | null => {
	const mine = rounds.get("limiter");
	const theirs = rounds.get(other);
	if (!mine || !theirs) return null;
	return mine.map((run, i) => ratio(run.rps, (theirs[i] as Run).rps)).sort((a, b) => a - b);
};
const pass = find("pass-through");
const limiter = find("limiter");
const naive = find("naive-do");
const hono = find("hono-do-store");
const pairedCosts = wanted("paired") ? await paired() : null;
/** `noisy-neighbour` runs both layouts; `noisy-neighbour:split` (or `:shared`) only that one. */
const layouts = (["shared", "split"] as const).filter(
	(layout) => wanted("noisy-neighbour") || only.includes(`noisy-neighbour:${layout}`),
);
const neighbour: Awaited<ReturnType<typeof noisyNeighbour>>[] = [];
for (const layout of layouts) neighbour.push(await noisyNeighbour(layout));
console.error("bench: simulation and memory…");
const scenarios = await simulate();
const memory = await measureMemory(100_000, 1_000_000).catch(() => null);
const results = {
	machine: { cores: cpus().length, node: process.version, workerd: workerd.version, date: new Date().toISOString() },
	config: {
		isolates: ISOLATES,
		connections: CONNECTIONS,
		duration_s: DURATION_S,
		rounds: ROUNDS,
		tenants: TENANTS.length,
	},
	runs,
	ratios: {
		limiter_vs_pass: pass && limiter ? ratio(limiter.rps, pass.rps) : null,
		limiter_vs_naive: naive && limiter ? ratio(limiter.rps, naive.rps) : null,
		limiter_vs_hono: hono && limiter ? ratio(limiter.rps, hono.rps) : null,
		c1_p50_added_ms: pass && limiter ? Number((limiter.c1_p50_ms - pass.c1_p50_ms).toFixed(3)) : null,
		/** Every round's ratio, sorted: how far the machine's noise moves the medians above. */
		rounds: {
			limiter_vs_pass: roundRatios("pass-through"),
			limiter_vs_naive: roundRatios("naive-do"),
			limiter_vs_hono: roundRatios("hono-do-store"),
		},
	},
	paired: pairedCosts && {
		against: BASE_REF ? `limiter at ${BASE_REF}` : "pass-through",
		rounds: pairedCosts.length,
		/** Each round's limiter / baseline workerd CPU per request, sorted. */
		limiter_cpu_ratio_rounds: pairedCosts,
		/** The median round's, inverted: the limiter's throughput as a share of the baseline's on a CPU-bound core. */
		limiter_throughput_ratio: ratio(1, pairedCosts[Math.floor(pairedCosts.length / 2)] as number),
	},
	accuracy: {
		scenarios: scenarios.map((s) => ({
			name: s.name,
			isolates: s.isolates,
			admitted: s.admitted,
			ideal: s.ideal,
			over_admitted: s.over_admitted,
			under_admission_pct: Number(s.under_admission_pct.toFixed(3)),
			loss_bound: s.loss_bound,
			tenant_calls_per_admitted: Number(s.tenant_calls_per_admitted.toFixed(4)),
			pool_calls_per_admitted: Number(s.pool_calls_per_admitted.toFixed(4)),
			max_share_error_pct: s.share_errors
				? Number(Math.max(...s.share_errors.map((e) => e.error_pct)).toFixed(2))
				: null,
		})),
	},
	noisy_neighbour:
		neighbour.length > 0
			? {
					quiet_tenants: ISOLATES,
					quiet_rps_each: QUIET_RPS,
					neighbour_limit_rps: NEIGHBOUR_LIMIT,
					flood_factor: FLOOD_FACTOR,
					layouts: neighbour,
				}
			: null,
	memory: memory && {
		tenants_seen: memory.tenants,
		bytes_per_idle_entry: Math.round(memory.bytesPerEntry),
		total_mb_without_lru_cap: Number(memory.totalMB.toFixed(1)),
	},
};
writeFileSync(join(here, "results.json"), `${JSON.stringify(results, null, 2)}\n`);
console.table(
	runs.map((r) => ({
		worker: r.name,
		"req/s": r.rps,
		"p50 ms": r.p50_ms,
		"p99 ms": r.p99_ms,
		"c=1 p50 ms": r.c1_p50_ms,
		"CPU µs/req": r.cpu_us_per_request,
		"CPU busy": r.saturated_cpu_share,
		"tenant DO calls/adm": r.tenant_calls_per_admitted?.toFixed(4) ?? "-",
		"pool DO calls/adm": r.pool_calls_per_admitted?.toFixed(4) ?? "-",
		"non-2xx": r.non_2xx,
	})),
);
console.log("ratios:", results.ratios);
if (results.paired) console.log("paired (same core, same time):", results.paired);
for (const layout of neighbour) {
	console.log(`noisy neighbour, ${layout.layout}:`);
	console.table(
		layout.runs.map((r) => ({
			run: r.name,
			"neighbour offered/s": r.neighbour_offered_rps,
			"neighbour admitted/s": r.neighbour_admitted_rps,
			"quiet admitted/s (each)": r.quiet_admitted_rps,
			"quiet p50 ms": r.quiet_p50_ms,
			"quiet p99 ms": r.quiet_p99_ms,
			"quiet p99 by round": r.quiet_p99_ms_rounds.join(" "),
			"control p50 ms": r.control_p50_ms,
			"control p99 ms": r.control_p99_ms,
			"neighbour DO calls/s": r.neighbour_tenant_calls_per_s,
			"CPU busy": r.cpu_share,
		})),
	);
	const { quiet_rps_ratio, quiet_p99_ratio, quiet_p99_ratio_vs_at_limit } = layout;
	console.log({ quiet_rps_ratio, quiet_p99_ratio, quiet_p99_ratio_vs_at_limit });
}
console.log("wrote bench/results.json");
