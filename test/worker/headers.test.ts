import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { parseRateLimit } from "ratelimit-header-parser";
import { parseItem, parseList } from "structured-headers";
import { describe, expect, it } from "vitest";
import worker from "../../src/worker";
import { useFrozenClock } from "../support/clock";
import { burst, fakeOrigin } from "../support/origin";

const T0 = 2_300_000_000_000;

/**
 * The Worker with `RATELIMIT_HEADERS` set to `flavours` (unset for `undefined`:
 * the default), sending as `tenant`. The test suite's own bindings set it, so
 * the default needs it taken out.
 */
function limiterWith(flavours: string | undefined) {
	const { RATELIMIT_HEADERS: _suite, ...rest } = env as Env & { RATELIMIT_HEADERS?: string };
	const custom = (flavours === undefined ? rest : { ...rest, RATELIMIT_HEADERS: flavours }) as Env;
	return (tenant: string) =>
		worker.fetch(
			new Request("https://api.example/v1/items", { headers: { "x-tenant-id": tenant } }),
			custom,
			createExecutionContext(),
		);
}

/** `n` requests one after another (the clock is frozen, so nothing refills); the last response. */
async function sendSequentially(send: () => Promise<Response>, n: number): Promise<Response> {
	let last: Response | undefined;
	for (let i = 0; i < n; i++) {
		last = await send();
		await last.body?.cancel();
	}
	return last as Response;
}

useFrozenClock(T0);

describe("RATELIMIT_HEADERS", () => {
	fakeOrigin();

	// A fresh starter tenant (rate 300/s, burst 1200) after 25 requests holds 1175 tokens and has more in 1 s.
	const AFTER_25 = { limit: 1200, used: 25, remaining: 1175, reset: new Date(T0 + 1_000) };

	it.each([
		{ flavours: "draft7", tenant: "hd-draft7" },
		{ flavours: "legacy", tenant: "hd-legacy" },
		{ flavours: "draft7,legacy", tenant: "hd-both" },
		{ flavours: undefined, tenant: "hd-default" },
	])("$flavours: ratelimit-header-parser reads limit, remaining and reset", async ({ flavours, tenant }) => {
		const send = limiterWith(flavours);
		const res = await sendSequentially(() => send(tenant), 25);
		expect(res.status).toBe(200);
		expect(parseRateLimit(res)).toEqual(AFTER_25);
	});

	it("the default is draft 7 plus X-RateLimit-*", async () => {
		const res = await limiterWith(undefined)("hd-default-fields");
		expect(res.headers.get("RateLimit-Policy")).toBe("1200;w=4");
		expect(res.headers.get("RateLimit")).toBe("limit=1200, remaining=1199, reset=1");
		expect(res.headers.get("X-RateLimit-Limit")).toBe("1200");
		expect(res.headers.get("X-RateLimit-Remaining")).toBe("1199");
		expect(res.headers.get("X-RateLimit-Reset")).toBe("1");
	});

	it("draft10: structured-headers parses both fields, with the bucket's values", async () => {
		const send = limiterWith("draft10");
		const res = await sendSequentially(() => send("hd-draft10"), 25);
		const policies = parseList(res.headers.get("RateLimit-Policy") ?? "");
		expect(policies.map(([name, params]) => [name, Object.fromEntries(params)])).toEqual([
			["starter", { q: 1200, w: 4 }],
		]);
		const limits = parseList(res.headers.get("RateLimit") ?? "");
		expect(limits.map(([name, params]) => [name, Object.fromEntries(params)])).toEqual([
			["starter", { r: 1175, t: 1 }],
		]);
		expect(res.headers.get("X-RateLimit-Limit")).toBeNull();
	});

	it("legacy alone sends no RateLimit fields", async () => {
		const res = await limiterWith("legacy")("hd-legacy-only");
		expect(res.headers.get("RateLimit")).toBeNull();
		expect(res.headers.get("RateLimit-Policy")).toBeNull();
		expect(res.headers.get("X-RateLimit-Remaining")).toBe("1199");
	});

	it.each(["draft10", "draft7", "legacy", undefined])(
		"%s: a denial carries Retry-After, and the parsers read remaining 0 and reset at Retry-After",
		async (flavours) => {
			const send = limiterWith(flavours);
			const tenant = `hd-deny-${flavours}`;
			expect((await burst(1210, () => send(tenant))).filter((s) => s === 200)).toHaveLength(1200);
			const denied = await send(tenant);
			expect(denied.status).toBe(429);
			const retryAfter = Number(denied.headers.get("Retry-After"));
			expect(retryAfter).toBeGreaterThanOrEqual(1);
			if (flavours === "draft10") {
				const [name, params] = parseItem(denied.headers.get("RateLimit") ?? "");
				expect([name, params.get("r"), params.get("t")]).toEqual(["starter", 0, retryAfter]);
			} else {
				expect(parseRateLimit(denied)).toEqual({
					limit: 1200,
					used: 1200,
					remaining: 0,
					reset: new Date(T0 + retryAfter * 1_000),
				});
			}
		},
	);

	it("a custom tier advertises its sustained rate (q/w), whatever its burst", async () => {
		const send = limiterWith("draft10,legacy");
		await env.CONFIG.put("tenant:hd-fast", JSON.stringify({ tier: "starter", rate: 1000, burst: 100 }));
		await env.CONFIG.put("tenant:hd-odd", JSON.stringify({ tier: "growth", rate: 500, burst: 900 }));
		const fast = await send("hd-fast");
		// Was q=100;w=1: ten times too low.
		expect(fast.headers.get("RateLimit-Policy")).toBe('"starter";q=1000;w=1');
		expect(fast.headers.get("X-RateLimit-Limit")).toBe("100");
		// Was q=900;w=2: 450/s.
		expect((await send("hd-odd")).headers.get("RateLimit-Policy")).toBe('"growth";q=1000;w=2');
		const draft7 = await limiterWith("draft7")("hd-fast");
		expect(draft7.headers.get("RateLimit-Policy")).toBe("1000;w=1");
		expect(draft7.headers.get("RateLimit")).toMatch(/^limit=100, remaining=\d+, reset=1$/);
	});

	it.each(["draft7,draft10", "", "draft7,,legacy", "x-ratelimit"])(
		"RATELIMIT_HEADERS=%j answers 500 misconfigured, without details",
		async (flavours) => {
			const res = await limiterWith(flavours)("hd-bad");
			expect(res.status).toBe(500);
			expect(await res.json()).toMatchObject({ type: "urn:problem:edge-limiter:misconfigured" });
		},
	);
});
