/**
 * Per-tenant configuration from KV (`tenant:<id>` → `{"tier":"growth"}`),
 * cached in the isolate so that KV is read at most once per tenant per TTL.
 * A malformed value is logged once and ignored: the last good value, or the
 * default tier, stays in force. No `cloudflare:` imports; KV is injected.
 */
import { parseTenantConfig, policyForTier, type TenantPolicy } from "../tiers";

/** The part of a KV namespace this module uses. */
export interface KvReader {
	get(key: string): Promise<string | null>;
}

interface Cached {
	policy: TenantPolicy | null;
	/** The raw value the policy came from, so a repeated bad value is logged once. */
	raw: string | null;
	expiresAt: number;
	loading: Promise<TenantPolicy | null> | null;
}

/** KV key of a tenant's configuration. */
export function tenantKey(tenant: string): string {
	return `tenant:${tenant}`;
}

/** Isolate cache of tenant configuration. */
export class TenantConfigCache {
	readonly #cache = new Map<string, Cached>();
	readonly #now: () => number;
	readonly #maxEntries: number;

	constructor(options: { now?: () => number; maxEntries?: number } = {}) {
		this.#now = options.now ?? (() => Date.now());
		this.#maxEntries = options.maxEntries ?? 10_000;
	}

	/**
	 * The policy of `tenant`: its KV entry if there is a valid one, else the
	 * last good one, else `defaultTier`. Concurrent misses share one KV read.
	 */
	async policyFor(kv: KvReader, tenant: string, defaultTier: string, ttlMs: number): Promise<TenantPolicy> {
		const fallback = policyForTier(defaultTier) as TenantPolicy;
		const now = this.#now();
		let entry = this.#cache.get(tenant);
		if (!entry) {
			if (this.#cache.size >= this.#maxEntries) this.#cache.delete(this.#cache.keys().next().value as string);
			entry = { policy: null, raw: null, expiresAt: 0, loading: null };
			this.#cache.set(tenant, entry);
		}
		if (entry.expiresAt > now) return entry.policy ?? fallback;
		const current = entry;
		current.loading ??= this.#load(kv, tenant, current, ttlMs).finally(() => {
			current.loading = null;
		});
		return (await current.loading) ?? fallback;
	}

	async #load(kv: KvReader, tenant: string, entry: Cached, ttlMs: number): Promise<TenantPolicy | null> {
		let raw: string | null;
		try {
			raw = await kv.get(tenantKey(tenant));
		} catch (error) {
			// KV unavailable: keep what we had, try again soon.
			console.warn(`config: reading ${tenantKey(tenant)} failed: ${(error as Error).message}`);
			entry.expiresAt = this.#now() + Math.min(ttlMs, 1_000);
			return entry.policy;
		}
		entry.expiresAt = this.#now() + ttlMs;
		if (raw === null) {
			entry.policy = null;
			entry.raw = null;
			return null;
		}
		if (raw === entry.raw) return entry.policy;
		const parsed = parseTenantConfig(raw);
		if (parsed instanceof Error) {
			console.warn(`config: ignoring malformed ${tenantKey(tenant)}: ${parsed.message}`);
			entry.raw = raw;
			return entry.policy;
		}
		entry.raw = raw;
		entry.policy = policyForTier(parsed.tier, parsed.version) ?? null;
		return entry.policy;
	}
}
