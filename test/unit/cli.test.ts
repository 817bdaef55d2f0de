// Runs in Node (vitest.node.config.ts), as the CLI does: workerd has no util.parseArgs.
import { expect, it, describe as suite } from "vitest";
import { callFor, describe, type Parsed, parseArgs, UsageError } from "../../cli/commands";

const call = (line: string) => callFor(parseArgs(line.split(" ").filter(Boolean)));

suite("limits CLI", () => {
	it.each([
		[
			"set acme --tier growth --rate 500 --burst 900",
			{ method: "PUT", path: "/tenants/acme", body: { tier: "growth", rate: 500, burst: 900 } },
		],
		[
			"set acme --tier=starter --enabled false",
			{ method: "PUT", path: "/tenants/acme", body: { tier: "starter", enabled: false } },
		],
		["get acme", { method: "GET", path: "/tenants/acme" }],
		["delete acme", { method: "DELETE", path: "/tenants/acme" }],
		["state acme --json", { method: "GET", path: "/tenants/acme/state" }],
		["reset acme", { method: "POST", path: "/tenants/acme/reset" }],
		["tiers", { method: "GET", path: "/tiers" }],
		[
			"tiers set gold --rate 1000 --burst 4000 --weight 3",
			{ method: "PUT", path: "/tiers/gold", body: { rate: 1000, burst: 4000, weight: 3 } },
		],
		["tiers delete gold", { method: "DELETE", path: "/tiers/gold" }],
		["pool", { method: "GET", path: "/pool" }],
		["pool set --rate 40000 --burst 45000", { method: "PUT", path: "/pool", body: { rate: 40000, burst: 45000 } }],
		["keys create acme", { method: "POST", path: "/keys", body: { tenant: "acme" } }],
		["keys revoke 0123456789ab", { method: "DELETE", path: "/keys/0123456789ab" }],
		["keys import 777 777:AAEsecret", { method: "POST", path: "/keys", body: { tenant: "777", key: "777:AAEsecret" } }],
	])("%s", (line, expected) => {
		expect(call(line)).toEqual(expected);
	});

	it.each([
		"",
		"fly",
		"set acme",
		"set acme --tier growth --rate fast",
		"set acme --tier growth --enabled maybe",
		"get",
		"tiers set gold --rate 1",
		"pool set --rate 1",
		"keys",
		"keys import 777",
		"set acme --tier",
	])("%j is a usage error", (line) => {
		expect(() => call(line)).toThrow(UsageError);
	});

	const parsed = (words: string[], extra: Partial<Parsed> = {}): Parsed => ({
		words,
		options: {},
		json: false,
		help: false,
		...extra,
	});
	it.each<[string, Parsed]>([
		["set acme --tier growth --rate 5", parsed(["set", "acme"], { options: { tier: "growth", rate: "5" } })],
		["set acme --tier=growth", parsed(["set", "acme"], { options: { tier: "growth" } })],
		["state acme --json", parsed(["state", "acme"], { json: true })],
		["--help", parsed([], { help: true })],
		["-h", parsed([], { help: true })],
		["help", parsed(["help"], { help: true })],
		["set --help", parsed(["set"], { help: true })],
		["tiers set gold -h", parsed(["tiers", "set", "gold"], { help: true })],
		["get -- --acme", parsed(["get", "--acme"])],
	])("parses %j", (line, expected) => {
		expect(parseArgs(line.split(" "))).toEqual(expected);
	});

	it.each([
		["--bogus", "unknown option --bogus"],
		["get acme --bogus x", "unknown option --bogus"],
		["get acme --bogus=x", "unknown option --bogus"],
		["get acme -x", "unknown option -x"],
		["get acme -hx", "unknown option -x"],
		["get acme --__proto__ x", "unknown option --__proto__"],
		["get acme --toString", "unknown option --toString"],
		["set acme --tier", "--tier needs a value"],
		["set acme --tier --json", "--tier needs a value"],
		["get acme --json=yes", "--json takes no value"],
		["--help=1", "--help takes no value"],
	])("%j is a usage error: %s", (line, message) => {
		expect(() => parseArgs(line.split(" "))).toThrow(new UsageError(message));
	});

	it("tenant names are escaped into the path", () => {
		expect(call("get a/../b").path).toBe("/tenants/a%2F..%2Fb");
	});

	it("prints readable answers, and says a new key is shown once", () => {
		expect(describe({ method: "DELETE", path: "/tenants/a" }, 204, null)).toBe("done");
		const text = describe({ method: "POST", path: "/keys" }, 201, { keyId: "k", key: "lim_k_s", tenant: "acme" });
		expect(text).toContain("lim_k_s");
		expect(text).toContain("not shown again");
	});
});
