/**
 * `wrangler dev` as a developer runs it, in a child process, for tests that
 * drive the limiter from outside over real sockets.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";

const WRANGLER = fileURLToPath(new URL("../../../node_modules/wrangler/bin/wrangler.js", import.meta.url));
const ROOT = fileURLToPath(new URL("../../..", import.meta.url));

/** The admin token the dev server is started with. */
export const TOKEN = "dev-server-test-token";

/** A TCP port free at the time of asking. */
export async function freePort(): Promise<number> {
	const server = createServer();
	await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
	const { port } = server.address() as AddressInfo;
	await new Promise((resolve) => server.close(resolve));
	return port;
}

/** Runs a wrangler command (e.g. `kv key put … --local`) in the project and resolves with its exit code. */
export function runWrangler(args: string[]): Promise<number | null> {
	const child = spawn(process.execPath, [WRANGLER, ...args], {
		cwd: ROOT,
		stdio: "ignore",
		env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
	});
	return new Promise((resolve) => child.once("exit", resolve));
}

/**
 * `wrangler dev` on a free port, its state under `stateDir`, with `vars` over
 * wrangler.toml's; `kill` ends it and workerd at once, no shutdown. A server
 * that exits before it is up is started again, twice at most: started right
 * after one was killed over the same state, it now and then exits at once
 * (seen in one clean-clone CI run), likely before the killed workerd let go.
 */
export async function startDevServer(
	stateDir: string,
	originUrl: string,
	vars: Record<string, string> = {},
): Promise<{ url: string; kill: () => Promise<void> }> {
	for (let attempt = 1; ; attempt++) {
		const server = await startOnce(stateDir, originUrl, vars);
		if (server) return server;
		if (attempt === 3) throw new Error("wrangler dev did not start");
		await new Promise((resolve) => setTimeout(resolve, 1_000));
	}
}

/** One start of {@link startDevServer}: undefined if wrangler dev exited before it was up. */
async function startOnce(
	stateDir: string,
	originUrl: string,
	vars: Record<string, string>,
): Promise<{ url: string; kill: () => Promise<void> } | undefined> {
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
			// Not the developer's .dev.vars: the tests set what they depend on.
			"--env-file",
			"scripts/empty.env",
			"--var",
			`ORIGIN_URL:${originUrl}`,
			"--var",
			`ADMIN_TOKEN:${TOKEN}`,
			...Object.entries(vars).flatMap(([name, value]) => ["--var", `${name}:${value}`]),
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
		if (child.exitCode !== null) return undefined;
		await new Promise((resolve) => setTimeout(resolve, 100));
	}
	await kill();
	throw new Error("wrangler dev did not start within a minute");
}
