// Types of the published peer, as far as hono-store.ts uses them: the packages are installed only by
// `npm run bench` (bench/package.json), and `npm test` type-checks the workers without them.
declare module "hono-rate-limiter" {
	import type { Context, Env, MiddlewareHandler } from "hono";

	export interface ClientRateLimitInfo {
		totalHits: number;
		resetTime?: Date;
	}

	export function rateLimiter<E extends Env>(options: {
		windowMs: number;
		limit: number;
		standardHeaders?: "draft-6" | "draft-7" | false;
		keyGenerator: (c: Context<E>) => string | Promise<string>;
		store: object;
	}): MiddlewareHandler<E>;
}

declare module "@hono-rate-limiter/cloudflare" {
	import { DurableObject } from "cloudflare:workers";
	import type { ClientRateLimitInfo } from "hono-rate-limiter";

	export class DurableObjectRateLimiter extends DurableObject {
		value(): Promise<ClientRateLimitInfo | undefined>;
		update(hits: number, windowMs: number): Promise<ClientRateLimitInfo>;
		reset(): Promise<void>;
		alarm(): Promise<void>;
	}

	/** Generic over the object class, so that a subclass's namespace fits. */
	export class DurableObjectStore<T extends DurableObjectRateLimiter = DurableObjectRateLimiter> {
		constructor(options: { namespace: DurableObjectNamespace<T>; prefix?: string });
	}
}
