/**
 * The admin API under `/_limiter/admin/`: tenants' configuration (KV, the
 * durable source) pushed to their TenantBuckets so that a change is in force
 * from the next lease, live bucket state, resets, and the surge pool.
 */
import { type Context, Hono } from "hono";
import type * as v from "valibot";
import { hashKey, type KeyRecord, keyIdKey, keyRecordKey, newKey } from "../config/api-keys";
import { tenantKey } from "../config/tenant-config";
import { bucketKey, TENANT_ID } from "../http/identify";
import { ProblemError } from "../http/problem";
import { BURST_POOL_NAME } from "../objects/burst-pool";
import { runtimeFor } from "../runtime";
import { parseTenantConfig, policyForConfig, policyForTier, type TenantConfig, type TenantPolicy } from "../tiers";
import { type AdminEnv, adminAuth } from "./auth";
import { check, KeyBody, MAX_BODY_BYTES, PoolBody, TenantBody } from "./schema";

type AdminContext = Context<{ Bindings: AdminEnv }>;

function badRequest(detail: string): ProblemError {
	return new ProblemError({ code: "invalid-body", title: "Invalid request body", status: 400, detail });
}

function tenantId(c: AdminContext): string {
	const id = c.req.param("id") ?? "";
	if (!TENANT_ID.test(id)) {
		throw new ProblemError({
			code: "invalid-tenant",
			title: "Invalid tenant id",
			status: 400,
			detail: "tenant id must match ^[A-Za-z0-9_-]{1,64}$",
		});
	}
	return id;
}

async function body<T extends v.GenericSchema>(c: AdminContext, schema: T): Promise<v.InferOutput<T>> {
	const text = await c.req.text();
	if (text.length > MAX_BODY_BYTES) {
		throw new ProblemError({
			code: "body-too-large",
			title: "Payload Too Large",
			status: 413,
			detail: `Admin bodies are at most ${MAX_BODY_BYTES} bytes.`,
		});
	}
	let value: unknown;
	try {
		value = JSON.parse(text);
	} catch {
		throw badRequest("body: not JSON");
	}
	const result = check(schema, value);
	if (!result.ok) throw badRequest(result.message);
	return result.value;
}

async function storedConfig(env: AdminEnv, id: string): Promise<TenantConfig | null> {
	const raw = await env.CONFIG.get(tenantKey(id));
	if (raw === null) return null;
	const parsed = parseTenantConfig(raw);
	return parsed instanceof Error ? null : parsed;
}

/** Pushes `policy` to the tenant's bucket; returns the policy in force there. */
function push(env: AdminEnv, id: string, policy: TenantPolicy): Promise<TenantPolicy> {
	return env.TENANT_BUCKET.getByName(bucketKey(id)).configure(bucketKey(id), policy);
}

/** A version newer than anything stored, so no cached copy can roll the change back. */
function nextVersion(previous: TenantConfig | null): number {
	return Math.max(Date.now(), (previous?.version ?? 0) + 1);
}

/** The admin sub-app, mounted at `/_limiter/admin`. */
export const admin = new Hono<{ Bindings: AdminEnv }>();

admin.use(adminAuth());

admin.get("/tenants/:id", async (c) => {
	const id = tenantId(c);
	const config = await storedConfig(c.env, id);
	if (!config)
		throw new ProblemError({
			code: "not-found",
			title: "Not Found",
			status: 404,
			detail: `Tenant ${id} has no configuration.`,
		});
	return c.json({ tenant: id, config, policy: policyForConfig(config) });
});

admin.put("/tenants/:id", async (c) => {
	const id = tenantId(c);
	const input = await body(c, TenantBody);
	const config: TenantConfig = { ...input, version: nextVersion(await storedConfig(c.env, id)) };
	await c.env.CONFIG.put(tenantKey(id), JSON.stringify(config));
	const policy = await push(c.env, id, policyForConfig(config) as TenantPolicy);
	runtimeFor(c.env).configs.forget(id);
	return c.json({ tenant: id, config, policy });
});

admin.delete("/tenants/:id", async (c) => {
	const id = tenantId(c);
	const previous = await storedConfig(c.env, id);
	await c.env.CONFIG.delete(tenantKey(id));
	// The bucket goes back to the default tier, at a version newer than the deleted entry.
	const fallback = policyForTier(runtimeFor(c.env).settings.defaultTier, nextVersion(previous)) as TenantPolicy;
	await push(c.env, id, fallback);
	runtimeFor(c.env).configs.forget(id);
	return c.body(null, 204);
});

admin.get("/tenants/:id/state", async (c) => {
	const id = tenantId(c);
	const state = await c.env.TENANT_BUCKET.getByName(bucketKey(id)).state();
	if (!state)
		throw new ProblemError({
			code: "not-found",
			title: "Not Found",
			status: 404,
			detail: `Tenant ${id} has not been seen yet.`,
		});
	return c.json({ tenant: id, ...state });
});

admin.post("/tenants/:id/reset", async (c) => {
	const id = tenantId(c);
	const state = await c.env.TENANT_BUCKET.getByName(bucketKey(id)).reset();
	if (!state)
		throw new ProblemError({
			code: "not-found",
			title: "Not Found",
			status: 404,
			detail: `Tenant ${id} has not been seen yet.`,
		});
	return c.json({ tenant: id, ...state });
});

admin.get("/pool", async (c) => {
	const state = await c.env.BURST_POOL.getByName(BURST_POOL_NAME).state();
	return c.json({
		rate: state.policy.rate,
		burst: state.policy.burst,
		tokens: Math.floor(state.bucket.tokens),
		activeTenants: state.activeTenants,
		...state.counters,
	});
});

admin.put("/pool", async (c) => {
	const policy = await body(c, PoolBody);
	const state = await c.env.BURST_POOL.getByName(BURST_POOL_NAME).configure(policy);
	return c.json({ rate: state.policy.rate, burst: state.policy.burst, tokens: Math.floor(state.bucket.tokens) });
});

admin.post("/keys", async (c) => {
	const { tenant } = await body(c, KeyBody);
	const { keyId, key } = newKey();
	const hash = await hashKey(key);
	await c.env.CONFIG.put(keyRecordKey(hash), JSON.stringify({ tenant, keyId } satisfies KeyRecord));
	await c.env.CONFIG.put(keyIdKey(keyId), hash);
	// The key itself is in this response only; KV holds its hash.
	return c.json({ keyId, key, tenant }, 201);
});

admin.delete("/keys/:keyId", async (c) => {
	const keyId = c.req.param("keyId");
	if (!/^[0-9a-f]{12}$/.test(keyId)) throw badRequest("keyId: not a key id");
	const hash = await c.env.CONFIG.get(keyIdKey(keyId));
	if (hash === null)
		throw new ProblemError({ code: "not-found", title: "Not Found", status: 404, detail: `No key ${keyId}.` });
	await c.env.CONFIG.delete(keyRecordKey(hash));
	await c.env.CONFIG.delete(keyIdKey(keyId));
	runtimeFor(c.env).keys.forget(hash);
	return c.body(null, 204);
});

admin.all("*", () => {
	throw new ProblemError({ code: "not-found", title: "Not Found", status: 404, detail: "No such admin route." });
});
