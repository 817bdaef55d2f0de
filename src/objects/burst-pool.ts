/**
 * BurstPool: one shard of the cross-tenant burst pool, a Durable Object per
 * shard (`POOL_SHARDS`, named by {@link shardName}). Isolates lease pool tokens
 * from their shard exactly as they lease a tenant's from its TenantBucket: the
 * shard is a {@link TenantLedger} whose policy is its part of the pool.
 * The instance named {@link ROOT_NAME} is the pool's root instead: shards
 * report their isolates' demand to it and it sets their rates and the fair
 * level ({@link PoolRoot}).
 */
import { DurableObject } from "cloudflare:workers";
import { parsePoolPolicy, parsePoolShards } from "../config/settings";
import type { BucketPolicy } from "../limiter/bucket";
import { type LeaseReply, type LeaseRequest, POOL_LEASE_LIFETIMES } from "../limiter/lease";
import { PoolRoot, type RootReply, rootFor, type ShardReport } from "../limiter/pool-root";
import { BURST_POOL_TIER, ROOT_NAME, shardIndex, shardPolicy } from "../limiter/pool-shards";
import { TenantLedger, type TenantLedgerState, type TenantSnapshot } from "../limiter/tenant-ledger";

const STATE_KEY = "shard";
/** The whole pool's policy an operator set (`PUT /_limiter/admin/pool`), until cleared. */
const CONFIGURED_KEY = "configured";
/** The root's bounds on every shard's rate: a root evicted and loaded again must not raise a shard past them. */
const ROOT_KEY = "root";

interface SavedRoot {
	rate: number;
	shards: number;
	bounds: number[];
	version: number;
}

/** One shard of the burst pool, reached with `env.BURST_POOL.getByName(shardName(i))`. */
export class BurstPool extends DurableObject<Env> {
	readonly #ledger: TenantLedger;
	/** This shard's index, from the key its isolates call it by (-1 until the first call). */
	#shard = -1;
	#root: PoolRoot | undefined;

	constructor(ctx: DurableObjectState, env: Env) {
		super(ctx, env);
		this.#ledger = new TenantLedger(ctx.storage.kv.get<TenantLedgerState>(STATE_KEY), {
			now: () => Date.now(),
			save: (state) => ctx.storage.kv.put(STATE_KEY, state),
			lifetimes: POOL_LEASE_LIFETIMES,
			poolShard: true,
			root: async (report) => env.BURST_POOL.getByName(ROOT_NAME).report({ ...report, shard: this.#shard }),
		});
		// A policy an operator set stands until they clear it; otherwise the deployed vars rule.
		this.#apply(ctx.storage.kv.get<BucketPolicy>(CONFIGURED_KEY) ?? parsePoolPolicy(env));
	}

	/** Leases pool tokens to an isolate (and takes back unspent ones). */
	lease(request: LeaseRequest): LeaseReply {
		if (this.#shard < 0) this.#shard = shardIndex(request.key);
		return this.#ledger.lease(request);
	}

	/** The root's side: takes a shard's report, answers its rate and the fair level. */
	report(report: ShardReport): RootReply {
		if (!this.#root) {
			// Loaded again (or for the first time): start from the bounds the last root allowed.
			const saved = this.ctx.storage.kv.get<SavedRoot>(ROOT_KEY);
			if (saved) this.#root = new PoolRoot(saved.rate, saved.shards, saved.bounds, saved.version);
		}
		const root = rootFor(this.#root, report, parsePoolShards(this.env));
		if (!root) return { rate: report.rate };
		this.#root = root;
		const reply = root.report(report);
		const saved: SavedRoot = { rate: root.rate, shards: root.shards, bounds: root.bounds, version: root.version };
		this.ctx.storage.kv.put(ROOT_KEY, saved);
		return reply;
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
