/**
 * Benchmark helper: Durable Object calls over HTTP between workerd processes
 * (bench/workers/remote.ts to bench/workers/do-gateway.ts). JSON, keeping two
 * things RPC keeps and JSON loses: Dates (hono-rate-limiter's reset time) and
 * non-finite numbers (a lease's retry time for a cost above the burst).
 */

/** One call: the object (namespace binding and name), the method and its arguments. */
export interface GatewayCall {
	binding: string;
	name: string;
	method: string;
	args: unknown[];
}

const TAG = "$wire";

/** `value` as text for {@link decode}. */
export function encode(value: unknown): string {
	return JSON.stringify(value, function (this: Record<string, unknown>, key, json: unknown) {
		// The holder's own value: JSON.stringify has already turned a Date into a string.
		const raw = this[key];
		if (raw instanceof Date) return { [TAG]: "date", value: raw.getTime() };
		if (typeof json === "number" && !Number.isFinite(json)) return { [TAG]: "number", value: String(json) };
		return json;
	});
}

/** What {@link encode} wrote. */
export function decode(text: string): unknown {
	return JSON.parse(text, (_, json: unknown) => {
		if (json === null || typeof json !== "object" || !(TAG in json)) return json;
		const { [TAG]: kind, value } = json as { [TAG]: string; value: number | string };
		return kind === "date" ? new Date(value) : Number(value);
	});
}
