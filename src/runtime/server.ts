/**
 * Serving one subsystem: lanes, deadlines, answers.
 *
 * Each subsystem gets two lanes: one for requests the kernel waits on, one
 * for advisory (non-waiting) requests, so advisory work never queues
 * behind blocking work. A lane is a count of running handlers and a FIFO
 * of requests waiting for a slot (p-queue, which this replaced, has no
 * length cap, starts its timeout only when a task leaves the queue, and
 * cost a promise chain per request); load shedding and deadlines are ours:
 *
 * - a request that finds no free handler slot and queueMax requests already
 *   waiting is declined at once (outcome `shed`; queueMax 0: never queue);
 * - while limits.abandonedMax abandoned handlers are still running, a new
 *   request is refused with ERROR (outcome `stalled`): a handler that never
 *   settles would otherwise pile up copies of itself without bound, and
 *   ERROR (unlike DECLINE) counts toward the kernel's circuit breaker;
 * - a request is started only while at least minBudgetUs remain before its
 *   deadline; otherwise it is declined unstarted (`expired`), or, when the
 *   deadline has already passed, dropped without a reply; an advisory
 *   request's deadline is the kernel's plus limits.advisoryLateMs (nobody
 *   waits for it, no reply is sent);
 * - a running handler gets an AbortSignal (ctx.signal, created only when
 *   the handler reads it) that fires at the deadline, or earlier when
 *   drain() begins (stop, reload); a
 *   handler still running then is abandoned (`abandoned`): its slot is
 *   freed, its eventual answer discarded, and no reply is sent. The kernel
 *   has already completed the call with outcome `deadline`; a reply now
 *   would only bump the kernel's late-replies counter, which is kept for
 *   real races (a reply sent in time that lost to the deadline).
 * - a handler that throws gets an ERROR reply (statusOfThrown()), a
 *   response that does not encode as the op's type too (`bad_response`);
 * - requests with the kernel's shadow flag, and every request seen by a
 *   shadow policy, are computed and reported but never answered, and
 *   ctx.publish() checks their advice without sending it;
 * - under memory pressure (a PressureView, src/runtime/pressure.ts) at or
 *   above an op's underPressure.at, a request about to start is declined
 *   without running (action 'decline', outcome `pressure`) or runs the
 *   op's cheap handler instead (action 'cheap', event.cheap); the check is
 *   one read of the view's current state, made where the deadline is;
 * - a ctx.publish() that fails is logged and counted (publishErrors) even
 *   when the handler does not await it: an unhandled rejection would end
 *   the process.
 *
 * Replies go through the transport's reply(), which sends every reply of
 * one event-loop turn in one sendmsg().
 *
 * The fast path: a handler that returns a value (not a promise) is run,
 * answered and reported synchronously, in the turn its request arrived,
 * with no promise, timer or AbortController made for it. A handler that
 * returns a promise is watched by the process's one DeadlineQueue (one
 * timer for every deadline) and settled when the promise is.
 */
import { KOFFLOAD, type Status } from '../generated/wire.js';
import type { KernelRequest } from '../kernel/client.js';
import { AdvisoryCache } from './cache.js';
import { type Clock, DeadlineExceededError, DeadlineQueue, type DeadlineTicket, cannotMeet, monotonicNs } from './deadline.js';
import { type BoundOp, type HandlerContext, type Logger, type SubsystemPolicy, silentLogger } from './policy.js';
import { isDecline, statusOfThrown } from './status.js';
import { NO_PRESSURE_VIEW, type PressureState, type PressureView, pressureAtLeast } from './pressure.js';

/** What serving needs of a KoffloadClient. */
export interface Transport {
  on(event: 'request', listener: (req: KernelRequest) => void): unknown;
  off(event: 'request', listener: (req: KernelRequest) => void): unknown;
  reply(reqId: bigint, status: Status, payload?: Uint8Array): boolean;
  publish(subsysId: number, key: Uint8Array, payload: Uint8Array, ttlMs: number): Promise<void>;
}

/** How the daemon handled one request (a closed set: metric label `outcome`). */
export const OUTCOMES = [
  'ok',
  'declined',
  'error',
  'bad_response',
  'abandoned',
  'expired',
  'shed',
  'unimplemented',
  'bad_request',
  'shutdown',
  'stalled',
  'pressure',
] as const;
export type RequestOutcome = (typeof OUTCOMES)[number];

