/**
 * WebSockets through a real `wrangler dev` to a real WebSocket origin: the
 * upgrade is limited like any request, then the client gets the origin's 101
 * and frames flow both ways.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDevServer, TOKEN } from "./support/dev-server";
import { startWebSocketOrigin, type WebSocketOrigin } from "./support/websocket-origin";

let origin: WebSocketOrigin;
let server: { url: string; kill: () => Promise<void> };
let stateDir: string;

beforeAll(async () => {
	stateDir = mkdtempSync(join(tmpdir(), "limiter-ws-"));
	origin = await startWebSocketOrigin();
	server = await startDevServer(stateDir, origin.url);
});

afterAll(async () => {
	await server?.kill();
	await origin?.close();
	rmSync(stateDir, { recursive: true, force: true });
});

/** Sends a bare upgrade request and resolves with the answer's status and headers (the socket is closed). */
function upgradeOnly(url: string, headers: Record<string, string>): Promise<IncomingMessage> {
	return new Promise((resolve, reject) => {
		const req = httpRequest(url, {
			headers: {
				connection: "Upgrade",
				upgrade: "websocket",
				"sec-websocket-version": "13",
				"sec-websocket-key": randomBytes(16).toString("base64"),
				...headers,
			},
		});
		req.on("upgrade", (res, socket) => {
			socket.destroy();
			resolve(res);
		});
		req.on("response", (res) => {
			res.resume();
			resolve(res);
		});
		req.on("error", reject);
		req.end();
	});
}

/** A WebSocket with request headers (Node's WebSocket, from undici, takes them; the DOM type does not say so). */
function openSocket(url: string, headers: Record<string, string>): WebSocket {
	return new WebSocket(url, { headers } as unknown as string[]);
}

describe("WebSockets through wrangler dev", () => {
	it("the upgrade costs the tenant one token and reaches the origin as an upgrade", async () => {
		const admin = { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" };
		// 1 token/s and a fresh bucket of 100: the first request leaves 99, whatever the timing.
		const put = await fetch(`${server.url}/_limiter/admin/tenants/ws-t`, {
			method: "PUT",
			headers: admin,
			body: JSON.stringify({ tier: "starter", rate: 1, burst: 100 }),
		});
		expect(put.status).toBe(200);
		const res = await upgradeOnly(`${server.url}/v1/stream`, { "x-tenant-id": "ws-t", "x-forwarded-for": "6.6.6.6" });
		expect(res.statusCode).toBe(101);
		expect(res.headers.ratelimit).toMatch(/^limit=100, remaining=99, reset=\d+$/);
		const seen = origin.upgrades.at(-1);
		expect(seen?.upgrade?.toLowerCase()).toBe("websocket");
		expect(seen?.["x-tenant-id"]).toBe("ws-t");
		// The address the client connected from, not the one it claimed.
		expect(seen?.["x-forwarded-for"]).toBe("127.0.0.1");
	});

	it("the client's socket opens and a message comes back from the origin", async () => {
		const socket = openSocket(`${server.url.replace("http", "ws")}/v1/chat`, { "x-tenant-id": "ws-echo" });
		const messages: string[] = [];
		await new Promise<void>((resolve, reject) => {
			socket.addEventListener("open", () => socket.send("hello origin"));
			socket.addEventListener("message", (event) => {
				messages.push(String(event.data));
				resolve();
			});
			socket.addEventListener("error", () => reject(new Error("WebSocket error")));
			socket.addEventListener("close", (event) => reject(new Error(`closed ${event.code} before the echo`)));
		});
		expect(messages).toEqual(["echo hello origin"]);
		const closed = new Promise<number>((resolve) => socket.addEventListener("close", (event) => resolve(event.code)));
		socket.close(1000);
		expect(await closed).toBe(1000);
	});
});
