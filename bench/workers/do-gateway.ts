/**
 * Benchmark helper: the TenantBucket namespace over HTTP, so that edge
 * isolates in another workerd process (on the other core) lease from the same
 * objects, as edge machines do from a Durable Object elsewhere.
 */
import type { LeaseRequest } from "../../src/limiter/lease";
import type { TenantBucket } from "../../src/objects/tenant-bucket";

export default {
	async fetch(request: Request, env: { TENANT_BUCKET: DurableObjectNamespace<TenantBucket> }): Promise<Response> {
		const lease = (await request.json()) as LeaseRequest;
		const reply = await env.TENANT_BUCKET.getByName(lease.key).lease(lease);
		// JSON has no Infinity (a cost above a burst is never admissible).
		return Response.json({ ...reply, retryAfterMs: Number.isFinite(reply.retryAfterMs) ? reply.retryAfterMs : null });
	},
};