export type Role = 'live' | 'shadow';
export type Lane = 'blocking' | 'advisory';

/** One handled request, reported to metrics and the recorder. */
export interface DecisionEvent {
  subsystem: string;
  subsysId: number;
  role: Role;
  lane: Lane;
  req: KernelRequest;
  opName: string | undefined;
  outcome: RequestOutcome;
  /** the answer decided; undefined when none was (abandoned, expired past the deadline) */
  status: Status | undefined;
  /** true when a reply went to the kernel */
  replied: boolean;
  /** encoded response, with status ok */
  payload: Buffer | undefined;
  /** decoded request and kernel default, when they decoded */
  request: unknown;
  default: unknown;
  /** the response as returned by the handler */
  response: unknown;
  /** the handler's run time (0 when it did not run), ns */
  handlerNs: bigint;
  /** arrival to answer, ns */
  totalNs: bigint;
  /** arrival time, on the clock of deadlineNs */
  arrivedNs: bigint;
  /** the thrown error, with outcome error */
  error: unknown;
  /** the op's cheap handler ran instead of its handler (memory pressure) */
  cheap: boolean;
}

export interface SubsystemServerOptions {
  policy: SubsystemPolicy;
  subsysId: number;
  transport: Transport;
  /** live answers the kernel; shadow only computes and reports. @default 'live' */
  role?: Role;
  logger?: Logger;
  /** @default process.hrtime.bigint */
  clock?: Clock;
  onDecision?: (ev: DecisionEvent) => void;
  /** every failed ctx.publish(), after it is logged and counted in publishErrors */
  onPublishError?: (err: unknown) => void;
  /** the daemon's memory pressure (ctx.pressure, underPressure rules). @default always none */
  pressure?: PressureView;
}

export interface LaneStats {
  /** queued, not started */
  queued: number;
  /** handlers running (abandoned ones excluded) */
  running: number;
}

const noPublish: Pick<Transport, 'publish'> = { publish: async () => {} };

/** The abort reason of ctx.signal when the server starts draining (stop or reload). */
export class ServerDrainingError extends Error {
  readonly code = 'ESHUTDOWN';
  constructor() {
    super('the daemon is draining this subsystem (stop or reload)');
    this.name = 'ServerDrainingError';
  }
}

type Base = { lane: Lane; req: KernelRequest; opName: string | undefined; arrived: bigint; cheap?: boolean };
type Extra = Partial<Pick<DecisionEvent, 'request' | 'default' | 'response' | 'payload' | 'handlerNs' | 'error'>>;
type Done = ((ev: DecisionEvent) => void) | undefined;

interface LaneState {
  concurrency: number;
  max: number;
  /** handlers running (abandoned ones excluded) */
  running: number;
  /** requests waiting for a slot, oldest first, from `head` on */
  waiting: Job[];
  head: number;
}

/** One request from arrival to its one outcome. */
class Job implements Base {
  /** started, or finished by drain() */
  done = false;
  /** set once an outcome is reported */
  settled = false;
  ctx: Ctx | undefined;
  ticket: DeadlineTicket | undefined;
  start = 0n;
  /** runs the op's cheap handler (memory pressure) */
  cheap = false;
  constructor(
    readonly lane: Lane,
    readonly req: KernelRequest,
    readonly opName: string | undefined,
    readonly arrived: bigint,
    readonly bop: BoundOp,
    readonly request: unknown,
    readonly dflt: unknown,
    readonly onDone: Done,
  ) {}
}

/**
 * The HandlerContext: its signal is made on first read, already aborted
 * if the deadline passed or drain() began before that.
 */
class Ctx implements HandlerContext<unknown, unknown> {
  private ac: AbortController | undefined;
  /** why the signal fired or must fire when made */
  abortReason: Error | undefined;
  readonly default: unknown;
  constructor(
    private readonly server: SubsystemServer,
    private readonly bop: BoundOp,
    readonly reqId: bigint,
    readonly deadlineNs: bigint,
    dflt: unknown,
    readonly shadow: boolean,
    readonly advisory: boolean,
  ) {
    this.default = dflt;
  }

  get subsystem(): string {
    return this.server.subsystem;
  }

  get op(): number {
    return this.bop.op;
  }

  get opName(): string {
    return this.bop.name;
  }

  get logger(): Logger {
    return this.server.logger;
  }

  get pressure(): PressureState {
    return this.server.pressure.current;
  }

