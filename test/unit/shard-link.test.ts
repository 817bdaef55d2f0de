import { describe, expect, it } from "vitest";
import type { LeaseRequest } from "../../src/limiter/lease";
import { levelBin } from "../../src/limiter/pool-level";
import { ROOT_INTERVAL_MS, type RootReply, type ShardReport } from "../../src/limiter/pool-root";
import { BURST_POOL_TIER, shardPolicy } from "../../src/limiter/pool-shards";
import { type ShardBucket, ShardLink } from "../../src/limiter/shard-link";

const policy = { ...shardPolicy({ rate: 1_000, burst: 1_000 }, 1, 0), tier: BURST_POOL_TIER };

/** A pool lease call from isolate `isolate` with 200 requests counted over 200 ms in one bin. */
function call(isolate: string, denied = 0): LeaseRequest {
	return {
		key: "shard-0",
		isolate,
		lease: `${isolate}:1`,
		policy,
		min: 1,
		want: 10,
		returned: 0,
		admitted: 0,
		denied,
		demand: { bins: [levelBin(100, 1), 200], ms: 200 },
	};
}

const bucket: ShardBucket = { rate: 1_000, even: 1_000, version: 0, tokens: 0, burst: 1_000 };

describe("ShardLink", () => {
	it("reports to the root at most every ROOT_INTERVAL_MS, one report in flight at a time", async () => {
		const reports: ShardReport[] = [];
		let answer: (reply: RootReply) => void = () => {};
		const link = new ShardLink(3, (report) => {
			reports.push(report);
			return new Promise((resolve) => {
				answer = resolve;
			});
		});
		const applied: number[] = [];
		const apply = (rate: number) => {
			applied.push(rate);
			return true;
		};
		link.observe(call("a", 5), bucket, 0, apply);
		link.observe(call("b"), bucket, 10, apply);
		// Still in flight at the next interval: no second report.
		link.observe(call("a"), bucket, ROOT_INTERVAL_MS + 1, apply);
		expect(reports).toHaveLength(1);
		expect(reports[0]?.shard).toBe(3);
		answer({ rate: 800, level: 40 });
		await Promise.resolve();
		await Promise.resolve();
		expect(applied).toEqual([800]);
		// Answered: the level goes out with the next reply, and the next report carries both isolates' demand.
		expect(link.observe(call("b"), bucket, ROOT_INTERVAL_MS + 2, apply)).toBe(40);
		expect(reports).toHaveLength(2);
		expect(reports[1]?.demand).toEqual([levelBin(100, 1), 2_000]);
	});

	it("keeps no level from an answer about a pool policy changed since (apply says it no longer holds)", () => {
		const link = new ShardLink(0, () => ({ rate: 500, level: 10 }));
		const level = link.observe(call("a"), bucket, 0, () => false);
		expect(level).toBeUndefined();
		expect(link.observe(call("a"), bucket, ROOT_INTERVAL_MS, () => true)).toBe(10);
	});

	it("reports spare tokens beyond a tenth of the burst, and refusals and waste per second", () => {
		const reports: ShardReport[] = [];
		const link = new ShardLink(0, (report) => {
			reports.push(report);
			return { rate: report.rate };
		});
		link.observe(call("a"), { ...bucket, tokens: 600 }, 0, () => true);
		link.waste(50);
		link.observe(call("a", 100), { ...bucket, tokens: 50 }, 500, () => true);
		expect(reports[0]?.spare).toBe(500);
		expect(reports[1]?.spare).toBe(0);
		// 100 refused and 50 wasted in the half second since the first report.
		expect(reports[1]?.refused).toBe(200);
		expect(reports[1]?.wasted).toBe(100);
	});
});
