/**
 * Discrete-event scheduler on simulated time. Timers live in a binary heap
 * keyed by time (ms, fractional), ties in the order they were set. Between
 * instants the real promises of the limiter code run: after every instant
 * that fired a timer (or started asynchronous work), the microtask queue is
 * drained with one `setImmediate` turn before time moves on, so that code
 * awaiting a sleep runs at the simulated time it woke up at.
 *
 * Arrivals are not timers: the run loop pulls them from a generator and
 * merges them with the heap, so a million requests cost no heap operations.
 */

/** Wall-clock epoch the simulation starts at (ms); `now()` is this plus simulated time. */
export const EPOCH_MS = 1_700_000_000_000;

/** Something that happens at a simulated instant. */
export type Task = () => void;

/** The source of requests: the time of the next one, and what to do at it. */
export interface Arrivals {
	/** Simulated ms of the next arrival (Infinity when there is none). */
	next(): number;
	/** Handles the arrival due now; returns true if it started asynchronous work. */
	fire(): boolean;
}

const drain = (): Promise<void> => new Promise<void>((resolve) => setImmediate(resolve));

/** Simulated time, timers and the run loop. */
export class Scheduler {
	/** Simulated milliseconds since the start. */
	time = 0;
	#times: number[] = [];
	#seqs: number[] = [];
	#tasks: Task[] = [];
	#seq = 0;
	/** Timers fired and microtask drains, for the report. */
	fired = 0;
	drains = 0;

	/** Epoch milliseconds, as the limiter code reads them. */
	readonly now = (): number => EPOCH_MS + this.time;

	/** Resolves once `ms` of simulated time has passed. */
	readonly sleep = (ms: number): Promise<void> =>
		new Promise<void>((resolve) => {
			this.at(this.time + Math.max(0, ms), resolve);
		});

	/** Runs `task` at simulated time `time` (not before now). */
	at(time: number, task: Task): void {
		const times = this.#times;
		const seqs = this.#seqs;
		const tasks = this.#tasks;
		const t = Math.max(time, this.time);
		const seq = this.#seq++;
		let i = times.length;
		times.push(t);
		seqs.push(seq);
		tasks.push(task);
		while (i > 0) {
			const parent = (i - 1) >> 1;
			const pt = times[parent] as number;
			if (pt < t || (pt === t && (seqs[parent] as number) < seq)) break;
			times[i] = pt;
			seqs[i] = seqs[parent] as number;
			tasks[i] = tasks[parent] as Task;
			i = parent;
		}
		times[i] = t;
		seqs[i] = seq;
		tasks[i] = task;
	}

	/** Time of the earliest timer, Infinity if none. */
	peek(): number {
		return this.#times.length > 0 ? (this.#times[0] as number) : Number.POSITIVE_INFINITY;
	}

	/** Removes and returns the earliest timer's task. */
	#pop(): Task {
		const times = this.#times;
		const seqs = this.#seqs;
		const tasks = this.#tasks;
		const top = tasks[0] as Task;
		const t = times.pop() as number;
		const seq = seqs.pop() as number;
		const task = tasks.pop() as Task;
		const n = times.length;
		if (n > 0) {
			let i = 0;
			for (;;) {
				let child = 2 * i + 1;
				if (child >= n) break;
				const right = child + 1;
				if (
					right < n &&
					((times[right] as number) < (times[child] as number) ||
						(times[right] === times[child] && (seqs[right] as number) < (seqs[child] as number)))
				)
					child = right;
				const ct = times[child] as number;
				if (ct > t || (ct === t && (seqs[child] as number) > seq)) break;
				times[i] = ct;
				seqs[i] = seqs[child] as number;
				tasks[i] = tasks[child] as Task;
				i = child;
			}
			times[i] = t;
			seqs[i] = seq;
			tasks[i] = task;
		}
		return top;
	}

	/**
	 * Runs arrivals and timers in time order until `until` (ms): at each
	 * instant, arrivals first, then every timer due, then the microtasks.
	 */
	async run(until: number, arrivals: Arrivals): Promise<void> {
		let nextArrival = arrivals.next();
		for (;;) {
			const timer = this.peek();
			if (nextArrival <= timer && nextArrival < until) {
				this.time = nextArrival;
				const busy = arrivals.fire();
				nextArrival = arrivals.next();
				if (busy) {
					this.drains += 1;
					await drain();
				}
				continue;
			}
			if (timer >= until) break;
			this.time = timer;
			while (this.peek() === timer) {
				this.fired += 1;
				this.#pop()();
			}
			this.drains += 1;
			await drain();
		}
		this.time = until;
	}
}
