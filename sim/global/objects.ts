/**
 * The Durable Objects of the global simulation: one TenantBucket (the real
 * TenantLedger) per tenant that ever called, created on its first call, and
 * the BurstPool's shards (the real TenantLedger under a shard's policy). Every
 * call takes a round trip: half before the callee runs, half before the reply
 * reaches the caller, with the request and the reply structured-cloned as they
 * would be serialized.
 */
import type { BucketPolicy } from "../../src/limiter/bucket";
import { type LeaseReply, type LeaseRequest, POOL_LEASE_LIFETIMES } from "../../src/limiter/lease";
import { type PoolRoot, rootFor } from "../../src/limiter/pool-root";
import { BURST_POOL_TIER, shardPolicy } from "../../src/limiter/pool-shards";
import { TenantLedger } from "../../src/limiter/tenant-ledger";
import type { Random } from "./prng";
import type { Scheduler } from "./scheduler";
import type { Workload } from "./workload";

/** Each call's round trip is its base times a uniform factor in 1 ± this. */
export const RTT_JITTER = 0.2;

/** Round trip between a pool shard and the pool's root (ms, before jitter): objects within one region. */
export const ROOT_RTT_MS = 20;

/** Where the objects report their calls (the metrics). */
export interface CallObserver {
	/** A lease call reached tenant `tenant`'s bucket. */
	tenantCall(tenant: number): void;
	/** A lease call reached pool shard `shard`. */
	poolCall(shard: number): void;
}

/** Every TenantBucket and the pool's shards, reached over simulated round trips. */
export class Objects {
	readonly shards: TenantLedger[];
	readonly #buckets = new Map<string, { tenant: number; ledger: TenantLedger }>();
	readonly #index = new Map<string, number>();

	constructor(
		readonly workload: Workload,
		readonly scheduler: Scheduler,
		readonly jitter: Random,
		pool: BucketPolicy,
		shards: number,
		readonly observer: CallObserver,
	) {
		let root: PoolRoot | undefined;
		this.shards = Array.from({ length: shards }, (_, shard) => {
			const ledger = new TenantLedger(undefined, {
				now: scheduler.now,
				save: () => {},
				lifetimes: POOL_LEASE_LIFETIMES,
				poolShard: true,
				shard,
				// Shards and their root talk within a region.
				root: async (report) => {
					// No jitter: drawing it would shift every other call's from the stream they share.
					const half = ROOT_RTT_MS / 2;
					await scheduler.sleep(half);
					const sent = structuredClone(report);
					const current = rootFor(root, sent, shards);
					if (current) root = current;
					const reply = current?.report(sent) ?? { rate: sent.rate };
					await scheduler.sleep(half);
					return reply;
				},
			});
			ledger.configure(shardPolicy(pool, shards, scheduler.now()), BURST_POOL_TIER);
			return ledger;
		});
		for (let i = 0; i < workload.keys.length; i++) this.#index.set(workload.keys[i] as string, i);
	}

	/** TenantBuckets created so far. */
	get buckets(): number {
		return this.#buckets.size;
	}

	/** One round trip's length: `base` with ±RTT_JITTER. */
	#rtt(base: number): number {
		return base * (1 - RTT_JITTER + 2 * RTT_JITTER * this.jitter());
	}

	/** An isolate's lease call to the tenant's bucket, from a location `rttMs` away. */
	leaseTenant(rttMs: number, request: LeaseRequest): Promise<LeaseReply> {
		return this.#call(rttMs, request, () => {
			const bucket = this.#bucket(request.key);
			this.observer.tenantCall(bucket.tenant);
			return bucket.ledger;
		});
	}

	/** An isolate's lease call to its pool shard, from a location `rttMs` away. */
	leasePool(rttMs: number, shard: number, request: LeaseRequest): Promise<LeaseReply> {
		return this.#call(rttMs, request, () => {
			this.observer.poolCall(shard);
			return this.shards[shard] as TenantLedger;
		});
	}

	async #call(rttMs: number, request: LeaseRequest, reach: () => TenantLedger): Promise<LeaseReply> {
		const half = this.#rtt(rttMs) / 2;
		const sent = structuredClone(request);
		await this.scheduler.sleep(half);
		const answer = structuredClone(reach().lease(sent));
		await this.scheduler.sleep(half);
		return answer;
	}

	/** The bucket of `key`, created on its first call (an object that never ran holds no state). */
	#bucket(key: string): { tenant: number; ledger: TenantLedger } {
		const bucket = this.#buckets.get(key);
		if (bucket) return bucket;
		const tenant = this.#index.get(key);
		if (tenant === undefined) throw new Error(`unknown tenant ${key}`);
		const created = { tenant, ledger: new TenantLedger(undefined, { now: this.scheduler.now, save: () => {} }) };
		this.#buckets.set(key, created);
		return created;
	}
}
