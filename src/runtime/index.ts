/**
 * The koffload runtime for policy authors: import from here.
 */
export {
  type BoundOp,
  type Handler,
  type HandlerContext,
  type HandlerResult,
  type Logger,
  type OpSpec,
  type Policy,
  type PolicyLimits,
  type PolicySpec,
  type PressureAction,
  type PressurePolicy,
  type ResolvedLimits,
  DEFAULT_LIMITS,
  PolicyRegistry,
  definePolicy,
  isPolicy,
  resolveLimits,
  silentLogger,
} from './policy.js';
export { type Decline, decline, isDecline, statusOfThrown } from './status.js';
export { type PressureLevel, type PressureState, NO_PRESSURE, pressureAtLeast } from './pressure.js';
export { type MessageCodec, type Schema, jsonSafe } from './schema.js';
export { DeadlineExceededError, MAX_TIMER_MS, cannotMeet, deadlineIn, deadlineSignal, monotonicNs, remainingNs, timerDelayMs } from './deadline.js';
export { type DecisionEvent, type RequestOutcome, type Transport, Dispatcher, OUTCOMES, ServerDrainingError, SubsystemServer } from './server.js';
export { type Refresher, type RefreshOptions, AdvisoryCache, refreshEvery } from './cache.js';
