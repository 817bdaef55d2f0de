/**
 * The edge Worker: a Hono app in front of the origin. Routes under
 * `/_limiter/` belong to the limiter; everything else is limited and forwarded.
 */
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import { admin } from "./admin/routes";
import { SettingsError } from "./config/settings";
import { type AppEnv, limitAndForward } from "./http/limit";
import { problemResponse } from "./http/problem";
import { runtimeFor } from "./runtime";
import { VERSION } from "./version";

export { BurstPool } from "./objects/burst-pool";
export { TenantBucket } from "./objects/tenant-bucket";

const app = new Hono<AppEnv>();

app.onError((error, c) => {
	if (error instanceof HTTPException) return error.getResponse();
	if (error instanceof SettingsError) {
		console.error(`limiter misconfigured: ${error.message}`);
		return problemResponse({
			code: "misconfigured",
			title: "Limiter misconfigured",
			status: 500,
			detail: "The limiter's configuration is invalid; its operator has been told.",
		});
	}
	console.error(`unhandled error on ${c.req.method} ${new URL(c.req.url).pathname}:`, error);
	return problemResponse(
		{
			code: "limiter-unavailable",
			title: "Service Unavailable",
			status: 503,
			detail: "The rate limiter could not decide; retry shortly.",
		},
		{ "Retry-After": "1" },
	);
});

app.get("/_limiter/health", (c) => {
	// Validates the settings too: a misconfigured limiter is not healthy.
	runtimeFor(c.env);
	return c.json({ status: "ok", version: VERSION });
});

app.route("/_limiter/admin", admin);

app.all("*", limitAndForward);

export default app satisfies ExportedHandler<Env>;
