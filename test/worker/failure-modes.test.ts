import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
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
