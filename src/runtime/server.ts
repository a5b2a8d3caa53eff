/**
 * Serving one subsystem: lanes, deadlines, answers.
 *
 * Each subsystem gets two p-queue lanes: one for requests the kernel waits
 * on, one for advisory (non-waiting) requests, so advisory work never
 * queues behind blocking work. p-queue has no length cap and its timeout
 * starts only when a task leaves the queue, so load shedding and deadlines
 * are ours:
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
 * - a running handler gets an AbortSignal that fires at the deadline, or
 *   earlier when drain() begins (stop, reload); a
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
 * - a ctx.publish() that fails is logged and counted (publishErrors) even
 *   when the handler does not await it: an unhandled rejection would end
 *   the process.
 *
 * Replies go through the transport's reply(), which sends every reply of
 * one event-loop turn in one sendmsg().
 */
import PQueue from 'p-queue';
import { KOFFLOAD, type Status } from '../generated/wire.js';
import type { KernelRequest } from '../kernel/client.js';
import { AdvisoryCache } from './cache.js';
import { type Clock, cannotMeet, deadlineSignal, monotonicNs } from './deadline.js';
import { type BoundOp, type HandlerContext, type Logger, type SubsystemPolicy, silentLogger } from './policy.js';
import { isDecline, statusOfThrown } from './status.js';

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

type Base = { lane: Lane; req: KernelRequest; opName: string | undefined; arrived: bigint };

/** A request waiting in a lane, not started. */
interface Queued {
  base: Base;
  extra: { request: unknown; default: unknown };
  /** started, or finished by drain() */
  done: boolean;
  resolve: (ev: DecisionEvent) => void;
}

export class SubsystemServer {
  readonly policy: SubsystemPolicy;
  readonly subsysId: number;
  readonly role: Role;
  private readonly transport: Transport;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly onDecision: ((ev: DecisionEvent) => void) | undefined;
  private readonly onPublishError: ((err: unknown) => void) | undefined;
  private readonly lanes: Record<Lane, { queue: PQueue; concurrency: number; max: number; waiting: Set<Queued> }>;
  private readonly budgetNs: bigint;
  private closing = false;
  /** aborts every running handler's ctx.signal when drain() begins */
  private readonly draining = new AbortController();
  /** abandoned handlers whose promise has not settled yet */
  abandonedRunning = 0;
  /** ctx.publish() calls that failed (awaited by the handler or not) */
  publishErrors = 0;

  constructor(opts: SubsystemServerOptions) {
    this.policy = opts.policy;
    this.subsysId = opts.subsysId;
    this.transport = opts.transport;
    this.role = opts.role ?? 'live';
    this.logger = opts.logger ?? silentLogger;
    this.clock = opts.clock ?? monotonicNs;
    this.onDecision = opts.onDecision;
    this.onPublishError = opts.onPublishError;
    const l = this.policy.limits;
    this.lanes = {
      blocking: { queue: new PQueue({ concurrency: l.concurrency }), concurrency: l.concurrency, max: l.queueMax, waiting: new Set() },
      advisory: { queue: new PQueue({ concurrency: l.advisoryConcurrency }), concurrency: l.advisoryConcurrency, max: l.advisoryQueueMax, waiting: new Set() },
    };
    this.budgetNs = BigInt(l.minBudgetUs) * 1000n;
  }

  laneStats(lane: Lane): LaneStats {
    const q = this.lanes[lane].queue;
    return { queued: q.size, running: q.pending };
  }

  get subsystem(): string {
    return this.policy.subsystem;
  }

