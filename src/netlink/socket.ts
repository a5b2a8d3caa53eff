/**
 * The transport: a NETLINK_GENERIC datagram socket, implemented by
 * koffload's own addon (src/native/koffload_nl.c). Everything above it sees
 * the small {@link GenlSocket} interface; this is the only file that uses
 * the addon's socket calls (it replaced the `netlink` package, whose
 * receive path, a peek and a read and two objects per datagram, was the
 * limit, and which could not share the fd with a poll of ours).
 *
 * How it moves datagrams:
 * - Receive: a uv_poll in the addon; when the socket is readable one
 *   recvmmsg() reads up to `recvSlots` datagrams into a receive arena
 *   allocated once per socket (slots of `recvSlotBytes`), and the
 *   datagrams of that crossing are emitted as 'datagram' events (or
 *   handed to a datagram sink as the arena and the datagram's bounds,
 *   setDatagramSink(), which the genl layer uses: no Buffer per datagram)
 *   followed by one 'batch' event. A 'datagram' buffer is a view of the
 *   arena, valid until the listener returns: a listener copies what it
 *   keeps (the next crossing overwrites it). A datagram longer than its slot arrives
 *   truncated, is counted and reported (64 KiB slots hold anything the
 *   kernel sends: a REQUEST is at most ~8.3 KiB, a dump part at most 32 KiB).
 * - Send: send() makes one sendmsg() of its buffers as one datagram, at
 *   once and without blocking (MSG_DONTWAIT): the buffers may be reused as
 *   soon as it returns, and a userspace peer whose buffer is full fails
 *   with EAGAIN, as the kernel's own unicast does, instead of stalling.
 * - Every socket has NETLINK_NO_ENOBUFS (an overrun drops messages without
 *   setting sk_err; the drops are counted from the socket's Drops column in
 *   /proc/self/net/netlink, sk_drops, see {@link GenlSocket.checkDrops})
 *   and NETLINK_EXT_ACK (errors carry the kernel's extended ack message);
 *   opening fails (KOFFLOAD_ERR_SOCKET) if that is impossible. A pending
 *   socket error (POLLERR) is read and cleared in the addon and reported as
 *   'socketError'; the socket lives on.
 * The arenas are the transport's only per-socket buffers and are allocated
 * before any traffic; lockBuffers() pins them (koffloadd's `mlock`,
 * src/runtime/memory.ts), so a receive neither allocates nor faults.
 */
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { KoffloadError, errnoName } from '../errors.js';
import { type PollHandle, koffloadNl } from '../native/koffload-nl.js';

export const NETLINK_GENERIC = 16;
const SOL_SOCKET = 1;
const SO_RCVBUF = 8;
const DEFAULT_BUFFER_BYTES = 4 * 1024 * 1024;
const ENOBUFS = osConstants.errno.ENOBUFS;

export interface GenlSocketOptions {
  /**
   * Port id to bind to; a free one is picked when unset.
   * @default undefined
   */
  localPort?: number;
  /**
   * SO_RCVBUF request in bytes (the kernel caps it at net.core.rmem_max
   * and doubles it). Sized for bursts: libnl's 32 KiB has dropped
   * messages for other projects.
   * @default 4194304
   */
  recvBufferSize?: number;
  /**
   * SO_SNDBUF request in bytes.
   * @default 4194304
   */
  sendBufferSize?: number;
  /**
   * Period of the check for dropped messages (event 'overrun'), ms; 0
   * checks only when {@link GenlSocket.checkDrops} is called.
   * @default 1000
   */
  dropCheckMs?: number;
  /**
   * NETLINK_CAP_ACK: the kernel's error answers carry the failed
   * message's header only, not the whole message back. A handler wants it
   * (in a timeout storm, echoes of its late REPLYs crowd REQUESTs out of
   * its buffer); a tool that reads the echo does not.
   * @default false
   */
  capAck?: boolean;
  /**
   * Datagrams read per recvmmsg() (one crossing into the kernel), 1..1024;
   * the first crossing of a wake-up reads at most 16, so that its replies
   * leave while the peer refills (the replies made for a crossing's
   * datagrams leave together when they are handled).
   * @default 64
   */
  recvSlots?: number;
  /**
   * Bytes of one receive slot, 4096..1048576; a longer datagram arrives
   * truncated (counted in stats.truncated).
   * @default 65536
   */
  recvSlotBytes?: number;
}

