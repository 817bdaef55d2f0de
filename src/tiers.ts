/**
 * Tiers: how fast and how bursty each class of tenant may be, and how much of the
 * shared burst pool it gets when the pool is contended.
 *
 * Pure module: no `cloudflare:` imports, so the tier table is usable from the
 * Worker, the Durable Objects, the simulation and the CLI alike.
 */

/** A tier's limits. */
export interface Tier {
	/** Steady refill rate, tokens per second. */
	rate: number;
	/** Bucket capacity: the most a tenant may spend at once after being idle. */
	burst: number;
	/** Share of the burst pool under contention, relative to other active tenants. */
	weight: number;
}

/** The limits in force for one tenant, as the limiter carries them around. */
export interface TenantPolicy extends Tier {
	/** Name shown to clients in `RateLimit-Policy` (the tier's name). */
	tier: string;
	/**
	 * When the tenant's KV entry this policy comes from was read (milliseconds
	 * since the epoch), or when an operator's push takes precedence from…
	 */
	version: number;
	/**
	 * …and when the tier table it used was read. A policy replaces another only
	 * if it is no older in either and newer in one ({@link newerView}), so a
	 * stale cached view can never roll a change back, while every fresh read of
	 * KV can bring one in. Built-in defaults have both 0. @default version
	 */
	tiersVersion: number;
	/** A suspended tenant (`enabled: false`) is refused every request. @default false */
	suspended?: boolean;
	/** Configured with `rate: 0`: no per-tenant limit (the burst pool still applies). @default false */
	unlimited?: boolean;
}

/** The built-in tiers (design seed 000), plus the tier that anonymous clients get. */
export const BUILTIN_TIERS = {
	starter: { rate: 300, burst: 1200, weight: 1.0 },
	growth: { rate: 360, burst: 1440, weight: 1.2 },
	scale: { rate: 600, burst: 2400, weight: 2.0 },
	/** Clients without a tenant id, limited per client IP. */
	anonymous: { rate: 10, burst: 20, weight: 0.5 },
} as const satisfies Record<string, Tier>;

/** Tiers by name: the built-in ones, plus operators' custom tiers and overrides (KV key `tiers`). */
export type TierTable = Readonly<Record<string, Tier>>;

/** Names a custom tier may have (see {@link isTierName}). */
export const TIER_NAME = /^[a-z0-9_-]{1,32}$/;

/**
 * Whether `name` may name a tier: matches {@link TIER_NAME} and is not a
 * member of `Object.prototype` (`__proto__`, `constructor`), which a tier
 * table, being an object, could never hold as its own.
 * @example isTierName("__proto__") // false
 */
export function isTierName(name: string): boolean {
	return TIER_NAME.test(name) && !(name in Object.prototype);
}

/** Name of a built-in tier. */
export type BuiltinTierName = keyof typeof BUILTIN_TIERS;

/** The tier anonymous traffic is limited under. */
export const ANONYMOUS_TIER: BuiltinTierName = "anonymous";

/** The cross-tenant burst pool that caps everything sent to the origin. */
export const DEFAULT_BURST_POOL = { rate: 50_000, burst: 50_000 } as const;

/** Largest request cost a caller may declare. */
export const MAX_COST = 10_000;

/**
 * Looks a tier up by name.
 * @example tierByName("growth") // { rate: 360, burst: 1440, weight: 1.2 }
 */
export function tierByName(name: string, tiers: Readonly<Record<string, Tier>> = BUILTIN_TIERS): Tier | undefined {
	return Object.hasOwn(tiers, name) ? tiers[name] : undefined;
}

/**
 * The policy of a tenant on tier `name` with no per-tenant overrides.
 * @example policyForTier("starter") // { tier: "starter", rate: 300, burst: 1200, weight: 1, version: 0, tiersVersion: 0 }
 */
