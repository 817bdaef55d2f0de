import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { unstable_readConfig } from "wrangler";

const configPath = "./wrangler.toml";
// The plugin, like `wrangler dev`, lets a developer's .dev.vars override [vars] and add ADMIN_TOKEN.
// The tests run on wrangler.toml's values whatever .dev.vars says: each test sets what else it needs.
const { vars } = unstable_readConfig({ config: configPath });

export default defineConfig({
	plugins: [
		cloudflareTest({
			wrangler: { configPath },
			miniflare: {
				bindings: {
					...vars,
					// Empty is no token: the admin API is off, as without the secret (a binding cannot be
					// removed here, only replaced). Admin tests pass their own token.
					ADMIN_TOKEN: "",
					// Thousand-request bursts on a shared 2-core machine can take a Durable Object longer than
					// the production deadline; failure handling has its own tests with their own deadlines.
					DO_TIMEOUT_MS: "10000",
					// The Worker tests read the draft-10 fields, which name the policy; the other flavours and the
					// default have their own tests (test/worker/headers.test.ts) with env built per test.
					RATELIMIT_HEADERS: "draft10,legacy",
					// One shard holding the whole pool: tests run on a frozen clock, so a pool never refills, and
					// which of eight shards an isolate's random id picks would decide whether its burst fits.
					POOL_SHARDS: "1",
				},
			},
		}),
	],
	// test/node/ runs in Node (vitest.node.config.ts): it starts wrangler dev itself. So does the
	// CLI's test and the global simulation's: they run in Node, and workerd has no util.parseArgs.
	test: {
		include: ["test/**/*.test.ts"],
		exclude: ["test/node/**", "test/unit/cli.test.ts", "test/unit/global-sim.test.ts", "test/unit/*.node.test.ts"],
	},
});