  get signal(): AbortSignal {
    if (!this.ac) {
      this.ac = new AbortController();
      if (this.abortReason) this.ac.abort(this.abortReason);
    }
    return this.ac.signal;
  }

  /** Fires the signal (once; the first reason wins). */
  abort(reason: Error): void {
    if (this.abortReason) return;
    this.abortReason = reason;
    this.ac?.abort(reason);
  }

  // AdvisoryCache's checks (key 1..keyMax bytes, ttl 1..cacheTtlMaxMs, encodable value);
  // shadow requests get the same checks, and nothing is sent
  publish(key: Uint8Array | string, value: unknown, ttlMs: number): Promise<void> {
    return this.server.publishFor(this.bop, this.shadow, (cache) => cache.publish(key, value, ttlMs), 'ctx.publish() failed');
  }

  publishBytes(key: Uint8Array | string, payload: Uint8Array, ttlMs: number): Promise<void> {
    return this.server.publishFor(this.bop, this.shadow, (cache) => cache.publishBytes(key, payload, ttlMs), 'ctx.publishBytes() failed');
  }
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && (typeof v === 'object' || typeof v === 'function') && typeof (v as { then?: unknown }).then === 'function';
}

export class SubsystemServer {
  readonly policy: SubsystemPolicy;
  readonly subsysId: number;
  readonly role: Role;
  readonly logger: Logger;
  private readonly transport: Transport;
  private readonly clock: Clock;
  private readonly deadlines: DeadlineQueue;
  private readonly onDecision: ((ev: DecisionEvent) => void) | undefined;
  private readonly onPublishError: ((err: unknown) => void) | undefined;
  private readonly lanes: Record<Lane, LaneState>;
  private readonly budgetNs: bigint;
  /** limits.advisoryLateMs, in ns */
  private readonly advisoryLateNs: bigint;
  private closing = false;
  /** running handlers that took a promise, for drain() to abort */
  private readonly pendingAsync = new Set<Job>();
  private idleWaiters: (() => void)[] = [];
  /** abandoned handlers whose promise has not settled yet */
  abandonedRunning = 0;
  /** ctx.publish() calls that failed (awaited by the handler or not) */
  publishErrors = 0;
  readonly pressure: PressureView;

  constructor(opts: SubsystemServerOptions) {
    this.policy = opts.policy;
    this.subsysId = opts.subsysId;
    this.transport = opts.transport;
    this.role = opts.role ?? 'live';
    this.logger = opts.logger ?? silentLogger;
    this.clock = opts.clock ?? monotonicNs;
    this.deadlines = DeadlineQueue.for(this.clock);
    this.onDecision = opts.onDecision;
    this.onPublishError = opts.onPublishError;
    this.pressure = opts.pressure ?? NO_PRESSURE_VIEW;
    const l = this.policy.limits;
    const lane = (concurrency: number, max: number): LaneState => ({ concurrency, max, running: 0, waiting: [], head: 0 });
    this.lanes = { blocking: lane(l.concurrency, l.queueMax), advisory: lane(l.advisoryConcurrency, l.advisoryQueueMax) };
    this.budgetNs = BigInt(l.minBudgetUs) * 1000n;
    this.advisoryLateNs = BigInt(l.advisoryLateMs) * 1_000_000n;
  }

  laneStats(lane: Lane): LaneStats {
    const l = this.lanes[lane];
    return { queued: l.waiting.length - l.head, running: l.running };
  }

  get subsystem(): string {
    return this.policy.subsystem;
  }

  /** Handles one request; resolves with what was done once it is done. Never rejects. */
  handle(req: KernelRequest): Promise<DecisionEvent> {
    return new Promise<DecisionEvent>((resolve) => this.serve(req, resolve));
  }

