/**
 * workerd configurations (Cap'n Proto text), generated per run: which
 * services a process holds, what each is bound to, and the ports they serve.
 */
import { join, relative } from "node:path";
import { buildDir } from "./build";
import {
	COMPATIBILITY_DATE,
	firstEdgePort,
	GATEWAY_PORT,
	ISOLATES,
	ORIGIN_PORT,
	REMOTE_FIRST_PORT,
	REMOTE_ORIGIN_PORT,
	STATS_PORT,
} from "./settings";
import type { Variant } from "./variants";

/** Paths in a workerd config are relative to the config file. */
const embed = (file: string) => `embed ${JSON.stringify(relative(buildDir, file))}`;
const text = (name: string, value: string) => `(name = ${JSON.stringify(name)}, text = ${JSON.stringify(value)})`;
const simpleWorker = (name: string, file: string, bindings: string[] = []) =>
	`(name = ${JSON.stringify(name)}, worker = (modules = [(name = "${name}.js", esModule = ${embed(file)})], compatibilityDate = "${COMPATIBILITY_DATE}", bindings = [${bindings.join(", ")}]))`;
const config = (services: string[], sockets: string[]) =>
	`using Workerd = import "/workerd/workerd.capnp";\nconst config :Workerd.Config = (\n  services = [\n    ${services.join(",\n    ")}\n  ],\n  sockets = [\n    ${sockets.join(",\n    ")}\n  ]\n);\n`;
const socket = (name: string, port: number) =>
	`(name = ${JSON.stringify(name)}, address = "127.0.0.1:${port}", http = (), service = ${JSON.stringify(name)})`;

/**
 * The deadline the throughput and noisy-neighbour runs give lease calls: they measure the lease path, and a
 * saturated core must not turn slow lease calls into FAIL_MODE fallbacks (which are tested on their own).
 */
const PATIENT_DO_TIMEOUT_MS = 10_000;

/**
 * The edge's variables; `doTimeoutMs` null leaves DO_TIMEOUT_MS at the Worker's default, as deployed.
 * Only the limiter reads tenant configuration from KV.
 */
const edgeVars = (variant: Variant, originPort: number, doTimeoutMs: number | null = PATIENT_DO_TIMEOUT_MS) => [
	text("ORIGIN_URL", `http://127.0.0.1:${originPort}`),
	text("TENANT_SOURCE", "header:x-tenant-id"),
	...(doTimeoutMs === null ? [] : [text("DO_TIMEOUT_MS", String(doTimeoutMs))]),
	...(variant.kv ? [`(name = "CONFIG", kvNamespace = "kv")`] : []),
];

/**
 * A fresh directory for the variant's Durable Object storage, on disk: a
 * Durable Object's write is durable before its reply leaves (output gates), and
 * a synced local write is the closest this machine has to that cost.
 */
export function storageDir(variant: Variant): string {
	return join(buildDir, `storage-${variant.name}`);
}

/** Where a process's ports start, and whether it serves its objects to another process. */
export interface ProcessOptions {
	/** Ports count up from it as ORIGIN_PORT's do. @default ORIGIN_PORT */
	originPort?: number;
	/** The bundled bench/workers/do-gateway.ts: the variant's namespaces over HTTP on GATEWAY_PORT. */
	gateway?: string;
	/** The round trip each gateway call pays, in ms. @default 0 */
	rttMs?: number;
}

/**
 * A workerd config: origin, KV, the objects' service, N edge services, and the
 * stats reader; with a gateway, also the variant's namespaces over HTTP.
 */
export function capnp(
	variant: Variant,
	script: string,
	{ originPort = ORIGIN_PORT, gateway, rttMs = 0 }: ProcessOptions = {},
): string {
	const vars = edgeVars(variant, originPort);
	const objects = (service: string | null) =>
		Object.entries(variant.objects).map(
			([binding, className]) =>
				`(name = ${JSON.stringify(binding)}, durableObjectNamespace = (className = ${JSON.stringify(className)}${
					service ? `, serviceName = ${JSON.stringify(service)}` : ""
				}))`,
		);
	const worker = (bindings: string[], extra = "") =>
		`(modules = [(name = "worker.js", esModule = ${embed(script)})], compatibilityDate = "${COMPATIBILITY_DATE}", bindings = [${bindings.join(", ")}], globalOutbound = "net"${extra})`;
	const namespaces = Object.values(variant.objects)
		.map(
			(className) =>
				`(className = ${JSON.stringify(className)}, uniqueKey = ${JSON.stringify(`bench-${className}`)}, enableSql = true)`,
		)
		.join(", ");
	const services = [
		simpleWorker("origin", join(buildDir, "origin.js")),
		simpleWorker("kv", join(buildDir, "kv.js")),
		`(name = "net", network = (allow = ["public", "private", "local"]))`,
		`(name = "do-disk", disk = (path = ${JSON.stringify(storageDir(variant))}, writable = true))`,
		`(name = "objects", worker = ${worker([...vars, ...objects(null)], `, durableObjectNamespaces = [${namespaces}], durableObjectStorage = (localDisk = "do-disk")`)})`,
		simpleWorker("stats", join(buildDir, "stats.js"), objects("objects")),
		...Array.from(
			{ length: ISOLATES },
			(_, i) => `(name = "edge-${i}", worker = ${worker([...vars, ...objects("objects")])})`,
		),
	];
	const sockets = [
		socket("origin", originPort),
		socket("stats", originPort + (STATS_PORT - ORIGIN_PORT)),
		...Array.from({ length: ISOLATES }, (_, i) => socket(`edge-${i}`, firstEdgePort(originPort) + i)),
	];
	if (gateway) {
		services.push(simpleWorker("do-gateway", gateway, [text("RTT_MS", String(rttMs)), ...objects("objects")]));
		sockets.push(socket("do-gateway", GATEWAY_PORT));
	}
	return config(services, sockets);
}

/**
 * The split layouts' second workerd: its own origin and N edge isolates running
 * `script`, a Worker that reaches the first process's objects through the
 * gateway (bench/workers/remote.ts).
 */
export function capnpRemote(variant: Variant, script: string, doTimeoutMs?: number | null): string {
	const bindings = [
		...edgeVars(variant, REMOTE_ORIGIN_PORT, doTimeoutMs),
		`(name = "DO_GATEWAY", service = "do-gateway")`,
	];
	const services = [
		simpleWorker("origin", join(buildDir, "origin.js")),
		simpleWorker("kv", join(buildDir, "kv.js")),
		`(name = "net", network = (allow = ["public", "private", "local"]))`,
		`(name = "do-gateway", external = (address = "127.0.0.1:${GATEWAY_PORT}", http = ()))`,
		...Array.from(
			{ length: ISOLATES },
			(_, i) =>
				`(name = "edge-${i}", worker = (modules = [(name = "worker.js", esModule = ${embed(script)})], compatibilityDate = "${COMPATIBILITY_DATE}", bindings = [${bindings.join(", ")}], globalOutbound = "net"))`,
		),
	];
	const sockets = [
		socket("origin", REMOTE_ORIGIN_PORT),
		...Array.from({ length: ISOLATES }, (_, i) => socket(`edge-${i}`, REMOTE_FIRST_PORT + i)),
	];
	return config(services, sockets);
}
