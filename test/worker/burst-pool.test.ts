import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, expect, it } from "vitest";
import { parsePoolShards } from "../../src/config/settings";
import { quotaWindow } from "../../src/http/headers";
import { shardName } from "../../src/limiter/pool-shards";
import { policyForTier, type TenantPolicy } from "../../src/tiers";
import worker from "../../src/worker";
import { useFrozenClock } from "../support/clock";
import { burst, fakeOrigin } from "../support/origin";

useFrozenClock(1_900_000_000_000);
fakeOrigin();

const starter = policyForTier("starter") as TenantPolicy;
const shards = parsePoolShards(env);

/** Sets the whole pool's policy on every shard (null: back to POOL_RATE / POOL_BURST), as `PUT /_limiter/admin/pool` does. */
function configurePool(policy: { rate: number; burst: number } | null) {
	return Promise.all(
		Array.from({ length: shards }, (_, i) => env.BURST_POOL.getByName(shardName(i)).configure(policy)),
	);
}

afterEach(() => configurePool(null));

/** Background work of the requests sent (leases fetched ahead of time). */
const contexts: ExecutionContext[] = [];

function send(): Promise<Response> {
	const ctx = createExecutionContext();
	contexts.push(ctx);
	return worker.fetch(new Request("https://api.example/", { headers: { "x-tenant-id": "pooled" } }), env, ctx);
}

/** Lets every request's background work finish: the objects' state is then what the requests left. */
async function settle(): Promise<void> {
	await Promise.all(contexts.splice(0).map((ctx) => waitOnExecutionContext(ctx)));
}

it("a burst-pool denial answers 429 burst_pool and leaves the tenant's tokens untouched", async () => {
	// Each shard gets 50 tokens and 1 a second: whichever shard this isolate hashed to, 50 requests drain it.
	const share = { rate: 1, burst: 50 };
	const pool = { rate: share.rate * shards, burst: share.burst * shards };
	await configurePool(pool);
	const statuses = await burst(80, send);
	await settle();
	expect(statuses.filter((s) => s === 200)).toHaveLength(share.burst);
	expect(statuses.filter((s) => s === 429)).toHaveLength(80 - share.burst);
	const tenant = env.TENANT_BUCKET.getByName("t:pooled");
	const before = await tenant.state();
	const denied = await send();
	await settle();
	expect(denied.status).toBe(429);
	// The denial advertises the whole pool (every shard's part), next to the tenant's tier.
	const { q, w } = quotaWindow({ name: "burst_pool", ...pool });
	expect(denied.headers.get("RateLimit-Policy")).toBe(`"starter";q=1200;w=4, "burst_pool";q=${q};w=${w}`);
	expect(denied.headers.get("RateLimit")).toMatch(/^"burst_pool";r=0;t=\d+$/);
	expect(await denied.json()).toMatchObject({ reason: "burst_pool", "violated-policies": ["burst_pool"] });
	// The pool's refusals cost the tenant's bucket nothing: it is neither asked nor debited…
	expect(await tenant.state()).toEqual(before);
	// …and of what it leased to the isolate, only the 50 requests the pool let through are gone for good: the
	// rest still waits in the isolate's lease.
	expect((before?.tokens ?? 0) + (before?.leasedOut ?? 0)).toBeGreaterThanOrEqual(starter.burst - share.burst);
});
