/**
 * Who is asking: turns a request into the identity it is limited under, in
 * one step — a tenant, an anonymous client (keyed by its IP network), or a
 * refusal. Pure: KV, the key cache and the limiter are passed in.
 */
import { CREDENTIAL, hashKey } from "../config/api-keys";
import type { Settings } from "../config/settings";
import type { KvReader } from "../config/tenant-config";
import type { Decision, Defer } from "../limiter/local";
import { anonymousKey } from "./client-ip";
import type { Problem } from "./problem";
import { canonicalRequestPath } from "./request-path";

/** Where tenant ids come from (the `TENANT_SOURCE` setting). */
export type TenantSource =
	/** A request header. Only safe behind a proxy that sets it (clients can send any value). */
	| { kind: "header"; name: string }
	/**
	 * A regular expression over the canonical URL path: its one capture group,
	 * or its `tenant` group, is the tenant; a `key` group is a credential that
	 * must be registered for that tenant (`keyed`).
	 */
	| { kind: "path"; pattern: RegExp; named: boolean; keyed: boolean }
	/** An API key (`Authorization: Bearer <key>` or `x-api-key`), looked up in KV. */
	| { kind: "api-key" };

/** The identity a request is limited under. */
export type Identity =
	/** `path`: the canonical path the origin is to receive, when it differs from the request's. */
	| { kind: "tenant"; tenant: string; key: string; path?: string }
	/**
	 * `throttled`: a failed authentication that the client's anonymous bucket
	 * refused to pay for; answered 429 with that decision.
	 */
	| { kind: "anonymous"; key: string; path?: string; throttled?: Decision }
	/** Refused before any bucket is charged (or after the client's IP paid for a failed credential). */
	| { kind: "refused"; problem: Problem; headers?: Record<string, string> };

/** The settings identification reads. */
export type IdentitySettings = Pick<
	Settings,
	"tenantSource" | "anonymous" | "anonIpv4Prefix" | "anonIpv6Prefix" | "configTtlMs"
>;

/**
 * What checking a credential needs: the isolate's key cache, KV, and a way to
 * charge the client's IP. Nothing in it is per request, so an isolate builds it once.
 */
export interface CredentialCheck {
	keys: {
		cached(hash: string): string | null | undefined;
		load(kv: KvReader, hash: string, ttlMs: number): Promise<string | null>;
	};
	kv: KvReader;
	/** Takes one token from an anonymous bucket under the anonymous tier (`defer`: the request's). */
	charge(key: string, defer?: Defer): Decision | Promise<Decision>;
}

/** Tenant ids the limiter accepts. */
export const TENANT_ID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Parses `TENANT_SOURCE`: `header:<name>`, `api-key`, or `path:<regex>` with
 * one capture group or a named group `tenant` (and optionally `key`).
 * Throws on anything else, so that bad configuration fails loudly at the first request.
 * @example parseTenantSource("path:^/bot(\\d+):") // { kind: "path", pattern: /^\/bot(\d+):/, named: false, keyed: false }
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
		// Count capture groups and learn their names by matching the empty alternative.
		const empty = new RegExp(`${arg}|`).exec("");
		const groups = (empty?.length ?? 1) - 1;
		const names = Object.keys(empty?.groups ?? {});
		if (names.length > 0) {
			if (!names.includes("tenant"))
				throw new Error("TENANT_SOURCE: a path pattern with named groups needs a tenant group");
			return { kind, pattern, named: true, keyed: names.includes("key") };
		}
		if (groups !== 1) throw new Error(`TENANT_SOURCE: the path pattern needs exactly one capture group, has ${groups}`);
		return { kind, pattern, named: false, keyed: false };
	}
	throw new Error(`TENANT_SOURCE must be header:<name>, path:<regex> or api-key, got ${JSON.stringify(value)}`);
}

/**
 * Identifies a request. Header mode and path mode without a `key` group
 * answer at once; a credential (API key, path key) costs a hash and maybe a
 * KV read, so the answer is then a promise. A request without any tenant is
 * anonymous (or refused with `ANONYMOUS=reject`); a malformed id, path or
 * credential is refused. `defer` keeps a charge's background work alive.
 */
export function resolveIdentity(
	url: URL,
	headers: Headers,
	settings: IdentitySettings,
	check: CredentialCheck,
	defer?: Defer,
): Identity | Promise<Identity> {
	const source = settings.tenantSource;
	if (source.kind === "header") return claimed(headers.get(source.name), headers, settings);
	if (source.kind === "path") {
		const path = canonicalRequestPath(url.pathname);
		if (path instanceof Error) return refused(400, "invalid-path", "Invalid path", path.message);
		const changed = path === url.pathname ? undefined : path;
		const match = source.pattern.exec(path);
		const tenant = source.named ? match?.groups?.tenant : match?.[1];
		// Leading zeros would give one number many buckets.
		if (tenant && /^0[0-9]/.test(tenant)) return refused(400, "invalid-tenant", "Invalid tenant id", LEADING_ZERO);
		if (!source.keyed || !tenant || !TENANT_ID.test(tenant)) return claimed(tenant, headers, settings, changed);
		// A pattern whose key group is optional still needs the key.
		return authenticate(match?.groups?.key ?? null, tenant, headers, settings, check, defer, changed);
	}
	const authorization = headers.get("authorization");
	const apiKey = headers.get("x-api-key");
	if (authorization === null && apiKey === null) return claimed(null, headers, settings);
	return authenticate(presentedKey(authorization, apiKey), undefined, headers, settings, check, defer);
}

