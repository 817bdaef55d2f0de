/**
 * The cost of a request: 1 unless the client declares more in the cost header
 * (for example a batch call worth 50 requests). Pure.
 */
import { MAX_COST } from "../tiers";

/**
 * Parses a declared cost: an integer 1..10000 in plain decimal digits, or
 * absent (cost 1). Returns null for anything else.
 * @example parseCost("25") // 25
 * @example parseCost("0") // null
 */
export function parseCost(raw: string | null): number | null {
	if (raw === null) return 1;
	const value = raw.trim();
	if (!/^[0-9]{1,5}$/.test(value)) return null;
	const cost = Number(value);
	return cost >= 1 && cost <= MAX_COST ? cost : null;
}
