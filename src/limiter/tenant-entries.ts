/**
 * The isolate's memory of tenants: an entry per tenant in use, least recently
 * used first; tenants gone idle compacted to what must not be lost (statistics
 * to report); and a cap on how many are kept.
 * Pure; the clock is passed in.
 */
import { newerView, type TenantPolicy } from "../tiers";
import type { BucketState } from "./bucket";
import type { FairShare } from "./fair-share";
import { type DenyReason, ROOMY_LEASE_TTL_MS } from "./lease";
import { newMeter, type RateMeter } from "./rate";
import { SweepBudget } from "./sweep";

/** One tenant in use: its lease, deny cache, demand, and failure state. */
export interface Entry {
	policy: TenantPolicy;
	/** Leased tokens not yet spent… */
	tokens: number;
	/** …of this lease (its id, for handing them back or keeping them), spendable until then. */
	leaseId: string | undefined;
	leaseExpiresAt: number;
	/** How long that lease lasts in all (its grantor's lease lifetime). */
	leaseMs: number;
	/** Tokens the global bucket reported left after the last grant. */
	remoteRemaining: number;
	/**
	 * After a denial, until then a request is denied here without asking the
	 * bucket if it costs at least `deniedCost`, or more than the `deniedLeft`
	 * tokens the bucket had at `deniedAt` plus what refilled since.
	 */
	denyUntil: number;
	deniedCost: number;
	deniedLeft: number;
	deniedAt: number;
	/** When the denied request could be admitted, as the bucket said. */
	retryAt: number;
	reason: DenyReason;
	demand: RateMeter;
	/** Cost of requests waiting for the refill in flight. */
	waiting: number;
	refill: Promise<void> | null;
	/** Statistics not yet reported to the bucket. */
	admitted: number;
	denied: number;
	lastUsed: number;
	/** Size of the last grant, for deciding when to fetch the next lease ahead of time. */
	lastGrant: number;
	/** While the bucket is failing: no calls until then (circuit breaker), the failure policy answers. */
	breakerUntil: number;
	/** The isolate-alone bucket of `local` failure mode. */
	fallbackBucket: BucketState | null;
	/** Fallback decisions not yet reported to the bucket. */
	fallbacks: number;
	/** Tokens admitted by `FAIL_MODE=local` not yet reported to the bucket, which debits them. */
	spent: number;
	/** The tenant's place in the isolate's weighted sharing of a contended pool ({@link FairShare}). */
	fairTime: number;
	/** The tenant's offered rate across its isolates, as its bucket last said (0: not known yet). */
	offered: number;
	/** What the fair level lets the tenant pass to a contended pool (see pool-level.ts `passes`). */
	poolCredit: number;
	/** The lease whose renewal before it expires is already planned, if any (see LocalLimiter). */
	keepAliveFor: string | undefined;
}

/** A fresh entry: no lease, nothing to report. */
export function newEntry(policy: TenantPolicy, now: number): Entry {
	return {
		policy,
		tokens: 0,
		leaseId: undefined,
		leaseExpiresAt: 0,
		leaseMs: 0,
		remoteRemaining: policy.burst,
		denyUntil: 0,
		deniedCost: 1,
		deniedLeft: 0,
		deniedAt: 0,
		retryAt: 0,
		reason: "tenant_rate",
		demand: newMeter(now),
		waiting: 0,
		refill: null,
		admitted: 0,
		denied: 0,
		lastUsed: now,
		lastGrant: 0,
		breakerUntil: 0,
		fallbackBucket: null,
		fallbacks: 0,
		spent: 0,
		fairTime: 0,
		offered: 0,
		// Half a request: neither the first nor the last of a tenant's requests in each isolate is favoured.
		poolCredit: 0.5,
		keepAliveFor: undefined,
	};
}

/**
 * What is left of a tenant that went idle: statistics to report on its next
 * call (its unspent tokens expired with its lease). Small, because an isolate
 * may have seen a great many tenants.
 */
interface Idle {
	admitted: number;
	denied: number;
	fallbacks: number;
	spent: number;
}

/** An entry is compacted once idle this long (its lease, even a long one, is over by then). */
export const IDLE_COMPACT_MS = ROOMY_LEASE_TTL_MS + 2_000;

/** A tenant in use, linked into the order of use. */
interface Slot {
	key: string;
	entry: Entry;
	/** The slot used just before this one, or null for the least recently used. */
	older: Slot | null;
	/** The slot used just after this one, or null for the most recently used. */
	newer: Slot | null;
}

