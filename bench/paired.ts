/**
 * The paired run: a baseline and the limiter served at the same time, so that
 * the machine's drift hits both and their CPU per request compares closely.
 */
import { bundle, sourceAt } from "./build";
import { ratio } from "./figures";
import { cpuMs, start, stop } from "./processes";
import { BASE_REF, CONNECTIONS, DURATION_S, firstEdgePort, PAIRED_ORIGIN_PORT, ROUNDS, WARMUP_S } from "./settings";
import { type Load, load } from "./traffic";
import { type Variant, variant } from "./variants";

/**
 * The pass-through Worker (with BENCH_BASE, the limiter at that ref) and the
 * limiter at the same time: two workerd processes pinned to the same core,
 * each loaded by its own closed-loop generator. Whatever the machine does
 * (here its speed drifts by ±25 % between back-to-back runs), it does to both,
 * so their workerd CPU per request compares to within a few per cent. Returns
 * each round's limiter / baseline CPU per request, sorted.
 */
export async function paired(): Promise<number[]> {
	const limiter = variant("limiter");
	const pass = variant("pass-through");
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
			children.push(await start(limiter, limiterScript, { originPort: PAIRED_ORIGIN_PORT }));
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
