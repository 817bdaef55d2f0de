/**
 * The noisy-neighbour benchmark's load generator, run as its own process so
 * that each load can be pinned to the core it should disturb (or not):
 * `node --import tsx bench/load.ts '{"loads":[…],"durationS":10,"warmupS":5,"startAt":…}'`
 * prints each load's results as JSON.
 */
import { Agent, request as httpRequest } from "node:http";

/** Steady traffic of one tenant to one port. */
export interface TenantLoad {
	tenant: string;
	/** The edge isolate it goes to (statistics only). */
	isolate: number;
	rps: number;
	port: number;
}

export interface TenantResult extends TenantLoad {
	admitted_rps: number;
	/** Milliseconds from each request's due instant to its response. */
	latencies: number[];
}

/**
 * Open-loop traffic at evenly spaced instants, per tenant, all at once: each
 * tenant's admitted rate and latency (measured from the instant a request was
 * due, so a stalled generator cannot hide a slow server). autocannon's fixed
 * rate sends each second's quota in a burst, which would make every tenant's
 * requests collide at the top of each second.
 *
 * The first `warmupS` seconds are sent but not recorded: a fresh generator's
 * first second (new connections, code not yet optimised) stalls every tenant
 * at once by tens of milliseconds, which is the generator's start, not the
 * server's steady state, and alone would make up a 10-second run's p99.
 *
 * With `tickMs`, requests go out in batches every `tickMs` (each still timed
 * from its due instant): far fewer wake-ups, for a load whose latency is not
 * what is measured, such as a flood.
 */
export async function tenantLoads(
	loads: TenantLoad[],
	durationS: number,
	warmupS = 0,
	tickMs = 0,
): Promise<TenantResult[]> {
	const agents = new Map<number, Agent>();
	const agentFor = (port: number) => {
		let agent = agents.get(port);
		if (!agent) {
			agent = new Agent({ keepAlive: true, maxSockets: 64 });
			agents.set(port, agent);
		}
		return agent;
	};
	const started = performance.now();
	const measureFrom = started + warmupS * 1000;
	const end = measureFrom + durationS * 1000;
	const state = loads.map((l, i) => ({
		load: l,
		// Staggered starts, so that tenants of equal rates do not fire in lockstep.
		next: started + (i * 1000) / l.rps / loads.length,
		latencies: [] as number[],
		admitted: 0,
	}));
	const inFlight = new Set<Promise<void>>();
	const send = (s: (typeof state)[number], due: number) => {
		const measured = due >= measureFrom;
		const done = new Promise<void>((resolve) => {
			const req = httpRequest(
				{
					host: "127.0.0.1",
					port: s.load.port,
					path: "/v1/items",
					agent: agentFor(s.load.port),
					headers: { "x-tenant-id": s.load.tenant },
				},
				(res) => {
					res.resume();
					res.on("end", () => {
						if (measured) {
							s.latencies.push(performance.now() - due);
							if (res.statusCode === 200) s.admitted += 1;
						}
						resolve();
					});
				},
			);
			req.on("error", () => resolve());
			req.end();
		});
		inFlight.add(done);
		void done.then(() => inFlight.delete(done));
	};
	while (performance.now() < end) {
		const now = performance.now();
		for (const s of state) {
			while (s.next <= now && s.next < end) {
				send(s, s.next);
				s.next += 1000 / s.load.rps;
			}
		}
		// Asleep until the next request is due (or the next tick): a timer wake-up costs this machine
		// ~0.5 ms of CPU, five times a request's own cost, and the generator must not crowd its core.
		const due = tickMs > 0 ? now + tickMs : Math.min(end, ...state.map((s) => s.next));
		await new Promise((resolve) => setTimeout(resolve, Math.max(0, Math.floor(due - performance.now()))));
	}
	await Promise.all(inFlight);
	for (const agent of agents.values()) agent.destroy();
	return state.map((s) => ({ ...s.load, admitted_rps: s.admitted / durationS, latencies: s.latencies }));
}

if (import.meta.url === `file://${process.argv[1]}`) {
	const { loads, durationS, warmupS, tickMs, startAt } = JSON.parse(process.argv[2] ?? "{}") as {
		loads: TenantLoad[];
		durationS: number;
		warmupS: number;
		tickMs?: number;
		startAt: number;
	};
	// Generators of one run start together, whichever was spawned first.
	await new Promise((resolve) => setTimeout(resolve, Math.max(0, startAt - Date.now())));
	process.stdout.write(JSON.stringify(await tenantLoads(loads, durationS, warmupS, tickMs)));
}
