/**
 * The benchmark's KV service (workerd has none built in). The throughput
 * tenants get a limit no run reaches, so that all four workers admit everything
 * and differ only in what admitting costs; the noisy-neighbour run's tenants
 * get real tiers.
 */
const UNLIMITED = JSON.stringify({ tier: "scale", rate: 1000000, burst: 1000000 });
const CONFIGS: Record<string, string> = {
	"tenant:noisy": JSON.stringify({ tier: "starter" }),
};

export default {
	async fetch(request: Request): Promise<Response> {
		const key = decodeURIComponent(new URL(request.url).pathname.slice(1));
		if (request.method !== "GET" || !key.startsWith("tenant:")) return new Response(null, { status: 404 });
		if (key.startsWith("tenant:quiet-")) return new Response(JSON.stringify({ tier: "growth" }));
		return new Response(CONFIGS[key] ?? UNLIMITED);
	},
};
