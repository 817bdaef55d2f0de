import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { hashKey, keyRecordKey } from "../../src/config/api-keys";
import type { Settings } from "../../src/config/settings";
import { canonicalPath, isControlPath } from "../../src/http/control";
import { parseCost } from "../../src/http/cost";
import { type Identity, parseTenantSource, resolveIdentity, type TenantSource } from "../../src/http/identify";
import type { Decision } from "../../src/limiter/local";
import { policyForTier, type TenantPolicy } from "../../src/tiers";

const header = parseTenantSource("header:x-tenant-id");
const botPath = parseTenantSource("path:^/bot(\\d+):[A-Za-z0-9_-]+/");
const botKey = parseTenantSource("path:^/bot(?<key>(?<tenant>\\d+):[A-Za-z0-9_-]+)/");
const apiKey = parseTenantSource("api-key");

const ANON = policyForTier("anonymous") as TenantPolicy;

/** KV holding `keys` (key → tenant) by hash, counting reads; an anonymous bucket of `tokens` per key. */
async function fakes(keys: Record<string, string> = {}, tokens = 20) {
	const stored = new Map<string, string>();
	for (const [key, tenant] of Object.entries(keys)) {
		stored.set(keyRecordKey(await hashKey(key)), JSON.stringify({ tenant, keyId: "000000000000" }));
	}
	const cache = new Map<string, string | null>();
	const state = { reads: 0, charged: [] as string[] };
	const left = new Map<string, number>();
	return {
		state,
		check: {
			keys: {
				cached: (hash: string) => cache.get(hash),
				load: async (kv: { get(key: string): Promise<string | null> }, hash: string) => {
					const raw = await kv.get(keyRecordKey(hash));
					const tenant = raw === null ? null : (JSON.parse(raw) as { tenant: string }).tenant;
					cache.set(hash, tenant);
					return tenant;
				},
			},
			kv: {
				get: async (key: string) => {
					state.reads += 1;
					return stored.get(key) ?? null;
				},
			},
			charge: (key: string): Decision => {
				state.charged.push(key);
				const now = left.get(key) ?? tokens;
				left.set(key, now - 1);
				return now > 0
					? { allowed: true, policy: ANON, remaining: now - 1 }
					: ({ allowed: false, policy: ANON, reason: "tenant_rate", retryAfterMs: 100 } as Decision);
			},
		},
	};
}

function settingsFor(tenantSource: TenantSource, anonymous: Settings["anonymous"] = "limit") {
	return { tenantSource, anonymous, anonIpv4Prefix: 32, anonIpv6Prefix: 64, configTtlMs: 30_000 };
}

async function resolve(
	source: TenantSource,
	path: string,
	headers: Headers | Record<string, string>,
	check?: Awaited<ReturnType<typeof fakes>>["check"],
): Promise<Identity> {
	const url = new URL(`https://api.example${path}`);
	return resolveIdentity(url, new Headers(headers), settingsFor(source), check ?? (await fakes()).check);
}

function who(source = header, path = "/", headers: Record<string, string> = {}) {
	const check = { keys: { cached: () => undefined, load: async () => null }, kv: { get: async () => null } };
	const identity = resolveIdentity(new URL(`https://api.example${path}`), new Headers(headers), settingsFor(source), {
		...check,
		charge: () => {
			throw new Error("not charged in these modes");
		},
	});
	// Header and path modes without a key group answer at once: no promise on the hot path.
	expect(identity).not.toBeInstanceOf(Promise);
	return identity as Identity;
}

describe("parseTenantSource", () => {
	it.each(["header:", "header:bad name", "path:", "path:no-group", "path:(a)(b)", "path:(", "cookie:x", ""])(
		"rejects %j",
		(value) => {
			expect(() => parseTenantSource(value)).toThrow(/TENANT_SOURCE/);
		},
	);

	it("lower-cases header names", () => {
		expect(parseTenantSource("header:X-Org")).toEqual({ kind: "header", name: "x-org" });
	});

	it.each([
		{ value: "path:^/bot(\\d+):", named: false, keyed: false },
		{ value: "path:^/bot(?<tenant>\\d+):", named: true, keyed: false },
		{ value: "path:^/bot(?<key>(?<tenant>\\d+):[A-Za-z0-9_-]+)/", named: true, keyed: true },
	])("$value", ({ value, named, keyed }) => {
		expect(parseTenantSource(value)).toMatchObject({ kind: "path", named, keyed });
	});

	it("named groups need a tenant group", () => {
		expect(() => parseTenantSource("path:^/bot(?<key>\\d+)")).toThrow(/tenant group/);
	});
});

