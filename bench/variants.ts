/** The Workers the benchmark compares, and what each needs from workerd. */

export type VariantName = "pass-through" | "limiter" | "naive-do" | "hono-do-store" | "limiter-base";

export interface Variant {
	name: VariantName;
	entry: string;
	/** Durable Object namespaces: binding name → class. */
	objects: Record<string, string>;
	/** Whether the worker reads tenant configuration from KV. */
	kv?: boolean;
}

/** In the order they run and are reported. */
export const VARIANTS: Variant[] = [
	{ name: "pass-through", entry: "bench/workers/pass-through.ts", objects: {} },
	{
		name: "limiter",
		entry: "src/worker.ts",
		objects: { TENANT_BUCKET: "TenantBucket", BURST_POOL: "BurstPool" },
		kv: true,
	},
	{ name: "naive-do", entry: "bench/workers/naive.ts", objects: { NAIVE: "NaiveBucket" } },
	{ name: "hono-do-store", entry: "bench/workers/hono-store.ts", objects: { HRL: "CountingRateLimiter" } },
];

/** The variant called `name`. */
export function variant(name: VariantName): Variant {
	const found = VARIANTS.find((v) => v.name === name);
	if (!found) throw new Error(`no benchmark variant ${name}`);
	return found;
}
