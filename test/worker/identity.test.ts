import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../src/worker";
import { useFrozenClock } from "../support/clock";
import { burst, fakeOrigin } from "../support/origin";

const TOKEN = "test-admin-token";
const BOT_ID = "path:^/bot(\\d+):[A-Za-z0-9_-]+/";
const BOT_KEY = "path:^/bot(?<key>(?<tenant>\\d+):[A-Za-z0-9_-]+)/";

/**
 * The Worker with `vars`, its KV reads and Durable Object names recorded (the
 * bindings are wrapped, so the Worker sees a fresh isolate's state).
 */
function limiter(vars: Record<string, string>) {
	const seen = { kvReads: [] as string[], buckets: [] as string[] };
	const CONFIG = new Proxy(env.CONFIG, {
		get(target, name) {
			if (name === "get") {
				return (key: string, ...rest: unknown[]) => {
					seen.kvReads.push(key);
					return (target.get as (...args: unknown[]) => unknown)(key, ...rest);
				};
			}
			const value = Reflect.get(target, name);
			return typeof value === "function" ? value.bind(target) : value;
		},
	});
	const TENANT_BUCKET = new Proxy(env.TENANT_BUCKET, {
		get(target, name) {
			if (name === "getByName") {
				return (key: string) => {
					seen.buckets.push(key);
					return target.getByName(key);
				};
			}
			const value = Reflect.get(target, name);
			return typeof value === "function" ? value.bind(target) : value;
		},
	});
	const custom = { ...env, ADMIN_TOKEN: TOKEN, ...vars, CONFIG, TENANT_BUCKET } as Env;
	const send = (path: string, init?: RequestInit) =>
		worker.fetch(new Request(`https://api.example${path}`, init), custom, createExecutionContext());
	const admin = (method: string, path: string, body?: unknown) =>
		send(`/_limiter/admin${path}`, {
			method,
			headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
			...(body === undefined ? {} : { body: JSON.stringify(body) }),
		});
	return { send, admin, seen };
}

async function problemType(res: Response): Promise<string> {
	return ((await res.json()) as { type: string }).type.replace("urn:problem:edge-limiter:", "");
}

useFrozenClock(2_100_000_000_000);
const calls = fakeOrigin();

describe("path mode judges the canonical path", () => {
	it.each([
		{ path: "//bot666:a/x", status: 403, type: "tenant-suspended" },
		{ path: "/%62ot666:a/x", status: 403, type: "tenant-suspended" },
		{ path: "/bot%36%36%36:a/x", status: 403, type: "tenant-suspended" },
		{ path: "/bot666%3aa/x", status: 403, type: "tenant-suspended" },
		{ path: "/bot666:a;/x", status: 400, type: "invalid-path" },
		{ path: "/bot0666:a/x", status: 400, type: "invalid-tenant" },
	])("$path with bot 666 suspended: $status $type, never the origin", async ({ path, status, type }) => {
		await env.CONFIG.put("tenant:666", '{"tier":"starter","enabled":false}');
		const { send } = limiter({ TENANT_SOURCE: BOT_ID });
		const res = await send(path, { headers: { "cf-connecting-ip": "192.0.2.66" } });
		expect(res.status).toBe(status);
		expect(await problemType(res)).toBe(type);
		expect(calls).toHaveLength(0);
	});

	it("the origin receives the canonical path it was judged on", async () => {
		const { send } = limiter({ TENANT_SOURCE: BOT_ID });
		const res = await send("//%62ot555%3aa/./y/../x?q=1");
		expect(res.status).toBe(200);
		expect(calls.map((call) => [call.url, call.headers["x-tenant-id"]])).toEqual([
			["http://127.0.0.1:8788/bot555:a/x?q=1", "555"],
		]);
	});
});

