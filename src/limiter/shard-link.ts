/**
 * A pool shard's side of the pool's root (pool-root.ts): it adds up its
 * isolates' demand counts, reports them to the root at most every
 * {@link ROOT_INTERVAL_MS} with one report in flight at a time, and keeps the
 * level and the rate the root answers. The shard's bucket stays in its
 * TenantLedger, which applies a new rate when it is told to. Pure; the clock
 * is passed in.
 */
import type { LeaseRequest } from "./lease";
import { DemandReports } from "./pool-level";
import { KEPT_STOCK, type PoolRoot, ROOT_INTERVAL_MS, type RootReply, rootFor, type ShardReport } from "./pool-root";

/** A shard's root: takes its report, answers its rate and the fair level. */
export type RootCall = (report: ShardReport) => Promise<RootReply> | RootReply;

/** What the shard's bucket is now, for its report. */
export interface ShardBucket {
	/** The rate it refills at, its policy's rate (the even split) and that policy's version. */
	rate: number;
	even: number;
	version: number;
	/** Tokens in it, and its burst. */
	tokens: number;
	burst: number;
}

/** A shard alone is its own root: the same level arithmetic, no rate to move. */
function ownRoot(): RootCall {
	let root: PoolRoot | undefined;
	return (report) => {
		const current = rootFor(root, report, 1);
		if (!current) return { rate: report.rate };
		root = current;
		return current.report({ ...report, shard: 0 });
	};
}

/** One pool shard's link to the pool's root. */
export class ShardLink {
	readonly #demand = new DemandReports();
	readonly #root: RootCall;
	#level = Number.POSITIVE_INFINITY;
	#reportedAt = Number.NEGATIVE_INFINITY;
	#busy = false;
	/** Since the last report: requests refused for want of this shard's tokens, refill its bucket could not hold. */
	#refused = 0;
	#wasted = 0;

	/** Shard `shard`'s link to `root` (@default the shard alone, its own root). */
	constructor(
		readonly shard: number,
		root: RootCall = ownRoot(),
	) {
		this.#root = root;
	}

	/**
	 * Takes an isolate's lease call to the shard, reports to the root if one is
	 * due, and returns the level to answer with (undefined: none). When the
	 * root's answer comes, `apply` takes its rate for the shard's policy
	 * `version`, and says whether the answer holds (an answer about the pool as
	 * it was before an operator changed it is void, its level too).
	 */
	observe(
		request: LeaseRequest,
		bucket: ShardBucket,
		now: number,
		apply: (rate: number, version: number) => boolean,
	): number | undefined {
		if (request.demand) this.#demand.report(request.isolate, request.demand.bins, request.demand.ms, now);
		this.#refused += request.denied;
		if (!this.#busy && now - this.#reportedAt >= ROOT_INTERVAL_MS) this.#report(bucket, now, apply);
		return Number.isFinite(this.#level) ? this.#level : undefined;
	}

	/** Counts refill the shard's bucket could not hold: its rate is more than its isolates take. */
	waste(tokens: number): void {
		this.#wasted += tokens;
	}

	#report(bucket: ShardBucket, now: number, apply: (rate: number, version: number) => boolean): void {
		const seconds = Math.max(0.001, (now - this.#reportedAt) / 1000);
		const report: ShardReport = {
			shard: this.shard,
			rate: bucket.rate,
			even: bucket.even,
			version: bucket.version,
			demand: this.#demand.totals(now),
			refused: Number.isFinite(seconds) ? this.#refused / seconds : 0,
			wasted: Number.isFinite(seconds) ? this.#wasted / seconds : 0,
			spare: Math.max(0, bucket.tokens - bucket.burst * KEPT_STOCK),
		};
		this.#refused = 0;
		this.#wasted = 0;
		this.#reportedAt = now;
		const answered = (reply: RootReply): void => {
			if (apply(reply.rate, report.version)) this.#level = reply.level ?? Number.POSITIVE_INFINITY;
		};
		const answer = this.#root(report);
		if (!(answer instanceof Promise)) {
			answered(answer);
			return;
		}
		this.#busy = true;
		answer
			.then(answered, () => {})
			.finally(() => {
				this.#busy = false;
			});
	}
}
