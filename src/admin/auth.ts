/**
 * Admin authentication: `Authorization: Bearer <ADMIN_TOKEN>`, compared in
 * constant time. Without an ADMIN_TOKEN secret the admin API does not exist (404).
 */
import type { MiddlewareHandler } from "hono";
import { ProblemError } from "../http/problem";

/** The Worker's environment with its optional secret. */
export type AdminEnv = Env & {
	/** Secret (`.dev.vars` locally, `wrangler secret put ADMIN_TOKEN` in production); unset turns the admin API off. */
	ADMIN_TOKEN?: string;
};

async function digest(value: string): Promise<ArrayBuffer> {
	return crypto.subtle.digest("SHA-256", new TextEncoder().encode(value));
}

/** Whether `given` equals `expected`, in time that does not depend on where they differ. */
export async function tokensMatch(given: string, expected: string): Promise<boolean> {
	// Hashing first gives equal lengths, which timingSafeEqual needs, and hides the token's length.
	const [a, b] = await Promise.all([digest(given), digest(expected)]);
	return crypto.subtle.timingSafeEqual(a, b);
}

/** Hono middleware guarding the admin routes. */
export function adminAuth(): MiddlewareHandler<{ Bindings: AdminEnv }> {
	return async function adminAuthMiddleware(c, next) {
		const expected = c.env.ADMIN_TOKEN;
		if (!expected)
			throw new ProblemError({ code: "not-found", title: "Not Found", status: 404, detail: "No such limiter route." });
		const header = c.req.header("authorization") ?? "";
		const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
		if (!match || !(await tokensMatch(match[1] as string, expected))) {
			throw new ProblemError(
				{ code: "unauthorized", title: "Unauthorized", status: 401, detail: "A valid admin bearer token is required." },
				{ "WWW-Authenticate": 'Bearer realm="limiter-admin"' },
			);
		}
		await next();
	};
}
