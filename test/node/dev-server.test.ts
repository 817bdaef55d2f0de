/**
 * The limiter as a developer runs it: `wrangler dev` in a child process, with
 * local state persisted on disk, in front of a real HTTP origin. Covers what a
 * test inside workerd cannot: a restart of the dev server and a request body
 * streamed over real sockets.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, request as httpRequest, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const WRANGLER = fileURLToPath(new URL("../../node_modules/wrangler/bin/wrangler.js", import.meta.url));
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const TOKEN = "dev-server-test-token";
const MIB = 1024 * 1024;
const BODY_BYTES = 100 * MIB;
const CHUNK = Buffer.alloc(64 * 1024, 0x61);

async function freePort(): Promise<number> {
	const server = createServer();
	await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
	const { port } = server.address() as AddressInfo;
	await new Promise((resolve) => server.close(resolve));
	return port;
}

/** `wrangler dev` on a free port, its state under `stateDir`; `kill` ends it and workerd at once, no shutdown. */
async function startDevServer(
	stateDir: string,
	originUrl: string,
): Promise<{ url: string; kill: () => Promise<void> }> {
	const port = await freePort();
	const inspector = await freePort();
	const child: ChildProcess = spawn(
		process.execPath,
		[
			WRANGLER,
			"dev",
			"--ip",
			"127.0.0.1",
			"--port",
			String(port),
			"--inspector-port",
			String(inspector),
			"--persist-to",
			stateDir,
			// Not a developer's .dev.vars: wrangler.toml's [vars] and the --var flags below.
			"--env-file",
			"scripts/empty.env",
			"--var",
			`ORIGIN_URL:${originUrl}`,
			"--var",
			`ADMIN_TOKEN:${TOKEN}`,
			"--show-interactive-dev-session=false",
			"--log-level",
			"error",
		],
		{ cwd: ROOT, detached: true, stdio: "ignore", env: { ...process.env, WRANGLER_SEND_METRICS: "false" } },
	);
	const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
	const kill = async () => {
		// The whole process group: wrangler and the workerd it started, as a crash would.
		try {
			process.kill(-(child.pid as number), "SIGKILL");
		} catch {}
		await exited;
	};
	const url = `http://127.0.0.1:${port}`;
	for (let i = 0; i < 600; i++) {
		const up = await fetch(`${url}/_limiter/health`).then(
			(res) => res.ok,
			() => false,
		);
		if (up) return { url, kill };
		if (child.exitCode !== null) break;
		await new Promise((resolve) => setTimeout(resolve, 100));
	}
	await kill();
	throw new Error("wrangler dev did not start");
}

let origin: Server;
let originUrl: string;
/** Body bytes the client has written so far, read by the origin when the first byte reaches it. */
let sent = 0;
let sentWhenOriginSawFirstByte = -1;

beforeAll(async () => {
	origin = createServer((req, res) => {
		let received = 0;
		req.on("data", (chunk: Buffer) => {
			if (received === 0) sentWhenOriginSawFirstByte = sent;
			received += chunk.length;
		});
		req.on("end", () => {
			res.setHeader("content-type", "application/json");
			res.end(JSON.stringify({ received, tenant: req.headers["x-tenant-id"] ?? null }));
		});
	});
	await new Promise<void>((resolve) => origin.listen(0, "127.0.0.1", resolve));
	originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;
});

afterAll(async () => {
	await new Promise((resolve) => origin.close(resolve));
});

/** POSTs `bytes` in 64 KiB chunks, waiting for the socket to drain like any streaming client. */
function streamUpload(url: string, bytes: number): Promise<{ status: number; body: string }> {
	return new Promise((resolve, reject) => {
		const req = httpRequest(`${url}/v1/upload`, {
			method: "POST",
			headers: { "x-tenant-id": "uploader", "content-type": "application/octet-stream" },
		});
		req.on("response", (res) => {
			let body = "";
			res.setEncoding("utf8");
			res.on("data", (chunk: string) => {
				body += chunk;
			});
			res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
		});
		req.on("error", reject);
		sent = 0;
		const write = () => {
			while (sent < bytes) {
				sent += CHUNK.length;
				if (!req.write(CHUNK)) return void req.once("drain", write);
			}
			req.end();
		};
		write();
	});
}

describe("wrangler dev", () => {
	let stateDir: string;

	beforeAll(() => {
		stateDir = mkdtempSync(join(tmpdir(), "limiter-dev-"));
	});

	afterAll(() => {
		rmSync(stateDir, { recursive: true, force: true });
	});

	it("streams a 100 MB request body to the origin without buffering it", async () => {
		const server = await startDevServer(stateDir, originUrl);
		try {
			const { status, body } = await streamUpload(server.url, BODY_BYTES);
			expect(status).toBe(200);
			expect(JSON.parse(body)).toEqual({ received: BODY_BYTES, tenant: "uploader" });
			// Buffered, the origin would see nothing until all 100 MB had been sent.
			expect(sentWhenOriginSawFirstByte).toBeGreaterThan(0);
			expect(sentWhenOriginSawFirstByte).toBeLessThan(BODY_BYTES / 4);
		} finally {
			await server.kill();
		}
	});

	it("a drained bucket is still drained after the dev server is killed and started again", async () => {
		const admin = { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" };
		const spend = (url: string, cost: number) =>
			fetch(`${url}/v1/items`, { headers: { "x-tenant-id": "restart-t", "x-ratelimit-cost": String(cost) } });

		const first = await startDevServer(stateDir, originUrl);
		try {
			// 1 token/s: whatever the restart takes, the bucket cannot refill to anywhere near 100.
			const put = await fetch(`${first.url}/_limiter/admin/tenants/restart-t`, {
				method: "PUT",
				headers: admin,
				body: JSON.stringify({ tier: "starter", rate: 1, burst: 100 }),
			});
			expect(put.status).toBe(200);
			expect((await spend(first.url, 100)).status).toBe(200);
			expect((await spend(first.url, 50)).status).toBe(429);
		} finally {
			await first.kill();
		}

		const second = await startDevServer(stateDir, originUrl);
		try {
			const res = await spend(second.url, 50);
			expect(res.status).toBe(429);
			// The tenant's configuration survived too: the policy is still its own.
			expect(res.headers.get("RateLimit-Policy")).toBe('"starter";q=100;w=100');
			const state = await fetch(`${second.url}/_limiter/admin/tenants/restart-t/state`, { headers: admin });
			const counted = (await state.json()) as { tokens: number; admitted: number };
			expect(counted.tokens).toBeLessThan(50);
			// Counters survived as well: the request admitted before the restart is still counted.
			expect(counted.admitted).toBeGreaterThanOrEqual(1);
		} finally {
			await second.kill();
		}
	});
});