  /**
   * Handles one request, reporting its one outcome to onDecision (and to
   * `onDone`): synchronously when its handler returns a value, else when
   * the promise settles or the deadline passes. Never throws.
   */
  serve(req: KernelRequest, onDone?: (ev: DecisionEvent) => void): void {
    const arrived = this.clock();
    const lane: Lane = (req.flags & KOFFLOAD.reqFlag.advisory) !== 0 ? 'advisory' : 'blocking';
    const bop = this.policy.ops.get(req.op);
    if (this.closing) return this.report(onDone, this.finishShutdown({ lane, req, opName: bop?.name, arrived }, {}));
    if (!bop) return this.report(onDone, this.finish({ lane, req, opName: undefined, arrived }, 'unimplemented', 'decline'));
    let request: unknown;
    try {
      request = bop.request.decode(req.payload);
    } catch (err) {
      this.logger.warn('request payload does not decode', { subsystem: this.subsystem, op: bop.name, err: String(err) });
      return this.report(onDone, this.finish({ lane, req, opName: bop.name, arrived }, 'bad_request', 'decline', { error: err }));
    }
    let dflt: unknown;
    if (req.default !== undefined) {
      try {
        dflt = bop.response.decode(req.default);
      } catch {
        dflt = undefined;
      }
    }
    const l = this.lanes[lane];
    const job = new Job(lane, req, bop.name, arrived, bop, request, dflt, onDone);
    if (this.abandonedRunning >= this.policy.limits.abandonedMax) {
      return this.report(onDone, this.finish(job, 'stalled', 'error', { request, default: dflt }));
    }
    // a free slot takes the request at once, whatever queueMax says
    if (l.running < l.concurrency) {
      this.run(l, job);
      return;
    }
    if (l.waiting.length - l.head >= l.max) return this.report(onDone, this.finish(job, 'shed', 'decline', { request, default: dflt }));
    l.waiting.push(job);
  }

  private report(onDone: Done, ev: DecisionEvent): void {
    onDone?.(ev);
  }

  /** Starts the oldest waiting requests while slots are free. */
  private pump(l: LaneState): void {
    while (l.running < l.concurrency && l.head < l.waiting.length) {
      const job = l.waiting[l.head]!;
      l.waiting[l.head++] = undefined as unknown as Job;
      if (l.head > 32 && l.head * 2 > l.waiting.length) {
        l.waiting = l.waiting.slice(l.head);
        l.head = 0;
      }
      if (job.done) continue; // finished by drain()
      this.run(l, job);
    }
    if (l.running === 0 && l.head === l.waiting.length) this.checkIdle();
  }

  /** Finishes a request at shutdown: DECLINE while its caller still waits, nothing past its deadline. */
  private finishShutdown(base: Base, extra: Extra): DecisionEvent {
    return this.finish(base, 'shutdown', this.clock() < base.req.deadlineNs ? 'decline' : undefined, extra);
  }

  /** Runs a request in a slot of lane `l`; the slot is freed when it ends (or is abandoned). */
  private run(l: LaneState, job: Job): void {
    job.done = true;
    l.running++;
    const { bop, req } = job;
    let ev: DecisionEvent | undefined;
    try {
      if (this.closing) {
        ev = this.finishShutdown(job, { request: job.request, default: job.dflt });
        return;
      }
      const start = this.clock();
      const deadlineNs = this.deadlineOf(job);
      if (cannotMeet(deadlineNs, start, this.budgetNs)) {
        // past the deadline nobody waits: no reply (see the header comment)
        ev = this.finish(job, 'expired', start >= deadlineNs ? undefined : 'decline', { request: job.request, default: job.dflt });
        return;
      }
      let handler = bop.handler;
      const up = bop.underPressure;
      if (up !== undefined && pressureAtLeast(this.pressure.current.level, up.at)) {
        if (up.action === 'decline') {
          ev = this.finish(job, 'pressure', 'decline', { request: job.request, default: job.dflt });
          return;
        }
        handler = up.cheap!;
        job.cheap = true;
      }
      job.start = start;
      const shadow = this.role === 'shadow' || (req.flags & KOFFLOAD.reqFlag.shadow) !== 0;
      const ctx = new Ctx(this, bop, req.reqId, deadlineNs, job.dflt, shadow, job.lane === 'advisory');
      job.ctx = ctx;
      let result: unknown;
      try {
        result = handler(job.request, ctx);
      } catch (err) {
        ev = this.settle(job, 'throw', err);
        return;
      }
      if (!isThenable(result)) {
        ev = this.settle(job, 'value', result);
        return;
      }
      // a promise: the slot stays taken until it settles or the deadline passes
      this.pendingAsync.add(job);
      if (this.closing) ctx.abort(new ServerDrainingError());
      job.ticket = this.deadlines.add(deadlineNs, () => this.abandon(l, job, result as PromiseLike<unknown>));
      result.then(
        (v) => this.settleAsync(l, job, 'value', v),
        (e: unknown) => this.settleAsync(l, job, 'throw', e),
      );
    } catch (err) {
      // nothing above throws; should it, the caller still gets exactly one outcome
      this.logger.error('serving a request failed', { subsystem: this.subsystem, err: String(err) });
      ev = this.finish(job, 'error', 'error', { request: job.request, default: job.dflt, error: err });
    } finally {
      if (ev) {
        l.running--;
        job.settled = true;
        this.report(job.onDone, ev);
        this.pump(l);
      }
    }
  }

