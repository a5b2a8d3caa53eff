/**
 * The policy author's API: definePolicy() validates a policy eagerly (coded
 * KOFFLOAD_ERR_* errors, never at the first request) and returns a frozen
 * Policy the daemon serves. Types of each handler's request, response and
 * context come from the schema generated from the .proto file.
 */
import { KoffloadError } from '../errors.js';
import { KOFFLOAD } from '../generated/wire.js';
import type { MessageCodec, OpTypes, Schema } from './schema.js';
import type { Decline } from './status.js';
import type { PressureLevel, PressureState } from './pressure.js';

const POLICY_BRAND = Symbol.for('koffload.policy');

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

/** A logger that drops everything. */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** What a handler gets besides its request. */
export interface HandlerContext<Resp = unknown, RespInit = Resp> {
  readonly subsystem: string;
  /** op id and its schema name */
  readonly op: number;
  readonly opName: string;
  /** the kernel's request id; 0n for shadow requests */
  readonly reqId: bigint;
  /** absolute deadline, CLOCK_MONOTONIC ns: compare with process.hrtime.bigint() */
  readonly deadlineNs: bigint;
  /**
   * fires at the deadline (reason: DeadlineExceededError, code ETIMEDOUT;
   * after it the answer is discarded, the kernel has moved on), or when the
   * daemon starts draining this server for a stop or a reload (reason:
   * ServerDrainingError, code ESHUTDOWN; an answer before the deadline is
   * still sent)
   */
  readonly signal: AbortSignal;
  readonly logger: Logger;
  /** the kernel's own choice, decoded as the response type, when the kernel sent one */
  readonly default: Resp | undefined;
  /**
   * true when nobody waits for this answer: the request has the kernel's
   * shadow flag, or this policy runs as a shadow (candidate) policy. The
   * answer is recorded, never sent.
   */
  readonly shadow: boolean;
  /** the kernel flagged the op advisory: answer ahead of time with publish() */
  readonly advisory: boolean;
  /**
   * the daemon's memory pressure now (PSI of the machine and of its own
   * cgroup, src/runtime/pressure.ts): level none, some or full, and the
   * recent shares of time stalled on memory (0..1). Read it again after
   * an await: it changes while a handler runs. Under some or full, take
   * the cheap path (docs/policy-guide.md, "Under memory pressure").
   */
  readonly pressure: PressureState;
  /**
   * puts a decision into the subsystem's advisory cache; checked but not
   * sent when `shadow` is true. Await it: a rejection nobody handles is
   * logged and counted (koffload_publish_errors_total), never fatal, but
   * the handler then does not know its advice is missing.
   */
  publish(key: Uint8Array | string, value: RespInit, ttlMs: number): Promise<void>;
  /**
   * publish() of bytes as they are, for cache entries whose format the
   * subsystem defines apart from the op's response type (proto/f2fs.proto's
   * Ranking, or its raw class bitmaps); at most KOFFLOAD.limits.payloadMax
   * bytes. Same checks, same handling when shadow or when it fails.
   */
  publishBytes(key: Uint8Array | string, payload: Uint8Array, ttlMs: number): Promise<void>;
}

export type HandlerResult<RespInit> = RespInit | Decline;

export type Handler<O extends OpTypes> = (
  req: O['request'],
  ctx: HandlerContext<O['response'], O['responseInit']>,
) => HandlerResult<O['responseInit']> | Promise<HandlerResult<O['responseInit']>>;

/**
 * What the lanes do with a request of an op while the daemon is under
 * memory pressure, decided when its handler would start (queued requests
 * included):
 * - 'decline': DECLINE at once, without running anything (outcome
 *   `pressure`): the kernel uses its default;
 * - 'cheap': run `cheap` instead of the handler (a lookup, a cached
 *   answer, no allocation to speak of);
 * - 'continue': run the handler, which reads ctx.pressure itself.
 */
export type PressureAction = 'decline' | 'cheap' | 'continue';

