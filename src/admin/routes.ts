/**
 * The admin API under `/_limiter/admin/`: tenants' configuration (KV, the
 * durable source) pushed to their TenantBuckets so that a change is in force
 * from the next lease, live bucket state, resets, and the burst pool.
 */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { hashKey, type KeyRecord, keyIdKey, keyRecordKey, newKey } from "../config/api-keys";
import { KV_SETTLE_MS, TIERS_KEY, tenantKey } from "../config/tenant-config";
import { bucketKey } from "../http/identify";
import { ProblemError } from "../http/problem";
import type { BucketPolicy } from "../limiter/bucket";
import { shardName } from "../limiter/pool-shards";
import { type Runtime, runtimeFor } from "../runtime";
import {
	BUILTIN_TIERS,
	parseTenantConfig,
	parseTierTable,
	policyForConfig,
	policyForTier,
	type TenantConfig,
	type TenantPolicy,
	type Tier,
	type TierTable,
	tierByName,
} from "../tiers";
import { type AdminEnv, adminAuth } from "./auth";
import {
	badRequest,
	body,
	KeyBody,
	MAX_BODY_BYTES,
	PoolBody,
	TenantBody,
	TierBody,
	tenantId,
	tierName,
} from "./schema";

/** The admin app's Hono env: the bindings, and the isolate's runtime as `c.var.runtime`. */
type AdminApp = { Bindings: AdminEnv; Variables: { runtime: Runtime } };

/** The answer for a tenant whose bucket does not exist yet. */
function notSeen(id: string): ProblemError {
	return new ProblemError({
		code: "not-found",
		title: "Not Found",
		status: 404,
		detail: `Tenant ${id} has not been seen yet.`,
	});
}

/**
 * The KV `tiers` entry, read once (admin reads bypass the isolate cache): the
 * whole table, or why it is unreadable, and the custom tiers and overrides as
 * stored (none when unreadable, so that a write replaces the bad entry).
 */
async function readTiers(env: AdminEnv): Promise<{ table: TierTable | Error; custom: Record<string, Tier> }> {
	const raw = await env.CONFIG.get(TIERS_KEY);
	const table = parseTierTable(raw);
	if (raw === null || table instanceof Error) return { table, custom: {} };
	const stored = JSON.parse(raw) as Record<string, unknown>;
	return { table, custom: Object.fromEntries(Object.entries(table).filter(([name]) => Object.hasOwn(stored, name))) };
}

/** A readable tier table, or a 500 that says why the stored one is not. */
function usable(table: TierTable | Error): TierTable {
	if (table instanceof Error) {
		throw new ProblemError({
			code: "misconfigured",
			title: "Stored tiers unreadable",
			status: 500,
			detail: table.message,
		});
	}
	return table;
}

async function tierTable(env: AdminEnv): Promise<TierTable> {
	return usable((await readTiers(env)).table);
}

async function storedConfig(env: AdminEnv, id: string, tiers: TierTable): Promise<TenantConfig | null> {
	const raw = await env.CONFIG.get(tenantKey(id));
	if (raw === null) return null;
	const parsed = parseTenantConfig(raw, tiers);
	return parsed instanceof Error ? null : parsed;
}

/** Pushes `policy` to the tenant's bucket; returns the policy in force there. */
function push(env: AdminEnv, id: string, policy: TenantPolicy): Promise<TenantPolicy> {
	return env.TENANT_BUCKET.getByName(bucketKey(id)).configure(bucketKey(id), policy);
}

/**
 * The version a pushed policy carries: newer than any view isolates have read
 * from KV until KV has surely caught up everywhere, so that a location still
 * serving the previous value cannot roll the change back meanwhile.
 */
function pushVersion(): number {
	return Date.now() + KV_SETTLE_MS;
}

/** The admin sub-app, mounted at `/_limiter/admin`. */
export const admin = new Hono<AdminApp>();

admin.use(adminAuth());

// After authentication, so that a caller without the token learns nothing of the settings.
admin.use(async function isolateRuntime(c, next) {
	c.set("runtime", runtimeFor(c.env));
	await next();
});

// Counts bytes as they arrive and stops at the limit: an oversized body is refused, never held whole.
admin.use(
	bodyLimit({
		maxSize: MAX_BODY_BYTES,
		onError: () => {
			throw new ProblemError({
				code: "body-too-large",
				title: "Payload Too Large",
				status: 413,
				detail: `Admin bodies are at most ${MAX_BODY_BYTES} bytes.`,
			});
		},
	}),
);

admin.get("/tenants/:id", async (c) => {
	const id = tenantId(c);
	const tiers = await tierTable(c.env);
	const config = await storedConfig(c.env, id, tiers);
	if (!config)
		throw new ProblemError({
			code: "not-found",
			title: "Not Found",
			status: 404,
			detail: `Tenant ${id} has no configuration.`,
		});
	return c.json({ tenant: id, config, policy: policyForConfig(config, tiers, Date.now()) });
});

admin.put("/tenants/:id", async (c) => {
	const id = tenantId(c);
	const input = await body(c, TenantBody);
	const tiers = await tierTable(c.env);
	if (!tierByName(input.tier, tiers)) throw badRequest(`tier: unknown tier ${JSON.stringify(input.tier)}`);
	const config: TenantConfig = { ...input, version: Date.now() };
	await c.env.CONFIG.put(tenantKey(id), JSON.stringify(config));
	const policy = await push(c.env, id, policyForConfig(config, tiers, pushVersion()) as TenantPolicy);
	c.var.runtime.configs.forget(id);
	return c.json({ tenant: id, config, policy });
});

