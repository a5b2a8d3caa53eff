/**
 * Client of the `koffload` genl family: bind a subsystem, receive the
 * kernel's REQUESTs, answer them, publish advisory decisions, read stats.
 *
 * Replies are fire-and-forget and batched: every reply() queued in one
 * event-loop turn goes out in one sendmsg() at setImmediate, or earlier,
 * before any other command of this client, so commands never overtake
 * replies queued before them. The kernel
 * answers a failed REPLY with an NLMSG_ERROR even without NLM_F_ACK; those
 * are counted by errno (ENOENT = the call already ended: a late reply) and
 * emitted as 'replyError'; when one sendmsg() of a batch split in several
 * fails, only its replies are counted failed.
 *
 * Malformed REQUESTs are counted and never thrown; one whose req-id still
 * decodes is DECLINEd at once, so its caller does not wait out its
 * deadline for an answer that cannot come. REQUEST flag bits this build
 * does not know (a newer module's) are ignored, like unknown attributes.
 */
import { EventEmitter } from 'node:events';
import { KoffloadError, WireError } from '../errors.js';
import {
  KOFFLOAD,
  type Circuit,
  type Counter,
  type Mode,
  type Outcome,
  type Status,
} from '../generated/wire.js';
import {
  type AttrInputs,
  type GenlMessage,
  decodeAttrs,
  decodeGenl,
  decodeU64Nest,
  encodeAttrs,
} from '../netlink/codec.js';
import type { GenlClient, NlErrorEvent } from '../netlink/genl.js';
import { monotonicOffsetNs } from '../runtime/timens.js';
import { type FamilyClientOptions, openFamily } from './family.js';

type Spec = typeof KOFFLOAD.attrSpec;
const SPEC: Spec = KOFFLOAD.attrSpec;
const CMD = KOFFLOAD.cmd;
/** REQUEST flags known to this build; others are dropped, not rejected */
const REQ_FLAGS_KNOWN = SPEC.flags.mask;
/** the spec a REQUEST is decoded with: flags without the mask check */
const REQUEST_SPEC = { ...SPEC, flags: { id: SPEC.flags.id, type: SPEC.flags.type } } as const;
const REQ_ID_ONLY = { reqId: SPEC.reqId } as const;

export interface KoffloadClientOptions extends FamilyClientOptions {
  /**
   * This process's CLOCK_MONOTONIC minus the kernel's (a time namespace's
   * offset), added to every REQUEST deadline, ns.
   * @default read from /proc/self/timens_offsets (0n outside a time namespace)
   */
  monotonicOffsetNs?: bigint;
}

export interface BindOptions {
  /** subsystem name, at most KOFFLOAD.limits.nameMax - 1 bytes */
  name: string;
  /** rollout mode. @default the kernel's: 'on' */
  mode?: Mode;
  /** canary fraction, 0..1000. @default the kernel's: 1000 */
  canaryPermille?: number;
  /** deadline cap in ms, 0..60000 (0 = the subsystem's own). @default 0 */
  deadlineMs?: number;
  /** in-flight cap, 0..4096 (0 = the subsystem's own). @default 0 */
  maxInflight?: number;
}

export interface BindResult {
  subsysId: number;
  /** largest payload the kernel accepts, bytes */
  payloadMax: number;
  /** the subsystem's in-flight limit */
  inflightMax: number;
  /** largest deadline the kernel allows, ms */
  deadlineMaxMs: number;
  /** everything the kernel reported about the subsystem at bind time */
  info: SubsysInfo;
}

/** One REQUEST from the kernel. */
export interface KernelRequest {
  /** unique while pending; 0 for shadow requests, which take no reply */
  reqId: bigint;
  subsysId: number;
  op: number;
  /**
   * absolute CLOCK_MONOTONIC deadline on this process's clock, comparable
   * with process.hrtime.bigint() (the kernel's deadline-ns plus the time
   * namespace offset, see KoffloadClientOptions.monotonicOffsetNs)
   */
  deadlineNs: bigint;
  /** KOFFLOAD.reqFlag bits */
  flags: number;
  payload: Buffer;
  /** the kernel's own choice, with flag hasDefault */
  default?: Buffer;
}

