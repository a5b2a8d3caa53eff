/**
 * Client of the `koffload` genl family: bind a subsystem, receive the
 * kernel's REQUESTs, answer them, publish advisory decisions, read stats.
 *
 * Replies are fire-and-forget and batched: reply() writes the REPLY
 * straight into a reply buffer allocated once per client, and every reply
 * queued while one receive crossing's REQUESTs are handled goes out in one
 * sendmsg() when the crossing ends; replies queued at other times (async
 * handlers) at setImmediate; any of them earlier, before any other command
 * of this client, so commands never overtake replies queued before them.
 * REQUESTs are decoded straight from the socket's receive buffer by the
 * generated decodeRequest() (src/generated/wire-codec.ts); only the payload
 * and default, which the handler may keep, are copied. The kernel
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
import { Buffer } from 'node:buffer';
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
import { decodeRequest, encodeReply, sizeReply } from '../generated/wire-codec.js';
import { GENL_HDRLEN, NLMSG_HDRLEN, NLM_F, rd16, wr16, wr32 } from '../netlink/codec.js';
import type { GenlClient, NlErrorEvent } from '../netlink/genl.js';
import { monotonicOffsetNs } from '../runtime/timens.js';
import { type FamilyClientOptions, openFamily } from './family.js';
import { koffloadNl } from '../native/koffload-nl.js';

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
  /** REPLYs encoded and not sent yet: replyBuf[0, replyLen), replyCount of them */
  private readonly replyBuf: Buffer;
  private replyLen = 0;
  private replyCount = 0;
  /**
   * Request id of each recent fire-and-forget REPLY by its sequence
   * number (with NETLINK_CAP_ACK an error answer echoes only the header):
   * a ring indexed by seq, so the most recent REPLY_SEQS_KEPT are known.
   */
  private readonly replySeqs = new Uint32Array(REPLY_SEQS_KEPT);
  private readonly replyIds = new BigUint64Array(REPLY_SEQS_KEPT);
  private flushScheduled = false;
  private readonly flushSoon = (): void => {
    this.flushScheduled = false;
    this.flush();
  };

  private constructor(
    private readonly genl: GenlClient,
    private family: number,
    /** whether nlctrl can be asked for the id again: the peer is the kernel, not a simulator that may not answer it */
    private readonly familyResolvable: boolean,
    /** added to every REQUEST deadline (KoffloadClientOptions.monotonicOffsetNs) */
    readonly monotonicOffsetNs: bigint,
  ) {
    super();
    this.replyBuf = Buffer.alloc(genl.maxDatagramBytes);
    genl.setRawHandler((buf, off, len) => this.onRawRequest(buf, off, len));
    genl.on('batch', () => this.flush());
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
    const kernelPeer = !options.peerPort && options.socket === undefined;
    return new KoffloadClient(genl, familyId, options.familyId === undefined || kernelPeer, offset);
  }

  /** The genl family id this client talks to (refreshFamily() may change it). */
  get familyId(): number {
    return this.family;
  }

  /**
   * Asks nlctrl for the family's id again, for after koffload.ko was
   * unloaded and loaded anew (a new module gets a new id); the socket and
   * everything bound through it stay. Resolves with the id in use (the same
   * one when the family did not change, or when the peer is a simulator
   * whose id came from the options); rejects with NetlinkError ENOENT while
   * the family is not registered.
   */
  async refreshFamily(): Promise<number> {
    if (!this.familyResolvable) return this.family;
    // replies queued for the old family go first, and fail there
    this.flush();
    this.family = await this.genl.resolveFamily(KOFFLOAD.familyName);
    return this.family;
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
    return this.genl.request(this.family, cmd, enc, { version: KOFFLOAD.version, dump: opts.dump ?? false });
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
   * Locks the socket's receive arena and this client's REPLY buffer in
   * memory (mlock2): 0 or the errno of the first that failed. A no-op
   * for a socket without such buffers (the in-memory simulator).
   */
  lockBuffers(): number {
    const sock = this.genl.socket;
    if (!sock.lockBuffers) return 0;
    return sock.lockBuffers() || koffloadNl().mlockBuffer(this.replyBuf.buffer as ArrayBuffer);
  }

  /**
   * Queues a fire-and-forget reply; all replies queued in one event-loop
   * turn leave in one sendmsg(). Throws KOFFLOAD_ERR_INVALID_ARG on bad
   * arguments; returns false (and counts) when the client is closed.
   */
  reply(reqId: bigint, status: number | Status, payload?: Uint8Array): boolean {
    checkReqId(reqId);
    const values = { reqId, status: statusValue(status), payload };
    const size = NLMSG_HDRLEN + GENL_HDRLEN + sizeReply(values);
    if (size > this.replyBuf.length) throw invalid(`a REPLY of ${size} bytes does not fit a datagram of ${this.replyBuf.length}`);
    if (this.closed) {
      this.stats.repliesDropped++;
      return false;
    }
    if (this.replyLen + size > this.replyBuf.length) this.flush();
    const b = this.replyBuf;
    const start = this.replyLen;
    const seq = this.genl.allocSeq();
    const end = encodeReply(b, start + NLMSG_HDRLEN + GENL_HDRLEN, values);
    wr32(b, end - start, start);
    wr16(b, this.family, start + 4);
    wr16(b, NLM_F.REQUEST, start + 6);
    wr32(b, seq, start + 8);
    wr32(b, this.genl.portId, start + 12);
    b[start + 16] = CMD.reply;
    b[start + 17] = KOFFLOAD.version;
    wr16(b, 0, start + 18);
    this.replyLen = end;
    this.replyCount++;
    const slot = seq % REPLY_SEQS_KEPT;
    this.replySeqs[slot] = seq;
    this.replyIds[slot] = reqId;
    this.stats.replies++;
    // inside a receive crossing the socket's 'batch' event flushes; otherwise a turn of our own
    if (!this.flushScheduled && !this.genl.socket.receiving) {
      this.flushScheduled = true;
      setImmediate(this.flushSoon);
    }
    return true;
  }

  /** Sends the queued replies now, in one sendmsg() (also run when a receive crossing ends, and at setImmediate). */
  private flush(): void {
    const items = this.replyCount;
    if (items === 0) return;
    const len = this.replyLen;
    this.replyLen = 0;
    this.replyCount = 0;
    if (this.closed) {
      this.stats.repliesDropped += items;
      return;
    }
    this.stats.replyBatches++;
    // the buffer is read before sendEncoded() returns: the next replies may reuse it
    this.genl.sendEncoded(this.replyBuf.subarray(0, len)).catch((err: unknown) => {
      const code = (err as { code?: unknown }).code;
      const key = typeof code === 'string' ? code : 'ESEND';
      this.stats.replyErrors[key] = (this.stats.replyErrors[key] ?? 0) + items;
    });
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

  /**
   * The fast path: a REQUEST decoded straight from the receive buffer.
   * Returns false for anything else, and for a REQUEST that does not
   * decode, which the generic path then counts and declines.
   */
  private onRawRequest(buf: Buffer, off: number, len: number): boolean {
    if (len < NLMSG_HDRLEN + GENL_HDRLEN || rd16(buf, off + 4) !== this.family || buf[off + NLMSG_HDRLEN] !== CMD.request) return false;
    let a;
    try {
      a = decodeRequest(buf, off + NLMSG_HDRLEN + GENL_HDRLEN, off + len);
    } catch {
      return false;
    }
    const flags = a.flags & REQ_FLAGS_KNOWN;
    if ((flags & KOFFLOAD.reqFlag.hasDefault) !== 0 && a.defaultOff < 0) return false;
    // the receive buffer is reused by the next crossing: the handler's bytes are copied
    const payload = copyOut(buf, a.payloadOff, a.payloadLen);
    const off64 = this.monotonicOffsetNs;
    const req: KernelRequest = {
      reqId: a.reqId,
      subsysId: a.subsysId,
      op: a.op,
      deadlineNs: off64 === 0n ? a.deadlineNs : a.deadlineNs + off64,
      flags,
      payload,
    };
    if (a.defaultOff >= 0) {
      req.default = copyOut(buf, a.defaultOff, a.defaultLen);
    }
    this.stats.requests++;
    this.emit('request', req);
    return true;
  }

  private onMessage(m: GenlMessage): void {
    if (m.header.type !== this.family || m.cmd !== CMD.request) {
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
    const slot = ev.seq % REPLY_SEQS_KEPT;
    const known = ev.seq !== 0 && this.replySeqs[slot] === ev.seq;
    const reqId = known ? this.replyIds[slot] : echoedReqId(ev, this.family);
    if (known) this.replySeqs[slot] = 0;
    if (reqId !== undefined) out.reqId = reqId;
    this.emit('replyError', out);
  }

  /** Closes the socket; queued replies are dropped, pending requests reject. */
  close(): void {
    this.genl.close();
  }
}

/** Below this many bytes a copy is a byte loop: Buffer.copy() makes a view of the source first. */
const COPY_LOOP_MAX = 128;

/** A copy of buf[off, off + n), which outlives the receive buffer. */
function copyOut(buf: Buffer, off: number, n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  if (n > COPY_LOOP_MAX) buf.copy(out, 0, off, off + n);
  else for (let i = 0; i < n; i++) out[i] = buf[off + i]!;
  return out;
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
