/**
 * A real WebSocket origin in a few lines of `node:http`: the server side of
 * the RFC 6455 handshake, and an echo of each text message as `echo <text>`
 * in an unmasked frame. Enough for short text messages (under 64 KiB, not
 * fragmented); a close frame is answered with a close frame.
 */
import { createHash } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";

/** RFC 6455 §1.3: the GUID appended to the client's key. */
const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** A server frame: FIN, `opcode`, no mask. */
function frame(opcode: number, payload: Buffer): Buffer {
	const head =
		payload.length < 126
			? Buffer.from([0x80 | opcode, payload.length])
			: Buffer.from([0x80 | opcode, 126, payload.length >> 8, payload.length & 0xff]);
	return Buffer.concat([head, payload]);
}

/** The first whole frame in `data`, unmasked, and how many bytes it took; undefined until it is all there. */
function parseFrame(data: Buffer): { opcode: number; payload: Buffer; size: number } | undefined {
	if (data.length < 2) return undefined;
	const opcode = (data[0] as number) & 0x0f;
	const masked = ((data[1] as number) & 0x80) !== 0;
	let length = (data[1] as number) & 0x7f;
	let offset = 2;
	if (length === 126) {
		if (data.length < 4) return undefined;
		length = data.readUInt16BE(2);
		offset = 4;
	} else if (length === 127) {
		throw new Error("test origin: frames over 64 KiB are not supported");
	}
	const mask = masked ? data.subarray(offset, offset + 4) : undefined;
	if (masked) offset += 4;
	if (data.length < offset + length) return undefined;
	const payload = Buffer.from(data.subarray(offset, offset + length));
	if (mask) for (let i = 0; i < payload.length; i++) payload[i] = (payload[i] as number) ^ (mask[i % 4] as number);
	return { opcode, payload, size: offset + length };
}

/** The origin and the headers of every upgrade request it has received. */
export interface WebSocketOrigin {
	server: Server;
	url: string;
	upgrades: IncomingHttpHeaders[];
	close(): Promise<void>;
}

/** Starts the echo origin on a free port; plain requests get 200 `plain`. */
export async function startWebSocketOrigin(): Promise<WebSocketOrigin> {
	const upgrades: IncomingHttpHeaders[] = [];
	// Upgraded sockets leave the server's bookkeeping: closing it ends them here.
	const sockets = new Set<Duplex>();
	const server = createServer((_req, res) => res.end("plain"));
	server.on("upgrade", (req, socket) => {
		upgrades.push(req.headers);
		sockets.add(socket);
		socket.on("close", () => sockets.delete(socket));
		const key = req.headers["sec-websocket-key"];
		if (req.headers.upgrade?.toLowerCase() !== "websocket" || typeof key !== "string") {
			socket.end("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
			return;
		}
		const accept = createHash("sha1").update(`${key}${GUID}`).digest("base64");
		socket.write(
			`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
		);
		let buffered = Buffer.alloc(0);
		socket.on("data", (chunk: Buffer) => {
			buffered = Buffer.concat([buffered, chunk]);
			for (let next = parseFrame(buffered); next; next = parseFrame(buffered)) {
				buffered = buffered.subarray(next.size);
				if (next.opcode === 0x1) socket.write(frame(0x1, Buffer.from(`echo ${next.payload.toString("utf8")}`)));
				else if (next.opcode === 0x9) socket.write(frame(0xa, next.payload));
				else if (next.opcode === 0x8) socket.end(frame(0x8, next.payload));
			}
		});
		socket.on("error", () => socket.destroy());
	});
	await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
	return {
		server,
		url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
		upgrades,
		close: () =>
			new Promise((resolve) => {
				for (const socket of sockets) socket.destroy();
				server.closeAllConnections();
				server.close(() => resolve());
			}),
	};
}
