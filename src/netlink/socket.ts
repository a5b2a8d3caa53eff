/**
 * The transport: a NETLINK_GENERIC datagram socket. This is the only file
 * that imports the `netlink` package (node_netlink, pre-1.0); everything
 * above it sees the small {@link GenlSocket} interface, so the package can
 * be patched or replaced here alone.
 *
 * Facts about the package this file relies on (netlink@0.3.0):
 * - `send(array)` makes one sendmsg() with one iovec per element: several
 *   netlink messages concatenated go out as one datagram.
 * - Receiving peeks first, so a datagram of any size arrives whole.
 * - A failed recvmsg() is reported through the 'error' event and the
 *   socket keeps working.
 * - It has no setsockopt() besides the buffer sizes.
 * - But a pending socket error (sk_err) makes poll() report POLLERR before
 *   any recvmsg(): libuv then stops the poll handle and the package's
 *   handler aborts the whole process (it builds its error object from a
 *   NULL syscall name). A kernel unicast to a full receive buffer sets
 *   sk_err = ENOBUFS, and that is the normal backpressure case for a
 *   koffload handler under load.
 *
 * Hence every socket gets, through koffload's own addon (src/native/) on the
 * fd found via /proc (the package does not expose it):
 * - NETLINK_NO_ENOBUFS: an overrun drops messages without setting sk_err;
 *   the drops are counted from the socket's Drops column in
 *   /proc/self/net/netlink (sk_drops), see {@link GenlSocket.checkDrops};
 * - NETLINK_EXT_ACK: errors carry the kernel's extended ack message.
 * Opening fails (KOFFLOAD_ERR_SOCKET) if that is impossible, rather than
 * leave a socket that kills the process on its first overrun.
 */
import { EventEmitter } from 'node:events';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import netlink from 'netlink';
import { KoffloadError } from '../errors.js';
import { koffloadNl } from '../native/koffload-nl.js';

export const NETLINK_GENERIC = 16;
const SOL_NETLINK = 270;
const NETLINK_NO_ENOBUFS = 5;
const NETLINK_CAP_ACK = 10;
const NETLINK_EXT_ACK = 11;
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
  /** sendmsg() calls made */
  sends: number;
}

export interface GenlSocketEvents {
  /** one received datagram (may hold several messages) and its sender */
  datagram: [buf: Buffer, senderPort: number];
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
  /** Sends the buffers back to back as ONE datagram (one sendmsg). */
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
  close(): void;
}

type RawSocket = InstanceType<typeof netlink.RawNetlinkSocket>;
type RawError = Error & { errno?: number; code?: string; syscall?: string };