export function policyForTier(
	name: string,
	version = 0,
	tiers: TierTable = BUILTIN_TIERS,
	tiersVersion = version,
): TenantPolicy | undefined {
	const tier = tierByName(name, tiers);
	if (!tier) return undefined;
	// Shared objects: many tenants on one tier read in one go cost one policy, not one each.
	const key = `${name}@${version}/${tiersVersion}:${tier.rate}/${tier.burst}/${tier.weight}`;
	let policy = interned.get(key);
	if (!policy) {
		policy = Object.freeze({ tier: name, ...tier, version, tiersVersion });
		// Versions move on with every read of KV: old ones are dropped wholesale rather than kept forever.
		if (interned.size >= 1_024) interned.clear();
		interned.set(key, policy);
	}
	return policy;
}

const interned = new Map<string, TenantPolicy>();

/** Tenant configuration as stored in KV under `tenant:<id>`. */
export interface TenantConfig {
	/** Tier name; unknown names are rejected when parsing. */
	tier: string;
	/** Overrides the tier's rate for this tenant (tokens per second, 1..1,000,000; 0 means unlimited). */
	rate?: number;
	/** Overrides the tier's burst for this tenant (1..1,000,000). */
	burst?: number;
	/** `false` suspends the tenant. @default true */
	enabled?: boolean;
	/**
	 * When the admin API last wrote this entry (milliseconds since the epoch).
	 * Informational only: changes are ordered by when isolates read them, so a
	 * hand-written or absurd value cannot pin a policy. @default 0
	 */
	version: number;
}

/** Parses a JSON object, or says why it is not one. */
function jsonObject(raw: string): Record<string, unknown> | Error {
	let value: unknown;
	try {
		value = JSON.parse(raw);
	} catch {
		return new Error("not JSON");
	}
	if (typeof value !== "object" || value === null || Array.isArray(value)) return new Error("not an object");
	return value as Record<string, unknown>;
}

/**
 * Parses a KV value for a tenant. Returns an Error (never throws) so that the
 * caller can log it and keep the default or last good configuration.
 * @example parseTenantConfig('{"tier":"growth"}') // { tier: "growth", version: 0 }
 */
export function parseTenantConfig(raw: string, tiers: TierTable | null = BUILTIN_TIERS): TenantConfig | Error {
	const value = jsonObject(raw);
	if (value instanceof Error) return value;
	const { tier, version = 0, rate, burst, enabled } = value;
	// With no table (`null`), any well-formed tier name: whether it exists is the caller's to judge.
	if (typeof tier !== "string" || !(tiers === null ? isTierName(tier) : tierByName(tier, tiers))) {
		return new Error(`unknown tier ${JSON.stringify(tier)}`);
	}
	if (typeof version !== "number" || !Number.isSafeInteger(version) || version < 0) {
		return new Error("version must be a non-negative integer");
	}
	const config: TenantConfig = { tier, version };
	if (enabled !== undefined) {
		if (typeof enabled !== "boolean") return new Error("enabled must be true or false");
		config.enabled = enabled;
	}
	for (const [name, field] of [
		["rate", rate],
		["burst", burst],
	] as const) {
		if (field === undefined) continue;
		const least = name === "rate" ? 0 : 1;
		if (typeof field !== "number" || !Number.isInteger(field) || field < least || field > MAX_LIMIT) {
			return new Error(`${name} must be an integer from ${least} to ${MAX_LIMIT}`);
		}
		config[name] = field;
	}
	return config;
}

/** Largest rate or burst a tenant may be given. */
export const MAX_LIMIT = 1_000_000;

/**
 * The policy a tenant's configuration describes: its tier, with any overrides,
 * as read at `version` and `tiersVersion` (see {@link TenantPolicy.version}).
 * Undefined when the tier is not in `tiers` (a custom tier deleted since).
 * @example policyForConfig({ tier: "growth", rate: 500, version: 0 }, BUILTIN_TIERS, 3) // { tier: "growth", rate: 500, burst: 1440, weight: 1.2, version: 3, tiersVersion: 3 }
 */
