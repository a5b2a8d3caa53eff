// The daemon end to end against the in-process simulator: binding, serving,
// coded errors for bad config, reload, record/replay, shadow policies,
// metrics, clean stop (calls fall back once the daemon is gone).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { KoffloadClient } from '../../src/kernel/client.js';
import { EchoRequest, PickRequest, PickResponse } from '../../src/generated/proto/ktest.js';
import { Daemon, type DaemonConfig, validateConfig } from '../../src/runtime/daemon.js';
import { silentLogger } from '../../src/runtime/policy.js';
import { Recorder, readRecords } from '../../src/runtime/record.js';
import type { DecisionEvent } from '../../src/runtime/server.js';
import { replayRecording } from '../../src/runtime/replay.js';
import { PolicyRegistry } from '../../src/runtime/policy.js';
import { loadPolicyModule } from '../../src/runtime/loader.js';
import { type Simulator, startSimulator } from '../../src/sim/index.js';
import { KOFFLOAD } from '../../src/generated/wire.js';
import { encodeAttrs } from '../../src/netlink/codec.js';
import { CTRL_ATTR, GENL_ID_CTRL } from '../../src/netlink/genl.js';
import { IS_ROOT, UNICAST_NEEDS_ROOT, skipBecause } from '../skip.js';
import { FakePeer } from './fake-peer.js';

const DIST = fileURLToPath(new URL('../../', import.meta.url));
export const EXAMPLE = join(DIST, 'examples/ktest-policy.js');

/** Writes a policy module into `dir` that imports the built runtime. */
export function writePolicy(dir: string, file: string, body: string): string {
  const path = join(dir, file);
  writeFileSync(
    path,
    `import { definePolicy, decline } from ${JSON.stringify(join(DIST, 'src/runtime/index.js'))};\n` +
      `import { ktest } from ${JSON.stringify(join(DIST, 'src/generated/proto/ktest.js'))};\n${body}\n`,
  );
  return path;
}

export const GREEDY = `export default definePolicy({ subsystem: 'ktest', schema: ktest, name: 'greedy', ops: { pick: { handler: (req) => {
  if (req.candidates.length === 0) return decline();
  let b = req.candidates[0]; for (const s of req.candidates) if (s.valid_blocks < b.valid_blocks) b = s;
  return { victim_id: b.id }; } } } });`;

const pickReq = PickRequest.encode({
  candidates: [
    { id: 1, valid_blocks: 10, age_ms: 5n },
    { id: 2, valid_blocks: 100, age_ms: 900_000n },
  ],
});

