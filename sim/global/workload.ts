/**
 * Who sends what from where: tenants with tiers and Zipf-shaped offered rates
 * (each capped at a multiple of its tier's rate, the rest water-filled up to
 * the aggregate rate), the locations each tenant's traffic comes from, and
 * the round-trip times of locations and TenantBuckets. All from seeded streams.
 */
import type { TenantPolicy } from "../../src/tiers";
import { policyForTier } from "../../src/tiers";
import { waterFill } from "./math";
import { AliasTable, logUniform, type Random, sample, stream } from "./prng";

/** The tiers, in the order of `Workload.tier`, and how often each is drawn. */
export const TIERS: readonly { policy: TenantPolicy; share: number }[] = [
	{ policy: policyForTier("starter") as TenantPolicy, share: 0.8 },
	{ policy: policyForTier("growth") as TenantPolicy, share: 0.15 },
	{ policy: policyForTier("scale") as TenantPolicy, share: 0.05 },
];

/** A tenant's traffic comes from one more location per this many requests/s. */
export const RATE_PER_LOCATION = 5;

/** What shapes a workload. */
export interface WorkloadOptions {
	tenants: number;
	/** Aggregate offered rate of the Zipf-shaped tenants (requests/s). */
	rps: number;
	zipf: number;
	seed: number;
	pops: number;
	/** Each tenant offers at most this multiple of its tier's rate. */
	capFactor: number;
	/** Extra tenants offering `hotFactor` × their tier's rate from `hotLocations` locations each. */
	hotTenants: number;
	hotFactor: number;
	hotLocations: number;
	/** Round trips, log-uniform between these (ms). */
	rttMinMs: number;
	rttMaxMs: number;
}

/** The generated population. */
export interface Workload {
	/** Tenants in all (Zipf-shaped first, by rank, then the hot ones). */
	size: number;
	keys: string[];
	/** Index into TIERS per tenant. */
	tier: Uint8Array;
	/** Offered requests/s per tenant. */
	rate: Float64Array;
	/** Tenant i's locations are `locations[locationStart[i] .. locationStart[i + 1])`. */
	locationStart: Int32Array;
	locations: Int32Array;
	/** Round trip from each location to the objects (ms, before jitter). */
	popRttMs: Float64Array;
	/** Round trip from each tenant's TenantBucket to the pool (ms, before jitter). */
	poolRttMs: Float64Array;
	/** Total offered requests/s. */
	totalRate: number;
	/** Picks a tenant in proportion to its offered rate. */
	picker: AliasTable;
}

function drawTier(random: Random): number {
	let u = random();
	for (let t = 0; t < TIERS.length - 1; t++) {
		u -= (TIERS[t] as { share: number }).share;
		if (u < 0) return t;
	}
	return TIERS.length - 1;
}

/** Builds the workload; throws if the caps cannot reach the aggregate rate. */
export function buildWorkload(options: WorkloadOptions): Workload {
	const base = options.tenants;
	const size = base + options.hotTenants;
	const tierRandom = stream(options.seed, "tiers");
	const tier = new Uint8Array(size);
	for (let i = 0; i < size; i++) tier[i] = drawTier(tierRandom);
	const tierRate = (i: number): number => (TIERS[tier[i] as number] as { policy: TenantPolicy }).policy.rate;

	const caps = new Float64Array(base);
	const weights = new Float64Array(base);
	for (let i = 0; i < base; i++) {
		caps[i] = options.capFactor * tierRate(i);
		weights[i] = 1 / (i + 1) ** options.zipf;
	}
	const level = waterFill(caps, weights, options.rps);
	if (!Number.isFinite(level))
		throw new Error(`${base} tenants capped at ${options.capFactor} × tier cannot offer ${options.rps}/s`);
	const rate = new Float64Array(size);
	for (let i = 0; i < base; i++) rate[i] = Math.min(caps[i] as number, (weights[i] as number) * level);
	for (let i = base; i < size; i++) rate[i] = options.hotFactor * tierRate(i);

	const placeRandom = stream(options.seed, "locations");
	const scratch = new Int32Array(options.pops);
	const locationStart = new Int32Array(size + 1);
	const chosen: Int32Array[] = [];
	for (let i = 0; i < size; i++) {
		const count =
			i < base
				? 1 + Math.min(options.pops - 1, Math.floor((rate[i] as number) / RATE_PER_LOCATION))
				: Math.min(options.pops, options.hotLocations);
		const picked = sample(placeRandom, options.pops, count, scratch);
		chosen.push(picked);
		locationStart[i + 1] = (locationStart[i] as number) + picked.length;
	}
	const locations = new Int32Array(locationStart[size] as number);
	for (let i = 0; i < size; i++) locations.set(chosen[i] as Int32Array, locationStart[i] as number);

	const rttRandom = stream(options.seed, "rtt");
	const popRttMs = new Float64Array(options.pops);
	for (let p = 0; p < options.pops; p++) popRttMs[p] = logUniform(rttRandom, options.rttMinMs, options.rttMaxMs);
	const poolRandom = stream(options.seed, "pool-rtt");
	const poolRttMs = new Float64Array(size);
	for (let i = 0; i < size; i++) poolRttMs[i] = logUniform(poolRandom, options.rttMinMs, options.rttMaxMs);

	let totalRate = 0;
	for (const r of rate) totalRate += r;
	return {
		size,
		keys: Array.from({ length: size }, (_, i) => (i < base ? `t:${i + 1}` : `t:hot${i - base + 1}`)),
		tier,
		rate,
		locationStart,
		locations,
		popRttMs,
		poolRttMs,
		totalRate,
		picker: new AliasTable(rate),
	};
}

/** The policy of tenant `i`. */
export function policyOf(workload: Workload, i: number): TenantPolicy {
	return (TIERS[workload.tier[i] as number] as { policy: TenantPolicy }).policy;
}
