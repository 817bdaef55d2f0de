/**
 * Per-tenant configuration from KV (`tenant:<id>` → `{"tier":"growth"}`),
 * cached in the isolate so that KV is read at most once per tenant per TTL.
 * A malformed value is logged once and ignored: the last good value, or the
 * default tier, stays in force. No `cloudflare:` imports; KV is injected.
 */

import type { Defer } from "../limiter/local";
import { SweepBudget } from "../limiter/sweep";
import {
	ANONYMOUS_TIER,
	BUILTIN_TIERS,
	parseTenantConfig,
	parseTierTable,
	policyForConfig,
	policyForTier,
	type TenantConfig,
	type TenantPolicy,
	type TierTable,
} from "../tiers";

/** The part of a KV namespace this module uses. */
export interface KvReader {
	get(key: string): Promise<string | null>;
}

interface Cached {
	/** The tenant's stored configuration, or null for "no entry: the default tier". */
	config: TenantConfig | null;
	/** When the read of `config` began (0 before the first), the newest time it is known to be current. */
	readAt: number;
	expiresAt: number;
	/** `config` under the tier table read at `tiersReadAt`; null until derived. */
	policy: TenantPolicy | null;
	tiersReadAt: number;
	/** The malformed value last read, so that it is logged once; null when the last read was fine. */
	bad: string | null;
	loading: Promise<void> | null;
}

/**
 * An expired entry is forgotten only this long after it expired: a tenant that
 * is still sending refreshes its entry first, so its last good value survives a
 * malformed update.
 */
export const FORGET_AFTER_EXPIRY_MS = 60_000;

/**
 * How long KV may go on serving a replaced value in other locations (its edge
 * caches): an operator's push outranks isolates' reads of KV for this long.
 */
export const KV_SETTLE_MS = 60_000;

/** KV key of the custom tiers and overrides of built-in ones. */
export const TIERS_KEY = "tiers";

/** KV key of a tenant's configuration. */
export function tenantKey(tenant: string): string {
	return `tenant:${tenant}`;
}

/** The tier table as last read, and when that read began. */
interface CachedTiers {
	table: TierTable;
	readAt: number;
	expiresAt: number;
	loading: Promise<TierTable> | null;
	/** The anonymous tier's policy under `table`, derived once per read. */
	anonymous: TenantPolicy | null;
}

/**
 * Isolate cache of tenant configuration. A tenant's policy is derived from two
 * KV reads, its own entry and the tier table, and carries when each began, so
 * that a view is only ever replaced by one read no earlier in both: once this
 * isolate has read both again after a change (within the TTL), its view wins
 * over every view read before the change, here and at the tenant's bucket.
 */
