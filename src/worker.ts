/**
 * The edge Worker. Requests under the control prefix `/_limiter/` go to a Hono
 * app (health and the admin API); everything else is limited and forwarded
 * straight away, past the router, since that is the path every API request
 * takes. Both answer errors through one handler.
 */
import { Hono } from "hono";
import { admin } from "./admin/routes";
import { isControlPath } from "./http/control";
import { limitAndForward } from "./http/limit";
import { errorResponse, problemResponse } from "./http/problem";
import { runtimeFor } from "./runtime";
import { VERSION } from "./version";

export { BurstPool } from "./objects/burst-pool";
export { TenantBucket } from "./objects/tenant-bucket";

/** The limiter's own routes, all under the control prefix. */
const control = new Hono<{ Bindings: Env }>();

control.onError((error, c) => errorResponse(error, c.req.raw));

control.get("/_limiter/health", (c) => {
	// Validates the settings too: a misconfigured limiter is not healthy.
	runtimeFor(c.env);
	return c.json({ status: "ok", version: VERSION });
});

control.route("/_limiter/admin", admin);

// A disguised or unknown control path is answered here, never forwarded to the origin.
control.notFound(() =>
	problemResponse({ code: "not-found", title: "Not Found", status: 404, detail: "No such limiter route." }),
);

export default {
	fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
		const url = new URL(request.url);
		if (isControlPath(url.pathname)) return Promise.resolve(control.fetch(request, env, ctx));
		return limitAndForward(request, env, ctx, url);
	},
} satisfies ExportedHandler<Env>;
