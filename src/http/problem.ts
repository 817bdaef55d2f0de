/**
 * Problem details (RFC 9457) for every error the limiter answers with. Routes
 * throw {@link ProblemError}; the single `onError` handler turns it into a
 * response, so no stack trace or internal message ever reaches a client.
 */
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { SettingsError } from "../config/settings";
import { retryAfter } from "./headers";

/** Base of the `type` URIs; documented in the README. */
export const PROBLEM_BASE = "urn:problem:edge-limiter:";

/**
 * The problem type the ratelimit-headers draft registers for requests over a
 * quota policy (draft-ietf-httpapi-ratelimit-headers-10 §5.1).
 */
export const QUOTA_EXCEEDED = "https://iana.org/assignments/http-problem-types#quota-exceeded";

/** The body of a problem response. */
export interface Problem {
	/** Short code, expanded to `type`. */
	code: string;
	/** A registered type URI that fits the problem, used instead of the one `code` expands to. */
	type?: string;
	title: string;
	status: ContentfulStatusCode;
	detail?: string;
	/** Extension members (RFC 9457 §3.2). */
	[extension: string]: unknown;
}

/** Builds an `application/problem+json` response. */
export function problemResponse(problem: Problem, headers: Record<string, string> = {}): Response {
	const { code, type = `${PROBLEM_BASE}${code}`, ...rest } = problem;
	return new Response(JSON.stringify({ type, ...rest }), {
		status: problem.status,
		headers: { ...headers, "Content-Type": "application/problem+json", "Cache-Control": "no-store" },
	});
}

/** An error that is answered as a problem response. */
export class ProblemError extends HTTPException {
	constructor(problem: Problem, headers: Record<string, string> = {}) {
		super(problem.status, { res: problemResponse(problem, headers), message: problem.title });
	}
}

/** The one error handler: a problem response, never a stack trace or an internal message. */
export function errorResponse(error: unknown, request: Request): Response {
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
	console.error(`unhandled error on ${request.method} ${new URL(request.url).pathname}:`, error);
	return problemResponse(
		{
			code: "limiter-unavailable",
			title: "Service Unavailable",
			status: 503,
			detail: "The rate limiter could not decide; retry shortly.",
		},
		retryAfter(1),
	);
}