function toBuffer(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

/** The inode of our NETLINK_GENERIC socket bound to `portId`, and its drop count. */
function procRow(portId: number, inode?: number): { inode: number; drops: number } | undefined {
  const lines = readFileSync('/proc/self/net/netlink', 'utf8').split('\n').slice(1);
  for (const line of lines) {
    // sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || Number(f[1]) !== NETLINK_GENERIC || Number(f[2]) !== portId) continue;
    const row = { inode: Number(f[9]), drops: Number(f[8]) };
    if (inode === undefined || row.inode === inode) return row;
  }
  return undefined;
}

function fdOfInode(inode: number): number | undefined {
  const want = `socket:[${inode}]`;
  for (const name of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${name}`) === want) return Number(name);
    } catch {
      // closed meanwhile
    }
  }
  return undefined;
}

/** The fd and inode of this process's NETLINK_GENERIC socket bound to `portId`, found through /proc. */
export function findGenlSocketFd(portId: number): { fd: number; inode: number } | undefined {
  const row = procRow(portId);
  const fd = row && fdOfInode(row.inode);
  return row && fd !== undefined ? { fd, inode: row.inode } : undefined;
}

/** Sets NETLINK_NO_ENOBUFS and NETLINK_EXT_ACK (and NETLINK_CAP_ACK); returns the socket inode. */
function protect(portId: number, capAck: boolean): number {
  const found = findGenlSocketFd(portId);
  if (!found) throw new Error(`cannot find the fd of netlink port ${portId} in /proc`);
  const { fd } = found;
  const nl = koffloadNl();
  nl.setsockopt(fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, 1);
  nl.setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, 1);
  if (capAck) nl.setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, 1);
  if (nl.getsockopt(fd, SOL_NETLINK, NETLINK_NO_ENOBUFS) === 0) throw new Error('NETLINK_NO_ENOBUFS did not stick');
  return found.inode;
}

class NetlinkGenlSocket extends EventEmitter<GenlSocketEvents> implements GenlSocket {
  readonly portId: number;
  readonly stats: GenlSocketStats = { drops: 0, enobufs: 0, recvErrors: 0, truncated: 0, datagrams: 0, sends: 0 };
  private isClosed = false;
  private lastDrops = 0;
  /** sends the package has queued: it drops them at close() without calling back */
  private readonly unsent = new Set<(err: Error) => void>();
  private readonly dropTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly raw: RawSocket,
    private readonly inode: number,
    dropCheckMs: number,
  ) {
    super();
    this.portId = raw.address().port;
    this.lastDrops = procRow(this.portId, inode)?.drops ?? 0;
    if (dropCheckMs > 0) {
      this.dropTimer = setInterval(() => this.checkDrops(), dropCheckMs);
      this.dropTimer.unref();
    }
    raw.on('message', (msg, rinfo) => {
      this.stats.datagrams++;
      this.emit('datagram', msg, rinfo.port);
    });
    raw.on('truncatedMessage', () => {
      this.stats.truncated++;
      this.emit('socketError', new KoffloadError('KOFFLOAD_ERR_SOCKET', 'a datagram arrived truncated'));
    });
    // Always listened to: an unhandled 'error' would crash the process.
    raw.on('error', (err: RawError) => this.onError(err));
  }

  get closed(): boolean {
    return this.isClosed;
  }

  private onError(err: RawError): void {
    if (err.syscall === 'recvmsg') {
      if (err.errno === ENOBUFS) {
        this.stats.enobufs++;
        this.checkDrops();
      } else {
        this.stats.recvErrors++;
        this.emit('socketError', err);
      }
      return;
    }
    // An error of the poll handle: the package has closed the socket.
    this.finish(new KoffloadError('KOFFLOAD_ERR_SOCKET', err.message, { cause: err, errno: err.errno }));
  }

  send(buffers: readonly Uint8Array[], options: SendOptions = {}): Promise<void> {
    if (this.isClosed) return Promise.reject(new KoffloadError('KOFFLOAD_ERR_SOCKET_CLOSED'));
    if (buffers.length === 0) return Promise.resolve();
    const port = options.port ?? 0;
    return new Promise<void>((resolve, reject) => {
      this.stats.sends++;
      this.unsent.add(reject);
      try {
        this.raw.send(buffers.map(toBuffer), { port }, (err) => {
          this.unsent.delete(reject);
          if (err) reject(err);
          else resolve();
        });
      } catch (err) {
        this.unsent.delete(reject);
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  recvBufferSize(): number {
    return this.raw.getRecvBufferSize();
  }

  checkDrops(): number {
    if (this.isClosed) return 0;
    let now: number;
    try {
      now = procRow(this.portId, this.inode)?.drops ?? this.lastDrops;
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
    if (ref) this.raw.ref();
    else this.raw.unref();
  }

  private finish(err?: Error): void {
    if (this.isClosed) return;
    this.isClosed = true;
    clearInterval(this.dropTimer);
    for (const reject of this.unsent) reject(new KoffloadError('KOFFLOAD_ERR_SOCKET_CLOSED', 'closed before the send was confirmed', err ? { cause: err } : {}));
    this.unsent.clear();
    this.emit('close', err);
  }

  close(): void {
    if (this.isClosed) return;
    try {
      this.raw.close();
    } finally {
      this.finish();
    }
  }
}

/** Opens and binds a NETLINK_GENERIC socket. */
export function openGenlSocket(options: GenlSocketOptions = {}): GenlSocket {
  const recv = options.recvBufferSize ?? DEFAULT_BUFFER_BYTES;
  const send = options.sendBufferSize ?? DEFAULT_BUFFER_BYTES;
  for (const [name, v] of [
    ['recvBufferSize', recv],
    ['sendBufferSize', send],
  ] as const) {
    if (!Number.isInteger(v) || v < 1 || v > 0x7fffffff) {
      throw new KoffloadError('KOFFLOAD_ERR_INVALID_ARG', `${name} must be an integer in 1..2^31-1, got ${v}`);
    }
  }
  const dropCheckMs = options.dropCheckMs ?? 1000;
  if (!Number.isInteger(dropCheckMs) || dropCheckMs < 0 || dropCheckMs > 0x7fffffff) {
    throw new KoffloadError('KOFFLOAD_ERR_INVALID_ARG', `dropCheckMs must be an integer in 0..2^31-1, got ${dropCheckMs}`);
  }
  let raw: RawSocket;
  try {
    raw = new netlink.RawNetlinkSocket(NETLINK_GENERIC, {
      recvBufferSize: recv,
      sendBufferSize: send,
      ...(options.localPort !== undefined ? { localPort: options.localPort } : {}),
    });
  } catch (err) {
    const e = err as RawError;
    throw new KoffloadError('KOFFLOAD_ERR_SOCKET', e.message, { cause: err, errno: e.errno });
  }
  let inode: number;
  try {
    inode = protect(raw.address().port, options.capAck ?? false);
  } catch (err) {
    raw.close();
    const e = err as RawError;
    throw new KoffloadError('KOFFLOAD_ERR_SOCKET', `cannot make the socket survive overruns: ${e.message}`, { cause: err, errno: e.errno });
  }
  return new NetlinkGenlSocket(raw, inode, dropCheckMs);
}
