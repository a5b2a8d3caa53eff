// koffloadctl top: the frame from two snapshots (pure), and the live view in
// a real terminal (tmux) against the netlink simulator with koffloadd
// serving and callers running.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { type HandlerBuckets, parseHandlerBuckets, plainTop, quantile, renderTop, topRows, type TopSnapshot } from '../../src/cli/top.js';
import { KOFFLOAD } from '../../src/generated/wire.js';
import type { SubsysInfo } from '../../src/kernel/client.js';
import { IS_ROOT, needTool, skipBecause, UNICAST_NEEDS_ROOT } from '../skip.js';

const DIST = fileURLToPath(new URL('../../', import.meta.url));

function sub(name: string, outcomes: Partial<Record<string, bigint>>, extra: Partial<SubsysInfo> = {}): SubsysInfo {
  const o = Object.fromEntries(KOFFLOAD.outcomeKeys.map((k) => [k, outcomes[k] ?? 0n])) as SubsysInfo['outcomes'];
  const c = Object.fromEntries(KOFFLOAD.counterKeys.map((k) => [k, 0n])) as SubsysInfo['counters'];
  return {
    subsysId: name === 'a' ? 1 : 2,
    name,
    bound: true,
    portid: 0,
    boundPid: 0,
    mode: 'on',
    canaryPermille: 0,
    deadlineMs: 200,
    maxInflight: 0,
    pending: 0,
    circuit: 'closed',
    nrOps: 2,
    payloadMax: 4096,
    inflightMax: 4096,
    deadlineMaxMs: 60000,
    outcomes: o,
    counters: c,
    ...extra,
  };
}

const buckets = (pairs: Array<[number, number]>): HandlerBuckets => new Map(pairs);

