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
