/** The benchmark's origin: answers every request with a small JSON body. */
export default {
	async fetch(request: Request): Promise<Response> {
		const url = new URL(request.url);
		return new Response(`{"ok":true,"path":${JSON.stringify(url.pathname)}}`, {
			headers: { "content-type": "application/json" },
		});
	},
};
