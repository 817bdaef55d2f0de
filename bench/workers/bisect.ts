import { Hono } from "hono";
import { isControlPath } from "../../src/http/control";
import { parseCost } from "../../src/http/cost";
import { identify } from "../../src/http/identify";
import { decisionHeaders } from "../../src/http/limit";
import { forward } from "../../src/http/proxy";
import { runtimeFor } from "../../src/runtime";

export { BurstPool } from "../../src/objects/burst-pool";
export { TenantBucket } from "../../src/objects/tenant-bucket";

const app = new Hono<{ Bindings: Env & { BISECT: string } }>();
app.all("*", async (c) => {
	const stage = Number(c.env.BISECT);
	const runtime = runtimeFor(c.env);
	const request = c.req.raw;
	const url = new URL(request.url);
	isControlPath(url.pathname);
	const identity = identify(runtime.settings.tenantSource, url, request.headers);
	parseCost(request.headers.get("x-ratelimit-cost"));
	if (stage < 2) return forward(request, runtime.settings.origin);
	const policy = await runtime.configs.policyFor(c.env.CONFIG, "bench-0", "starter", 30_000);
	if (stage < 3) return forward(request, runtime.settings.origin);
	const decision = await runtime.limiter.admit((identity as { key: string }).key, policy, 1);
	if (stage < 4) return forward(request, runtime.settings.origin);
	const { headers } = decisionHeaders(decision, runtime);
	const response = await forward(request, runtime.settings.origin);
	for (const [name, value] of Object.entries(headers)) response.headers.set(name, value);
	return response;
});
export default app;
