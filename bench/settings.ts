/**
 * The benchmark's knobs (environment variables, so that a quicker or longer
 * run needs no code change) and the fixed ports each workerd listens on.
 */

/** Edge services per workerd: each stands for an isolate. */
export const ISOLATES = Number(process.env.BENCH_ISOLATES ?? 4);
/** Closed-loop connections of the throughput and paired runs, spread over the isolates. */
export const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
export const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 10);
export const WARMUP_S = Number(process.env.BENCH_WARMUP_S ?? 3);
/** Sequential requests of the concurrency-1 latency run. */
export const LATENCY_REQUESTS = Number(process.env.BENCH_LATENCY_REQUESTS ?? 3_000);
export const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
/** The unsaturated rate at which workerd's CPU per request is read. */
export const FIXED_RPS = Number(process.env.BENCH_FIXED_RPS ?? 500);
export const FIXED_S = Number(process.env.BENCH_FIXED_S ?? 5);
export const TENANTS = ["bench-0", "bench-1"];
/**
 * Noisy neighbour: each quiet tenant's steady rate (low enough for both load generators and the
 * split layout's second workerd to share one core without the flood falling behind), and how far over
 * its limit the neighbour floods.
 */
export const QUIET_RPS = Number(process.env.BENCH_QUIET_RPS ?? 25);
export const FLOOD_FACTOR = Number(process.env.BENCH_FLOOD_FACTOR ?? 2);
/**
 * Sent before the noisy-neighbour window opens, by the same generators: long enough for a flooding
 * neighbour to spend its burst (1,200 / (600 − 300) = 4 s), so that the window sees a sustained flood.
 */
export const NEIGHBOUR_WARMUP_S = Number(process.env.BENCH_NEIGHBOUR_WARMUP_S ?? 5);
/** The neighbour's tier (bench/workers/kv.ts): starter, 300/s. */
export const NEIGHBOUR_LIMIT = 300;
/** The rtt run: the round trip between the edge isolates and the Durable Objects, in ms (`--rtt-ms` overrides). */
export const RTT_MS = Number(process.env.BENCH_RTT_MS ?? 25);
/**
 * The rtt run's closed-loop connections, the same for every variant: a limiter that waits a round trip per
 * request serves at most connections / round trip; one that does not is bound by its core instead.
 */
export const RTT_CONNECTIONS = Number(process.env.BENCH_RTT_CONNECTIONS ?? 16);
/** The rtt run's sequential requests (concurrency 1): at 25 ms each for a naive limiter, about 8 s. */
export const RTT_LATENCY_REQUESTS = 300;
/**
 * With a git ref, the paired run compares the limiter as it was there with the
 * working tree's, instead of the pass-through Worker with the limiter: how a
 * change moves CPU per request, measured past the machine's drift.
 */
export const BASE_REF = process.env.BENCH_BASE;

/** The first process's ports: its origin, then its edge isolates; the stats reader and gateway at the top of the hundred. */
export const ORIGIN_PORT = 9300;
export const FIRST_PORT = 9301;
export const GATEWAY_PORT = 9398;
export const STATS_PORT = 9399;
/** The split layouts' second process: its origin, its edge isolates, and the gateway it leases through. */
export const REMOTE_ORIGIN_PORT = 9500;
export const REMOTE_FIRST_PORT = 9501;
/** The paired run's second process: the same layout a few hundred ports up. */
export const PAIRED_ORIGIN_PORT = 9600;
export const COMPATIBILITY_DATE = "2026-10-01";

/** The first edge isolate's port of a process whose origin listens on `originPort`; the others follow. */
export const firstEdgePort = (originPort: number) => originPort + (FIRST_PORT - ORIGIN_PORT);