export interface PressurePolicy<O extends OpTypes> {
  /** the level from which the action applies. @default 'some' */
  at?: Exclude<PressureLevel, 'none'>;
  /** see PressureAction. */
  action: PressureAction;
  /** the handler run under pressure, with action 'cheap' (required then, refused otherwise) */
  cheap?: Handler<O>;
}

/** One op of a policy. `op`, `request` and `response` are optional: the schema supplies them; when given they must match it. */
export interface OpSpec<O extends OpTypes> {
  op?: O['op'];
  request?: MessageCodec<O['request'], O['requestInit']>;
  response?: MessageCodec<O['response'], O['responseInit']>;
  handler: Handler<O>;
  /** what to do under memory pressure. @default { action: 'continue' } */
  underPressure?: PressurePolicy<O>;
}

/**
 * Limits of one subsystem's handling. Lanes are the daemon's; deadlineMs,
 * maxInflight and mode go to the kernel at BIND.
 */
export interface PolicyLimits {
  /** handlers of blocking requests running at once, 1..4096. @default 4 */
  concurrency?: number;
  /** blocking requests waiting for a slot, 0..65536; past it a request is declined at once. @default 64 */
  queueMax?: number;
  /** handlers of advisory (non-waiting) requests running at once, on their own lane, 1..4096. @default 1 */
  advisoryConcurrency?: number;
  /** advisory requests waiting for a slot, 0..65536. @default 64 */
  advisoryQueueMax?: number;
  /**
   * least time left before the deadline for a queued request to be started,
   * µs, 0..60000000; with less it is declined without running. @default 200
   */
  minBudgetUs?: number;
  /** deadline cap asked of the kernel at BIND, ms, 0..60000 (0: the subsystem's own). @default 0 */
  deadlineMs?: number;
  /** in-flight cap asked of the kernel at BIND, 0..4096 (0: the subsystem's own). @default 0 */
  maxInflight?: number;
  /**
   * handlers abandoned at their deadline whose promise has not settled yet
   * (they still run and hold what they hold), 0..4096: at this many, new
   * requests are refused with ERROR (outcome `stalled`) until some settle,
   * so a stuck handler cannot pile up without bound and the kernel's
   * circuit opens. @default 16
   */
  abandonedMax?: number;
  /**
   * how long past its deadline an advisory request may still be started and
   * run, ms, 0..60000. Nobody waits for one, and a notice of facts (where
   * GC moved blocks) stays true after it: a policy that learns from every
   * notice sets it so a burst waits in the advisory queue instead of
   * expiring. 0: expired at its deadline, as a blocking request. @default 0
   */
  advisoryLateMs?: number;
}

export type ResolvedLimits = Required<PolicyLimits>;

export const DEFAULT_LIMITS: ResolvedLimits = Object.freeze({
  concurrency: 4,
  queueMax: 64,
  advisoryConcurrency: 1,
  advisoryQueueMax: 64,
  minBudgetUs: 200,
  deadlineMs: 0,
  maxInflight: 0,
  abandonedMax: 16,
  advisoryLateMs: 0,
});

const LIMIT_BOUNDS: Record<keyof PolicyLimits, [number, number]> = {
  concurrency: [1, 4096],
  queueMax: [0, 65536],
  advisoryConcurrency: [1, 4096],
  advisoryQueueMax: [0, 65536],
  minBudgetUs: [0, KOFFLOAD.limits.deadlineMaxMs * 1000],
  deadlineMs: [0, KOFFLOAD.limits.deadlineMaxMs],
  maxInflight: [0, KOFFLOAD.limits.inflightMax],
  abandonedMax: [0, 4096],
  advisoryLateMs: [0, 60000],
};

type OpsOf<S> = S extends Schema<infer O> ? O : never;

