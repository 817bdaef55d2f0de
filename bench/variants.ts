/** The Workers the benchmark compares, and what each needs from workerd. */

export type VariantName = "pass-through" | "limiter" | "naive-do" | "hono-do-store" | "limiter-base";

export interface Variant {
	name: VariantName;
	entry: string;
	/** Durable Object namespaces: binding name → class. */
	objects: Record<string, string>;
	/** Whether the worker reads tenant configuration from KV. */
	kv?: boolean;
	/** The same Worker reaching its objects in another process through the gateway (bench/workers/remote.ts). */
	remoteEntry: string;
}

/** In the order they run and are reported. */
export const VARIANTS: Variant[] = [
	{
		name: "pass-through",
		entry: "bench/workers/pass-through.ts",
		objects: {},
		remoteEntry: "bench/workers/pass-through.ts",
	},
	{
		name: "limiter",
		entry: "src/worker.ts",
		objects: { TENANT_BUCKET: "TenantBucket", BURST_POOL: "BurstPool" },
		kv: true,
		remoteEntry: "bench/workers/remote-edge.ts",
	},
	{
		name: "naive-do",
		entry: "bench/workers/naive.ts",
		objects: { NAIVE: "NaiveBucket" },
		remoteEntry: "bench/workers/remote-naive.ts",
	},
	{
		name: "hono-do-store",
		entry: "bench/workers/hono-store.ts",
		objects: { HRL: "CountingRateLimiter" },
		remoteEntry: "bench/workers/remote-hono.ts",
	},
];

/** The variant called `name`. */
export function variant(name: VariantName): Variant {
	const found = VARIANTS.find((v) => v.name === name);
	if (!found) throw new Error(`no benchmark variant ${name}`);
	return found;
}
