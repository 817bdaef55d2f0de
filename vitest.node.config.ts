import { defineConfig } from "vitest/config";

/**
 * Tests that run in Node and drive the limiter from outside: `wrangler dev`
 * started and killed as a child process, real sockets, a real origin. Also
 * the CLI's pure tests, since the CLI runs in Node, the global simulation's,
 * and those that read the heap (`*.node.test.ts`).
 */
export default defineConfig({
	test: {
		include: [
			"test/node/**/*.test.ts",
			"test/unit/cli.test.ts",
			"test/unit/global-sim.test.ts",
			"test/unit/*.node.test.ts",
		],
		environment: "node",
		// Each test starts wrangler dev (a few seconds on a busy 2-core machine) and moves 100 MB.
		testTimeout: 120_000,
		hookTimeout: 60_000,
	},
});
