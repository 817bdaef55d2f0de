/**
 * Benchmark helper: reads the call counters that the Durable Objects keep, so
 * that calls per admitted request are counted by the code, not estimated.
 */
import { DEFAULT_POOL_SHARDS, shardName } from "../../src/limiter/pool-shards";

interface Counted {
	state?(): Promise<{ leases: number; leaseDenials: number; fallbacks: number } | null>;
	calls?(): Promise<number>;
}

type StatsEnv = Partial<Record<"TENANT_BUCKET" | "BURST_POOL" | "NAIVE" | "HRL", DurableObjectNamespace>> & {
	POOL_SHARDS?: string;
};

function stub(namespace: DurableObjectNamespace, name: string): Counted {
	return namespace.get(namespace.idFromName(name)) as unknown as Counted;
}

export default {
	async fetch(request: Request, env: StatsEnv): Promise<Response> {
		const tenants = (new URL(request.url).searchParams.get("tenants") ?? "").split(",").filter(Boolean);
		let tenant = 0;
		let pool: number | null = null;
		// Decisions the limiter's isolates made by FAIL_MODE (a lease past its deadline), as they reported them.
		let fallbacks: number | null = null;
		for (const name of tenants) {
			if (env.TENANT_BUCKET) {
				const state = (await stub(env.TENANT_BUCKET, `t:${name}`).state?.()) as {
					leases: number;
					leaseDenials: number;
					fallbacks: number;
				} | null;
				tenant += state ? state.leases + state.leaseDenials : 0;
				fallbacks = (fallbacks ?? 0) + (state?.fallbacks ?? 0);
			}
			if (env.NAIVE) tenant += (await stub(env.NAIVE, name).calls?.()) ?? 0;
			if (env.HRL) tenant += (await stub(env.HRL, `hrl:${name}`).calls?.()) ?? 0;
		}
		if (env.BURST_POOL) {
			// Every shard's lease calls (a shard is a leased bucket like a tenant's).
			pool = 0;
			for (let i = 0; i < Number(env.POOL_SHARDS ?? DEFAULT_POOL_SHARDS); i++) {
				const state = await stub(env.BURST_POOL, shardName(i)).state?.();
				pool += state ? state.leases + state.leaseDenials : 0;
			}
		}
		return Response.json({ tenant, pool, fallbacks });
	},
};