  /** Handles one request; resolves with what was done once it is done. Never rejects. */
  handle(req: KernelRequest): Promise<DecisionEvent> {
    const arrived = this.clock();
    const lane: Lane = (req.flags & KOFFLOAD.reqFlag.advisory) !== 0 ? 'advisory' : 'blocking';
    const bop = this.policy.ops.get(req.op);
    const base = { lane, req, opName: bop?.name, arrived };
    if (this.closing) return Promise.resolve(this.finishShutdown(base, {}));
    if (!bop) return Promise.resolve(this.finish(base, 'unimplemented', 'decline'));
    let request: unknown;
    try {
      request = bop.request.decode(req.payload);
    } catch (err) {
      this.logger.warn('request payload does not decode', { subsystem: this.subsystem, op: bop.name, err: String(err) });
      return Promise.resolve(this.finish(base, 'bad_request', 'decline', { error: err }));
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
    if (this.abandonedRunning >= this.policy.limits.abandonedMax) {
      return Promise.resolve(this.finish(base, 'stalled', 'error', { request, default: dflt }));
    }
    // a free slot takes the request at once, whatever queueMax says
    if (l.queue.pending >= l.concurrency && l.queue.size >= l.max) return Promise.resolve(this.finish(base, 'shed', 'decline', { request, default: dflt }));
    return new Promise<DecisionEvent>((resolve) => {
      const entry: Queued = { base, extra: { request, default: dflt }, done: false, resolve };
      l.waiting.add(entry);
      void l.queue.add(async () => {
        if (entry.done) return; // finished by drain()
        l.waiting.delete(entry);
        entry.done = true;
        try {
          resolve(await this.run(base, bop, request, dflt));
        } catch (err) {
          // run() does not throw; should it, the caller still gets exactly one outcome
          this.logger.error('serving a request failed', { subsystem: this.subsystem, err: String(err) });
          resolve(this.finish(base, 'error', 'error', { request, default: dflt, error: err }));
        }
      });
    });
  }

  /** Finishes a request at shutdown: DECLINE while its caller still waits, nothing past its deadline. */
  private finishShutdown(base: Base, extra: Partial<Pick<DecisionEvent, 'request' | 'default'>>): DecisionEvent {
    return this.finish(base, 'shutdown', this.clock() < base.req.deadlineNs ? 'decline' : undefined, extra);
  }

  private async run(
    base: { lane: Lane; req: KernelRequest; opName: string | undefined; arrived: bigint },
    bop: BoundOp,
    request: unknown,
    dflt: unknown,
  ): Promise<DecisionEvent> {
    const { req } = base;
    const extra = { request, default: dflt };
    if (this.closing) return this.finishShutdown(base, extra);
    const start = this.clock();
    const late = base.lane === 'advisory' ? BigInt(this.policy.limits.advisoryLateMs) * 1_000_000n : 0n;
    const deadlineNs = req.deadlineNs + late;
    if (cannotMeet(deadlineNs, start, this.budgetNs)) {
      // past the deadline nobody waits: no reply (see the header comment)
      return this.finish(base, 'expired', start >= deadlineNs ? undefined : 'decline', extra);
    }
    const ds = deadlineSignal(deadlineNs, this.clock);
    // ctx.signal: the deadline or the start of drain(), whichever comes first
    const ac = new AbortController();
    const onDeadline = (): void => ac.abort(ds.signal.reason);
    const onDrain = (): void => ac.abort(new ServerDrainingError());
    if (ds.signal.aborted) onDeadline();
    else ds.signal.addEventListener('abort', onDeadline, { once: true });
    if (this.draining.signal.aborted) onDrain();
    else this.draining.signal.addEventListener('abort', onDrain, { once: true });
    const shadow = this.role === 'shadow' || (req.flags & KOFFLOAD.reqFlag.shadow) !== 0;
    const cache = new AdvisoryCache(shadow ? noPublish : this.transport, this.subsysId, bop.response);
    // handled here too, so a handler that does not await a publish cannot end the process
    const watch = (p: Promise<void>, what: string): Promise<void> => {
      p.catch((err: unknown) => {
        this.publishErrors++;
        this.logger.warn(what, { subsystem: this.subsystem, op: bop.name, err: String(err) });
        this.onPublishError?.(err);
      });
      return p;
    };
    const ctx: HandlerContext<unknown, unknown> = {
      subsystem: this.subsystem,
      op: bop.op,
      opName: bop.name,
      reqId: req.reqId,
      deadlineNs,
      signal: ac.signal,
      logger: this.logger,
      default: dflt,
      shadow,
      advisory: base.lane === 'advisory',
      // AdvisoryCache's checks (key 1..keyMax bytes, ttl 1..cacheTtlMaxMs, encodable value);
      // shadow requests get the same checks, and nothing is sent
      publish: (key, value, ttlMs) => watch(cache.publish(key, value, ttlMs), 'ctx.publish() failed'),
      publishBytes: (key, payload, ttlMs) => watch(cache.publishBytes(key, payload, ttlMs), 'ctx.publishBytes() failed'),
    };
    type Settled = { kind: 'value'; v: unknown } | { kind: 'throw'; e: unknown } | { kind: 'abandoned' };
    const ran: Promise<Settled> = (async () => bop.handler(request, ctx))().then(
      (v): Settled => ({ kind: 'value', v }),
      (e: unknown): Settled => ({ kind: 'throw', e }),
    );
    const abandonment = new Promise<Settled>((resolve) => {
      if (ds.signal.aborted) resolve({ kind: 'abandoned' });
      else ds.signal.addEventListener('abort', () => resolve({ kind: 'abandoned' }), { once: true });
    });
    const settled = await Promise.race([ran, abandonment]);
    ds.dispose();
    ds.signal.removeEventListener('abort', onDeadline);
    this.draining.signal.removeEventListener('abort', onDrain);
    const handlerNs = this.clock() - start;
    if (settled.kind === 'abandoned' || this.clock() >= deadlineNs) {
      if (settled.kind === 'abandoned') {
        this.abandonedRunning++;
        void ran.then(() => this.abandonedRunning--);
      }
      this.logger.warn('handler overran its deadline; abandoned', { subsystem: this.subsystem, op: bop.name });
      return this.finish(base, 'abandoned', undefined, { ...extra, handlerNs });
    }
    if (settled.kind === 'throw') {
      const status = statusOfThrown(settled.e);
      if (status === 'error') this.logger.error('handler threw', { subsystem: this.subsystem, op: bop.name, err: String(settled.e) });
      return this.finish(base, status === 'decline' ? 'declined' : 'error', status, { ...extra, handlerNs, error: settled.e });
    }
    if (isDecline(settled.v)) return this.finish(base, 'declined', 'decline', { ...extra, handlerNs });
    let payload: Buffer;
    try {
      payload = bop.response.encode(settled.v);
      if (payload.length > KOFFLOAD.limits.payloadMax) throw new Error(`response is ${payload.length} bytes, more than ${KOFFLOAD.limits.payloadMax}`);
    } catch (err) {
      this.logger.error('handler returned a response that does not encode', { subsystem: this.subsystem, op: bop.name, err: String(err) });
      return this.finish(base, 'bad_response', 'error', { ...extra, handlerNs, error: err, response: settled.v });
    }
    return this.finish(base, 'ok', 'ok', { ...extra, handlerNs, payload, response: settled.v });
  }

  private finish(
    base: { lane: Lane; req: KernelRequest; opName: string | undefined; arrived: bigint },
    outcome: RequestOutcome,
    status: Status | undefined,
    extra: Partial<Pick<DecisionEvent, 'request' | 'default' | 'response' | 'payload' | 'handlerNs' | 'error'>> = {},
  ): DecisionEvent {
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
      totalNs: this.clock() - base.arrived,
      arrivedNs: base.arrived,
      error: extra.error,
    };
    try {
      this.onDecision?.(ev);
    } catch (err) {
      this.logger.error('decision hook threw', { err: String(err) });
    }
    return ev;
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
    if (!this.draining.signal.aborted) this.draining.abort(new ServerDrainingError());
    for (const l of Object.values(this.lanes)) {
      const waiting = [...l.waiting];
      l.waiting.clear();
      l.queue.clear();
      for (const entry of waiting) {
        if (entry.done) continue;
        entry.done = true;
        entry.resolve(this.finishShutdown(entry.base, entry.extra));
      }
    }
    await Promise.all([this.lanes.blocking.queue.onIdle(), this.lanes.advisory.queue.onIdle()]);
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
    } else void s.handle(req);
    if (sh) void sh.handle(req);
  }

  /** Stops listening (requests are no longer routed). */
  detach(): void {
    this.transport.off('request', this.listener);
  }
}
