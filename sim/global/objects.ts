/**
 * The Durable Objects of the global simulation: one TenantBucket (the real
 * TenantLedger) per tenant that ever called, created on its first call, and
 * the BurstPool (the real BurstPoolLedger). Every call takes a round trip: half
 * before the callee runs, half before the reply reaches the caller, with the
 * request and the reply structured-cloned as they would be serialized.
 */
import type { BucketPolicy } from "../../src/limiter/bucket";
import { BurstPoolLedger, newPool } from "../../src/limiter/burst-pool-ledger";
import {
	type LeaseReply,
	type LeaseRequest,
	POOL_IDLE_RELEASE_MS,
	type PoolLeaseReply,
	type PoolLeaseRequest,
} from "../../src/limiter/lease";
import { TenantLedger } from "../../src/limiter/tenant-ledger";
import type { Random } from "./prng";
import type { Scheduler } from "./scheduler";
import type { Workload } from "./workload";

/** Each call's round trip is its base times a uniform factor in 1 ± this. */
export const RTT_JITTER = 0.2;

/** Where the objects report their calls (the metrics). */
export interface CallObserver {
	/** A lease call reached tenant `tenant`'s bucket. */
	tenantCall(tenant: number): void;
	/** A call (lease or release) reached the pool. */
	poolCall(): void;
}

/** One TenantBucket object. */
interface Bucket {
	tenant: number;
	ledger: TenantLedger;
	alarmArmed: boolean;
	alarm: () => void;
}

/** Every TenantBucket and the pool, reached over simulated round trips. */
export class Objects {
	readonly pool: BurstPoolLedger;
	readonly #buckets = new Map<string, Bucket>();
	readonly #index = new Map<string, number>();

	constructor(
		readonly workload: Workload,
		readonly scheduler: Scheduler,
		readonly jitter: Random,
		poolPolicy: BucketPolicy,
		readonly observer: CallObserver,
	) {
		this.pool = new BurstPoolLedger(newPool(poolPolicy, scheduler.now()), { now: scheduler.now, save: () => {} });
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
	async leaseTenant(rttMs: number, request: LeaseRequest): Promise<LeaseReply> {
		const half = this.#rtt(rttMs) / 2;
		const sent = structuredClone(request);
		await this.scheduler.sleep(half);
		const bucket = this.#bucket(sent.key);
		this.observer.tenantCall(bucket.tenant);
		const reply = await bucket.ledger.lease(sent);
		if (!bucket.alarmArmed) {
			bucket.alarmArmed = true;
			this.scheduler.at(this.scheduler.time + POOL_IDLE_RELEASE_MS, bucket.alarm);
		}
		const answer = structuredClone(reply);
		await this.scheduler.sleep(half);
		return answer;
	}

	/** A TenantBucket's call to the pool, over that bucket's own round trip. */
	async #leasePool(tenant: number, request: PoolLeaseRequest): Promise<PoolLeaseReply> {
		const half = this.#rtt(this.workload.poolRttMs[tenant] as number) / 2;
		const sent = structuredClone(request);
		await this.scheduler.sleep(half);
		this.observer.poolCall();
		const answer = structuredClone(this.pool.lease(sent));
		await this.scheduler.sleep(half);
		return answer;
	}

	/** The bucket of `key`, created on its first call (an object that never ran holds no state). */
	#bucket(key: string): Bucket {
		const bucket = this.#buckets.get(key);
		if (bucket) return bucket;
		const tenant = this.#index.get(key);
		if (tenant === undefined) throw new Error(`unknown tenant ${key}`);
		const ledger = new TenantLedger(undefined, {
			now: this.scheduler.now,
			pool: (request) => this.#leasePool(tenant, request),
			save: () => {},
		});
		const created: Bucket = { tenant, ledger, alarmArmed: false, alarm: () => {} };
		// The object's alarm: give an idle tenant's pool reserve back, or look again when it may be idle.
		created.alarm = () => {
			created.alarmArmed = false;
			void ledger.releaseIdlePool(POOL_IDLE_RELEASE_MS).then((again) => {
				if (again === null || created.alarmArmed) return;
				created.alarmArmed = true;
				this.scheduler.at(this.scheduler.time + again, created.alarm);
			});
		};
		this.#buckets.set(key, created);
		return created;
	}
}
