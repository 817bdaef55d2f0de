/**
 * The report: every part's figures gathered into bench/results.json (its shape
 * is what the README and earlier runs refer to) and printed as tables.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import workerd from "workerd";
import type { ScenarioOutcome } from "../sim/scenarios";
import { benchDir } from "./build";
import { ratio } from "./figures";
import type { measureMemory } from "./memory";
import { mergeResults, type Section } from "./merge";
import type { NeighbourResult } from "./noisy-neighbour";
import type { RttResult } from "./rtt";
import {
	BASE_REF,
	CONNECTIONS,
	DURATION_S,
	FLOOD_FACTOR,
	ISOLATES,
	NEIGHBOUR_LIMIT,
	QUIET_RPS,
	ROUNDS,
	TENANTS,
} from "./settings";
import type { Throughput } from "./throughput";

/** What the parts that ran measured; a part that did not run is empty. */
export interface Parts {
	throughput: Throughput;
	paired: number[] | null;
	neighbour: NeighbourResult[];
	rtt: RttResult | null;
	scenarios: ScenarioOutcome[];
	memory: Awaited<ReturnType<typeof measureMemory>> | null;
}

/** The contents of bench/results.json. */
export function results({ throughput, paired, neighbour, rtt, scenarios, memory }: Parts) {
	return {
		machine: { cores: cpus().length, node: process.version, workerd: workerd.version, date: new Date().toISOString() },
		config: {
			isolates: ISOLATES,
			connections: CONNECTIONS,
			duration_s: DURATION_S,
			rounds: ROUNDS,
			tenants: TENANTS.length,
		},
		runs: throughput.runs,
		ratios: throughput.ratios,
		paired: paired && {
			against: BASE_REF ? `limiter at ${BASE_REF}` : "pass-through",
			rounds: paired.length,
			/** Each round's limiter / baseline workerd CPU per request, sorted. */
			limiter_cpu_ratio_rounds: paired,
			/** The median round's, inverted: the limiter's throughput as a share of the baseline's on a CPU-bound core. */
			limiter_throughput_ratio: ratio(1, paired[Math.floor(paired.length / 2)] as number),
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
		rtt,
		memory: memory && {
			tenants_seen: memory.tenants,
			bytes_per_idle_entry: Math.round(memory.bytesPerEntry),
			total_mb_without_lru_cap: Number(memory.totalMB.toFixed(1)),
		},
	};
}

type Results = ReturnType<typeof results>;

/** The sections of bench/results.json, each measured by one part of the bench. */
const SECTIONS: Record<string, Section> = {
	throughput: { keys: ["runs", "ratios"], held: (r) => ((r as Results).runs?.length ?? 0) > 0 },
	paired: { keys: ["paired"], held: (r) => (r as Results).paired != null },
	accuracy: { keys: ["accuracy"], held: (r) => ((r as Results).accuracy?.scenarios.length ?? 0) > 0 },
	noisy_neighbour: { keys: ["noisy_neighbour"], held: (r) => (r as Results).noisy_neighbour != null },
	rtt: { keys: ["rtt"], held: (r) => (r as Results).rtt != null },
	memory: { keys: ["memory"], held: (r) => (r as Results).memory != null },
};

/** Writes bench/results.json (keeping the figures of parts that did not run) and prints each part that ran. */
export function report(parts: Parts): void {
	const written = results(parts);
	const file = join(benchDir, "results.json");
	const previous = existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : undefined;
	writeFileSync(file, `${JSON.stringify(mergeResults(written, previous, SECTIONS), null, 2)}\n`);
	console.table(
		written.runs.map((r) => ({
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
	console.log("ratios:", written.ratios);
	if (written.paired) console.log("paired (same core, same time):", written.paired);
	for (const layout of parts.neighbour) {
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
	if (parts.rtt) printRtt(parts.rtt);
	console.log("wrote bench/results.json");
}

/** Issue 13's targets at a 25 ms round trip; printed as measured, never asserted. */
const RTT_TARGETS = { limiter_p50_added_at_most_ms: 1, naive_p50_added_at_least_ms: 25 };

function printRtt(rtt: RttResult): void {
	console.log(
		`round trip to the Durable Objects: ${rtt.rtt_ms} ms, ${rtt.connections} connections, ${rtt.rounds} rounds:`,
	);
	console.table(
		rtt.runs.map((r) => ({
			worker: r.name,
			"req/s": r.rps,
			"p50 ms": r.p50_ms,
			"p99 ms": r.p99_ms,
			"p50 added": r.p50_added_ms,
			"p99 added": r.p99_added_ms,
			"c=1 p50 ms": r.c1_p50_ms,
			"c=1 p99 ms": r.c1_p99_ms,
			"c=1 p50 added": r.c1_p50_added_ms,
			"c=1 p99 added": r.c1_p99_added_ms,
			"DO calls/adm": r.do_calls_per_admitted ?? "-",
			fallbacks: r.fallbacks ?? "-",
			"non-2xx": r.non_2xx,
		})),
	);
	const limiter = rtt.runs.find((r) => r.name === "limiter");
	const naive = rtt.runs.find((r) => r.name === "naive-do");
	if (rtt.rtt_ms === 25 && limiter && naive) {
		const { limiter_p50_added_at_most_ms: most, naive_p50_added_at_least_ms: least } = RTT_TARGETS;
		const verdict = (met: boolean) => (met ? "met" : "NOT met");
		console.log(
			`targets: limiter p50 added ≤ ${most} ms: c=${rtt.connections} ${limiter.p50_added_ms} ms (${verdict(limiter.p50_added_ms <= most)}), ` +
				`c=1 ${limiter.c1_p50_added_ms} ms (${verdict(limiter.c1_p50_added_ms <= most)}); ` +
				`naive-do p50 added ≥ ${least} ms: c=${rtt.connections} ${naive.p50_added_ms} ms (${verdict(naive.p50_added_ms >= least)}), ` +
				`c=1 ${naive.c1_p50_added_ms} ms (${verdict(naive.c1_p50_added_ms >= least)})`,
		);
	}
}
