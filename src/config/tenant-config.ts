/**
 * Per-tenant configuration from KV (`tenant:<id>` → `{"tier":"growth"}`),
 * cached in the isolate so that KV is read at most once per tenant per TTL.
 * A malformed value is logged once and ignored: the last good value, or the
 * default tier, stays in force. No `cloudflare:` imports; KV is injected.
 */

import { SweepBudget } from "../limiter/sweep";
import {
	BUILTIN_TIERS,
	parseTenantConfig,
	parseTierTable,
	policyForConfig,
	policyForTier,
	type TenantPolicy,
	type TierTable,
} from "../tiers";

/** The part of a KV namespace this module uses. */
export interface KvReader {
	get(key: string): Promise<string | null>;
}

interface Cached {
	/** The tenant's policy from KV, or null for "no entry: the default tier". */
	policy: TenantPolicy | null;
	expiresAt: number;
	/** The malformed value last read, so that it is logged once; null when the last read was fine. */
	bad: string | null;
	loading: Promise<TenantPolicy | null> | null;
}

/**
 * An expired entry is forgotten only this long after it expired: a tenant that
 * is still sending refreshes its entry first, so its last good value survives a
 * malformed update.
 */
export const FORGET_AFTER_EXPIRY_MS = 60_000;

/** KV key of the custom tiers and overrides of built-in ones. */
export const TIERS_KEY = "tiers";

/** KV key of a tenant's configuration. */
export function tenantKey(tenant: string): string {
	return `tenant:${tenant}`;
}

/** Isolate cache of tenant configuration. */
export class TenantConfigCache {
	/** Map order is oldest refresh first. */
	readonly #cache = new Map<string, Cached>();
	readonly #now: () => number;
	readonly #maxEntries: number;
	/** Expired entries looked at per lookup, oldest first. */
	readonly #sweepBudget = new SweepBudget(4);
	readonly #tiers: { table: TierTable; expiresAt: number; loading: Promise<TierTable> | null } = {
		table: BUILTIN_TIERS,
		expiresAt: 0,
		loading: null,
	};

	constructor(options: { now?: () => number; maxEntries?: number } = {}) {
		this.#now = options.now ?? (() => Date.now());
		this.#maxEntries = options.maxEntries ?? 10_000;
	}

	/** Number of tenants cached. */
	get size(): number {
		return this.#cache.size;
	}

	/**
	 * The policy of `tenant`: its KV entry if there is a valid one, else the
	 * last good one, else `defaultTier`. Concurrent misses share one KV read.
	 * An entry that expired less than FORGET_AFTER_EXPIRY_MS ago is served as it
	 * is while KV is read again in the background (`defer` keeps that read
	 * alive), so a busy tenant never waits on KV once it has been seen: the
	 * answer is then immediate, not a promise.
	 */
	policyFor(
		kv: KvReader,
		tenant: string,
		defaultTier: string,
		ttlMs: number,
		defer?: (work: Promise<unknown>) => void,
	): TenantPolicy | Promise<TenantPolicy> {
		const now = this.#now();
		this.#sweep(now);
		let entry = this.#cache.get(tenant);
		if (!entry) {
			if (this.#cache.size >= this.#maxEntries) this.#cache.delete(this.#cache.keys().next().value as string);
			entry = { policy: null, expiresAt: 0, bad: null, loading: null };
			this.#cache.set(tenant, entry);
		}
		if (entry.expiresAt > now) return entry.policy ?? this.#fallback(defaultTier);
		const current = entry;
		const stale = current.expiresAt > 0 && now < current.expiresAt + FORGET_AFTER_EXPIRY_MS;
		if (!current.loading) {
			current.loading = this.#load(kv, tenant, current, ttlMs).finally(() => {
				current.loading = null;
			});
			if (stale) defer?.(current.loading);
		}
		if (stale) return current.policy ?? this.#fallback(defaultTier);
		return current.loading.then((policy) => policy ?? this.#fallback(defaultTier));
	}

	/**
	 * The tier table (built-in tiers overlaid with KV's `tiers`), read at most
	 * once per TTL; an unreadable entry keeps the table in force.
	 */
	tiers(kv: KvReader, ttlMs: number): Promise<TierTable> {
		const tiers = this.#tiers;
		if (tiers.expiresAt > this.#now()) return Promise.resolve(tiers.table);
		tiers.loading ??= (async () => {
			try {
				const parsed = parseTierTable(await kv.get(TIERS_KEY));
				if (parsed instanceof Error) console.warn(`config: ignoring malformed ${TIERS_KEY}: ${parsed.message}`);
				else tiers.table = parsed;
			} catch (error) {
				console.warn(`config: reading ${TIERS_KEY} failed: ${(error as Error).message}`);
			}
			tiers.expiresAt = this.#now() + ttlMs;
			return tiers.table;
		})().finally(() => {
			tiers.loading = null;
		});
		return tiers.loading;
	}

	/** Drops the cached tier table, so that the next lookup reads KV (after an admin change). */
	forgetTiers(): void {
		this.#tiers.expiresAt = 0;
	}

	#fallback(defaultTier: string): TenantPolicy {
		return (policyForTier(defaultTier, 0, this.#tiers.table) ?? policyForTier(defaultTier)) as TenantPolicy;
	}

	async #load(kv: KvReader, tenant: string, entry: Cached, ttlMs: number): Promise<TenantPolicy | null> {
		const tiers = await this.tiers(kv, ttlMs);
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
		// Refreshed: move to the back so the front holds the oldest.
		this.#cache.delete(tenant);
		this.#cache.set(tenant, entry);
		if (raw === null) {
			entry.policy = null;
			entry.bad = null;
			return null;
		}
		const parsed = parseTenantConfig(raw, tiers);
		if (parsed instanceof Error) {
			if (raw !== entry.bad) console.warn(`config: ignoring malformed ${tenantKey(tenant)}: ${parsed.message}`);
			entry.bad = raw;
			return entry.policy;
		}
		entry.bad = null;
		entry.policy = policyForConfig(parsed, tiers) ?? null;
		return entry.policy;
	}

	/** Drops a tenant's cached entry, so that the next request reads KV (after an admin change). */
	forget(tenant: string): void {
		this.#cache.delete(tenant);
	}

	/**
	 * Forgets entries of tenants gone quiet, oldest first. One whose last read
	 * was malformed is kept, as it holds the last good value.
	 */
	#sweep(now: number): void {
		let steps = this.#sweepBudget.take(now);
		for (const [tenant, entry] of this.#cache) {
			if (steps-- <= 0 || entry.expiresAt + FORGET_AFTER_EXPIRY_MS > now || entry.loading) return;
			if (entry.bad === null) this.#cache.delete(tenant);
		}
	}
}
