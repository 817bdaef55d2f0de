/**
 * Benchmark helper: a Worker whose Durable Object bindings reach objects in
 * another workerd process through bench/workers/do-gateway.ts, as an edge
 * machine reaches a Durable Object that lives elsewhere. The Worker itself
 * runs unchanged; only the namespaces in its env are swapped.
 */
import { decode, encode, type GatewayCall } from "./wire";

/** What `remoteObjects` wraps: a Worker's fetch handler. */
interface FetchWorker<E> {
	fetch(request: Request, env: E, ctx: ExecutionContext): Response | Promise<Response>;
}

/** A stub whose every method is a POST to the gateway. */
function remoteStub(gateway: Fetcher, binding: string, name: string): unknown {
	const call = async (method: string, args: unknown[]) => {
		const body = encode({ binding, name, method, args } satisfies GatewayCall);
		const response = await gateway.fetch("http://do-gateway/", { method: "POST", body });
		if (!response.ok) throw new Error(`gateway answered ${response.status}`);
		return (decode(await response.text()) as { value: unknown }).value;
	};
	return new Proxy(
		{},
		{
			// `then` stays undefined: a stub is not a promise, whoever awaits it.
			get: (_, method) =>
				typeof method === "string" && method !== "then" ? (...args: unknown[]) => call(method, args) : undefined,
		},
	);
}

/** The parts of DurableObjectNamespace the benchmark's Workers use, by name. */
function remoteNamespace(gateway: Fetcher, binding: string) {
	return {
		idFromName: (name: string) => ({ name, toString: () => name }),
		get: (id: { name: string }) => remoteStub(gateway, binding, id.name),
		getByName: (name: string) => remoteStub(gateway, binding, name),
	};
}

/** `worker`, with the Durable Object namespaces named in `bindings` reached through `env.DO_GATEWAY`. */
export function remoteObjects<E extends object>(worker: FetchWorker<E>, bindings: (keyof E & string)[]) {
	/** One wrapped env per real one: the limiter keeps its per-isolate state keyed by env. */
	const wrapped = new WeakMap<E, E>();
	return {
		fetch(request: Request, env: E & { DO_GATEWAY: Fetcher }, ctx: ExecutionContext): Response | Promise<Response> {
			let remote = wrapped.get(env);
			if (!remote) {
				const namespaces = bindings.map((binding) => [binding, remoteNamespace(env.DO_GATEWAY, binding)]);
				remote = { ...env, ...Object.fromEntries(namespaces) } as E;
				wrapped.set(env, remote);
			}
			return worker.fetch(request, remote, ctx);
		},
	};
}
