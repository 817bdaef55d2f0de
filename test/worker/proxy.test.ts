import { env, exports } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { fakeOrigin, nextMessage, webSocketEcho } from "../support/origin";

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

describe("forwarding headers", () => {
	const calls = fakeOrigin();
	const spoofed = {
		"x-forwarded-for": "6.6.6.6",
		"x-real-ip": "6.6.6.6",
		forwarded: "for=6.6.6.6;host=evil.example;proto=http",
		"x-forwarded-host": "evil.example",
		"x-forwarded-proto": "http",
	};

	it("the origin gets the client IP, host and scheme the limiter saw, never the client's claims", async () => {
		await exports.default.fetch("https://api.example/v1/items", {
			headers: { ...tenant, ...spoofed, "cf-connecting-ip": "203.0.113.7" },
		});
		expect(calls[0]?.headers).toMatchObject({
			"x-forwarded-for": "203.0.113.7",
			"x-real-ip": "203.0.113.7",
			"x-forwarded-host": "api.example",
			"x-forwarded-proto": "https",
		});
		expect(calls[0]?.headers.forwarded).toBeUndefined();
	});

	it("without a client IP, no client-sent address reaches the origin", async () => {
		await exports.default.fetch("http://api.example:8080/v1/items", { headers: { ...tenant, ...spoofed } });
		const headers = calls[0]?.headers ?? {};
		expect(JSON.stringify(headers)).not.toContain("6.6.6.6");
		expect(JSON.stringify(headers)).not.toContain("evil.example");
		expect(headers["x-forwarded-host"]).toBe("api.example:8080");
		expect(headers["x-forwarded-proto"]).toBe("http");
	});

	it("a WebSocket upgrade carries the same forwarding headers", async () => {
		await exports.default.fetch("https://api.example/v1/stream", {
			headers: { ...tenant, ...spoofed, "cf-connecting-ip": "2001:db8::1", upgrade: "websocket" },
		});
		expect(calls[0]?.headers).toMatchObject({ upgrade: "websocket", "x-forwarded-for": "2001:db8::1" });
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

describe("WebSocket upgrades", () => {
	const calls = fakeOrigin((call) =>
		call.headers.upgrade === "websocket" ? webSocketEcho({ "sec-websocket-protocol": "chat" }) : new Response("plain"),
	);
	/** A tenant configured by hand in KV, as the README describes. */
	const configure = (id: string, rate: number, burst: number) =>
		env.CONFIG.put(`tenant:${id}`, JSON.stringify({ tier: "starter", rate, burst }));
	const upgrade = (id: string, extra: Record<string, string> = {}) =>
		exports.default.fetch("https://api.example/v1/stream", {
			headers: { "x-tenant-id": id, upgrade: "websocket", connection: "Upgrade", ...extra },
		});

	it("reach the origin as an upgrade; the client gets its 101 and frames flow both ways", async () => {
		const res = await upgrade("ws-tenant", { "sec-websocket-protocol": "chat" });
		expect(calls).toHaveLength(1);
		expect(calls[0]?.method).toBe("GET");
		expect(calls[0]?.headers.upgrade).toBe("websocket");
		expect(calls[0]?.headers["sec-websocket-protocol"]).toBe("chat");
		expect(res.status).toBe(101);
		expect(res.headers.get("sec-websocket-protocol")).toBe("chat");
		const socket = res.webSocket as WebSocket;
		expect(socket).not.toBeNull();
		socket.accept();
		const echoed = nextMessage(socket);
		socket.send("hello");
		expect(await echoed).toBe("echo hello");
		socket.close();
	});

	it("are limited like any request: one token, or the cost header's, with the rate-limit headers", async () => {
		await configure("ws-limited", 1, 10);
		const first = await upgrade("ws-limited");
		expect(first.status).toBe(101);
		first.webSocket?.accept();
		// A fresh bucket of 10, one token spent.
		expect(first.headers.get("RateLimit")).toMatch(/^"starter";r=9;t=\d+$/);
		const second = await upgrade("ws-limited", { "x-ratelimit-cost": "9" });
		expect(second.status).toBe(101);
		second.webSocket?.accept();
		expect(second.headers.get("RateLimit")).toMatch(/^"starter";r=0;t=\d+$/);
		expect(calls).toHaveLength(2);
	});

	it("a denied upgrade gets the 429 problem and never reaches the origin", async () => {
		await configure("ws-denied", 1, 1);
		const first = await upgrade("ws-denied");
		first.webSocket?.accept();
		const denied = await upgrade("ws-denied");
		expect(denied.status).toBe(429);
		expect(denied.webSocket).toBeNull();
		expect(denied.headers.get("Content-Type")).toBe("application/problem+json");
		expect(await denied.json()).toMatchObject({
			type: "https://iana.org/assignments/http-problem-types#quota-exceeded",
			tenant: "ws-denied",
		});
		expect(calls).toHaveLength(1);
	});

	it("an upgrade the origin declines is answered as the origin answered it", async () => {
		const res = await exports.default.fetch("https://api.example/v1/stream", {
			headers: { ...tenant, upgrade: "h2c", connection: "Upgrade" },
		});
		expect(calls[0]?.headers.upgrade).toBeUndefined();
		expect(res.status).toBe(200);
		expect(await res.text()).toBe("plain");
	});
});
