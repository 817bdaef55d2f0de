/**
 * Recognising the limiter's own control prefix, `/_limiter/`, however the path
 * is spelled, so that it can never be proxied to the origin nor reached by a
 * disguised path. Pure.
 */

/** The prefix of the limiter's own routes. */
export const CONTROL_PREFIX = "/_limiter";

/**
 * The path as a server would most liberally interpret it: percent-decoded
 * (repeatedly), backslashes as slashes, lower-cased, empty and `.` segments
 * dropped, `..` resolved, and trailing dots and spaces removed from segments.
 */
export function canonicalPath(pathname: string): string {
	let path = pathname;
	for (let i = 0; i < 3 && path.includes("%"); i++) {
		try {
			path = decodeURIComponent(path);
		} catch {
			break;
		}
	}
	const segments: string[] = [];
	for (const raw of path.replace(/\\/g, "/").toLowerCase().split("/")) {
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
