/**
 * Configuration changes as an operator makes them, through a real `wrangler
 * dev`: a tier written into local KV with `wrangler kv key put` (no version)
 * while a tenant keeps sending, and a reset after a long denial. The measured
 * delays are printed; the bounds asserted are far looser than the targets
 * (CONFIG_TTL_S + 1 s, 1 s), which the fake-clock tests check exactly.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runWrangler, startDevServer, TOKEN } from "./support/dev-server";

const TTL_S = 2;

let origin: Server;
let server: { url: string; kill: () => Promise<void> };
let stateDir: string;

beforeAll(async () => {
	stateDir = mkdtempSync(join(tmpdir(), "limiter-config-"));
	origin = createServer((_req, res) => res.end("ok"));
	await new Promise<void>((resolve) => origin.listen(0, "127.0.0.1", resolve));
	const originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;
	server = await startDevServer(stateDir, originUrl, { CONFIG_TTL_S: String(TTL_S) });
});

afterAll(async () => {
	await server?.kill();
	await new Promise((resolve) => origin?.close(resolve));
	rmSync(stateDir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function call(tenant: string, cost = 1): Promise<Response> {
	const res = await fetch(`${server.url}/v1/items`, {
		headers: { "x-tenant-id": tenant, "x-ratelimit-cost": String(cost) },
	});
	await res.body?.cancel();
	return res;
}

describe("configuration changes through wrangler dev", () => {
	it("a tier put into local KV without a version reaches a tenant that keeps sending, and stays", async () => {
		for (let i = 0; i < 5; i++) {
			expect((await call("kv-acme")).headers.get("X-RateLimit-Limit")).toBe("1200");
			await sleep(200);
		}
		// The README's way: no version, by hand, while the tenant sends (every 200 ms, below).
		let sending = true;
		const limits: string[] = [];
		const sender = (async () => {
			while (sending) {
				limits.push((await call("kv-acme")).headers.get("X-RateLimit-Limit") ?? "");
				await sleep(200);
			}
		})();
		const put = [
			...["kv", "key", "put", "--binding", "CONFIG", "--local", "--persist-to", stateDir],
			...["tenant:kv-acme", '{"tier":"growth"}'],
		];
		expect(await runWrangler(put)).toBe(0);
		const written = performance.now();
		const before = limits.length;
		let arrived: number | undefined;
		while (performance.now() - written < 20_000) {
			if (limits.slice(before).includes("1440")) {
				arrived = performance.now() - written;
				break;
			}
			await sleep(50);
		}
		await sleep(2_000);
		sending = false;
		await sender;
		console.log(
			`KV change without version in force ${arrived?.toFixed(0)} ms after \`wrangler kv key put\` returned (CONFIG_TTL_S = ${TTL_S} s)`,
		);
		expect(arrived).toBeDefined();
		const first = limits.indexOf("1440");
		expect(limits.slice(first).every((limit) => limit === "1440")).toBe(true);
	});

	it("a reset is heard within about a second by the isolate that denied, though the denial said to retry in 9 s", async () => {
		const admin = (method: string, path: string, body?: unknown) =>
			fetch(`${server.url}/_limiter/admin${path}`, {
				method,
				headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
				...(body === undefined ? {} : { body: JSON.stringify(body) }),
			});
		expect((await admin("PUT", "/tenants/reset-me", { tier: "starter", rate: 1, burst: 10 })).status).toBe(200);
		expect((await call("reset-me", 10)).status).toBe(200);
		await sleep(1_500);
		const denied = await call("reset-me", 10);
		expect(denied.status).toBe(429);
		const retryAfterS = Number(denied.headers.get("Retry-After"));
		expect(retryAfterS).toBeGreaterThanOrEqual(8);
		expect((await admin("POST", "/tenants/reset-me/reset")).status).toBe(200);
		const reset = performance.now();
		let status = 429;
		while (status === 429 && performance.now() - reset < retryAfterS * 1_000) {
			status = (await call("reset-me", 10)).status;
			if (status === 429) await sleep(100);
		}
		const heard = performance.now() - reset;
		console.log(`reset heard ${heard.toFixed(0)} ms after it was made (the denial said Retry-After: ${retryAfterS})`);
		expect(status).toBe(200);
		// Well before the retry time the denial announced: the isolate re-asks its bucket within a second.
		expect(heard).toBeLessThan((retryAfterS * 1_000) / 2);
	});
});
