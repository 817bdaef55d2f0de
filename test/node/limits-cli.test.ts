/**
 * The `limits` CLI as an operator runs it (`npm run limits -- …`, tsx on
 * Node): its exit codes and where it prints, which a pure test cannot see.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** Runs the CLI with a token and a URL nothing listens on: a request it makes fails with exit 3. */
function limits(...args: string[]) {
	const run = spawnSync(process.execPath, ["--import", "tsx", "cli/limits.ts", ...args], {
		cwd: ROOT,
		encoding: "utf8",
		env: { ...process.env, LIMITER_URL: "http://127.0.0.1:9", LIMITER_ADMIN_TOKEN: "cli-test-token" },
		timeout: 60_000,
	});
	return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

describe("npm run limits", () => {
	it.each([[["--help"]], [["-h"]], [["help"]], [["set", "--help"]]])("%j prints the usage and exits 0", (args) => {
		const run = limits(...args);
		expect(run).toMatchObject({ status: 0, stderr: "" });
		expect(run.stdout).toMatch(/^usage: npm run limits -- <command> \[options\]/);
		expect(run.stdout).toContain("tiers set <name>");
	});

	it.each([
		[["get", "acme", "--bogus", "x"], "--bogus"],
		[["get", "acme", "-x"], "-x"],
	])("%j is refused with exit 2, naming the flag", (args, flag) => {
		const run = limits(...args);
		expect(run.status).toBe(2);
		expect(run.stdout).toBe("");
		expect(run.stderr).toContain(`limits: unknown option ${flag}`);
		expect(run.stderr).toContain("usage:");
	});

	it("a well-formed command gets as far as the request (exit 3: nothing listens)", () => {
		const run = limits("get", "acme");
		expect(run.status).toBe(3);
		expect(run.stderr).toContain("cannot reach http://127.0.0.1:9");
	});
});
