/**
 * The simulator on a real NETLINK_GENERIC socket. Root may unicast between
 * userspace ports, so clients opened with { peerPort: sim port, familyId }
 * talk to it exactly as to the kernel (the sender port of each datagram is
 * set by the kernel, so the simulator knows who sent it).
 *
 * Three things the kernel knows directly are reconstructed:
 *
 * 1. Handler death. There is no NETLINK_URELEASE for userspace, so every
 *    watched port is checked against /proc/net/netlink every POLL_MS (its
 *    socket inode must still be there), and a unicast that fails with
 *    ECONNREFUSED triggers the check at once. A death is therefore seen
 *    within ~POLL_MS, not instantly; a port reused by a new socket within
 *    one period shows up as a different inode and still counts as a death.
 *
 * 2. Backpressure. The kernel's own unicast never blocks: a full receiver
 *    makes it fail with EAGAIN. The transport's sends are non-blocking
 *    (MSG_DONTWAIT), so a full userspace receiver fails with EAGAIN too.
 *    Before each unicast the receiver's sk_rmem_alloc (from
 *    /proc/net/netlink, read once per batch and raised by an estimate of
 *    each datagram sent) is also compared with its sk_rcvbuf (from
 *    sock_diag, learnt at BIND), the kernel's own test in
 *    netlink_attachskb() as 6.1 and 6.13+ apply it: full means EAGAIN
 *    without a send, so the simulator refuses by the stricter of the two
 *    kernels' rules whichever runs underneath. Without sock_diag (no
 *    netlink_diag) only the send's own EAGAIN counts.
 *
 * 3. Privilege and identity. The process behind a port is found through
 *    the socket inode in /proc/<pid>/fd, its CAP_NET_ADMIN in
 *    /proc/<pid>/status; both are cached per (port, inode). The socket's
 *    identity is its inode, read from /proc/net/netlink once per
 *    event-loop turn: a newcomer that takes a dead handler's port is a
 *    different socket (the kernel compares the socket itself).
 *
 * 4. A binding process that exits while its socket lives on (inherited or
 *    passed file descriptor): its /proc/<pid>/stat start time is polled
 *    with the ports, so the exit is seen within ~POLL_MS (the kernel: at
 *    once, from the pidfd wait queue).
 */
import { openGenlSocket, type GenlSocket } from '../netlink/socket.js';
import { type PortRow, hasNetAdmin, pidOfInode, processStart, readPorts, readRcvbufs } from './proc.js';
import { ERRNO, type PeerInfo, type SimTransport } from './transport.js';

export const POLL_MS = 20;

/** Rough skb truesize of a datagram: head rounded to a slab, plus sk_buff. */
function truesize(len: number): number {
  let slab = 512;
  while (slab < len + 320) slab *= 2;
  return slab + 256;
}

interface PeerCache extends PeerInfo {
  inode: number;
}

interface OutItem {
  port: number;
  bufs: readonly Buffer[];
  resolve: (errno: number) => void;
}

export class NetlinkTransport implements SimTransport {
  readonly kind = 'netlink' as const;
  readonly portId: number;
  private readonly sock: GenlSocket;
  private readonly peers = new Map<number, PeerCache>();
  /** sk_rcvbuf by socket inode */
  private readonly rcvbufs = new Map<number, number>();
  private readonly watched = new Map<number, { inode: number; onGone: Set<() => void> }>();
  /** processes watched for their exit, by pid: their start time and callbacks */
  private readonly watchedPids = new Map<number, { start: string; onGone: Set<() => void> }>();
  private readonly timer: NodeJS.Timeout;
  private out: OutItem[] = [];
  private rowsMemo: Map<number, PortRow> | undefined;
  private flushScheduled = false;
  diagAvailable = true;

  constructor(recvBufferSize = 32 << 20) {
    this.sock = openGenlSocket({ recvBufferSize, sendBufferSize: 8 << 20, dropCheckMs: 0 });
    this.portId = this.sock.portId;
    this.timer = setInterval(() => this.poll(), POLL_MS);
    this.timer.unref();
  }

  /** Lets the process exit while the simulator runs (or not). */
  setRef(ref: boolean): void {
    this.sock.setRef(ref);
  }

  onDatagram(listener: (buf: Buffer, senderPort: number) => void): void {
    // the socket's buffer is reused by its next receive; the simulator keeps payloads (replies, the cache)
    this.sock.on('datagram', (buf, port) => listener(Buffer.from(buf), port));
  }

