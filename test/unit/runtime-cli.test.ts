// koffloadd and koffloadctl: flag parsing, exit codes, and koffloadd as a
// real process (SIGTERM drains, unbinds and exits 0) against a netlink
// simulator in this process (root only: unicast between user ports); the
// `npm start` demo, which any user can run.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KoffloadError, NetlinkError } from '../../src/errors.js';
import { EchoRequest } from '../../src/generated/proto/ktest.js';
import { configFromArgs } from '../../src/cli/koffloadd.js';
import { main as ctlMain } from '../../src/cli/koffloadctl.js';
import { EXIT, exitCodeOf } from '../../src/runtime/cli-support.js';
import { startSimulator } from '../../src/sim/index.js';
import { EXAMPLE, writePolicy } from './runtime-daemon.test.js';
import { IS_ROOT, UNICAST_NEEDS_ROOT, skipBecause } from '../skip.js';

const DIST = fileURLToPath(new URL('../../', import.meta.url));
const SIM_NEEDS_ROOT = 'needs root: koffloadd and koffloadctl reach the simulator over netlink, which needs CAP_NET_ADMIN';

describe('runtime: CLI', function () {
  this.timeout(20_000);

  it('koffloadd flags: policies, modes, metrics port, record', () => {
    const { config } = configFromArgs(['--policy', 'a.js', '-p', 'b.js', '--mode', 'ktest=canary:250', '--metrics-port', '0', '--record', 'r.jsonl'], '/x');
    assert.deepEqual(config.policies, ['/x/a.js', '/x/b.js']);
    assert.deepEqual(config.subsystems, { ktest: { mode: 'canary', canaryPermille: 250 } });
    assert.equal(config.metricsPort, 0);
    assert.equal(config.record, '/x/r.jsonl');
  });

  for (const argv of [[], ['--bogus'], ['-p', 'a.js', '--mode', 'ktest=sometimes'], ['-p', 'a.js', '--metrics-port', 'x'], ['-c', '/nonexistent.json'], ['-p', 'a', '--log-level', 'loud']]) {
    it(`koffloadd ${argv.join(' ') || '(no flags)'}: KOFFLOAD_ERR_BAD_CONFIG`, () => {
      assert.throws(() => configFromArgs(argv), { code: 'KOFFLOAD_ERR_BAD_CONFIG' });
    });
  }

  it('maps errors to the documented exit codes', () => {
    assert.equal(exitCodeOf(new KoffloadError('KOFFLOAD_ERR_POLICY_NOT_FOUND')), EXIT.usage);
    assert.equal(exitCodeOf(new KoffloadError('KOFFLOAD_ERR_UNKNOWN_OP')), EXIT.usage);
    assert.equal(exitCodeOf(new KoffloadError('KOFFLOAD_ERR_NO_FAMILY')), EXIT.noTarget);
    assert.equal(exitCodeOf(new KoffloadError('KOFFLOAD_ERR_PERMISSION')), EXIT.permission);
    assert.equal(exitCodeOf(new NetlinkError(1, 'bind')), EXIT.permission);
    assert.equal(exitCodeOf(new KoffloadError('KOFFLOAD_ERR_UNKNOWN_SUBSYSTEM')), EXIT.subsystem);
    assert.equal(exitCodeOf(new Error('x')), EXIT.failure);
  });

  it('koffloadctl: usage errors exit 2, a missing record file too', async () => {
    const saved = process.stderr.write.bind(process.stderr);
    process.stderr.write = () => true;
    try {
      assert.equal(await ctlMain(['frobnicate']), EXIT.usage);
      assert.equal(await ctlMain(['mode', 'ktest', 'sometimes']), EXIT.usage);
      assert.equal(await ctlMain(['replay', 'x.jsonl']), EXIT.usage);
      assert.equal(await ctlMain(['replay', '/nonexistent.jsonl', '--policy', EXAMPLE]), EXIT.usage);
      assert.equal(await ctlMain(['calls']), EXIT.usage);
      assert.equal(await ctlMain(['calls', 'ktest', '--count', '0']), EXIT.usage);
      assert.equal(await ctlMain(['calls', 'ktest', '--context', 'self']), EXIT.usage);
    } finally {
      process.stderr.write = saved;
    }
  });

  it('koffloadd process: serves, and on SIGTERM unbinds and exits 0', async function () {
    if (!IS_ROOT) skipBecause(this, SIM_NEEDS_ROOT);
    const dir = mkdtempSync(join(tmpdir(), 'koffloadd-'));
    const state = join(dir, 'sim.json');
    const sim = await startSimulator({ transport: 'netlink', stateFile: state });
    try {
      const child = spawn(process.execPath, [join(DIST, 'src/cli/koffloadd.js'), '--policy', EXAMPLE, '--state-file', state], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      await new Promise<void>((resolve, reject) => {
        child.stderr.on('data', (b: Buffer) => {
          err += b.toString();
          if (err.includes(' serving ')) resolve();
        });
        child.on('exit', () => reject(new Error(`koffloadd exited early: ${err}`)));
      });
      assert.equal((await sim.call('ktest', 1, EchoRequest.encode({ seq: 3n }))).outcome, 'served');
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
      assert.equal((await sim.call('ktest', 1, EchoRequest.encode({}))).outcome, 'noHandler');
    } finally {
      await sim.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
  /** Spawns koffloadd with a policy module that takes `ms` to load; resolves once it is loading. */
  async function slowKoffloadd(dir: string, state: string, ms: number) {
    const slow = writePolicy(
      dir,
      'slow.mjs',
      `process.stderr.write('policy-loading\\n'); await new Promise((r) => setTimeout(r, ${ms}));\n` +
        `export default definePolicy({ subsystem: 'ktest', schema: ktest, ops: { echo: { handler: (r) => ({ seq: r.seq }) } } });`,
    );
    const child = spawn(process.execPath, [join(DIST, 'src/cli/koffloadd.js'), '--policy', slow, '--state-file', state], { stdio: ['ignore', 'ignore', 'pipe'] });
    const log = { text: '' };
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const waitFor = (s: string) =>
      new Promise<void>((resolve, reject) => {
        if (log.text.includes(s)) return resolve();
        const onData = () => {
          if (log.text.includes(s)) {
            child.stderr.off('data', onData);
            resolve();
          }
        };
        child.stderr.on('data', onData);
        child.on('exit', () => reject(new Error(`koffloadd exited before '${s}': ${log.text}`)));
      });
    child.stderr.on('data', (b: Buffer) => (log.text += b.toString()));
    await waitFor('policy-loading');
    return { child, exited, log, waitFor };
  }

  it('koffloadd process: SIGTERM during startup stops once started, exit 0', async function () {
    if (!IS_ROOT) skipBecause(this, SIM_NEEDS_ROOT);
    const dir = mkdtempSync(join(tmpdir(), 'koffloadd-'));
    const state = join(dir, 'sim.json');
    const sim = await startSimulator({ transport: 'netlink', stateFile: state });
    try {
      const { child, exited, log } = await slowKoffloadd(dir, state, 500);
      child.kill('SIGTERM');
      assert.equal(await exited, 0, log.text);
      assert.match(log.text, /stop signal during startup/);
      assert.equal((await sim.call('ktest', 1, EchoRequest.encode({}))).outcome, 'noHandler');
    } finally {
      await sim.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('koffloadd process: SIGHUP during startup is ignored with a log line', async function () {
    if (!IS_ROOT) skipBecause(this, SIM_NEEDS_ROOT);
    const dir = mkdtempSync(join(tmpdir(), 'koffloadd-'));
    const state = join(dir, 'sim.json');
    const sim = await startSimulator({ transport: 'netlink', stateFile: state });
    try {
      const { child, exited, log, waitFor } = await slowKoffloadd(dir, state, 500);
      child.kill('SIGHUP');
      await waitFor(' serving ');
      assert.match(log.text, /SIGHUP during startup: ignored/);
      assert.equal((await sim.call('ktest', 1, EchoRequest.encode({ seq: 4n }))).outcome, 'served');
      child.kill('SIGTERM');
      assert.equal(await exited, 0, log.text);
    } finally {
      await sim.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  /** Starts koffloadd on `args` against a fresh netlink simulator; resolves once it serves. */
  async function serving(args: string[], prefix: string[] = []) {
    const dir = mkdtempSync(join(tmpdir(), 'koffloadd-'));
    const state = join(dir, 'sim.json');
    const sim = await startSimulator({ transport: 'netlink', stateFile: state });
    const argv = [process.execPath, join(DIST, 'src/cli/koffloadd.js'), '--state-file', state, ...args];
    const child = spawn(prefix[0] ?? argv[0]!, [...prefix.slice(1), ...(prefix.length > 0 ? argv : argv.slice(1))], { stdio: ['ignore', 'ignore', 'pipe'] });
    const log = { text: '' };
    child.stderr.on('data', (b: Buffer) => (log.text += b.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const waitLog = (re: RegExp) =>
      new Promise<void>((resolve, reject) => {
        const t = setInterval(() => {
          if (re.test(log.text)) {
            clearInterval(t);
            resolve();
          } else if (child.exitCode !== null) {
            clearInterval(t);
            reject(new Error(`koffloadd exited: ${log.text}`));
          }
        }, 10);
      });
    await waitLog(/ serving /);
    const cleanup = async () => {
      if (child.exitCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
      await sim.close();
      rmSync(dir, { recursive: true, force: true });
    };
    return { dir, sim, child, exited, log, waitLog, cleanup };
  }

  it('koffloadd process in a time namespace (monotonic +10 s) meets the kernel deadlines', async function () {
    if (!IS_ROOT) skipBecause(this, UNICAST_NEEDS_ROOT);
    const unshare = ['unshare', '--time', '--monotonic', '10'];
    if (spawnSync(unshare[0]!, [...unshare.slice(1), 'true']).status !== 0) skipBecause(this, `cannot make a time namespace here (${unshare.join(' ')} true failed)`);
    const k = await serving(['--policy', EXAMPLE], unshare);
    try {
      const outcomes: string[] = [];
      for (let i = 0; i < 20; i++) outcomes.push((await k.sim.call('ktest', 1, EchoRequest.encode({ seq: BigInt(i) }))).outcome);
      assert.deepEqual([...new Set(outcomes)], ['served']);
      k.child.kill('SIGTERM');
      assert.equal(await k.exited, 0, k.log.text);
    } finally {
      await k.cleanup();
    }
  });

  it('koffloadd process: SIGHUP reopens the record file (rename-then-HUP rotation)', async function () {
    if (!IS_ROOT) skipBecause(this, UNICAST_NEEDS_ROOT);
    const recDir = mkdtempSync(join(tmpdir(), 'koffloadd-rec-'));
    const rec = join(recDir, 'r.jsonl');
    const k = await serving(['--policy', EXAMPLE, '--record', rec]);
    try {
      assert.equal((await k.sim.call('ktest', 1, EchoRequest.encode({ seq: 1n }))).outcome, 'served');
      renameSync(rec, `${rec}.1`);
      k.child.kill('SIGHUP');
      await k.waitLog(/reloaded/);
      assert.equal((await k.sim.call('ktest', 1, EchoRequest.encode({ seq: 2n }))).outcome, 'served');
      k.child.kill('SIGTERM');
      assert.equal(await k.exited, 0, k.log.text);
      const seqs = (f: string) => readFileSync(f, 'utf8').trimEnd().split('\n').map((l) => (JSON.parse(l) as { request: { json: { seq: string } } }).request.json.seq);
      assert.deepEqual(seqs(`${rec}.1`), ['1']);
      assert.deepEqual(seqs(rec), ['2']);
    } finally {
      await k.cleanup();
      rmSync(recDir, { recursive: true, force: true });
    }
  });

  it('koffloadd process: a policy promise that rejects unhandled is logged and counted; the daemon serves on', async function () {
    if (!IS_ROOT) skipBecause(this, UNICAST_NEEDS_ROOT);
    const pdir = mkdtempSync(join(tmpdir(), 'koffloadd-pol-'));
    const p = writePolicy(
      pdir,
      'fire.mjs',
      `export default definePolicy({ subsystem: 'ktest', schema: ktest, ops: { echo: { handler: (r) => { Promise.reject(new Error('forgotten')); return { seq: r.seq }; } } } });`,
    );
    const k = await serving(['--policy', p, '--metrics-port', '0']);
    try {
      assert.equal((await k.sim.call('ktest', 1, EchoRequest.encode({ seq: 1n }))).outcome, 'served');
      await k.waitLog(/unhandled promise rejection/);
      assert.equal((await k.sim.call('ktest', 1, EchoRequest.encode({ seq: 2n }))).outcome, 'served');
      assert.equal(k.child.exitCode, null);
      const port = / metrics url=http:\/\/127\.0\.0\.1:(\d+)\/metrics/.exec(k.log.text)?.[1];
      assert.ok(port, k.log.text);
      assert.match(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text(), /^koffload_unhandled_rejections_total 2$/m);
      k.child.kill('SIGTERM');
      assert.equal(await k.exited, 0, k.log.text);
    } finally {
      await k.cleanup();
      rmSync(pdir, { recursive: true, force: true });
    }
  });

  /**
   * Runs `fn` against a netlink simulator with its own state file, with
   * koffloadctl's stdout captured and its stderr silenced; returns stdout.
   */
  async function withSimulator(fn: (state: string) => Promise<void>): Promise<string> {
    const dir = mkdtempSync(join(tmpdir(), 'koffloadctl-'));
    const state = join(dir, 'sim.json');
    const sim = await startSimulator({ transport: 'netlink', stateFile: state });
    const out: string[] = [];
    const savedOut = process.stdout.write.bind(process.stdout);
    const savedErr = process.stderr.write.bind(process.stderr);
    process.stdout.write = ((chunk: string) => {
      out.push(String(chunk));
      return true;
    }) as typeof process.stdout.write;
    process.stderr.write = () => true;
    try {
      await fn(state);
    } finally {
      process.stdout.write = savedOut;
      process.stderr.write = savedErr;
      await sim.close();
      rmSync(dir, { recursive: true, force: true });
    }
    return out.join('');
  }

  it('koffloadctl status and mode against a running simulator', async function () {
    if (!IS_ROOT) skipBecause(this, SIM_NEEDS_ROOT);
    let statusJson = '';
    await withSimulator(async (state) => {
      assert.equal(await ctlMain(['mode', 'ktest', 'canary', '--permille', '250', '--state-file', state]), EXIT.ok);
      const before = process.stdout.write;
      const mark: string[] = [];
      process.stdout.write = ((chunk: string) => {
        mark.push(String(chunk));
        return true;
      }) as typeof process.stdout.write;
      try {
        assert.equal(await ctlMain(['status', '--json', '--state-file', state]), EXIT.ok);
      } finally {
        process.stdout.write = before;
      }
      statusJson = mark.join('');
      assert.equal(await ctlMain(['mode', 'nope', 'on', '--state-file', state]), EXIT.subsystem);
    });
    const status = JSON.parse(statusJson) as { target: string; subsystems: { name: string; mode: string; canaryPermille: number }[] };
    assert.equal(status.target, 'sim');
    const k = status.subsystems.find((x) => x.name === 'ktest');
    assert.deepEqual([k?.mode, k?.canaryPermille], ['canary', 250]);
  });

  it('koffloadctl calls drives the test callers and reports their outcomes', async function () {
    if (!IS_ROOT) skipBecause(this, SIM_NEEDS_ROOT);
    const out = await withSimulator(async (state) => {
      // nobody is bound to ktest2: every call falls back at once
      assert.equal(await ctlMain(['calls', 'ktest2', '--count', '12', '--threads', '3', '--json', '--state-file', state]), EXIT.ok);
      assert.equal(await ctlMain(['calls', 'nope', '--state-file', state]), EXIT.subsystem);
    });
    const res = JSON.parse(out) as { target: string; outcomes: Record<string, string> };
    assert.equal(res.target, 'sim');
    assert.equal(res.outcomes.noHandler, '12');
    assert.equal(res.outcomes.served, '0');
  });

  it('npm start: the demo runs to its end and exits 0, in memory unless root, then the F2FS GC comparison', () => {
    const r = spawnSync(process.execPath, [join(DIST, 'src/cli/start.js'), '--gc', 'quick'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, IS_ROOT ? /^koffload demo: target simulator in this process \(netlink transport\)$/m : /^koffload demo: target simulator in this process \(inproc transport/m);
    assert.match(r.stdout, /served by the policy: 200 of 200/);
    assert.match(r.stdout, /^after the daemon stopped, an ECHO call ends with outcome: no-handler/m);
    // one row per policy of the comparison, each with a WAF
    for (const p of ['kernel-greedy', 'kernel-cb', 'koffload-learned', 'bound-victim-only', 'bound-both-2']) {
      assert.match(r.stdout, new RegExp(`^${p} +\\d\\.\\d{3} `, 'm'), p);
    }
    // the best named is a policy, never a bound
    assert.match(r.stdout, /^koffload-learned: \d\.\d{3} GC data WAF, -?\d+\.\d% against F2FS's cost-benefit/m);
    assert.match(r.stdout, /^bounds \(future knowledge, not policies\): bound-victim-only /m);
    const off = spawnSync(process.execPath, [join(DIST, 'src/cli/start.js'), '--gc', 'off', '--calls', '5'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(off.status, 0, off.stderr);
    assert.doesNotMatch(off.stdout, /F2FS GC on the LFS model/);
    const bad = spawnSync(process.execPath, [join(DIST, 'src/cli/start.js'), '--gc', 'fast'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(bad.status, EXIT.usage);
    assert.match(bad.stderr, /--gc must be full, quick or off/);
  });

  it('npm start -- --metrics-port N: the demo daemon serves /metrics on N, and a port in use is a config error', async () => {
    // a free port: bind one, note it, let it go
    const free = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const port = (s.address() as AddressInfo).port;
        s.close(() => resolve(port));
      });
    });
    const ok = spawnSync(process.execPath, [join(DIST, 'src/cli/start.js'), '--metrics-port', String(free), '--calls', '20', '--gc', 'off'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, new RegExp(`^metrics: http://127\\.0\\.0\\.1:${free}/metrics$`, 'm'));
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', () => resolve()));
    try {
      const port = (busy.address() as AddressInfo).port;
      const r = spawnSync(process.execPath, [join(DIST, 'src/cli/start.js'), '--metrics-port', String(port)], { encoding: 'utf8', timeout: 60_000 });
      assert.equal(r.status, EXIT.usage, r.stderr);
      assert.match(r.stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}`));
    } finally {
      await new Promise((resolve) => busy.close(resolve));
    }
    const bad = spawnSync(process.execPath, [join(DIST, 'src/cli/start.js'), '--metrics-port', 'x'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(bad.status, EXIT.usage);
    assert.match(bad.stderr, /--metrics-port must be 0\.\.65535/);
  });
});
