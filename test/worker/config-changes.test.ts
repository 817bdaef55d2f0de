/**
 * Configuration changes reaching isolates that did not make them. Each `env`
 * object gets its own runtime (config cache and limiter), so `isolate()` stands
 * for another isolate of the same Worker, with the same Durable Objects and KV.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { ROOMY_LEASE_TTL_MS } from "../../src/limiter/lease";
import worker from "../../src/worker";
import { useFrozenClock } from "../support/clock";
import { fakeOrigin } from "../support/origin";

const T0 = 2_300_000_000_000;
const TOKEN = "config-changes-token";

/** A new isolate of the Worker: its own caches and leases. */
function isolate(): Env {
	return { ...env, ADMIN_TOKEN: TOKEN } as Env;
}

/** Sends a request and lets its background work (KV re-reads, leases fetched ahead) finish. */
async function send(vars: Env, path: string, init: RequestInit = {}): Promise<Response> {
	const ctx = createExecutionContext();
	const response = await worker.fetch(new Request(`https://api.example${path}`, init), vars, ctx);
	await response.body?.cancel();
	await waitOnExecutionContext(ctx);
	return response;
}

function admin(vars: Env, method: string, path: string, body?: unknown): Promise<Response> {
	return send(vars, `/_limiter/admin${path}`, {
		method,
		headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
		...(body === undefined ? {} : { body: JSON.stringify(body) }),
	});
}

const call = (vars: Env, tenant: string, cost = 1) =>
	send(vars, "/v1/items", { headers: { "x-tenant-id": tenant, "x-ratelimit-cost": String(cost) } });

useFrozenClock(T0);
fakeOrigin();

describe("changes reach isolates that did not make them", () => {
	it("re-enabling a suspended tenant is in force within 1 s in an isolate that cached the suspension", async () => {
		const operator = isolate();
		const edge = isolate();
		await admin(operator, "PUT", "/tenants/re-on", { tier: "starter", enabled: false });
		for (let i = 0; i < 3; i++) expect((await call(edge, "re-on")).status).toBe(403);
		await admin(operator, "PUT", "/tenants/re-on", { tier: "starter", enabled: true });
		vi.setSystemTime(T0 + 1_000);
		expect((await call(edge, "re-on")).status).toBe(200);
	});

	it("an overridden anonymous tier is enforced", async () => {
		const operator = isolate();
		expect((await admin(operator, "PUT", "/tiers/anonymous", { rate: 1, burst: 3, weight: 0.5 })).status).toBe(200);
		const edge = isolate();
		const anonymous = () => send(edge, "/v1/items", { headers: { "cf-connecting-ip": "198.51.100.7" } });
		const statuses = [];
		for (let i = 0; i < 6; i++) statuses.push((await anonymous()).status);
		expect(statuses).toEqual([200, 200, 200, 429, 429, 429]);
		await admin(operator, "DELETE", "/tiers/anonymous");
	});

	it("a tier-table change reaches a busy tenant within CONFIG_TTL_S + 1 s and is not rolled back", async () => {
		const operator = isolate();
		const edges = [isolate(), isolate()];
		for (let s = 0; s < 10; s++) await call(edges[s % 2] as Env, "busy-tier");
		vi.setSystemTime(T0 + 5_000);
		await admin(operator, "PUT", "/tiers/starter", { rate: 5, burst: 10, weight: 1 });
		// In force from each isolate's next read of KV, and never rolled back by the other's older view.
		const policies = new Set<string>();
		for (let s = 1; s <= 40 * 2; s++) {
			vi.setSystemTime(T0 + 5_000 + s * 500);
			const response = await call(edges[s % 2] as Env, "busy-tier");
			if (s * 500 > 31_000) policies.add(response.headers.get("RateLimit-Policy") ?? "");
		}
		expect([...policies]).toEqual(['"starter";q=10;w=2']);
		await admin(operator, "DELETE", "/tiers/starter");
	});

	it("an absurd version written by hand pins nothing: admin changes after it are in force within a (long) lease's lifetime", async () => {
		const edge = isolate();
		await env.CONFIG.put("tenant:pinned", JSON.stringify({ tier: "growth", version: 2 ** 53 - 1 }));
		expect((await call(edge, "pinned")).headers.get("RateLimit-Policy")).toBe('"growth";q=1440;w=4');
		for (const [step, tier, policy] of [
			[1, "scale", '"scale";q=2400;w=4'],
			[2, "starter", '"starter";q=1200;w=4'],
		] as const) {
			expect((await admin(isolate(), "PUT", "/tenants/pinned", { tier })).status).toBe(200);
			vi.setSystemTime(T0 + step * ROOMY_LEASE_TTL_MS);
			expect((await call(edge, "pinned")).headers.get("RateLimit-Policy")).toBe(policy);
		}
	});

	it("a tier written into KV by hand without a version is in force within CONFIG_TTL_S + 1 s", async () => {
		const edge = isolate();
		await env.CONFIG.put("tenant:by-hand", JSON.stringify({ tier: "starter" }));
		await call(edge, "by-hand");
		await env.CONFIG.put("tenant:by-hand", JSON.stringify({ tier: "growth" }));
		let policy = "";
		for (let s = 1; s <= 31; s++) {
			vi.setSystemTime(T0 + s * 1_000);
			policy = (await call(edge, "by-hand")).headers.get("RateLimit-Policy") ?? "";
		}
		expect(policy).toBe('"growth";q=1440;w=4');
	});
});

describe("what an isolate remembers of a denial", () => {
	it("a reset is heard within 1 s, though the denial said to retry in 9 s", async () => {
		const vars = isolate();
		await admin(vars, "PUT", "/tenants/reset-me", { tier: "starter", rate: 1, burst: 10 });
		expect((await call(vars, "reset-me", 10)).status).toBe(200);
		vi.setSystemTime(T0 + 1_500);
		const denied = await call(vars, "reset-me", 10);
		expect(denied.status).toBe(429);
		expect(Number(denied.headers.get("Retry-After"))).toBeGreaterThanOrEqual(9);
		expect((await admin(vars, "POST", "/tenants/reset-me/reset")).status).toBe(200);
		vi.setSystemTime(T0 + 2_500);
		expect((await call(vars, "reset-me", 10)).status).toBe(200);
	});

	it("one expensive denied request does not make cheaper ones 429 while the bucket can serve them", async () => {
		const vars = isolate();
		await admin(vars, "PUT", "/tenants/pricey", { tier: "starter", rate: 1, burst: 100 });
		expect((await call(vars, "pricey", 50)).status).toBe(200);
		expect((await call(vars, "pricey", 100)).status).toBe(429);
		for (let i = 0; i < 10; i++) expect((await call(vars, "pricey", 1)).status).toBe(200);
	});
});
