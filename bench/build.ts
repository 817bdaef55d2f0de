/**
 * Bundling: each benchmark Worker becomes one ES module with esbuild, the way
 * wrangler would build it, under bench/.build/ (where the workerd configs go too).
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

/** bench/. */
export const benchDir = dirname(fileURLToPath(import.meta.url));
/** The checkout. */
export const root = join(benchDir, "..");
/** Bundles, workerd configs and Durable Object storage; ignored by git. */
export const buildDir = join(benchDir, ".build");

/** Bundles `entry` (relative to `from`, the checkout by default); packages come from the checkout's node_modules. */
export async function bundle(entry: string, name: string, from = root): Promise<string> {
	const outfile = join(buildDir, `${name}.js`);
	await build({
		entryPoints: [join(from, entry)],
		nodePaths: [join(root, "node_modules")],
		outfile,
		bundle: true,
		format: "esm",
		platform: "neutral",
		target: "es2022",
		conditions: ["workerd", "worker", "browser"],
		mainFields: ["module", "main"],
		external: ["cloudflare:*", "node:*"],
		logLevel: "error",
	});
	return outfile;
}

/** The limiter's `src/` as it is at `ref`, extracted under the build directory; returns the directory it is in. */
export function sourceAt(ref: string): string {
	const dir = join(buildDir, "base");
	rmSync(dir, { recursive: true, force: true });
	mkdirSync(dir, { recursive: true });
	const archive = spawnSync("git", ["-C", root, "archive", "--format=tar", ref, "src"], { maxBuffer: 1 << 30 });
	if (archive.status !== 0) throw new Error(`git archive ${ref}: ${archive.stderr.toString().trim()}`);
	const untar = spawnSync("tar", ["-x", "-C", dir], { input: archive.stdout });
	if (untar.status !== 0) throw new Error(`tar: ${untar.stderr.toString().trim()}`);
	return dir;
}
