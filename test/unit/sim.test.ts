// The simulator's internals that the conformance suite does not reach:
// state file, resolveTarget() order, the in-memory sockets, the CLI's
// argument parsing, and the request id layout.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { KoffloadClient, type KernelRequest } from '../../src/kernel/client.js';
import { KtestClient } from '../../src/kernel/test-client.js';
import { InprocHub, readStateFile, resolveTarget, startSimulator, stateIsLive, writeStateFile } from '../../src/sim/index.js';
import { parseSimArgs, parseSubsys } from '../../src/cli/koffload-sim.js';
import { IS_ROOT, skipBecause } from '../skip.js';
import type { PortRow } from '../../src/sim/proc.js';
import { SimCore, Subsys, contextOf } from '../../src/sim/core.js';

const here = dirname(fileURLToPath(import.meta.url));


function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '0']);
  assert.ok(r.pid);
  return r.pid;
}

describe('sim: state file', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'koffload-sim-test-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('round-trips {pid, portId, familyIds} and creates the directory', () => {
    const path = join(dir, 'sub', 'sim.json');
    const state = { pid: 1234, portId: 99, familyIds: { koffload: 0x4b4f, koffloadTest: 0x4b54 } };
    writeStateFile(path, state);
    assert.deepEqual(readStateFile(path), state);
    assert.deepEqual(JSON.parse(readFileSync(path, 'utf8')), state);
  });

  it('reads a missing, garbled or incomplete file as no simulator', () => {
    assert.equal(readStateFile(join(dir, 'none.json')), undefined);
    const p = join(dir, 'bad.json');
    writeFileSync(p, '{not json');
    assert.equal(readStateFile(p), undefined);
    writeFileSync(p, JSON.stringify({ pid: 1, portId: 2, familyIds: { koffload: 3 } }));
    assert.equal(readStateFile(p), undefined);
    writeFileSync(p, JSON.stringify({ pid: -1, portId: 2, familyIds: { koffload: 3, koffloadTest: 4 } }));
    assert.equal(readStateFile(p), undefined);
  });

  it('counts a simulator as live only when its process exists and holds its port', () => {
    const familyIds = { koffload: 1, koffloadTest: 2 };
    const ports = (): Map<number, PortRow> => new Map([[77, { inode: 5, rmem: 0 }]]);
    const holds = (pid: number, inode: number): boolean => pid === process.pid && inode === 5;
    assert.equal(stateIsLive({ pid: process.pid, portId: 77, familyIds }, ports, holds), true);
    assert.equal(stateIsLive({ pid: process.pid, portId: 78, familyIds }, ports, holds), false, 'port gone');
    assert.equal(stateIsLive({ pid: deadPid(), portId: 77, familyIds }, ports, holds), false, 'process gone');
    assert.equal(stateIsLive({ pid: process.pid, portId: 77, familyIds }, ports, () => false), false, 'pid reused: the port is someone else\'s');
  });

  it('does not take a live pid for the simulator when another process holds the port', async () => {
    // a real netlink port, held by a child process; the state file names this (live) pid
    const child = spawn(process.execPath, ['--input-type=module', '-e', `import { openGenlSocket } from ${JSON.stringify(join(here, '../../src/netlink/socket.js'))}; const s = openGenlSocket(); process.stdout.write(String(s.portId) + '\\n'); setInterval(() => {}, 1000);`], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const port = await new Promise<number>((resolve) => child.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
      const familyIds = { koffload: 1, koffloadTest: 2 };
      assert.equal(stateIsLive({ pid: child.pid!, portId: port, familyIds }), true);
      assert.equal(stateIsLive({ pid: process.pid, portId: port, familyIds }), false);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('refuses a state file others may write: KOFFLOAD_ERR_UNSAFE_FILE', async () => {
    const p = join(dir, 'sim.json');
    writeFileSync(p, JSON.stringify({ pid: process.pid, portId: 1, familyIds: { koffload: 1, koffloadTest: 2 } }));
    chmodSync(p, 0o666);
    await assert.rejects(resolveTarget({ stateFile: p }), { code: 'KOFFLOAD_ERR_UNSAFE_FILE' });
    chmodSync(p, 0o644);
    await assert.rejects(resolveTarget({ stateFile: p }), { code: 'KOFFLOAD_ERR_NO_FAMILY' });
  });

  it('is written by a netlink simulator and removed when it closes', async function () {
    if (!IS_ROOT) skipBecause(this, 'the netlink transport needs root');
    const path = join(dir, 'sim.json');
    const sim = await startSimulator({ transport: 'netlink', stateFile: path });
    try {
      const s = readStateFile(path);
      assert.ok(s);
      assert.equal(s.pid, process.pid);
      assert.equal(sim.clientOptions().peerPort, s.portId);
    } finally {
      await sim.close();
    }
    assert.equal(existsSync(path), false);
  });

  it('is not written by an in-memory simulator, which refuses one', async () => {
    const sim = await startSimulator({ transport: 'inproc' });
    assert.equal(sim.transport, 'inproc');
    await sim.close();
    const path = join(dir, 'inproc.json');
    await assert.rejects(startSimulator({ transport: 'inproc', stateFile: path }), (e: { code?: string }) => e.code === 'KOFFLOAD_ERR_INVALID_ARG');
    assert.equal(existsSync(path), false);
  });
});

describe('sim: resolveTarget', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'koffload-sim-test-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('fails with KOFFLOAD_ERR_NO_FAMILY when neither the module nor a simulator is there', async function () {
    const t: unknown = await resolveTarget({ stateFile: join(dir, 'none.json') }).catch((e: unknown) => e);
    if (!(t instanceof Error) && (t as { kind?: string }).kind === 'kernel') skipBecause(this, 'koffload.ko is loaded here');
    assert.ok(t instanceof Error);
    assert.equal((t as { code?: string }).code, 'KOFFLOAD_ERR_NO_FAMILY');
  });

  it('ignores a state file whose simulator is gone', async function () {
    const path = join(dir, 'stale.json');
    writeStateFile(path, { pid: deadPid(), portId: 12345, familyIds: { koffload: 1, koffloadTest: 2 } });
    const t: unknown = await resolveTarget({ stateFile: path }).catch((e: unknown) => e);
    if (!(t instanceof Error) && (t as { kind?: string }).kind === 'kernel') skipBecause(this, 'koffload.ko is loaded here');
    assert.equal((t as { code?: string }).code, 'KOFFLOAD_ERR_NO_FAMILY');
  });

  it('finds a running netlink simulator through its state file, and clients work with what it returns', async function () {
    if (!IS_ROOT) skipBecause(this, 'the netlink transport needs root');
    const path = join(dir, 'sim.json');
    const sim = await startSimulator({ transport: 'netlink', stateFile: path });
    try {
      const t = await resolveTarget({ stateFile: path });
      if (t.kind === 'kernel') skipBecause(this, 'koffload.ko is loaded here, and it comes first');
      assert.equal(t.kind, 'sim');
      assert.deepEqual(t.koffload, sim.clientOptions());
      assert.deepEqual(t.koffloadTest, sim.testClientOptions());
      const c = await KoffloadClient.open(t.koffload);
      try {
        assert.deepEqual((await c.dumpSubsys()).map((s) => s.name), ['ktest', 'ktest2']);
      } finally {
        c.close();
      }
    } finally {
      await sim.close();
    }
  });
});

