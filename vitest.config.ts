import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

export default defineConfig({
	plugins: [
		cloudflareTest({
			wrangler: { configPath: "./wrangler.toml" },
			// Thousand-request bursts on a shared 2-core machine can take a Durable Object longer than
			// the production deadline; failure handling has its own tests with their own deadlines.
			// The Worker tests read the draft-10 fields, which name the policy; the other flavours and the
			// default have their own tests (test/worker/headers.test.ts) with env built per test.
			miniflare: { bindings: { DO_TIMEOUT_MS: "10000", RATELIMIT_HEADERS: "draft10,legacy" } },
		}),
	],
	// test/node/ runs in Node (vitest.node.config.ts): it starts wrangler dev itself.
	test: { include: ["test/**/*.test.ts"], exclude: ["test/node/**"] },
});
