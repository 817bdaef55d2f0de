/**
 * The `limits` CLI's commands: argument parsing and the admin request each
 * one makes, and how answers are printed. Pure, so the tests cover it.
 */

/** An admin API call. */
export interface AdminCall {
	method: "GET" | "PUT" | "POST" | "DELETE";
	path: string;
	body?: Record<string, unknown>;
}

/** A usage error: the CLI prints it with the usage text and exits 2. */
export class UsageError extends Error {
	override readonly name = "UsageError";
}

/** Usage text. */
export const USAGE = `usage: npm run limits -- <command> [options]

  set <tenant> --tier <tier> [--rate N] [--burst N] [--enabled true|false]
  get <tenant>                 show a tenant's configuration
  delete <tenant>              remove it (the tenant falls back to DEFAULT_TIER)
  state <tenant>               live bucket: tokens, leased out, admitted, denied
  reset <tenant>               a full bucket again
  tiers                        list tiers
  tiers set <name> --rate N --burst N --weight W
  tiers delete <name>
  pool                         show the surge pool
  pool set --rate N --burst N
  keys create <tenant>         issue an API key (shown once)
  keys revoke <keyId>

options: --url <limiter URL> (env LIMITER_URL, default http://127.0.0.1:8787)
         --token <admin token> (env LIMITER_ADMIN_TOKEN or ADMIN_TOKEN, or .dev.vars)
         --json                print the API's JSON`;

/** Parsed command line. */
export interface Parsed {
	words: string[];
	options: Record<string, string>;
	json: boolean;
}

/** Splits `argv` into words and `--name value` options. */
export function parseArgs(argv: string[]): Parsed {
	const words: string[] = [];
	const options: Record<string, string> = {};
	let json = false;
	for (let i = 0; i < argv.length; i++) {
		const arg = argv[i] as string;
		if (arg === "--json") json = true;
		else if (arg.startsWith("--")) {
			const [name, inline] = arg.slice(2).split("=", 2) as [string, string | undefined];
			const value = inline ?? argv[++i];
			if (value === undefined) throw new UsageError(`--${name} needs a value`);
			options[name] = value;
		} else words.push(arg);
	}
	return { words, options, json };
}

function integer(options: Record<string, string>, name: string, required: boolean): number | undefined {
	const raw = options[name];
	if (raw === undefined) {
		if (required) throw new UsageError(`--${name} is required`);
		return undefined;
	}
	if (!/^\d+$/.test(raw)) throw new UsageError(`--${name} must be a whole number`);
	return Number(raw);
}

function word(words: string[], at: number, what: string): string {
	const value = words[at];
	if (!value) throw new UsageError(`missing ${what}`);
	return encodeURIComponent(value);
}

/** The admin call a command line makes. */
export function callFor({ words, options }: Parsed): AdminCall {
	const [command, sub] = words;
	switch (command) {
		case "set": {
			const tier = options.tier;
			if (!tier) throw new UsageError("--tier is required");
			const body: Record<string, unknown> = { tier };
			const rate = integer(options, "rate", false);
			const burst = integer(options, "burst", false);
			if (rate !== undefined) body.rate = rate;
			if (burst !== undefined) body.burst = burst;
			if (options.enabled !== undefined) {
				if (options.enabled !== "true" && options.enabled !== "false")
					throw new UsageError("--enabled is true or false");
				body.enabled = options.enabled === "true";
			}
			return { method: "PUT", path: `/tenants/${word(words, 1, "tenant")}`, body };
		}
		case "get":
			return { method: "GET", path: `/tenants/${word(words, 1, "tenant")}` };
		case "delete":
			return { method: "DELETE", path: `/tenants/${word(words, 1, "tenant")}` };
		case "state":
			return { method: "GET", path: `/tenants/${word(words, 1, "tenant")}/state` };
		case "reset":
			return { method: "POST", path: `/tenants/${word(words, 1, "tenant")}/reset` };
		case "tiers":
			if (!sub || sub === "list") return { method: "GET", path: "/tiers" };
			if (sub === "set") {
				const weight = Number(options.weight);
				if (!options.weight || !Number.isFinite(weight)) throw new UsageError("--weight must be a number");
				return {
					method: "PUT",
					path: `/tiers/${word(words, 2, "tier name")}`,
					body: { rate: integer(options, "rate", true), burst: integer(options, "burst", true), weight },
				};
			}
			if (sub === "delete") return { method: "DELETE", path: `/tiers/${word(words, 2, "tier name")}` };
			throw new UsageError(`unknown tiers command ${sub}`);
		case "pool":
			if (!sub || sub === "get") return { method: "GET", path: "/pool" };
			if (sub === "set") {
				return {
					method: "PUT",
					path: "/pool",
					body: { rate: integer(options, "rate", true), burst: integer(options, "burst", true) },
				};
			}
			throw new UsageError(`unknown pool command ${sub}`);
		case "keys":
			if (sub === "create") return { method: "POST", path: "/keys", body: { tenant: words[2] ?? "" } };
			if (sub === "revoke") return { method: "DELETE", path: `/keys/${word(words, 2, "key id")}` };
			throw new UsageError("keys create <tenant> | keys revoke <keyId>");
		default:
			throw new UsageError(command ? `unknown command ${command}` : "no command");
	}
}

/** Readable text for an answer (the JSON is printed as is with --json). */
export function describe(call: AdminCall, status: number, body: unknown): string {
	if (status === 204) return "done";
	if (typeof body !== "object" || body === null) return String(body);
	const lines = Object.entries(body as Record<string, unknown>).map(([key, value]) => {
		const shown = typeof value === "object" && value !== null ? JSON.stringify(value) : String(value);
		return `${key.padEnd(14)} ${shown}`;
	});
	if (call.method === "POST" && call.path === "/keys") lines.push("", "Store the key now: it is not shown again.");
	return lines.join("\n");
}
