import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { levelBin } from "../../src/limiter/pool-level";
import { PoolRoot, type ShardReport } from "../../src/limiter/pool-root";

const RATE = 8_000;
const SHARDS = 4;
const EVEN = RATE / SHARDS;

/** A report of `shard` running at `rate`, its isolates offering `perTenant` × `tenants` at weight 1. */
function report(shard: number, rate: number, tenants: number, perTenant: number, extra: Partial<ShardReport> = {}) {
	return {
		shard,
		rate,
		even: EVEN,
		version: 0,
		demand: tenants > 0 ? [levelBin(perTenant, 1), tenants * perTenant] : [],
		refused: 0,
		wasted: 0,
		...extra,
	} satisfies ShardReport;
}

describe("PoolRoot", () => {
	// The pool's exactness with rates that move: a shard applies a rate when the root's answer reaches it, and answers
	// may be late or lost; at no instant may the rates the shards refill at add up to more than the pool's.
	it("never lets the shards' rates add up to more than the pool, whatever arrives when", () => {
		fc.assert(
			fc.property(
				fc.array(
					fc.record({
						shard: fc.integer({ min: 0, max: SHARDS - 1 }),
						tenants: fc.integer({ min: 0, max: 200 }),
						perTenant: fc.double({ min: 0.5, max: 400, noNaN: true }),
						delivered: fc.boolean(),
						refused: fc.integer({ min: 0, max: 500 }),
						wasted: fc.integer({ min: 0, max: 500 }),
					}),
					{ minLength: 1, maxLength: 300 },
				),
				fc.boolean(),
				(steps, restart) => {
					let root = new PoolRoot(RATE, SHARDS);
					const applied = new Array<number>(SHARDS).fill(EVEN);
					for (const [i, step] of steps.entries()) {
						// A root evicted halfway starts again from the bounds the last one saved.
						if (restart && i === Math.floor(steps.length / 2)) root = new PoolRoot(RATE, SHARDS, root.bounds);
						const s = step.shard;
						const reply = root.report(
							report(s, applied[s] as number, step.tenants, step.perTenant, {
								refused: step.refused,
								wasted: step.wasted,
							}),
						);
						expect(reply.rate).toBeGreaterThanOrEqual(0);
						if (step.delivered) applied[s] = reply.rate;
						const sum = applied.reduce((a, b) => a + b, 0);
						expect(sum).toBeLessThanOrEqual(RATE + 1e-6);
					}
				},
			),
		);
	});

	it("sets no level and keeps an even split while the world asks for less than the pool", () => {
		const root = new PoolRoot(RATE, SHARDS);
		for (let s = 0; s < SHARDS; s++) {
			const reply = root.report(report(s, EVEN, 10, 100));
			expect(reply.level).toBeUndefined();
			expect(reply.rate).toBe(EVEN);
		}
	});

	it("under contention moves rate to the shard with more demand, and solves one level for all", () => {
		const root = new PoolRoot(RATE, SHARDS);
		const applied = new Array<number>(SHARDS).fill(EVEN);
		let level = Number.POSITIVE_INFINITY;
		// Shard 0's isolates offer three times what each other shard's do: 9,000/s and 3 × 3,000, over twice the pool.
		for (let round = 0; round < 50; round++) {
			for (let s = 0; s < SHARDS; s++) {
				const reply = root.report(report(s, applied[s] as number, s === 0 ? 90 : 30, 100));
				applied[s] = reply.rate;
				level = reply.level ?? Number.POSITIVE_INFINITY;
			}
		}
		// 180 tenants offer 100/s each and the pool takes 8,000/s: the level is 44.4 (within a bin), one for all.
		expect(level).toBeGreaterThan(43);
		expect(level).toBeLessThan(46);
		// Shard 0 serves 90 tenants at the level, each other shard 30: rates 3 : 1 (4,000 and 1,333), adding up to the pool.
		expect(applied[0]).toBeGreaterThan(3_600);
		expect(applied[1]).toBeLessThan(1_500);
		expect(applied.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(RATE + 1e-6);
	});

	// A pool whose burst is far above its rate (npm run sim's equal-demand scenario: 50,000 over 6,000/s) was held
	// to its rate from when its shards ran half empty, and the rest of its burst was never spent.
	it("sets no level while the shards' spare tokens cover what the world asks beyond the rate", () => {
		const root = new PoolRoot(RATE, SHARDS);
		// 160 tenants at 100/s: 16,000/s against 8,000/s, 2 × the rate.
		// Ten rounds of every shard's reports: the level moves a quarter of the way with each (four shards).
		const all = (spare: number) => {
			let level: number | undefined;
			for (let round = 0; round < 10; round++)
				for (let s = 0; s < SHARDS; s++) level = root.report(report(s, EVEN, 40, 100, { spare })).level;
			return level;
		};
		// 7,500 spare tokens per shard, 30,000 in all, spent over 3 s: 18,000/s covers the 16,000/s asked.
		expect(all(7_500)).toBeUndefined();
		// 1,500 per shard: the level shares 8,000 + 2,000 a second, 62.5/s per tenant (within a bin).
		const level = all(1_500) as number;
		expect(level).toBeGreaterThan(60);
		expect(level).toBeLessThan(65);
		// None spare: the rate alone, 50/s.
		const none = all(0) as number;
		expect(none).toBeGreaterThan(48);
		expect(none).toBeLessThan(52);
	});

	it("lets a shard that throws refill away pass more than the level, and one that refuses not", () => {
		const root = new PoolRoot(RATE, SHARDS);
		const contended = (s: number, extra: Partial<ShardReport>) => root.report(report(s, EVEN, 40, 100, extra));
		for (let s = 0; s < SHARDS; s++) contended(s, {});
		const plain = contended(1, {}).level as number;
		const wasting = contended(0, { wasted: 300 }).level as number;
		const refusing = contended(2, { refused: 300 }).level as number;
		expect(wasting).toBeGreaterThan(plain * 1.1);
		expect(refusing).toBeLessThanOrEqual(plain * 1.01);
	});
});
