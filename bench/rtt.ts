/**
 * The round-trip run (issue 13): every variant's edge in one workerd, its
 * Durable Objects in another, each object call paying a set round trip in the
 * gateway between them. What the round trip adds to latency over the
 * pass-through Worker, and what it does to req/s at the same concurrency.
 */
import type { ChildProcess } from "node:child_process";
import { bundle } from "./build";
import { capnpRemote } from "./capnp";
import { median } from "./figures";
import { countCalls, start, startWorkerd, stop } from "./processes";
import {
	DURATION_S,
	ISOLATES,
	REMOTE_FIRST_PORT,
	ROUNDS,
	RTT_CONNECTIONS,
	RTT_LATENCY_REQUESTS,
	WARMUP_S,
} from "./settings";
import { load, sequentialLatency } from "./traffic";
import { VARIANTS, type Variant, type VariantName } from "./variants";

/** One variant's figures: medians over the rounds; `added` ones are per round against pass-through first. */
export interface RttRun {
	name: VariantName;
	rps: number;
	p50_ms: number;
	p99_ms: number;
	p50_added_ms: number;
	p99_added_ms: number;
	c1_p50_ms: number;
	c1_p99_ms: number;
	c1_p50_added_ms: number;
	c1_p99_added_ms: number;
	non_2xx: number;
	/** Object calls per admitted request in the closed-loop window (null: no objects). */
	do_calls_per_admitted: number | null;
	/** The limiter's FAIL_MODE decisions (a lease past DO_TIMEOUT_MS) in the closed-loop window, the worst round's. */
	fallbacks: number | null;
}

/** The rtt part of bench/results.json. */
export interface RttResult {
	rtt_ms: number;
	connections: number;
	rounds: number;
	runs: RttRun[];
}

type Measured = Omit<RttRun, `${string}_added_ms`>;

/** One variant, one round: objects (with the gateway) on CPU 0 beside the load generator, edge on CPU 1. */
async function measure(variant: Variant, rttMs: number): Promise<Measured> {
	const children: ChildProcess[] = [];
	try {
		const hasObjects = Object.keys(variant.objects).length > 0;
		if (hasObjects) {
			const script = await bundle(variant.entry, variant.name);
			const gateway = await bundle("bench/workers/do-gateway.ts", "do-gateway");
			children.push(await start(variant, script, { gateway, rttMs, cpu: 0 }));
		}
		const edge = await bundle(variant.remoteEntry, `${variant.name}-remote`);
		// DO_TIMEOUT_MS as deployed: whether leases come back within it across the round trip is part of the result.
		const config = capnpRemote(variant, edge, null);
		children.push(await startWorkerd(`${variant.name}-remote`, config, 1, REMOTE_FIRST_PORT));
		await load(WARMUP_S, RTT_CONNECTIONS, undefined, REMOTE_FIRST_PORT);
		const c1 = await sequentialLatency(RTT_LATENCY_REQUESTS, REMOTE_FIRST_PORT);
		const before = hasObjects ? await countCalls(variant) : null;
		const result = await load(DURATION_S, RTT_CONNECTIONS, undefined, REMOTE_FIRST_PORT);
		const after = hasObjects ? await countCalls(variant) : null;
		const fallbacks = before?.fallbacks ?? null;
		return {
			name: variant.name,
			rps: Math.round(result.rps),
			p50_ms: result.p50,
			p99_ms: result.p99,
			c1_p50_ms: c1.p50,
			c1_p99_ms: c1.p99,
			non_2xx: result.other,
			do_calls_per_admitted:
				before && after ? Number(((after.tenant - before.tenant) / Math.max(1, result.ok)).toFixed(4)) : null,
			fallbacks: fallbacks === null ? null : (after?.fallbacks ?? 0) - fallbacks,
		};
	} finally {
		for (const child of children) await stop(child);
	}
}

/** Every variant at a round trip of `rttMs`, in ROUNDS interleaved rounds. */
export async function rtt(rttMs: number): Promise<RttResult> {
	const rounds: Measured[][] = [];
	for (let round = 1; round <= ROUNDS; round++) {
		const measured: Measured[] = [];
		for (const variant of VARIANTS) {
			console.error(
				`bench: rtt ${rttMs} ms, round ${round}/${ROUNDS}, ${variant.name} (${ISOLATES} isolates, ${RTT_CONNECTIONS} connections, ${DURATION_S} s)…`,
			);
			measured.push(await measure(variant, rttMs));
		}
		rounds.push(measured);
	}
	const ms = (value: number) => Number(value.toFixed(3));
	const runs = VARIANTS.map((variant, i): RttRun => {
		const mine = rounds.map((round) => round[i] as Measured);
		const pass = rounds.map((round) => round[0] as Measured);
		const med = (pick: (run: Measured) => number) => ms(median(mine.map(pick)));
		const added = (pick: (run: Measured) => number) =>
			ms(median(mine.map((run, r) => pick(run) - pick(pass[r] as Measured))));
		const fallbacks = mine.map((run) => run.fallbacks);
		return {
			name: variant.name,
			rps: med((r) => r.rps),
			p50_ms: med((r) => r.p50_ms),
			p99_ms: med((r) => r.p99_ms),
			p50_added_ms: added((r) => r.p50_ms),
			p99_added_ms: added((r) => r.p99_ms),
			c1_p50_ms: med((r) => r.c1_p50_ms),
			c1_p99_ms: med((r) => r.c1_p99_ms),
			c1_p50_added_ms: added((r) => r.c1_p50_ms),
			c1_p99_added_ms: added((r) => r.c1_p99_ms),
			non_2xx: med((r) => r.non_2xx),
			do_calls_per_admitted: mine[0]?.do_calls_per_admitted === null ? null : med((r) => r.do_calls_per_admitted ?? 0),
			fallbacks: fallbacks.includes(null) ? null : Math.max(...(fallbacks as number[])),
		};
	});
	return { rtt_ms: rttMs, connections: RTT_CONNECTIONS, rounds: ROUNDS, runs };
}
