// Memory pressure in the runtime: PSI parsing, the monitor's levels with
// an injected source and a manual clock (no real pressure needed), the
// real-file source against a fake /proc and cgroup tree, the lanes'
// underPressure rules, ctx.pressure, and the metrics.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EchoRequest, ktest } from '../../src/generated/proto/ktest.js';
import type { KernelRequest } from '../../src/kernel/client.js';
import { DaemonMetrics } from '../../src/runtime/metrics.js';
import { validateConfig } from '../../src/runtime/daemon.js';
import { type DecisionEvent, type HandlerContext, PolicyRegistry, SubsystemServer, definePolicy } from '../../src/runtime/index.js';
import {
  type PressureSource, type PressureState, type PressureView, type PsiReading, PressureMonitor, addonPsiWatcher, unprivilegedTrigger, cgroupV2Dir, parseMemoryEvents, parsePsi, procPressureSource,
} from '../../src/runtime/pressure.js';
import { koffloadNlAvailable } from '../../src/native/koffload-nl.js';
import { IS_ROOT, skipBecause } from '../skip.js';
import { ManualClock, StubTransport, deferred } from './runtime-stub.js';

const PSI = (someTotal: number, fullTotal: number, someAvg = 0, fullAvg = 0): string =>
  `some avg10=${someAvg.toFixed(2)} avg60=0.00 avg300=0.00 total=${someTotal}\nfull avg10=${fullAvg.toFixed(2)} avg60=0.00 avg300=0.00 total=${fullTotal}\n`;

/** A source the test moves: totals in µs, events, and a trigger it can fire. */
class FakeSource implements PressureSource {
  system: PsiReading | undefined = { someTotalUs: 0, fullTotalUs: 0, someAvg10: 0, fullAvg10: 0 };
  cgroup: PsiReading | undefined;
  events: Record<string, number> | undefined;
  fire: (() => void) | undefined;
  stopped = 0;
  readSystem = (): PsiReading | undefined => (this.system ? { ...this.system } : undefined);
  readCgroup = (): PsiReading | undefined => (this.cgroup ? { ...this.cgroup } : undefined);
  readEvents = (): Record<string, number> | undefined => (this.events ? { ...this.events } : undefined);
  watch(onTrigger: () => void): { armed: number; stop(): void } {
    this.fire = onTrigger;
    return { armed: 1, stop: () => this.stopped++ };
  }
  /** stalls of `someMs` (some) and `fullMs` (full) since the last sample */
  stall(someMs: number, fullMs = 0): void {
    this.system!.someTotalUs += someMs * 1000;
    this.system!.fullTotalUs += fullMs * 1000;
  }
}

function monitor(opts: { hold?: number } = {}) {
  const clock = new ManualClock();
  const src = new FakeSource();
  const m = new PressureMonitor({ source: src, clock: clock.read, holdMs: opts.hold ?? 2000 });
  m.sample(); // the baseline
  return { clock, src, m };
}

