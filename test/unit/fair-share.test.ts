import { describe, expect, it } from "vitest";
import { CONTENDED_MS as FAIR_CONTENDED_MS, FairShare, type FairTenant } from "../../src/limiter/fair-share";
import { newMeter } from "../../src/limiter/rate";

describe("FairShare", () => {
	const tenant = (): FairTenant => ({
		fairTime: 0,
		offered: 0,
		poolCredit: 0.5,
		demand: newMeter(0),
		admitted: 0,
		denied: 0,
	});

	it("lets everyone take what it needs while the pool is not contended", () => {
		const share = new FairShare();
		const a = tenant();
		for (let i = 0; i < 1_000; i++) expect(share.take(a, 1, 1, i)).toBe(true);
		expect(a.fairTime).toBe(0);
	});

	it("under contention, shares one isolate's tokens among backlogged tenants by weight", () => {
		const share = new FairShare();
		share.observeGrant(40, 100, 1_000, 1_000, 0);
		const tenants = [
			{ state: tenant(), weight: 1, taken: 0 },
			{ state: tenant(), weight: 2, taken: 0 },
		];
		// Both always asking; 300 tokens go to whoever the share lets take one.
		let given = 0;
		for (let t = 0; given < 300; t++) {
			for (const one of tenants) {
				if (given < 300 && share.take(one.state, one.weight, 1, t / 10)) {
					one.taken += 1;
					given += 1;
				}
			}
		}
		const [light, heavy] = tenants as [(typeof tenants)[0], (typeof tenants)[0]];
		expect(heavy.taken / light.taken).toBeGreaterThan(1.8);
		expect(heavy.taken / light.taken).toBeLessThan(2.2);
	});

	it.each([
		{ granted: 100, remaining: 500, contended: false },
		// A shard a few per cent from empty is busy, not contended: its refill within the second covers it.
		{ granted: 100, remaining: 50, contended: false },
		{ granted: 100, remaining: 29, contended: true },
		{ granted: 60, remaining: 500, contended: true },
	])(
		"a grant of $granted of 100 leaving $remaining of 1,000 → contended: $contended",
		({ granted, remaining, contended }) => {
			const share = new FairShare();
			share.observeGrant(granted, 100, remaining, 1_000, 0);
			const a = tenant();
			share.take(a, 1, 1, 1);
			// Only a contended pool charges what a tenant takes to its fair time.
			expect(a.fairTime > 0).toBe(contended);
		},
	);

	it("forgets contention CONTENDED_MS after the last sign of it", () => {
		const share = new FairShare();
		share.contend(0);
		const a = tenant();
		share.take(a, 1, 5, 1);
		expect(a.fairTime).toBe(5);
		expect(share.take(a, 1, 5, FAIR_CONTENDED_MS)).toBe(true);
		expect(a.fairTime).toBe(5);
	});
});
