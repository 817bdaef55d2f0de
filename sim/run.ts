/**
 * `npm run sim`: runs every scenario and prints admitted vs ideal, over- and
 * under-admission, Durable Object calls per admitted request, and pool shares
 * by weight. `--json <file>` also writes the outcomes.
 */
import { writeFileSync } from "node:fs";
import { runScenario, SCENARIOS, type ScenarioOutcome } from "./scenarios";

function fixed(value: number, digits: number): string {
	return value.toFixed(digits);
}

/** Runs every scenario. */
export async function simulate(): Promise<ScenarioOutcome[]> {
	const outcomes: ScenarioOutcome[] = [];
	for (const scenario of SCENARIOS) outcomes.push(await runScenario(scenario));
	return outcomes;
}

/** Prints the outcomes as tables. */
export function printOutcomes(outcomes: ScenarioOutcome[]): void {
	console.table(
		outcomes.map((o) => ({
			scenario: o.name,
			isolates: o.isolates,
			admitted: o.admitted,
			ideal: o.ideal,
			"over-admitted": o.over_admitted,
			"under %": fixed(o.under_admission_pct, 2),
			"loss bound": o.loss_bound ?? "",
			"tenant calls/adm": fixed(o.tenant_calls_per_admitted, 4),
			"pool calls/adm": fixed(o.pool_calls_per_admitted, 4),
		})),
	);
	for (const o of outcomes) {
		if (!o.share_errors) continue;
		console.log(`pool shares by weight, ${o.name} (after the pool's own burst):`);
		console.table(
			o.share_errors.map((s) => ({
				tenant: s.key,
				weight: s.weight,
				share: fixed(s.share * 100, 2),
				"weight share": fixed(s.expected * 100, 2),
				"error %": fixed(s.error_pct, 2),
			})),
		);
	}
}

if (import.meta.url === `file://${process.argv[1]}`) {
	const outcomes = await simulate();
	printOutcomes(outcomes);
	const at = process.argv.indexOf("--json");
	const file = at >= 0 ? process.argv[at + 1] : undefined;
	if (file) writeFileSync(file, `${JSON.stringify(outcomes, null, 2)}\n`);
}