describe('runtime: daemon against the in-process simulator', function () {
  this.timeout(20_000);
  let sim: Simulator;
  let dir: string;
  let daemon: Daemon | undefined;
  const start = async (config: Partial<DaemonConfig>, privileged = true): Promise<Daemon> => {
    daemon = await Daemon.start({
      config: { policies: [EXAMPLE], ...config },
      target: { kind: 'sim', koffload: sim.clientOptions({ privileged }) },
      logger: silentLogger,
    });
    return daemon;
  };

  beforeEach(async () => {
    sim = await startSimulator({ transport: 'inproc', stateFile: null });
    dir = mkdtempSync(join(tmpdir(), 'koffload-daemon-'));
  });
  afterEach(async () => {
    await daemon?.stop();
    daemon = undefined;
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('binds, serves both ops, and after stop() calls fall back with no-handler', async () => {
    const d = await start({});
    assert.deepEqual(d.subsystems().map((s) => s.name), ['ktest']);
    const e = await sim.call('ktest', 1, EchoRequest.encode({ data: Buffer.from('x'), seq: 9n }));
    assert.equal(e.outcome, 'served');
    assert.equal(EchoRequest.decode(e.payload!).seq, 9n);
    const p = await sim.call('ktest', 2, pickReq, { default: PickResponse.encode({ victim_id: 1 }) });
    assert.equal(p.outcome, 'served');
    assert.equal(PickResponse.decode(p.payload!).victim_id, 2);
    await d.stop();
    assert.equal((await sim.call('ktest', 1, EchoRequest.encode({}))).outcome, 'noHandler');
  });

  it('KOFFLOAD_ERR_UNKNOWN_SUBSYSTEM for a policy of a subsystem the kernel lacks', async () => {
    const p = writePolicy(dir, 'nope.mjs', `export default definePolicy({ subsystem: 'nope', schema: ktest, ops: { echo: { handler: (r) => r } } });`);
    await assert.rejects(start({ policies: [p] }), { code: 'KOFFLOAD_ERR_UNKNOWN_SUBSYSTEM' });
  });

  it('KOFFLOAD_ERR_PERMISSION when the socket lacks CAP_NET_ADMIN', async () => {
    await assert.rejects(start({}, false), { code: 'KOFFLOAD_ERR_PERMISSION' });
  });

  it('KOFFLOAD_ERR_POLICY_NOT_FOUND, KOFFLOAD_ERR_BAD_POLICY, and definePolicy errors from a module', async () => {
    await assert.rejects(start({ policies: [join(dir, 'missing.js')] }), { code: 'KOFFLOAD_ERR_POLICY_NOT_FOUND' });
    const notPolicy = writePolicy(dir, 'np.mjs', 'export default { subsystem: "ktest" };');
    await assert.rejects(start({ policies: [notPolicy] }), { code: 'KOFFLOAD_ERR_BAD_POLICY' });
    const badOp = writePolicy(dir, 'bad.mjs', `export default definePolicy({ subsystem: 'ktest', schema: ktest, ops: { frob: { handler: () => ({}) } } });`);
    await assert.rejects(start({ policies: [badOp] }), { code: 'KOFFLOAD_ERR_UNKNOWN_OP' });
    const shadowOnly = writePolicy(dir, 'k2.mjs', `export default definePolicy({ subsystem: 'ktest2', schema: ktest, ops: { echo: { handler: (r) => r } } });`);
    await assert.rejects(start({ shadow: [shadowOnly] }), { code: 'KOFFLOAD_ERR_BAD_CONFIG' });
  });

  it('validateConfig rejects unknown keys and bad values with KOFFLOAD_ERR_BAD_CONFIG', () => {
    for (const bad of [null, {}, { policies: [] }, { policies: ['a'], extra: 1 }, { policies: ['a'], metricsPort: 70000 }, { policies: ['a'], subsystems: { ktest: { mode: 'sometimes' } } }]) {
      assert.throws(() => validateConfig(bad), { code: 'KOFFLOAD_ERR_BAD_CONFIG' }, JSON.stringify(bad));
    }
    assert.deepEqual(validateConfig({ policies: ['a'], subsystems: { ktest: { mode: 'canary', canaryPermille: 10 } } }).subsystems, { ktest: { mode: 'canary', canaryPermille: 10 } });
  });

  it('binds in the configured mode', async () => {
    await start({ subsystems: { ktest: { mode: 'shadow' } } });
    const r = await sim.call('ktest', 1, EchoRequest.encode({}));
    assert.equal(r.outcome, 'shadow');
  });

  it('reload() imports the modules afresh, rebinds, and keeps an admin-set mode', async () => {
    const file = (seq: number) => `export default definePolicy({ subsystem: 'ktest', schema: ktest, ops: { echo: { handler: () => ({ seq: ${seq}n }) } } });`;
    const p = writePolicy(dir, 'v.mjs', file(1));
    const d = await start({ policies: [p] });
    const seq = async () => EchoRequest.decode((await sim.call('ktest', 1, EchoRequest.encode({}))).payload!).seq;
    assert.equal(await seq(), 1n);
    const id = d.subsystems()[0]!.subsysId;
    await d.client.setMode(id, 'canary', 1000);
    writePolicy(dir, 'v.mjs', file(2));
    await d.reload();
    assert.equal(await seq(), 2n);
    const info = await d.client.getSubsys(id);
    assert.equal(info.mode, 'canary');
    assert.equal(info.counters.binds, 1n);
    // a module that fails to load keeps the old policy in service
    writePolicy(dir, 'v.mjs', 'export default 42;');
    await assert.rejects(d.reload(), { code: 'KOFFLOAD_ERR_BAD_POLICY' });
    assert.equal(await seq(), 2n);
  });

  it('reload() validates every subsystem before swapping anything: the previous policy keeps serving', async () => {
    const file = (seq: number) => `definePolicy({ subsystem: 'ktest', schema: ktest, ops: { echo: { handler: () => ({ seq: ${seq}n }) } } })`;
    const p = writePolicy(dir, 'v.mjs', `export default ${file(1)};`);
    const logged: string[] = [];
    daemon = await Daemon.start({
      config: { policies: [p] },
      target: { kind: 'sim', koffload: sim.clientOptions({ privileged: true }) },
      logger: { ...silentLogger, error: (msg: string) => logged.push(msg) },
    });
    const d = daemon;
    const seq = async () => EchoRequest.decode((await sim.call('ktest', 1, EchoRequest.encode({}))).payload!).seq;
    assert.equal(await seq(), 1n);
    // the new version serves ktest and a subsystem the kernel lacks
    writePolicy(dir, 'v.mjs', `export default [${file(2)}, definePolicy({ subsystem: 'nope', schema: ktest, ops: { echo: { handler: (r) => r } } })];`);
    await assert.rejects(d.reload(), { code: 'KOFFLOAD_ERR_UNKNOWN_SUBSYSTEM' });
    assert.equal(await seq(), 1n);
    assert.deepEqual(d.subsystems().map((s) => s.name), ['ktest']);
    assert.equal(logged.filter((m) => m.startsWith('reload failed')).length, 1);
  });

  it('reload() is refused once stop() was called, and one under way gives up: nothing stays bound', async () => {
    const file = (seq: number) => `export default definePolicy({ subsystem: 'ktest', schema: ktest, ops: { echo: { handler: () => ({ seq: ${seq}n }) } } });`;
    const p = writePolicy(dir, 'v.mjs', file(1));
    const d = await start({ policies: [p] });
    writePolicy(dir, 'v.mjs', file(2));
    const reloading = d.reload();
    const stopped = d.stop();
    await assert.rejects(reloading, { code: 'KOFFLOAD_ERR_SOCKET_CLOSED', message: /stopping; reload abandoned/ });
    await stopped;
    await assert.rejects(d.reload(), { code: 'KOFFLOAD_ERR_SOCKET_CLOSED', message: /stopping; reload refused/ });
    assert.equal((await sim.call('ktest', 1, EchoRequest.encode({}))).outcome, 'noHandler');
  });

  it('concurrent reloads all succeed, one after the other', async () => {
    const file = (seq: number) => `export default definePolicy({ subsystem: 'ktest', schema: ktest, ops: { echo: { handler: () => ({ seq: ${seq}n }) } } });`;
    const p = writePolicy(dir, 'v.mjs', file(1));
    const d = await start({ policies: [p] });
    writePolicy(dir, 'v.mjs', file(2));
    await Promise.all([d.reload(), d.reload(), d.reload()]);
    assert.deepEqual(d.subsystems().map((s) => s.name), ['ktest']);
    assert.equal(EchoRequest.decode((await sim.call('ktest', 1, EchoRequest.encode({}))).payload!).seq, 2n);
  });

  it('records every request; replay reports where another policy differs', async () => {
    const rec = join(dir, 'rec.jsonl');
    const d = await start({ record: rec });
    for (let i = 0; i < 3; i++) assert.equal((await sim.call('ktest', 2, pickReq, { default: PickResponse.encode({ victim_id: 1 }) })).outcome, 'served');
    await sim.call('ktest', 1, EchoRequest.encode({ seq: 1n }));
    await d.stop();
    const lines = [];
    for await (const l of readRecords(rec)) lines.push(l.rec);
    assert.equal(lines.length, 4);
    assert.deepEqual(lines[0]!.reply?.json, { victim_id: 2 });
    assert.deepEqual(lines[0]!.default?.json, { victim_id: 1 });
    const greedy = new PolicyRegistry();
    for (const p of await loadPolicyModule(writePolicy(dir, 'greedy.mjs', GREEDY), dir)) greedy.add(p);
    const r = await replayRecording(rec, greedy);
    assert.equal(r.compared, 3);
    assert.equal(r.skipped, 1);
    assert.equal(r.different, 3);
    assert.equal(r.vsDefault.sameAsDefault, 3);
    const same = new PolicyRegistry();
    for (const p of await loadPolicyModule(EXAMPLE, dir)) same.add(p);
    const r2 = await replayRecording(rec, same);
    assert.deepEqual([r2.compared, r2.same, r2.different], [4, 4, 0]);
    assert.throws(() => JSON.parse(readFileSync(rec, 'utf8')));
  });

  it('--record to a path that cannot be opened fails at start with KOFFLOAD_ERR_BAD_CONFIG', async () => {
    await assert.rejects(start({ record: join(dir, 'no', 'such', 'dir', 'rec.jsonl') }), { code: 'KOFFLOAD_ERR_BAD_CONFIG' });
    assert.equal(daemon, undefined);
  });

  it('counts record write errors in koffload_record_errors_total', async function () {
    if (!existsSync('/dev/full')) skipBecause(this, 'needs /dev/full to make writes fail with ENOSPC');
    const d = await start({ record: '/dev/full', metricsPort: 0 });
    assert.equal((await sim.call('ktest', 1, EchoRequest.encode({}))).outcome, 'served');
    for (let i = 0; i < 50 && (d.recordStats()?.errors ?? 0) === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(d.recordStats()?.errors, 1);
    const body = await (await fetch(`http://127.0.0.1:${d.metricsPort}/metrics`)).text();
    assert.match(body, /^koffload_record_errors_total 1$/m);
    assert.match(body, /^koffload_record_dropped_total 0$/m);
  });

  it('a shadow policy computes and records its decision; only the live one is sent', async () => {
    const rec = join(dir, 'rec.jsonl');
    const d = await start({ record: rec, shadow: [writePolicy(dir, 'greedy.mjs', GREEDY)] });
    const r = await sim.call('ktest', 2, pickReq);
    assert.equal(PickResponse.decode(r.payload!).victim_id, 2);
    await d.stop();
    const lines = [];
    for await (const l of readRecords(rec)) lines.push(l.rec);
    const byRole = Object.fromEntries(lines.map((l) => [l.role, l]));
    assert.deepEqual(byRole['live']?.reply?.json, { victim_id: 2 });
    assert.deepEqual(byRole['shadow']?.reply?.json, { victim_id: 1 });
    assert.equal(byRole['shadow']?.replied, false);
  });

  it('serves /metrics with request, latency, client and kernel counters', async () => {
    const d = await start({ metricsPort: 0 });
    await sim.call('ktest', 1, EchoRequest.encode({}));
    const body = await (await fetch(`http://127.0.0.1:${d.metricsPort}/metrics`)).text();
    assert.match(body, /^koffload_requests_total\{subsystem="ktest",op="echo",outcome="ok"\} 1$/m);
    assert.match(body, /^koffload_handler_duration_seconds_count\{subsystem="ktest",op="echo",role="live"\} 1$/m);
    assert.match(body, /^koffload_kernel_calls_total\{subsystem="ktest",outcome="served"\} 1$/m);
    assert.match(body, /^koffload_kernel_events_total\{subsystem="ktest",counter="binds"\} 1$/m);
    assert.match(body, /^koffload_queue_depth\{subsystem="ktest",role="live",lane="blocking"\} 0$/m);
    assert.match(body, /^koffload_socket_drops_total 0$/m);
    assert.equal((await fetch(`http://127.0.0.1:${d.metricsPort}/other`)).status, 404);
  });

  it('/metrics: scrapes within kernelStatsCacheMs share one kernel dump', async () => {
    const d = await start({ metricsPort: 0 });
    const url = `http://127.0.0.1:${d.metricsPort}/metrics`;
    const before = d.metrics.kernelDumps;
    await Promise.all(Array.from({ length: 10 }, () => fetch(url).then((r) => r.text())));
    for (let i = 0; i < 10; i++) assert.match(await (await fetch(url)).text(), /koffload_kernel_bound\{subsystem="ktest"\} 1/);
    assert.equal(d.metrics.kernelDumps - before, 1);
  });

  it('/metrics: a second server error does not end the process', async () => {
    const d = await start({ metricsPort: 0 });
    assert.doesNotThrow(() => {
      d.metricsServer!.emit('error', new Error('first'));
      d.metricsServer!.emit('error', new Error('second'));
    });
    assert.equal((await fetch(`http://127.0.0.1:${d.metricsPort}/metrics`)).status, 200);
  });

  it('/metrics: connections past metricsMaxConnections are closed at once', async () => {
    daemon = await Daemon.start({
      config: { policies: [EXAMPLE], metricsPort: 0 },
      target: { kind: 'sim', koffload: sim.clientOptions() },
      logger: silentLogger,
      metricsMaxConnections: 2,
    });
    const port = daemon.metricsPort!;
    const open = (): Promise<{ sock: Socket; closed: Promise<boolean> }> =>
      new Promise((resolve) => {
        const sock = connect(port, '127.0.0.1', () => resolve({ sock, closed }));
        const closed = new Promise<boolean>((r) => {
          sock.on('close', () => r(true));
          setTimeout(() => r(false), 300);
        });
        sock.on('error', () => {});
      });
    const conns = [];
    for (let i = 0; i < 3; i++) conns.push(await open());
    assert.deepEqual(await Promise.all(conns.map((c) => c.closed)), [false, false, true]);
    for (const c of conns) c.sock.destroy();
  });

  it('reload() whose rebind fails part-way restores the caps and mode of subsystems already rebound', async () => {
    const pol = (sub: string, dl: number, mi: number) => `definePolicy({ subsystem: '${sub}', schema: ktest, limits: { deadlineMs: ${dl}, maxInflight: ${mi} }, ops: { echo: { handler: (r) => r } } })`;
    const p = writePolicy(dir, 'v.mjs', `export default ${pol('ktest', 50, 8)};`);
    const d = await start({ policies: [p], subsystems: { ktest: { mode: 'on' } } });
    const id = d.subsystems()[0]!.subsysId;
    await d.client.setMode(id, 'canary', 500);
    // another process serves ktest2: the reload binds ktest anew, then fails on ktest2
    const other = await KoffloadClient.open(sim.clientOptions());
    try {
      await other.bind({ name: 'ktest2' });
      writePolicy(dir, 'v.mjs', `export default [${pol('ktest', 20, 2)}, ${pol('ktest2', 20, 2)}];`);
      await assert.rejects(d.reload(), { code: 'KOFFLOAD_ERR_BUSY' });
      const info = await d.client.getSubsys(id);
      assert.deepEqual([info.deadlineMs, info.maxInflight, info.mode, info.canaryPermille], [50, 8, 'canary', 500]);
      assert.deepEqual(d.subsystems().map((x) => x.name), ['ktest']);
    } finally {
      other.close();
    }
  });

  it('binds again by itself when its subsystem is registered anew (its module unloaded and loaded), in the configured mode', async () => {
    const lines: string[] = [];
    const logger = { ...silentLogger, warn: (m: string) => void lines.push(`warn ${m}`), info: (m: string) => void lines.push(`info ${m}`) };
    daemon = await Daemon.start({
      config: { policies: [EXAMPLE], subsystems: { ktest: { mode: 'canary', canaryPermille: 1000 } } },
      target: { kind: 'sim', koffload: sim.clientOptions() },
      logger,
      bindingCheckMs: 20,
    });
    const d = daemon;
    const oldId = d.subsystems()[0]!.subsysId;
    const newId = await sim.reregister('ktest');
    assert.notEqual(newId, oldId);
    // the new registration starts unbound; the check binds it again
    const until = Date.now() + 5_000;
    while (d.subsystems()[0]!.subsysId !== newId && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    assert.equal(d.subsystems()[0]!.subsysId, newId, `not bound again: ${lines.join('; ')}`);
    const info = await d.client.getSubsys('ktest');
    assert.deepEqual([info.bound, info.portid, info.mode], [true, d.client.portId, 'canary']);
    const e = await sim.call('ktest', 1, EchoRequest.encode({ data: Buffer.from('x'), seq: 3n }));
    assert.equal(e.outcome, 'served');
    assert.ok(lines.includes('warn lost the binding; binding again') && lines.includes('info bound again'), lines.join('; '));
  });

  it('ctx.publish() reaches the advisory cache', async () => {
    const p = writePolicy(
      dir,
      'pub.mjs',
      `export default definePolicy({ subsystem: 'ktest', schema: ktest, ops: { pick: { handler: async (req, ctx) => { await ctx.publish('victim', { victim_id: 7 }, 60000); return { victim_id: 7 }; } } } });`,
    );
    await start({ policies: [p] });
    assert.equal((await sim.call('ktest', 2, pickReq)).outcome, 'served');
    const hit = sim.cacheLookup('ktest', Buffer.from('victim'));
    assert.equal(PickResponse.decode(hit!).victim_id, 7);
  });
});

describe('runtime: daemon when koffload.ko goes and comes back (a fake kernel on another port)', function () {
  this.timeout(20_000);
  const ENOENT = 2;
  const CTRL = { familyId: { id: CTRL_ATTR.FAMILY_ID, type: 'u16' }, familyName: { id: CTRL_ATTR.FAMILY_NAME, type: 'string', maxLen: 16 } } as const;

  it('asks nlctrl for the family anew once its id is gone, and binds again under the new one', async function () {
    if (!IS_ROOT) skipBecause(this, UNICAST_NEEDS_ROOT);
    const peer = new FakePeer();
    // the module: family id, whether ktest is bound, and the family ids BINDs came to
    let family: number | undefined = 0x7f0;
    let bound = false;
    const binds: number[] = [];
    const subsys = (): Buffer[] =>
      encodeAttrs(KOFFLOAD.attrSpec, {
        subsysId: 1, subsysName: 'ktest', bound: bound ? 1 : 0, mode: KOFFLOAD.mode.on, canaryPermille: 1000, nrOps: 2,
        payloadMax: KOFFLOAD.limits.payloadMax, inflightMax: 64, deadlineMaxMs: KOFFLOAD.limits.deadlineMaxMs,
      });
    peer.responder = (req) => {
      if (req.header.type === GENL_ID_CTRL) return family === undefined ? { errno: ENOENT } : { replies: [encodeAttrs(CTRL, { familyId: family, familyName: 'koffload' })] };
      // genl's answer to a family id nobody has
      if (req.header.type !== family) return { errno: ENOENT };
      if (req.cmd === KOFFLOAD.cmd.bind) {
        binds.push(family);
        bound = true;
      } else if (req.cmd === KOFFLOAD.cmd.unbind) bound = false;
      return { replies: [subsys()] };
    };
    const lines: string[] = [];
    const logger = { ...silentLogger, warn: (m: string) => void lines.push(m), info: (m: string) => void lines.push(m) };
    const d = await Daemon.start({ config: { policies: [EXAMPLE], pressure: false }, target: { kind: 'kernel', koffload: { peerPort: peer.portId } }, logger, bindingCheckMs: 20 });
    try {
      assert.deepEqual(binds, [0x7f0]);
      // rmmod: the family and the binding go
      family = undefined;
      bound = false;
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(binds, [0x7f0]);
      assert.ok(lines.includes('lost the binding; binding again once the subsystem is back'), lines.join('; '));
      // insmod: the family under a new id, ktest (id 1 again: a new module counts from 1) unbound
      family = 0x7f1;
      const end = Date.now() + 5_000;
      while (binds.length < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
      assert.deepEqual(binds, [0x7f0, 0x7f1], lines.join('; '));
      assert.equal(d.client.familyId, 0x7f1);
      assert.ok(lines.includes('bound again'), lines.join('; '));
    } finally {
      await d.stop();
      peer.close();
    }
  });
});

describe('runtime: Recorder', () => {
  const ev = (): DecisionEvent => ({
    subsystem: 'ktest',
    subsysId: 7,
    role: 'live',
    lane: 'blocking',
    req: { reqId: 1n, subsysId: 7, op: 1, deadlineNs: 2_000_000n, flags: 0, payload: EchoRequest.encode({ seq: 1n }) },
    opName: 'echo',
    outcome: 'declined',
    status: 'decline',
    replied: true,
    payload: undefined,
    request: { seq: 1n },
    default: undefined,
    response: undefined,
    handlerNs: 0n,
    totalNs: 1000n,
    arrivedNs: 1_000_000n,
    cheap: false,
    error: undefined,
  });

  it('opens the file at once: KOFFLOAD_ERR_BAD_CONFIG for a path that cannot be opened', () => {
    assert.throws(() => new Recorder('/nonexistent-koffload-dir/rec.jsonl'), { code: 'KOFFLOAD_ERR_BAD_CONFIG' });
  });

  it('counts write errors and logs only the first', async function () {
    if (!existsSync('/dev/full')) skipBecause(this, 'needs /dev/full to make writes fail with ENOSPC');
    const logged: string[] = [];
    const r = new Recorder('/dev/full', { logger: { ...silentLogger, error: (msg: string) => logged.push(msg) } });
    r.write(ev());
    r.write(ev());
    await r.close();
    assert.ok(r.errors >= 1, `errors ${r.errors}`);
    assert.equal(logged.length, 1);
    r.write(ev());
    assert.ok(r.errors >= 2);
  });

  it('drops and counts lines while too much waits to be written', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'koffload-rec-'));
    try {
      const path = join(dir, 'rec.jsonl');
      const r = new Recorder(path, { maxBuffered: 10 });
      for (let i = 0; i < 5; i++) r.write(ev());
      await r.close();
      assert.equal(r.lines, 1);
      assert.equal(r.dropped, 4);
      assert.equal(r.errors, 0);
      assert.equal(readFileSync(path, 'utf8').trim().split('\n').length, 1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('runtime: record files across crashes, errors and rotation', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'koffload-rec2-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const ev = (seq: bigint): DecisionEvent => ({
    subsystem: 'ktest',
    subsysId: 7,
    role: 'live',
    lane: 'blocking',
    req: { reqId: seq, subsysId: 7, op: 1, deadlineNs: 2_000_000n, flags: 0, payload: EchoRequest.encode({ seq }) },
    opName: 'echo',
    outcome: 'declined',
    status: 'decline',
    replied: true,
    payload: undefined,
    request: { seq },
    default: undefined,
    response: undefined,
    handlerNs: 0n,
    totalNs: 1000n,
    arrivedNs: 1_000_000n,
    cheap: false,
    error: undefined,
  });
  const ids = async (path: string, stats?: { torn: number }): Promise<string[]> => {
    const out: string[] = [];
    for await (const l of readRecords(path, stats)) out.push(l.rec.reqId);
    return out;
  };
  const until = async (cond: () => boolean): Promise<void> => {
    for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  };

  it('reads past a torn line, also one a restarted writer appended to, and counts it', async () => {
    const path = join(dir, 'r.jsonl');
    const r1 = new Recorder(path);
    r1.write(ev(1n));
    r1.write(ev(2n));
    await r1.close();
    const full = readFileSync(path, 'utf8');
    // the second line cut short, then an old writer appends straight after it (no newline), then one more line
    const [l1, l2] = full.trimEnd().split('\n');
    writeFileSync(path, `${l1}\n${l2!.slice(0, 30)}${l2}\n${l1}\n${l2!.slice(0, 17)}`);
    const stats = { torn: 0 };
    assert.deepEqual(await ids(path, stats), ['1', '2', '1']);
    assert.equal(stats.torn, 2);
    // a line that does not even start like a record is still an error
    writeFileSync(path, `${l1}\nhello\n`);
    await assert.rejects(ids(path), { code: 'KOFFLOAD_ERR_BAD_RECORD' });
  });

  it('starts its first line on a line of its own after a torn last line', async () => {
    const path = join(dir, 'r.jsonl');
    writeFileSync(path, '{"v":1,"time":"20');
    const r = new Recorder(path);
    r.write(ev(5n));
    await r.close();
    const stats = { torn: 0 };
    assert.deepEqual(await ids(path, stats), ['5']);
    assert.equal(stats.torn, 1);
  });

  it('reopens the file after a write error (ENOSPC) and goes on writing', async function () {
    if (!existsSync('/dev/full')) skipBecause(this, 'needs /dev/full to make writes fail with ENOSPC');
    const path = join(dir, 'r.jsonl');
    symlinkSync('/dev/full', path);
    const r = new Recorder(path, { reopenDelayMs: 20 });
    r.write(ev(1n));
    await until(() => r.errors > 0);
    assert.equal(r.errors, 1);
    // space again: the path is a file that can be written
    unlinkSync(path);
    writeFileSync(path, '');
    await until(() => r.reopens > 0);
    r.write(ev(2n));
    await r.close();
    assert.deepEqual(await ids(path), ['2']);
  });

  it('reopen() (SIGHUP) moves writing to a new file at the path: rename-then-HUP rotation', async () => {
    const path = join(dir, 'r.jsonl');
    const r = new Recorder(path);
    r.write(ev(1n));
    renameSync(path, `${path}.1`);
    r.reopen();
    r.write(ev(2n));
    await r.close();
    assert.deepEqual(await ids(`${path}.1`), ['1']);
    assert.deepEqual(await ids(path), ['2']);
  });

  it('flushSync() writes every queued line at once (exit paths)', async () => {
    const path = join(dir, 'r.jsonl');
    const r = new Recorder(path);
    for (let i = 1; i <= 100; i++) r.write(ev(BigInt(i)));
    r.flushSync();
    // read before the event loop runs again: what an exiting process leaves behind.
    // The first write() started an asynchronous write of line 1, which may land
    // before or after; the 99 lines queued behind it are on disk now.
    const now = new Set(readFileSync(path, 'utf8').trimEnd().split('\n').map((l) => String(JSON.parse(l).reqId)));
    for (let i = 2; i <= 100; i++) assert.ok(now.has(String(i)), `line ${i} written by flushSync()`);
    await r.close();
    assert.deepEqual((await ids(path)).sort((a, b) => Number(a) - Number(b)), Array.from({ length: 100 }, (_, i) => String(i + 1)));
  });
});

describe('runtime: replay', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'koffload-replay-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const line = (outcome: string, budgetUs: number, status: string | null) =>
    JSON.stringify({
      v: 1,
      time: new Date(0).toISOString(),
      role: 'live',
      subsys: 'ktest',
      op: 1,
      opName: 'echo',
      reqId: '1',
      flags: 0,
      budgetUs,
      request: { b64: Buffer.from(EchoRequest.encode({ seq: 1n })).toString('base64'), json: null },
      default: null,
      reply: status === null ? null : { status, b64: null, json: null },
      replied: status !== null,
      outcome,
      handlerUs: 0,
      latencyUs: 1,
    });

  const example = async () => {
    const reg = new PolicyRegistry();
    for (const p of await loadPolicyModule(EXAMPLE, dir)) reg.add(p);
    return reg;
  };

  it('compares only lines whose recorded outcome is the policy decision; counts the others apart', async () => {
    const rec = join(dir, 'rec.jsonl');
    const outcomes = ['declined', 'error', 'shed', 'expired', 'shutdown', 'abandoned', 'unimplemented'];
    writeFileSync(rec, outcomes.map((o) => line(o, 100_000, o === 'abandoned' ? null : o === 'error' ? 'error' : 'decline')).join('\n') + '\n');
    const r = await replayRecording(rec, await example());
    assert.equal(r.lines, 7);
    assert.equal(r.compared, 2);
    assert.equal(r.notComparable, 5);
    assert.deepEqual(r.notComparableOutcomes, { shed: 1, expired: 1, shutdown: 1, abandoned: 1, unimplemented: 1 });
    assert.equal(r.same + r.different, 2);
  });

  it('replays a recorded 0 µs budget as 0, not as a default budget', async () => {
    const rec = join(dir, 'rec.jsonl');
    writeFileSync(rec, line('declined', 0, 'decline') + '\n');
    const r = await replayRecording(rec, await example());
    assert.equal(r.compared, 1);
    assert.deepEqual(r.outcomes, { expired: 1 });
  });

  it('replays a policy with queueMax 0 (its queue is not replay\'s: nothing is shed)', async () => {
    const rec = join(dir, 'rec.jsonl');
    writeFileSync(rec, [line('ok', 100_000, 'ok'), line('ok', 100_000, 'ok')].join('\n') + '\n');
    const reg = new PolicyRegistry();
    const p = writePolicy(dir, 'q0.mjs', `export default definePolicy({ subsystem: 'ktest', schema: ktest, limits: { queueMax: 0, concurrency: 1 }, ops: { echo: { handler: (r) => ({ seq: r.seq }) } } });`);
    for (const pol of await loadPolicyModule(p, dir)) reg.add(pol);
    const r = await replayRecording(rec, reg);
    assert.deepEqual(r.outcomes, { ok: 2 });
  });

  it('--deadline-ms must be at least 1: KOFFLOAD_ERR_INVALID_ARG', async () => {
    const rec = join(dir, 'rec.jsonl');
    writeFileSync(rec, line('declined', 100_000, 'decline') + '\n');
    for (const deadlineMs of [0, -1, 0.5, Number.NaN]) {
      await assert.rejects(replayRecording(rec, await example(), { deadlineMs }), { code: 'KOFFLOAD_ERR_INVALID_ARG' }, String(deadlineMs));
    }
    assert.equal((await replayRecording(rec, await example(), { deadlineMs: 1 })).compared, 1);
  });
});
