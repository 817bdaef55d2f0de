/**
 * Recognising the limiter's own control prefix, `/_limiter/`, however the path
 * is spelled, so that it can never be proxied to the origin nor reached by a
 * disguised path. Pure.
 */

/** The prefix of the limiter's own routes. */
export const CONTROL_PREFIX = "/_limiter";

/** Decoding passes after which a path that still decodes further is taken for a disguise. */
const MAX_DECODINGS = 8;

/**
 * The path as a server would most liberally interpret it: percent-decoded
 * (repeatedly, each escape as one byte, so that a bad escape or invalid UTF-8
 * cannot stop it), backslashes as slashes, lower-cased, each segment cut at a
 * `;` parameter or a control character (NUL included), empty and `.`
 * segments dropped, `..` resolved, and trailing dots and spaces removed from
 * segments. A path still encoded after many decodings is taken for the prefix itself.
 */
export function canonicalPath(pathname: string): string {
	let path = pathname;
	for (let i = 0; path.includes("%"); i++) {
		const decoded = path.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) =>
			String.fromCharCode(Number.parseInt(hex, 16)),
		);
		if (decoded === path) break;
		if (i === MAX_DECODINGS) return CONTROL_PREFIX;
		path = decoded;
	}
	const segments: string[] = [];
	for (const whole of path.replace(/\\/g, "/").toLowerCase().split("/")) {
		// Servers differ on `;` parameters and NUL: what comes after them must not hide the prefix.
		const raw = whole.replace(/[;\p{Cc}].*$/su, "");
		const segment = raw.replace(/[.\s]+$/, (tail) => (raw === "." || raw === ".." ? tail : ""));
		if (segment === "" || segment === ".") continue;
		if (segment === "..") segments.pop();
		else segments.push(segment);
	}
	return `/${segments.join("/")}`;
}

/** Whether `pathname` is, or disguises, a path under the control prefix. */
export function isControlPath(pathname: string): boolean {
	// The common case, a plain path that does not name the prefix, needs no canonical form.
	if (!/[%\\.]|\/\/|_limiter/i.test(pathname)) return false;
	const canonical = canonicalPath(pathname);
	return canonical === CONTROL_PREFIX || canonical.startsWith(`${CONTROL_PREFIX}/`);
}
