import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canonicalRequestPath } from "../../src/http/request-path";

describe("canonicalRequestPath", () => {
	it.each([
		["/bot666:a/x", "/bot666:a/x"],
		["//bot666:a/x", "/bot666:a/x"],
		["/%62ot666:a/x", "/bot666:a/x"],
		["/bot%36%36%36:a/x", "/bot666:a/x"],
		["/bot666%3aa/x", "/bot666:a/x"],
		["/bot666%3Aa/x", "/bot666:a/x"],
		["/%7e%2D%2e%5F", "/~-._"],
		["/a/./b/../c", "/a/c"],
		["/a/%2e%2E/b", "/b"],
		["/a/b/", "/a/b/"],
		["/a/b/.", "/a/b/"],
		["/a/b/..", "/a/"],
		["/../../a", "/a"],
		["/", "/"],
		["///", "/"],
		["/a%2fb", "/a%2Fb"],
		["/a%2Fb/%3f%23%25", "/a%2Fb/%3F%23%25"],
		["/%3B", "/%3B"],
		["/caf%C3%A9", "/caf%C3%A9"],
		["/%00", "/%00"],
		["/%2562", "/%2562"],
	])("%s → %s", (path, canonical) => {
		expect(canonicalRequestPath(path)).toBe(canonical);
	});

	it.each(["/bot666:a;/x", "/a;b=c", "/;", "/a%zz", "/a%4", "/%"])("%s has none", (path) => {
		expect(canonicalRequestPath(path)).toBeInstanceOf(Error);
	});
});

describe("canonicalRequestPath, properties", () => {
	const unreserved = fc.constantFrom(..."abcXYZ019-._~".split(""));
	const segment = fc
		.array(unreserved, { minLength: 1, maxLength: 6 })
		.filter((chars) => !/^\.{1,2}$/.test(chars.join("")));

	it("any spelling of a plain path, escaped or with doubled slashes and ./ segments, is that path", () => {
		const spell = (char: string) =>
			fc.constantFrom(char, `%${char.charCodeAt(0).toString(16)}`, `%${char.charCodeAt(0).toString(16).toUpperCase()}`);
		const separator = fc.constantFrom("/", "//", "/./", "/x/../");
		const spelledSegment = (chars: string[]) => fc.tuple(...chars.map(spell)).map((parts) => parts.join(""));
		fc.assert(
			fc.property(
				fc
					.array(segment, { minLength: 1, maxLength: 5 })
					.chain((segments) =>
						fc.tuple(
							fc.constant(`/${segments.map((chars) => chars.join("")).join("/")}`),
							fc.tuple(...segments.map((chars) => fc.tuple(separator, spelledSegment(chars)))),
						),
					),
				([plain, spelled]) => {
					expect(canonicalRequestPath(spelled.map(([sep, text]) => `${sep}${text}`).join(""))).toBe(plain);
				},
			),
			{ numRuns: 1_000 },
		);
	});

	it("is idempotent", () => {
		fc.assert(
			fc.property(fc.webPath(), (path) => {
				const once = canonicalRequestPath(new URL(`https://h${path.startsWith("/") ? "" : "/"}${path}`).pathname);
				if (!(once instanceof Error)) expect(canonicalRequestPath(once)).toBe(once);
			}),
			{ numRuns: 1_000 },
		);
	});
});