describe('sim: in-memory sockets', () => {
  const collect = (s: ReturnType<InprocHub['open']>): Array<[string, number]> => {
    const got: Array<[string, number]> = [];
    s.on('datagram', (buf, from) => got.push([buf.toString(), from]));
    return got;
  };
  const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

  it('delivers whole datagrams in order, never synchronously, with the sender port', async () => {
    const hub = new InprocHub();
    const a = hub.open();
    const b = hub.open();
    const got = collect(b);
    await a.send([Buffer.from('one'), Buffer.from('+two')], { port: b.portId });
    await a.send([Buffer.from('three')], { port: b.portId });
    assert.deepEqual(got, [], 'nothing arrives in the sending task');
    await turn();
    assert.deepEqual(got, [
      ['one+two', a.portId],
      ['three', a.portId],
    ]);
    assert.notEqual(a.portId, b.portId);
  });

  it('refuses a send to a port nobody holds with ECONNREFUSED', async () => {
    const hub = new InprocHub();
    const a = hub.open();
    const b = hub.open();
    b.close();
    await assert.rejects(a.send([Buffer.from('x')], { port: b.portId }), (e: { code?: string }) => e.code === 'ECONNREFUSED');
  });

  it('refuses with EAGAIN once a paused receiver is past its buffer, and delivers what it queued on resume', async () => {
    const hub = new InprocHub();
    const a = hub.open();
    const b = hub.open({ recvBufferSize: 2000 });
    const got = collect(b);
    b.pause();
    const results: string[] = [];
    for (let i = 0; i < 5; i++) {
      results.push(await a.send([Buffer.alloc(500, i)], { port: b.portId }).then(() => 'ok', (e: { code?: string }) => e.code ?? '?'));
    }
    assert.deepEqual(results, ['ok', 'ok', 'EAGAIN', 'EAGAIN', 'EAGAIN']);
    await turn();
    assert.equal(got.length, 0, 'paused');
    b.resume();
    await turn();
    assert.equal(got.length, 2);
    await a.send([Buffer.from('again')], { port: b.portId });
    await turn();
    assert.equal(got.length, 3, 'room again after the drain');
  });

  it('tells watchers of a port when its socket closes, once', async () => {
    const hub = new InprocHub();
    const a = hub.open();
    let gone = 0;
    hub.watch(a.portId, () => gone++);
    const stop = hub.watch(a.portId, () => gone += 100);
    stop();
    a.close();
    a.close();
    assert.equal(gone, 1);
    assert.equal(a.closed, true);
    await assert.rejects(a.send([Buffer.from('x')], { port: 0 }), (e: { code?: string }) => e.code === 'KOFFLOAD_ERR_SOCKET_CLOSED');
  });
});

