/**
 * Benchmark helper: one workerd's Durable Object namespaces over HTTP, so that
 * Workers in another workerd process (bench/workers/remote.ts) call the same
 * objects, as edge machines call a Durable Object elsewhere. With `RTT_MS`,
 * every call pays that round trip: half on its way to the object, half on the
 * way back, so that the object sees the call when a distant one would.
 */
import { decode, encode, type GatewayCall } from "./wire";

interface GatewayEnv {
	RTT_MS?: string;
	[binding: string]: DurableObjectNamespace | string | undefined;
}

type Callable = Record<string, (...args: unknown[]) => Promise<unknown>>;

export default {
	async fetch(request: Request, env: GatewayEnv): Promise<Response> {
		const { binding, name, method, args } = decode(await request.text()) as GatewayCall;
		const halfTrip = Number(env.RTT_MS ?? 0) / 2;
		const namespace = env[binding];
		if (typeof namespace !== "object") return new Response(`no namespace ${binding}`, { status: 404 });
		if (halfTrip > 0) await scheduler.wait(halfTrip);
		const stub = namespace.getByName(name) as unknown as Callable;
		const value = await stub[method]?.(...args);
		if (halfTrip > 0) await scheduler.wait(halfTrip);
		return new Response(encode({ value }));
	},
};
