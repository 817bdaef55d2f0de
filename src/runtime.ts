/**
 * Per-isolate state of the Worker: validated settings, the tenant config cache
 * and the local limiter. One per `env` object, so a test that passes its own
 * env gets a fresh isolate's view.
 */

import { ApiKeyCache } from "./config/api-keys";
import { parseSettings, type Settings } from "./config/settings";
import { TenantConfigCache } from "./config/tenant-config";
import type { CredentialCheck } from "./http/identify";
import { LocalLimiter } from "./limiter/local";
import { shardName, shardOf, shardPolicy } from "./limiter/pool-shards";

/** Everything an isolate keeps between requests. */
export interface Runtime {
	settings: Settings;
	configs: TenantConfigCache;
	keys: ApiKeyCache;
	limiter: LocalLimiter;
	/** What identification needs to check a credential, built once rather than per request. */
	credentials: CredentialCheck;
}

const runtimes = new WeakMap<Env, Runtime>();
/** An isolate serves one `env`: remembering the last spares a lookup per request. */
let last: { env: Env; runtime: Runtime } | undefined;

/** The runtime for `env`, created (and its settings validated) on first use. */
export function runtimeFor(env: Env): Runtime {
	if (last?.env === env) return last.runtime;
	let runtime = runtimes.get(env);
	if (!runtime) {
		const settings = parseSettings(env);
		const isolateId = crypto.randomUUID();
		const shards = settings.poolShards;
		const configs = new TenantConfigCache();
		const keys = new ApiKeyCache();
		const limiter = new LocalLimiter({
			grantor: (request) => env.TENANT_BUCKET.getByName(request.key).lease(request),
			isolateId,
			pool: {
				key: shardName(shardOf(isolateId, shards)),
				grantor: (request) => env.BURST_POOL.getByName(request.key).lease(request),
				policy: shardPolicy(settings.pool, shards, 0),
				shards,
			},
			failMode: settings.failMode,
			timeoutMs: settings.timeoutMs,
		});
		runtime = {
			settings,
			configs,
			keys,
			limiter,
			credentials: {
				keys,
				kv: env.CONFIG,
				// Only on the slow path of a credential to check: the anonymous tier as the tier table has it.
				charge: async (key, defer) =>
					limiter.admit(key, await configs.anonymousPolicy(env.CONFIG, settings.configTtlMs, defer), 1, defer),
			},
		};
		runtimes.set(env, runtime);
	}
	last = { env, runtime };
	return runtime;
}
