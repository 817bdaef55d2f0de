/**
 * Problem details (RFC 9457) for every error the limiter answers with. Routes
 * throw {@link ProblemError}; the single `onError` handler turns it into a
 * response, so no stack trace or internal message ever reaches a client.
 */
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";

/** Base of the `type` URIs; documented in the README. */
export const PROBLEM_BASE = "urn:problem:edge-limiter:";

/** The body of a problem response. */
export interface Problem {
	/** Short code, expanded to `type`. */
	code: string;
	title: string;
	status: ContentfulStatusCode;
	detail?: string;
	/** Extension members (RFC 9457 §3.2). */
	[extension: string]: unknown;
}

/** Builds an `application/problem+json` response. */
export function problemResponse(problem: Problem, headers: Record<string, string> = {}): Response {
	const { code, ...rest } = problem;
	return new Response(JSON.stringify({ type: `${PROBLEM_BASE}${code}`, ...rest }), {
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
