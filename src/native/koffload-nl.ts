/**
 * Loads koffload's own native addon (src/native/koffload_nl.c), built into
 * dist/native/koffload_nl.node by `npm run build` (scripts/build-native.mjs).
 * The transport (src/netlink/socket.ts) uses its socket calls, once a real
 * netlink socket is opened (the in-memory simulator never loads it); the
 * runtime uses its PSI watch (src/runtime/pressure.ts), its mlock2,
 * RLIMIT_MEMLOCK and execve calls (src/runtime/memory.ts) and its
 * sd_notify datagram (src/runtime/notify.ts).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** What start() returns: the socket's poll, for stop() and ref(). */
export type PollHandle = { readonly __koffloadPoll: unique symbol };

/**
 * Called once per receive crossing: `n` >= 0 datagrams are in the arena
 * (slot i at i * slotBytes; meta[3i] its length, meta[3i+1] the sender's
 * port, meta[3i+2] 1 when it was truncated), valid until the callback
 * returns; `n` < 0 is a negative errno (a failed receive or a socket
 * error); `fatal` means the socket can no longer be polled.
 */
export type BatchCallback = (n: number, fatal: boolean) => void;

/** What psiWatch() returns, for psiUnwatch(). */
export type PsiHandle = { readonly __koffloadPsi: unique symbol };

/** The addon's exports; a failed system call throws an Error with errno, code and syscall. */
export interface KoffloadNl {
  /** A bound, non-blocking NETLINK_GENERIC socket with NETLINK_NO_ENOBUFS and NETLINK_EXT_ACK (and NETLINK_CAP_ACK): [fd, portId]. */
  open(localPort: number, rcvbufBytes: number, sndbufBytes: number, capAck: boolean, protocol?: number): [number, number];
  /** Polls fd: recvmmsg() into `arena` and a callback per batch (see BatchCallback). */
  start(fd: number, arena: ArrayBuffer, slotBytes: number, slots: number, meta: ArrayBuffer, callback: BatchCallback): PollHandle;
  /** One sendmsg() of the buffers as one datagram to `port`, MSG_DONTWAIT: 0 or the errno. The buffers may be reused at once. */
  send(fd: number, port: number, buffers: readonly Uint8Array[]): number;
  /** Ends the poll and closes the socket. */
  stop(handle: PollHandle): void;
  /** Whether the poll keeps the event loop alive. */
  ref(handle: PollHandle, ref: boolean): void;
  /** close(2) of a socket that was never started. */
  closeFd(fd: number): void;
  /** setsockopt(2) with an int value. */
  setsockopt(fd: number, level: number, name: number, value: number): void;
  /** getsockopt(2) of an int value. */
  getsockopt(fd: number, level: number, name: number): number;
  /** Watches a PSI trigger fd for POLLPRI (unref'd): callback(0) per event, callback(-errno) once when the fd fails (the watch then ends). */
  psiWatch(fd: number, callback: (status: number) => void): PsiHandle;
  /** Ends a watch and closes its fd (which removes the trigger). */
  psiUnwatch(handle: PsiHandle): void;
  /** mlock2(2) of [start, start + length), page-aligned outwards, with MLOCK_ONFAULT when asked: 0 or the errno. */
  mlockRange(start: number, length: number, onfault: boolean): number;
  /** mlock2(2) of the pages holding an ArrayBuffer's bytes (populated): 0 or the errno. */
  mlockBuffer(buffer: ArrayBuffer): number;
  /** getrlimit(RLIMIT_MEMLOCK): [soft, hard] in bytes, Infinity when unlimited. */
  memlockLimit(): [number, number];
  /** execve(2): replaces this process; returns only by throwing. */
  execve(path: string, argv: readonly string[], env: readonly string[]): never;
  /**
   * sd_notify(3): one AF_UNIX datagram with `state` to `socketPath` (an
   * absolute path, or '@name' in the abstract namespace): 0 or the errno
   * (ENAMETOOLONG, EINVAL for a path neither absolute nor abstract).
   */
  sdNotify(socketPath: string, state: string): number;
}

/** True when the addon was built (the runtime then uses its PSI triggers and memory locking). */
export function koffloadNlAvailable(): boolean {
  return CANDIDATES.some((p) => existsSync(p));
}

const here = dirname(fileURLToPath(import.meta.url));
/** dist/src/native/ when compiled, src/native/ under tsx: both find dist/native/. */
const CANDIDATES = [join(here, '..', '..', 'native', 'koffload_nl.node'), join(here, '..', '..', 'dist', 'native', 'koffload_nl.node')];

let addon: KoffloadNl | undefined;

/** The addon, loaded on first use; throws if it was not built. */
export function koffloadNl(): KoffloadNl {
  if (addon) return addon;
  const path = CANDIDATES.find((p) => existsSync(p));
  if (!path) throw new Error(`the native addon dist/native/koffload_nl.node is missing: run 'npm run build' (it needs gcc)`);
  addon = createRequire(import.meta.url)(path) as KoffloadNl;
  return addon;
}
