/**
 * The Worker's settings, read from its environment ([vars] in wrangler.toml,
 * `.dev.vars` locally) and validated once per isolate. Pure.
 */

import { DEFAULT_HEADER_FLAVOURS, type HeaderFlavours } from "../http/headers";
import { parseTenantSource, type TenantSource } from "../http/identify";
import type { BucketPolicy } from "../limiter/bucket";
import type { FailMode } from "../limiter/failure-policy";
import { DEFAULT_POOL_SHARDS } from "../limiter/pool-shards";
import { DEFAULT_BURST_POOL, tierByName } from "../tiers";

/** Validated settings. */
export interface Settings {
	/** `ORIGIN_URL`: where admitted requests are sent. Required. */
	origin: URL;
	/** `TENANT_SOURCE`. @default header:x-tenant-id */
	tenantSource: TenantSource;
	/** `ANONYMOUS`: `limit` per client IP under the anonymous tier, or `reject` with 401. @default limit */
	anonymous: "limit" | "reject";
	/** `DEFAULT_TIER`: the tier of tenants without a KV entry. @default starter */
	defaultTier: string;
	/** `CONFIG_TTL_S`: how long an isolate caches a tenant's KV entry, in ms. @default 30 s */
	configTtlMs: number;
	/** `POOL_RATE` / `POOL_BURST`: the burst pool. @default 50000 / 50000 */
	pool: BucketPolicy;
	/** `POOL_SHARDS`: Durable Objects the burst pool is split into (1–256). @default 8 */
	poolShards: number;
	/** `COST_HEADER`: request header declaring a request's cost. @default x-ratelimit-cost */
	costHeader: string;
	/** `FAIL_MODE`: what to do when a Durable Object cannot answer: open, closed or local. @default local */
	failMode: FailMode;
	/** `DO_TIMEOUT_MS`: how long a request waits for a Durable Object. @default 50 */
	timeoutMs: number;
	/** `RATELIMIT_HEADERS`: comma list of `draft10`, `draft7`, `legacy` (not draft10 with draft7). @default draft7,legacy */
	rateLimitHeaders: Readonly<HeaderFlavours>;
	/** `ANON_IPV4_PREFIX`: anonymous IPv4 clients share a bucket per network of this many bits (1–32). @default 32 */
	anonIpv4Prefix: number;
	/** `ANON_IPV6_PREFIX`: anonymous IPv6 clients share a bucket per network of this many bits (1–128). @default 64 */
	anonIpv6Prefix: number;
	/**
	 * `FORWARD_API_KEY`: whether the origin receives the API key (`Authorization` /
	 * `x-api-key`) in api-key mode; it always receives `x-tenant-id`. @default true
	 */
	forwardApiKey: boolean;
}

/** The variables settings are read from; all optional but ORIGIN_URL. */
export type SettingsEnv = Partial<
	Record<
		| "ORIGIN_URL"
		| "TENANT_SOURCE"
		| "ANONYMOUS"
		| "DEFAULT_TIER"
		| "CONFIG_TTL_S"
		| "POOL_RATE"
		| "POOL_BURST"
		| "POOL_SHARDS"
		| "COST_HEADER"
		| "FAIL_MODE"
		| "DO_TIMEOUT_MS"
		| "RATELIMIT_HEADERS"
		| "ANON_IPV4_PREFIX"
		| "ANON_IPV6_PREFIX"
		| "FORWARD_API_KEY",
		string
	>
>;

/** Thrown for a setting that cannot work; the message names it. */
export class SettingsError extends Error {
	override readonly name = "SettingsError";
}

function positiveNumber(name: string, raw: string | undefined, fallback: number): number {
	if (raw === undefined || raw === "") return fallback;
	const value = Number(raw);
	if (!Number.isFinite(value) || value <= 0)
		throw new SettingsError(`${name} must be a positive number, got ${JSON.stringify(raw)}`);
	return value;
}

function integerUpTo(name: string, raw: string | undefined, fallback: number, most: number): number {
	if (raw === undefined || raw === "") return fallback;
	const value = Number(raw);
	if (!Number.isInteger(value) || value < 1 || value > most)
		throw new SettingsError(`${name} must be an integer from 1 to ${most}, got ${JSON.stringify(raw)}`);
	return value;
}