export interface SendOptions {
  /**
   * Destination port: 0 is the kernel; another value is a userspace socket
   * (root may unicast to any port; used by the simulator and by tests).
   * @default 0
   */
  port?: number;
}

export interface GenlSocketStats {
  /**
   * the kernel's drop counter for this socket (sk_drops): grows when a
   * message is dropped because the receive buffer is full (some kernels
   * count a drop more than once)
   */
  drops: number;
  /** ENOBUFS reports (only without NETLINK_NO_ENOBUFS, which open sets) */
  enobufs: number;
  /** other failed receives */
  recvErrors: number;
  /** datagrams that arrived truncated */
  truncated: number;
  /** datagrams received */
  datagrams: number;
  /** receive crossings (recvmmsg() calls that returned datagrams) */
  batches: number;
  /** sendmsg() calls made */
  sends: number;
}

export interface GenlSocketEvents {
  /**
   * one received datagram (may hold several messages) and its sender; the
   * buffer is valid until the listener returns (copy what you keep)
   */
  datagram: [buf: Buffer, senderPort: number];
  /** after the datagrams of one receive crossing (a batch): replies made meanwhile can go out together */
  batch: [];
  /** the receive buffer overran: `dropped` messages were lost, the socket lives on */
  overrun: [dropped: number];
  /** a non-fatal socket error, already counted */
  socketError: [err: Error];
  /** the socket is closed, by close() or by a fatal error */
  close: [err?: Error];
}

/** What the genl layer needs from a socket. */
export interface GenlSocket {
  /** the bound port id (nl_pid) */
  readonly portId: number;
  readonly closed: boolean;
  readonly stats: Readonly<GenlSocketStats>;
  /**
   * true while the datagrams of a receive crossing are being emitted: a
   * 'batch' event follows before control returns to the event loop (so
   * work made now can wait for it instead of scheduling its own turn)
   */
  readonly receiving: boolean;
  /**
   * Sends the buffers back to back as ONE datagram (one sendmsg). The
   * buffers are read before send() returns: the caller may reuse them.
   */
  send(buffers: readonly Uint8Array[], options?: SendOptions): Promise<void>;
  /** Effective SO_RCVBUF in bytes as the kernel reports it. */
  recvBufferSize(): number;
  /**
   * Reads the kernel's drop count for this socket, adds what is new to
   * stats.drops, emits 'overrun' if there is any, and returns it.
   */
  checkDrops(): number;
  on<E extends keyof GenlSocketEvents>(event: E, listener: (...args: GenlSocketEvents[E]) => void): this;
  once<E extends keyof GenlSocketEvents>(event: E, listener: (...args: GenlSocketEvents[E]) => void): this;
  off<E extends keyof GenlSocketEvents>(event: E, listener: (...args: GenlSocketEvents[E]) => void): this;
  /** Lets the process exit while the socket is open (or not). */
  setRef(ref: boolean): void;
  /**
   * Locks the receive arena and its meta in memory (mlock2), so a receive
   * never faults under memory pressure: 0 or the errno. Sockets without
   * such buffers (the in-memory simulator's) leave it out.
   */
  lockBuffers?(): number;
  /**
   * Hands every datagram to `sink` as (buffer, start, end, sender port)
   * instead of emitting 'datagram' with a view of it: the receive path
   * then makes no Buffer per datagram. The same lifetime rule holds:
   * buf[start, end) is valid until the sink returns. `undefined` goes back
   * to 'datagram' events only; 'datagram' listeners still get theirs
   * while a sink is set. Sockets that leave it out emit 'datagram' only.
   */
  setDatagramSink?(sink: DatagramSink | undefined): void;
  close(): void;
}

/** See {@link GenlSocket.setDatagramSink}. */
export type DatagramSink = (buf: Buffer, start: number, end: number, senderPort: number) => void;

// the addon's first recvmmsg() of a wake-up reads at most 16 of them
// (FIRST_BATCH in koffload_nl.c), the later ones all 64
const SLOTS_DEFAULT = 64;
const SLOT_BYTES_DEFAULT = 65536;

