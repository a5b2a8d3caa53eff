/**
 * Deadlines: absolute CLOCK_MONOTONIC nanoseconds, the clock of the
 * kernel's deadline-ns attribute and of process.hrtime.bigint().
 *
 * Pure arithmetic plus one timer helper. Node's timers overflow above
 * 2^31-1 ms (they then fire after 1 ms), so every delay goes through
 * timerDelayMs(), and deadlineSignal() re-arms for far deadlines.
 */

/** Largest delay setTimeout() honours, ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export type Clock = () => bigint;

// read once: `process` is an accessor on globalThis, and optimised code
// calls its getter on every `process.` (about 30 ns a clock read, Node 20)
const hrtimeBigint = process.hrtime.bigint;

/** The monotonic clock the kernel stamps deadlines with. */
export const monotonicNs: Clock = () => hrtimeBigint();

/** Nanoseconds left until `deadlineNs` (negative once passed). */
export function remainingNs(deadlineNs: bigint, nowNs: bigint): bigint {
  return deadlineNs - nowNs;
}

/** True when fewer than `budgetNs` remain before the deadline. */
export function cannotMeet(deadlineNs: bigint, nowNs: bigint, budgetNs: bigint): boolean {
  return deadlineNs - nowNs < budgetNs;
}

/** Absolute deadline `ms` from `nowNs`. */
export function deadlineIn(ms: number, nowNs: bigint): bigint {
  return nowNs + BigInt(Math.max(0, Math.round(ms * 1e6)));
}

/** A setTimeout delay for the time left: whole ms rounded up, 0..MAX_TIMER_MS. */
export function timerDelayMs(deadlineNs: bigint, nowNs: bigint): number {
  const left = deadlineNs - nowNs;
  if (left <= 0n) return 0;
  const ms = (left + 999_999n) / 1_000_000n;
  return ms > BigInt(MAX_TIMER_MS) ? MAX_TIMER_MS : Number(ms);
}

export class DeadlineExceededError extends Error {
  readonly code = 'ETIMEDOUT';
  constructor() {
    super('deadline exceeded');
    this.name = 'DeadlineExceededError';
  }
}

export interface DeadlineSignal {
  /** aborts (reason: DeadlineExceededError) once the clock reaches the deadline */
  readonly signal: AbortSignal;
  /** stops the timer; the signal stays as it is */
  dispose(): void;
}

/**
 * An AbortSignal that fires at `deadlineNs`. The timer is unref'd: a
 * pending deadline never keeps the process alive.
 */
export function deadlineSignal(deadlineNs: bigint, clock: Clock = monotonicNs): DeadlineSignal {
  const ac = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const arm = (): void => {
    const now = clock();
    if (now >= deadlineNs) {
      timer = undefined;
      ac.abort(new DeadlineExceededError());
      return;
    }
    timer = setTimeout(arm, timerDelayMs(deadlineNs, now));
    timer.unref();
  };
  arm();
  return {
    signal: ac.signal,
    dispose(): void {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
    },
  };
}

/** A deadline in a {@link DeadlineQueue}; cancel() before it expires and it never does. */
export interface DeadlineTicket {
  cancel(): void;
}

interface QueuedDeadline extends DeadlineTicket {
  readonly deadlineNs: bigint;
  readonly onExpire: () => void;
  /** position in the heap; -1 once expired or cancelled */
  index: number;
}

const queues = new WeakMap<Clock, DeadlineQueue>();

/**
 * Every deadline of one clock behind ONE timer: a binary min-heap of
 * absolute deadlines (exact, unlike a hashed wheel's slots; O(log n) to
 * add and cancel) and one unref'd setTimeout armed for the earliest. When
 * it fires, every deadline the clock has reached expires in deadline
 * order and the timer is armed again for the next; a timer that fires
 * early (a manual clock that did not move, Node's 1 ms granularity) only
 * re-arms. Cancelling the earliest leaves the timer as it is: it fires,
 * finds nothing due, and re-arms for the new earliest, so a request that
 * finishes in time costs no timer call at all.
 */
export class DeadlineQueue {
  private heap: QueuedDeadline[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** what the timer is armed for */
  private armedFor: bigint | undefined;

  constructor(private readonly clock: Clock = monotonicNs) {}

  /** The queue shared by everything that uses `clock` (one timer per clock). */
  static for(clock: Clock = monotonicNs): DeadlineQueue {
    let q = queues.get(clock);
    if (!q) queues.set(clock, (q = new DeadlineQueue(clock)));
    return q;
  }

  /** Deadlines waiting. */
  get size(): number {
    return this.heap.length;
  }

  /** Calls onExpire() once the clock reaches deadlineNs (at once from the timer if it already has), unless cancelled first. */
  add(deadlineNs: bigint, onExpire: () => void): DeadlineTicket {
    const q = this;
    const e: QueuedDeadline = {
      deadlineNs,
      onExpire,
      index: this.heap.length,
      cancel(): void {
        if (e.index >= 0) q.remove(e);
      },
    };
    this.heap.push(e);
    this.up(e.index);
    if (this.armedFor === undefined || deadlineNs < this.armedFor) this.arm();
    return e;
  }

  private arm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.armedFor = undefined;
    const first = this.heap[0];
    if (!first) return;
    this.armedFor = first.deadlineNs;
    // at least 1 ms: a deadline already reached expires on the next timer turn, never inside add()
    this.timer = setTimeout(() => this.fire(), Math.max(1, timerDelayMs(first.deadlineNs, this.clock())));
    this.timer.unref();
  }

  private fire(): void {
    this.timer = undefined;
    this.armedFor = undefined;
    const now = this.clock();
    for (let first = this.heap[0]; first && first.deadlineNs <= now; first = this.heap[0]) {
      this.remove(first);
      try {
        first.onExpire();
      } catch (err) {
        // an expiry must not stop the others; surface it as Node would
        queueMicrotask(() => {
          throw err;
        });
      }
    }
    this.arm();
  }

  private remove(e: QueuedDeadline): void {
    const i = e.index;
    const last = this.heap.pop()!;
    e.index = -1;
    if (last !== e) {
      this.heap[i] = last;
      last.index = i;
      this.down(i);
      this.up(last.index);
    }
  }

  private up(i: number): void {
    const h = this.heap;
    const e = h[i]!;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pe = h[p]!;
      if (pe.deadlineNs <= e.deadlineNs) break;
      h[i] = pe;
      pe.index = i;
      i = p;
    }
    h[i] = e;
    e.index = i;
  }

  private down(i: number): void {
    const h = this.heap;
    const n = h.length;
    const e = h[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && h[r]!.deadlineNs < h[l]!.deadlineNs ? r : l;
      const ce = h[c]!;
      if (ce.deadlineNs >= e.deadlineNs) break;
      h[i] = ce;
      ce.index = i;
      i = c;
    }
    h[i] = e;
    e.index = i;
  }
}
