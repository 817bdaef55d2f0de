import { createExecutionContext, evictDurableObject, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import worker from "../../src/worker";
import { useFrozenClock } from "../support/clock";
import { fakeOrigin } from "../support/origin";

/** A TenantBucket namespace whose objects fail the way `fault` says. */
function failingNamespace(fault: "throw" | "overload" | "hang") {
	const stub = {
		lease: () => {
			if (fault === "hang") return new Promise(() => {});
			return Promise.reject(
				Object.assign(
					new Error("internal: object exploded at 0xdeadbeef"),
					fault === "overload" ? { overloaded: true } : {},
				),
			);
		},
	};
	return { getByName: () => stub };
}

function limiterWith(mode: string, fault: "throw" | "overload" | "hang") {
	const vars = {
		...env,
		FAIL_MODE: mode,
		DO_TIMEOUT_MS: "50",
		TENANT_BUCKET: failingNamespace(fault),
	} as unknown as Env;
	return () =>
		worker.fetch(
			new Request("https://api.example/v1/items", { headers: { "x-tenant-id": `fail-${mode}-${fault}` } }),
			vars,
			createExecutionContext(),
		);
}

describe.each(["throw", "overload", "hang"] as const)("TenantBucket fails by %s", (fault) => {
	fakeOrigin();
	useFrozenClock(2_200_000_000_000);

	it("FAIL_MODE=open admits, marked, within the deadline", async () => {
		const started = performance.now();
		const res = await limiterWith("open", fault)();
		expect(res.status).toBe(200);
		expect(res.headers.get("X-RateLimit-Fallback")).toBe("open");
		expect(performance.now() - started).toBeLessThan(1_000);
	});

	it("FAIL_MODE=closed answers 503 problem+json with Retry-After, revealing nothing", async () => {
		const res = await limiterWith("closed", fault)();
		expect(res.status).toBe(503);
		expect(Number(res.headers.get("Retry-After"))).toBeGreaterThanOrEqual(1);
		const body = await res.text();
		expect(JSON.parse(body)).toMatchObject({
			type: "urn:problem:edge-limiter:limiter-unavailable",
			reason: "fallback",
		});
		expect(body).not.toContain("deadbeef");
	});

	it("FAIL_MODE=local limits from the isolate alone: the tier's burst, then 429", async () => {
		const send = limiterWith("local", fault);
		const statuses: number[] = [];
		for (let i = 0; i < 1_210; i++) statuses.push((await send()).status);
		expect(statuses.filter((s) => s === 200)).toHaveLength(1_200);
		expect(statuses.at(-1)).toBe(429);
	});
});

/**
 * The real TenantBucket namespace, except that once `restart()` is called the
 * next call finds its object restarting: the object is evicted (its memory is
 * gone; storage stays) and the call fails as an in-flight call does when its
 * object resets.
 */
function restartingNamespace() {
	let restartNext = false;
	return {
		restart: () => {
			restartNext = true;
		},
		getByName: (name: string) => {
			const real = env.TENANT_BUCKET.getByName(name);
			return {
				lease: async (request: Parameters<typeof real.lease>[0]) => {
					if (!restartNext) return real.lease(request);
					restartNext = false;
					await evictDurableObject(real);
					throw new Error("Durable Object reset because its code was updated.");
				},
			};
		},
	};
}

describe.each(["open", "closed", "local"] as const)("TenantBucket restarts under FAIL_MODE=%s", (mode) => {
	fakeOrigin();
	const T0 = 2_300_000_000_000;
	useFrozenClock(T0);

	it("the call in flight gets the failure policy's answer; afterwards the bucket is still drained", async () => {
		const namespace = restartingNamespace();
		const vars = { ...env, FAIL_MODE: mode, DO_TIMEOUT_MS: "50", TENANT_BUCKET: namespace } as unknown as Env;
		const send = async (cost: number) => {
			const ctx = createExecutionContext();
			const res = await worker.fetch(
				new Request("https://api.example/v1/items", {
					headers: { "x-tenant-id": `restart-${mode}`, "x-ratelimit-cost": String(cost) },
				}),
				vars,
				ctx,
			);
			await waitOnExecutionContext(ctx);
			return res;
		};
		expect((await send(1_200)).status).toBe(200);
		// Past the deny cache that the drained bucket left in the isolate.
		vi.setSystemTime(T0 + 150);
		namespace.restart();
		const started = performance.now();
		const during = await send(1);
		expect(performance.now() - started).toBeLessThan(1_000);
		// local: the isolate alone goes on from the drained bucket it last saw, not from a full one.
		expect(during.status).toBe({ open: 200, closed: 503, local: 429 }[mode]);
		if (mode !== "closed") expect(during.headers.get("X-RateLimit-Fallback")).toBe(mode);
		// After the breaker's second the object answers again, from its stored state: 150 + 1,100 ms of
		// refill at 300/s is 375 tokens, so a fresh bucket would admit a cost of 1,000 and this one must not.
		vi.setSystemTime(T0 + 1_250);
		const after = await send(1_000);
		expect(after.status).toBe(429);
		expect(after.headers.get("X-RateLimit-Fallback")).toBeNull();
		expect(after.headers.get("RateLimit")).toMatch(/^"starter";r=\d+;t=\d+$/);
	});
});