/** Every tenant an isolate remembers, in use or idle. */
export class TenantEntries {
	/**
	 * Tenants in use, found by key; their order of use is a list through the
	 * slots, so that a request moves its tenant to the end without deleting and
	 * re-inserting a Map key, and sweeping reads the oldest without an iterator.
	 */
	readonly #entries = new Map<string, Slot>();
	#oldest: Slot | null = null;
	#newest: Slot | null = null;
	/** Tenants gone idle, compacted; least recently used first. */
	readonly #idle = new Map<string, Idle>();
	/** Idle entries looked at per request, least recently used first. */
	readonly #sweepBudget = new SweepBudget(2);

	/** @param maxEntries most tenants remembered at once; the least recently used go first. */
	constructor(readonly maxEntries: number) {}

	/** Number of tenants remembered, in use or idle. */
	get size(): number {
		return this.#entries.size + this.#idle.size;
	}

	/**
	 * The entry of `key`, made the most recently used; created (from what its
	 * idle remains kept, if any) when missing. A newer `policy` replaces the entry's.
	 */
	use(key: string, policy: TenantPolicy, now: number): Entry {
		this.#sweep(now);
		const slot = this.#entries.get(key);
		if (slot) {
			const { entry } = slot;
			// Usually the very policy the entry holds (the config cache hands out one object per view): no newer view.
			if (policy !== entry.policy && newerView(policy, entry.policy, now)) entry.policy = policy;
			entry.lastUsed = now;
			if (slot !== this.#newest) {
				this.#unlink(slot);
				this.#append(slot);
			}
			return entry;
		}
		const idle = this.#idle.get(key);
		if (idle) this.#idle.delete(key);
		else this.#evictFor(1);
		const entry = newEntry(policy, now);
		if (idle) {
			entry.admitted = idle.admitted;
			entry.denied = idle.denied;
			entry.fallbacks = idle.fallbacks;
			entry.spent = idle.spent;
		}
		const created: Slot = { key, entry, older: null, newer: null };
		this.#entries.set(key, created);
		this.#append(created);
		return entry;
	}

	/** The entry in use for `key`, if any, without making it the most recently used. */
	get(key: string): Entry | undefined {
		return this.#entries.get(key)?.entry;
	}

	/** Links `slot` in as the most recently used. */
	#append(slot: Slot): void {
		slot.older = this.#newest;
		slot.newer = null;
		if (this.#newest) this.#newest.newer = slot;
		else this.#oldest = slot;
		this.#newest = slot;
	}

	/** Takes `slot` out of the order of use. */
	#unlink(slot: Slot): void {
		if (slot.older) slot.older.newer = slot.newer;
		else this.#oldest = slot.newer;
		if (slot.newer) slot.newer.older = slot.older;
		else this.#newest = slot.older;
		slot.older = null;
		slot.newer = null;
	}

	/** Forgets a tenant in use. */
	#drop(slot: Slot): void {
		this.#unlink(slot);
		this.#entries.delete(slot.key);
	}

	/**
	 * Drops the least recently used tenants beyond `maxEntries`, idle ones
	 * first (their unspent tokens expire unused, which never over-admits).
	 */
	#evictFor(incoming: number): void {
		let excess = this.size + incoming - this.maxEntries;
		if (excess <= 0) return;
		for (const key of this.#idle.keys()) {
			if (excess <= 0) return;
			this.#idle.delete(key);
			excess -= 1;
		}
		for (let slot = this.#oldest; slot !== null && excess > 0; ) {
			const next = slot.newer;
			// An entry with a refill in flight has waiters holding it; it goes next time.
			if (!slot.entry.refill) {
				this.#drop(slot);
				excess -= 1;
			}
			slot = next;
		}
	}

	/** Compacts the least recently used entries that have been idle for a while. */
	#sweep(now: number): void {
		let steps = this.#sweepBudget.take(now);
		for (let slot = this.#oldest; slot !== null; slot = this.#oldest) {
			const { key, entry } = slot;
			if (steps-- <= 0 || entry.refill || now - entry.lastUsed < IDLE_COMPACT_MS || entry.denyUntil > now) return;
			this.#drop(slot);
			if (entry.admitted > 0 || entry.denied > 0 || entry.fallbacks > 0) {
				const { admitted, denied, fallbacks, spent } = entry;
				this.#idle.set(key, { admitted, denied, fallbacks, spent });
			}
		}
	}
}
