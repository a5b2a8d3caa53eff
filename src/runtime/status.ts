/**
 * The closed set of answers a handler can give, and the one function that
 * maps anything a handler throws to one of them.
 */
import type { Status } from '../generated/wire.js';

const DECLINE = Symbol.for('koffload.decline');

/** What a handler returns (or throws) to make the kernel use its default. */
export interface Decline {
  readonly [DECLINE]: true;
  readonly reason: string | undefined;
}

/**
 * `return decline()` (or `throw decline()`) makes the kernel use its own
 * default for this call. The marker is a registered symbol, so it works
 * across copies of this module (a policy bundled with its own copy and a daemon
 * built to dist/).
 */
export function decline(reason?: string): Decline {
  return { [DECLINE]: true, reason };
}

export function isDecline(v: unknown): v is Decline {
  return typeof v === 'object' && v !== null && (v as Record<symbol, unknown>)[DECLINE] === true;
}

/**
 * Maps a thrown value to the status the kernel gets: a Decline (or a
 * KoffloadError with code KOFFLOAD_ERR_DECLINE) declines, anything else is
 * ERROR. Never 'ok': a throw is never a decision.
 */
export function statusOfThrown(err: unknown): Extract<Status, 'decline' | 'error'> {
  if (isDecline(err)) return 'decline';
  if (typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'KOFFLOAD_ERR_DECLINE') return 'decline';
  return 'error';
}
