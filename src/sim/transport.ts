/**
 * What the simulated kernel needs from a transport: its own port, unicast
 * to a port with the kernel's non-blocking semantics, the identity of the
 * process behind a port, and a release notification when a port closes
 * (the NETLINK_URELEASE of the real kernel).
 */

/** Who is behind a netlink port, as the kernel would know it. */
export interface PeerInfo {
  /** tgid of the process holding the socket (0 when unknown) */
  pid: number;
  /** whether that process has CAP_NET_ADMIN (GENL_ADMIN_PERM) */
  netAdmin: boolean;
  /**
   * identity of the socket now holding the port (the kernel compares the
   * sending socket, never the port id): the socket object in memory, its
   * inode over netlink
   */
  socket: unknown;
}

export interface SimTransport {
  readonly kind: 'netlink' | 'inproc';
  /** the port the simulated kernel listens on (0 for inproc) */
  readonly portId: number;
  /**
   * Unicasts one datagram, never queueing behind a full receiver: resolves
   * 0 when delivered to the receive queue, or the errno the kernel's
   * genlmsg_unicast() would return (EAGAIN for a full receive buffer,
   * ECONNREFUSED for a port nobody holds, another errno for other failures).
   */
  unicast(port: number, buffers: readonly Buffer[]): Promise<number>;
  /** The process behind `port`, or undefined when no socket holds it. */
  peer(port: number): PeerInfo | undefined;
  /** Datagrams sent to the simulator, with the sender's port (unforgeable). */
  onDatagram(listener: (buf: Buffer, senderPort: number) => void): void;
  /**
   * Calls `onGone` once, as soon as possible after the socket now holding
   * `port` closes; returns a function that stops watching.
   */
  watchPort(port: number, onGone: () => void): () => void;
  /**
   * Calls `onGone` once, as soon as possible after process `pid` has
   * exited (a handler whose socket outlives its process is dead too);
   * returns a function that stops watching.
   */
  watchPid(pid: number, onGone: () => void): () => void;
  /** Whether `socket` (a PeerInfo.socket) still holds `port`: false once it is closing. */
  holds(port: number, socket: unknown): boolean;
  close(): void;
}

export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EAGAIN: 11,
  ENOMEM: 12,
  EBUSY: 16,
  EINVAL: 22,
  ENOSPC: 28,
  ERANGE: 34,
  EPROTO: 71,
  EMSGSIZE: 90,
  EOPNOTSUPP: 95,
  ENOBUFS: 105,
  ECONNREFUSED: 111,
  ESHUTDOWN: 108,
  EWOULDBLOCK: 11,
} as const;
