import { describe, expect, it } from "vitest";
import { mergeResults, type ResultsFile, type Section } from "../../bench/merge";

const sections: Record<string, Section> = {
	throughput: { keys: ["runs", "ratios"], held: (r) => Array.isArray(r.runs) && r.runs.length > 0 },
	paired: { keys: ["paired"], held: (r) => r.paired != null },
};

const full: ResultsFile = {
	machine: { date: "2026-11-28" },
	runs: [{ name: "limiter" }],
	ratios: { limiter_vs_pass: 0.9 },
	paired: { ratio: 0.87 },
};

describe("bench/results.json across partial runs", () => {
	it("keeps the sections a run did not measure, with when they were measured", () => {
		const partial: ResultsFile = { machine: { date: "2026-11-29" }, runs: [], ratios: null, paired: { ratio: 0.88 } };
		expect(mergeResults(partial, full, sections)).toEqual({
			machine: { date: "2026-11-29" },
			runs: [{ name: "limiter" }],
			ratios: { limiter_vs_pass: 0.9 },
			paired: { ratio: 0.88 },
			measured: { throughput: "2026-11-28", paired: "2026-11-29" },
		});
	});

	it("carries a kept section's own date through later partial runs", () => {
		const first = mergeResults({ machine: { date: "2026-11-29" }, runs: [], paired: { ratio: 0.88 } }, full, sections);
		const second = mergeResults(
			{ machine: { date: "2026-11-30" }, runs: [], paired: { ratio: 0.89 } },
			first,
			sections,
		);
		expect(second.measured).toEqual({ throughput: "2026-11-28", paired: "2026-11-30" });
		expect(second.runs).toEqual([{ name: "limiter" }]);
	});

	it.each([
		{ case: "no earlier file", previous: undefined },
		{ case: "an earlier file without the section", previous: { machine: { date: "2026-11-28" }, runs: [] } },
	])("a section measured by neither run stays empty: $case", ({ previous }) => {
		const partial: ResultsFile = { machine: { date: "2026-11-29" }, runs: [], paired: null };
		expect(mergeResults(partial, previous, sections)).toEqual({ ...partial, measured: {} });
	});

	it("a full run replaces everything", () => {
		const fresh: ResultsFile = { ...full, machine: { date: "2026-11-30" }, paired: { ratio: 0.9 } };
		expect(mergeResults(fresh, full, sections)).toEqual({
			...fresh,
			measured: { throughput: "2026-11-30", paired: "2026-11-30" },
		});
	});
});
