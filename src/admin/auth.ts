/**
 * Admin authentication: `Authorization: Bearer <ADMIN_TOKEN>` through
 * `hono/bearer-auth`, the token compared in constant time. Without an
 * ADMIN_TOKEN secret the admin API does not exist (404).
 */
import type { MiddlewareHandler } from "hono";
import { bearerAuth } from "hono/bearer-auth";
import { SettingsError } from "../config/settings";
import { ProblemError, problemResponse } from "../http/problem";

/** The Worker's environment with its optional secret. */
export type AdminEnv = Env & {
	/** Secret (`.dev.vars` locally, `wrangler secret put ADMIN_TOKEN` in production); unset turns the admin API off. */
	ADMIN_TOKEN?: string;
};

/** The realm of the admin API's `WWW-Authenticate` challenge. */
const REALM = "limiter-admin";

/** What a bearer token may contain (RFC 6750 §2.1, as `hono/bearer-auth` checks it). */
const TOKEN68 = /^[A-Za-z0-9._~+/-]+=*$/;

async function digest(value: string): Promise<ArrayBuffer> {
	return crypto.subtle.digest("SHA-256", new TextEncoder().encode(value));
}

/** Whether `given` equals `expected`, in time that does not depend on where they differ. */
export async function tokensMatch(given: string, expected: string): Promise<boolean> {
	// Hashing first gives equal lengths, which timingSafeEqual needs, and hides the token's length.
	const [a, b] = await Promise.all([digest(given), digest(expected)]);
	return crypto.subtle.timingSafeEqual(a, b);
}

/** The 401 body; `hono/bearer-auth` adds the `WWW-Authenticate` challenge. */
function unauthorized(): Response {
	return problemResponse({
		code: "unauthorized",
		title: "Unauthorized",
		status: 401,
		detail: "A valid admin bearer token is required.",
	});
}

// Every refusal is a 401 problem: no token or another scheme gets the bare challenge (RFC 6750 §3.1),
// a wrong token the challenge with error="invalid_token".
const bearer = bearerAuth<{ Bindings: AdminEnv }>({
	realm: REALM,
	verifyToken: (token, c) => tokensMatch(token, c.env.ADMIN_TOKEN as string),
	noAuthenticationHeader: { message: unauthorized },
	invalidAuthenticationHeader: { message: unauthorized, wwwAuthenticateHeader: `Bearer realm="${REALM}"` },
	invalidToken: { message: unauthorized, wwwAuthenticateHeader: `Bearer realm="${REALM}", error="invalid_token"` },
});

/** Hono middleware guarding the admin routes. */
export function adminAuth(): MiddlewareHandler<{ Bindings: AdminEnv }> {
	return async function adminAuthMiddleware(c, next) {
		const expected = c.env.ADMIN_TOKEN;
		if (!expected)
			throw new ProblemError({ code: "not-found", title: "Not Found", status: 404, detail: "No such limiter route." });
		if (!TOKEN68.test(expected)) {
			// No request could ever carry it: a 500 whose reason goes to the log (the one error handler), not to callers.
			throw new SettingsError(
				"ADMIN_TOKEN must be letters, digits and -._~+/ (base64 or hex, e.g. `openssl rand -base64 32`)",
			);
		}
		return bearer(c, next);
	};
}
