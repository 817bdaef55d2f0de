import { afterEach, beforeEach, vi } from "vitest";

/** What the fake origin saw of one request. */
export interface OriginCall {
	url: string;
	method: string;
	headers: Record<string, string>;
	body: string;
}

/**
 * Replaces the Worker's outbound `fetch` (the Worker runs in the test's
 * isolate) with a fake origin for each test of the calling suite. Calls are
 * recorded; `respond` builds the answer.
 */
export function fakeOrigin(respond: (call: OriginCall) => Response | Promise<Response> = () => new Response("ok")) {
	const calls: OriginCall[] = [];
	beforeEach(() => {
		calls.length = 0;
		vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
			const request = new Request(input, init);
			const call: OriginCall = {
				url: request.url,
				method: request.method,
				headers: Object.fromEntries(request.headers),
				body: request.body ? await request.text() : "",
			};
			calls.push(call);
			return respond(call);
		});
	});
	afterEach(() => {
		vi.restoreAllMocks();
	});
	return calls;
}

/** Sends `count` requests at once and returns their statuses. */
export async function burst(count: number, send: () => Promise<Response>): Promise<number[]> {
	const responses = await Promise.all(Array.from({ length: count }, send));
	await Promise.all(responses.map((r) => r.body?.cancel()));
	return responses.map((r) => r.status);
}

/**
 * An origin's answer accepting a WebSocket upgrade: a 101 whose server end
 * echoes each message back as `echo <message>`.
 */
export function webSocketEcho(headers: HeadersInit = {}): Response {
	const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
	server.accept();
	server.addEventListener("message", (event) => server.send(`echo ${String(event.data)}`));
	return new Response(null, { status: 101, webSocket: client, headers });
}

/** The next message `socket` receives. */
export function nextMessage(socket: WebSocket): Promise<string> {
	return new Promise((resolve) =>
		socket.addEventListener("message", (event) => resolve(String(event.data)), { once: true }),
	);
}