describe('sim: request ids and in-kernel callers', () => {
  it('lays a request id out as subsys id << 48 | a sequence shared by all subsystems', async () => {
    const sim = await startSimulator({ transport: 'inproc' });
    const seen: KernelRequest[] = [];
    const h1 = await KoffloadClient.open(sim.clientOptions());
    const h2 = await KoffloadClient.open(sim.clientOptions());
    try {
      for (const h of [h1, h2]) {
        h.on('request', (r) => {
          seen.push(r);
          h.reply(r.reqId, 'decline');
        });
      }
      const b1 = await h1.bind({ name: 'ktest' });
      const b2 = await h2.bind({ name: 'ktest2' });
      assert.equal((await sim.call('ktest', 1, Buffer.from('a'))).outcome, 'declined');
      assert.equal((await sim.call('ktest2', 2, Buffer.from('b'))).outcome, 'declined');
      assert.equal((await sim.call('ktest', 1, Buffer.from('c'))).outcome, 'declined');
      assert.deepEqual(
        seen.map((r) => [r.reqId >> 48n, r.reqId & 0xffffffffffffn, r.op]),
        [
          [BigInt(b1.subsysId), 1n, 1],
          [BigInt(b2.subsysId), 2n, 2],
          [BigInt(b1.subsysId), 3n, 1],
        ],
      );
    } finally {
      h1.close();
      h2.close();
      await sim.close();
    }
  });

  it('ends a call with invalid for a bad op and with shutdown after close', async () => {
    const sim = await startSimulator({ transport: 'inproc' });
    assert.equal((await sim.call('ktest', 0, Buffer.alloc(0))).outcome, 'invalid');
    assert.equal((await sim.call('ktest', 3, Buffer.alloc(0))).outcome, 'invalid');
    assert.equal((await sim.call('ktest', 1, Buffer.alloc(4097))).outcome, 'invalid');
    assert.equal((await sim.call('ktest', 1, Buffer.alloc(0))).outcome, 'noHandler');
    await assert.rejects(sim.call('nope', 1, Buffer.alloc(0)), (e: { code?: string }) => e.code === 'KOFFLOAD_ERR_UNKNOWN_SUBSYSTEM');
    await sim.close();
    assert.equal((await sim.call('ktest', 1, Buffer.alloc(0))).outcome, 'shutdown');
  });

  it('registers the subsystems it is given, and refuses bad ones', async () => {
    const sim = await startSimulator({ transport: 'inproc', subsystems: [{ name: 'lfs_gc', nrOps: 3 }] });
    const c = await KoffloadClient.open(sim.clientOptions());
    try {
      const all = await c.dumpSubsys();
      assert.deepEqual(all.map((s) => [s.name, s.nrOps, s.deadlineMs, s.maxInflight]), [['lfs_gc', 3, 200, 64]]);
    } finally {
      c.close();
      await sim.close();
    }
    await assert.rejects(startSimulator({ transport: 'inproc', subsystems: [{ name: 'x', nrOps: 64 }] }), (e: { code?: string }) => e.code === 'KOFFLOAD_ERR_INVALID_ARG');
    await assert.rejects(
      startSimulator({ transport: 'inproc', subsystems: [{ name: 'a', nrOps: 1 }, { name: 'a', nrOps: 1 }] }),
      (e: { code?: string }) => e.code === 'KOFFLOAD_ERR_INVALID_ARG',
    );
  });

  it('lets koffload_test RUN only the configured subsystems', async () => {
    const sim = await startSimulator({ transport: 'inproc', subsystems: [{ name: 'lfs_gc', nrOps: 3 }] });
    const k = await KtestClient.open(sim.testClientOptions());
    try {
      await assert.rejects(k.run({ subsys: 'ktest', op: 1, calls: 1 }), (e: { errnoCode?: string }) => e.errnoCode === 'ENOENT');
      const id = await k.run({ subsys: 'lfs_gc', op: 3, calls: 5, threads: 2 });
      const r = await k.waitResult(id, { pollMs: 1 });
      assert.equal(r.outcomes.noHandler, 5n);
    } finally {
      k.close();
      await sim.close();
    }
  });
});

