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

/** The monotonic clock the kernel stamps deadlines with. */
export const monotonicNs: Clock = () => process.hrtime.bigint();

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