/** A subsystem as GET-SUBSYS reports it. */
export interface SubsysInfo {
  subsysId: number;
  name: string;
  /** whether a handler is bound */
  bound: boolean;
  /**
   * netlink port of the bound handler socket; 0 when unbound, or when the
   * reader lacks CAP_NET_ADMIN (the kernel shows it only to admins)
   */
  portid: number;
  /** tgid of the bound handler; 0 when unbound or not shown (see portid) */
  boundPid: number;
  mode: Mode;
  canaryPermille: number;
  deadlineMs: number;
  maxInflight: number;
  pending: number;
  circuit: Circuit;
  nrOps: number;
  payloadMax: number;
  inflightMax: number;
  deadlineMaxMs: number;
  outcomes: Record<Outcome, bigint>;
  counters: Record<Counter, bigint>;
}

export interface ReplyErrorEvent {
  /** the request the failed reply answered, when the kernel echoed it */
  reqId?: bigint;
  errno: number;
  code: string;
  extack?: string;
}

export interface KoffloadClientStats {
  /** messages from the kernel that failed to decode (includes malformedRequests) */
  decodeErrors: number;
  /** REQUESTs dropped as malformed */
  malformedRequests: number;
  /** malformed REQUESTs whose req-id decoded, DECLINEd at once */
  malformedDeclined: number;
  /** requests received */
  requests: number;
  /**
   * growth of the kernel's drop counter for this socket (see
   * GenlSocketStats.drops): REQUESTs lost to a full receive buffer, whose
   * callers fall back; what ENOBUFS would report
   */
  enobufs: number;
  /** replies queued */
  replies: number;
  /** sendmsg() calls that carried replies */
  replyBatches: number;
  /** replies dropped because the client was closed */
  repliesDropped: number;
  /** fire-and-forget replies the kernel rejected, by errno name */
  replyErrors: Record<string, number>;
  /** replies rejected with ENOENT: the call had already ended */
  lateReplies: number;
  /** genl messages that are neither REQUESTs nor answers */
  unexpected: number;
}

export interface KoffloadClientEvents {
  request: [req: KernelRequest];
  replyError: [ev: ReplyErrorEvent];
  /** the receive buffer overran; `dropped` REQUESTs were lost (their callers fall back) */
  overrun: [dropped: number];
  decodeError: [err: Error];
  close: [err?: Error];
}

function invalid(detail: string): KoffloadError {
  return new KoffloadError('KOFFLOAD_ERR_INVALID_ARG', detail);
}

function statusValue(status: number | Status): number {
  if (typeof status === 'string') {
    if (!(status in KOFFLOAD.status)) throw invalid(`unknown status '${status}'`);
    return KOFFLOAD.status[status];
  }
  if (!Number.isInteger(status) || status < 0 || status > KOFFLOAD.statusNames.length - 1) {
    throw invalid(`status must be 0..${KOFFLOAD.statusNames.length - 1}, got ${status}`);
  }
  return status;
}

function modeValue(mode: Mode): number {
  if (!(mode in KOFFLOAD.mode)) throw invalid(`unknown mode '${String(mode)}'`);
  return KOFFLOAD.mode[mode];
}

function checkReqId(reqId: bigint): void {
  if (typeof reqId !== 'bigint' || reqId < 0n || reqId > 0xffffffffffffffffn) throw invalid(`reqId must be a u64 bigint, got ${String(reqId)}`);
}

function need<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new WireError(`missing attribute ${what}`);
  return v;
}

