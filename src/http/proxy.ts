/**
 * Forwarding an admitted request to the origin, body streamed both ways.
 */

/** Headers that describe one connection, not the message (RFC 9110 §7.6.1), plus proxy credentials. */
const HOP_BY_HOP = [
	"connection",
	"keep-alive",
	"proxy-connection",
	"proxy-authenticate",
	"proxy-authorization",
	"te",
	"trailer",
	"transfer-encoding",
	"upgrade",
];

/** Removes hop-by-hop headers, including any that `Connection` names. */
export function stripHopByHop(headers: Headers): Headers {
	const out = new Headers(headers);
	const named = headers.get("connection");
	if (named) for (const name of named.split(",")) out.delete(name.trim());
	for (const name of HOP_BY_HOP) out.delete(name);
	return out;
}

/** The origin URL for `url`: same path and query, on the origin. */
export function originUrl(origin: URL, url: URL): URL {
	const target = new URL(origin);
	const base = target.pathname.endsWith("/") ? target.pathname.slice(0, -1) : target.pathname;
	target.pathname = `${base}${url.pathname}`;
	target.search = url.search;
	return target;
}

/** Thrown when the origin cannot be reached; answered as 502. */
export class OriginUnreachable extends Error {
	override readonly name = "OriginUnreachable";
}

/**
 * Sends `request` to the origin and returns its response with mutable
 * headers. Redirects are passed to the client, not followed.
 */
export async function forward(
	request: Request,
	origin: URL,
	url = new URL(request.url),
	set?: Record<string, string | null>,
): Promise<Response> {
	const headers = stripHopByHop(request.headers);
	headers.delete("host");
	// null removes the header.
	if (set)
		for (const [name, value] of Object.entries(set)) value === null ? headers.delete(name) : headers.set(name, value);
	const hasBody = request.method !== "GET" && request.method !== "HEAD" && request.body !== null;
	let response: Response;
	try {
		response = await fetch(originUrl(origin, url), {
			method: request.method,
			headers,
			body: hasBody ? request.body : null,
			redirect: "manual",
		});
	} catch (error) {
		throw new OriginUnreachable(error instanceof Error ? error.message : String(error));
	}
	return new Response(response.body, {
		status: response.status,
		statusText: response.statusText,
		headers: stripHopByHop(response.headers),
	});
}
