/**
 * API keys: issued by the admin API, shown once, stored only as their SHA-256.
 * KV layout: `apikey:<sha256 hex>` → `{"tenant": "acme", "keyId": "…"}` and
 * `apikeyid:<keyId>` → `<sha256 hex>` (for revocation by id). Isolates cache
 * lookups (a revoked key can keep working there for up to the cache TTL).
 */

/** The part of a KV namespace this module uses. */
export interface KvReader {
	get(key: string): Promise<string | null>;
}

/** What an issued key maps to. */
export interface KeyRecord {
	tenant: string;
	keyId: string;
}

/** Hex SHA-256 of a key: the only form in which keys are stored. */
export async function hashKey(key: string): Promise<string> {
	const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(key));
	return [...new Uint8Array(digest)].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** A new key and its id: `lim_<keyId>_<secret>` with 192 random bits of secret. */
export function newKey(): { keyId: string; key: string } {
	const bytes = crypto.getRandomValues(new Uint8Array(30));
	const hex = [...bytes.slice(0, 6)].map((byte) => byte.toString(16).padStart(2, "0")).join("");
	const secret = btoa(String.fromCharCode(...bytes.slice(6)))
		.replace(/\+/g, "-")
		.replace(/\//g, "_")
		.replace(/=+$/, "");
	return { keyId: hex, key: `lim_${hex}_${secret}` };
}

/** KV key of a key's record. */
export function keyRecordKey(hash: string): string {
	return `apikey:${hash}`;
}

/** KV key of a key id's hash. */
export function keyIdKey(keyId: string): string {
	return `apikeyid:${keyId}`;
}

interface Cached {
	tenant: string | null;
	expiresAt: number;
}

/** Isolate cache of key lookups, bounded, least recently stored dropped first. */
export class ApiKeyCache {
	readonly #cache = new Map<string, Cached>();
	readonly #now: () => number;
	readonly #maxEntries: number;

	constructor(options: { now?: () => number; maxEntries?: number } = {}) {
		this.#now = options.now ?? (() => Date.now());
		this.#maxEntries = options.maxEntries ?? 10_000;
	}

	/** The tenant a key belongs to, or null for an unknown or revoked key. */
	async tenantFor(kv: KvReader, key: string, ttlMs: number): Promise<string | null> {
		if (key.length > 256) return null;
		const hash = await hashKey(key);
		const now = this.#now();
		const cached = this.#cache.get(hash);
		if (cached && cached.expiresAt > now) return cached.tenant;
		let tenant: string | null = null;
		const raw = await kv.get(keyRecordKey(hash));
		if (raw !== null) {
			try {
				const record = JSON.parse(raw) as Partial<KeyRecord>;
				tenant = typeof record.tenant === "string" ? record.tenant : null;
			} catch {
				tenant = null;
			}
		}
		if (this.#cache.size >= this.#maxEntries) this.#cache.delete(this.#cache.keys().next().value as string);
		this.#cache.set(hash, { tenant, expiresAt: now + ttlMs });
		return tenant;
	}

	/** Forgets a key (after revocation in this isolate). */
	forget(hash: string): void {
		this.#cache.delete(hash);
	}
}