  private settleAsync(l: LaneState, job: Job, kind: 'value' | 'throw', v: unknown): void {
    if (job.settled) return; // abandoned: its slot was freed then
    job.settled = true;
    job.ticket?.cancel();
    this.pendingAsync.delete(job);
    let ev: DecisionEvent;
    try {
      ev = this.settle(job, kind, v);
    } catch (err) {
      this.logger.error('serving a request failed', { subsystem: this.subsystem, err: String(err) });
      ev = this.finish(job, 'error', 'error', { request: job.request, default: job.dflt, error: err });
    }
    l.running--;
    this.report(job.onDone, ev);
    this.pump(l);
  }

  /** The deadline passed with the handler's promise pending: its slot is freed, its answer will be dropped. */
  private abandon(l: LaneState, job: Job, ran: PromiseLike<unknown>): void {
    if (job.settled) return;
    job.settled = true;
    this.pendingAsync.delete(job);
    job.ctx?.abort(new DeadlineExceededError());
    this.abandonedRunning++;
    const left = (): void => {
      this.abandonedRunning--;
    };
    ran.then(left, left);
    this.logger.warn('handler overran its deadline; abandoned', { subsystem: this.subsystem, op: job.bop.name });
    const ev = this.finish(job, 'abandoned', undefined, { request: job.request, default: job.dflt, handlerNs: this.clock() - job.start });
    l.running--;
    this.report(job.onDone, ev);
    this.pump(l);
  }

  /** The outcome of a handler that returned or threw (sync or async). */
  private settle(job: Job, kind: 'value' | 'throw', v: unknown): DecisionEvent {
    // object literals, never spreads: a spread here cost microseconds per request
    const { bop } = job;
    const base = job;
    const now = this.clock();
    const handlerNs = now - job.start;
    if (now >= this.deadlineOf(job)) {
      this.logger.warn('handler overran its deadline; abandoned', { subsystem: this.subsystem, op: bop.name });
      return this.finish(base, 'abandoned', undefined, { request: job.request, default: job.dflt, handlerNs });
    }
    if (kind === 'throw') {
      const status = statusOfThrown(v);
      if (status === 'error') this.logger.error('handler threw', { subsystem: this.subsystem, op: bop.name, err: String(v) });
      return this.finish(base, status === 'decline' ? 'declined' : 'error', status, { request: job.request, default: job.dflt, handlerNs, error: v });
    }
    if (isDecline(v)) return this.finish(base, 'declined', 'decline', { request: job.request, default: job.dflt, handlerNs });
    let payload: Buffer;
    try {
      payload = bop.response.encode(v);
      if (payload.length > KOFFLOAD.limits.payloadMax) throw new Error(`response is ${payload.length} bytes, more than ${KOFFLOAD.limits.payloadMax}`);
    } catch (err) {
      this.logger.error('handler returned a response that does not encode', { subsystem: this.subsystem, op: bop.name, err: String(err) });
      return this.finish(base, 'bad_response', 'error', { request: job.request, default: job.dflt, handlerNs, error: err, response: v });
    }
    return this.finish(base, 'ok', 'ok', { request: job.request, default: job.dflt, handlerNs, payload, response: v }, now);
  }

  /** ctx.publish() and ctx.publishBytes(): checked always, sent only for a live, non-shadow request. */
  publishFor(bop: BoundOp, shadow: boolean, send: (cache: AdvisoryCache<unknown>) => Promise<void>, what: string): Promise<void> {
    const cache = new AdvisoryCache(shadow ? noPublish : this.transport, this.subsysId, bop.response);
    const p = send(cache);
    // handled here too, so a handler that does not await it cannot end the process
    p.catch((err: unknown) => {
      this.publishErrors++;
      this.logger.warn(what, { subsystem: this.subsystem, op: bop.name, err: String(err) });
      this.onPublishError?.(err);
    });
    return p;
  }

