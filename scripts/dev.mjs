// `npm start`: the demo origin on :8788 and the limiter (wrangler dev) on :8787.
// Local KV and Durable Object state persist under .wrangler/state.
import { spawn } from "node:child_process";
import { startDemoOrigin } from "./demo-origin.mjs";

const origin = await startDemoOrigin(8788).catch((error) => {
	console.error(`demo origin: ${error.message} (is port 8788 taken?)`);
	process.exit(1);
});
console.log("demo origin listening on http://127.0.0.1:8788");

const wrangler = spawn("wrangler", ["dev", "--ip", "127.0.0.1", "--port", "8787", ...process.argv.slice(2)], {
	stdio: "inherit",
	env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
});
const stop = () => wrangler.kill("SIGINT");
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
wrangler.on("exit", (code) => {
	origin.close();
	process.exit(code ?? 0);
});
