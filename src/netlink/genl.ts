/**
 * Generic netlink requests over a {@link GenlSocket}: sequence numbers,
 * ACK / NLMSG_ERROR handling, multipart dumps, family resolution through
 * nlctrl, and everything that is not an answer to a pending request
 * (kernel-initiated messages, errors for fire-and-forget sends) as events.
 *
 * Ordering: netlink preserves order per socket pair, so the answers to one
 * request arrive in order (replies, then the ACK or NLMSG_DONE).
 * Concurrency: any number of requests may be pending; each has its own
 * sequence number, never 0 (kernel-initiated messages carry seq 0).
 */
import { EventEmitter } from 'node:events';
import { KoffloadError, NetlinkError, WireError, errnoName } from '../errors.js';
import {
  NLMSG,
  NLMSG_HDRLEN,
  NLMSG_MIN_TYPE,
  NLM_F,
  type GenlMessage,
  type NlMessage,
  type NlMsgHeader,
  decodeAttrs,
  decodeGenl,
  decodeNlDone,
  decodeNlError,
  encodeGenlMsg,
  putString,
  rd16,
  rd32,
} from './codec.js';
import { type DatagramSink, type GenlSocket, type GenlSocketOptions, openGenlSocket } from './socket.js';

/** nlctrl, the generic netlink controller (linux/genetlink.h). */
export const GENL_ID_CTRL = 16;
export const CTRL_CMD_GETFAMILY = 3;
export const CTRL_ATTR = { FAMILY_ID: 1, FAMILY_NAME: 2, VERSION: 3, HDRSIZE: 4, MAXATTR: 5 } as const;
/** GENL_NAMSIZ: family names, NUL included */
export const GENL_NAMSIZ = 16;

/** The nlctrl attributes read here; the nests (ops, groups, policies) are skipped. */
const CTRL_SPEC = {
  familyId: { id: CTRL_ATTR.FAMILY_ID, type: 'u16' },
  familyName: { id: CTRL_ATTR.FAMILY_NAME, type: 'string', maxLen: GENL_NAMSIZ },
  version: { id: CTRL_ATTR.VERSION, type: 'u32' },
  hdrsize: { id: CTRL_ATTR.HDRSIZE, type: 'u32' },
  maxattr: { id: CTRL_ATTR.MAXATTR, type: 'u32' },
} as const;

/** Node's setTimeout limit. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface GenlClientOptions extends GenlSocketOptions {
  /**
   * Port requests go to and the only port answers and events are accepted
   * from; datagrams from other ports are counted and dropped.
   * @default 0 (the kernel)
   */
  peerPort?: number;
  /**
   * Timeout of a request that does not set its own, in ms (1..2^31-1).
   * @default 5000
   */
  timeoutMs?: number;
  /**
   * Largest datagram {@link GenlClient.sendBatch} builds; a longer batch is
   * split into several sends. Keeps the kernel's skb allocation small.
   * @default 65536
   */
  maxDatagramBytes?: number;
  /** An open socket to use instead of opening one (tests, simulator). */
  socket?: GenlSocket;
}

export interface RequestOptions {
  /**
   * Set NLM_F_ACK and settle on the ACK; without it a non-dump request
   * settles on its first reply (and never, if the command sends none).
   * @default true
   */
  ack?: boolean;
  /** Set NLM_F_DUMP and collect NLM_F_MULTI replies until NLMSG_DONE. @default false */
  dump?: boolean;
  /** ms until the request rejects with KOFFLOAD_ERR_TIMEOUT. @default the client's timeoutMs */
  timeoutMs?: number;
  /** genlmsghdr version. @default 1 */
  version?: number;
}

export interface SendItem {
  familyId: number;
  cmd: number;
  attrs: readonly Uint8Array[];
  /** genlmsghdr version. @default 1 */
  version?: number;
  /** ask for an ACK (the kernel sends an error message on failure either way) @default false */
  ack?: boolean;
}

/** An NLMSG_ERROR (errno > 0) that answers no pending request. */
export interface NlErrorEvent {
  seq: number;
  errno: number;
  code: string;
  extack?: string;
  /** header of the message that failed */
  request: NlMsgHeader;
  /** its payload, when the kernel echoed it */
  requestPayload?: Buffer;
}

export interface GenlClientStats {
  /** datagrams or messages that failed to decode */
  decodeErrors: number;
  /** datagrams from a port other than the peer */
  foreignDatagrams: number;
  /** genl messages that answer no pending request */
  unsolicited: number;
  /** NLMSG_ERRORs that answer no pending request */
  strayErrors: number;
  /** requests that timed out */
  timeouts: number;
}

