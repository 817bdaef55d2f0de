import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../src/worker";
import { fakeOrigin } from "../support/origin";

/** The Worker with some settings changed, as `.dev.vars` or `[vars]` would change them. */
function withVars(vars: Partial<Env>) {
	const custom = { ...env, ...vars } as Env;
	return (path: string, init?: RequestInit) =>
		worker.fetch(new Request(`https://api.example${path}`, init), custom, createExecutionContext());
}

describe("settings", () => {
	const calls = fakeOrigin();

	it("TENANT_SOURCE=path: takes the tenant from the URL and ignores x-tenant-id", async () => {
		const send = withVars({ TENANT_SOURCE: "path:^/bot(\\d+):[A-Za-z0-9_-]+/" });
		const res = await send("/bot6148450508:AAFl4_Sr-x/getMe", { headers: { "x-tenant-id": "someone-else" } });
		expect(res.status).toBe(200);
		expect(calls[0]?.url).toBe("http://127.0.0.1:8788/bot6148450508:AAFl4_Sr-x/getMe");
		// The origin is told the tenant from the path, not the client's claim.
		expect(calls[0]?.headers["x-tenant-id"]).toBe("6148450508");
		expect(res.headers.get("RateLimit-Policy")).toBe('"starter";q=1200;w=4');
		const other = await send("/status", { headers: { "x-tenant-id": "someone-else" } });
		expect(other.headers.get("RateLimit-Policy")).toBe('"anonymous";q=20;w=2');
		expect(calls[1]?.headers["x-tenant-id"]).toBeUndefined();
	});

	it("ANONYMOUS=reject answers 401 to requests without a tenant", async () => {
		const send = withVars({ ANONYMOUS: "reject" });
		const res = await send("/v1/items");
		expect(res.status).toBe(401);
		expect(await res.json()).toMatchObject({ type: "urn:problem:edge-limiter:tenant-required" });
		expect(calls).toHaveLength(0);
		expect((await send("/v1/items", { headers: { "x-tenant-id": "acme-reject" } })).status).toBe(200);
	});

	it.each([
		{ ORIGIN_URL: "not a url" },
		{ TENANT_SOURCE: "cookie:x" },
		{ DEFAULT_TIER: "gold" },
		{ CONFIG_TTL_S: "-1" },
	])("bad settings %j answer 500 misconfigured, health included, without details", async (vars) => {
		const send = withVars(vars);
		for (const path of ["/v1/items", "/_limiter/health"]) {
			const res = await send(path, { headers: { "x-tenant-id": "acme" } });
			expect(res.status).toBe(500);
			const body = await res.text();
			expect(JSON.parse(body)).toMatchObject({ type: "urn:problem:edge-limiter:misconfigured" });
			expect(body).not.toContain(Object.values(vars)[0]);
		}
		expect(calls).toHaveLength(0);
	});
});
