/**
 * Admin requests: bodies validated with valibot, and path parameters. Every
 * failure is a 400 problem that names the field.
 */
import type { Context } from "hono";
import * as v from "valibot";
import { CREDENTIAL } from "../config/api-keys";
import { TENANT_ID } from "../http/identify";
import { ProblemError } from "../http/problem";
import { isTierName, MAX_LIMIT, MAX_WEIGHT, TIER_NAME } from "../tiers";

const limit = (min: number) => v.pipe(v.number(), v.integer(), v.minValue(min), v.maxValue(MAX_LIMIT));

/** `PUT /_limiter/admin/tenants/:id`. */
export const TenantBody = v.strictObject({
	/** Checked against the tier table by the route. */
	tier: v.pipe(v.string(), v.check(isTierName, `tier names match ${TIER_NAME.source}`)),
	/** 0 means unlimited. */
	rate: v.optional(limit(0)),
	burst: v.optional(limit(1)),
	enabled: v.optional(v.boolean()),
});

/** `POST /_limiter/admin/keys`: a new key for `tenant`, or `key` imported (a bot token, a key issued elsewhere). */
export const KeyBody = v.strictObject({
	tenant: v.pipe(v.string(), v.regex(TENANT_ID)),
	key: v.optional(
		v.pipe(v.string(), v.regex(CREDENTIAL, "keys are 8 to 256 printable ASCII characters, no spaces or commas")),
	),
});

/** `PUT /_limiter/admin/tiers/:name`. */
export const TierBody = v.strictObject({
	rate: limit(1),
	burst: limit(1),
	weight: v.pipe(v.number(), v.minValue(0.01), v.maxValue(MAX_WEIGHT)),
});

/** `PUT /_limiter/admin/pool`. */
export const PoolBody = v.strictObject({ rate: limit(1), burst: limit(1) });

/** Largest admin body accepted, in bytes. */
export const MAX_BODY_BYTES = 16 * 1024;

/**
 * Validates `value` or returns a message naming the first bad field.
 * @example check(PoolBody, { rate: -1, burst: 5 }) // { ok: false, message: "rate: Invalid value: Expected >=1 but received -1" }
 */
export function check<T extends v.GenericSchema>(
	schema: T,
	value: unknown,
): { ok: true; value: v.InferOutput<T> } | { ok: false; message: string } {
	const result = v.safeParse(schema, value);
	if (result.success) return { ok: true, value: result.output };
	const issue = result.issues[0];
	const path = issue ? v.getDotPath(issue) : null;
	return { ok: false, message: `${path ?? "body"}: ${issue?.message ?? "invalid"}` };
}

/** A 400 `invalid-body` problem. */
export function badRequest(detail: string): ProblemError {
	return new ProblemError({ code: "invalid-body", title: "Invalid request body", status: 400, detail });
}

/** The `:name` path parameter, a valid tier name. */
export function tierName(c: Context): string {
	const name = c.req.param("name") ?? "";
	if (!isTierName(name)) throw badRequest(`name: tier names match ${TIER_NAME.source}`);
	return name;
}

/** The `:id` path parameter, a valid tenant id. */
export function tenantId(c: Context): string {
	const id = c.req.param("id") ?? "";
	if (!TENANT_ID.test(id)) {
		throw new ProblemError({
			code: "invalid-tenant",
			title: "Invalid tenant id",
			status: 400,
			detail: `tenant id must match ${TENANT_ID.source}`,
		});
	}
	return id;
}

/** The JSON body, validated against `schema`. */
export async function body<T extends v.GenericSchema>(c: Context, schema: T): Promise<v.InferOutput<T>> {
	// At most MAX_BODY_BYTES: the body-limit middleware has already refused anything larger.
	const text = await c.req.text();
	let value: unknown;
	try {
		value = JSON.parse(text);
	} catch {
		throw badRequest("body: not JSON");
	}
	const result = check(schema, value);
	if (!result.ok) throw badRequest(result.message);
	return result.value;
}