interface Case {
	name: string;
	source: typeof header;
	path: string;
	headers: Record<string, string>;
	kind: string;
	key?: string;
}

describe("identify", () => {
	it.each<Case>([
		{
			name: "header tenant",
			source: header,
			path: "/",
			headers: { "x-tenant-id": "acme_1-2" },
			kind: "tenant",
			key: "t:acme_1-2",
		},
		{
			name: "bot id from the path",
			source: botPath,
			path: "/bot6148450508:AAFl4_Sr-x/getMe",
			headers: {},
			kind: "tenant",
			key: "t:6148450508",
		},
		{
			name: "no tenant is anonymous by IP",
			source: header,
			path: "/",
			headers: { "cf-connecting-ip": "203.0.113.9" },
			kind: "anonymous",
			key: "anon:203.0.113.9",
		},
		{
			name: "path mode ignores the header",
			source: botPath,
			path: "/other",
			headers: { "x-tenant-id": "acme" },
			kind: "anonymous",
			key: "anon:unknown",
		},
		{ name: "65 characters", source: header, path: "/", headers: { "x-tenant-id": "a".repeat(65) }, kind: "refused" },
		{ name: "dots", source: header, path: "/", headers: { "x-tenant-id": "../admin" }, kind: "refused" },
		{ name: "unicode", source: header, path: "/", headers: { "x-tenant-id": "acmé" }, kind: "refused" },
		{ name: "doubled slash", source: botPath, path: "//bot666:a/x", headers: {}, kind: "tenant", key: "t:666" },
		{ name: "encoded letter", source: botPath, path: "/%62ot666:a/x", headers: {}, kind: "tenant", key: "t:666" },
		{ name: "encoded digits", source: botPath, path: "/bot%36%36%36:a/x", headers: {}, kind: "tenant", key: "t:666" },
		{ name: "encoded colon", source: botPath, path: "/bot666%3aa/x", headers: {}, kind: "tenant", key: "t:666" },
		{ name: "a ; parameter", source: botPath, path: "/bot666:a;/x", headers: {}, kind: "refused" },
		{ name: "leading zero", source: botPath, path: "/bot0666:a/x", headers: {}, kind: "refused" },
		{ name: "a zero alone", source: botPath, path: "/bot0:a/x", headers: {}, kind: "tenant", key: "t:0" },
		{ name: "a bad escape", source: botPath, path: "/bot666:a/%zz", headers: {}, kind: "refused" },
		{
			name: "IPv6 by /64",
			source: header,
			path: "/",
			headers: { "cf-connecting-ip": "2001:db8:0:1::7" },
			kind: "anonymous",
			key: "anon:2001:db8:0:1:0:0:0:0/64",
		},
	])("$name", ({ source, path, headers, kind, key }) => {
		const identity = who(source, path, headers);
		expect(identity.kind).toBe(kind);
		if (key) expect("key" in identity && identity.key).toBe(key);
	});
});

describe("resolveIdentity: the canonical path", () => {
	it("is what the origin gets, and only when it differs", () => {
		expect(who(botPath, "//bot666:a/x")).toMatchObject({ kind: "tenant", path: "/bot666:a/x" });
		expect(who(botPath, "/other//x")).toMatchObject({ kind: "anonymous", path: "/other/x" });
		expect(who(botPath, "/bot666:a/x")).not.toHaveProperty("path");
	});

	it("ANONYMOUS=reject refuses requests without a tenant", async () => {
		const url = new URL("https://api.example/x");
		const { check } = await fakes();
		const identity = resolveIdentity(url, new Headers(), settingsFor(header, "reject"), check);
		expect(identity).toMatchObject({ kind: "refused", problem: { status: 401, code: "tenant-required" } });
	});
});