export interface PolicySpec<S extends Schema<any>> {
  /** the kernel subsystem served ('ktest') */
  subsystem: string;
  /** the generated schema of its payloads (import { ktest } from 'src/generated/proto/ktest.js') */
  schema: S;
  /** a label for logs, metrics and replay output. @default the subsystem name */
  name?: string;
  limits?: PolicyLimits;
  /** handlers by op name (the schema's enum Op entries: OP_ECHO -> echo); ops left out are declined */
  ops: { [K in keyof OpsOf<S>]?: OpSpec<OpsOf<S>[K]> };
}

/** An op as the daemon serves it. */
export interface BoundOp {
  readonly op: number;
  readonly name: string;
  readonly request: MessageCodec<unknown, unknown>;
  readonly response: MessageCodec<unknown, unknown>;
  readonly handler: (req: unknown, ctx: HandlerContext<unknown, unknown>) => unknown;
  /** the op's pressure rule; undefined for 'continue' */
  readonly underPressure: BoundPressure | undefined;
}

export interface BoundPressure {
  readonly at: Exclude<PressureLevel, 'none'>;
  readonly action: 'decline' | 'cheap';
  readonly cheap: ((req: unknown, ctx: HandlerContext<unknown, unknown>) => unknown) | undefined;
}

/** Validates an op's underPressure; KOFFLOAD_ERR_BAD_POLICY, or MISSING_HANDLER for 'cheap' without a function. */
function resolvePressure(raw: unknown, where: string): BoundPressure | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw !== 'object' || raw === null) fail('KOFFLOAD_ERR_BAD_POLICY', `${where} must be an object { action, at?, cheap? }`);
  const p = raw as Record<string, unknown>;
  for (const k of Object.keys(p)) if (!['at', 'action', 'cheap'].includes(k)) fail('KOFFLOAD_ERR_BAD_POLICY', `${where}.${k} is unknown (at, action, cheap)`);
  const at = p['at'] ?? 'some';
  if (at !== 'some' && at !== 'full') fail('KOFFLOAD_ERR_BAD_POLICY', `${where}.at must be 'some' or 'full', got ${String(at)}`);
  const action = p['action'];
  if (action !== 'decline' && action !== 'cheap' && action !== 'continue') {
    fail('KOFFLOAD_ERR_BAD_POLICY', `${where}.action must be 'decline', 'cheap' or 'continue', got ${String(action)}`);
  }
  if (action === 'cheap' && typeof p['cheap'] !== 'function') fail('KOFFLOAD_ERR_MISSING_HANDLER', `${where}.cheap must be a handler function with action 'cheap'`);
  if (action !== 'cheap' && p['cheap'] !== undefined) fail('KOFFLOAD_ERR_BAD_POLICY', `${where}.cheap is only used with action 'cheap'`);
  if (action === 'continue') return undefined;
  return Object.freeze({ at, action, cheap: action === 'cheap' ? (p['cheap'] as BoundPressure['cheap']) : undefined });
}

export interface Policy<S extends Schema<any> = Schema<any>> {
  readonly [POLICY_BRAND]: true;
  readonly name: string;
  readonly subsystem: string;
  readonly schema: S;
  readonly limits: ResolvedLimits;
  /** the limits the author set, before defaults */
  readonly explicitLimits: Readonly<PolicyLimits>;
  /** by op id */
  readonly ops: ReadonlyMap<number, BoundOp>;
}

export function isPolicy(v: unknown): v is Policy {
  return typeof v === 'object' && v !== null && (v as Record<symbol, unknown>)[POLICY_BRAND] === true;
}

function fail(code: ConstructorParameters<typeof KoffloadError>[0], detail: string): never {
  throw new KoffloadError(code, detail);
}

