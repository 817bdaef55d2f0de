/**
 * BurstPool: one shard of the cross-tenant burst pool, a Durable Object per
 * shard (`POOL_SHARDS`, named by {@link shardName}). Isolates lease pool tokens
 * from their shard exactly as they lease a tenant's from its TenantBucket: the
 * shard is a {@link TenantLedger} whose policy is its part of the pool.
 */
import { DurableObject } from "cloudflare:workers";
import { parsePoolPolicy, parsePoolShards } from "../config/settings";
import type { BucketPolicy } from "../limiter/bucket";
import { type LeaseReply, type LeaseRequest, POOL_LEASE_LIFETIMES } from "../limiter/lease";
import { BURST_POOL_TIER, shardPolicy } from "../limiter/pool-shards";
import { TenantLedger, type TenantLedgerState, type TenantSnapshot } from "../limiter/tenant-ledger";

const STATE_KEY = "shard";
/** The whole pool's policy an operator set (`PUT /_limiter/admin/pool`), until cleared. */
const CONFIGURED_KEY = "configured";

/** One shard of the burst pool, reached with `env.BURST_POOL.getByName(shardName(i))`. */
export class BurstPool extends DurableObject<Env> {
	readonly #ledger: TenantLedger;

	constructor(ctx: DurableObjectState, env: Env) {
		super(ctx, env);
		this.#ledger = new TenantLedger(ctx.storage.kv.get<TenantLedgerState>(STATE_KEY), {
			now: () => Date.now(),
			save: (state) => ctx.storage.kv.put(STATE_KEY, state),
			lifetimes: POOL_LEASE_LIFETIMES,
		});
		// A policy an operator set stands until they clear it; otherwise the deployed vars rule.
		this.#apply(ctx.storage.kv.get<BucketPolicy>(CONFIGURED_KEY) ?? parsePoolPolicy(env));
	}

	/** Leases pool tokens to an isolate (and takes back unspent ones). */
	lease(request: LeaseRequest): LeaseReply {
		return this.#ledger.lease(request);
	}

	/** The shard's live state. */
	state(): TenantSnapshot {
		return this.#ledger.snapshot() as TenantSnapshot;
	}

	/** Sets the whole pool's rate and burst, overriding POOL_RATE / POOL_BURST until cleared with null. */
	configure(policy: BucketPolicy | null): TenantSnapshot {
		if (policy) this.ctx.storage.kv.put(CONFIGURED_KEY, policy);
		else this.ctx.storage.kv.delete(CONFIGURED_KEY);
		this.#apply(policy ?? parsePoolPolicy(this.env));
		return this.state();
	}

	#apply(pool: BucketPolicy): void {
		this.#ledger.configure(shardPolicy(pool, parsePoolShards(this.env), Date.now()), BURST_POOL_TIER);
	}
}
