/**
 * API keys and path credentials: issued by the admin API and shown once, or
 * imported (bot tokens, keys issued elsewhere); stored only as their SHA-256.
 * KV layout: `apikey:<sha256 hex>` → `{"tenant": "acme", "keyId": "…"}` and
 * `apikeyid:<keyId>` → `<sha256 hex>` (for revocation by id). Isolates cache
 * lookups (a revoked key can keep working there for up to the cache TTL).
 */

import type { KvReader } from "./tenant-config";

/** What an issued key maps to. */
export interface KeyRecord {
	tenant: string;
	keyId: string;
}

function hex(bytes: Uint8Array): string {
	return [...bytes].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** Hex SHA-256 of a key: the only form in which keys are stored. */
export async function hashKey(key: string): Promise<string> {
	return hex(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(key))));
}

/**
 * What a key may look like, issued here or imported (a bot token, a key
 * issued elsewhere): printable ASCII without spaces or commas (a comma is how
 * repeated headers are joined), 8 to 256 characters.
 */
export const CREDENTIAL = /^[\x21-\x2b\x2d-\x7e]{8,256}$/;

/** A new key and its id: `lim_<keyId>_<secret>` with 192 random bits of secret. */
export function newKey(): { keyId: string; key: string } {
	const bytes = crypto.getRandomValues(new Uint8Array(30));
	const keyId = hex(bytes.slice(0, 6));
	const secret = btoa(String.fromCharCode(...bytes.slice(6)))
		.replace(/\+/g, "-")
		.replace(/\//g, "_")
		.replace(/=+$/, "");
	return { keyId, key: `lim_${keyId}_${secret}` };
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

	/**
	 * What this isolate remembers of the key with this hash: its tenant, null
	 * for unknown or revoked, undefined when it must be read from KV. No I/O.
	 */
	cached(hash: string): string | null | undefined {
		const cached = this.#cache.get(hash);
		return cached && cached.expiresAt > this.#now() ? cached.tenant : undefined;
	}

	/** Reads the key with this hash from KV and remembers the answer for `ttlMs`. */
	async load(kv: KvReader, hash: string, ttlMs: number): Promise<string | null> {
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
		this.#cache.set(hash, { tenant, expiresAt: this.#now() + ttlMs });
		return tenant;
	}

	/** Forgets a key (after revocation in this isolate). */
	forget(hash: string): void {
		this.#cache.delete(hash);
	}
}