/** Decodes one GET-SUBSYS / BIND reply. */
export function parseSubsys(msg: GenlMessage): SubsysInfo {
  const { values: v } = decodeAttrs(msg.attrs, SPEC);
  const empty = Buffer.alloc(0);
  return {
    subsysId: need(v.subsysId, 'subsys-id'),
    name: need(v.subsysName, 'subsys-name'),
    bound: (v.bound ?? 0) !== 0,
    portid: v.portid ?? 0,
    boundPid: v.boundPid ?? 0,
    mode: KOFFLOAD.modeKeys[v.mode ?? KOFFLOAD.mode.off]!,
    canaryPermille: v.canaryPermille ?? 0,
    deadlineMs: v.deadlineMs ?? 0,
    maxInflight: v.maxInflight ?? 0,
    pending: v.pending ?? 0,
    circuit: KOFFLOAD.circuitKeys[v.circuit ?? KOFFLOAD.circuit.closed]!,
    nrOps: v.nrOps ?? 0,
    payloadMax: v.payloadMax ?? 0,
    inflightMax: v.inflightMax ?? 0,
    deadlineMaxMs: v.deadlineMaxMs ?? 0,
    outcomes: decodeU64Nest(v.outcomes ?? empty, KOFFLOAD.outcomeKeys),
    counters: decodeU64Nest(v.counters ?? empty, KOFFLOAD.counterKeys),
  };
}

/** Decodes one REQUEST, its deadline moved to this process's clock by `offsetNs`; throws WireError when it breaks the contract. */
export function parseRequest(msg: GenlMessage, offsetNs = 0n): KernelRequest {
  const { values: v } = decodeAttrs(msg.attrs, REQUEST_SPEC);
  const req: KernelRequest = {
    reqId: need(v.reqId, 'req-id'),
    subsysId: need(v.subsysId, 'subsys-id'),
    op: need(v.op, 'op'),
    deadlineNs: need(v.deadlineNs, 'deadline-ns') + offsetNs,
    flags: need(v.flags, 'flags') & REQ_FLAGS_KNOWN,
    payload: need(v.payload, 'payload'),
  };
  if (v.default !== undefined) req.default = v.default;
  if ((req.flags & KOFFLOAD.reqFlag.hasDefault) !== 0 && req.default === undefined) {
    throw new WireError('flag has-default without a default attribute');
  }
  return req;
}

export class KoffloadClient extends EventEmitter<KoffloadClientEvents> {
  readonly stats: KoffloadClientStats = {
    decodeErrors: 0,
    malformedRequests: 0,
    malformedDeclined: 0,
    requests: 0,
    enobufs: 0,
    replies: 0,
    replyBatches: 0,
    repliesDropped: 0,
    replyErrors: {},
    lateReplies: 0,
    unexpected: 0,
  };
  private replyQueue: Array<{ reqId: bigint; attrs: Buffer[] }> = [];
  /**
   * Request id of each recent fire-and-forget REPLY by its sequence
   * number: with NETLINK_CAP_ACK an error answer echoes only the header.
   * Bounded: the oldest go first.
   */
  private readonly replySeqs = new Map<number, bigint>();
  private flushScheduled = false;

  private constructor(
    private readonly genl: GenlClient,
    readonly familyId: number,
    /** added to every REQUEST deadline (KoffloadClientOptions.monotonicOffsetNs) */
    readonly monotonicOffsetNs: bigint,
  ) {
    super();
    genl.on('message', (m) => this.onMessage(m));
    genl.on('nlError', (ev) => this.onNlError(ev));
    genl.on('decodeError', (err) => {
      this.stats.decodeErrors++;
      this.emit('decodeError', err);
    });
    genl.on('overrun', (dropped) => {
      this.stats.enobufs += dropped;
      this.emit('overrun', dropped);
    });
    genl.on('close', (err) => this.emit('close', err));
  }

  /**
   * Opens a socket and resolves the family. Rejects with
   * KOFFLOAD_ERR_NO_FAMILY when koffload.ko is not loaded, and with
   * KOFFLOAD_ERR_CLOCK when the time-namespace offset cannot be read.
   */
  static async open(options: KoffloadClientOptions = {}): Promise<KoffloadClient> {
    const offset = options.monotonicOffsetNs ?? monotonicOffsetNs();
    // a handler's socket: failed replies come back as headers only
    const { genl, familyId } = await openFamily(KOFFLOAD.familyName, { capAck: true, ...options });
    return new KoffloadClient(genl, familyId, offset);
  }

  /** This socket's netlink port id. */
  get portId(): number {
    return this.genl.portId;
  }