/** Validates and resolves limits; KOFFLOAD_ERR_BAD_LIMITS. */
export function resolveLimits(limits: unknown, where = 'limits'): ResolvedLimits {
  if (limits === undefined) return { ...DEFAULT_LIMITS };
  if (typeof limits !== 'object' || limits === null || Array.isArray(limits)) fail('KOFFLOAD_ERR_BAD_LIMITS', `${where} must be an object`);
  const out: Record<string, number> = { ...DEFAULT_LIMITS };
  for (const [k, v] of Object.entries(limits as Record<string, unknown>)) {
    const b = LIMIT_BOUNDS[k as keyof PolicyLimits];
    if (!b) fail('KOFFLOAD_ERR_BAD_LIMITS', `${where}.${k} is not a limit (known: ${Object.keys(LIMIT_BOUNDS).join(', ')})`);
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < b[0] || v > b[1]) {
      fail('KOFFLOAD_ERR_BAD_LIMITS', `${where}.${k} must be an integer in ${b[0]}..${b[1]}, got ${String(v)}`);
    }
    out[k] = v;
  }
  return out as unknown as ResolvedLimits;
}

function checkSubsystemName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || name.length === 0) fail('KOFFLOAD_ERR_UNKNOWN_SUBSYSTEM', 'subsystem must be a non-empty string');
  if (Buffer.byteLength(name) > KOFFLOAD.limits.nameMax - 1 || name.includes('\0')) {
    fail('KOFFLOAD_ERR_UNKNOWN_SUBSYSTEM', `subsystem name '${name}' is longer than ${KOFFLOAD.limits.nameMax - 1} bytes or holds NUL`);
  }
}

function isSchema(v: unknown): v is Schema {
  return typeof v === 'object' && v !== null && typeof (v as Schema).name === 'string' && typeof (v as Schema).ops === 'object' && (v as Schema).messages instanceof Map;
}

/**
 * Declares a policy. Throws a KoffloadError at once on: a bad subsystem
 * name or no schema (UNKNOWN_SUBSYSTEM), an op the schema does not have
 * (UNKNOWN_OP), an op without a handler function (MISSING_HANDLER), op or
 * codecs that differ from the schema's (SCHEMA_MISMATCH), bad limits
 * (BAD_LIMITS). Two ops resolving to one op id: DUPLICATE_OP.
 */
export function definePolicy<S extends Schema<any>>(spec: PolicySpec<S>): Policy<S> {
  if (typeof spec !== 'object' || spec === null) fail('KOFFLOAD_ERR_BAD_POLICY', 'definePolicy() needs an object');
  checkSubsystemName(spec.subsystem);
  if (!isSchema(spec.schema)) fail('KOFFLOAD_ERR_UNKNOWN_SUBSYSTEM', `no schema given for subsystem '${spec.subsystem}' (import it from src/generated/proto/)`);
  const schema = spec.schema as Schema;
  const limits = resolveLimits(spec.limits);
  if (typeof spec.ops !== 'object' || spec.ops === null) fail('KOFFLOAD_ERR_MISSING_HANDLER', 'ops must be an object of op specs');
  const ops = new Map<number, BoundOp>();
  for (const [key, raw] of Object.entries(spec.ops as Record<string, unknown>)) {
    if (raw === undefined) continue;
    const sop = Object.prototype.hasOwnProperty.call(schema.ops, key) ? schema.ops[key] : undefined;
    if (!sop) fail('KOFFLOAD_ERR_UNKNOWN_OP', `schema ${schema.name} has no op '${key}' (ops: ${Object.keys(schema.ops).join(', ') || 'none'})`);
    if (typeof raw !== 'object' || raw === null) fail('KOFFLOAD_ERR_MISSING_HANDLER', `ops.${key} must be an object with a handler`);
    const o = raw as Partial<OpSpec<OpTypes>>;
    if (typeof o.handler !== 'function') fail('KOFFLOAD_ERR_MISSING_HANDLER', `ops.${key}.handler is not a function`);
    if (o.op !== undefined && o.op !== sop.op) fail('KOFFLOAD_ERR_SCHEMA_MISMATCH', `ops.${key}.op is ${String(o.op)}, the schema says ${sop.op}`);
    if (o.request !== undefined && o.request?.typeName !== sop.request.typeName) {
      fail('KOFFLOAD_ERR_SCHEMA_MISMATCH', `ops.${key}.request is ${String(o.request?.typeName)}, the schema says ${sop.request.typeName}`);
    }
    if (o.response !== undefined && o.response?.typeName !== sop.response.typeName) {
      fail('KOFFLOAD_ERR_SCHEMA_MISMATCH', `ops.${key}.response is ${String(o.response?.typeName)}, the schema says ${sop.response.typeName}`);
    }
    if (sop.op < 1 || sop.op >= KOFFLOAD.limits.opsMax) fail('KOFFLOAD_ERR_UNKNOWN_OP', `op ${key} = ${sop.op} is outside 1..${KOFFLOAD.limits.opsMax - 1}`);
    if (ops.has(sop.op)) fail('KOFFLOAD_ERR_DUPLICATE_OP', `op ${sop.op} (${key}) is registered twice`);
    const underPressure = resolvePressure(o.underPressure, `ops.${key}.underPressure`);
    ops.set(sop.op, Object.freeze({ op: sop.op, name: key, request: sop.request, response: sop.response, handler: o.handler as BoundOp['handler'], underPressure }));
  }
  if (ops.size === 0) fail('KOFFLOAD_ERR_MISSING_HANDLER', `policy for ${spec.subsystem} has no op handlers`);
  return Object.freeze({
    [POLICY_BRAND]: true as const,
    name: typeof spec.name === 'string' && spec.name ? spec.name : spec.subsystem,
    subsystem: spec.subsystem,
    schema: spec.schema,
    limits: Object.freeze(limits),
    explicitLimits: Object.freeze({ ...(spec.limits ?? {}) }),
    ops,
  });
}

