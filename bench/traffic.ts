/**
 * Load generation and latency: autocannon's closed loops over the edge
 * isolates, sequential requests for fine-grained latency, and the paced
 * per-tenant generators of bench/load.ts in processes of their own.
 */
import { spawn } from "node:child_process";
import { Agent, request as httpRequest } from "node:http";
import { join } from "node:path";
import autocannon from "autocannon";
import { benchDir } from "./build";
import { percentile } from "./figures";
import type { TenantLoad, TenantResult } from "./load";
import { pinned } from "./processes";
import { CONNECTIONS, FIRST_PORT, ISOLATES, TENANTS } from "./settings";

/** What a closed-loop load measured, over all isolates. */
export interface Load {
	rps: number;
	/** Per-isolate percentiles, weighted by each isolate's requests. */
	p50: number;
	p99: number;
	ok: number;
	/** Non-2xx answers, errors and timeouts. */
	other: number;
}

/**
 * autocannon on each of the ISOLATES edge ports from `firstPort`, `connections` shared among them,
 * the two benchmark tenants alternating; with `overallRate`, paced to that many requests per second.
 */
export async function load(
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
		rps: total / durationS,
		p50: weighted((r) => r.latency.p50),
		p99: weighted((r) => r.latency.p99),
		ok: results.reduce((sum, r) => sum + r["2xx"], 0),
		other: results.reduce((sum, r) => sum + r.non2xx + r.errors + r.timeouts, 0),
	};
}

/** Sequential requests on one keep-alive connection to `port`: latency with microsecond resolution. */
export async function sequentialLatency(count: number, port = FIRST_PORT): Promise<{ p50: number; p99: number }> {
	const agent = new Agent({ keepAlive: true, maxSockets: 1 });
	const samples: number[] = [];
	for (let i = 0; i < count; i++) {
		const started = process.hrtime.bigint();
		await new Promise<void>((resolve, reject) => {
			const req = httpRequest(
				{
					host: "127.0.0.1",
					port,
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

/**
 * Runs each group of loads in its own generator process (bench/load.ts) pinned to its CPU, all starting
 * at the same instant: `warmupS` seconds sent and not recorded, then `durationS` measured.
 * `atMeasureStart` runs when the measured window opens (to read counters there); its value comes back
 * with every load's results.
 */
export async function tenantLoads<T>(
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
				["--import", "tsx", join(benchDir, "load.ts"), JSON.stringify({ loads, durationS, warmupS, tickMs, startAt })],
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
