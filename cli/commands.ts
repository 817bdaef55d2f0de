/**
 * The `limits` CLI's commands: argument parsing and the admin request each
 * one makes, and how answers are printed. Pure, so the tests cover it.
 */
import { parseArgs as tokenize } from "node:util";

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

  help, --help, -h             this text (also <command> --help)
  set <tenant> --tier <tier> [--rate N] [--burst N] [--enabled true|false]
  get <tenant>                 show a tenant's configuration
  delete <tenant>              remove it (the tenant falls back to DEFAULT_TIER)
  state <tenant>               live bucket: tokens, leased out, admitted, denied
  reset <tenant>               a full bucket again
  tiers                        list tiers
  tiers set <name> --rate N --burst N --weight W
  tiers delete <name>
  pool                         show the burst pool
  pool set --rate N --burst N
  keys create <tenant>         issue an API key (shown once)
  keys import <tenant> <key>   register a key issued elsewhere (a bot token, an existing API key)
  keys revoke <keyId>

options: --url <limiter URL> (env LIMITER_URL, default http://127.0.0.1:8787)
         --token <admin token> (env LIMITER_ADMIN_TOKEN or ADMIN_TOKEN, or .dev.vars)
         --json                print the API's JSON`;

/** The options the CLI knows; any other is a usage error. */
const OPTIONS = {
	tier: { type: "string" },
	rate: { type: "string" },
	burst: { type: "string" },
	enabled: { type: "string" },
	weight: { type: "string" },
	url: { type: "string" },
	token: { type: "string" },
	json: { type: "boolean" },
	help: { type: "boolean", short: "h" },
} as const;

/** Parsed command line. */
export interface Parsed {
	words: string[];
	/** The string options given, by name. */
	options: Record<string, string>;
	json: boolean;
	/** `--help`, `-h` or the command `help`: print the usage, nothing else. */
	help: boolean;
}

/**
 * Splits `argv` into words and options with `node:util`'s `parseArgs`. The
 * checks its strict mode makes are made here, so that each message names the
 * flag: an unknown option, a missing value (`--tier` last, or followed by
 * another option), a value given to `--json` or `--help`.
 *
 * @example parseArgs(["set", "acme", "--tier=growth"]) // { words: ["set", "acme"], options: { tier: "growth" }, … }
 */
export function parseArgs(argv: string[]): Parsed {
	const { tokens } = tokenize({ args: argv, options: OPTIONS, allowPositionals: true, strict: false, tokens: true });
	const words: string[] = [];
	const options: Record<string, string> = {};
	let json = false;
	let help = false;
	for (const token of tokens) {
		if (token.kind === "positional") words.push(token.value);
		if (token.kind !== "option") continue;
		const { name, rawName, value, inlineValue } = token;
		if (!Object.hasOwn(OPTIONS, name)) throw new UsageError(`unknown option ${rawName}`);
		if (OPTIONS[name as keyof typeof OPTIONS].type === "boolean") {
			if (value !== undefined) throw new UsageError(`${rawName} takes no value`);
			if (name === "json") json = true;
			else help = true;
		} else {
			// Without `=`, parseArgs takes the next argument whatever it is: `--tier --json` forgot the tier.
			if (value === undefined || (!inlineValue && value.startsWith("-")))
				throw new UsageError(`${rawName} needs a value`);
			options[name] = value;
		}
	}
	return { words, options, json, help: help || words[0] === "help" };
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

function required(words: string[], at: number, what: string): string {
	const value = words[at];
	if (!value) throw new UsageError(`missing ${what}`);
	return value;
}

/** A word that goes into the request's path. */
function word(words: string[], at: number, what: string): string {
	return encodeURIComponent(required(words, at, what));
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
			if (sub === "import") {
				return {
					method: "POST",
					path: "/keys",
					body: { tenant: required(words, 2, "tenant"), key: required(words, 3, "key") },
				};
			}
			if (sub === "revoke") return { method: "DELETE", path: `/keys/${word(words, 2, "key id")}` };
			throw new UsageError("keys create <tenant> | keys import <tenant> <key> | keys revoke <keyId>");
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
	// A generated key is in this answer only; an imported one is not echoed.
	if (call.method === "POST" && call.path === "/keys" && call.body?.key === undefined)
		lines.push("", "Store the key now: it is not shown again.");
	return lines.join("\n");
}