/** The policies served for one subsystem, merged. */
export interface SubsystemPolicy {
  readonly subsystem: string;
  readonly name: string;
  readonly limits: ResolvedLimits;
  readonly ops: ReadonlyMap<number, BoundOp>;
}

/**
 * The set of policies a daemon serves. Several policies may serve one
 * subsystem when their ops are disjoint (one module per op); the same op
 * twice is KOFFLOAD_ERR_DUPLICATE_OP, different explicit limits
 * KOFFLOAD_ERR_BAD_LIMITS.
 */
export class PolicyRegistry {
  private readonly subs = new Map<string, { names: string[]; limits: PolicyLimits; ops: Map<number, BoundOp> }>();

  add(policy: unknown): this {
    if (!isPolicy(policy)) fail('KOFFLOAD_ERR_BAD_POLICY', 'not a value returned by definePolicy()');
    let s = this.subs.get(policy.subsystem);
    if (!s) {
      s = { names: [], limits: {}, ops: new Map() };
      this.subs.set(policy.subsystem, s);
    }
    for (const [op, b] of policy.ops) {
      if (s.ops.has(op)) fail('KOFFLOAD_ERR_DUPLICATE_OP', `${policy.subsystem} op ${op} (${b.name}) is served by ${s.names.join(', ')} and ${policy.name}`);
    }
    const merged: PolicyLimits = { ...s.limits };
    for (const [k, v] of Object.entries(policy.explicitLimits) as [keyof PolicyLimits, number | undefined][]) {
      if (v === undefined) continue;
      if (merged[k] !== undefined && merged[k] !== v) {
        fail('KOFFLOAD_ERR_BAD_LIMITS', `${policy.subsystem}: limits.${k} is ${merged[k]} in ${s.names.join(', ')} and ${v} in ${policy.name}`);
      }
      merged[k] = v;
    }
    s.limits = merged;
    for (const [op, b] of policy.ops) s.ops.set(op, b);
    s.names.push(policy.name);
    return this;
  }

  get size(): number {
    return this.subs.size;
  }

  subsystems(): SubsystemPolicy[] {
    return [...this.subs.entries()].map(([subsystem, s]) => ({
      subsystem,
      name: s.names.join('+'),
      limits: resolveLimits(s.limits),
      ops: s.ops,
    }));
  }

  get(subsystem: string): SubsystemPolicy | undefined {
    return this.subsystems().find((s) => s.subsystem === subsystem);
  }
}
