/**
 * The anonymous bucket of a client: its IPv4 address, or its IPv6 network
 * (a /64 by default: one subscriber gets a whole /64, so per address would
 * give it 2^64 buckets). Pure.
 */

/** An address as numbers: 4 bytes, or 8 16-bit words. */
type Address = { version: 4; parts: number[] } | { version: 6; parts: number[] };

function parseIpv4(text: string): number[] | null {
	const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
	if (!match) return null;
	const bytes = match.slice(1).map(Number);
	return bytes.every((byte) => byte <= 255) ? bytes : null;
}

function parseIpv6(text: string): number[] | null {
	let rest = text.replace(/%.*$/, ""); // a zone id names a local interface, not a client
	let tail: number[] = [];
	const dotted = /:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(rest);
	if (dotted) {
		const v4 = parseIpv4(dotted[1] as string);
		if (!v4) return null;
		tail = [((v4[0] as number) << 8) | (v4[1] as number), ((v4[2] as number) << 8) | (v4[3] as number)];
		// Keep a `::` that ends right before the IPv4 tail; drop a single separating colon.
		rest = rest.slice(0, dotted.index + 1);
		if (!rest.endsWith("::")) rest = rest.slice(0, -1);
	}
	const halves = rest.split("::");
	if (halves.length > 2) return null;
	const words = (half: string | undefined) => (half ? half.split(":") : []);
	const head = words(halves[0]);
	const back = words(halves[1]);
	if (![...head, ...back].every((word) => /^[0-9A-Fa-f]{1,4}$/.test(word))) return null;
	const given = head.length + back.length + tail.length;
	if (halves.length === 2 ? given > 7 : given !== 8) return null;
	const zeros = Array<number>(8 - given).fill(0);
	return [...head.map((w) => Number.parseInt(w, 16)), ...zeros, ...back.map((w) => Number.parseInt(w, 16)), ...tail];
}

/**
 * Parses an IPv4 or IPv6 address (with `::` compression, an embedded IPv4
 * tail, a zone id); an IPv4-mapped IPv6 address (`::ffff:192.0.2.1`) is its
 * IPv4 address. Null for anything else.
 * @example parseIp("::ffff:192.0.2.1") // { version: 4, parts: [192, 0, 2, 1] }
 */
export function parseIp(text: string): Address | null {
	const v4 = parseIpv4(text);
	if (v4) return { version: 4, parts: v4 };
	if (!text.includes(":")) return null;
	const v6 = parseIpv6(text);
	if (!v6) return null;
	if (v6.slice(0, 5).every((word) => word === 0) && v6[5] === 0xffff) {
		const [high, low] = [v6[6] as number, v6[7] as number];
		return { version: 4, parts: [high >> 8, high & 255, low >> 8, low & 255] };
	}
	return { version: 6, parts: v6 };
}

/** Keeps the first `bits` bits of numbers of `width` bits each. */
function mask(parts: number[], width: number, bits: number): number[] {
	return parts.map((part, i) => {
		const keep = Math.min(width, Math.max(0, bits - i * width));
		return keep === 0 ? 0 : part & ~((1 << (width - keep)) - 1) & ((1 << width) - 1);
	});
}

/**
 * The bucket key of an anonymous client at `ip`: `anon:` and its network of
 * `v4Prefix` or `v6Prefix` bits. Anything unparseable (no `CF-Connecting-IP`,
 * which Cloudflare's edge always sets) shares `anon:unknown`.
 * @example anonymousKey("2001:db8:1:2::5", 32, 64) // "anon:2001:db8:1:2:0:0:0:0/64"
 */
export function anonymousKey(ip: string | null, v4Prefix: number, v6Prefix: number): string {
	const address = ip === null ? null : parseIp(ip.trim());
	if (!address) return "anon:unknown";
	if (address.version === 4) {
		const network = mask(address.parts, 8, v4Prefix).join(".");
		return v4Prefix >= 32 ? `anon:${network}` : `anon:${network}/${v4Prefix}`;
	}
	return `anon:${mask(address.parts, 16, v6Prefix)
		.map((word) => word.toString(16))
		.join(":")}/${v6Prefix}`;
}
