/**
 * workerd processes: started from a generated config, pinned to a core, read
 * for their CPU time and their Durable Objects' call counters, and stopped.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import workerd from "workerd";
import { buildDir } from "./build";
import { capnp, type ProcessOptions, storageDir } from "./capnp";
import { firstEdgePort, ORIGIN_PORT, STATS_PORT, TENANTS } from "./settings";
import type { Variant } from "./variants";

/**
 * Pins a command to one CPU where `taskset` exists, so that load generator and workerd do not trade cores.
 * A negative `nice` (honoured as root only) lets it preempt whatever else runs on that core.
 */
export function pinned(cpu: number, command: string, args: string[], nice = 0): [string, string[]] {
	const [niced, nicedArgs] =
		nice < 0 && process.getuid?.() === 0 ? ["nice", ["-n", String(nice), command, ...args]] : [command, args];
	return canPin() ? ["taskset", ["-c", String(cpu), niced, ...nicedArgs]] : [niced, nicedArgs];
}

/** Whether this machine has `taskset` and more than one core to pin to. */
export function canPin(): boolean {
	return existsSync("/usr/bin/taskset") && cpus().length > 1;
}

/** Starts the variant's workerd (fresh Durable Object storage) on `cpu`; resolves once its edge answers. */
export async function start(
	variant: Variant,
	script: string,
	{ cpu = 1, ...options }: ProcessOptions & { cpu?: number } = {},
): Promise<ChildProcess> {
	rmSync(storageDir(variant), { recursive: true, force: true });
	mkdirSync(storageDir(variant), { recursive: true });
	const port = firstEdgePort(options.originPort ?? ORIGIN_PORT);
	return startWorkerd(variant.name, capnp(variant, script, options), cpu, port);
}

/** Writes `text` as a workerd config and serves it on `cpu` until the edge on `port` answers. */
export async function startWorkerd(
	name: string,
	text: string,
	cpu: number,
	port: number,
	nice = 0,
): Promise<ChildProcess> {
	const file = join(buildDir, `${name}.capnp`);
	writeFileSync(file, text);
	const [command, args] = pinned(cpu, workerd.default, ["serve", "--experimental", file], nice);
	const child = spawn(command, args, { stdio: ["ignore", "ignore", "ignore"] });
	for (let i = 0; i < 100; i++) {
		await new Promise((resolve) => setTimeout(resolve, 100));
		const up = await fetch(`http://127.0.0.1:${port}/_limiter/health`).then(
			() => true,
			() => false,
		);
		if (up) return child;
	}
	child.kill();
	throw new Error(`workerd did not start for ${name}`);
}

/** Ends a workerd and waits until it has gone, so that its ports are free for the next one. */
export async function stop(child: ChildProcess): Promise<void> {
	child.kill();
	await new Promise((resolve) => child.once("exit", resolve));
}

/** CPU time (user + system) a process has used, in milliseconds. */
export function cpuMs(pid: number): number {
	const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
	const ticks = Number(fields[11]) + Number(fields[12]);
	return (ticks * 1000) / 100;
}

/** Calls the variant's objects have received for `tenants` (the TenantBuckets' or naive objects'), and the BurstPool's. */
export interface Calls {
	tenant: number;
	pool: number | null;
	/** The limiter's decisions by FAIL_MODE for `tenants`, as its isolates have reported them with later leases. */
	fallbacks: number | null;
}

/** Reads the objects' own call counters through the stats reader (bench/workers/stats.ts); null without objects. */
export async function countCalls(variant: Variant, tenants = TENANTS): Promise<Calls | null> {
	if (Object.keys(variant.objects).length === 0) return null;
	const response = await fetch(`http://127.0.0.1:${STATS_PORT}/?tenants=${tenants.join(",")}`);
	return (await response.json()) as Calls;
}
