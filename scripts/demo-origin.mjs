// The demo origin that `npm start` puts behind the limiter: it answers every
// request with a JSON description of what it received.
import { createServer } from "node:http";

/** Starts the demo origin; resolves to the server once it listens. */
export function startDemoOrigin(port = 8788, host = "127.0.0.1") {
	const server = createServer((req, res) => {
		let bytes = 0;
		req.on("data", (chunk) => {
			bytes += chunk.length;
		});
		req.on("end", () => {
			const url = new URL(req.url ?? "/", `http://${host}`);
			const body = JSON.stringify({
				origin: "demo",
				method: req.method,
				path: url.pathname,
				query: url.search,
				tenant: req.headers["x-tenant-id"] ?? null,
				bodyBytes: bytes,
			});
			res.writeHead(200, { "content-type": "application/json" });
			res.end(`${body}\n`);
		});
	});
	return new Promise((resolve, reject) => {
		server.once("error", reject);
		server.listen(port, host, () => resolve(server));
	});
}

if (import.meta.url === `file://${process.argv[1]}`) {
	const port = Number(process.env.PORT ?? 8788);
	await startDemoOrigin(port);
	console.log(`demo origin on http://127.0.0.1:${port}`);
}
