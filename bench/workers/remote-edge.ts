/**
 * Benchmark helper: the limiter's edge Worker, unchanged, leasing from
 * TenantBuckets in another workerd process through bench/workers/do-gateway.ts.
 */
import type { LeaseReply, LeaseRequest } from "../../src/limiter/lease";
import worker from "../../src/worker";

type RemoteEnv = Env & { DO_GATEWAY: Fetcher };

function remoteNamespace(gateway: Fetcher) {
	const stub = {
		async lease(request: LeaseRequest): Promise<LeaseReply> {
			const response = await gateway.fetch("http://do-gateway/lease", {
				method: "POST",
				body: JSON.stringify(request),
			});
			if (!response.ok) throw new Error(`gateway answered ${response.status}`);
			const reply = (await response.json()) as LeaseReply & { retryAfterMs: number | null };
			return { ...reply, retryAfterMs: reply.retryAfterMs ?? Number.POSITIVE_INFINITY };
		},
	};
	return { getByName: () => stub };
}

/** One wrapped env per real one: the limiter keeps its per-isolate state keyed by env. */
const wrapped = new WeakMap<RemoteEnv, Env>();

export default {
	fetch(request: Request, env: RemoteEnv, ctx: ExecutionContext): Response | Promise<Response> {
		let remote = wrapped.get(env);
		if (!remote) {
			remote = { ...env, TENANT_BUCKET: remoteNamespace(env.DO_GATEWAY) } as unknown as Env;
			wrapped.set(env, remote);
		}
		return worker.fetch(request, remote, ctx);
	},
};
