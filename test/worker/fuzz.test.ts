import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canonicalPath } from "../../src/http/control";
import worker from "../../src/worker";
import { fakeOrigin } from "../support/origin";

const TOKEN = "fuzz-admin-token";
const vars = { ...env, ADMIN_TOKEN: TOKEN } as Env;

function send(path: string, init: RequestInit = {}) {
	return worker.fetch(new Request(`https://api.example${path}`, init), vars, createExecutionContext());
}

/** A request that a client could actually send, or null when the runtime itself refuses to build it. */
function buildable(make: () => RequestInit & { path: string }): (RequestInit & { path: string }) | null {
	try {
		const init = make();
		new Request(`https://api.example${init.path}`, init);
		return init;
	} catch {
		return null;
	}
}

/** Every answer to hostile input: a 2xx/4xx, problem+json when refused, never a 5xx or a stack trace. */
async function expectSafe(res: Response): Promise<void> {
	expect(res.status).toBeLessThan(500);
	const body = await res.text();
	expect(body).not.toMatch(/\n\s+at |Error:/);
	if (res.status >= 400) expect(res.headers.get("Content-Type")).toBe("application/problem+json");
}

describe("hostile input", { timeout: 120_000 }, () => {
	const calls = fakeOrigin();

	it("tenant ids in a header: control characters, 10 KB, percent-encoding, dot segments", async () => {
		const ids = fc.oneof(
			fc.string({ unit: "binary-ascii", maxLength: 80 }),
			fc.constantFrom("..", "../admin", "%2e%2e", "a%00b", "a".repeat(10_240), "acme\r\nx: y", ""),
			fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/),
		);
		await fc.assert(
			fc.asyncProperty(ids, async (id) => {
				const init = buildable(() => ({ path: "/v1/items", headers: { "x-tenant-id": id } }));
				if (!init) return;
				await expectSafe(await send(init.path, init));
			}),
			{ numRuns: 2_000 },
		);
	});

	it("tenant ids in the path: unicode and anything else a URL can carry", async () => {
		const pathVars = { ...vars, TENANT_SOURCE: "path:^/t/([^/]*)/" } as Env;
		const ids = fc.oneof(fc.string({ unit: "grapheme", maxLength: 40 }), fc.string({ unit: "binary", maxLength: 40 }));
		await fc.assert(
			fc.asyncProperty(ids, async (id) => {
				const path = `/t/${encodeURIComponent(id)}/items`;
				const res = await worker.fetch(new Request(`https://api.example${path}`), pathVars, createExecutionContext());
				await expectSafe(res);
			}),
			{ numRuns: 1_000 },
		);
	});

	it("huge and repeated headers", async () => {
		const headerSets = fc.record({
			count: fc.integer({ min: 1, max: 200 }),
			size: fc.integer({ min: 0, max: 4_096 }),
			tenants: fc.array(fc.stringMatching(/^[A-Za-z0-9_-]{1,12}$/), { minLength: 1, maxLength: 5 }),
		});
		await fc.assert(
			fc.asyncProperty(headerSets, async ({ count, size, tenants }) => {
				const headers = new Headers();
				for (let i = 0; i < count; i++) headers.append(`x-pad-${i % 20}`, "p".repeat(size));
				// Repeated tenant headers arrive joined ("a, b"), which is not a valid id.
				for (const tenant of tenants) headers.append("x-tenant-id", tenant);
				const res = await send("/v1/items", { headers });
				await expectSafe(res);
				if (tenants.length > 1) expect(res.status).toBe(400);
			}),
			{ numRuns: 150 },
		);
	});

	it("costs: 0, negative, NaN, 1e12, junk", async () => {
		const costs = fc.oneof(
			fc.constantFrom("0", "-1", "NaN", "1e12", "Infinity", "1.5", " ", "10001", "99999999999999999999"),
			fc.integer({ min: -1_000_000, max: 1_000_000 }).map(String),
			fc.string({ maxLength: 20 }),
		);
		await fc.assert(
			fc.asyncProperty(costs, async (cost) => {
				const init = buildable(() => ({
					path: "/v1/items",
					headers: { "x-tenant-id": "fuzz-cost", "x-ratelimit-cost": cost },
				}));
				if (!init) return;
				await expectSafe(await send(init.path, init));
			}),
			{ numRuns: 2_500 },
		);
	});

	it("paths: the control prefix is never proxied, however it is spelled", async () => {
		const spellings = fc.constantFrom(
			"_limiter",
			"_LIMITER",
			"%5flimiter",
			"_limiter.",
			"_limiter%2e",
			"%5F%6C%69%6D%69%74%65%72",
		);
		const junk = fc.constantFrom("", "/", "//", "./", "../x/../", "%2F", "%252F", "\\");
		const paths = fc
			.tuple(junk, spellings, junk, fc.constantFrom("admin", "health", "admin/pool", "x"))
			.map(([a, prefix, b, rest]) => `/${a}${prefix}/${b}${rest}`);
		await fc.assert(
			fc.asyncProperty(paths, async (path) => {
				const init = buildable(() => ({ path, headers: { "x-tenant-id": "fuzz-path" } }));
				if (!init) return;
				calls.length = 0;
				const res = await send(init.path, init);
				await expectSafe(res);
				for (const call of calls) expect(canonicalPath(new URL(call.url).pathname)).not.toMatch(/^\/_limiter(\/|$)/);
			}),
			{ numRuns: 2_500 },
		);
	});

	it("malformed KV configuration: the tenant keeps being served under the default tier", async () => {
		const raw = fc.oneof(
			fc.string({ maxLength: 100 }),
			fc.jsonValue().map((value) => JSON.stringify(value)),
			fc.record({ tier: fc.anything(), rate: fc.anything(), version: fc.anything() }).map((value) => {
				try {
					return JSON.stringify(value) ?? "null";
				} catch {
					return "{}";
				}
			}),
		);
		let n = 0;
		await fc.assert(
			fc.asyncProperty(raw, async (value) => {
				const tenant = `fuzz-kv-${n++}`;
				await env.CONFIG.put(`tenant:${tenant}`, value);
				const res = await send("/v1/items", { headers: { "x-tenant-id": tenant } });
				await expectSafe(res);
				expect(res.status).toBe(200);
			}),
			{ numRuns: 300 },
		);
	});

	it("admin bodies: wrong types, extra fields, deep nesting, large", async () => {
		const deep = fc.letrec((tie) => ({
			node: fc.oneof({ depthSize: "small" }, fc.jsonValue(), fc.array(tie("node"), { maxLength: 3 })),
		})).node;
		const bodies = fc.oneof(
			fc.jsonValue().map((value) => JSON.stringify(value)),
			deep.map((value) => JSON.stringify({ tier: value })),
			fc
				.record({ tier: fc.anything(), rate: fc.anything(), burst: fc.anything(), enabled: fc.anything() })
				.map((value) => {
					try {
						return JSON.stringify(value) ?? "null";
					} catch {
						return "{}";
					}
				}),
			fc.string({ maxLength: 200 }),
			fc.constant(JSON.stringify({ tier: "starter", pad: "x".repeat(20_000) })),
		);
		await fc.assert(
			fc.asyncProperty(bodies, async (body) => {
				const res = await send("/_limiter/admin/tenants/fuzz-admin", {
					method: "PUT",
					headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
					body,
				});
				await expectSafe(res);
			}),
			{ numRuns: 2_500 },
		);
	});
});
