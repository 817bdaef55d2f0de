/**
 * The real limiter logic wired together in one process, without workerd: N
 * isolates (LocalLimiter), one TenantLedger per tenant and one for the burst
 * pool (a single shard), on a fake clock. Used by the simulation and by
 * protocol tests.
 */
import type { BucketPolicy } from "../src/limiter/bucket";
import { type LeaseReply, type LeaseRequest, POOL_LEASE_LIFETIMES } from "../src/limiter/lease";
import { LocalLimiter } from "../src/limiter/local";
import { BURST_POOL_TIER, shardName, shardPolicy } from "../src/limiter/pool-shards";
import { TenantLedger, type TenantLedgerState } from "../src/limiter/tenant-ledger";
import { DEFAULT_BURST_POOL } from "../src/tiers";

/** A clock that only moves when told to. */
export class FakeClock {
	constructor(public time = 1_700_000_000_000) {}
	readonly now = (): number => this.time;
	advance(ms: number): void {
		this.time += ms;
	}
}

/** Counts of calls across the cluster's Durable Object boundaries. */
export interface CallCounts {
	tenant: number;
	pool: number;
}

/** Options of {@link Cluster}. */
export interface ClusterOptions {
	pool?: BucketPolicy;
	/** Makes a grantor call fail (to test failure handling); return true to throw. */
	failTenantCall?: (request: LeaseRequest) => boolean;
}

/** Isolates, tenant buckets and the pool, all in memory, sharing one fake clock. */
export class Cluster {
	readonly clock = new FakeClock();
	readonly calls: CallCounts = { tenant: 0, pool: 0 };
	readonly ledgers = new Map<string, TenantLedger>();
	/** What each tenant ledger last saved: the "durable storage" of the objects. */
	readonly saved = new Map<string, TenantLedgerState>();
	/** The burst pool: one shard, all of it. */
	readonly pool: TenantLedger;
	readonly #options: ClusterOptions;

	constructor(options: ClusterOptions = {}) {
		this.#options = options;
		this.pool = new TenantLedger(undefined, {
			now: this.clock.now,
			save: () => {},
			lifetimes: POOL_LEASE_LIFETIMES,
			poolShard: true,
		});
		this.pool.configure(shardPolicy(options.pool ?? DEFAULT_BURST_POOL, 1, this.clock.now()), BURST_POOL_TIER);
	}

	/** A new isolate with an empty local state. */
	isolate(id = `isolate-${Math.random().toString(36).slice(2)}`): LocalLimiter {
		// Calls answer at once here; a deadline would only measure how fast this machine runs the simulation.
		return new LocalLimiter({
			grantor: (request) => this.leaseTenant(request),
			pool: {
				key: shardName(0),
				grantor: (request) => this.leasePool(request),
				policy: this.#options.pool ?? DEFAULT_BURST_POOL,
			},
			now: this.clock.now,
			isolateId: id,
			wait: () => new Promise<void>(() => {}),
		});
	}

	/** The ledger of `key`, created from its saved state (as an object would be after eviction). */
	ledger(key: string): TenantLedger {
		let ledger = this.ledgers.get(key);
		if (!ledger) {
			ledger = new TenantLedger(this.saved.get(key), {
				now: this.clock.now,
				save: (state) => this.saved.set(key, structuredClone(state)),
			});
			this.ledgers.set(key, ledger);
		}
		return ledger;
	}

	/** Drops the in-memory ledger of `key`, as when its object is evicted. */
	evict(key: string): void {
		this.ledgers.delete(key);
	}

	async leaseTenant(request: LeaseRequest): Promise<LeaseReply> {
		this.calls.tenant += 1;
		await Promise.resolve();
		if (this.#options.failTenantCall?.(request)) throw new Error("injected failure");
		return this.ledger(request.key).lease(structuredClone(request));
	}

	async leasePool(request: LeaseRequest): Promise<LeaseReply> {
		this.calls.pool += 1;
		await Promise.resolve();
		return this.pool.lease(structuredClone(request));
	}
}
