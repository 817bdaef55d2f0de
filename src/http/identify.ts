/**
 * Who is asking: turns a request into the bucket it is limited under. Pure.
 */

/** Where tenant ids come from (the `TENANT_SOURCE` setting). */
export type TenantSource =
	/** A request header. Only safe behind a proxy that sets it (clients can send any value). */
	| { kind: "header"; name: string }
	/** A capture group of a regular expression over the URL path, e.g. a bot token's id. */
	| { kind: "path"; pattern: RegExp }
	/** An API key (`Authorization: Bearer <key>` or `x-api-key`), looked up in KV. */
	| { kind: "api-key" };

/** The identity a request is limited under. */
export type Identity =
	| { kind: "tenant"; tenant: string; key: string }
	| { kind: "anonymous"; ip: string; key: string }
	/** An API key still to be looked up. */
	| { kind: "api-key"; apiKey: string }
	| { kind: "invalid"; reason: string };

/** Tenant ids the limiter accepts. */
export const TENANT_ID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Parses `TENANT_SOURCE`: `header:<name>` or `path:<regex with one capture group>`.
 * Throws on anything else, so that bad configuration fails loudly at the first request.
 * @example parseTenantSource("path:^/bot(\\d+):") // { kind: "path", pattern: /^\/bot(\d+):/ }
 */
export function parseTenantSource(value: string): TenantSource {
	const colon = value.indexOf(":");
	const kind = colon < 0 ? value : value.slice(0, colon);
	const arg = colon < 0 ? "" : value.slice(colon + 1);
	if (kind === "api-key" && !arg) return { kind };
	if (kind === "header" && /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(arg)) return { kind, name: arg.toLowerCase() };
	if (kind === "path" && arg) {
		let pattern: RegExp;
		try {
			pattern = new RegExp(arg);
		} catch {
			throw new Error(`TENANT_SOURCE: invalid regular expression ${JSON.stringify(arg)}`);
		}
		// Count capture groups by matching the empty alternative.
		const groups = (new RegExp(`${arg}|`).exec("")?.length ?? 1) - 1;
		if (groups !== 1) throw new Error(`TENANT_SOURCE: the path pattern needs exactly one capture group, has ${groups}`);
		return { kind, pattern };
	}
	throw new Error(`TENANT_SOURCE must be header:<name>, path:<regex> or api-key, got ${JSON.stringify(value)}`);
}

/**
 * Identifies a request. No tenant at all is anonymous traffic, keyed by client
 * IP (`CF-Connecting-IP`, set by Cloudflare's edge); a tenant id that is
 * present but malformed is `invalid`.
 */
export function identify(source: TenantSource, url: URL, headers: Headers): Identity {
	let tenant: string | null | undefined;
	if (source.kind === "header") {
		tenant = headers.get(source.name);
	} else if (source.kind === "path") {
		tenant = source.pattern.exec(url.pathname)?.[1];
	} else {
		const bearer = /^Bearer\s+(\S+)\s*$/i.exec(headers.get("authorization") ?? "")?.[1];
		const apiKey = bearer ?? headers.get("x-api-key")?.trim();
		if (apiKey) return { kind: "api-key", apiKey };
	}
	if (tenant === null || tenant === undefined || tenant === "") {
		const ip = headers.get("cf-connecting-ip")?.trim() || "unknown";
		return { kind: "anonymous", ip, key: `anon:${ip.slice(0, 64)}` };
	}
	if (!TENANT_ID.test(tenant)) return { kind: "invalid", reason: `tenant id must match ${TENANT_ID.source}` };
	return { kind: "tenant", tenant, key: bucketKey(tenant) };
}

/** Name of a tenant's TenantBucket (anonymous clients use `anon:<ip>`, which no tenant id can spell). */
export function bucketKey(tenant: string): string {
	return `t:${tenant}`;
}
