/**
 * The burst pool is split into shards, each an exact bucket with an equal
 * part of the pool's rate and burst, leased to isolates with the same protocol
 * as a tenant's bucket. Together they never admit more than the pool
 * (Σ rate/n and Σ burst/n), while each shard takes the calls of only its
 * isolates: with hundreds of isolates, one object would take more calls than
 * it can serve. Pure.
 */
import type { TenantPolicy } from "../tiers";
import type { BucketPolicy } from "./bucket";

/** How many shards the pool is split into unless `POOL_SHARDS` says otherwise. */
export const DEFAULT_POOL_SHARDS = 8;

/** The name shard policies carry (and the policy name a `burst_pool` denial advertises). */
export const BURST_POOL_TIER = "burst_pool";

/**
 * The Durable Object name of shard `index`.
 * @example shardName(3) // "shard-3"
 */
export function shardName(index: number): string {
	return `shard-${index}`;
}

/** The Durable Object name of the pool's root (see pool-root.ts), a BurstPool that is no shard. */
export const ROOT_NAME = "root";

/**
 * The index of shard `name` (inverse of {@link shardName}); -1 if it is none.
 * @example shardIndex("shard-3") // 3
 */
export function shardIndex(name: string): number {
	const index = name.startsWith("shard-") ? Number(name.slice(6)) : Number.NaN;
	return Number.isInteger(index) && index >= 0 ? index : -1;
}

/**
 * The shard an isolate leases from: a hash of its id, so that isolates spread
 * evenly and each keeps to one shard for its life.
 * @example shardOf("isolate-a", 1) // 0
 */
export function shardOf(isolateId: string, shards: number): number {
	// FNV-1a: cheap, and evenly spread for random ids.
	let hash = 0x811c9dc5;
	for (let i = 0; i < isolateId.length; i++) hash = Math.imul(hash ^ isolateId.charCodeAt(i), 0x01000193);
	return (hash >>> 0) % shards;
}

/**
 * One shard's policy: an equal part of the pool's, as of `version`.
 * @example shardPolicy({ rate: 50_000, burst: 50_000 }, 8, 0).rate // 6250
 */
export function shardPolicy(pool: BucketPolicy, shards: number, version: number): TenantPolicy {
	return {
		tier: BURST_POOL_TIER,
		rate: pool.rate / shards,
		burst: pool.burst / shards,
		weight: 1,
		version,
		tiersVersion: version,
	};
}
