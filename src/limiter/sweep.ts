/**
 * How much cleaning a request may do: a few entries every time, and a larger
 * batch at most once a second, so that a big backlog (an isolate that saw a
 * hundred thousand tenants, then went quiet) drains without any one request
 * paying for all of it. Pure; the clock is passed in.
 */
export class SweepBudget {
	#lastBulk = 0;

	/**
	 * @param steps entries looked at per request
	 * @param bulkSteps entries looked at by the first request of each second @default 1024
	 */
	constructor(
		readonly steps: number,
		readonly bulkSteps = 1_024,
	) {}

	/** How many entries this request may look at. */
	take(now: number): number {
		if (now - this.#lastBulk < 1_000) return this.steps;
		this.#lastBulk = now;
		return this.bulkSteps;
	}
}
