/**
 * Forwarding an admitted request to the origin: body streamed both ways, a
 * WebSocket upgrade passed through, and the client's address and host stated
 * by the limiter in headers whose client-sent values never reach the origin.
 *
 * Hand-written rather than `hono/proxy` (hono 4.13), which would change what
 * clients and origins see: it turns the origin's 101 into `new Response(body,
 * { status: 101 })`, which drops the `webSocket` (workerd refuses the status
 * without one); it removes the client's `Accept-Encoding` and the origin's
 * `Content-Encoding`, so compressed answers would reach clients uncompressed;
 * it removes the request headers that `Connection` names only in a strict mode
 * that also answers 400 to a malformed `Connection`; and it builds one more
 * `Request` per request on the path every request takes.
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

/**
 * Sets the forwarding headers from what the limiter knows, replacing whatever
 * the client sent under those names: the client IP (`CF-Connecting-IP`, set by
 * Cloudflare's edge) as `X-Forwarded-For` and `X-Real-IP` (from which Cloudflare
 * fills `CF-Connecting-IP` toward a same-zone origin), the host and scheme the
 * client asked for as `X-Forwarded-Host` and `X-Forwarded-Proto`. `Forwarded`
 * (RFC 7239), which would carry the same claims, is removed.
 */
export function setForwardingHeaders(headers: Headers, clientIp: string | null, url: URL): void {
	headers.delete("forwarded");
	if (clientIp) {
		headers.set("x-forwarded-for", clientIp);
		headers.set("x-real-ip", clientIp);
	} else {
		headers.delete("x-forwarded-for");
		headers.delete("x-real-ip");
	}
	headers.set("x-forwarded-host", url.host);
	headers.set("x-forwarded-proto", url.protocol === "http:" ? "http" : "https");
}

/** Thrown when the origin cannot be reached; answered as 502. */
export class OriginUnreachable extends Error {
	override readonly name = "OriginUnreachable";
}

/**
 * Sends `request` to the origin and returns its response with mutable
 * headers. Redirects are passed to the client, not followed. A WebSocket
 * upgrade (`GET` with `Upgrade: websocket`) is sent as one; when the origin
 * accepts it, the client gets the 101 and workerd carries the frames both ways.
 * `set` adds headers toward the origin (null removes one).
 */
export async function forward(
	request: Request,
	origin: URL,
	url = new URL(request.url),
	set?: Record<string, string | null>,
): Promise<Response> {
	const { headers: incoming } = request;
	const headers = stripHopByHop(incoming);
	headers.delete("host");
	setForwardingHeaders(headers, incoming.get("cf-connecting-ip"), url);
	// `Upgrade` is hop-by-hop, but for a WebSocket it asks workerd's fetch for one: workerd then shakes hands
	// with the origin itself (its own Sec-WebSocket-Key), as it does with the client.
	if (request.method === "GET" && incoming.get("upgrade")?.trim().toLowerCase() === "websocket")
		headers.set("upgrade", "websocket");
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
	const { webSocket } = response;
	return new Response(webSocket ? null : response.body, {
		status: response.status,
		statusText: response.statusText,
		headers: stripHopByHop(response.headers),
		webSocket,
	});
}