/** Validates the environment; throws {@link SettingsError} naming the first bad variable. */
export function parseSettings(env: SettingsEnv): Settings {
	let origin: URL;
	try {
		origin = new URL(env.ORIGIN_URL ?? "");
	} catch {
		throw new SettingsError(`ORIGIN_URL must be an absolute URL, got ${JSON.stringify(env.ORIGIN_URL)}`);
	}
	if (origin.protocol !== "http:" && origin.protocol !== "https:")
		throw new SettingsError("ORIGIN_URL must be http(s)");
	let tenantSource: TenantSource;
	try {
		tenantSource = parseTenantSource(env.TENANT_SOURCE || "header:x-tenant-id");
	} catch (error) {
		throw new SettingsError((error as Error).message);
	}
	const anonymous = env.ANONYMOUS || "limit";
	if (anonymous !== "limit" && anonymous !== "reject") throw new SettingsError(`ANONYMOUS must be limit or reject`);
	const defaultTier = env.DEFAULT_TIER || "starter";
	if (!tierByName(defaultTier)) throw new SettingsError(`DEFAULT_TIER: unknown tier ${JSON.stringify(defaultTier)}`);
	const costHeader = (env.COST_HEADER || "x-ratelimit-cost").toLowerCase();
	const failMode = env.FAIL_MODE || "local";
	if (failMode !== "open" && failMode !== "closed" && failMode !== "local") {
		throw new SettingsError("FAIL_MODE must be open, closed or local");
	}
	const forwardApiKey = env.FORWARD_API_KEY || "true";
	if (forwardApiKey !== "true" && forwardApiKey !== "false")
		throw new SettingsError("FORWARD_API_KEY must be true or false");
	return {
		origin,
		tenantSource,
		anonymous,
		defaultTier,
		configTtlMs: positiveNumber("CONFIG_TTL_S", env.CONFIG_TTL_S, 30) * 1000,
		pool: parsePoolPolicy(env),
		poolShards: parsePoolShards(env),
		costHeader,
		failMode,
		timeoutMs: positiveNumber("DO_TIMEOUT_MS", env.DO_TIMEOUT_MS, 50),
		rateLimitHeaders: parseHeaderFlavours(env.RATELIMIT_HEADERS),
		anonIpv4Prefix: integerUpTo("ANON_IPV4_PREFIX", env.ANON_IPV4_PREFIX, 32, 32),
		anonIpv6Prefix: integerUpTo("ANON_IPV6_PREFIX", env.ANON_IPV6_PREFIX, 64, 128),
		forwardApiKey: forwardApiKey === "true",
	};
}

/** How many shards the burst pool is split into, from `POOL_SHARDS`. */
export function parsePoolShards(env: SettingsEnv): number {
	return integerUpTo("POOL_SHARDS", env.POOL_SHARDS, DEFAULT_POOL_SHARDS, 256);
}

/** The burst pool's rate and burst from `POOL_RATE` / `POOL_BURST`. */
export function parsePoolPolicy(env: SettingsEnv): BucketPolicy {
	return {
		rate: positiveNumber("POOL_RATE", env.POOL_RATE, DEFAULT_BURST_POOL.rate),
		burst: positiveNumber("POOL_BURST", env.POOL_BURST, DEFAULT_BURST_POOL.burst),
	};
}

/**
 * The header flavours of `RATELIMIT_HEADERS`; unset means the default.
 * @example parseHeaderFlavours("draft10, legacy") // { draft10: true, draft7: false, legacy: true }
 */
export function parseHeaderFlavours(raw: string | undefined): Readonly<HeaderFlavours> {
	if (raw === undefined) return DEFAULT_HEADER_FLAVOURS;
	const flavours: HeaderFlavours = { draft10: false, draft7: false, legacy: false };
	for (const item of raw.split(",")) {
		const name = item.trim().toLowerCase();
		if (!Object.hasOwn(flavours, name)) {
			throw new SettingsError(
				`RATELIMIT_HEADERS must list draft10, draft7 or legacy, got ${JSON.stringify(item.trim())} in ${JSON.stringify(raw)}`,
			);
		}
		flavours[name as keyof HeaderFlavours] = true;
	}
	// Both are a field named RateLimit, in syntaxes that cannot share it.
	if (flavours.draft10 && flavours.draft7)
		throw new SettingsError("RATELIMIT_HEADERS cannot list both draft10 and draft7");
	return flavours;
}
