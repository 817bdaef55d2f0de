// `npm run deploy` and `npm run check:deploy`: `wrangler deploy` with the arguments given, after checking
// that the configuration names real resources. A real deploy refuses the all-zero KV id that wrangler.toml
// ships with; a dry run (--dry-run, which `npm test` makes) only warns, loudly.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { unstable_readConfig } from "wrangler";
import { placeholderAdvice, placeholderKvBindings } from "./deploy-config.mjs";

const args = process.argv.slice(2);
// Only the flags that choose the configuration and the mode; the rest goes to wrangler as given.
const { values } = parseArgs({
	args,
	strict: false,
	options: {
		config: { type: "string", short: "c" },
		env: { type: "string", short: "e" },
		"dry-run": { type: "boolean" },
	},
});
const configPath = typeof values.config === "string" ? values.config : "wrangler.toml";
const env = typeof values.env === "string" ? values.env : undefined;
const config = unstable_readConfig({ config: configPath, env });
const placeholders = placeholderKvBindings(config.kv_namespaces);

if (placeholders.length > 0) {
	const advice = placeholderAdvice(placeholders, configPath);
	if (values["dry-run"] !== true) {
		console.error(`\nRefusing to deploy.\n${advice}\n`);
		process.exit(1);
	}
	const rule = "!".repeat(78);
	console.warn(`\n${rule}\nWARNING: this dry run passes, but a real deploy would be refused.\n${advice}\n${rule}\n`);
}

const wrangler = fileURLToPath(new URL("../node_modules/wrangler/bin/wrangler.js", import.meta.url));
const run = spawnSync(process.execPath, [wrangler, "deploy", ...args], {
	stdio: "inherit",
	env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
});
process.exit(run.status ?? 1);
