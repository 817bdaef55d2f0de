/**
 * TenantBucket: one Durable Object per tenant, holding that tenant's exact
 * global bucket. A shell around {@link TenantLedger}: it loads the state from
 * SQLite-backed storage, lets the ledger decide, and writes back synchronously
 * (so the write is durable before the reply leaves: output gates).
 */
import { DurableObject } from "cloudflare:workers";
import { type LeaseReply, type LeaseRequest, POOL_IDLE_RELEASE_MS } from "../limiter/lease";
import { TenantLedger, type TenantLedgerState, type TenantSnapshot } from "../limiter/tenant-ledger";
import type { TenantPolicy } from "../tiers";
import { BURST_POOL_NAME } from "./burst-pool";

const STATE_KEY = "ledger";

/** The per-tenant bucket, reached with `env.TENANT_BUCKET.getByName(key)`. */
export class TenantBucket extends DurableObject<Env> {
	readonly #ledger: TenantLedger;
	#alarmArmed = false;

	constructor(ctx: DurableObjectState, env: Env) {
		super(ctx, env);
		this.#ledger = new TenantLedger(ctx.storage.kv.get<TenantLedgerState>(STATE_KEY), {
			now: () => Date.now(),
			pool: (request) => env.BURST_POOL.getByName(BURST_POOL_NAME).lease(request),
			save: (state) => ctx.storage.kv.put(STATE_KEY, state),
		});
	}

	/** Leases tokens to an isolate (see {@link TenantLedger.lease}). */
	async lease(request: LeaseRequest): Promise<LeaseReply> {
		const reply = await this.#ledger.lease(request);
		if (!this.#alarmArmed) {
			this.#alarmArmed = true;
			await this.ctx.storage.setAlarm(Date.now() + POOL_IDLE_RELEASE_MS);
		}
		return reply;
	}

	/** Applies an operator's policy from the next lease on (unless a newer one is in force). */
	configure(key: string, policy: TenantPolicy): TenantPolicy {
		return this.#ledger.configure(policy, key);
	}

	/** The tenant's live state, or null if it never leased. */
	state(): TenantSnapshot | null {
		return this.#ledger.snapshot() ?? null;
	}

	/** Fills the tenant's bucket again. */
	reset(): TenantSnapshot | null {
		this.#ledger.reset();
		return this.state();
	}

	/** Returns an idle tenant's burst-pool reserve, or checks again later. */
	override async alarm(): Promise<void> {
		this.#alarmArmed = false;
		const again = await this.#ledger.releaseIdlePool(POOL_IDLE_RELEASE_MS);
		if (again !== null) {
			this.#alarmArmed = true;
			await this.ctx.storage.setAlarm(Date.now() + again);
		}
	}
}
