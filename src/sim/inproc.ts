/**
 * In-memory netlink for processes that may not open or unicast netlink
 * sockets (not root): a hub of ports, each an {@link InprocSocket} that
 * implements the same GenlSocket interface as src/netlink/socket.ts, so
 * GenlClient, KoffloadClient and KtestClient run on it unchanged.
 *
 * Semantics kept from AF_NETLINK:
 * - a send is one datagram, delivered whole and in order per sender, never
 *   synchronously (the receiver sees it in a later event-loop task);
 * - the receiver's port is the sender's identity (unforgeable);
 * - a send to a port nobody holds fails with ECONNREFUSED;
 * - a receiver whose queued bytes exceed its receive buffer refuses the
 *   datagram with EAGAIN (the kernel's non-blocking unicast); a socket can
 *   be paused (`pause()`), which stands in for a stopped handler process;
 * - closing a socket tells the hub's watchers at once (NETLINK_URELEASE).
 * Every socket belongs to this process (pid = process.pid); whether it
 * counts as CAP_NET_ADMIN is chosen when it is opened.
 */
import { EventEmitter } from 'node:events';
import { KoffloadError } from '../errors.js';
import type { GenlSocket, GenlSocketEvents, GenlSocketStats, SendOptions } from '../netlink/socket.js';
import { ERRNO, type PeerInfo, type SimTransport } from './transport.js';

/** Approximate per-datagram overhead the kernel charges (skb truesize). */
const SKB_OVERHEAD = 768;

export interface InprocSocketOptions {
  /** counts as CAP_NET_ADMIN for the simulator. @default true */
  privileged?: boolean;
  /** receive buffer in bytes. @default 8 MiB */
  recvBufferSize?: number;
}

function errnoError(errno: number, code: string): Error {
  return Object.assign(new Error(`sendmsg ${code}`), { errno, code, syscall: 'sendmsg' });
}

export class InprocSocket extends EventEmitter<GenlSocketEvents> implements GenlSocket {
  readonly stats: GenlSocketStats = { drops: 0, enobufs: 0, recvErrors: 0, truncated: 0, datagrams: 0, batches: 0, sends: 0 };
  /** no receive crossings here: replies flush at setImmediate */
  readonly receiving = false;
  readonly privileged: boolean;
  private readonly rcvbuf: number;
  private queue: Array<{ buf: Buffer; from: number }> = [];
  private rmem = 0;
  private paused = false;
  private scheduled = false;
  private isClosed = false;

  constructor(
    private readonly hub: InprocHub,
    readonly portId: number,
    opts: InprocSocketOptions,
  ) {
    super();
    this.privileged = opts.privileged ?? true;
    this.rcvbuf = opts.recvBufferSize ?? 8 << 20;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Queues a datagram; returns 0 or EAGAIN when the buffer is full. */
  enqueue(buf: Buffer, from: number): number {
    if (this.rmem > this.rcvbuf) return ERRNO.EAGAIN;
    this.queue.push({ buf, from });
    this.rmem += buf.length + SKB_OVERHEAD;
    this.schedule();
    return 0;
  }

  private schedule(): void {
    if (this.scheduled || this.paused || this.isClosed) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.drain();
    });
  }

  private drain(): void {
    while (!this.paused && !this.isClosed && this.queue.length > 0) {
      const d = this.queue.shift()!;
      this.rmem -= d.buf.length + SKB_OVERHEAD;
      this.stats.datagrams++;
      this.emit('datagram', d.buf, d.from);
    }
  }

  /** Stops delivering (a stopped process): datagrams pile up in the buffer. */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.schedule();
  }

  send(buffers: readonly Uint8Array[], options: SendOptions = {}): Promise<void> {
    if (this.isClosed) return Promise.reject(new KoffloadError('KOFFLOAD_ERR_SOCKET_CLOSED'));
    this.stats.sends++;
    const err = this.hub.deliver(this.portId, options.port ?? 0, Buffer.concat(buffers.map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength))));
    if (err === ERRNO.ECONNREFUSED) return Promise.reject(errnoError(err, 'ECONNREFUSED'));
    if (err === ERRNO.EAGAIN) return Promise.reject(errnoError(err, 'EAGAIN'));
    return Promise.resolve();
  }

  recvBufferSize(): number {
    return this.rcvbuf;
  }

  checkDrops(): number {
    return 0;
  }

  setRef(): void {
    // nothing keeps the event loop alive here
  }

  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.queue = [];
    this.hub.remove(this.portId);
    this.emit('close');
  }
}

/** The in-memory "netns": ports, delivery and release notification. */
export class InprocHub {
  private readonly sockets = new Map<number, InprocSocket>();
  private readonly watchers = new Map<number, Set<() => void>>();
  private nextPort = 1;

  open(opts: InprocSocketOptions = {}): InprocSocket {
    while (this.sockets.has(this.nextPort) || this.nextPort === 0) this.nextPort = (this.nextPort + 1) >>> 0;
    const s = new InprocSocket(this, this.nextPort++, opts);
    this.sockets.set(s.portId, s);
    return s;
  }

  /** Opens the socket at a chosen port (the simulator's port 0). */
  openAt(port: number, opts: InprocSocketOptions = {}): InprocSocket {
    if (this.sockets.has(port)) throw new KoffloadError('KOFFLOAD_ERR_SOCKET', `port ${port} is taken`);
    const s = new InprocSocket(this, port, opts);
    this.sockets.set(port, s);
    return s;
  }

  get(port: number): InprocSocket | undefined {
    return this.sockets.get(port);
  }

  deliver(from: number, to: number, buf: Buffer): number {
    const dst = this.sockets.get(to);
    if (!dst || dst.closed) return ERRNO.ECONNREFUSED;
    return dst.enqueue(buf, from);
  }

  remove(port: number): void {
    this.sockets.delete(port);
    const w = this.watchers.get(port);
    this.watchers.delete(port);
    for (const f of w ?? []) f();
  }

  watch(port: number, onGone: () => void): () => void {
    if (!this.sockets.has(port)) {
      queueMicrotask(onGone);
      return () => undefined;
    }
    let set = this.watchers.get(port);
    if (!set) this.watchers.set(port, (set = new Set()));
    set.add(onGone);
    return () => void set.delete(onGone);
  }
}

/** The simulator's side of the hub, listening on port 0. */
export class InprocTransport implements SimTransport {
  readonly kind = 'inproc' as const;
  readonly portId = 0;
  private readonly own: InprocSocket;

  constructor(readonly hub: InprocHub) {
    this.own = hub.openAt(0);
  }

  unicast(port: number, buffers: readonly Buffer[]): Promise<number> {
    return Promise.resolve(this.hub.deliver(0, port, Buffer.concat(buffers)));
  }

  peer(port: number): PeerInfo | undefined {
    const s = this.hub.get(port);
    return s ? { pid: process.pid, netAdmin: s.privileged, socket: s } : undefined;
  }

  onDatagram(listener: (buf: Buffer, senderPort: number) => void): void {
    this.own.on('datagram', listener);
  }

  watchPort(port: number, onGone: () => void): () => void {
    return this.hub.watch(port, onGone);
  }

  holds(port: number, socket: unknown): boolean {
    return this.hub.get(port) === socket;
  }

  /** Every in-memory socket is this process's, which outlives them all. */
  watchPid(): () => void {
    return () => undefined;
  }

  close(): void {
    this.own.close();
  }
}
