/**
 * Benchmark contender: the textbook Durable Object limiter. Every request
 * calls the tenant's object, which refills, takes one token and writes its
 * state, and only then is the request forwarded.
 */
import { DurableObject } from "cloudflare:workers";
import { forward } from "../../src/http/proxy";
import { type BucketState, fullBucket, take } from "../../src/limiter/bucket";

interface NaiveEnv {
	ORIGIN_URL: string;
	NAIVE: DurableObjectNamespace<NaiveBucket>;
}

const POLICY = { rate: 1_000_000, burst: 1_000_000 };

/** One bucket per tenant, called once per request. */
export class NaiveBucket extends DurableObject<NaiveEnv> {
	#state: BucketState | undefined;
	#calls = 0;

	take(cost: number): { allowed: boolean; remaining: number } {
		this.#calls += 1;
		const now = Date.now();
		const result = take(
			this.#state ?? this.ctx.storage.kv.get<BucketState>("s") ?? fullBucket(POLICY, now),
			POLICY,
			now,
			cost,
		);
		this.#state = result.state;
		this.ctx.storage.kv.put("s", result.state);
		return { allowed: result.taken > 0, remaining: Math.floor(result.remaining) };
	}

	calls(): number {
		return this.#calls;
	}
}

export default {
	async fetch(request: Request, env: NaiveEnv): Promise<Response> {
		const tenant = request.headers.get("x-tenant-id") ?? "anonymous";
		const decision = await env.NAIVE.getByName(tenant).take(1);
		if (!decision.allowed) return new Response("Too Many Requests", { status: 429 });
		const response = await forward(request, new URL(env.ORIGIN_URL));
		response.headers.set("X-RateLimit-Remaining", String(decision.remaining));
		return response;
	},
};
