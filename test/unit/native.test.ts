// koffload's own native addon (src/native/koffload_nl.c) on this host, and
// the install-time promise behind it: no dependency compiles anything when
// `npm ci` runs. Any user; no root needed.
import assert from 'node:assert/strict';
import { closeSync, openSync, readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { koffloadNl } from '../../src/native/koffload-nl.js';
import { type GenlSocket, NETLINK_GENERIC, openGenlSocket } from '../../src/netlink/socket.js';

/** The fd of this process's NETLINK_GENERIC socket bound to `portId`, found through /proc. */
function findGenlSocketFd(portId: number): { fd: number } | undefined {
  for (const line of readFileSync('/proc/self/net/netlink', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || Number(f[1]) !== NETLINK_GENERIC || Number(f[2]) !== portId) continue;
    for (const name of readdirSync('/proc/self/fd')) {
      try {
        if (readlinkSync(`/proc/self/fd/${name}`) === `socket:[${f[9]}]`) return { fd: Number(name) };
      } catch {
        // closed meanwhile
      }
    }
  }
  return undefined;
}

/** Repository root (this file runs from dist/test/unit). */
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

const SOL_SOCKET = 1;
const SO_RCVBUF = 8;
const SOL_NETLINK = 270;
const NETLINK_NO_ENOBUFS = 5;
const NETLINK_EXT_ACK = 11;
const { EBADF, ENOPROTOOPT, ENOTSOCK } = osConstants.errno;

describe('native: koffload_nl.node', () => {
  let sock: GenlSocket;
  let fd: number;
  beforeEach(() => {
    sock = openGenlSocket({ dropCheckMs: 0 });
    const found = findGenlSocketFd(sock.portId);
    assert.ok(found, `no fd for port ${sock.portId} in /proc`);
    fd = found.fd;
  });
  afterEach(() => sock.close());

  it('every opened socket has NETLINK_NO_ENOBUFS and NETLINK_EXT_ACK on', () => {
    assert.equal(koffloadNl().getsockopt(fd, SOL_NETLINK, NETLINK_NO_ENOBUFS), 1);
    assert.equal(koffloadNl().getsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK), 1);
  });

  it('sets and reads back an int option', () => {
    const nl = koffloadNl();
    nl.setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, 0);
    assert.equal(nl.getsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK), 0);
    // the kernel doubles SO_RCVBUF, capped at net.core.rmem_max
    const rmemMax = Number(readFileSync('/proc/sys/net/core/rmem_max', 'utf8'));
    nl.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, 65536);
    assert.equal(nl.getsockopt(fd, SOL_SOCKET, SO_RCVBUF), 2 * Math.min(65536, rmemMax));
    assert.equal(sock.recvBufferSize(), 2 * Math.min(65536, rmemMax));
  });

  it('throws the errno of a failed call with code and syscall', () => {
    const nl = koffloadNl();
    assert.throws(() => nl.getsockopt(0x7fffffff, SOL_NETLINK, NETLINK_NO_ENOBUFS), { errno: EBADF, code: 'EBADF', syscall: 'getsockopt' });
    assert.throws(() => nl.setsockopt(fd, SOL_NETLINK, 255, 1), { errno: ENOPROTOOPT, code: 'ENOPROTOOPT', syscall: 'setsockopt' });
    const file = openSync('/dev/null', 'r');
    try {
      assert.throws(() => nl.setsockopt(file, SOL_NETLINK, NETLINK_NO_ENOBUFS, 1), { errno: ENOTSOCK, code: 'ENOTSOCK', syscall: 'setsockopt' });
    } finally {
      closeSync(file);
    }
  });

  it('rejects arguments that are not integers in range before any system call', () => {
    const nl = koffloadNl() as unknown as Record<string, (...a: unknown[]) => unknown>;
    assert.throws(() => nl.getsockopt!(String(fd), SOL_NETLINK, NETLINK_NO_ENOBUFS), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => nl.getsockopt!(fd, SOL_NETLINK), { name: 'TypeError', code: 'ERR_MISSING_ARGS' });
    assert.throws(() => nl.setsockopt!(fd, SOL_NETLINK, NETLINK_EXT_ACK), { name: 'TypeError', code: 'ERR_MISSING_ARGS' });
    for (const bad of [-1, 1.5, 2 ** 31, Number.NaN]) {
      assert.throws(() => nl.getsockopt!(bad, SOL_NETLINK, NETLINK_NO_ENOBUFS), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' }, String(bad));
    }
    assert.throws(() => nl.setsockopt!(fd, SOL_NETLINK, NETLINK_EXT_ACK, 2 ** 31), { name: 'RangeError' });
    assert.equal(nl.getsockopt!(fd, SOL_NETLINK, NETLINK_NO_ENOBUFS), 1, 'the socket is untouched');
  });
});

describe('install: nothing compiled by npm ci', () => {
  const modules = join(root, 'node_modules');

  /** Every *.node file under node_modules, relative to it. */
  function addons(dir = modules, rel = ''): string[] {
    const out: string[] = [];
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) out.push(...addons(join(dir, e.name), r));
      else if (e.name.endsWith('.node') && statSync(join(dir, e.name)).isFile()) out.push(r);
    }
    return out;
  }

  it('no native addon under node_modules was compiled at install time', () => {
    const built = addons().filter((p) => !/(^|\/)prebuilds\//.test(p));
    assert.deepEqual(built, [], 'addons compiled at install time');
  });
});
