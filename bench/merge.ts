/**
 * Keeping bench/results.json whole across runs of some parts: a run rewrites
 * the sections it measured and keeps the others. Pure (no imports), so that
 * it is tested without the benchmark's own dependencies.
 */

/** A results file: sections by key, the run's date, and when each section was measured. */
export type ResultsFile = Record<string, unknown> & { machine?: { date?: string }; measured?: Record<string, string> };

/** One section of the file: the keys it occupies, and whether a file holds figures for it. */
export interface Section {
	keys: string[];
	held(file: ResultsFile): boolean;
}

/**
 * `fresh`, with each section it did not measure taken from `previous` (when
 * that holds it), and `measured` saying when each section was measured: so
 * that `npm run bench -- paired` does not erase the throughput figures the
 * README quotes from the last full run.
 */
export function mergeResults(
	fresh: ResultsFile,
	previous: ResultsFile | undefined,
	sections: Record<string, Section>,
): ResultsFile {
	const measured: Record<string, string> = {};
	const out: ResultsFile = { ...fresh };
	for (const [name, { keys, held }] of Object.entries(sections)) {
		if (held(fresh)) {
			if (fresh.machine?.date) measured[name] = fresh.machine.date;
		} else if (previous && held(previous)) {
			for (const key of keys) out[key] = previous[key];
			const when = previous.measured?.[name] ?? previous.machine?.date;
			if (when) measured[name] = when;
		}
	}
	return { ...out, measured };
}
