// koffloadd's readiness signal for systemd (Type=notify, sd_notify(3)):
// src/runtime/notify.ts, the addon's sdNotify(), and koffloadd itself
// against the simulator with NOTIFY_SOCKET pointing at a datagram socket
// this test listens on (fixtures/notify-listen.c: Node's dgram has no
// AF_UNIX). READY=1 must come only once every subsystem is bound and
// /metrics listens: never while the policy loads, never from a start that
// fails at the bind or at the listen; STOPPING=1 when it stops.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { errnoName } from '../../src/errors.js';
import { KoffloadClient } from '../../src/kernel/client.js';
import { koffloadNl } from '../../src/native/koffload-nl.js';
import { SystemdNotifier } from '../../src/runtime/notify.js';
import { startSimulator, type Simulator } from '../../src/sim/index.js';
import { cFixture } from '../c-fixture.js';
import { IS_ROOT, skipBecause } from '../skip.js';
import { EXAMPLE, writePolicy } from './runtime-daemon.test.js';

const DIST = fileURLToPath(new URL('../../', import.meta.url));
const KOFFLOADD = join(DIST, 'src/cli/koffloadd.js');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A datagram socket at `path` (fixtures/notify-listen), and what reached it. */
class Listener {
  readonly messages: string[] = [];
  private constructor(readonly proc: ChildProcess) {}

  static async start(bin: string, path: string): Promise<Listener> {
    const proc = spawn(bin, [path], { stdio: ['pipe', 'pipe', 'inherit'] });
    const l = new Listener(proc);
    let buf = '';
    await new Promise<void>((resolve, reject) => {
      proc.stdout!.on('data', (d: Buffer) => {
        buf += d.toString();
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          if (line === 'LISTENING') resolve();
          else if (line.startsWith('MSG ')) l.messages.push(line.slice(4).replaceAll('|', '\n'));
        }
      });
      proc.once('exit', (code) => reject(new Error(`notify-listen exited (${code})`)));
    });
    return l;
  }

  async waitFor(re: RegExp, ms = 20_000): Promise<string> {
    const end = Date.now() + ms;
    for (;;) {
      const m = this.messages.find((x) => re.test(x));
      if (m) return m;
      if (Date.now() > end) throw new Error(`no datagram matching ${re} in ${ms} ms (got ${JSON.stringify(this.messages)})`);
      await sleep(10);
    }
  }

  close(): void {
    this.proc.stdin!.end();
  }
}

describe('systemd notify: SystemdNotifier', () => {
  const logger = (lines: string[]) => ({ debug: () => {}, info: () => {}, warn: (m: string, f?: Record<string, unknown>) => void lines.push(`${m} ${JSON.stringify(f)}`), error: () => {} });

  it('sends nothing without NOTIFY_SOCKET (or with it empty)', () => {
    for (const env of [{}, { NOTIFY_SOCKET: '' }]) {
      const sent: string[] = [];
      const n = new SystemdNotifier({ env, logger: logger([]), send: (_p, s) => (sent.push(s), 0) });
      n.ready('serving ktest');
      n.stopping();
      assert.deepEqual(sent, []);
      assert.equal(n.socketPath, undefined);
    }
  });

  it('sends READY=1 and STOPPING=1 with a status line to $NOTIFY_SOCKET; a failure is logged once, never thrown', () => {
    const sent: [string, string][] = [];
    const n = new SystemdNotifier({ env: { NOTIFY_SOCKET: '@sd' }, logger: logger([]), send: (p, s) => (sent.push([p, s]), 0) });
    n.ready('serving ktest, f2fs_gc');
    n.stopping();
    assert.deepEqual(sent, [
      ['@sd', 'READY=1\nSTATUS=serving ktest, f2fs_gc'],
      ['@sd', 'STOPPING=1\nSTATUS=stopping'],
    ]);
    const lines: string[] = [];
    const bad = new SystemdNotifier({ env: { NOTIFY_SOCKET: '/run/nope' }, logger: logger(lines), send: () => 111 });
    bad.ready('x');
    bad.stopping();
    assert.equal(bad.failed, 2);
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /cannot notify systemd .*ECONNREFUSED/);
  });
});

describe('systemd notify: the addon\'s sdNotify()', function () {
  let dir: string;
  let listeners: Listener[] = [];
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'koffload-notify-'));
  });
  afterEach(() => {
    for (const l of listeners) l.close();
    listeners = [];
    rmSync(dir, { recursive: true, force: true });
  });

  const listener = async (ctx: Mocha.Context, path: string): Promise<Listener> => {
    const bin = cFixture('unit', 'notify-listen');
    if (!bin) skipBecause(ctx, 'needs a C compiler (cc) for fixtures/notify-listen.c');
    const l = await Listener.start(bin, path);
    listeners.push(l);
    return l;
  };

  it('sends one datagram to a socket path and to an abstract-namespace name (@)', async function () {
    const byPath = await listener(this, join(dir, 'notify'));
    const abstract = `@koffload-notify-test-${process.pid}`;
    const byName = await listener(this, abstract);
    assert.equal(koffloadNl().sdNotify(join(dir, 'notify'), 'READY=1\nSTATUS=a'), 0);
    assert.equal(koffloadNl().sdNotify(abstract, 'READY=1\nSTATUS=b'), 0);
    assert.equal(await byPath.waitFor(/^READY=1/), 'READY=1\nSTATUS=a');
    assert.equal(await byName.waitFor(/^READY=1/), 'READY=1\nSTATUS=b');
  });

  it('returns the errno: no listener, a relative path, a path too long for sun_path', () => {
    const nl = koffloadNl();
    assert.equal(errnoName(nl.sdNotify(join(dir, 'nobody'), 'READY=1')), 'ENOENT');
    assert.equal(errnoName(nl.sdNotify(`@koffload-nobody-${process.pid}`, 'READY=1')), 'ECONNREFUSED');
    assert.equal(errnoName(nl.sdNotify('run/notify', 'READY=1')), 'EINVAL');
    assert.equal(errnoName(nl.sdNotify(`/${'x'.repeat(120)}`, 'READY=1')), 'ENAMETOOLONG');
    assert.throws(() => nl.sdNotify('/run/x', ''), TypeError);
  });
});