describe('sim: koffload-sim arguments', () => {
  it('parses --subsys NAME:OPS[:TIMEOUT_MS[:MAX_INFLIGHT]]', () => {
    assert.deepEqual(parseSubsys('lfs_gc:3'), { name: 'lfs_gc', nrOps: 3 });
    assert.deepEqual(parseSubsys('damon:2:50:8'), { name: 'damon', nrOps: 2, timeoutMs: 50, maxInflight: 8 });
    for (const bad of ['x', 'x:0', 'x:64', ':2', 'x:2:0', 'x:2:10:5000', 'x:2:1:1:1', `${'n'.repeat(32)}:1`]) {
      assert.throws(() => parseSubsys(bad), Error, bad);
    }
  });

  it('defaults to netlink with the default state file, and rejects contradictions', () => {
    const a = parseSimArgs([]);
    assert.equal(a.transport, 'netlink');
    assert.equal(a.stateFile, '/run/koffload/sim.json');
    assert.equal(a.subsystems, undefined);
    assert.equal(parseSimArgs(['--transport', 'inproc']).stateFile, null);
    assert.equal(parseSimArgs(['--no-state-file']).stateFile, null);
    assert.deepEqual(parseSimArgs(['--subsys', 'a:1', '--subsys', 'b:2']).subsystems, [
      { name: 'a', nrOps: 1 },
      { name: 'b', nrOps: 2 },
    ]);
    assert.throws(() => parseSimArgs(['--transport', 'tcp']));
    assert.throws(() => parseSimArgs(['--state-file', 'x', '--no-state-file']));
    assert.throws(() => parseSimArgs(['--subsys', 'a:1', '--subsys', 'a:2']));
    assert.throws(() => parseSimArgs(['--bogus']));
  });
});

describe('sim: the core against koffload_main.c', () => {
  /** A core whose upcalls go nowhere: every call waits for its deadline unless ended otherwise. */
  function hangingCore(): SimCore {
    const core = new SimCore();
    core.upcaller = { sendRequest: () => Promise.resolve(0) };
    return core;
  }

  it('returns from both of two concurrent unregisters only once no call is inside', async () => {
    const core = hangingCore();
    const ks = new Subsys({ name: 'twice', nrOps: 1, timeoutMs: 30_000 });
    assert.equal(core.register(ks), 0);
    core.bindLocked(ks, 4242, 0, {});
    const calls = Array.from({ length: 8 }, () => core.call(ks, { op: 1, timeoutMs: 0, req: Buffer.alloc(1), respSize: 64 }, contextOf('normal')));
    await new Promise((r) => setImmediate(r));
    assert.equal(ks.pending.size, 8);
    const ended: string[] = [];
    for (const c of calls) void c.then(() => ended.push('call'));
    const first = core.unregister(ks).then(() => ended.push('first'));
    const second = core.unregister(ks).then(() => ended.push('second'));
    await Promise.all([first, second, ...calls]);
    // both unregisters returned after every caller had left
    assert.deepEqual(ended.slice(0, 8), Array(8).fill('call'));
    assert.deepEqual(ended.slice(8).sort(), ['first', 'second']);
    for (const c of calls) assert.equal((await c).outcome, 'shutdown');
  });

  it('hands subsystem ids out cyclically, so a re-registration gets a new one', async () => {
    const core = new SimCore();
    const a = new Subsys({ name: 'a', nrOps: 1 });
    assert.equal(core.register(a), 0);
    const first = a.id;
    const draining = core.unregister(a);
    assert.equal(core.register(a), -22, 'a draining subsystem cannot be registered (EINVAL)');
    await draining;
    assert.equal(core.register(a), 0);
    assert.notEqual(a.id, first);
  });
});
