import { env, exports } from "cloudflare:workers";
import { expect, it } from "vitest";
import { BURST_POOL_NAME } from "../../src/objects/burst-pool";
import { useFrozenClock } from "../support/clock";
import { burst, fakeOrigin } from "../support/origin";

useFrozenClock(1_900_000_000_000);
fakeOrigin();

it("a burst-pool denial answers 429 burst_pool and leaves the tenant's tokens untouched", async () => {
	await env.BURST_POOL.getByName(BURST_POOL_NAME).configure({ rate: 1, burst: 50 });
	const send = () => exports.default.fetch("https://api.example/", { headers: { "x-tenant-id": "pooled" } });
	const statuses = await burst(80, send);
	expect(statuses.filter((s) => s === 200)).toHaveLength(50);
	const denied = await send();
	expect(denied.status).toBe(429);
	expect(denied.headers.get("RateLimit-Policy")).toBe('"starter";q=1200;w=4, "burst_pool";q=50;w=50');
	expect(denied.headers.get("RateLimit")).toMatch(/^"burst_pool";r=0;t=\d+$/);
	expect(await denied.json()).toMatchObject({ reason: "burst_pool", "violated-policies": ["burst_pool"] });
	const state = await env.TENANT_BUCKET.getByName("t:pooled").state();
	// Only the 50 pool-backed tokens left the tenant's bucket.
	expect(state?.tokens).toBe(1150);
	await env.BURST_POOL.getByName(BURST_POOL_NAME).configure(null);
});
