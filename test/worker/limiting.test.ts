import { env, exports } from "cloudflare:workers";
import { parseItem, parseList } from "structured-headers";
import { describe, expect, it, vi } from "vitest";
import { useFrozenClock } from "../support/clock";
import { burst, fakeOrigin } from "../support/origin";

const T0 = 1_800_000_000_000;

function get(tenant: string | null, init: RequestInit & { path?: string } = {}) {
	const headers = new Headers(init.headers);
	if (tenant) headers.set("x-tenant-id", tenant);
	return exports.default.fetch(new Request(`https://api.example${init.path ?? "/v1/items"}`, { ...init, headers }));
}

useFrozenClock(T0);

describe("limiting through the Worker", () => {
	fakeOrigin(() => new Response('{"ok":true}', { headers: { "content-type": "application/json" } }));

	it("admits with RateLimit headers, then answers 429 with a problem body", async () => {
		const first = await get("acme");
		expect(first.status).toBe(200);
		expect(await first.json()).toEqual({ ok: true });
		expect(first.headers.get("RateLimit-Policy")).toBe('"starter";q=1200;w=4');
		const [name, params] = parseItem(first.headers.get("RateLimit") ?? "");
		expect(name).toBe("starter");
		expect(params.get("r")).toBeGreaterThan(1000);
		expect(params.get("t")).toBe(1);
		expect(first.headers.get("X-RateLimit-Limit")).toBe("1200");

		const statuses = await burst(1250, () => get("acme"));
		expect(statuses.filter((s) => s === 200)).toHaveLength(1199);
		const denied = await get("acme");
		expect(denied.status).toBe(429);
		expect(denied.headers.get("Content-Type")).toBe("application/problem+json");
		const retryAfter = Number(denied.headers.get("Retry-After"));
		expect(retryAfter).toBeGreaterThanOrEqual(1);
		const [, rate] = parseItem(denied.headers.get("RateLimit") ?? "");
		expect(rate.get("r")).toBe(0);
		expect(retryAfter).toBeGreaterThanOrEqual(Number(rate.get("t")));
		expect(parseList(denied.headers.get("RateLimit-Policy") ?? "")).toHaveLength(1);
		expect(await denied.json()).toEqual({
			type: "https://iana.org/assignments/http-problem-types#quota-exceeded",
			title: "Quota Exceeded",
			status: 429,
			detail: expect.stringContaining("starter"),
			tenant: "acme",
			reason: "tenant_rate",
			retryAfter,
			"violated-policies": ["starter"],
		});
	});

	it("a burst of 1,300 admits no more than 1,200 + 300/s × elapsed and at least 98 % of it", async () => {
		const start = Date.now();
		let ok = 0;
		for (const status of await burst(1300, () => get("burst-1"))) if (status === 200) ok += 1;
		vi.setSystemTime(T0 + 1_000);
		for (const status of await burst(400, () => get("burst-1"))) if (status === 200) ok += 1;
		const ideal = 1200 + (300 * (Date.now() - start)) / 1000;
		expect(ok).toBeLessThanOrEqual(ideal);
		expect(ok).toBeGreaterThanOrEqual(0.98 * ideal);
	});

	it("tenants are isolated", async () => {
		await burst(1300, () => get("noisy"));
		expect((await get("noisy")).status).toBe(429);
		expect((await get("quiet")).status).toBe(200);
	});

	it("tiers come from KV", async () => {
		await env.CONFIG.put("tenant:big", JSON.stringify({ tier: "scale" }));
		const res = await get("big");
		expect(res.headers.get("RateLimit-Policy")).toBe('"scale";q=2400;w=4');
		const statuses = await burst(2500, () => get("big"));
		expect(statuses.filter((s) => s === 200)).toHaveLength(2399);
	});

	it("malformed KV config is ignored: the default tier stands", async () => {
		await env.CONFIG.put("tenant:broken", "{not json");
		const res = await get("broken");
		expect(res.status).toBe(200);
		expect(res.headers.get("RateLimit-Policy")).toBe('"starter";q=1200;w=4');
	});

	it("anonymous clients from one IP get 20 at once, then 10/s", async () => {
		const anon = () => get(null, { headers: { "cf-connecting-ip": "198.51.100.7" } });
		const first = await burst(25, anon);
		expect(first.filter((s) => s === 200)).toHaveLength(20);
		vi.setSystemTime(T0 + 1_000);
		const second = await burst(15, anon);
		expect(second.filter((s) => s === 200)).toHaveLength(10);
		const other = await get(null, { headers: { "cf-connecting-ip": "198.51.100.8" } });
		expect(other.status).toBe(200);
		expect(other.headers.get("RateLimit-Policy")).toBe('"anonymous";q=20;w=2');
	});

	it.each(["../admin", "a".repeat(65), "acme tenant", "ac%2Fme", "t;x"])("tenant id %j → 400", async (tenant) => {
		const res = await get(tenant);
		expect(res.status).toBe(400);
		expect(res.headers.get("Content-Type")).toBe("application/problem+json");
		expect(await res.json()).toMatchObject({ status: 400, type: "urn:problem:edge-limiter:invalid-tenant" });
	});

	it.each(["0", "-3", "abc", "1e12", "10001"])("cost %j → 400", async (cost) => {
		const res = await get("acme-cost", { headers: { "x-ratelimit-cost": cost } });
		expect(res.status).toBe(400);
		expect(await res.json()).toMatchObject({ type: "urn:problem:edge-limiter:invalid-cost" });
	});

	it("a declared cost spends that many tokens", async () => {
		const res = await get("costly", { headers: { "x-ratelimit-cost": "200" } });
		expect(res.status).toBe(200);
		expect(Number(res.headers.get("X-RateLimit-Remaining"))).toBeLessThanOrEqual(1000);
		const tooBig = await get("costly", { headers: { "x-ratelimit-cost": "1201" } });
		expect(tooBig.status).toBe(400);
		expect(await tooBig.json()).toMatchObject({ type: "urn:problem:edge-limiter:cost-exceeds-burst" });
	});
});

describe("control routes", () => {
	const calls = fakeOrigin();

	it("GET /_limiter/health reports the version", async () => {
		const res = await exports.default.fetch("https://api.example/_limiter/health");
		expect(res.status).toBe(200);
		expect(await res.json()).toEqual({ status: "ok", version: "0.1.0" });
	});

	it.each(["/_limiter/nope", "/_LIMITER/health/", "//_limiter/admin", "/_limiter%2Fadmin", "/x/%2e%2e/_limiter/admin"])(
		"%s is never proxied",
		async (path) => {
			const res = await exports.default.fetch(`https://api.example${path}`, { headers: { "x-tenant-id": "acme" } });
			expect(res.status).toBe(404);
			expect(res.headers.get("Content-Type")).toBe("application/problem+json");
			expect(calls).toHaveLength(0);
		},
	);
});
