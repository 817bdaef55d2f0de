/**
 * Benchmark contender: the published peer, hono-rate-limiter with
 * @hono-rate-limiter/cloudflare's DurableObjectStore, as its README sets it up.
 * The object is subclassed only to count the calls it receives.
 */
import { DurableObjectRateLimiter, DurableObjectStore } from "@hono-rate-limiter/cloudflare";
import { Hono } from "hono";
import { rateLimiter } from "hono-rate-limiter";
import { forward } from "../../src/http/proxy";

/** The peer's bindings. */
export interface HonoEnv {
	ORIGIN_URL: string;
	HRL: DurableObjectNamespace<CountingRateLimiter>;
}

/** The peer's object, counting `update` calls (one per request). */
export class CountingRateLimiter extends DurableObjectRateLimiter {
	#calls = 0;

	override async update(hits: number, windowMs: number) {
		this.#calls += 1;
		return super.update(hits, windowMs);
	}

	calls(): number {
		return this.#calls;
	}
}

const app = new Hono<{ Bindings: HonoEnv }>();
app.use((c, next) =>
	rateLimiter<{ Bindings: HonoEnv }>({
		windowMs: 1_000,
		limit: 10_000_000,
		standardHeaders: "draft-7",
		keyGenerator: (c) => c.req.header("x-tenant-id") ?? "",
		store: new DurableObjectStore({ namespace: c.env.HRL }),
	})(c, next),
);
app.all("*", (c) => forward(c.req.raw, new URL(c.env.ORIGIN_URL)));

export default app;
