import { describe, expect, it } from "vitest";
import { placeholderAdvice, placeholderKvBindings } from "../../scripts/deploy-config.mjs";

describe("deploy check", () => {
	it.each([
		[[{ binding: "CONFIG", id: "00000000000000000000000000000000" }], ["CONFIG"]],
		[[{ binding: "CONFIG", id: "0" }], ["CONFIG"]],
		[[{ binding: "CONFIG", id: "0f1e2d3c4b5a69788796a5b4c3d2e1f0" }], []],
		[[{ binding: "CONFIG", id: "00000000000000000000000000000001" }], []],
		// Without an id, wrangler deploy creates the namespace itself.
		[[{ binding: "CONFIG" }], []],
		[[{ binding: "CONFIG", id: "" }], []],
		[
			[
				{ binding: "A", id: "0000" },
				{ binding: "B", id: "abcd" },
				{ binding: "C", id: "00000000000000000000000000000000" },
			],
			["A", "C"],
		],
		[[], []],
		[undefined, []],
	])("%j → placeholders %j", (namespaces, expected) => {
		expect(placeholderKvBindings(namespaces)).toEqual(expected);
	});

	it("says which command creates the namespace and where its id goes", () => {
		const advice = placeholderAdvice(["CONFIG"], "wrangler.toml");
		expect(advice).toContain("npx wrangler kv namespace create CONFIG");
		expect(advice).toContain('binding = "CONFIG"');
		expect(advice).toContain('id = "<that id>"');
		expect(advice).toContain("wrangler.toml");
	});
});
