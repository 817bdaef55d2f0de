/**
 * BurstPool: the one Durable Object holding the cross-tenant surge pool. Only
 * TenantBuckets call it, and only to lease tokens in bulk. A shell around the
 * pure pool ledger.
 */
import { DurableObject } from "cloudflare:workers";
import { parsePoolPolicy } from "../config/settings";
import { type BucketPolicy, refill } from "../limiter/bucket";
import type { PoolLeaseReply, PoolLeaseRequest } from "../limiter/lease";
import { configurePool, leaseFromPool, newPool, type PoolLedgerState } from "../limiter/pool-ledger";

/** Name of the single BurstPool instance. */
export const BURST_POOL_NAME = "global";

const STATE_KEY = "pool";
const CONFIGURED_KEY = "configured";

/** The surge pool, reached with `env.BURST_POOL.getByName(BURST_POOL_NAME)`. */
export class BurstPool extends DurableObject<Env> {
	#state: PoolLedgerState;

	constructor(ctx: DurableObjectState, env: Env) {
		super(ctx, env);
		const policy = parsePoolPolicy(env);
		const now = Date.now();
		const saved = ctx.storage.kv.get<PoolLedgerState>(STATE_KEY);
		// A policy an operator set stands until they change it; otherwise the deployed vars rule.
		const configured = ctx.storage.kv.get<BucketPolicy>(CONFIGURED_KEY);
		this.#state = saved ? configurePool(saved, configured ?? policy, now) : newPool(configured ?? policy, now);
	}

	/** Sets the pool's rate and burst, overriding POOL_RATE / POOL_BURST until cleared with null. */
	configure(policy: BucketPolicy | null): PoolLedgerState {
		if (policy) this.ctx.storage.kv.put(CONFIGURED_KEY, policy);
		else this.ctx.storage.kv.delete(CONFIGURED_KEY);
		this.#state = configurePool(this.#state, policy ?? parsePoolPolicy(this.env), Date.now());
		this.ctx.storage.kv.put(STATE_KEY, this.#state);
		return this.state();
	}

	/** Leases pool tokens to a TenantBucket (and takes back unspent ones). */
	lease(request: PoolLeaseRequest): PoolLeaseReply {
		const { state, reply } = leaseFromPool(this.#state, request, Date.now());
		this.#state = state;
		this.ctx.storage.kv.put(STATE_KEY, state);
		return reply;
	}

	/** The pool's live state. */
	state(): PoolLedgerState {
		return { ...this.#state, bucket: refill(this.#state.bucket, this.#state.policy, Date.now()) };
	}
}
