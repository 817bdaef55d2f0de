import { describe, expect, it } from "vitest";
import { canonicalPath, isControlPath } from "../../src/http/control";
import { parseCost } from "../../src/http/cost";
import { identify, parseTenantSource } from "../../src/http/identify";

const header = parseTenantSource("header:x-tenant-id");
const botPath = parseTenantSource("path:^/bot(\\d+):[A-Za-z0-9_-]+/");

function who(source = header, path = "/", headers: Record<string, string> = {}) {
	return identify(source, new URL(`https://api.example${path}`), new Headers(headers));
}

describe("parseTenantSource", () => {
	it.each(["header:", "header:bad name", "path:", "path:no-group", "path:(a)(b)", "path:(", "cookie:x", ""])(
		"rejects %j",
		(value) => {
			expect(() => parseTenantSource(value)).toThrow(/TENANT_SOURCE/);
		},
	);

	it("lower-cases header names", () => {
		expect(parseTenantSource("header:X-Org")).toEqual({ kind: "header", name: "x-org" });
	});
});

interface Case {
	name: string;
	source: typeof header;
	path: string;
	headers: Record<string, string>;
	kind: string;
	key?: string;
}

describe("identify", () => {
	it.each<Case>([
		{
			name: "header tenant",
			source: header,
			path: "/",
			headers: { "x-tenant-id": "acme_1-2" },
			kind: "tenant",
			key: "t:acme_1-2",
		},
		{
			name: "bot id from the path",
			source: botPath,
			path: "/bot6148450508:AAFl4_Sr-x/getMe",
			headers: {},
			kind: "tenant",
			key: "t:6148450508",
		},
		{
			name: "no tenant is anonymous by IP",
			source: header,
			path: "/",
			headers: { "cf-connecting-ip": "203.0.113.9" },
			kind: "anonymous",
			key: "anon:203.0.113.9",
		},
		{
			name: "path mode ignores the header",
			source: botPath,
			path: "/other",
			headers: { "x-tenant-id": "acme" },
			kind: "anonymous",
			key: "anon:unknown",
		},
		{ name: "65 characters", source: header, path: "/", headers: { "x-tenant-id": "a".repeat(65) }, kind: "invalid" },
		{ name: "dots", source: header, path: "/", headers: { "x-tenant-id": "../admin" }, kind: "invalid" },
		{ name: "unicode", source: header, path: "/", headers: { "x-tenant-id": "acmé" }, kind: "invalid" },
	])("$name", ({ source, path, headers, kind, key }) => {
		const identity = who(source, path, headers);
		expect(identity.kind).toBe(kind);
		if (key) expect("key" in identity && identity.key).toBe(key);
	});
});

describe("control prefix", () => {
	it.each([
		"/_limiter/health",
		"/_LIMITER/admin",
		"//_limiter/admin",
		"/_limiter%2Fadmin",
		"/%5flimiter/admin",
		"/x/%2e%2e/_limiter/admin",
		"/_limiter./admin",
		"/_limiter%252Fadmin",
		"/_limiter",
		"\\_limiter\\admin",
	])("%s is a control path", (path) => {
		expect(isControlPath(path)).toBe(true);
	});

	it.each(["/", "/_limiterx", "/api/_limiter", "/x/_limiter/.."])("%s is not", (path) => {
		expect(isControlPath(path)).toBe(false);
	});

	it("canonicalises dot segments", () => {
		expect(canonicalPath("/a/./b/../c/")).toBe("/a/c");
	});
});

describe("parseCost", () => {
	it.each([
		{ raw: null, cost: 1 },
		{ raw: "1", cost: 1 },
		{ raw: " 25 ", cost: 25 },
		{ raw: "10000", cost: 10000 },
		{ raw: "0", cost: null },
		{ raw: "-1", cost: null },
		{ raw: "NaN", cost: null },
		{ raw: "1e3", cost: null },
		{ raw: "10001", cost: null },
		{ raw: "1000000000000", cost: null },
		{ raw: "2.5", cost: null },
		{ raw: "", cost: null },
	])("$raw → $cost", ({ raw, cost }) => {
		expect(parseCost(raw)).toBe(cost);
	});
});
