// Minimal types for the benchmark's untyped dependencies (installed only by `npm run bench`).
declare module "autocannon" {
	namespace autocannon {
		interface Result {
			requests: { total: number; average: number };
			latency: { p50: number; p99: number };
			"2xx": number;
			non2xx: number;
			errors: number;
			timeouts: number;
		}
		interface Options {
			url: string;
			connections?: number;
			overallRate?: number;
			duration?: number;
			headers?: Record<string, string>;
			requests?: { method?: string; headers?: Record<string, string>; path?: string }[];
		}
	}
	function autocannon(options: autocannon.Options): Promise<autocannon.Result>;
	export default autocannon;
}

declare module "workerd" {
	const workerd: { default: string; version: string; compatibilityDate: string };
	export default workerd;
}
