/**
 * The canonical form of a request path, on which path mode matches its
 * pattern and which the origin then receives, so that what is judged is what
 * is served. Pure.
 */

/**
 * Characters whose percent-encoding is decoded: the unreserved ones (RFC 3986
 * §2.3) plus `:` `@` and the sub-delimiters other than `;`. Each means the same
 * encoded or not inside a path segment, so origins decode them; the rest
 * (`/`, `?`, `#`, `%`, `;`, controls, non-ASCII) stay encoded, hex upper-cased.
 */
const DECODED = /^[A-Za-z0-9\-._~!$&'()*+,=:@]$/;

/** Paths that need no work: no escape, no empty or dot segment, no parameter. */
const NEEDS_WORK = /%|\/\/|\/\.|;/;

/**
 * The canonical path, or an Error saying why the path has none: a `;`
 * parameter (servers disagree on what it means) or a malformed `%` escape.
 * Escapes of unreserved characters are decoded, slashes merged, dot segments
 * resolved; a trailing slash is kept (origins may route it differently).
 * @example canonicalRequestPath("//%62ot666:a/./x") // "/bot666:a/x"
 */
export function canonicalRequestPath(pathname: string): string | Error {
	if (!NEEDS_WORK.test(pathname)) return pathname;
	if (pathname.includes(";")) return new Error("the path may not contain ; parameters");
	let malformed = false;
	const decoded = pathname.replace(/%([0-9A-Fa-f]{2})?/g, (sequence, hex: string | undefined) => {
		if (hex === undefined) {
			malformed = true;
			return sequence;
		}
		const char = String.fromCharCode(Number.parseInt(hex, 16));
		return DECODED.test(char) ? char : `%${hex.toUpperCase()}`;
	});
	if (malformed) return new Error("the path has a malformed percent-escape");
	const segments: string[] = [];
	const raw = decoded.split("/");
	for (const segment of raw) {
		if (segment === "" || segment === ".") continue;
		if (segment === "..") segments.pop();
		else segments.push(segment);
	}
	const last = raw[raw.length - 1];
	const trailing = segments.length > 0 && (last === "" || last === "." || last === "..");
	return `/${segments.join("/")}${trailing ? "/" : ""}`;
}