  unicast(port: number, bufs: readonly Buffer[]): Promise<number> {
    return new Promise<number>((resolve) => {
      this.out.push({ port, bufs, resolve });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.flushScheduled = false;
    const batch = this.out;
    this.out = [];
    if (this.sock.closed) {
      for (const it of batch) it.resolve(ERRNO.ECONNREFUSED);
      return;
    }
    let rows: Map<number, PortRow>;
    try {
      rows = readPorts();
    } catch {
      rows = new Map();
    }
    for (const it of batch) {
      const row = rows.get(it.port);
      if (!row) {
        it.resolve(ERRNO.ECONNREFUSED);
        this.checkWatched(rows);
        continue;
      }
      const size = truesize(it.bufs.reduce((n, b) => n + b.length, 0));
      const rcvbuf = this.rcvbufs.get(row.inode);
      // netlink_attachskb(): 6.1 refuses when sk_rmem_alloc > sk_rcvbuf
      // before the skb is charged, newer kernels (6.13+) when the charge
      // would take an non-empty queue past sk_rcvbuf. Refusing by the
      // stricter rule never attempts a send that the running kernel would
      // refuse (which would wedge the socket, see above).
      if (rcvbuf !== undefined && row.rmem > 0 && row.rmem + size > rcvbuf) {
        it.resolve(ERRNO.EAGAIN);
        continue;
      }
      row.rmem += size;
      this.sock.send(it.bufs, { port: it.port }).then(
        () => it.resolve(0),
        (err: unknown) => {
          const errno = (err as { errno?: number }).errno ?? ERRNO.ECONNREFUSED;
          if (errno === ERRNO.ECONNREFUSED) this.poll();
          it.resolve(errno);
        },
      );
    }
  }

  /**
   * /proc/net/netlink as of this event-loop turn: read once per turn, so
   * every datagram is judged by the socket that holds its port now, not
   * by one that held it before.
   */
  private freshRows(): Map<number, PortRow> {
    if (!this.rowsMemo) {
      try {
        this.rowsMemo = readPorts();
      } catch {
        this.rowsMemo = new Map();
      }
      setImmediate(() => (this.rowsMemo = undefined));
    }
    return this.rowsMemo;
  }

  peer(port: number): PeerInfo | undefined {
    const row = this.freshRows().get(port);
    const cached = this.peers.get(port);
    if (!row) {
      this.peers.delete(port);
      return undefined;
    }
    if (cached && cached.inode === row.inode) return cached;
    const pid = pidOfInode(row.inode);
    const p: PeerCache = { inode: row.inode, pid, netAdmin: pid !== 0 && hasNetAdmin(pid), socket: row.inode };
    this.peers.set(port, p);
    return p;
  }

  /**
   * Learns the receive buffer size of the socket at `port` (one sock_diag
   * dump, which also refreshes every other socket's), unless known.
   */
  async learnPort(port: number): Promise<void> {
    if (!this.diagAvailable) return;
    let inode: number | undefined;
    try {
      inode = readPorts().get(port)?.inode;
    } catch {
      return;
    }
    if (inode === undefined || this.rcvbufs.has(inode)) return;
    try {
      const bufs = await readRcvbufs();
      for (const [ino, size] of bufs) this.rcvbufs.set(ino, size);
    } catch {
      this.diagAvailable = false;
    }
  }

  watchPort(port: number, onGone: () => void): () => void {
    let inode: number | undefined;
    try {
      inode = readPorts().get(port)?.inode;
    } catch {
      inode = undefined;
    }
    if (inode === undefined) {
      queueMicrotask(onGone);
      return () => undefined;
    }
    let w = this.watched.get(port);
    if (!w || w.inode !== inode) this.watched.set(port, (w = { inode, onGone: new Set() }));
    const set = w.onGone;
    set.add(onGone);
    return () => void set.delete(onGone);
  }

  /** Whether the socket `socket` (an inode) still holds `port`. */
  holds(port: number, socket: unknown): boolean {
    return this.freshRows().get(port)?.inode === socket;
  }

  watchPid(pid: number, onGone: () => void): () => void {
    const start = processStart(pid);
    if (start === undefined) {
      queueMicrotask(onGone);
      return () => undefined;
    }
    let w = this.watchedPids.get(pid);
    if (!w || w.start !== start) this.watchedPids.set(pid, (w = { start, onGone: new Set() }));
    const set = w.onGone;
    set.add(onGone);
    return () => void set.delete(onGone);
  }

  private poll(): void {
    for (const [pid, w] of this.watchedPids) {
      if (processStart(pid) === w.start) continue;
      this.watchedPids.delete(pid);
      for (const f of w.onGone) f();
    }
    let rows: Map<number, PortRow>;
    try {
      rows = readPorts();
    } catch {
      return;
    }
    this.checkWatched(rows);
    for (const [port, p] of this.peers) {
      if (rows.get(port)?.inode !== p.inode) this.peers.delete(port);
    }
    if (this.rcvbufs.size > 0) {
      const live = new Set<number>();
      for (const r of rows.values()) live.add(r.inode);
      for (const ino of this.rcvbufs.keys()) if (!live.has(ino)) this.rcvbufs.delete(ino);
    }
  }

  private checkWatched(rows: Map<number, PortRow>): void {
    for (const [port, w] of this.watched) {
      if (rows.get(port)?.inode === w.inode) continue;
      this.watched.delete(port);
      this.peers.delete(port);
      this.rcvbufs.delete(w.inode);
      for (const f of w.onGone) f();
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.sock.close();
  }
}