describe("path credentials", () => {
	const SECRET = "777:AAE-real_secret-of-bot-777";

	it("only a registered credential spends its bot's tokens; fakes are 401 and charged to the IP", async () => {
		const { send, admin, seen } = limiter({ TENANT_SOURCE: BOT_KEY });
		expect((await admin("POST", "/keys", { tenant: "777", key: SECRET })).status).toBe(201);
		const fakes = await burst(30, () =>
			send("/bot777:FAKE/x", { headers: { "x-ratelimit-cost": "50", "cf-connecting-ip": "192.0.2.77" } }),
		);
		expect(new Set(fakes)).toEqual(new Set([401, 429]));
		expect(calls).toHaveLength(0);
		// Bot 777's bucket was never asked for anything: only the client's anonymous one.
		expect(new Set(seen.buckets)).toEqual(new Set(["anon:192.0.2.77"]));
		const owner = await send(`/bot${SECRET}/getMe`, { headers: { "cf-connecting-ip": "198.51.100.77" } });
		expect(owner.status).toBe(200);
		expect(calls.map((call) => new URL(call.url).pathname)).toEqual([`/bot${SECRET}/getMe`]);
	});

	it("200 invented bots with fake secrets: refused, no bucket but the client's anonymous one", async () => {
		const { send, seen } = limiter({ TENANT_SOURCE: BOT_KEY });
		const statuses: number[] = [];
		for (let i = 0; i < 200; i++) {
			const res = await send(`/bot${900_000 + i}:FAKE${i}/x`, { headers: { "cf-connecting-ip": "192.0.2.78" } });
			statuses.push(res.status);
			await res.body?.cancel();
		}
		expect(statuses.filter((status) => status === 401)).toHaveLength(20);
		expect(statuses.filter((status) => status === 429)).toHaveLength(180);
		expect(new Set(seen.buckets)).toEqual(new Set(["anon:192.0.2.78"]));
		expect(calls).toHaveLength(0);
	});

	it("imported keys are validated and not registered twice", async () => {
		const { admin } = limiter({});
		for (const key of ["short", "777:has space in it", "777:comma,in,it", "x".repeat(257), "777:é-not-ascii"]) {
			expect((await admin("POST", "/keys", { tenant: "777", key })).status).toBe(400);
		}
		expect((await admin("POST", "/keys", { tenant: "778", key: "778:AAE-imported-once" })).status).toBe(201);
		expect((await admin("POST", "/keys", { tenant: "779", key: "778:AAE-imported-once" })).status).toBe(409);
	});
});

describe("API keys that do not authenticate", () => {
	async function issued(admin: ReturnType<typeof limiter>["admin"], tenant: string) {
		return (await (await admin("POST", "/keys", { tenant })).json()) as { key: string; keyId: string };
	}

	const disguises = (key: string): [string, HeadersInit][] => [
		["Bearer K x", { authorization: `Bearer ${key} x` }],
		[
			"two Authorization headers",
			[
				["authorization", `Bearer ${key}`],
				["authorization", `Bearer ${key}`],
			],
		],
		["Token K", { authorization: `Token ${key}` }],
	];

	it("a suspended or revoked key in any disguise is 401 and never forwarded", async () => {
		const { send, admin } = limiter({ TENANT_SOURCE: "api-key" });
		const suspended = await issued(admin, "keyed-suspended");
		await admin("PUT", "/tenants/keyed-suspended", { tier: "starter", enabled: false });
		const revoked = await issued(admin, "keyed-revoked");
		expect((await admin("DELETE", `/keys/${revoked.keyId}`)).status).toBe(204);
		for (const { key } of [suspended, revoked]) {
			for (const [name, headers] of disguises(key)) {
				const res = await send("/v1/items", { headers });
				expect([name, res.status, await problemType(res)]).toEqual([name, 401, "invalid-api-key"]);
			}
		}
		expect((await send("/v1/items", { headers: { "x-api-key": suspended.key } })).status).toBe(403);
		expect(calls).toHaveLength(0);
	});

	it("300 random keys from one IP end in 429s after 20 KV reads", async () => {
		const { send, seen } = limiter({ TENANT_SOURCE: "api-key" });
		const statuses: number[] = [];
		for (let i = 0; i < 300; i++) {
			const key = `lim_${i.toString(16).padStart(12, "0")}_${crypto.randomUUID()}`;
			const res = await send("/v1/items", {
				headers: { authorization: `Bearer ${key}`, "cf-connecting-ip": "192.0.2.30" },
			});
			statuses.push(res.status);
			await res.body?.cancel();
		}
		expect(statuses.slice(0, 20)).toEqual(Array(20).fill(401));
		expect(statuses.slice(20)).toEqual(Array(280).fill(429));
		expect(seen.kvReads.filter((key) => key.startsWith("apikey:"))).toHaveLength(20);
		expect(calls).toHaveLength(0);
	});

	it.each<{ vars: Record<string, string>; forwarded: boolean }>([
		{ vars: {}, forwarded: true },
		{ vars: { FORWARD_API_KEY: "false" }, forwarded: false },
	])("FORWARD_API_KEY $vars: the origin gets the key: $forwarded", async ({ vars, forwarded }) => {
		const { send, admin } = limiter({ TENANT_SOURCE: "api-key", ...vars });
		const { key } = await issued(admin, "keyed-forward");
		expect((await send("/v1/items", { headers: { authorization: `Bearer ${key}` } })).status).toBe(200);
		expect((await send("/v1/items", { headers: { "x-api-key": key } })).status).toBe(200);
		expect(calls.map((call) => call.headers["x-tenant-id"])).toEqual(["keyed-forward", "keyed-forward"]);
		expect(calls[0]?.headers.authorization).toBe(forwarded ? `Bearer ${key}` : undefined);
		expect(calls[1]?.headers["x-api-key"]).toBe(forwarded ? key : undefined);
	});
});

