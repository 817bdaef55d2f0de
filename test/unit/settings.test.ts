import { describe, expect, it } from "vitest";
import { parseHeaderFlavours, parseSettings, SettingsError } from "../../src/config/settings";

describe("RATELIMIT_HEADERS", () => {
	it.each([
		{ raw: undefined, expected: { draft10: false, draft7: true, legacy: true } },
		{ raw: "draft10", expected: { draft10: true, draft7: false, legacy: false } },
		{ raw: "draft7", expected: { draft10: false, draft7: true, legacy: false } },
		{ raw: "legacy", expected: { draft10: false, draft7: false, legacy: true } },
		{ raw: " Draft10 , legacy ", expected: { draft10: true, draft7: false, legacy: true } },
		{ raw: "legacy,draft7,legacy", expected: { draft10: false, draft7: true, legacy: true } },
	])("$raw → $expected", ({ raw, expected }) => {
		expect(parseHeaderFlavours(raw)).toEqual(expected);
	});

	it.each([
		"draft7,draft10",
		"draft10, legacy, draft7",
		"",
		" ",
		"draft7,,legacy",
		"draft-7",
		"x-ratelimit",
		"__proto__",
	])("%j is refused with a SettingsError naming the variable", (raw) => {
		expect(() => parseHeaderFlavours(raw)).toThrow(SettingsError);
		expect(() => parseHeaderFlavours(raw)).toThrow(/^RATELIMIT_HEADERS/);
	});

	it("reaches the settings", () => {
		const settings = parseSettings({ ORIGIN_URL: "https://origin.example", RATELIMIT_HEADERS: "legacy" });
		expect(settings.rateLimitHeaders).toEqual({ draft10: false, draft7: false, legacy: true });
	});
});