export class TenantConfigCache {
	/** Map order is oldest refresh first. */
	readonly #cache = new Map<string, Cached>();
	readonly #now: () => number;
	readonly #maxEntries: number;
	/** Expired entries looked at per lookup, oldest first. */
	readonly #sweepBudget = new SweepBudget(4);
	/**
	 * Until then the oldest entry cannot be forgotten, nor, being refreshed no
	 * later, any other: lookups skip the sweep's walk. Reset whenever the oldest
	 * entry changes (refreshed, forgotten, evicted).
	 */
	#quietUntil = 0;
	readonly #tiers: CachedTiers = { table: BUILTIN_TIERS, readAt: 0, expiresAt: 0, loading: null, anonymous: null };

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
	 * last good one, else `defaultTier`, under the tier table. Concurrent misses
	 * share one KV read. An entry (or tier table) that expired less than
	 * FORGET_AFTER_EXPIRY_MS ago is served as it is while KV is read again in the
	 * background (`defer` keeps that read alive), so a busy tenant never waits on
	 * KV once it has been seen: the answer is then immediate, not a promise.
	 */
	policyFor(
		kv: KvReader,
		tenant: string,
		defaultTier: string,
		ttlMs: number,
		defer?: Defer,
	): TenantPolicy | Promise<TenantPolicy> {
		const now = this.#now();
		this.#sweep(now);
		this.#refreshTiers(kv, ttlMs, now, defer);
		let entry = this.#cache.get(tenant);
		if (!entry) {
			if (this.#cache.size >= this.#maxEntries) {
				this.#cache.delete(this.#cache.keys().next().value as string);
				this.#quietUntil = 0;
			}
			entry = { config: null, readAt: 0, expiresAt: 0, policy: null, tiersReadAt: 0, bad: null, loading: null };
			this.#cache.set(tenant, entry);
		}
		if (entry.expiresAt > now) return this.#derive(entry, defaultTier);
		const current = entry;
		const stale = current.expiresAt > 0 && now < current.expiresAt + FORGET_AFTER_EXPIRY_MS;
		if (!current.loading) {
			current.loading = this.#load(kv, tenant, current, ttlMs).finally(() => {
				current.loading = null;
			});
			if (stale) defer?.waitUntil(current.loading);
		}
		if (stale) return this.#derive(current, defaultTier);
		return current.loading.then(() => this.#derive(current, defaultTier));
	}

	/**
	 * The policy of anonymous clients: the `anonymous` tier of the tier table
	 * (which an operator may override like any other), read like a tenant's.
	 */
	anonymousPolicy(kv: KvReader, ttlMs: number, defer?: Defer): TenantPolicy | Promise<TenantPolicy> {
		const tiers = this.#tiers;
		if (tiers.readAt === 0) return this.tiers(kv, ttlMs).then(() => this.#anonymous());
		this.#refreshTiers(kv, ttlMs, this.#now(), defer);
		return this.#anonymous();
	}

	/**
	 * The tier table (built-in tiers overlaid with KV's `tiers`), read at most
	 * once per TTL; an unreadable entry keeps the table in force.
	 */
	tiers(kv: KvReader, ttlMs: number): Promise<TierTable> {
		const tiers = this.#tiers;
		if (tiers.expiresAt > this.#now()) return Promise.resolve(tiers.table);
		tiers.loading ??= (async () => {
			const startedAt = this.#now();
			try {
				const parsed = parseTierTable(await kv.get(TIERS_KEY));
				if (parsed instanceof Error) console.warn(`config: ignoring malformed ${TIERS_KEY}: ${parsed.message}`);
				else {
					tiers.table = parsed;
					tiers.readAt = startedAt;
					tiers.anonymous = null;
				}
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

	/** Reads an expired tier table again in the background; policies follow it on their next lookup. */
	#refreshTiers(kv: KvReader, ttlMs: number, now: number, defer?: Defer): void {
		const tiers = this.#tiers;
		if (tiers.expiresAt > now || tiers.loading || tiers.readAt === 0) return;
		const loading = this.tiers(kv, ttlMs);
		defer?.waitUntil(loading);
	}

	/** The entry's policy under the current tier table, derived again whenever either was read anew. */
	#derive(entry: Cached, defaultTier: string): TenantPolicy {
		const tiers = this.#tiers;
		if (entry.policy !== null && entry.tiersReadAt === tiers.readAt) return entry.policy;
		const { table, readAt } = tiers;
		// A tenant whose tier is not in the table (a custom tier deleted, a typo) falls back to the default tier.
		entry.policy =
			(entry.config && policyForConfig(entry.config, table, entry.readAt, readAt)) ??
			((policyForTier(defaultTier, entry.readAt, table, readAt) ??
				policyForTier(defaultTier, entry.readAt, undefined, readAt)) as TenantPolicy);
		entry.tiersReadAt = tiers.readAt;
		return entry.policy;
	}

	#anonymous(): TenantPolicy {
		const tiers = this.#tiers;
		tiers.anonymous ??= policyForTier(ANONYMOUS_TIER, tiers.readAt, tiers.table, tiers.readAt) as TenantPolicy;
		return tiers.anonymous;
	}

	async #load(kv: KvReader, tenant: string, entry: Cached, ttlMs: number): Promise<void> {
		// The table first: the tenant's policy is derived under it.
		await this.tiers(kv, ttlMs);
		const startedAt = this.#now();
		let raw: string | null;
		try {
			raw = await kv.get(tenantKey(tenant));
		} catch (error) {
			// KV unavailable: keep what we had, try again soon.
			console.warn(`config: reading ${tenantKey(tenant)} failed: ${(error as Error).message}`);
			entry.expiresAt = this.#now() + Math.min(ttlMs, 1_000);
			return;
		}
		entry.expiresAt = this.#now() + ttlMs;
		// Refreshed: move to the back so the front holds the oldest.
		this.#cache.delete(tenant);
		this.#cache.set(tenant, entry);
		this.#quietUntil = 0;
		// Whether the tier exists is judged against the table when the policy is derived, not here.
		const parsed = raw === null ? null : parseTenantConfig(raw, null);
		if (parsed instanceof Error) {
			// The last good value stays in force, as old as it was: a malformed read is no newer view.
			if (raw !== entry.bad) console.warn(`config: ignoring malformed ${tenantKey(tenant)}: ${parsed.message}`);
			entry.bad = raw;
			return;
		}
		entry.bad = null;
		entry.config = parsed;
		entry.readAt = startedAt;
		entry.policy = null;
	}

	/** Drops a tenant's cached entry, so that the next request reads KV (after an admin change). */
	forget(tenant: string): void {
		this.#cache.delete(tenant);
		this.#quietUntil = 0;
	}

	/**
	 * Forgets entries of tenants gone quiet, oldest first. One whose last read
	 * was malformed is kept, as it holds the last good value.
	 */
	#sweep(now: number): void {
		let steps = this.#sweepBudget.take(now);
		if (now < this.#quietUntil) return;
		let first = true;
		for (const [tenant, entry] of this.#cache) {
			const forgetAt = entry.expiresAt + FORGET_AFTER_EXPIRY_MS;
			if (first && !entry.loading) this.#quietUntil = forgetAt;
			first = false;
			if (steps-- <= 0 || forgetAt > now || entry.loading) return;
			if (entry.bad === null) this.#cache.delete(tenant);
		}
	}
}