  get closed(): boolean {
    return this.genl.closed;
  }

  /** Counters of the genl layer below (foreign datagrams, timeouts, ...). */
  get transportStats(): GenlClient['stats'] {
    return this.genl.stats;
  }

  private req(cmd: number, attrs: AttrInputs<Spec>, opts: { dump?: boolean } = {}): Promise<GenlMessage[]> {
    let enc: Buffer[];
    try {
      enc = encodeAttrs(SPEC, attrs);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    // replies queued earlier go first: an UNBIND must not overtake them
    this.flush();
    return this.genl.request(this.familyId, cmd, enc, { version: KOFFLOAD.version, dump: opts.dump ?? false });
  }

  /**
   * Makes this socket the handler of subsystem `name` (CAP_NET_ADMIN).
   * A second bind from the same socket only changes the policy.
   */
  async bind(options: BindOptions): Promise<BindResult> {
    const attrs: AttrInputs<Spec> = {
      subsysName: options.name,
      version: KOFFLOAD.version,
      mode: options.mode === undefined ? undefined : modeValue(options.mode),
      canaryPermille: options.canaryPermille,
      deadlineMs: options.deadlineMs,
      maxInflight: options.maxInflight,
    };
    let msgs: GenlMessage[];
    try {
      msgs = await this.req(CMD.bind, attrs);
    } catch (err) {
      if (err instanceof Error && (err as { code?: unknown }).code === 'EPROTO') {
        throw new KoffloadError('KOFFLOAD_ERR_VERSION', `module refused version ${KOFFLOAD.version}`, { cause: err, errno: 71 });
      }
      throw err;
    }
    const m = msgs[0];
    if (!m) throw new WireError('BIND answered without a reply message');
    const info = parseSubsys(m);
    if (info.payloadMax === 0 || info.inflightMax === 0 || info.deadlineMaxMs === 0) {
      throw new WireError('BIND reply lacks the kernel limits');
    }
    return { subsysId: info.subsysId, payloadMax: info.payloadMax, inflightMax: info.inflightMax, deadlineMaxMs: info.deadlineMaxMs, info };
  }

  /** Releases the binding held by this socket; pending calls fall back at once. */
  async unbind(subsysId: number): Promise<void> {
    await this.req(CMD.unbind, { subsysId });
  }

  /**
   * Queues a fire-and-forget reply; all replies queued in one event-loop
   * turn leave in one sendmsg(). Throws KOFFLOAD_ERR_INVALID_ARG on bad
   * arguments; returns false (and counts) when the client is closed.
   */
  reply(reqId: bigint, status: number | Status, payload?: Uint8Array): boolean {
    checkReqId(reqId);
    const attrs = encodeAttrs(SPEC, { reqId, status: statusValue(status), payload });
    if (this.closed) {
      this.stats.repliesDropped++;
      return false;
    }
    this.stats.replies++;
    this.replyQueue.push({ reqId, attrs });
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        this.flush();
      });
    }
    return true;
  }

  /** Sends the queued replies now (also run at setImmediate). */
  private flush(): void {
    const queue = this.replyQueue;
    this.replyQueue = [];
    if (queue.length === 0) return;
    if (this.closed) {
      this.stats.repliesDropped += queue.length;
      return;
    }
    const { seqs, chunks } = this.genl.sendBatch(queue.map((q) => ({ familyId: this.familyId, cmd: CMD.reply, version: KOFFLOAD.version, attrs: q.attrs })));
    seqs.forEach((seq, i) => this.replySeqs.set(seq, queue[i]!.reqId));
    for (const seq of this.replySeqs.keys()) {
      if (this.replySeqs.size <= REPLY_SEQS_KEPT) break;
      this.replySeqs.delete(seq);
    }
    this.stats.replyBatches += chunks.length;
    for (const c of chunks) {
      c.sent.catch((err: unknown) => {
        const code = (err as { code?: unknown }).code;
        const key = typeof code === 'string' ? code : 'ESEND';
        this.stats.replyErrors[key] = (this.stats.replyErrors[key] ?? 0) + c.items;
      });
    }
  }

  /** A reply with NLM_F_ACK that resolves or rejects (NetlinkError) on the kernel's answer. */
  async replyAck(reqId: bigint, status: number | Status, payload?: Uint8Array): Promise<void> {
    checkReqId(reqId);
    await this.req(CMD.reply, { reqId, status: statusValue(status), payload });
  }

  /** Puts a decision into the subsystem's advisory cache; ttlMs 0 deletes the key. */
  async publish(subsysId: number, key: Uint8Array, payload: Uint8Array, ttlMs: number): Promise<void> {
    await this.req(CMD.publish, { subsysId, cacheKey: key, payload, cacheTtlMs: ttlMs });
  }

  /** One subsystem by id or name. */
  async getSubsys(idOrName: number | string): Promise<SubsysInfo> {
    const attrs: AttrInputs<Spec> = typeof idOrName === 'number' ? { subsysId: idOrName } : { subsysName: idOrName };
    const msgs = await this.req(CMD.getSubsys, attrs);
    const m = msgs[0];
    if (!m) throw new WireError('GET-SUBSYS answered without a reply message');
    return parseSubsys(m);
  }

  /** Every registered subsystem. */
  async dumpSubsys(): Promise<SubsysInfo[]> {
    const msgs = await this.req(CMD.getSubsys, {}, { dump: true });
    return msgs.map(parseSubsys);
  }

  /** Changes a subsystem's mode (CAP_NET_ADMIN). */
  async setMode(subsysId: number, mode: Mode, canaryPermille?: number): Promise<void> {
    await this.req(CMD.setMode, { subsysId, mode: modeValue(mode), canaryPermille });
  }

  private onMessage(m: GenlMessage): void {
    if (m.header.type !== this.familyId || m.cmd !== CMD.request) {
      this.stats.unexpected++;
      return;
    }
    let req: KernelRequest;
    try {
      req = parseRequest(m, this.monotonicOffsetNs);
    } catch (err) {
      this.stats.decodeErrors++;
      this.stats.malformedRequests++;
      this.emit('decodeError', err instanceof Error ? err : new Error(String(err)));
      const reqId = reqIdOf(m);
      // a shadow or advisory request (id 0) takes no reply
      if (reqId !== undefined && reqId !== 0n && this.reply(reqId, 'decline')) this.stats.malformedDeclined++;
      return;
    }
    this.stats.requests++;
    this.emit('request', req);
  }

  private onNlError(ev: NlErrorEvent): void {
    this.stats.replyErrors[ev.code] = (this.stats.replyErrors[ev.code] ?? 0) + 1;
    if (ev.code === 'ENOENT') this.stats.lateReplies++;
    const out: ReplyErrorEvent = { errno: ev.errno, code: ev.code };
    if (ev.extack !== undefined) out.extack = ev.extack;
    const reqId = this.replySeqs.get(ev.seq) ?? echoedReqId(ev, this.familyId);
    this.replySeqs.delete(ev.seq);
    if (reqId !== undefined) out.reqId = reqId;
    this.emit('replyError', out);
  }

  /** Closes the socket; queued replies are dropped, pending requests reject. */
  close(): void {
    this.genl.close();
  }
}

/** Fire-and-forget replies whose errors can still be told apart by sequence number. */
const REPLY_SEQS_KEPT = 8192;

/** The req-id of a message whose other attributes may be broken, when it decodes. */
function reqIdOf(m: GenlMessage): bigint | undefined {
  try {
    return decodeAttrs(m.attrs, REQ_ID_ONLY).values.reqId;
  } catch {
    return undefined;
  }
}

/** The req-id of a failed REPLY, read from the request the kernel echoed. */
function echoedReqId(ev: NlErrorEvent, familyId: number): bigint | undefined {
  if (!ev.requestPayload || ev.request.type !== familyId) return undefined;
  try {
    const g = decodeGenl({ header: ev.request, payload: ev.requestPayload });
    if (g.cmd !== CMD.reply) return undefined;
    return decodeAttrs(g.attrs, SPEC).values.reqId;
  } catch {
    return undefined;
  }
}