describe("resolveIdentity: credentials", () => {
	const KEY = "lim_000000000000_abcdefghijklmnop";
	const BOT = "777:AAsecret-token_1";

	it.each([
		{ name: "Bearer", headers: { authorization: `Bearer ${KEY}` } },
		{ name: "bearer, spaces", headers: { authorization: ` bearer  ${KEY} ` } },
		{ name: "x-api-key", headers: { "x-api-key": KEY } },
		{ name: "both, same key", headers: { authorization: `Bearer ${KEY}`, "x-api-key": KEY } },
	] as { name: string; headers: Record<string, string> }[])(
		"an API key as $name identifies its tenant",
		async ({ headers }) => {
			const { check } = await fakes({ [KEY]: "acme" });
			expect(await resolve(apiKey, "/", headers, check)).toEqual({ kind: "tenant", tenant: "acme", key: "t:acme" });
		},
	);

	it.each([
		{ name: "Bearer K x", headers: [["authorization", `Bearer ${KEY} x`]] },
		{
			name: "two Authorization headers",
			headers: [
				["authorization", `Bearer ${KEY}`],
				["authorization", `Bearer ${KEY}`],
			],
		},
		{ name: "Token K", headers: [["authorization", `Token ${KEY}`]] },
		{ name: "Basic", headers: [["authorization", "Basic dGVzdDp0ZXN0"]] },
		{ name: "an empty Authorization", headers: [["authorization", ""]] },
		{
			name: "two different keys",
			headers: [
				["authorization", `Bearer ${KEY}`],
				["x-api-key", `${KEY}x`],
			],
		},
		{ name: "an unknown key", headers: [["x-api-key", `${KEY}x`]] },
		{ name: "a short key", headers: [["x-api-key", "abc"]] },
	] as { name: string; headers: [string, string][] }[])(
		"$name is refused 401 and charged to the IP",
		async ({ headers }) => {
			const { check, state } = await fakes({ [KEY]: "acme" });
			const identity = await resolve(apiKey, "/", new Headers([...headers, ["cf-connecting-ip", "192.0.2.4"]]), check);
			expect(identity).toMatchObject({ kind: "refused", problem: { status: 401, code: "invalid-api-key" } });
			expect(state.charged).toEqual(["anon:192.0.2.4"]);
		},
	);

	it("a charge gets the request's defer, to keep its background work alive", async () => {
		const { check } = await fakes();
		const defer = { waitUntil: (_work: Promise<unknown>) => {} };
		const seen: unknown[] = [];
		const url = new URL("https://api.example/");
		await resolveIdentity(
			url,
			new Headers({ "x-api-key": KEY }),
			settingsFor(apiKey),
			{
				...check,
				charge: (key, given) => {
					seen.push(given);
					return check.charge(key);
				},
			},
			defer,
		);
		expect(seen).toEqual([defer]);
	});

	it("300 guessed keys from one IP: 20 KV reads, then 429s without any", async () => {
		const { check, state } = await fakes({ [KEY]: "acme" }, 20);
		const kinds: string[] = [];
		for (let i = 0; i < 300; i++) {
			const identity = await resolve(
				apiKey,
				"/",
				{ "x-api-key": `guess-${i}-0123456789`, "cf-connecting-ip": "192.0.2.5" },
				check,
			);
			kinds.push(identity.kind === "anonymous" && identity.throttled ? "throttled" : identity.kind);
		}
		expect(kinds.filter((kind) => kind === "refused")).toHaveLength(20);
		expect(kinds.filter((kind) => kind === "throttled")).toHaveLength(280);
		expect(state.reads).toBe(20);
	});

	it("a known key costs the IP one token on its first use in an isolate, none after", async () => {
		const { check, state } = await fakes({ [KEY]: "acme" });
		for (let i = 0; i < 3; i++) await resolve(apiKey, "/", { "x-api-key": KEY }, check);
		expect(state.charged).toHaveLength(1);
		expect(state.reads).toBe(1);
	});

	it("a path key registered for its tenant identifies it", async () => {
		const { check } = await fakes({ [BOT]: "777" });
		expect(await resolve(botKey, `/bot${BOT}/getMe`, {}, check)).toEqual({
			kind: "tenant",
			tenant: "777",
			key: "t:777",
		});
	});

	it.each([
		{ name: "a fake secret", path: "/bot777:FAKE/x" },
		{ name: "another bot's key", path: "/bot778:AAsecret-token_1/x" },
		{ name: "a key registered for another tenant", path: "/bot666:AAsecret-token_2/x" },
	])("$name is refused 401 and charged to the IP only", async ({ path }) => {
		const { check, state } = await fakes({ [BOT]: "777", "666:AAsecret-token_2": "777" });
		const identity = await resolve(botKey, path, { "cf-connecting-ip": "192.0.2.6" }, check);
		expect(identity).toMatchObject({ kind: "refused", problem: { status: 401, code: "invalid-credential" } });
		expect(state.charged).toEqual(["anon:192.0.2.6"]);
	});

	it("an optional key group still needs the key", async () => {
		const optional = parseTenantSource("path:^/bot(?<tenant>\\d+)(?::(?<key>[A-Za-z0-9_-]+))?/");
		const { check } = await fakes({ [BOT]: "777" });
		expect(await resolve(optional, "/bot777/x", {}, check)).toMatchObject({ kind: "refused" });
	});
});