function socketError(err: unknown, what: string): KoffloadError {
  const e = err as Error & { errno?: number };
  return new KoffloadError('KOFFLOAD_ERR_SOCKET', `${what}: ${e.message}`, { cause: err, errno: e.errno });
}

function errnoError(errno: number, syscall: string): Error {
  const code = errnoName(errno);
  return Object.assign(new Error(`${syscall} ${code}`), { errno, code, syscall });
}

/** The inode of our NETLINK_GENERIC socket bound to `portId`, and its drop count. */
function procRow(protocol: number, portId: number, inode?: number): { inode: number; drops: number } | undefined {
  const lines = readFileSync('/proc/self/net/netlink', 'utf8').split('\n').slice(1);
  for (const line of lines) {
    // sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || Number(f[1]) !== protocol || Number(f[2]) !== portId) continue;
    const row = { inode: Number(f[9]), drops: Number(f[8]) };
    if (inode === undefined || row.inode === inode) return row;
  }
  return undefined;
}

class NativeGenlSocket extends EventEmitter<GenlSocketEvents> implements GenlSocket {
  readonly portId: number;
  readonly stats: GenlSocketStats = { drops: 0, enobufs: 0, recvErrors: 0, truncated: 0, datagrams: 0, batches: 0, sends: 0 };
  private isClosed = false;
  receiving = false;
  private lastDrops = 0;
  private readonly inode: number | undefined;
  private readonly dropTimer: NodeJS.Timeout | undefined;
  private readonly handle: PollHandle;
  /** the receive arena (slot i at i * slotBytes) and its per-datagram meta, reused by every crossing */
  private readonly arena: Buffer;
  private readonly meta: Int32Array;
  private sink: DatagramSink | undefined;

  constructor(
    private readonly protocol: number,
    private readonly fd: number,
    portId: number,
    private readonly slotBytes: number,
    slots: number,
    dropCheckMs: number,
  ) {
    super();
    this.portId = portId;
    const row = procRow(protocol, portId);
    this.inode = row?.inode;
    this.lastDrops = row?.drops ?? 0;
    const ab = new ArrayBuffer(slotBytes * slots);
    this.arena = Buffer.from(ab);
    const metaAb = new ArrayBuffer(3 * 4 * slots);
    this.meta = new Int32Array(metaAb);
    this.handle = koffloadNl().start(fd, ab, slotBytes, slots, metaAb, (n, fatal) => this.onBatch(n, fatal));
    if (dropCheckMs > 0) {
      this.dropTimer = setInterval(() => this.checkDrops(), dropCheckMs);
      this.dropTimer.unref();
    }
  }

  get closed(): boolean {
    return this.isClosed;
  }

  lockBuffers(): number {
    const nl = koffloadNl();
    return nl.mlockBuffer(this.arena.buffer as ArrayBuffer) || nl.mlockBuffer(this.meta.buffer as ArrayBuffer);
  }

  setDatagramSink(sink: DatagramSink | undefined): void {
    this.sink = sink;
  }

  private onBatch(n: number, fatal: boolean): void {
    if (this.isClosed) return;
    if (n < 0) {
      this.onError(-n, fatal);
      return;
    }
    this.stats.batches++;
    const meta = this.meta;
    this.receiving = true;
    try {
      this.emitBatch(n, meta);
    } finally {
      this.receiving = false;
    }
    if (!this.isClosed) this.emit('batch');
  }

  private emitBatch(n: number, meta: Int32Array): void {
    for (let i = 0; i < n && !this.isClosed; i++) {
      const len = meta[3 * i]!;
      const port = meta[3 * i + 1]! >>> 0;
      this.stats.datagrams++;
      if (meta[3 * i + 2] !== 0) {
        this.stats.truncated++;
        this.emit('socketError', new KoffloadError('KOFFLOAD_ERR_SOCKET', `a datagram of ${len} bytes arrived truncated to ${this.slotBytes}`));
        continue;
      }
      const off = i * this.slotBytes;
      const sink = this.sink;
      if (sink) {
        sink(this.arena, off, off + len, port);
        if (this.isClosed || this.listenerCount('datagram') === 0) continue;
      }
      this.emit('datagram', this.arena.subarray(off, off + len), port);
    }
  }

