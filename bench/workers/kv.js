// The benchmark's KV service (workerd has none built in): every tenant key
// holds the benchmark tenants' configuration, a limit no run reaches, so that
// all four workers admit everything and differ only in what admitting costs.
const TENANT = JSON.stringify({ tier: "scale", rate: 1000000, burst: 1000000 });

export default {
	async fetch(request) {
		const key = decodeURIComponent(new URL(request.url).pathname.slice(1));
		if (request.method === "GET" && key.startsWith("tenant:")) return new Response(TENANT);
		return new Response(null, { status: 404 });
	},
};