export function policyForConfig(
	config: TenantConfig,
	tiers: TierTable = BUILTIN_TIERS,
	version = 0,
	tiersVersion = version,
): TenantPolicy | undefined {
	const base = policyForTier(config.tier, version, tiers, tiersVersion);
	if (!base || (config.rate === undefined && config.burst === undefined && config.enabled === undefined)) return base;
	const policy: TenantPolicy = { ...base, rate: config.rate ?? base.rate, burst: config.burst ?? base.burst };
	if (config.rate === 0) {
		// Still leased, so that a later limit or suspension reaches isolates within a lease.
		policy.rate = MAX_LIMIT;
		policy.burst = MAX_LIMIT;
		policy.unlimited = true;
	}
	if (config.enabled === false) policy.suspended = true;
	return policy;
}

/**
 * How far ahead of the clock a version may be (an operator's push is KV_SETTLE_MS ahead): one further
 * ahead was stored by an older release or a clock gone wrong, and counts as 0 so that it cannot pin a policy.
 */
export const MAX_VERSION_AHEAD_MS = 10 * 60_000;

const sane = (version: number, now: number): number => (version > now + MAX_VERSION_AHEAD_MS ? 0 : version);

/**
 * Whether `candidate` is a newer view than `current`: read no earlier in
 * either of its sources (the tenant's entry, the tier table) and later in one
 * (`orEqual`: or the same). Views read partly earlier and partly later are not
 * ordered, and the current one stays, so that no sequence of views can flap
 * between old and new: an isolate that read the tenant's entry after a change
 * but the tier table before another is overtaken once it reads the table too.
 * @example newerView({ version: 5, tiersVersion: 3 }, { version: 4, tiersVersion: 3 }, 10) // true
 * @example newerView({ version: 5, tiersVersion: 2 }, { version: 4, tiersVersion: 3 }, 10) // false
 */
export function newerView(
	candidate: Pick<TenantPolicy, "version" | "tiersVersion">,
	current: Pick<TenantPolicy, "version" | "tiersVersion">,
	now: number,
	orEqual = false,
): boolean {
	// Plain locals, not destructured pairs: the Worker asks this on every request, often before V8 optimizes it.
	const c1 = sane(candidate.version, now);
	const c2 = sane(candidate.tiersVersion ?? candidate.version, now);
	const u1 = sane(current.version, now);
	const u2 = sane(current.tiersVersion ?? current.version, now);
	return c1 >= u1 && c2 >= u2 && (orEqual || c1 > u1 || c2 > u2);
}

/** Largest tier weight. */
export const MAX_WEIGHT = 100;

/** Whether `value` is a valid tier definition. */
export function isTier(value: unknown): value is Tier {
	if (typeof value !== "object" || value === null) return false;
	const { rate, burst, weight } = value as Record<string, unknown>;
	const limit = (n: unknown) => typeof n === "number" && Number.isInteger(n) && n >= 1 && n <= MAX_LIMIT;
	return limit(rate) && limit(burst) && typeof weight === "number" && weight > 0 && weight <= MAX_WEIGHT;
}

/**
 * The tier table: built-in tiers overlaid with the KV `tiers` entry
 * (`{"gold": {"rate": 1000, "burst": 4000, "weight": 3}}`). Invalid members are
 * skipped; an unreadable entry yields an Error (the caller keeps what it had).
 */
export function parseTierTable(raw: string | null): TierTable | Error {
	if (raw === null) return BUILTIN_TIERS;
	const value = jsonObject(raw);
	if (value instanceof Error) return new Error(`tiers: ${value.message}`);
	const table: Record<string, Tier> = { ...BUILTIN_TIERS };
	for (const [name, tier] of Object.entries(value)) {
		if (isTierName(name) && isTier(tier)) table[name] = { rate: tier.rate, burst: tier.burst, weight: tier.weight };
	}
	return table;
}