describe("control prefix", () => {
	it.each([
		"/_limiter/health",
		"/_LIMITER/admin",
		"//_limiter/admin",
		"/_limiter%2Fadmin",
		"/%5flimiter/admin",
		"/x/%2e%2e/_limiter/admin",
		"/_limiter./admin",
		"/_limiter%252Fadmin",
		"/_limiter",
		"\\_limiter\\admin",
	])("%s is a control path", (path) => {
		expect(isControlPath(path)).toBe(true);
	});

	it.each(["/%5flimiter/admin/tiers%ff", "/_limiter%00/admin/tiers", "/_limiter;x=1/admin/tiers", "/;x/_limiter"])(
		"%s is a control path",
		(path) => {
			expect(isControlPath(path)).toBe(true);
		},
	);

	it("any spelling of the prefix is a control path", () => {
		// Each character raw, %-encoded in either case, or encoded again; `;`, NUL and `.` tails; doubled slashes.
		const spelled = (char: string) =>
			fc
				.constantFrom(0, 1, 2, 3)
				.map(
					(how) =>
						[
							char,
							`%${char.charCodeAt(0).toString(16).padStart(2, "0")}`,
							`%${char.charCodeAt(0).toString(16).padStart(2, "0").toUpperCase()}`,
							`%25${char.charCodeAt(0).toString(16).padStart(2, "0")}`,
						][how] as string,
				);
		const word = (text: string) => fc.tuple(...[...text].map(spelled)).map((chars) => chars.join(""));
		const tail = fc.constantFrom("", ";x=1", "%00", "%3bx", ".");
		const end = fc.constantFrom("", "%ff", "%", "%zz", "/tiers%c3");
		const slash = fc.constantFrom("/", "//", "/./", "\\");
		fc.assert(
			fc.property(slash, word("_limiter"), tail, slash, word("admin"), end, (a, prefix, after, b, rest, last) => {
				expect(isControlPath(`${a}${prefix}${after}${b}${rest}${last}`)).toBe(true);
			}),
			{ numRuns: 2_000 },
		);
	});

	it("a prefix encoded ten times over is a control path", () => {
		expect(isControlPath(`/%${"25".repeat(9)}5flimiter/admin`)).toBe(true);
	});

	it.each(["/", "/_limiterx", "/api/_limiter", "/x/_limiter/..", "/files/%2525", "/a%ff"])("%s is not", (path) => {
		expect(isControlPath(path)).toBe(false);
	});

	it("canonicalises dot segments", () => {
		expect(canonicalPath("/a/./b/../c/")).toBe("/a/c");
	});
});

describe("parseCost", () => {
	it.each([
		{ raw: null, cost: 1 },
		{ raw: "1", cost: 1 },
		{ raw: " 25 ", cost: 25 },
		{ raw: "10000", cost: 10000 },
		{ raw: "0", cost: null },
		{ raw: "-1", cost: null },
		{ raw: "NaN", cost: null },
		{ raw: "1e3", cost: null },
		{ raw: "10001", cost: null },
		{ raw: "1000000000000", cost: null },
		{ raw: "2.5", cost: null },
		{ raw: "", cost: null },
	])("$raw → $cost", ({ raw, cost }) => {
		expect(parseCost(raw)).toBe(cost);
	});
});