describe('runtime: memory pressure', () => {
  it('parses PSI files and memory.events, and finds the cgroup v2 directory', () => {
    assert.deepEqual(parsePsi(PSI(1234, 56, 12.5, 1)), { someTotalUs: 1234, fullTotalUs: 56, someAvg10: 0.125, fullAvg10: 0.01 });
    assert.equal(parsePsi('garbage\n'), undefined);
    assert.deepEqual(parseMemoryEvents('low 1\nhigh 2\nmax 3\noom 4\noom_kill 5\noom_group_kill 0\n'), { low: 1, high: 2, max: 3, oom: 4, oom_kill: 5 });
    assert.equal(cgroupV2Dir('0::/system.slice/koffloadd.service\n'), '/sys/fs/cgroup/system.slice/koffloadd.service');
    // the root cgroup, and a v1-only host, have no cgroup of their own to watch
    assert.equal(cgroupV2Dir('0::/\n'), undefined);
    assert.equal(cgroupV2Dir('4:memory:/x\n'), undefined);
  });

  it('goes none -> some -> full -> none from the stall share of each window, holding a level for holdMs', () => {
    const { clock, src, m } = monitor({ hold: 2000 });
    assert.equal(m.current.level, 'none');
    clock.advanceMs(1000);
    src.stall(50); // 5% of the second: below someThreshold 0.1
    assert.equal(m.sample().level, 'none');
    clock.advanceMs(1000);
    src.stall(300); // 30%
    let s = m.sample();
    assert.equal(s.level, 'some');
    assert.ok(Math.abs(s.some - 0.3) < 1e-9, `some share ${s.some}`);
    assert.equal(s.full, 0);
    const since = s.sinceNs;
    clock.advanceMs(250);
    src.stall(200, 100); // full 40% of 250 ms
    s = m.sample();
    assert.equal(s.level, 'full');
    assert.ok(Math.abs(s.full - 0.4) < 1e-9);
    assert.ok(s.sinceNs > since);
    // quiet, but within holdMs of the last full sample: still full
    clock.advanceMs(1000);
    assert.equal(m.sample().level, 'full');
    // past the hold of full and of some (both last reached at the same sample)
    clock.advanceMs(1001);
    s = m.sample();
    assert.equal(s.level, 'none');
    assert.equal(s.some, 0);
    assert.equal(m.stats.changes, 3);
    // frozen: a handler cannot change what others see
    assert.throws(() => ((s as { level: string }).level = 'full'));
  });

  it('takes the higher of the system and the cgroup, and a new memory.events high/max/oom as some', () => {
    const { clock, src, m } = monitor({ hold: 0 });
    src.cgroup = { someTotalUs: 0, fullTotalUs: 0, someAvg10: 0, fullAvg10: 0 };
    src.events = { low: 0, high: 0, max: 0, oom: 0, oom_kill: 0 };
    clock.advanceMs(500);
    m.sample();
    clock.advanceMs(500);
    src.cgroup.someTotalUs += 100_000; // 20% in the cgroup, 0 in the system
    let s = m.sample();
    assert.equal(s.level, 'some');
    assert.ok(Math.abs(s.some - 0.2) < 1e-9);
    assert.deepEqual(m.stats.system, { some: 0, full: 0 });
    clock.advanceMs(500);
    assert.equal(m.sample().level, 'none');
    // memory.low breaches alone are no pressure on the daemon; max is
    src.events.low = 3;
    clock.advanceMs(500);
    assert.equal(m.sample().level, 'none');
    src.events.max = 1;
    clock.advanceMs(500);
    s = m.sample();
    assert.equal(s.level, 'some');
    assert.equal(m.stats.events.max, 1);
  });

  it('rewrites a trigger to a 2 s window for kernels that refuse shorter ones to the unprivileged', () => {
    assert.equal(unprivilegedTrigger('some 150000 1000000'), 'some 300000 2000000');
    assert.equal(unprivilegedTrigger('full 100000 500000'), 'full 400000 2000000');
    assert.equal(unprivilegedTrigger('some 150000 4000000'), undefined);
  });

  it('starts from the kernel avg10 on the first read, and stays none without PSI', () => {
    const clock = new ManualClock();
    const src = new FakeSource();
    src.system = { someTotalUs: 5, fullTotalUs: 5, someAvg10: 0.5, fullAvg10: 0.1 };
    assert.equal(new PressureMonitor({ source: src, clock: clock.read }).sample().level, 'full');
    src.system = undefined;
    const none = new PressureMonitor({ source: src, clock: clock.read });
    assert.equal(none.sample().level, 'none');
    assert.equal(none.stats.system, undefined);
  });

  it('samples when a trigger fires, and disarms on stop()', () => {
    const clock = new ManualClock();
    const src = new FakeSource();
    const m = new PressureMonitor({ source: src, clock: clock.read });
    m.start();
    assert.equal(m.stats.armed, 1);
    const before = m.stats.samples;
    clock.advanceMs(100);
    src.stall(80);
    src.fire!();
    assert.equal(m.stats.triggers, 1);
    assert.equal(m.stats.samples, before + 1);
    assert.equal(m.current.level, 'some');
    m.stop();
    assert.equal(src.stopped, 1);
  });

  it('reads the real file layout: /proc/pressure/memory, /proc/self/cgroup, the cgroup files; writes the trigger to each', () => {
    const root = mkdtempSync(join(tmpdir(), 'koffload-psi-'));
    try {
      mkdirSync(join(root, 'proc', 'pressure'), { recursive: true });
      mkdirSync(join(root, 'proc', 'self'), { recursive: true });
      mkdirSync(join(root, 'cg', 'koffloadd.service'), { recursive: true });
      writeFileSync(join(root, 'proc', 'pressure', 'memory'), PSI(100, 10));
      writeFileSync(join(root, 'proc', 'self', 'cgroup'), '0::/koffloadd.service\n');
      writeFileSync(join(root, 'cg', 'koffloadd.service', 'memory.pressure'), PSI(7, 3));
      writeFileSync(join(root, 'cg', 'koffloadd.service', 'memory.events'), 'low 0\nhigh 4\nmax 0\noom 0\noom_kill 1\n');
      const watched: number[] = [];
      const fired: ((s: number) => void)[] = [];
      const src = procPressureSource({
        procRoot: join(root, 'proc'),
        cgroupRoot: join(root, 'cg'),
        trigger: 'some 100000 1000000',
        watcher: {
          watch(fd, cb) {
            watched.push(fd);
            fired.push(cb);
            return () => closeSync(fd);
          },
        },
      });
      assert.deepEqual(src.readSystem(), { someTotalUs: 100, fullTotalUs: 10, someAvg10: 0, fullAvg10: 0 });
      assert.deepEqual(src.readCgroup(), { someTotalUs: 7, fullTotalUs: 3, someAvg10: 0, fullAvg10: 0 });
      assert.deepEqual(src.readEvents(), { low: 0, high: 4, max: 0, oom: 0, oom_kill: 1 });
      let triggers = 0;
      const w = src.watch!(() => triggers++, () => {});
      assert.equal(w.armed, 2);
      // a real pressure file takes the trigger in one write; a plain file shows what was written
      assert.ok(readFileSync(join(root, 'proc', 'pressure', 'memory'), 'latin1').startsWith('some 100000 1000000\0'));
      fired[0]!(0);
      fired[1]!(0);
      assert.equal(triggers, 2);
      w.stop();
      assert.throws(() => closeSync(watched[0]!), /EBADF/);
      // a daemon in the root cgroup watches the system only
      writeFileSync(join(root, 'proc', 'self', 'cgroup'), '0::/\n');
      const rootSrc = procPressureSource({ procRoot: join(root, 'proc'), cgroupRoot: join(root, 'cg') });
      assert.equal(rootSrc.readCgroup(), undefined);
      assert.equal(rootSrc.readEvents(), undefined);
      assert.equal(rootSrc.watch!(() => {}, () => {}).armed, 0, 'no watcher: the monitor polls');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it("arms a real PSI trigger with the addon's POLLPRI watch", function () {
    if (!koffloadNlAvailable()) skipBecause(this, 'the native addon is not built');
    let fd: number;
    try {
      fd = openSync('/proc/pressure/memory', 'r+');
    } catch (err) {
      skipBecause(this, `this kernel has no writable /proc/pressure/memory (${(err as NodeJS.ErrnoException).code}); ${IS_ROOT ? '' : 'triggers need root on 6.1; '}the monitor polls there`);
    }
    closeSync(fd);
    const src = procPressureSource({ watcher: addonPsiWatcher()! });
    const w = src.watch!(() => {}, () => {});
    assert.ok(w.armed >= 1, 'the system trigger is armed');
    // this kernel took the trigger as given, or its 2 s-window form (no CAP_SYS_RESOURCE)
    assert.match(src.describe!(), /\/proc\/pressure\/memory: some (150000 1000000|300000 2000000)/);
    w.stop();
  });
});

let nextId = 1n;
function req(clock: ManualClock): KernelRequest {
  return { reqId: nextId++, subsysId: 7, op: 1, deadlineNs: clock.now + 100_000_000n, flags: 0, payload: EchoRequest.encode({ data: Buffer.from('hi'), seq: 5n }) };
}

class FixedView implements PressureView {
  current: PressureState = { level: 'none', some: 0, full: 0, sinceNs: 0n };
  set(level: PressureState['level'], some = 0.3, full = 0): void {
    this.current = { level, some, full, sinceNs: 1n };
  }
}

type Ops = Parameters<typeof definePolicy<typeof ktest>>[0]['ops'];

function serve(ops: Ops, limits = {}) {
  const clock = new ManualClock();
  const transport = new StubTransport();
  const view = new FixedView();
  const events: DecisionEvent[] = [];
  const policy = new PolicyRegistry().add(definePolicy({ subsystem: 'ktest', schema: ktest, limits, ops })).get('ktest')!;
  const server = new SubsystemServer({ policy, subsysId: 7, transport, clock: clock.read, pressure: view, onDecision: (e) => events.push(e) });
  return { clock, transport, view, server, events };
}

describe('runtime: lanes under memory pressure', () => {
  it("declines at once an op that says 'decline', without running it, and serves it again when pressure ends", async () => {
    let ran = 0;
    const { clock, transport, view, server } = serve({ echo: { handler: (r) => (ran++, { data: r.data, seq: r.seq }), underPressure: { action: 'decline' } } });
    view.set('some');
    const ev = await server.handle(req(clock));
    assert.equal(ev.outcome, 'pressure');
    assert.equal(ev.status, 'decline');
    assert.equal(transport.replies[0]!.status, 'decline');
    assert.equal(ran, 0);
    view.set('none');
    assert.equal((await server.handle(req(clock))).outcome, 'ok');
    assert.equal(ran, 1);
  });

  it("runs the cheap handler instead under pressure, and applies an 'at: full' rule only at full", async () => {
    const seen: string[] = [];
    const { clock, transport, view, server } = serve({
      echo: {
        handler: (r) => (seen.push('full-price'), { data: r.data, seq: r.seq }),
        underPressure: { at: 'full', action: 'cheap', cheap: (_r, ctx) => (seen.push(`cheap:${ctx.pressure.level}`), { data: Buffer.from('cached'), seq: 0n }) },
      },
    });
    view.set('some');
    let ev = await server.handle(req(clock));
    assert.equal(ev.cheap, false);
    view.set('full', 0.9, 0.5);
    ev = await server.handle(req(clock));
    assert.equal(ev.outcome, 'ok');
    assert.equal(ev.cheap, true);
    assert.deepEqual(seen, ['full-price', 'cheap:full']);
    assert.equal(Buffer.from(EchoRequest.decode(transport.replies[1]!.payload!).data).toString(), 'cached');
  });

  it('lets a handler read ctx.pressure, live, also after an await', async () => {
    const gate = deferred();
    const levels: string[] = [];
    const { clock, view, server } = serve({
      echo: {
        handler: async (r, ctx: HandlerContext<unknown, unknown>) => {
          levels.push(`${ctx.pressure.level}:${ctx.pressure.some}`);
          await gate.promise;
          levels.push(ctx.pressure.level);
          return { data: r.data, seq: r.seq };
        },
      },
    });
    const p = server.handle(req(clock));
    view.set('full', 0.8, 0.3);
    gate.resolve();
    assert.equal((await p).outcome, 'ok');
    assert.deepEqual(levels, ['none:0', 'full']);
  });

  it('applies the rule when a queued request starts, not when it arrived', async () => {
    const gate = deferred();
    let ran = 0;
    const { clock, view, server } = serve(
      { echo: { handler: async (r) => (ran++, await gate.promise, { data: r.data, seq: r.seq }), underPressure: { action: 'decline' } } },
      { concurrency: 1 },
    );
    const first = server.handle(req(clock));
    const queued = server.handle(req(clock));
    view.set('some');
    gate.resolve();
    assert.equal((await first).outcome, 'ok');
    assert.equal((await queued).outcome, 'pressure');
    assert.equal(ran, 1);
  });

  it('refuses bad underPressure declarations with coded errors', () => {
    const pol = (underPressure: unknown) => () => definePolicy({ subsystem: 'ktest', schema: ktest, ops: { echo: { handler: () => ({}), underPressure } } } as never);
    assert.throws(pol({ action: 'panic' }), { code: 'KOFFLOAD_ERR_BAD_POLICY' });
    assert.throws(pol({ action: 'decline', at: 'none' }), { code: 'KOFFLOAD_ERR_BAD_POLICY' });
    assert.throws(pol({ action: 'cheap' }), { code: 'KOFFLOAD_ERR_MISSING_HANDLER' });
    assert.throws(pol({ action: 'decline', cheap: () => ({}) }), { code: 'KOFFLOAD_ERR_BAD_POLICY' });
    assert.throws(pol({ action: 'decline', when: 'later' }), { code: 'KOFFLOAD_ERR_BAD_POLICY' });
    assert.doesNotThrow(pol({ action: 'continue' }));
  });

  it('counts declined and cheap requests, and shows the level, stall shares and memory.events', async () => {
    const m = new DaemonMetrics();
    const { clock, view, server } = serve({ echo: { handler: (r) => ({ data: r.data, seq: r.seq }), underPressure: { action: 'decline' } } });
    const mon = new PressureMonitor({ source: new FakeSource(), clock: clock.read });
    mon.sample();
    mon.stats.events = { max: 2, oom_kill: 1 };
    m.setSources({ lanes: () => [], clientStats: () => undefined, kernelSubsystems: async () => [], pressure: () => ({ state: view.current, stats: mon.stats }) });
    view.set('full', 0.5, 0.25);
    for (let i = 0; i < 3; i++) m.observe(await server.handle(req(clock)));
    m.observe({ ...(await server.handle(req(clock))), outcome: 'ok', cheap: true });
    const text = await m.metrics();
    assert.match(text, /^koffload_pressure_declined_total\{subsystem="ktest",op="echo",role="live"\} 3$/m);
    assert.match(text, /^koffload_pressure_cheap_total\{subsystem="ktest",op="echo",role="live"\} 1$/m);
    assert.match(text, /^koffload_requests_total\{subsystem="ktest",op="echo",outcome="pressure"\} 3$/m);
    assert.match(text, /^koffload_memory_pressure_level 2$/m);
    assert.match(text, /^koffload_memory_pressure_stall_ratio\{scope="system",kind="some"\} 0$/m);
    assert.match(text, /^koffload_cgroup_memory_events_total\{event="oom_kill"\} 1$/m);
  });

  it('validates the pressure config', () => {
    const base = { policies: ['p.ts'] };
    assert.deepEqual(validateConfig(base).pressure, {});
    assert.equal(validateConfig({ ...base, pressure: false }).pressure, false);
    assert.deepEqual(validateConfig({ ...base, pressure: { trigger: 'full 50000 2000000', holdMs: 500 } }).pressure, { trigger: 'full 50000 2000000', holdMs: 500 });
    for (const bad of [{ trigger: 'some 1 100' }, { trigger: 'lots' }, { someThreshold: 2 }, { pollMs: 1 }, { nope: 1 }]) {
      assert.throws(() => validateConfig({ ...base, pressure: bad }), { code: 'KOFFLOAD_ERR_BAD_CONFIG' }, JSON.stringify(bad));
    }
  });
});
