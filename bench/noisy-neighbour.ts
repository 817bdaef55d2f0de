/**
 * Issue 5's noisy neighbour: quiet tenants' rate and latency alone and beside
 * a tenant sending at, then over, its limit.
 */
import { bundle } from "./build";
import { capnpRemote } from "./capnp";
import { mean, percentile, ratio } from "./figures";
import type { TenantLoad, TenantResult } from "./load";
import { countCalls, cpuMs, start, startWorkerd, stop } from "./processes";
import {
	DURATION_S,
	FIRST_PORT,
	FLOOD_FACTOR,
	ISOLATES,
	NEIGHBOUR_LIMIT,
	NEIGHBOUR_WARMUP_S,
	ORIGIN_PORT,
	QUIET_RPS,
	REMOTE_FIRST_PORT,
	ROUNDS,
} from "./settings";
import { tenantLoads } from "./traffic";
import { variant } from "./variants";

export interface NeighbourRun {
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
 * workerd on the other core, leasing from the same TenantBuckets and burst
 * pool over HTTP, as another edge machine would; what it shares with the quiet
 * tenants is then only what the limiter shares (its Durable Objects).
 */
export type Layout = "shared" | "split";

/** One layout's runs and how the flood moved the quiet tenants. */
export interface NeighbourResult {
	layout: Layout;
	runs: NeighbourRun[];
	quiet_rps_ratio: number;
	quiet_p99_ratio: number;
	quiet_p99_ratio_vs_at_limit: number;
}

/**
 * One quiet tenant per isolate at a steady rate, measured alone, next to a
 * neighbour (starter tier) at exactly its limit, and next to the neighbour
 * flooding at FLOOD_FACTOR × its limit from every isolate. Rounds interleave;
 * latencies are pooled over the rounds.
 */
export async function noisyNeighbour(layout: Layout): Promise<NeighbourResult> {
	const limiter = variant("limiter");
	const script = await bundle(limiter.entry, "limiter");
	const gateway = layout === "split" ? await bundle("bench/workers/do-gateway.ts", "do-gateway") : undefined;
	const remote = layout === "split" ? await bundle(limiter.remoteEntry, "remote-edge") : undefined;
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
			const child = await start(limiter, script, { gateway });
			const second = remote
				? // Ahead of the neighbour's generator on their shared core, so that the flood is served as sent.
					await startWorkerd("remote-edge", capnpRemote(limiter, remote), 0, REMOTE_FIRST_PORT, -5).catch((error) => {
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
					calls: (await countCalls(limiter, ["noisy"]))?.tenant ?? 0,
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
