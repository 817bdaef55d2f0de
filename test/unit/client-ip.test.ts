import { describe, expect, it } from "vitest";
import { anonymousKey, parseIp } from "../../src/http/client-ip";

describe("parseIp", () => {
	it.each([
		["192.0.2.1", { version: 4, parts: [192, 0, 2, 1] }],
		["::ffff:192.0.2.1", { version: 4, parts: [192, 0, 2, 1] }],
		["::FFFF:c000:0201", { version: 4, parts: [192, 0, 2, 1] }],
		["2001:db8::1", { version: 6, parts: [0x2001, 0xdb8, 0, 0, 0, 0, 0, 1] }],
		["::", { version: 6, parts: [0, 0, 0, 0, 0, 0, 0, 0] }],
		["::1", { version: 6, parts: [0, 0, 0, 0, 0, 0, 0, 1] }],
		["fe80::1%eth0", { version: 6, parts: [0xfe80, 0, 0, 0, 0, 0, 0, 1] }],
		["1:2:3:4:5:6:7:8", { version: 6, parts: [1, 2, 3, 4, 5, 6, 7, 8] }],
		["1:2:3:4:5:6:7::", { version: 6, parts: [1, 2, 3, 4, 5, 6, 7, 0] }],
		["64:ff9b::192.0.2.1", { version: 6, parts: [0x64, 0xff9b, 0, 0, 0, 0, 0xc000, 0x201] }],
	])("%s", (text, address) => {
		expect(parseIp(text)).toEqual(address);
	});

	it.each([
		"",
		"unknown",
		"256.0.0.1",
		"1.2.3",
		"1:2:3:4:5:6:7:8:9",
		"1:2:3:4:5:6:7",
		"1::2::3",
		"12345::",
		"::g",
		"1:2:3:4:5:6:7:1.2.3.4",
	])("%j is not an address", (text) => {
		expect(parseIp(text)).toBeNull();
	});
});

describe("anonymousKey", () => {
	it.each([
		{ ip: "203.0.113.9", v4: 32, v6: 64, key: "anon:203.0.113.9" },
		{ ip: " 203.0.113.9 ", v4: 32, v6: 64, key: "anon:203.0.113.9" },
		{ ip: "203.0.113.9", v4: 24, v6: 64, key: "anon:203.0.113.0/24" },
		{ ip: "203.0.113.9", v4: 20, v6: 64, key: "anon:203.0.112.0/20" },
		{ ip: "::ffff:203.0.113.9", v4: 32, v6: 64, key: "anon:203.0.113.9" },
		{ ip: "2001:db8:1:2:aaaa:bbbb:cccc:dddd", v4: 32, v6: 64, key: "anon:2001:db8:1:2:0:0:0:0/64" },
		{ ip: "2001:DB8:1:2::5", v4: 32, v6: 64, key: "anon:2001:db8:1:2:0:0:0:0/64" },
		{ ip: "2001:db8:1:2::5", v4: 32, v6: 56, key: "anon:2001:db8:1:0:0:0:0:0/56" },
		{ ip: "2001:db8:1:2ff::5", v4: 32, v6: 56, key: "anon:2001:db8:1:200:0:0:0:0/56" },
		{ ip: "2001:db8::5", v4: 32, v6: 128, key: "anon:2001:db8:0:0:0:0:0:5/128" },
		{ ip: "not an ip", v4: 32, v6: 64, key: "anon:unknown" },
		{ ip: null, v4: 32, v6: 64, key: "anon:unknown" },
	])("$ip /$v4 /$v6 → $key", ({ ip, v4, v6, key }) => {
		expect(anonymousKey(ip, v4, v6)).toBe(key);
	});
});
