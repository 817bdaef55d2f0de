/**
 * TenantBucket: one Durable Object per tenant, holding that tenant's exact
 * global bucket. A shell around {@link TenantLedger}: it loads the state from
 * SQLite-backed storage, lets the ledger decide, and writes back synchronously
 * (so the write is durable before the reply leaves: output gates).
 */
import { DurableObject } from "cloudflare:workers";
import type { LeaseReply, LeaseRequest } from "../limiter/lease";
import { TenantLedger, type TenantLedgerState, type TenantSnapshot } from "../limiter/tenant-ledger";
import type { TenantPolicy } from "../tiers";

const STATE_KEY = "ledger";

/** The per-tenant bucket, reached with `env.TENANT_BUCKET.getByName(key)`. */
export class TenantBucket extends DurableObject<Env> {
	readonly #ledger: TenantLedger;

	constructor(ctx: DurableObjectState, env: Env) {
		super(ctx, env);
		this.#ledger = new TenantLedger(ctx.storage.kv.get<TenantLedgerState>(STATE_KEY), {
			now: () => Date.now(),
			save: (state) => ctx.storage.kv.put(STATE_KEY, state),
		});
	}

	/** Leases tokens to an isolate (see {@link TenantLedger.lease}). */
	lease(request: LeaseRequest): LeaseReply {
		return this.#ledger.lease(request);
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

	/** Alarms armed by earlier releases (to hand an idle pool reserve back) fire once more and do nothing. */
	override async alarm(): Promise<void> {}
}
