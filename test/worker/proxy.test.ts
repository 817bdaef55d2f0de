import { exports } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { fakeOrigin } from "../support/origin";

const tenant = { "x-tenant-id": "proxy-tenant" };

describe("forwarding to the origin", () => {
	const calls = fakeOrigin(
		(call) =>
			new Response(`echo ${call.method} ${call.body}`, {
				status: call.url.includes("/missing") ? 404 : call.method === "POST" ? 201 : 200,
				headers: { "x-origin": "yes", "set-cookie": "a=b", connection: "x-drop", "x-drop": "1" },
			}),
	);

	it("passes method, path, query, headers and body through unchanged", async () => {
		const res = await exports.default.fetch("https://api.example/v1/items?x=1&y=%20z", {
			method: "POST",
			headers: {
				...tenant,
				"content-type": "text/plain",
				"x-custom": "kept",
				connection: "keep-alive, x-hop",
				"x-hop": "1",
			},
			body: "hello body",
		});
		expect(res.status).toBe(201);
		expect(await res.text()).toBe("echo POST hello body");
		expect(calls).toHaveLength(1);
		const [call] = calls;
		expect(call?.url).toBe("http://127.0.0.1:8788/v1/items?x=1&y=%20z");
		expect(call?.headers["x-custom"]).toBe("kept");
		expect(call?.headers["content-type"]).toBe("text/plain");
		expect(call?.headers["x-hop"]).toBeUndefined();
		expect(call?.headers.connection).toBeUndefined();
	});

	it.each(["GET", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"])("%s reaches the origin as %s", async (method) => {
		const res = await exports.default.fetch("https://api.example/v1/thing", { method, headers: tenant });
		expect(res.status).toBe(200);
		expect(calls[0]?.method).toBe(method);
	});

	it("returns the origin's status and headers, plus the rate-limit headers", async () => {
		const res = await exports.default.fetch("https://api.example/missing", { headers: tenant });
		expect(res.status).toBe(404);
		expect(res.headers.get("x-origin")).toBe("yes");
		expect(res.headers.get("set-cookie")).toBe("a=b");
		expect(res.headers.get("x-drop")).toBeNull();
		expect(res.headers.get("RateLimit")).toMatch(/^"starter";r=\d+;t=\d+$/);
	});
});

describe("response headers the limiter also sends", () => {
	fakeOrigin(() => {
		const headers = new Headers({ RateLimit: '"origin";r=1;t=1', "x-origin": "yes" });
		headers.append("set-cookie", "a=1; Path=/");
		headers.append("set-cookie", "b=2; Path=/");
		return new Response("ok", { headers });
	});

	it("keeps each Set-Cookie apart and replaces the origin's own rate-limit headers", async () => {
		const res = await exports.default.fetch("https://api.example/v1/items", { headers: tenant });
		expect(res.headers.getSetCookie()).toEqual(["a=1; Path=/", "b=2; Path=/"]);
		expect(res.headers.get("x-origin")).toBe("yes");
		expect(res.headers.get("RateLimit")).toMatch(/^"starter";r=\d+;t=\d+$/);
	});
});

describe("origin down", () => {
	it("answers 502 problem+json without internals", async () => {
		vi.spyOn(globalThis, "fetch").mockRejectedValue(new TypeError("connect ECONNREFUSED 127.0.0.1:8788"));
		const res = await exports.default.fetch("https://api.example/v1/items", { headers: tenant });
		vi.restoreAllMocks();
		expect(res.status).toBe(502);
		expect(res.headers.get("Content-Type")).toBe("application/problem+json");
		const text = await res.text();
		expect(text).not.toContain("ECONNREFUSED");
		expect(JSON.parse(text)).toMatchObject({ status: 502, type: "urn:problem:edge-limiter:origin-unreachable" });
		expect(res.headers.get("RateLimit-Policy")).toBe('"starter";q=1200;w=4');
	});
});