  private onError(errno: number, fatal: boolean): void {
    const err = errnoError(errno, 'recvmsg');
    if (fatal) {
      this.close(new KoffloadError('KOFFLOAD_ERR_SOCKET', err.message, { cause: err, errno }));
      return;
    }
    if (errno === ENOBUFS) {
      this.stats.enobufs++;
      this.checkDrops();
      return;
    }
    this.stats.recvErrors++;
    this.emit('socketError', err);
  }

  send(buffers: readonly Uint8Array[], options: SendOptions = {}): Promise<void> {
    if (this.isClosed) return Promise.reject(new KoffloadError('KOFFLOAD_ERR_SOCKET_CLOSED'));
    if (buffers.length === 0) return Promise.resolve();
    this.stats.sends++;
    let errno: number;
    try {
      errno = koffloadNl().send(this.fd, options.port ?? 0, buffers);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    return errno === 0 ? Promise.resolve() : Promise.reject(errnoError(errno, 'sendmsg'));
  }

  recvBufferSize(): number {
    return koffloadNl().getsockopt(this.fd, SOL_SOCKET, SO_RCVBUF);
  }

  checkDrops(): number {
    if (this.isClosed) return 0;
    let now: number;
    try {
      now = procRow(this.protocol, this.portId, this.inode)?.drops ?? this.lastDrops;
    } catch {
      return 0;
    }
    // sk_drops is an atomic_t: it may wrap
    const dropped = (now - this.lastDrops) >>> 0;
    this.lastDrops = now;
    if (dropped > 0) {
      this.stats.drops += dropped;
      this.emit('overrun', dropped);
    }
    return dropped;
  }

  setRef(ref: boolean): void {
    if (this.isClosed) return;
    koffloadNl().ref(this.handle, ref);
  }

  close(err?: Error): void {
    if (this.isClosed) return;
    this.isClosed = true;
    clearInterval(this.dropTimer);
    koffloadNl().stop(this.handle);
    this.emit('close', err);
  }
}

function checkRange(name: string, v: number, lo: number, hi: number): void {
  if (!Number.isInteger(v) || v < lo || v > hi) {
    throw new KoffloadError('KOFFLOAD_ERR_INVALID_ARG', `${name} must be an integer in ${lo}..${hi}, got ${v}`);
  }
}

/** Opens and binds a NETLINK_GENERIC socket. */
export function openGenlSocket(options: GenlSocketOptions = {}): GenlSocket {
  return openNetlinkSocket(NETLINK_GENERIC, options);
}

/** Opens and binds a netlink socket of another protocol (the simulator's NETLINK_SOCK_DIAG). */
export function openNetlinkSocket(protocol: number, options: GenlSocketOptions = {}): GenlSocket {
  const recv = options.recvBufferSize ?? DEFAULT_BUFFER_BYTES;
  const send = options.sendBufferSize ?? DEFAULT_BUFFER_BYTES;
  checkRange('recvBufferSize', recv, 1, 0x7fffffff);
  checkRange('sendBufferSize', send, 1, 0x7fffffff);
  const dropCheckMs = options.dropCheckMs ?? 1000;
  checkRange('dropCheckMs', dropCheckMs, 0, 0x7fffffff);
  const slots = options.recvSlots ?? SLOTS_DEFAULT;
  checkRange('recvSlots', slots, 1, 1024);
  const slotBytes = options.recvSlotBytes ?? SLOT_BYTES_DEFAULT;
  checkRange('recvSlotBytes', slotBytes, 4096, 1 << 20);
  const localPort = options.localPort ?? 0;
  checkRange('localPort', localPort, 0, 0xffffffff);
  let nl;
  let fd: number;
  let portId: number;
  try {
    nl = koffloadNl();
    [fd, portId] = nl.open(localPort, recv, send, options.capAck ?? false, protocol);
  } catch (err) {
    throw socketError(err, 'cannot open a netlink socket that survives overruns');
  }
  try {
    return new NativeGenlSocket(protocol, fd, portId >>> 0, slotBytes, slots, dropCheckMs);
  } catch (err) {
    nl.closeFd(fd);
    throw socketError(err, 'cannot poll the netlink socket');
  }
}
