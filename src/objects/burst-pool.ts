/**
 * BurstPool: the one Durable Object holding the cross-tenant burst pool. Only
 * TenantBuckets call it, and only to lease tokens in bulk. A shell around
 * {@link BurstPoolLedger}.
 */
import { DurableObject } from "cloudflare:workers";
import { parsePoolPolicy } from "../config/settings";
import type { BucketPolicy } from "../limiter/bucket";
import { BurstPoolLedger, type BurstPoolLedgerState, newPool } from "../limiter/burst-pool-ledger";
import type { PoolLeaseReply, PoolLeaseRequest } from "../limiter/lease";

/** Name of the single BurstPool instance. */
export const BURST_POOL_NAME = "global";

const STATE_KEY = "pool";
const CONFIGURED_KEY = "configured";

/** The burst pool, reached with `env.BURST_POOL.getByName(BURST_POOL_NAME)`. */
export class BurstPool extends DurableObject<Env> {
	readonly #ledger: BurstPoolLedger;

	constructor(ctx: DurableObjectState, env: Env) {
		super(ctx, env);
		// A policy an operator set stands until they clear it; otherwise the deployed vars rule.
		const policy = ctx.storage.kv.get<BucketPolicy>(CONFIGURED_KEY) ?? parsePoolPolicy(env);
		const saved = ctx.storage.kv.get<BurstPoolLedgerState>(STATE_KEY);
		const now = Date.now();
		this.#ledger = new BurstPoolLedger(saved ?? newPool(policy, now), {
			now: () => Date.now(),
			save: (state) => ctx.storage.kv.put(STATE_KEY, state),
		});
		if (saved) this.#ledger.configure(policy);
	}

	/** Leases pool tokens to a TenantBucket (and takes back unspent ones). */
	lease(request: PoolLeaseRequest): PoolLeaseReply {
		return this.#ledger.lease(request);
	}

	/** The pool's live state. */
	state(): ReturnType<BurstPoolLedger["snapshot"]> {
		return this.#ledger.snapshot();
	}

	/** Sets the pool's rate and burst, overriding POOL_RATE / POOL_BURST until cleared with null. */
	configure(policy: BucketPolicy | null): ReturnType<BurstPoolLedger["snapshot"]> {
		if (policy) this.ctx.storage.kv.put(CONFIGURED_KEY, policy);
		else this.ctx.storage.kv.delete(CONFIGURED_KEY);
		this.#ledger.configure(policy ?? parsePoolPolicy(this.env));
		return this.state();
	}
}