describe("anonymous clients", () => {
	it("five addresses of one IPv6 /64 share one bucket", async () => {
		const { send } = limiter({});
		const statuses = await Promise.all(
			[
				"2001:db8:5:64::1",
				"2001:db8:5:64::2",
				"2001:db8:5:64:ffff::3",
				"2001:db8:5:64:1:2:3:4",
				"2001:db8:5:64::5",
			].map((ip) => burst(20, () => send("/v1/items", { headers: { "cf-connecting-ip": ip } }))),
		);
		expect(statuses.flat().filter((status) => status === 200)).toHaveLength(20);
	});

	it("ANON_IPV6_PREFIX=128 limits each address alone", async () => {
		const { send } = limiter({ ANON_IPV6_PREFIX: "128" });
		const one = await burst(20, () => send("/v1/items", { headers: { "cf-connecting-ip": "2001:db8:6:64::1" } }));
		const two = await burst(20, () => send("/v1/items", { headers: { "cf-connecting-ip": "2001:db8:6:64::2" } }));
		expect([...one, ...two].filter((status) => status === 200)).toHaveLength(40);
	});
});

describe("control paths however spelled", () => {
	it.each(["/%5flimiter/admin/tiers%ff", "/_limiter%00/admin/tiers", "/_limiter;x=1/admin/tiers"])(
		"%s is answered by the limiter, never proxied",
		async (path) => {
			const { send } = limiter({});
			const res = await send(path, { headers: { authorization: `Bearer ${TOKEN}`, "x-tenant-id": "acme" } });
			expect(res.status).toBeGreaterThanOrEqual(400);
			expect(res.status).toBeLessThan(500);
			expect(calls).toHaveLength(0);
		},
	);
});

describe("tier names", () => {
	it.each(["__proto__", "constructor"])("PUT /tiers/%s is 400 and stores nothing", async (name) => {
		const { admin } = limiter({});
		expect((await admin("PUT", `/tiers/${name}`, { rate: 5, burst: 10, weight: 1 })).status).toBe(400);
		expect((await admin("PUT", "/tenants/acme-proto", { tier: name })).status).toBe(400);
		expect(await env.CONFIG.get("tiers")).toBeNull();
	});
});

describe("settings", () => {
	it.each<Record<string, string>>([{ ANON_IPV4_PREFIX: "0" }, { ANON_IPV6_PREFIX: "129" }, { FORWARD_API_KEY: "yes" }])(
		"%j is misconfigured",
		async (vars) => {
			const res = await limiter(vars).send("/v1/items");
			expect(res.status).toBe(500);
			expect(calls).toHaveLength(0);
		},
	);
});
