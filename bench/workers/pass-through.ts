/** Benchmark baseline: the limiter's own forwarding, with no limiting at all. */
import { forward } from "../../src/http/proxy";

export default {
	async fetch(request: Request, env: { ORIGIN_URL: string }): Promise<Response> {
		return forward(request, new URL(env.ORIGIN_URL));
	},
};