export interface GenlClientEvents {
  /** a genl message that answers no pending request (e.g. a kernel REQUEST) */
  message: [msg: GenlMessage];
  /** an NLMSG_ERROR with errno > 0 that answers no pending request */
  nlError: [ev: NlErrorEvent];
  /** a datagram that failed to decode (already counted) */
  decodeError: [err: Error];
  /** the receive buffer overran: `dropped` messages were lost */
  overrun: [dropped: number];
  /** the datagrams of one receive crossing were all handled (see GenlSocketEvents.batch) */
  batch: [];
  close: [err?: Error];
}

/**
 * Takes a kernel-initiated message (sequence number 0, a genl family type)
 * straight from the receive buffer: `buf[off, off + len)` is the whole
 * message, valid only during the call. Returns false to leave it to the
 * generic path (decoded, then emitted as 'message').
 */
export type RawMessageHandler = (buf: Buffer, off: number, len: number) => boolean;

interface Pending {
  dump: boolean;
  ack: boolean;
  what: string;
  messages: GenlMessage[];
  timer: NodeJS.Timeout;
  resolve: (msgs: GenlMessage[]) => void;
  reject: (err: Error) => void;
}

/** A message whose attribute area is its own (not a view of the socket's receive buffer). */
function copyGenl(g: GenlMessage): GenlMessage {
  return { header: g.header, cmd: g.cmd, version: g.version, attrs: Buffer.from(g.attrs) };
}

function checkTimeout(ms: number): number {
  if (!Number.isInteger(ms) || ms < 1 || ms > MAX_TIMER_MS) {
    throw new KoffloadError('KOFFLOAD_ERR_INVALID_ARG', `timeoutMs must be an integer in 1..${MAX_TIMER_MS}, got ${ms}`);
  }
  return ms;
}

export class GenlClient extends EventEmitter<GenlClientEvents> {
  readonly socket: GenlSocket;
  readonly peerPort: number;
  readonly stats: GenlClientStats = { decodeErrors: 0, foreignDatagrams: 0, unsolicited: 0, strayErrors: 0, timeouts: 0 };
  private readonly timeoutMs: number;
  /** largest datagram sendBatch() builds, bytes */
  readonly maxDatagramBytes: number;
  private readonly pending = new Map<number, Pending>();
  private nextSeq = 1;
  private rawHandler: RawMessageHandler | undefined;

  constructor(options: GenlClientOptions = {}) {
    super();
    this.timeoutMs = checkTimeout(options.timeoutMs ?? 5000);
    this.peerPort = options.peerPort ?? 0;
    this.maxDatagramBytes = options.maxDatagramBytes ?? 65536;
    if (!Number.isInteger(this.maxDatagramBytes) || this.maxDatagramBytes < 1024) {
      throw new KoffloadError('KOFFLOAD_ERR_INVALID_ARG', `maxDatagramBytes must be an integer >= 1024, got ${this.maxDatagramBytes}`);
    }
    this.socket = options.socket ?? openGenlSocket(options);
    const sink: DatagramSink = (buf, start, end, port) => this.onDatagram(buf, start, end, port);
    if (this.socket.setDatagramSink) this.socket.setDatagramSink(sink);
    else this.socket.on('datagram', (buf, port) => this.onDatagram(buf, 0, buf.length, port));
    this.socket.on('overrun', (dropped) => this.emit('overrun', dropped));
    this.socket.on('batch', () => this.emit('batch'));
    this.socket.on('close', (err) => this.onClose(err));
  }

  get portId(): number {
    return this.socket.portId;
  }

  get closed(): boolean {
    return this.socket.closed;
  }

  /** Requests currently waiting for an answer. */
  get pendingCount(): number {
    return this.pending.size;
  }

  /** Routes kernel-initiated messages to `handler` first (the REQUEST fast path). */
  setRawHandler(handler: RawMessageHandler | undefined): void {
    this.rawHandler = handler;
  }

  /** A fresh sequence number for a message built by the caller (never 0, none pending). */
  allocSeq(): number {
    for (;;) {
      const seq = this.nextSeq;
      this.nextSeq = this.nextSeq >= 0xffffffff ? 1 : this.nextSeq + 1;
      if (!this.pending.has(seq)) return seq;
    }
  }

