/**
 * `npm run limits -- …`: the operator's tool for tenants' limits, tiers, the
 * burst pool and API keys, through the admin API.
 */
import { existsSync, readFileSync } from "node:fs";
import { type AdminCall, callFor, describe, parseArgs, USAGE, UsageError } from "./commands";

function tokenFromDevVars(): string | undefined {
	if (!existsSync(".dev.vars")) return undefined;
	const line = readFileSync(".dev.vars", "utf8")
		.split("\n")
		.find((l) => l.startsWith("ADMIN_TOKEN="));
	return line?.slice("ADMIN_TOKEN=".length).trim().replace(/^"|"$/g, "");
}

async function main(argv: string[]): Promise<number> {
	let call: AdminCall;
	let json = false;
	let url: string;
	let token: string | undefined;
	try {
		const parsed = parseArgs(argv);
		if (parsed.help) {
			console.log(USAGE);
			return 0;
		}
		json = parsed.json;
		call = callFor(parsed);
		url = parsed.options.url ?? process.env.LIMITER_URL ?? "http://127.0.0.1:8787";
		token = parsed.options.token ?? process.env.LIMITER_ADMIN_TOKEN ?? process.env.ADMIN_TOKEN ?? tokenFromDevVars();
	} catch (error) {
		if (!(error instanceof UsageError)) throw error;
		console.error(`limits: ${error.message}\n\n${USAGE}`);
		return 2;
	}
	if (!token) {
		console.error("limits: no admin token (--token, LIMITER_ADMIN_TOKEN, or ADMIN_TOKEN in .dev.vars)");
		return 2;
	}
	let response: Response;
	try {
		response = await fetch(new URL(`/_limiter/admin${call.path}`, url), {
			method: call.method,
			headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
			...(call.body ? { body: JSON.stringify(call.body) } : {}),
		});
	} catch (error) {
		console.error(`limits: cannot reach ${url}: ${(error as Error).message}`);
		return 3;
	}
	const text = await response.text();
	let body: unknown = text;
	try {
		body = text ? JSON.parse(text) : null;
	} catch {
		// Not JSON: shown as text.
	}
	if (!response.ok) {
		const problem = body as { title?: string; detail?: string };
		console.error(
			json ? text : `limits: ${response.status} ${problem?.title ?? ""}${problem?.detail ? `: ${problem.detail}` : ""}`,
		);
		return 1;
	}
	console.log(json ? text || "{}" : describe(call, response.status, body));
	return 0;
}

process.exitCode = await main(process.argv.slice(2));