  /** The deadline a request is served to: the kernel's, plus limits.advisoryLateMs for an advisory one. */
  private deadlineOf(job: Job): bigint {
    return job.lane === 'advisory' ? job.req.deadlineNs + this.advisoryLateNs : job.req.deadlineNs;
  }

  /** Replies (when the request is answerable and a status was decided) and reports; `now` saves a clock read. */
  private finish(base: Base, outcome: RequestOutcome, status: Status | undefined, extra: Extra = {}, now?: bigint): DecisionEvent {
    const { req } = base;
    const answerable = this.role === 'live' && req.reqId !== 0n && (req.flags & KOFFLOAD.reqFlag.shadow) === 0;
    let replied = false;
    if (answerable && status !== undefined) {
      try {
        replied = this.transport.reply(req.reqId, status, status === 'ok' ? extra.payload : undefined);
      } catch (err) {
        this.logger.error('reply failed', { subsystem: this.subsystem, err: String(err) });
      }
    }
    const ev: DecisionEvent = {
      subsystem: this.subsystem,
      subsysId: this.subsysId,
      role: this.role,
      lane: base.lane,
      req,
      opName: base.opName,
      outcome,
      status,
      replied,
      payload: extra.payload,
      request: extra.request,
      default: extra.default,
      response: extra.response,
      handlerNs: extra.handlerNs ?? 0n,
      totalNs: (now ?? this.clock()) - base.arrived,
      arrivedNs: base.arrived,
      error: extra.error,
      cheap: base.cheap === true,
    };
    try {
      this.onDecision?.(ev);
    } catch (err) {
      this.logger.error('decision hook threw', { err: String(err) });
    }
    return ev;
  }

  private checkIdle(): void {
    if (this.lanes.blocking.running !== 0 || this.lanes.advisory.running !== 0 || this.idleWaiters.length === 0) return;
    const w = this.idleWaiters;
    this.idleWaiters = [];
    for (const f of w) f();
  }

  /**
   * Stops serving: requests arriving from now on and those still queued are
   * finished at once (outcome `shutdown`: DECLINE while the caller still
   * waits, no reply past the deadline) and the queues cleared; running
   * handlers see ctx.signal abort (ServerDrainingError) and finish (or are
   * abandoned at their deadlines). Resolves when both lanes are idle.
   */
  async drain(): Promise<void> {
    this.closing = true;
    for (const job of [...this.pendingAsync]) job.ctx?.abort(new ServerDrainingError());
    for (const l of Object.values(this.lanes)) {
      const waiting = l.waiting.slice(l.head);
      l.waiting = [];
      l.head = 0;
      for (const job of waiting) {
        if (job.done) continue;
        job.done = true;
        job.settled = true;
        this.report(job.onDone, this.finishShutdown(job, { request: job.request, default: job.dflt }));
      }
    }
    if (this.lanes.blocking.running === 0 && this.lanes.advisory.running === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }
}

/**
 * Routes a transport's REQUESTs to the servers of their subsystems: the
 * live one answers, a shadow one (a candidate policy) only computes. A
 * request for a subsystem nobody here serves is declined and counted.
 */
export class Dispatcher {
  private readonly live = new Map<number, SubsystemServer>();
  private readonly shadows = new Map<number, SubsystemServer>();
  private readonly listener = (req: KernelRequest): void => this.dispatch(req);
  /** requests for subsystems without a server here */
  unrouted = 0;

  constructor(private readonly transport: Transport) {
    transport.on('request', this.listener);
  }

  add(server: SubsystemServer): void {
    (server.role === 'live' ? this.live : this.shadows).set(server.subsysId, server);
  }

  remove(subsysId: number): void {
    this.live.delete(subsysId);
    this.shadows.delete(subsysId);
  }

  servers(): SubsystemServer[] {
    return [...this.live.values(), ...this.shadows.values()];
  }

  private dispatch(req: KernelRequest): void {
    const s = this.live.get(req.subsysId);
    const sh = this.shadows.get(req.subsysId);
    if (!s) {
      this.unrouted++;
      if (req.reqId !== 0n && (req.flags & KOFFLOAD.reqFlag.shadow) === 0) {
        try {
          this.transport.reply(req.reqId, 'decline');
        } catch {
          // closed: the kernel falls back on its own
        }
      }
    } else s.serve(req);
    if (sh) sh.serve(req);
  }

  /** Stops listening (requests are no longer routed). */
  detach(): void {
    this.transport.off('request', this.listener);
  }
}
