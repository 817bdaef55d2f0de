/**
 * Admin request bodies, validated with valibot. Every failure names the field.
 */
import * as v from "valibot";
import { CREDENTIAL } from "../config/api-keys";
import { TENANT_ID } from "../http/identify";
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
