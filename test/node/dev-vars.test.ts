/**
 * A developer's .dev.vars (the README says `cp .dev.vars.example .dev.vars`)
 * must not break `npm test`: the generated types check runs as package.json's
 * `check:types` runs it, in a copy of the project that has a .dev.vars.
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, it } from "vitest";

const WRANGLER = fileURLToPath(new URL("../../node_modules/wrangler/bin/wrangler.js", import.meta.url));
const ROOT = fileURLToPath(new URL("../..", import.meta.url));

let project: string;

beforeAll(() => {
	project = mkdtempSync(join(tmpdir(), "limiter-dev-vars-"));
	for (const file of ["wrangler.toml", "worker-configuration.d.ts", "scripts/empty.env"]) {
		mkdirSync(join(project, file, ".."), { recursive: true });
		copyFileSync(join(ROOT, file), join(project, file));
	}
	symlinkSync(join(ROOT, "src"), join(project, "src"), "dir");
	copyFileSync(join(ROOT, ".dev.vars.example"), join(project, ".dev.vars"));
});

afterAll(() => {
	rmSync(project, { recursive: true, force: true });
});

it("wrangler types --check, as check:types runs it, passes with the example .dev.vars in place", () => {
	const scripts = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).scripts as Record<string, string>;
	const command = /wrangler (types [^&]*)/.exec(scripts["check:types"] ?? "")?.[1];
	expect(command).toContain("--check");
	const run = spawnSync(process.execPath, [WRANGLER, ...(command as string).trim().split(/\s+/)], {
		cwd: project,
		encoding: "utf8",
		env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
		timeout: 60_000,
	});
	expect(run.stdout + run.stderr).toContain("up to date");
	expect(run.status).toBe(0);
});
