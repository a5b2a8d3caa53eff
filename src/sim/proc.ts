/**
 * What the simulator learns about other netlink sockets from /proc and
 * sock_diag, standing in for what the kernel knows directly:
 * - /proc/net/netlink: which NETLINK_GENERIC ports exist, their socket
 *   inode and bytes queued in their receive buffer (sk_rmem_alloc);
 * - /proc/<pid>/fd: which process holds a socket inode;
 * - /proc/<pid>/status CapEff: whether it has CAP_NET_ADMIN;
 * - NETLINK_SOCK_DIAG (netlink_diag): a socket's receive buffer size
 *   (sk_rcvbuf), which /proc does not show.
 *
 * The sock_diag socket is the transport's (src/netlink/socket.ts,
 * openNetlinkSocket()) with protocol NETLINK_SOCK_DIAG.
 */
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { type GenlSocket, openNetlinkSocket } from '../netlink/socket.js';

export const NETLINK_GENERIC = 16;
const NETLINK_SOCK_DIAG = 4;
const SOCK_DIAG_BY_FAMILY = 20;
const AF_NETLINK = 16;
const NDIAG_SHOW_MEMINFO = 1;
const NETLINK_DIAG_MEMINFO = 0;
const CAP_NET_ADMIN = 12;

export interface PortRow {
  inode: number;
  /** sk_rmem_alloc: bytes charged to the receive buffer now */
  rmem: number;
}

/** NETLINK_GENERIC sockets by port, from /proc/net/netlink. */
export function readPorts(path = '/proc/net/netlink'): Map<number, PortRow> {
  const out = new Map<number, PortRow>();
  const lines = readFileSync(path, 'utf8').split('\n');
  for (let i = 1; i < lines.length; i++) {
    // sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode
    const f = lines[i]!.trim().split(/\s+/);
    if (f.length < 10 || Number(f[1]) !== NETLINK_GENERIC) continue;
    const port = Number(f[2]);
    if (port === 0) continue;
    out.set(port, { inode: Number(f[9]), rmem: Number(f[4]) });
  }
  return out;
}

function holds(pid: string, want: string): boolean {
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return false;
  }
  for (const fd of fds) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`) === want) return true;
    } catch {
      // closed meanwhile, or not ours to read
    }
  }
  return false;
}

/**
 * Whether process `pid` holds socket `inode` among its file descriptors;
 * undefined when /proc/<pid>/fd cannot be read (another user's process,
 * and this one not root).
 */
export function pidHoldsInode(pid: number, inode: number): boolean | undefined {
  const name = pid === process.pid ? 'self' : String(pid);
  try {
    readdirSync(`/proc/${name}/fd`);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EACCES' ? undefined : false;
  }
  return holds(name, `socket:[${inode}]`);
}

/** The tgid of a process holding socket `inode` (this process first), or 0. */
export function pidOfInode(inode: number): number {
  const want = `socket:[${inode}]`;
  if (holds('self', want)) return process.pid;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    if (holds(name, want)) return Number(name);
  }
  return 0;
}

/**
 * Start time of process `pid` (field 22 of /proc/<pid>/stat), which tells
 * a live process from a new one that reused its pid; undefined when no
 * such process runs, or it is a zombie.
 */
export function processStart(pid: number): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // the command may hold spaces and parentheses: fields follow the last ')'
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  if (f[0] === 'Z' || f[0] === 'X') return undefined;
  return f[19];
}

/** Whether process `pid` has CAP_NET_ADMIN in its effective set. */
export function hasNetAdmin(pid: number): boolean {
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m !== null && ((BigInt(`0x${m[1]}`) >> BigInt(CAP_NET_ADMIN)) & 1n) === 1n;
  } catch {
    return false;
  }
}

/**
 * sk_rcvbuf of every NETLINK_GENERIC socket, by inode, from one
 * netlink_diag dump. Rejects when sock_diag for netlink is unavailable.
 */
export function readRcvbufs(timeoutMs = 1000): Promise<Map<number, number>> {
  return new Promise((resolve, reject) => {
    let sock: GenlSocket;
    try {
      sock = openNetlinkSocket(NETLINK_SOCK_DIAG, { recvBufferSize: 1 << 20, sendBufferSize: 1 << 16, dropCheckMs: 0, recvSlots: 4 });
    } catch (err) {
      reject(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    const out = new Map<number, number>();
    const finish = (err?: Error): void => {
      done = true;
      clearTimeout(timer);
      sock.close();
      if (err) reject(err);
      else resolve(out);
    };
    const timer = setTimeout(() => finish(new Error('sock_diag did not answer')), timeoutMs);
    let done = false;
    const end = finish;
    sock.on('close', (err) => {
      if (!done && err) end(err);
    });
    sock.on('datagram', (buf: Buffer) => {
      if (done) return;
      let off = 0;
      while (buf.length - off >= 16) {
        const len = buf.readUInt32LE(off);
        const type = buf.readUInt16LE(off + 4);
        if (len < 16 || len > buf.length - off) break;
        if (type === 3) return finish(); // NLMSG_DONE
        if (type === 2) return finish(new Error(`sock_diag error ${-buf.readInt32LE(off + 16)}`));
        if (type === SOCK_DIAG_BY_FAMILY && len >= 16 + 28) {
          const inode = buf.readUInt32LE(off + 16 + 16);
          let a = off + 16 + 28;
          while (a + 4 <= off + len) {
            const alen = buf.readUInt16LE(a);
            const atype = buf.readUInt16LE(a + 2) & 0x3fff;
            if (alen < 4) break;
            if (atype === NETLINK_DIAG_MEMINFO && alen >= 12) out.set(inode, buf.readUInt32LE(a + 8));
            a += (alen + 3) & ~3;
          }
        }
        off += (len + 3) & ~3;
      }
    });
    const req = Buffer.alloc(16 + 20);
    req.writeUInt32LE(req.length, 0);
    req.writeUInt16LE(SOCK_DIAG_BY_FAMILY, 4);
    req.writeUInt16LE(0x1 | 0x300, 6); // NLM_F_REQUEST | NLM_F_DUMP
    req.writeUInt32LE(1, 8);
    req.writeUInt8(AF_NETLINK, 16);
    req.writeUInt8(NETLINK_GENERIC, 17);
    req.writeUInt32LE(NDIAG_SHOW_MEMINFO, 16 + 8);
    sock.send([req], { port: 0 }).catch((err: unknown) => finish(err instanceof Error ? err : new Error(String(err))));
  });
}