  /**
   * Sends one request and resolves with its reply messages (for a dump,
   * all parts; the ACK and NLMSG_DONE themselves are not included).
   * Rejects with a NetlinkError (errno, code) when the peer answers with
   * an error, or with KoffloadError KOFFLOAD_ERR_TIMEOUT / _SOCKET_CLOSED.
   */
  request(familyId: number, cmd: number, attrs: readonly Uint8Array[], options: RequestOptions = {}): Promise<GenlMessage[]> {
    if (this.closed) return Promise.reject(new KoffloadError('KOFFLOAD_ERR_SOCKET_CLOSED'));
    const ack = options.ack ?? true;
    const dump = options.dump ?? false;
    const seq = this.allocSeq();
    const flags = NLM_F.REQUEST | (ack ? NLM_F.ACK : 0) | (dump ? NLM_F.DUMP : 0);
    let timeoutMs: number;
    let msg: Buffer;
    try {
      timeoutMs = checkTimeout(options.timeoutMs ?? this.timeoutMs);
      msg = encodeGenlMsg({ type: familyId, flags, seq, pid: this.portId, cmd, version: options.version ?? 1 }, attrs);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    const what = `family ${familyId} cmd ${cmd}${dump ? ' dump' : ''}`;
    return new Promise<GenlMessage[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.pending.get(seq) !== p) return;
        this.pending.delete(seq);
        this.stats.timeouts++;
        reject(new KoffloadError('KOFFLOAD_ERR_TIMEOUT', `${what}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      const p: Pending = { dump, ack, what, messages: [], timer, resolve, reject };
      this.pending.set(seq, p);
      this.socket.send([msg], { port: this.peerPort }).catch((err: unknown) => {
        if (this.pending.get(seq) !== p) return;
        this.settle(seq, p, err instanceof Error ? err : new Error(String(err)));
      });
    });
  }

  /**
   * Fire-and-forget: encodes the items with fresh sequence numbers and sends
   * them back to back in as few datagrams as maxDatagramBytes allows (one,
   * normally: one sendmsg). Returns the sequence numbers at once, so errors
   * the peer sends back (event 'nlError') can be matched, a promise of all
   * sendmsg() results, and each sendmsg() with the number of items it
   * carried (so a failure is charged to its own items only).
   */
  sendBatch(items: readonly SendItem[]): { seqs: number[]; sent: Promise<void>; chunks: { items: number; sent: Promise<void> }[] } {
    if (this.closed) {
      const sent = Promise.reject(new KoffloadError('KOFFLOAD_ERR_SOCKET_CLOSED'));
      sent.catch(() => {});
      return { seqs: [], sent, chunks: [{ items: items.length, sent }] };
    }
    const seqs: number[] = [];
    const chunks: Buffer[][] = [];
    let chunk: Buffer[] = [];
    let bytes = 0;
    for (const it of items) {
      const seq = this.allocSeq();
      const flags = NLM_F.REQUEST | (it.ack ? NLM_F.ACK : 0);
      const msg = encodeGenlMsg({ type: it.familyId, flags, seq, pid: this.portId, cmd: it.cmd, version: it.version ?? 1 }, it.attrs);
      seqs.push(seq);
      if (chunk.length > 0 && bytes + msg.length > this.maxDatagramBytes) {
        chunks.push(chunk);
        chunk = [];
        bytes = 0;
      }
      chunk.push(msg);
      bytes += msg.length;
    }
    if (chunk.length > 0) chunks.push(chunk);
    const each = chunks.map((c) => ({ items: c.length, sent: this.socket.send(c, { port: this.peerPort }) }));
    const sent = Promise.all(each.map((c) => c.sent)).then(() => undefined);
    // callers may watch `chunks` only
    sent.catch(() => {});
    return { seqs, sent, chunks: each };
  }

  /**
   * Sends messages the caller encoded (sequence numbers from allocSeq()) as
   * one datagram to the peer; `buf` may be reused once this returns.
   */
  sendEncoded(buf: Buffer): Promise<void> {
    if (this.closed) return Promise.reject(new KoffloadError('KOFFLOAD_ERR_SOCKET_CLOSED'));
    return this.socket.send([buf], { port: this.peerPort });
  }

  /** The id of a genl family; rejects with NetlinkError ENOENT when it is not registered. */
  async resolveFamily(name: string, options: { timeoutMs?: number } = {}): Promise<number> {
    if (Buffer.byteLength(name) + 1 > GENL_NAMSIZ || name.length === 0) {
      throw new KoffloadError('KOFFLOAD_ERR_INVALID_ARG', `family name '${name}' must be 1..${GENL_NAMSIZ - 1} bytes`);
    }
    const opts: RequestOptions = { version: 1 };
    if (options.timeoutMs !== undefined) opts.timeoutMs = options.timeoutMs;
    const msgs = await this.request(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, [putString(CTRL_ATTR.FAMILY_NAME, name)], opts);
    for (const m of msgs) {
      const { values } = decodeAttrs(m.attrs, CTRL_SPEC);
      if (values.familyId !== undefined && values.familyName === name) return values.familyId;
    }
    throw new KoffloadError('KOFFLOAD_ERR_MALFORMED', `nlctrl answered without the id of '${name}'`);
  }

  private settle(seq: number, p: Pending, err?: Error): void {
    this.pending.delete(seq);
    clearTimeout(p.timer);
    if (err) p.reject(err);
    else p.resolve(p.messages);
  }

  /** The messages of the datagram buf[start, end). */
  private onDatagram(buf: Buffer, start: number, end: number, port: number): void {
    if (port !== this.peerPort) {
      this.stats.foreignDatagrams++;
      return;
    }
    // a bad nlmsg_len ends the walk; the messages before it are good
    const raw = this.rawHandler;
    let off = start;
    while (off < end) {
      const rem = end - off;
      const at = off - start;
      if (rem < NLMSG_HDRLEN) return this.decodeFailed(new WireError(`${rem} trailing bytes at offset ${at}: truncated nlmsghdr`));
      const len = rd32(buf, off);
      if (len < NLMSG_HDRLEN) return this.decodeFailed(new WireError(`nlmsg_len ${len} at offset ${at} is shorter than the header`));
      if (len > rem) return this.decodeFailed(new WireError(`nlmsg_len ${len} at offset ${at} exceeds the ${rem} bytes left`));
      const type = rd16(buf, off + 4);
      const seq = rd32(buf, off + 8);
      if (raw === undefined || seq !== 0 || type < NLMSG_MIN_TYPE || !raw(buf, off, len)) {
        const m: NlMessage = {
          header: { len, type, flags: rd16(buf, off + 6), seq, pid: rd32(buf, off + 12) },
          payload: buf.subarray(off + NLMSG_HDRLEN, off + len),
        };
        try {
          this.onMessage(m);
        } catch (err) {
          this.decodeFailed(err);
        }
      }
      off += (len + 3) & ~3;
    }
  }

  private decodeFailed(err: unknown): void {
    this.stats.decodeErrors++;
    this.emit('decodeError', err instanceof Error ? err : new Error(String(err)));
  }

  private onMessage(m: NlMessage): void {
    const { type, seq } = m.header;
    const p = seq !== 0 ? this.pending.get(seq) : undefined;
    if (type === NLMSG.ERROR) {
      const info = decodeNlError(m);
      if (p) {
        if (info.errno === 0) this.settle(seq, p);
        else this.settle(seq, p, new NetlinkError(info.errno, p.what, info.message));
        return;
      }
      if (info.errno === 0) return; // an ACK nobody waits for any more
      this.stats.strayErrors++;
      const ev: NlErrorEvent = { seq, errno: info.errno, code: errnoName(info.errno), request: info.request };
      if (info.message !== undefined) ev.extack = info.message;
      if (info.requestPayload !== undefined) ev.requestPayload = Buffer.from(info.requestPayload);
      this.emit('nlError', ev);
      return;
    }
    if (type === NLMSG.DONE) {
      const done = decodeNlDone(m);
      if (p) this.settle(seq, p, done.errno ? new NetlinkError(done.errno, p.what, done.message) : undefined);
      return;
    }
    if (type < NLMSG_MIN_TYPE) return; // NOOP, OVERRUN: nothing to do
    // the datagram is the socket's receive buffer: what is kept is copied
    const g = copyGenl(decodeGenl(m));
    if (p) {
      p.messages.push(g);
      if (!p.dump && !p.ack) this.settle(seq, p);
      return;
    }
    this.stats.unsolicited++;
    this.emit('message', g);
  }

  private onClose(err?: Error): void {
    for (const [seq, p] of [...this.pending]) {
      this.settle(seq, p, new KoffloadError('KOFFLOAD_ERR_SOCKET_CLOSED', p.what, err ? { cause: err } : {}));
    }
    this.emit('close', err);
  }

  /** Closes the socket; pending requests reject with KOFFLOAD_ERR_SOCKET_CLOSED. */
  close(): void {
    this.socket.close();
  }
}
