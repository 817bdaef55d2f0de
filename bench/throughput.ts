/**
 * The throughput run: each variant alone in one workerd on CPU 1, loaded
 * closed-loop from CPU 0, in interleaved rounds; its req/s, latency, CPU per
 * request and Durable Object calls per admitted request.
 */
import { bundle } from "./build";
import { ratio } from "./figures";
import { type Calls, countCalls, cpuMs, start, stop } from "./processes";
import { CONNECTIONS, DURATION_S, FIXED_RPS, FIXED_S, ISOLATES, LATENCY_REQUESTS, ROUNDS, WARMUP_S } from "./settings";
import { load, sequentialLatency } from "./traffic";
import type { Variant, VariantName } from "./variants";

/** One variant's figures in one round. */
export interface Run {
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
		const per = (pick: (calls: Calls) => number | null) => {
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

/** The throughput run's results: each variant's median round, and the limiter's ratios to the others. */
export interface Throughput {
	runs: Run[];
	ratios: {
		limiter_vs_pass: number | null;
		limiter_vs_naive: number | null;
		limiter_vs_hono: number | null;
		c1_p50_added_ms: number | null;
		/** Every round's ratio, sorted: how far the machine's noise moves the medians above. */
		rounds: Record<"limiter_vs_pass" | "limiter_vs_naive" | "limiter_vs_hono", number[] | null>;
	};
}

/** Runs `selected` in ROUNDS interleaved rounds, so that drift in the machine hits all alike. */
export async function throughput(selected: Variant[]): Promise<Throughput> {
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
	/** Each variant's median round by throughput. */
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
	return {
		runs,
		ratios: {
			limiter_vs_pass: pass && limiter ? ratio(limiter.rps, pass.rps) : null,
			limiter_vs_naive: naive && limiter ? ratio(limiter.rps, naive.rps) : null,
			limiter_vs_hono: hono && limiter ? ratio(limiter.rps, hono.rps) : null,
			c1_p50_added_ms: pass && limiter ? Number((limiter.c1_p50_ms - pass.c1_p50_ms).toFixed(3)) : null,
			rounds: {
				limiter_vs_pass: roundRatios("pass-through"),
				limiter_vs_naive: roundRatios("naive-do"),
				limiter_vs_hono: roundRatios("hono-do-store"),
			},
		},
	};
}
