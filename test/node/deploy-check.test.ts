/**
 * `npm run deploy` refuses the all-zero KV id that wrangler.toml ships with.
 * Runs on a copy of wrangler.toml without the sources, so that even a broken
 * check could not deploy anything: wrangler would fail to build first.
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const project = mkdtempSync(join(tmpdir(), "limiter-deploy-"));

afterAll(() => {
	rmSync(project, { recursive: true, force: true });
});

it("npm run deploy refuses the placeholder KV id and says how to create the namespace", () => {
	const config = join(project, "wrangler.toml");
	copyFileSync(join(ROOT, "wrangler.toml"), config);
	const run = spawnSync(process.execPath, [join(ROOT, "scripts/deploy.mjs"), "--config", config], {
		cwd: project,
		encoding: "utf8",
		env: { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_API_TOKEN: "" },
		timeout: 60_000,
	});
	expect(run.status).toBe(1);
	expect(run.stderr).toContain("Refusing to deploy");
	expect(run.stderr).toContain("npx wrangler kv namespace create CONFIG");
	// wrangler deploy never started (it prints its banner first).
	expect(run.stdout + run.stderr).not.toContain("⛅️ wrangler");
});