admin.delete("/tenants/:id", async (c) => {
	const id = tenantId(c);
	const tiers = await tierTable(c.env);
	await c.env.CONFIG.delete(tenantKey(id));
	// The bucket goes back to the default tier.
	const fallback = policyForTier(c.var.runtime.settings.defaultTier, pushVersion(), tiers) as TenantPolicy;
	await push(c.env, id, fallback);
	c.var.runtime.configs.forget(id);
	return c.body(null, 204);
});

admin.get("/tenants/:id/state", async (c) => {
	const id = tenantId(c);
	const state = await c.env.TENANT_BUCKET.getByName(bucketKey(id)).state();
	if (!state) throw notSeen(id);
	return c.json({ tenant: id, ...state });
});

admin.post("/tenants/:id/reset", async (c) => {
	const id = tenantId(c);
	const state = await c.env.TENANT_BUCKET.getByName(bucketKey(id)).reset();
	if (!state) throw notSeen(id);
	return c.json({ tenant: id, ...state });
});

admin.get("/tiers", async (c) => {
	const { table, custom } = await readTiers(c.env);
	return c.json(
		Object.fromEntries(
			Object.entries(usable(table)).map(([name, tier]) => [
				name,
				{ ...tier, builtin: Object.hasOwn(BUILTIN_TIERS, name), overridden: Object.hasOwn(custom, name) },
			]),
		),
	);
});

admin.put("/tiers/:name", async (c) => {
	const name = tierName(c);
	const tier = await body(c, TierBody);
	const custom = { ...(await readTiers(c.env)).custom, [name]: tier };
	await c.env.CONFIG.put(TIERS_KEY, JSON.stringify(custom));
	c.var.runtime.configs.forgetTiers();
	return c.json({ name, ...tier, builtin: Object.hasOwn(BUILTIN_TIERS, name) });
});

admin.delete("/tiers/:name", async (c) => {
	const name = tierName(c);
	const { custom } = await readTiers(c.env);
	if (!Object.hasOwn(custom, name)) {
		if (Object.hasOwn(BUILTIN_TIERS, name)) throw badRequest(`name: built-in tier ${name} cannot be deleted`);
		throw new ProblemError({ code: "not-found", title: "Not Found", status: 404, detail: `No tier ${name}.` });
	}
	delete custom[name];
	await c.env.CONFIG.put(TIERS_KEY, JSON.stringify(custom));
	c.var.runtime.configs.forgetTiers();
	return c.body(null, 204);
});

/** Every shard of the pool, summed: the pool as an operator sees it. */
async function poolView(env: Env, shards: number, configure?: BucketPolicy) {
	const states = await Promise.all(
		Array.from({ length: shards }, (_, i) => {
			const shard = env.BURST_POOL.getByName(shardName(i));
			return configure ? shard.configure(configure) : shard.state();
		}),
	);
	const sum = (pick: (state: (typeof states)[number]) => number) => states.reduce((n, state) => n + pick(state), 0);
	return {
		rate: sum((state) => state.policy.rate),
		burst: sum((state) => state.policy.burst),
		shards,
		tokens: sum((state) => state.tokens),
		leasedOut: sum((state) => state.leasedOut),
		admitted: sum((state) => state.admitted),
		denied: sum((state) => state.denied),
		leases: sum((state) => state.leases),
		leaseDenials: sum((state) => state.leaseDenials),
		fallbacks: sum((state) => state.fallbacks),
	};
}

admin.get("/pool", async (c) => c.json(await poolView(c.env, c.var.runtime.settings.poolShards)));

admin.put("/pool", async (c) => {
	const policy = await body(c, PoolBody);
	return c.json(await poolView(c.env, c.var.runtime.settings.poolShards, policy));
});

admin.post("/keys", async (c) => {
	const { tenant, key: imported } = await body(c, KeyBody);
	const { keyId, key: generated } = newKey();
	const key = imported ?? generated;
	const hash = await hashKey(key);
	if (imported !== undefined && (await c.env.CONFIG.get(keyRecordKey(hash))) !== null) {
		throw new ProblemError({
			code: "key-exists",
			title: "Conflict",
			status: 409,
			detail: "This key is already registered.",
		});
	}
	await c.env.CONFIG.put(keyRecordKey(hash), JSON.stringify({ tenant, keyId } satisfies KeyRecord));
	await c.env.CONFIG.put(keyIdKey(keyId), hash);
	runtimeFor(c.env).keys.forget(hash);
	// The key itself is in this response only; KV holds its hash.
	return c.json(imported === undefined ? { keyId, key, tenant } : { keyId, tenant }, 201);
});

admin.delete("/keys/:keyId", async (c) => {
	const keyId = c.req.param("keyId");
	if (!/^[0-9a-f]{12}$/.test(keyId)) throw badRequest("keyId: not a key id");
	const hash = await c.env.CONFIG.get(keyIdKey(keyId));
	if (hash === null)
		throw new ProblemError({ code: "not-found", title: "Not Found", status: 404, detail: `No key ${keyId}.` });
	await c.env.CONFIG.delete(keyRecordKey(hash));
	await c.env.CONFIG.delete(keyIdKey(keyId));
	c.var.runtime.keys.forget(hash);
	return c.body(null, 204);
});

admin.all("*", () => {
	throw new ProblemError({ code: "not-found", title: "Not Found", status: 404, detail: "No such admin route." });
});