describe('koffloadctl top', () => {
  it('computes rates, served share and fallback shares over the interval, largest reason first', () => {
    const prev: TopSnapshot = { atMs: 0, subs: [sub('a', { served: 100n, deadline: 10n, noHandler: 5n })] };
    const cur: TopSnapshot = { atMs: 2000, subs: [sub('a', { served: 160n, deadline: 40n, noHandler: 15n }, { pending: 3, circuit: 'halfOpen' })] };
    const [r] = topRows(prev, cur);
    assert.equal(r!.callsPerS, 50); // 100 calls in 2 s
    assert.equal(r!.servedShare, 0.6);
    assert.deepEqual(r!.fallbacks, [
      { reason: 'deadline', share: 0.3 },
      { reason: 'no-handler', share: 0.1 },
    ]);
    assert.equal(r!.pending, 3);
    assert.equal(r!.circuit, 'half-open');
    const text = renderTop([r!], 'header');
    assert.match(text, /^a +bound +on +50\.0 +60\.0% +deadline 30\.0%, no-handler 10\.0% +- +- +3 +half-open$/m);
    assert.match(plainTop([r!], 'T'), /^T subsys=a bound=1 mode=on calls_per_s=50\.0 served=60\.0% fallbacks=deadline:30\.0%,no-handler:10\.0% p50=- p99=- pending=3 circuit=half-open$/m);
  });

  it('shows no share for an interval without calls, and a new subsystem from zero', () => {
    const prev: TopSnapshot = { atMs: 0, subs: [sub('a', { served: 7n })] };
    const cur: TopSnapshot = { atMs: 1000, subs: [sub('a', { served: 7n }), sub('b', { declined: 4n })] };
    const [a, b] = topRows(prev, cur);
    assert.equal(a!.servedShare, undefined);
    assert.equal(a!.callsPerS, 0);
    assert.equal(b!.callsPerS, 4);
    assert.deepEqual(b!.fallbacks, [{ reason: 'declined', share: 1 }]);
  });

  it('reads handler histograms of role live per subsystem and interpolates quantiles within a bucket', () => {
    const text = [
      '# TYPE koffload_handler_duration_seconds histogram',
      'koffload_handler_duration_seconds_bucket{subsystem="a",op="pick",role="live",le="0.001"} 50',
      'koffload_handler_duration_seconds_bucket{subsystem="a",op="pick",role="live",le="0.01"} 90',
      'koffload_handler_duration_seconds_bucket{subsystem="a",op="pick",role="live",le="+Inf"} 100',
      'koffload_handler_duration_seconds_bucket{subsystem="a",op="echo",role="live",le="0.001"} 0',
      'koffload_handler_duration_seconds_bucket{subsystem="a",op="echo",role="live",le="0.01"} 0',
      'koffload_handler_duration_seconds_bucket{subsystem="a",op="echo",role="live",le="+Inf"} 0',
      'koffload_handler_duration_seconds_bucket{subsystem="a",op="pick",role="shadow",le="+Inf"} 1000',
    ].join('\n');
    const h = parseHandlerBuckets(text).get('a')!;
    assert.deepEqual([...h], [
      [0.001, 50],
      [0.01, 90],
      [Infinity, 100],
    ]);
    assert.equal(quantile(0.5, undefined, h), 0.001); // the 50th of 100 closes the first bucket
    assert.ok(Math.abs(quantile(0.7, undefined, h)! - 0.0055) < 1e-12); // halfway into (1 ms, 10 ms]
    assert.equal(quantile(0.99, undefined, h), 0.01); // in +Inf: the largest finite bound
    // over an interval: only what ran in between
    const before = buckets([
      [0.001, 50],
      [0.01, 50],
      [Infinity, 50],
    ]);
    assert.ok(Math.abs(quantile(0.5, before, h)! - 0.006625) < 1e-12); // 25th of 50 new runs, 25/40 into (1 ms, 10 ms]
    assert.equal(quantile(0.5, h, h), undefined);
  });

  it('runs live in a terminal: the numbers move, q or Ctrl-C quits and restores the screen', async function () {
    this.timeout(60_000);
    if (!IS_ROOT) skipBecause(this, UNICAST_NEEDS_ROOT);
    const tmux = needTool(this, 'tmux', 'tmux');
    const dir = mkdtempSync(join(tmpdir(), 'koffload-top-'));
    const state = join(dir, 'sim.json');
    const sock = join(dir, 'tmux.sock');
    const port = 9600 + (process.pid % 300);
    const kids: ChildProcess[] = [];
    const node = (args: string[]): ChildProcess => {
      const c = spawn(process.execPath, args, { stdio: 'ignore' });
      kids.push(c);
      return c;
    };
    let calling = true;
    const tm = (...args: string[]): string => {
      const r = spawnSync(tmux, ['-S', sock, ...args], { encoding: 'utf8' });
      assert.equal(r.status, 0, `tmux ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    const waitFor = async (re: RegExp, what: string): Promise<string> => {
      for (let i = 0; i < 100; i++) {
        const pane = tm('capture-pane', '-p', '-t', 'top');
        if (re.test(pane)) return pane;
        await sleep(100);
      }
      throw new Error(`${what}: never shown; the pane:\n${tm('capture-pane', '-p', '-t', 'top')}`);
    };
    try {
      node([join(DIST, 'src/cli/koffload-sim.js'), '--state-file', state, '-q']);
      for (let i = 0; i < 100 && spawnSync('test', ['-s', state]).status !== 0; i++) await sleep(50);
      node([join(DIST, 'src/cli/koffloadd.js'), '--policy', join(DIST, 'examples/ktest-policy.js'), '--state-file', state, '--metrics-port', String(port), '--log-level', 'warn']);
      // callers: ktest served by the policy, ktest2 with nobody bound
      const load = (async () => {
        const run = (sub: string, n: string): Promise<unknown> =>
          new Promise((resolve) => spawn(process.execPath, [join(DIST, 'src/cli/koffloadctl.js'), 'calls', sub, '--count', n, '--state-file', state], { stdio: 'ignore' }).on('exit', resolve));
        while (calling) {
          await run('ktest', '200');
          await run('ktest2', '20');
        }
      })();
      const cmd = `${process.execPath} ${join(DIST, 'src/cli/koffloadctl.js')} top --interval 0.5 --state-file ${state} --metrics http://127.0.0.1:${port}/metrics; echo TOP-EXIT=$?; sleep 30`;
      tm('new-session', '-d', '-s', 'top', '-x', '200', '-y', '20', cmd);
      await waitFor(/^ktest +bound +on +[1-9]\d*\.\d +100\.0% +- +\d+us +\d+us +\d+ +closed$/m, 'a served ktest row with handler times');
      assert.match(await waitFor(/^ktest2 +unbound +on +[1-9]\d*\.\d +0\.0% +no-handler 100\.0%/m, 'ktest2 falling back for no handler'), /q to quit/);
      // the numbers move: over 3 s the header's clock and ktest's calls/s take several values
      const clocks = new Set<string>();
      const rates = new Set<string>();
      for (let i = 0; i < 15; i++) {
        const pane = tm('capture-pane', '-p', '-t', 'top');
        clocks.add(/\d{4}-\d\d-\d\dT\S+Z/.exec(pane)?.[0] ?? '');
        rates.add(/^ktest +bound +on +(\d+\.\d) /m.exec(pane)?.[1] ?? '');
        await sleep(200);
      }
      assert.ok(clocks.size >= 3, `the frame refreshed: ${[...clocks].join(' ')}`);
      assert.ok(rates.size >= 2, `ktest's calls/s moved: ${[...rates].join(' ')}`);
      tm('send-keys', '-t', 'top', 'q');
      const end = await waitFor(/TOP-EXIT=0/, 'top exiting 0 on q');
      // the alternate screen is gone: the pane shows the shell's line, not the table
      assert.doesNotMatch(end, /q to quit/);
      // Ctrl-C ends it the same way
      tm('kill-session', '-t', 'top');
      tm('new-session', '-d', '-s', 'top', '-x', '200', '-y', '20', cmd);
      await waitFor(/^ktest +bound +on /m, 'the table again');
      tm('send-keys', '-t', 'top', 'C-c');
      assert.doesNotMatch(await waitFor(/TOP-EXIT=0/, 'top exiting 0 on Ctrl-C'), /q to quit/);
      calling = false;
      await load;
    } finally {
      calling = false;
      spawnSync(tmux, ['-S', sock, 'kill-server'], { stdio: 'ignore' });
      for (const k of kids.reverse()) k.kill('SIGTERM');
      await sleep(300);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