const LEADING_ZERO = "a numeric tenant id may not have leading zeros";

/**
 * The one key a request presents: `Authorization: Bearer <key>` or
 * `x-api-key: <key>`, or both with the same key. Null for anything else (a
 * different scheme, extra words, repeated headers, two different keys).
 */
function presentedKey(authorization: string | null, apiKey: string | null): string | null {
	const bearer = authorization === null ? undefined : (/^Bearer +([^\s,]+)$/i.exec(authorization.trim())?.[1] ?? null);
	const header = apiKey?.trim();
	if (bearer === null || (bearer !== undefined && header !== undefined && bearer !== header)) return null;
	return bearer ?? header ?? null;
}

type Anonymous = Extract<Identity, { kind: "anonymous" }>;

function anonymous(headers: Headers, settings: IdentitySettings, path?: string): Anonymous {
	const key = anonymousKey(headers.get("cf-connecting-ip"), settings.anonIpv4Prefix, settings.anonIpv6Prefix);
	return path === undefined ? { kind: "anonymous", key } : { kind: "anonymous", key, path };
}

/** The identity of a tenant id the request claims (header, path), or of none. */
function claimed(
	tenant: string | null | undefined,
	headers: Headers,
	settings: IdentitySettings,
	path?: string,
): Identity {
	if (tenant === null || tenant === undefined || tenant === "") {
		if (settings.anonymous === "reject") {
			return refused(401, "tenant-required", "Tenant required", "This API requires a tenant id.", {
				"WWW-Authenticate": 'Bearer realm="api"',
			});
		}
		return anonymous(headers, settings, path);
	}
	if (!TENANT_ID.test(tenant)) {
		return refused(400, "invalid-tenant", "Invalid tenant id", `tenant id must match ${TENANT_ID.source}`);
	}
	return tenantIdentity(tenant, path);
}

function tenantIdentity(tenant: string, path?: string): Identity {
	const key = bucketKey(tenant);
	return path === undefined ? { kind: "tenant", tenant, key } : { kind: "tenant", tenant, key, path };
}

/**
 * Checks a credential (for `expected`, the tenant the path names; else any
 * tenant). A credential that is not known good in this isolate costs the
 * client's anonymous bucket a token before KV is read, so guessing is rate
 * limited and an IP that is out of tokens causes no KV read at all.
 */
async function authenticate(
	credential: string | null,
	expected: string | undefined,
	headers: Headers,
	settings: IdentitySettings,
	check: CredentialCheck,
	defer: Defer | undefined,
	path?: string,
): Promise<Identity> {
	const fits = (tenant: string | null | undefined): tenant is string =>
		typeof tenant === "string" && (expected === undefined || tenant === expected);
	const hash = credential !== null && CREDENTIAL.test(credential) ? await hashKey(credential) : undefined;
	let tenant = hash === undefined ? null : check.keys.cached(hash);
	if (fits(tenant)) return tenantIdentity(tenant, path);
	const ip = anonymous(headers, settings);
	const decision = await check.charge(ip.key, defer);
	if (!decision.allowed) return { ...ip, throttled: decision };
	if (hash !== undefined && tenant === undefined) tenant = await check.keys.load(check.kv, hash, settings.configTtlMs);
	if (fits(tenant)) return tenantIdentity(tenant, path);
	if (settings.tenantSource.kind === "path") {
		return refused(401, "invalid-credential", "Invalid credential", "The credential in the path is not registered.");
	}
	return refused(401, "invalid-api-key", "Invalid API key", "The API key is unknown, revoked or malformed.", {
		"WWW-Authenticate": 'Bearer realm="api", error="invalid_token"',
	});
}

function refused(
	status: 400 | 401,
	code: string,
	title: string,
	detail: string,
	headers?: Record<string, string>,
): Identity {
	return { kind: "refused", problem: { code, title, status, detail }, ...(headers ? { headers } : {}) };
}

/**
 * The headers the origin gets about the identity (null removes one): the
 * tenant the limiter established, unless clients name it themselves (header
 * mode), and without the API key when `FORWARD_API_KEY` is false.
 */
export function originHeaders(
	settings: Pick<Settings, "tenantSource" | "forwardApiKey">,
	tenant: string | null,
): Record<string, string | null> | undefined {
	const { kind } = settings.tenantSource;
	if (kind === "header") return undefined;
	if (kind === "api-key" && !settings.forwardApiKey)
		return { "x-tenant-id": tenant, authorization: null, "x-api-key": null };
	return { "x-tenant-id": tenant };
}

/** Name of a tenant's TenantBucket (anonymous clients use `anon:<network>`, which no tenant id can spell). */
export function bucketKey(tenant: string): string {
	return `t:${tenant}`;
}
