/**
 * Leases to renew just before they expire, in the order they fall due: an
 * isolate renews a tenant's lease ahead of its expiry when the tenant is
 * active there, so that its next request finds a live lease instead of
 * waiting a round trip (see LocalLimiter). The isolate's own traffic drives
 * the renewals: a Worker has no timers between requests, and any request
 * checks whether one is due, at the cost of one comparison.
 * Pure; the clock is passed in.
 */

/** At most this many renewals ride on one request: each is a subrequest of it (leases renewed meanwhile do not count). */
export const KEEP_ALIVE_PER_REQUEST = 4;

/** A min-heap of items by the time they fall due. */
export class KeepAlives<T> {
	readonly #at: number[] = [];
	readonly #items: T[] = [];
	/** When the earliest item falls due (Infinity: none): one comparison per request. */
	next = Number.POSITIVE_INFINITY;

	/** Adds `item`, due at `at`. */
	add(at: number, item: T): void {
		const at_ = this.#at;
		const items = this.#items;
		let i = at_.length;
		at_.push(at);
		items.push(item);
		while (i > 0) {
			const parent = (i - 1) >> 1;
			if ((at_[parent] as number) <= at) break;
			at_[i] = at_[parent] as number;
			items[i] = items[parent] as T;
			i = parent;
		}
		at_[i] = at;
		items[i] = item;
		this.next = at_[0] as number;
	}

	/** Removes and returns the earliest item if it is due at `now`. */
	popDue(now: number): T | undefined {
		if (!(this.next <= now)) return undefined;
		const item = this.#pop();
		this.next = this.#at.length > 0 ? (this.#at[0] as number) : Number.POSITIVE_INFINITY;
		return item;
	}

	#pop(): T {
		const at_ = this.#at;
		const items = this.#items;
		const top = items[0] as T;
		const lastAt = at_.pop() as number;
		const lastItem = items.pop() as T;
		const n = at_.length;
		if (n === 0) return top;
		let i = 0;
		for (;;) {
			const left = 2 * i + 1;
			if (left >= n) break;
			const right = left + 1;
			const child = right < n && (at_[right] as number) < (at_[left] as number) ? right : left;
			if ((at_[child] as number) >= lastAt) break;
			at_[i] = at_[child] as number;
			items[i] = items[child] as T;
			i = child;
		}
		at_[i] = lastAt;
		items[i] = lastItem;
		return top;
	}
}