describe('systemd notify: koffloadd against the simulator', function () {
  this.timeout(60_000);
  let dir: string;
  let state: string;
  let sim: Simulator | undefined;
  let listen: Listener | undefined;
  let child: ChildProcess | undefined;

  const bin = IS_ROOT ? cFixture('unit', 'notify-listen') : undefined;
  /** What each test needs, said in its title when missing. */
  const need = (ctx: Mocha.Context): void => {
    if (!IS_ROOT) skipBecause(ctx, 'needs root: koffloadd reaches the simulator over netlink, which needs CAP_NET_ADMIN');
    if (!bin) skipBecause(ctx, 'needs a C compiler (cc) for fixtures/notify-listen.c');
  };

  beforeEach(async () => {
    if (!bin) return;
    dir = mkdtempSync(join(tmpdir(), 'koffload-notify-'));
    state = join(dir, 'sim.json');
    sim = await startSimulator({ transport: 'netlink', stateFile: state });
    listen = await Listener.start(bin!, join(dir, 'notify'));
  });
  afterEach(async () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    child = undefined;
    listen?.close();
    listen = undefined;
    await sim?.close();
    sim = undefined;
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** koffloadd with NOTIFY_SOCKET set; its stderr lines, and its exit code. */
  function koffloadd(args: string[]): { proc: ChildProcess; log: string[]; exited: Promise<number | null> } {
    const proc = spawn(process.execPath, [KOFFLOADD, '--state-file', state, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NOTIFY_SOCKET: join(dir, 'notify') } });
    child = proc;
    const log: string[] = [];
    proc.stderr!.on('data', (d: Buffer) => log.push(...d.toString().split('\n').filter(Boolean)));
    return { proc, log, exited: new Promise((r) => proc.once('exit', (code) => r(code))) };
  }
  const waitLog = async (log: string[], re: RegExp, ms = 20_000): Promise<void> => {
    const end = Date.now() + ms;
    while (!log.some((l) => re.test(l))) {
      if (Date.now() > end) throw new Error(`no log line ${re}:\n${log.join('\n')}`);
      await sleep(10);
    }
  };

  it('READY=1 once bound and listening, never while the policy loads; STOPPING=1 on SIGTERM', async function () {
    need(this);
    // a policy that takes 1.5 s to load: the daemon neither binds nor listens meanwhile
    const slow = writePolicy(
      dir,
      'slow.mjs',
      `process.stderr.write('policy-loading\\n'); await new Promise((r) => setTimeout(r, 1500));\n` +
        `export default definePolicy({ subsystem: 'ktest', schema: ktest, ops: { echo: { handler: (r) => ({ seq: r.seq }) } } });`,
    );
    const d = koffloadd(['--policy', slow, '--metrics-port', '0']);
    await waitLog(d.log, /policy-loading/);
    await sleep(1_000);
    assert.equal(listen!.messages.length, 0, `a datagram before the daemon was bound: ${listen!.messages}`);
    const ready = await listen!.waitFor(/^READY=1/);
    assert.equal(ready, 'READY=1\nSTATUS=serving ktest');
    // at READY: ktest is bound to this koffloadd, and /metrics answers
    const k = await KoffloadClient.open(sim!.clientOptions());
    try {
      const info = await k.getSubsys('ktest');
      assert.deepEqual([info.bound, info.boundPid], [true, d.proc.pid]);
    } finally {
      k.close();
    }
    await waitLog(d.log, / metrics url=/);
    const url = /url=(\S+)/.exec(d.log.find((l) => / metrics url=/.test(l))!)![1]!;
    assert.equal((await fetch(url)).status, 200);
    d.proc.kill('SIGTERM');
    assert.equal(await d.exited, 0);
    assert.equal(await listen!.waitFor(/^STOPPING=1/), 'STOPPING=1\nSTATUS=stopping');
    assert.deepEqual(listen!.messages.map((m) => m.split('\n')[0]), ['READY=1', 'STOPPING=1']);
  });

  it('no READY=1 from a start that fails at the bind (another process serves ktest)', async function () {
    need(this);
    const other = await KoffloadClient.open(sim!.clientOptions());
    try {
      await other.bind({ name: 'ktest' });
      const d = koffloadd(['--policy', EXAMPLE]);
      assert.equal(await d.exited, 5, d.log.join('\n'));
    } finally {
      other.close();
    }
    await sleep(200);
    assert.deepEqual(listen!.messages, []);
  });

  it('no READY=1 from a start that fails at the listen, after the bind (the metrics port is taken)', async function () {
    need(this);
    const taken: Server = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    try {
      const port = (taken.address() as { port: number }).port;
      const d = koffloadd(['--policy', EXAMPLE, '--metrics-port', String(port)]);
      assert.equal(await d.exited, 2, d.log.join('\n'));
      assert.ok(d.log.some((l) => /cannot listen/.test(l)), d.log.join('\n'));
    } finally {
      taken.close();
    }
    await sleep(200);
    assert.deepEqual(listen!.messages, []);
  });
});
