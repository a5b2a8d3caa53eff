// The fault-injection suite (issue 8): runs in the QEMU guest of the debug
// kernel (scripts/fault-test.sh, `npm run test:faults`), against koffload.ko
// built with its fault points (KOFFLOAD_FAULT_INJECT=y), koffload_test.ko
// and koffload_kunit.ko.
//
// Every scenario injects one kind of fault while in-kernel callers
// (koffload_test runs) call, then checks the invariants:
//   - each call has exactly one outcome (a run's outcomes add up to its calls)
//   - no caller waited longer than its deadline plus the stated slack
//   - the kernel's pending count is back to 0
//   - the module's live allocations (debugfs koffload/allocs) are back to
//     their start value, and a kmemleak scan finds nothing new
//   - the kernel's outcome counters moved exactly as the runs reported,
//     and the scenario's own expectations (counts of the injected fault's
//     outcome, the daemon's metrics) hold
//   - the kernel log has no lockdep, KASAN, UBSAN, sleep-in-atomic, hung
//     task, RCU stall, soft lockup, list or object-debug report
// It prints the fault matrix between KOFFLOAD_FAULT_MATRIX_BEGIN/END and
// ends with one line:
//   fault_kinds=N fuzzed=M faulted_calls=K over_deadline=0 lost=0 leaks=0 reports=0
// and exits non-zero if an invariant broke, KUnit failed, or the totals
// are under the issue's bar (KOFFLOAD_FAULTS_MIN_*).
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { KoffloadClient, type KernelRequest } from '../../src/kernel/client.js';
import { KtestClient, type RunOptions, type RunResult } from '../../src/kernel/test-client.js';
import { KOFFLOAD } from '../../src/generated/wire.js';
import { openGenlSocket } from '../../src/netlink/socket.js';
import { Daemon } from '../../src/runtime/daemon.js';
import { createLogger } from '../../src/runtime/logger.js';
import { startSimulator } from '../../src/sim/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..', '..');
const env = process.env;
const num = (name: string, dflt: number): number => (env[name] !== undefined && env[name] !== '' ? Number(env[name]) : dflt);

/**
 * How much later than its deadline a caller may return. The deadline is an
 * hrtimer and exact to it, but the woken caller must then be scheduled, in
 * an emulated guest with KASAN whose vCPUs share the host (150 ms seen on
 * a loaded host).
 */
const SLACK_MS = num('KOFFLOAD_FAULTS_SLACK_MS', 300);
/** Scales the number of calls of every scenario. */
const SCALE = num('KOFFLOAD_FAULTS_SCALE', 1);
/** Hostile genl messages, split between the three fuzzer sockets. */
const FUZZ = num('KOFFLOAD_FAULTS_FUZZ', 100_000);
/** Mutated REQUESTs the daemon's decoder gets. */
const DECODER_FUZZ = num('KOFFLOAD_FAULTS_DECODER_FUZZ', 400);
const MIN_KINDS = num('KOFFLOAD_FAULTS_MIN_KINDS', 20);
const MIN_FUZZED = num('KOFFLOAD_FAULTS_MIN_FUZZED', 100_000);
const MIN_CALLS = num('KOFFLOAD_FAULTS_MIN_CALLS', 10_000);
const ONLY = env.KOFFLOAD_FAULTS_ONLY ? new RegExp(env.KOFFLOAD_FAULTS_ONLY) : undefined;
const KMOD_DIR = env.KOFFLOAD_KMOD_DIR ?? join(root, 'kernel-shim');
const DEBUGFS = '/sys/kernel/debug';
const FAULTS = join(DEBUGFS, 'koffload');
const OP_ECHO = 1;
const SUBSYS = ['ktest', 'ktest2'] as const;
type Subsys = (typeof SUBSYS)[number];
type OutcomeKey = keyof typeof KOFFLOAD.outcome;
const OUTCOMES = Object.keys(KOFFLOAD.outcome) as OutcomeKey[];

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const calls = (n: number): number => Math.max(1, Math.round(n * SCALE));
const log = (...a: unknown[]): void => console.log('faults:', ...a);

async function waitFor(what: string, cond: () => Promise<boolean> | boolean, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

// ------------------------------------------------------------------ kernel state

/** Writes a debugfs or proc file. */
function put(path: string, value: string | number): void {
  writeFileSync(path, String(value));
}

function allocsTotal(): number {
  const m = /^total (-?\d+)$/m.exec(readFileSync(join(FAULTS, 'allocs'), 'utf8'));
  if (!m) throw new Error('no total in koffload/allocs');
  return Number(m[1]);
}

/** Arms one of koffload's fault points (or the kernel's failslab / fail_page_alloc). */
function arm(dir: string, opts: { probability: number; times: number; interval?: number; taskFilter?: boolean }): void {
  put(join(dir, 'verbose'), 0);
  put(join(dir, 'interval'), opts.interval ?? 1);
  put(join(dir, 'times'), opts.times);
  put(join(dir, 'task-filter'), opts.taskFilter ? 'Y' : 'N');
  put(join(dir, 'probability'), opts.probability);
}

/** Disarms a fault point; returns how many of its `times` were used. */
function disarm(dir: string, times: number): number {
  put(join(dir, 'probability'), 0);
  const left = Number(readFileSync(join(dir, 'times'), 'utf8').trim());
  return left < 0 ? 0 : times - left;
}

const REPORT_PATTERNS: RegExp[] = [
  /BUG: /,
  /WARNING: CPU: \d+ PID: /,
  /WARNING: (possible|suspicious|inconsistent|bad unlock|held lock|lock held|[Nn]ested lock|Missing)/,
  /KASAN/,
  /UBSAN/,
  /possible circular locking/,
  /possible recursive locking/,
  /inconsistent lock state/,
  /suspicious RCU usage/,
  /sleeping function called from invalid context/,
  /scheduling while atomic/,
  /blocked for more than \d+ seconds/,
  /rcu: INFO|rcu_preempt detected stalls|self-detected stall/,
  /soft lockup/,
  /general protection fault/,
  /Oops/,
  /list_(add|del) corruption/,
  /ODEBUG/,
  /kmemleak: .*suspected memory leak/,
  /lockdep: /,
  /INFO: trying to register non-static key/,
  /Kernel panic/,
];

class KernelLog {
  /** timestamp of the last line taken: the ring buffer may have dropped older lines */
  private lastTs = -1;
  private unchecked: string[] = [];

  /** New kernel log lines since the last call; reports() still sees them. */
  take(): string[] {
    const lines = execFileSync('dmesg', { encoding: 'utf8', maxBuffer: 64 << 20 }).split('\n');
    const ts = (l: string): number => Number(/^\[\s*(\d+\.\d+)\]/.exec(l)?.[1] ?? NaN);
    const fresh = lines.filter((l) => l !== '' && !(ts(l) <= this.lastTs));
    for (const l of fresh) if (ts(l) > this.lastTs) this.lastTs = ts(l);
    this.unchecked.push(...fresh);
    return fresh;
  }

  /** Checker reports among the lines not checked yet, with a few lines of context each. */
  reports(): string[] {
    this.take();
    const lines = this.unchecked;
    this.unchecked = [];
    const out: string[] = [];
    lines.forEach((l, i) => {
      if (REPORT_PATTERNS.some((p) => p.test(l))) out.push(lines.slice(i, i + 12).join('\n'));
    });
    return out;
  }
}

/** kmemleak: scan, and the suspected leaks not seen before. */
class Kmemleak {
  readonly available = existsSync(join(DEBUGFS, 'kmemleak'));

  scan(): string[] {
    if (!this.available) return [];
    put(join(DEBUGFS, 'kmemleak'), 'scan');
    const text = readFileSync(join(DEBUGFS, 'kmemleak'), 'utf8');
    // forget what this scan reported, so the next one shows only new leaks
    put(join(DEBUGFS, 'kmemleak'), 'clear');
    return text.split(/\n(?=unreferenced object)/).filter((s) => s.startsWith('unreferenced object'));
  }
}

// ------------------------------------------------------------------ the matrix

interface Row {
  fault: string;
  /** how often the fault was injected */
  injected: number;
  calls: number;
  outcomes: Partial<Record<OutcomeKey, bigint>>;
  /** longest wait of any caller, ms, and the deadline it had */
  maxWaitMs: number;
  deadlineMs: number;
  slackMs: number;
  overDeadline: number;
  lost: number;
  leaks: number;
  reports: number;
  failures: string[];
  notes: string[];
  fuzzed: number;
  seconds: number;
}

interface Scenario {
  row: Row;
  /** books a finished run of `subsys` */
  book(subsys: Subsys, res: RunResult, requested: number, deadlineMs: number, extraSlackMs?: number): void;
  expect(cond: boolean, what: string): void;
  note(s: string): void;
}

const rows: Row[] = [];

// ------------------------------------------------------------------ shared clients

let kc: KoffloadClient;
let kt: KtestClient;
const klog = new KernelLog();
const leak = new Kmemleak();

async function info(name: Subsys) {
  return kc.getSubsys(name);
}

/** ktest's circuit threshold as koffload_test.ko loaded it (koffload's default). */
let CIRCUIT_THRESHOLD = 5;
const CIRCUIT_PARAM = '/sys/module/koffload_test/parameters/circuit_threshold';

/**
 * Every other scenario holds ktest's circuit closed, so that each call
 * reaches the fault it is about instead of the circuit refusing all but a
 * probe a second after a few failures; the circuit has its own scenario.
 */
const CIRCUIT_HELD = 1_000_000;

function circuitThreshold(n: number): void {
  put(CIRCUIT_PARAM, n);
}

async function resetModes(): Promise<void> {
  for (const s of SUBSYS) {
    const i = await info(s);
    if (i.mode !== 'on' || i.canaryPermille !== 1000) await kc.setMode(i.subsysId, 'on', 1000);
  }
}

/** Starts a run and waits for its result. */
async function run(opts: RunOptions & { subsys: Subsys }): Promise<RunResult> {
  const id = await kt.run(opts);
  return kt.waitResult(id, { pollMs: 25, timeoutMs: 600_000 });
}

/** An in-process handler: `answer` decides for each REQUEST. */
class InHandler {
  requests = 0;
  held: KernelRequest[] = [];
  subsysId = 0;
  private constructor(readonly client: KoffloadClient) {}

  static async bind(
    name: Subsys,
    answer: (req: KernelRequest, h: InHandler) => void = (req, h) => h.client.reply(req.reqId, KOFFLOAD.status.ok, req.payload),
    recvBufferSize?: number,
  ): Promise<InHandler> {
    const client = await KoffloadClient.open(recvBufferSize ? { recvBufferSize } : {});
    const h = new InHandler(client);
    client.on('request', (req) => {
      h.requests++;
      if (req.reqId !== 0n) answer(req, h);
    });
    h.subsysId = (await client.bind({ name })).subsysId;
    return h;
  }

  close(): void {
    this.client.close();
  }
}

/** koffloadd with the fault policy, as a child process. */
class DaemonProc {
  private constructor(
    readonly proc: ChildProcess,
    readonly metricsPort: number,
  ) {}

  static async start(metricsPort: number, wrap: string[] = []): Promise<DaemonProc> {
    const argv = [
      ...wrap,
      process.execPath,
      join(root, 'dist', 'src', 'cli', 'koffloadd.js'),
      '--policy',
      join(here, 'fixtures', 'fault-policy.js'),
      '--metrics-port',
      String(metricsPort),
      // a throwing policy is logged per request: thousands of lines
      '--log-level',
      'silent',
    ];
    const proc = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'inherit', 'inherit'] });
    const d = new DaemonProc(proc, metricsPort);
    await waitFor('koffloadd to bind ktest and serve /metrics', async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`koffloadd exited (${proc.exitCode ?? proc.signalCode})`);
      const i = await info('ktest');
      // it listens for /metrics after it has bound
      return i.bound && i.boundPid === proc.pid && (await d.metrics().then(() => true, () => false));
    }, 120_000);
    return d;
  }

  get pid(): number {
    return this.proc.pid!;
  }

  get alive(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  async metrics(): Promise<Map<string, number>> {
    const text = await (await fetch(`http://127.0.0.1:${this.metricsPort}/metrics`)).text();
    const m = new Map<string, number>();
    for (const line of text.split('\n')) {
      const r = /^([a-z_]+(?:\{[^}]*\})?) (\S+)$/.exec(line);
      if (r) m.set(r[1]!, Number(r[2]));
    }
    return m;
  }

  async requests(outcome: string): Promise<number> {
    return (await this.metrics()).get(`koffload_requests_total{subsystem="ktest",op="echo",outcome="${outcome}"}`) ?? 0;
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (!this.alive) return;
    const gone = new Promise((r) => this.proc.once('exit', r));
    this.proc.kill(signal);
    await gone;
  }
}

function spawnChild(args: string[], opts: { uid?: number } = {}): { proc: ChildProcess; out: () => string; exited: Promise<number | null> } {
  const proc = spawn(process.execPath, [join(here, 'fixtures', 'child.js'), ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    ...(opts.uid !== undefined ? { uid: opts.uid, gid: opts.uid } : {}),
  });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return { proc, out: () => out, exited };
}

function fuzzBinary(): string {
  return join(here, 'fixtures', 'nl-fuzz');
}

function payload(tag: string): Buffer {
  return Buffer.from(tag, 'latin1');
}

// ------------------------------------------------------------------ running a scenario

async function scenario(fault: string, body: (s: Scenario) => Promise<void>): Promise<void> {
  if (ONLY && !ONLY.test(fault)) return;
  const row: Row = {
    fault,
    injected: 0,
    calls: 0,
    outcomes: {},
    maxWaitMs: 0,
    deadlineMs: 0,
    slackMs: SLACK_MS,
    overDeadline: 0,
    lost: 0,
    leaks: 0,
    reports: 0,
    failures: [],
    notes: [],
    fuzzed: 0,
    seconds: 0,
  };
  const t0 = Date.now();
  const seen = new Map<Subsys, Record<OutcomeKey, bigint>>();
  for (const s of SUBSYS) seen.set(s, Object.fromEntries(OUTCOMES.map((k) => [k, 0n])) as Record<OutcomeKey, bigint>);
  const base = new Map<Subsys, Record<OutcomeKey, bigint>>();
  for (const s of SUBSYS) base.set(s, { ...(await info(s)).outcomes });
  const allocs0 = allocsTotal();
  const sc: Scenario = {
    row,
    book(subsys, res, requested, deadlineMs, extraSlackMs = 0) {
      let sum = 0n;
      for (const k of OUTCOMES) {
        const n = res.outcomes[k];
        sum += n;
        seen.get(subsys)![k] += n;
        if (n) row.outcomes[k] = (row.outcomes[k] ?? 0n) + n;
      }
      row.calls += requested;
      if (sum !== BigInt(requested)) {
        row.lost += Math.abs(requested - Number(sum));
        row.failures.push(`a run of ${requested} calls ended ${sum} times`);
      }
      const waitMs = Number(res.maxWaitNs) / 1e6;
      if (waitMs > row.maxWaitMs) {
        row.maxWaitMs = waitMs;
        row.deadlineMs = deadlineMs;
      }
      row.slackMs = Math.max(row.slackMs, SLACK_MS + extraSlackMs);
      // the longest wait of each outcome against its deadline
      for (const k of OUTCOMES) {
        const w = Number(res.outcomeMaxWaitNs[k]) / 1e6;
        if (res.outcomes[k] && w > deadlineMs + SLACK_MS + extraSlackMs) {
          row.overDeadline += 1;
          row.failures.push(`outcome ${k} waited ${w.toFixed(1)} ms, deadline ${deadlineMs} ms + slack ${SLACK_MS + extraSlackMs} ms`);
        }
      }
    },
    expect(cond, what) {
      if (!cond) row.failures.push(what);
    },
    note(s) {
      row.notes.push(s);
    },
  };
  log(`--- ${fault}`);
  try {
    await body(sc);
  } catch (err) {
    row.failures.push(`scenario threw: ${(err as Error).stack ?? String(err)}`);
  }
  // invariants
  try {
    await resetModes();
    for (const s of SUBSYS) {
      await waitFor(`${s} pending back to 0`, async () => (await info(s)).pending === 0, 20_000).catch(() => {
        row.lost += 1;
        row.failures.push(`${s}: pending did not return to 0`);
      });
      const now = (await info(s)).outcomes;
      const b = base.get(s)!;
      const mine = seen.get(s)!;
      for (const k of OUTCOMES) {
        // ids may have changed if the module was reloaded: the scenario books those runs itself
        const delta = now[k] - (b[k] ?? 0n);
        if (delta !== mine[k] && !row.notes.includes('reloaded')) {
          row.lost += 1;
          row.failures.push(`${s}: kernel counted ${delta} ${k}, the runs ${mine[k]}`);
        }
      }
    }
    await waitFor('koffload allocations back to their start', () => allocsTotal() === allocs0, 10_000).catch(() => {
      row.leaks += 1;
      row.failures.push(`koffload/allocs total ${allocsTotal()}, was ${allocs0}`);
    });
  } catch (err) {
    row.failures.push(`invariant check threw: ${String(err)}`);
  }
  const leaks = leak.scan();
  if (leaks.length) {
    row.leaks += leaks.length;
    row.failures.push(`kmemleak: ${leaks.length} new suspected leaks:\n${leaks.slice(0, 3).join('\n')}`);
  }
  const reports = klog.reports();
  if (reports.length) {
    row.reports += reports.length;
    row.failures.push(`kernel reports:\n${reports.slice(0, 4).join('\n----\n')}`);
  }
  row.seconds = (Date.now() - t0) / 1000;
  rows.push(row);
  log(`${fault}: ${row.calls} calls, injected ${row.injected}, outcomes ${fmtOutcomes(row.outcomes)}, ` +
    `max wait ${row.maxWaitMs.toFixed(1)} ms (deadline ${row.deadlineMs}), ${row.failures.length ? 'FAILED' : 'ok'} (${row.seconds.toFixed(1)} s)`);
  for (const f of row.failures) log(`  ! ${f}`);
}

function fmtOutcomes(o: Partial<Record<OutcomeKey, bigint>>): string {
  return Object.entries(o)
    .filter(([, v]) => v)
    .map(([k, v]) => `${k.replace(/([A-Z])/g, '-$1').toLowerCase()} ${v}`)
    .join(', ') || '-';
}

// ------------------------------------------------------------------ scenarios: koffload's fault points

/** One of koffload's own fault points, `times` injections at `probability` percent, with an echo handler. */
async function kernelPoint(
  s: Scenario,
  point: string,
  opts: { times: number; probability: number; calls: number; timeoutMs: number; respSize?: number; extraSlackMs?: number },
): Promise<number> {
  const h = await InHandler.bind('ktest');
  const dir = join(FAULTS, point);
  arm(dir, { probability: opts.probability, times: opts.times });
  let injected = 0;
  try {
    const res = await run({ subsys: 'ktest', op: OP_ECHO, calls: opts.calls, threads: 4, timeoutMs: opts.timeoutMs, payload: payload('echo'), respSize: opts.respSize ?? 4096 });
    s.book('ktest', res, opts.calls, opts.timeoutMs, opts.extraSlackMs);
  } finally {
    injected = disarm(dir, opts.times);
    h.close();
  }
  s.row.injected += injected;
  return injected;
}

async function kernelScenarios(): Promise<void> {
  await scenario('fail_request_alloc (koffload fault point)', async (s) => {
    const n = await kernelPoint(s, 'fail_request_alloc', { times: 300, probability: 30, calls: calls(1500), timeoutMs: 1000 });
    s.expect(s.row.outcomes.sendFailure === BigInt(n), `send-failure ${s.row.outcomes.sendFailure ?? 0n}, injected ${n}`);
  });
  await scenario('fail_unicast (koffload fault point)', async (s) => {
    const n = await kernelPoint(s, 'fail_unicast', { times: 300, probability: 30, calls: calls(1500), timeoutMs: 1000 });
    s.expect(s.row.outcomes.sendFailure === BigInt(n), `send-failure ${s.row.outcomes.sendFailure ?? 0n}, injected ${n}`);
  });
  await scenario('drop_request after sending (koffload fault point)', async (s) => {
    const n = await kernelPoint(s, 'drop_request', { times: 60, probability: 10, calls: calls(800), timeoutMs: 1000 });
    // a dropped request ends at its deadline (a slow round trip may too)
    s.expect((s.row.outcomes.deadline ?? 0n) >= BigInt(n), `deadline ${s.row.outcomes.deadline ?? 0n}, injected ${n}`);
  });
  await scenario('delay_wakeup 20 ms (koffload fault point)', async (s) => {
    put(join(FAULTS, 'delay_wakeup_us'), 20_000);
    const n = await kernelPoint(s, 'delay_wakeup', { times: 200, probability: 30, calls: calls(800), timeoutMs: 1000, extraSlackMs: 20 });
    s.expect(n > 0, 'delay_wakeup never fired');
    s.expect((s.row.outcomes.served ?? 0n) + (s.row.outcomes.deadline ?? 0n) === BigInt(s.row.calls), 'calls other than served or deadline');
    s.note('a reply that claimed its call completes it up to the injected 20 ms later: the slack includes them');
  });
  await scenario('corrupt_reply_status (koffload fault point)', async (s) => {
    const n = await kernelPoint(s, 'corrupt_reply_status', { times: 200, probability: 20, calls: calls(1000), timeoutMs: 1000 });
    s.expect(s.row.outcomes.handlerError === BigInt(n), `handler-error ${s.row.outcomes.handlerError ?? 0n}, injected ${n}`);
  });
  await scenario('corrupt_reply_length (koffload fault point)', async (s) => {
    const n = await kernelPoint(s, 'corrupt_reply_length', { times: 200, probability: 20, calls: calls(1000), timeoutMs: 1000 });
    s.expect(s.row.outcomes.malformed === BigInt(n), `malformed ${s.row.outcomes.malformed ?? 0n}, injected ${n}`);
  });
  await scenario('corrupt_reply_id (koffload fault point)', async (s) => {
    const late0 = (await info('ktest')).counters.lateReplies;
    const n = await kernelPoint(s, 'corrupt_reply_id', { times: 60, probability: 10, calls: calls(800), timeoutMs: 1000 });
    const late = (await info('ktest')).counters.lateReplies - late0;
    s.expect((s.row.outcomes.deadline ?? 0n) >= BigInt(n), `deadline ${s.row.outcomes.deadline ?? 0n}, injected ${n}`);
    s.expect(late >= BigInt(n), `late-replies grew by ${late}, injected ${n}`);
    s.expect((s.row.outcomes.served ?? 0n) <= BigInt(s.row.calls - n), 'a corrupted id served a call');
  });

  for (const [name, dir, extra] of [
    ['failslab (task filter: the calling thread)', 'failslab', {}],
    ['fail_page_alloc (task filter: the calling thread)', 'fail_page_alloc', { 'min-order': 0 }],
  ] as const) {
    await scenario(name, async (s) => {
      const fdir = join(DEBUGFS, dir);
      for (const [k, v] of Object.entries(extra)) put(join(fdir, k), v);
      put(join(fdir, 'ignore-gfp-wait'), 'Y');
      const times = 100;
      arm(fdir, { probability: 100, times, taskFilter: true });
      const h = await InHandler.bind('ktest');
      let used = 0;
      try {
        // large requests: their skbs come from kmalloc-8k, refilled from pages
        const n = calls(400);
        const c = spawnChild(['caller', 'ktest', String(n), '1000', 'echo'.padEnd(3000, '.'), 'make-it-fail']);
        const code = await c.exited;
        used = disarm(fdir, times);
        s.expect(code === 0, `caller exited ${code}`);
        const id = Number(/RUN (\d+)/.exec(c.out())?.[1]);
        const res = await kt.waitResult(id);
        s.book('ktest', res, n, 1000);
      } finally {
        used = used || disarm(fdir, times);
        h.close();
      }
      s.row.injected += used;
      s.expect(used > 0, `${dir} never fired on the calling thread`);
      s.expect((s.row.outcomes.sendFailure ?? 0n) > 0n || used === 0, 'no send-failure from real allocation failures');
    });
  }

  await scenario('SIGKILL of a caller blocked in koffload_call()', async (s) => {
    const hold = await InHandler.bind('ktest', () => {});
    const kills = calls(8);
    try {
      for (let i = 0; i < kills; i++) {
        const before = hold.requests;
        const c = spawnChild(['caller', 'ktest', '1', '20000', 'hang']);
        await waitFor('the caller to be inside koffload_call()', () => hold.requests > before, 60_000);
        const t = Date.now();
        c.proc.kill('SIGKILL');
        await c.exited;
        const id = Number(/RUN (\d+)/.exec(c.out())?.[1]);
        const res = await kt.waitResult(id);
        s.book('ktest', res, 1, 20_000);
        s.expect(res.outcomes.signal === 1n, `killed caller ended ${fmtOutcomes(res.outcomes)}`);
        s.expect(Date.now() - t < 10_000, 'the killed caller took long to go');
        s.row.injected++;
      }
    } finally {
      hold.close();
    }
  });

  await scenario('unregister with calls pending (reregister)', async (s) => {
    const hold = await InHandler.bind('ktest2', () => {});
    try {
      const id = await kt.run({ subsys: 'ktest2', op: OP_ECHO, calls: calls(64), threads: 8, timeoutMs: 20_000, payload: payload('hang') });
      await waitFor('calls pending on ktest2', async () => (await info('ktest2')).pending > 0);
      put(join(DEBUGFS, 'koffload_test', 'reregister'), 'ktest2');
      const res = await kt.waitResult(id);
      s.row.injected++;
      s.note('reloaded'); // ktest2 has a new id and fresh counters
      s.book('ktest2', res, calls(64), 20_000);
      s.expect((res.outcomes.shutdown ?? 0n) > 0n, 'no call ended with shutdown');
    } finally {
      hold.close();
    }
  });
}

// ------------------------------------------------------------------ scenarios: userspace

async function daemonRun(s: Scenario, tag: string, n: number, timeoutMs: number, threads = 4): Promise<RunResult> {
  const res = await run({ subsys: 'ktest', op: OP_ECHO, calls: n, threads, timeoutMs, payload: payload(tag) });
  s.book('ktest', res, n, timeoutMs);
  return res;
}

async function userScenarios(): Promise<void> {
  const port = 9464;
  // koffloadd, started when a scenario first needs it, restarted when it is gone
  let d: DaemonProc | undefined;
  const daemon = async (): Promise<DaemonProc> => {
    const i = await info('ktest');
    if (!d || !d.alive || !i.bound || i.boundPid !== d.pid) {
      await d?.stop('SIGKILL');
      d = await DaemonProc.start(port);
    }
    return d;
  };

  const handlerFault = async (
    fault: string,
    tag: string,
    n: number,
    timeoutMs: number,
    check: (s: Scenario, res: RunResult, metric: (o: string) => Promise<number>, lateReplies: () => Promise<number>) => Promise<void>,
  ): Promise<void> => {
    await scenario(fault, async (s) => {
      const dd = await daemon();
      const m0 = await dd.metrics();
      const k0 = (await info('ktest')).counters;
      const res = await daemonRun(s, tag, n, timeoutMs);
      s.row.injected += Number((await info('ktest')).counters.requestsSent - k0.requestsSent);
      const metric = async (o: string): Promise<number> => {
        const key = `koffload_requests_total{subsystem="ktest",op="echo",outcome="${o}"}`;
        return ((await dd.metrics()).get(key) ?? 0) - (m0.get(key) ?? 0);
      };
      const lateReplies = async (): Promise<number> => Number((await info('ktest')).counters.lateReplies - k0.lateReplies);
      await check(s, res, metric, lateReplies);
      s.expect(dd.alive, 'koffloadd died');
    });
  };

  await handlerFault('handler hangs (koffloadd)', 'hang', calls(200), 200, async (s, res, metric, lateReplies) => {
    // past limits.abandonedMax unsettled handlers koffloadd refuses new work with ERROR (stalled)
    s.expect(res.outcomes.deadline + res.outcomes.handlerError === BigInt(calls(200)), 'hung calls ended otherwise than deadline or handler-error');
    await sleep(300);
    // Every handler-error is a stalled refusal; a refusal the kernel got
    // after the call's deadline (koffloadd saw the REQUEST late, under
    // emulation) ended it as deadline and counts as a late reply instead.
    // Hung handlers never reply, so only refusals (and expired DECLINEs)
    // can be late.
    const stalled = await metric('stalled');
    const late = await lateReplies();
    const errors = Number(res.outcomes.handlerError);
    s.expect(stalled >= errors && stalled <= errors + late, `koffloadd refused ${stalled} as stalled; the kernel saw ${errors} errors and ${late} late replies`);
    s.note(`stalled ${stalled}, handler-error ${errors}, late replies ${late}`);
    s.expect((await metric('abandoned')) > 0, 'koffloadd abandoned no hung handler');
  });
  // its hung handlers never settle: a fresh daemon for the next scenarios
  await d?.stop('SIGKILL');
  await handlerFault('handler slow, some past the deadline (koffloadd)', 'slow:150', calls(300), 250, async (s, res) => {
    s.expect(res.outcomes.served + res.outcomes.deadline === BigInt(calls(300)), 'slow calls ended otherwise than served or deadline');
    s.note(`served ${res.outcomes.served}, deadline ${res.outcomes.deadline}`);
  });
  await handlerFault('handler throws (koffloadd)', 'throw', calls(400), 1000, async (s, res, metric) => {
    s.expect(res.outcomes.handlerError === BigInt(calls(400)), 'throwing handler: calls ended otherwise');
    s.expect((await metric('error')) === Number(res.outcomes.handlerError), `daemon counted ${await metric('error')} errors, kernel ${res.outcomes.handlerError}`);
  });
  await handlerFault('handler returns the wrong type (koffloadd)', 'wrongtype', calls(300), 1000, async (s, res, metric) => {
    s.expect(res.outcomes.handlerError === BigInt(calls(300)), 'wrong type: calls ended otherwise');
    s.expect((await metric('bad_response')) === Number(res.outcomes.handlerError), 'daemon bad_response count differs from the kernel\'s handler-error');
  });
  await handlerFault('handler returns over the size limit (koffloadd)', 'oversize', calls(300), 1000, async (s, res, metric) => {
    s.expect(res.outcomes.handlerError === BigInt(calls(300)), 'oversize: calls ended otherwise');
    s.expect((await metric('bad_response')) === Number(res.outcomes.handlerError), 'daemon bad_response count differs from the kernel\'s handler-error');
  });

  await scenario('circuit breaker under a throwing handler (koffloadd)', async (s) => {
    await daemon();
    const opens0 = (await info('ktest')).counters.circuitOpens;
    const n = calls(600);
    // a success first: the failures counted while the circuit was held
    // closed would open it at the first error
    s.book('ktest', await run({ subsys: 'ktest', op: OP_ECHO, calls: 1, timeoutMs: 1000, payload: payload('echo') }), 1, 1000);
    // one caller, so the failures are consecutive: the circuit opens after CIRCUIT_THRESHOLD
    circuitThreshold(CIRCUIT_THRESHOLD);
    let res: RunResult;
    try {
      res = await daemonRun(s, 'throw', n, 1000, 1);
    } finally {
      circuitThreshold(CIRCUIT_HELD);
    }
    const opens = (await info('ktest')).counters.circuitOpens - opens0;
    s.row.injected += Number(res.outcomes.handlerError);
    s.expect(opens > 0n && res.outcomes.circuitOpen > 0n, `the circuit never opened (opens ${opens}, circuit-open ${res.outcomes.circuitOpen})`);
    s.expect(res.outcomes.handlerError >= BigInt(CIRCUIT_THRESHOLD), `only ${res.outcomes.handlerError} errors before it opened`);
    s.expect(res.outcomes.handlerError + res.outcomes.circuitOpen === BigInt(n), 'calls ended otherwise than handler-error or circuit-open');
    s.note(`circuit opened ${opens} times`);
    // it cools down, and a served probe closes it for what follows
    await sleep(1200);
    s.book('ktest', await run({ subsys: 'ktest', op: OP_ECHO, calls: 1, timeoutMs: 1000, payload: payload('echo') }), 1, 1000);
    s.expect((await info('ktest')).circuit === 'closed', 'a served probe did not close the circuit');
  });

  await scenario('koffloadd SIGKILLed with calls in flight', async (s) => {
    for (let i = 0; i < 3; i++) {
      const dd = await daemon();
      const n = calls(64);
      const id = await kt.run({ subsys: 'ktest', op: OP_ECHO, calls: n, threads: 16, timeoutMs: 20_000, payload: payload('hang') });
      await waitFor('calls pending', async () => (await info('ktest')).pending >= 8, 60_000);
      const t = Date.now();
      await dd.stop('SIGKILL');
      const res = await kt.waitResult(id);
      s.book('ktest', res, n, 20_000);
      s.row.injected++;
      s.expect(res.outcomes.handlerDied > 0n, 'no call saw the handler die');
      s.expect(Date.now() - t < 10_000, 'pending calls waited for their deadline');
    }
  });

  await scenario('koffloadd SIGSTOPped past the deadlines, then SIGCONTed', async (s) => {
    const dd = await daemon();
    const late0 = (await info('ktest')).counters.lateReplies;
    const id = await kt.run({ subsys: 'ktest', op: OP_ECHO, calls: calls(200), threads: 8, timeoutMs: 100, payload: payload('echo') });
    await sleep(50);
    dd.proc.kill('SIGSTOP');
    s.row.injected++;
    const res = await kt.waitResult(id);
    await sleep(300);
    dd.proc.kill('SIGCONT');
    s.book('ktest', res, calls(200), 100);
    await sleep(2000); // the circuit cools down, late replies arrive
    const after = await daemonRun(s, 'echo', calls(100), 1000);
    const late = (await info('ktest')).counters.lateReplies - late0;
    s.expect(after.outcomes.served > 0n, 'koffloadd did not serve after SIGCONT');
    s.note(`late replies after SIGCONT: ${late}`);
  });

  await scenario('koffloadd restarted in a loop while calls run', async (s) => {
    let dd = await daemon();
    let restarting = true;
    // runs of calls for as long as the daemon restarts
    const calling = (async () => {
      while (restarting) {
        const n = calls(200);
        s.book('ktest', await run({ subsys: 'ktest', op: OP_ECHO, calls: n, threads: 4, timeoutMs: 200, payload: payload('slow:2') }), n, 200);
      }
    })();
    try {
      for (let i = 0; i < 4; i++) {
        await sleep(300);
        await dd.stop(i % 2 ? 'SIGKILL' : 'SIGTERM');
        s.row.injected++;
        dd = await daemon();
      }
    } finally {
      restarting = false;
      await calling;
    }
  });
  await d?.stop('SIGTERM');

  await scenario('duplicate replies', async (s) => {
    const h = await InHandler.bind('ktest', (req, hh) => {
      hh.client.reply(req.reqId, KOFFLOAD.status.ok, req.payload);
      hh.client.reply(req.reqId, KOFFLOAD.status.ok, req.payload);
    });
    const late0 = (await info('ktest')).counters.lateReplies;
    try {
      const n = calls(1000);
      const res = await run({ subsys: 'ktest', op: OP_ECHO, calls: n, threads: 4, timeoutMs: 1000, payload: payload('echo'), flags: ['checkEcho'] });
      s.book('ktest', res, n, 1000);
      s.row.injected += n;
      await sleep(200);
      const late = (await info('ktest')).counters.lateReplies - late0;
      s.expect(res.outcomes.served === BigInt(n), 'duplicates changed an outcome');
      s.expect(res.intact === BigInt(n), 'a served reply was not intact');
      s.expect(late === BigInt(n), `late-replies grew by ${late}, duplicates ${n}`);
    } finally {
      h.close();
    }
  });

  await scenario('replies for the ids of another subsystem', async (s) => {
    const victim = await InHandler.bind('ktest', (req, hh) => hh.held.push(req));
    const forger = await InHandler.bind('ktest2', () => {});
    const foreign0 = (await info('ktest')).counters.foreignReplies;
    try {
      const n = calls(300);
      const id = await kt.run({ subsys: 'ktest', op: OP_ECHO, calls: n, threads: 8, timeoutMs: 100, payload: payload('echo') });
      // forward every request of ktest to the kernel from ktest2's handler
      const timer = setInterval(() => {
        for (const r of victim.held.splice(0)) {
          forger.client.reply(r.reqId, KOFFLOAD.status.ok, r.payload);
          s.row.injected++;
        }
      }, 2);
      const res = await kt.waitResult(id);
      clearInterval(timer);
      s.book('ktest', res, n, 100);
      await sleep(100);
      const foreign = (await info('ktest')).counters.foreignReplies - foreign0;
      s.expect(res.outcomes.served === 0n, 'a forged reply served a call');
      s.expect(foreign >= BigInt(s.row.injected) - 16n, `foreign-replies grew by ${foreign}, forged ${s.row.injected}`);
    } finally {
      victim.close();
      forger.close();
    }
  });

  await scenario('bind and unbind races from 4 processes', async (s) => {
    const kids = [1, 2, 3, 4].map((i) => spawnChild(['binder', 'ktest2', '15000', String(i * 7919)]));
    let running = kids.length;
    for (const k of kids) void k.exited.then(() => running--);
    await waitFor('a binder to bind ktest2', async () => (await info('ktest2')).bound, 120_000);
    // runs of calls for as long as the binders race
    while (running > 0) {
      const n = calls(200);
      const res = await run({ subsys: 'ktest2', op: OP_ECHO, calls: n, threads: 4, timeoutMs: 1000, payload: payload('echo') });
      s.book('ktest2', res, n, 1000);
    }
    s.expect((s.row.outcomes.served ?? 0n) > 0n, 'no call was served while the binders raced');
    let binds = 0;
    for (const k of kids) {
      const st = JSON.parse(k.out().trim().split('\n').pop() ?? '{}') as { binds?: number; errors?: number };
      binds += st.binds ?? 0;
      s.expect((st.errors ?? 0) === 0, `a binder saw unexpected errors: ${k.out().trim()}`);
    }
    s.row.injected += binds;
    s.expect(binds > 4, `only ${binds} binds`);
    await waitFor('ktest2 unbound', async () => !(await info('ktest2')).bound, 10_000).catch(() => s.expect(false, 'ktest2 still bound after every binder left'));
  });

  await scenario('handler socket buffer overflow', async (s) => {
    const h = await InHandler.bind('ktest', () => {}, 4096);
    try {
      const n = calls(400);
      const res = await run({ subsys: 'ktest', op: OP_ECHO, calls: n, threads: 8, timeoutMs: 50, payload: payload('echo'.padEnd(2000, '.')) });
      s.book('ktest', res, n, 50);
      s.row.injected += Number(res.outcomes.overload);
      s.expect(res.outcomes.overload > 0n, 'a full socket buffer never made a call fall back');
    } finally {
      h.close();
    }
  });

  await scenario('memory pressure on koffloadd (memcg limit) with reclaim-context callers', async (s) => {
    const cg = '/sys/fs/cgroup';
    if (!existsSync(join(cg, 'cgroup.controllers'))) execFileSync('mount', ['-t', 'cgroup2', 'none', cg]);
    put(join(cg, 'cgroup.subtree_control'), '+memory');
    const grp = join(cg, 'koffloadd');
    if (!existsSync(grp)) mkdirSync(grp);
    put(join(grp, 'memory.high'), String(96 << 20));
    put(join(grp, 'memory.max'), String(192 << 20));
    if (existsSync(join(grp, 'memory.swap.max'))) put(join(grp, 'memory.swap.max'), '0');
    // the daemon starts inside the group: a shell that joins it, then execs node
    const dm = await DaemonProc.start(port, ['/bin/sh', '-c', `echo $$ > ${grp}/cgroup.procs && exec "$@"`, 'sh']);
    try {
      // 4 MiB more per call: the daemon goes past memory.high (reclaimed and
      // throttled there) towards memory.max (where the OOM killer may end it)
      const pressure = kt.run({ subsys: 'ktest', op: OP_ECHO, calls: calls(45), threads: 2, timeoutMs: 1000, payload: payload('alloc:4') });
      const reclaimers: Promise<RunResult>[] = [];
      for (const context of ['noreclaim', 'kswapd', 'nofs', 'noio'] as const) {
        reclaimers.push(run({ subsys: 'ktest', op: OP_ECHO, calls: calls(250), threads: 2, timeoutMs: 1000, context, payload: payload('echo') }));
      }
      const res = await kt.waitResult(await pressure, { pollMs: 50, timeoutMs: 600_000 });
      s.book('ktest', res, calls(45), 1000);
      for (const r of await Promise.all(reclaimers)) {
        s.book('ktest', r, calls(250), 0);
        s.expect(r.outcomes.reclaim === BigInt(calls(250)), `a reclaim-context caller ended otherwise: ${fmtOutcomes(r.outcomes)}`);
      }
      const events = readFileSync(join(grp, 'memory.events'), 'utf8').replace(/\n/g, ' ');
      for (const ev of ['high', 'max', 'oom_kill']) s.row.injected += Number(new RegExp(`\\b${ev} (\\d+)`).exec(events)?.[1] ?? 0);
      s.note(`memcg events: ${events}`);
    } finally {
      await dm.stop('SIGKILL');
    }
  });

  await scenario('module reload while koffloadd runs', async (s) => {
    const dm = await DaemonProc.start(port);
    s.note('reloaded');
    const n = calls(64);
    const runId = await kt.run({ subsys: 'ktest', op: OP_ECHO, calls: n, threads: 8, timeoutMs: 20_000, payload: payload('hang') });
    await waitFor('calls pending', async () => (await info('ktest')).pending > 0, 60_000);
    kt.close();
    kc.close();
    klog.take();
    for (const m of ['koffload_test', 'koffload_kunit', 'koffload']) {
      if (readFileSync('/proc/modules', 'utf8').split('\n').some((l) => l.startsWith(`${m} `))) execFileSync('rmmod', [m]);
    }
    s.row.injected++;
    // koffload_test reports every run it still had when it went:
    // "run N ktest context normal interrupted at unload: started=S ended=E outcomes: i=n ..."
    const reported = klog.take().filter((l) => /koffload_test: run \d+ .* at unload:/.test(l));
    // runs of earlier scenarios that nobody read are reported too
    const left = reported.filter((l) => new RegExp(`koffload_test: run ${runId} `).test(l));
    s.expect(left.length === 1, `koffload_test reported ${reported.length} runs at unload, ${left.length} of them run ${runId}`);
    for (const l of left) {
      const started = Number(/started=(\d+)/.exec(l)?.[1]);
      const ended = Number(/ended=(\d+)/.exec(l)?.[1]);
      s.row.calls += started;
      if (started !== ended) {
        s.row.lost += Math.abs(started - ended);
        s.row.failures.push(`unload: ${started} calls started, ${ended} ended`);
      }
      for (const m of l.matchAll(/ (\d+)=(\d+)/g)) {
        const k = KOFFLOAD.outcomeKeys[Number(m[1])] as OutcomeKey;
        s.row.outcomes[k] = (s.row.outcomes[k] ?? 0n) + BigInt(m[2]!);
      }
      s.expect(started > 0 && started <= n, `unload report: ${l}`);
    }
    for (const m of ['koffload', 'koffload_test']) execFileSync('insmod', [join(KMOD_DIR, `${m}.ko`)]);
    circuitThreshold(CIRCUIT_HELD);
    kc = await KoffloadClient.open();
    kt = await KtestClient.open();
    await sleep(500);
    s.expect(dm.alive || dm.proc.exitCode !== null, 'koffloadd state unknown');
    s.note(`koffloadd after the reload: ${dm.alive ? 'running' : `exited ${dm.proc.exitCode ?? dm.proc.signalCode}`}`);
    await dm.stop('SIGKILL');
    // a fresh daemon serves the reloaded module
    const d2 = await DaemonProc.start(port);
    const res = await run({ subsys: 'ktest', op: OP_ECHO, calls: calls(100), threads: 4, timeoutMs: 1000, payload: payload('echo') });
    s.book('ktest', res, calls(100), 1000);
    s.expect(res.outcomes.served === BigInt(calls(100)), 'the reloaded module did not serve');
    await d2.stop();
  });
}

// ------------------------------------------------------------------ scenarios: hostile input

async function fuzzScenarios(): Promise<void> {
  const family = kc.familyId;
  const ids = await Promise.all(SUBSYS.map(async (s) => (await info(s)).subsysId));
  const per = Math.ceil(FUZZ / 3);
  for (const mode of ['priv', 'unpriv', 'bound'] as const) {
    await scenario(`genl fuzzer, ${mode} socket, calls in flight`, async (s) => {
      // the bound fuzzer is ktest's handler (and answers its calls with mutated replies)
      let h = mode === 'bound' ? undefined : await InHandler.bind('ktest');
      try {
        const target: Subsys = 'ktest';
        const args = [mode, String(family), String(per), String(Date.now() & 0xffff), String(ids[0]), String(ids[1])];
        if (mode === 'bound') args.push('ktest');
        const fz = spawn(fuzzBinary(), args, { stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        fz.stdout.on('data', (b: Buffer) => (out += b.toString()));
        let alive = true;
        const exited = new Promise<number | null>((r) => fz.once('exit', (code) => ((alive = false), r(code))));
        if (mode === 'bound') await waitFor('the fuzzer to bind ktest', async () => !alive || (await info('ktest')).bound, 60_000);
        // calls in flight for as long as the fuzzer sends
        while (alive) {
          const n = calls(200);
          const res = await run({ subsys: target, op: OP_ECHO, calls: n, threads: 4, timeoutMs: 1000, payload: payload('echo') });
          s.book(target, res, n, 1000);
        }
        const code = await exited;
        s.expect(code === 0, `nl-fuzz exited ${code}`);
        const st = JSON.parse(out.trim().split('\n').pop() ?? '{}') as { sent: number; bindErr: number; requests: number; replies: number; errors: number; acks: number };
        s.row.fuzzed += st.sent;
        s.row.injected += st.sent;
        s.note(`sent ${st.sent}, errors ${st.errors}, acks ${st.acks}, requests ${st.requests}, replies ${st.replies}`);
        if (mode === 'bound') {
          s.expect(st.bindErr === 0, `the bound fuzzer could not bind ktest (${st.bindErr})`);
          await waitFor('the fuzzer released ktest', async () => !(await info('ktest')).bound, 10_000);
          h = await InHandler.bind('ktest');
        }
        // the handler still works (a fuzzed SET-MODE may have changed a mode)
        await resetModes();
        const after = await run({ subsys: 'ktest', op: OP_ECHO, calls: 50, threads: 2, timeoutMs: 1000, payload: payload('echo'), flags: ['checkEcho'] });
        s.book('ktest', after, 50, 1000);
        s.expect(after.outcomes.served === 50n && after.intact === 50n, `after the fuzzer: ${fmtOutcomes(after.outcomes)}`);
      } finally {
        h?.close();
      }
    });
  }

  await scenario('daemon decoder: mutated REQUESTs from a fake kernel side', async (s) => {
    // a simulator, and a relay between it and an in-process koffloadd that
    // mutates one REQUEST in MUTATE_ONE_IN on the way (more, and the
    // failures they cause keep the simulator's circuit open)
    const MUTATE_ONE_IN = 6;
    const SIM_TIMEOUT_MS = 200;
    const sim = await startSimulator({ transport: 'netlink', stateFile: null });
    const relay = openGenlSocket({ recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
    const simOpts = sim.clientOptions();
    const simPort = simOpts.peerPort!;
    let daemonPort = 0;
    let mutated = 0;
    let x = 0x9e3779b9;
    const rnd = (n: number): number => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return (x >>> 0) % n;
    };
    const mutate = (b: Buffer): Buffer[] => {
      const c = Buffer.from(b);
      switch (rnd(7)) {
        case 0:
          for (let i = 0; i < 1 + rnd(4); i++) {
            const at = 16 + rnd(c.length - 16);
            c[at] = (c[at] ?? 0) ^ (1 << rnd(8));
          }
          return [c];
        case 1:
          return [c.subarray(0, rnd(c.length))];
        case 2: {
          const g = Buffer.alloc(4 + rnd(64));
          for (let i = 0; i < g.length; i++) g[i] = rnd(256);
          g.writeUInt16LE(g.length, 0);
          const out = Buffer.concat([c, g]);
          out.writeUInt32LE(out.length, 0);
          return [out];
        }
        case 3:
          c.writeUInt32LE(c.length + 1 + rnd(64), 0);
          return [c];
        case 4:
          return [c, Buffer.from(c)];
        case 5:
          // the payload's protobuf bytes: flip the last ones
          for (let i = 0; i < 1 + rnd(3); i++) {
            const at = c.length - 1 - rnd(Math.min(8, c.length - 20));
            c[at] = (c[at] ?? 0) ^ 0xff;
          }
          return [c];
        default:
          for (let i = 20; i < c.length; i++) if (!rnd(8)) c[i] = rnd(256);
          return [c];
      }
    };
    const mutating = (buf: Buffer, from: number): void => {
      if (from === simPort) {
        if (daemonPort && buf.length > 20 && buf[16] === 3 /* REQUEST */ && !rnd(MUTATE_ONE_IN)) {
          mutated++;
          for (const m of mutate(buf)) void relay.send([m], { port: daemonPort }).catch(() => {});
        } else if (daemonPort) {
          void relay.send([buf], { port: daemonPort }).catch(() => {});
        }
      } else {
        daemonPort = from;
        void relay.send([buf], { port: simPort }).catch(() => {});
      }
    };
    relay.on('datagram', mutating);
    const logger = createLogger({ level: 'silent' });
    const daemon = await Daemon.start({
      config: { policies: [join(here, 'fixtures', 'fault-policy.js')], metricsPort: 0 },
      target: { kind: 'sim', koffload: { ...simOpts, peerPort: relay.portId } },
      logger,
    });
    try {
      const outcomes: Record<string, number> = {};
      let total = 0;
      let simMaxWaitMs = 0;
      const end = Date.now() + 600_000;
      // until DECODER_FUZZ REQUESTs were mutated; an open circuit sends none, so wait it out
      while (mutated < DECODER_FUZZ && Date.now() < end) {
        const batch = await Promise.all(
          Array.from({ length: 32 }, () => sim.call('ktest', OP_ECHO, Buffer.from([0x0a, 0x04, 0x65, 0x63, 0x68, 0x6f, 0x10, 0x01]), { timeoutMs: SIM_TIMEOUT_MS })),
        );
        total += batch.length;
        for (const r of batch) {
          outcomes[r.outcome] = (outcomes[r.outcome] ?? 0) + 1;
          // the simulator's deadlines are timers of this busy event loop
          // (simulator, relay and daemon share it): shown, not held to the
          // kernel's slack
          simMaxWaitMs = Math.max(simMaxWaitMs, Number(r.waitNs) / 1e6);
        }
        if (batch.some((r) => r.outcome === 'circuitOpen')) await sleep(250);
      }
      s.expect(mutated >= DECODER_FUZZ, `only ${mutated} REQUESTs mutated in 600 s`);
      s.note(`the simulator's callers (${SIM_TIMEOUT_MS} ms deadlines, timers of the suite's own event loop) waited at most ${simMaxWaitMs.toFixed(0)} ms`);
      const sum = Object.values(outcomes).reduce((a, b) => a + b, 0);
      s.expect(sum === total, `calls ${total}, outcomes ${sum}`);
      s.row.calls += total;
      for (const [k, v] of Object.entries(outcomes)) {
        const key = k.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()) as OutcomeKey;
        s.row.outcomes[key] = (s.row.outcomes[key] ?? 0n) + BigInt(v);
      }
      const text = await (await fetch(`http://127.0.0.1:${daemon.metricsPort}/metrics`)).text();
      const metric = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
      const badReq = [...text.matchAll(/^koffload_requests_total\{[^}]*outcome="bad_request"\} (\S+)$/gm)].reduce((a, m) => a + Number(m[1]), 0);
      const dropped = metric('koffload_decode_errors_total') + badReq;
      s.row.injected += mutated;
      s.row.fuzzed += mutated;
      s.note(`mutated ${mutated}; koffloadd dropped ${metric('koffload_decode_errors_total')} undecodable (${metric('koffload_malformed_requests_total')} malformed REQUESTs, ${metric('koffload_malformed_declined_total')} declined at once), ${badReq} bad payloads`);
      s.expect(dropped > 0, 'the daemon counted nothing it dropped');
      // it still serves: a clean batch through the relay, no mutations
      const savedRnd = mutated;
      let clean = 0;
      relay.off('datagram', mutating);
      await sleep(1500); // the circuit cools down
      relay.on('datagram', (buf, from) => void relay.send([buf], { port: from === simPort ? daemonPort : simPort }).catch(() => {}));
      for (let i = 0; i < 100; i++) if ((await sim.call('ktest', OP_ECHO, Buffer.from([0x10, 0x01]), { timeoutMs: 1000 })).outcome === 'served') clean++;
      s.row.calls += 100;
      s.row.outcomes.served = (s.row.outcomes.served ?? 0n) + BigInt(clean);
      s.expect(clean === 100, `after ${savedRnd} mutated REQUESTs koffloadd served ${clean} of 100 clean calls`);
      if (clean !== 100) s.row.outcomes.deadline = (s.row.outcomes.deadline ?? 0n) + BigInt(100 - clean);
    } finally {
      await daemon.stop();
      relay.close();
      await sim.close();
    }
  });
}

// ------------------------------------------------------------------ KUnit

interface KunitResult {
  suites: number;
  cases: number;
  failed: string[];
}

function kunitResults(): KunitResult {
  const dir = join(DEBUGFS, 'kunit');
  const res: KunitResult = { suites: 0, cases: 0, failed: [] };
  if (!existsSync(dir)) {
    res.failed.push('no /sys/kernel/debug/kunit');
    return res;
  }
  for (const suite of readdirSync(dir).filter((d) => d.startsWith('koffload_'))) {
    res.suites++;
    const text = readFileSync(join(dir, suite, 'results'), 'utf8');
    for (const m of text.matchAll(/^\s*(not ok|ok) \d+ (?:- )?(\S+)/gm)) {
      if (m[2] === suite) {
        if (m[1] === 'not ok') res.failed.push(`suite ${suite}`);
        continue;
      }
      res.cases++;
      if (m[1] === 'not ok') res.failed.push(`${suite}.${m[2]}`);
    }
    if (/not ok/.test(text) && !res.failed.some((f) => f.startsWith(suite) || f === `suite ${suite}`)) res.failed.push(`suite ${suite}`);
  }
  if (res.suites < 4) res.failed.push(`only ${res.suites} koffload KUnit suites ran`);
  return res;
}

// ------------------------------------------------------------------ main

function printMatrix(k: KunitResult): string[] {
  const lines = [
    '| # | fault | injected | calls | outcomes seen | longest caller wait (deadline + slack) | invariants |',
    '|---|---|---:|---:|---|---|---|',
  ];
  rows.forEach((r, i) => {
    const wait = `${r.maxWaitMs.toFixed(1)} ms (${r.deadlineMs} + ${r.slackMs} ms)`;
    const inv = r.failures.length ? `**FAILED**: ${r.failures.length}` : 'held';
    lines.push(`| ${i + 1} | ${r.fault} | ${r.injected} | ${r.calls} | ${fmtOutcomes(r.outcomes)} | ${wait} | ${inv} |`);
  });
  lines.push('', `KUnit: ${k.suites} suites, ${k.cases} cases, ${k.failed.length ? `FAILED: ${k.failed.join(', ')}` : 'all passed'}`);
  const notes = rows.filter((r) => r.notes.length).map((r) => `- ${r.fault}: ${r.notes.filter((n) => n !== 'reloaded').join('; ')}`);
  if (notes.length) lines.push('', 'Notes:', ...notes.filter((n) => !n.endsWith(': ')));
  return lines;
}

async function main(): Promise<number> {
  const t0 = Date.now();
  // keep kernel messages off the console: the suite reads dmesg itself
  put('/proc/sys/kernel/printk', '4 4 1 7');
  const kunit = kunitResults();
  log(`KUnit: ${kunit.suites} suites, ${kunit.cases} cases, failed: ${kunit.failed.join(', ') || 'none'}`);
  assert.ok(existsSync(join(FAULTS, 'allocs')), 'koffload.ko was not built with KOFFLOAD_FAULT_INJECT=y');
  kc = await KoffloadClient.open();
  kt = await KtestClient.open();
  CIRCUIT_THRESHOLD = Number(readFileSync(CIRCUIT_PARAM, 'utf8').trim());
  circuitThreshold(CIRCUIT_HELD);
  // what boot and module load left is not ours
  leak.scan();
  const bootReports = klog.reports();

  await kernelScenarios();
  await userScenarios();
  await fuzzScenarios();

  const total = (f: (r: Row) => number): number => rows.reduce((a, r) => a + f(r), 0);
  const kinds = rows.filter((r) => r.injected > 0).length;
  const fuzzed = total((r) => r.fuzzed);
  const faultedCalls = total((r) => r.calls);
  const over = total((r) => r.overDeadline);
  const lost = total((r) => r.lost);
  const leaks = total((r) => r.leaks);
  const reports = total((r) => r.reports) + bootReports.length;
  const failed = rows.filter((r) => r.failures.length);

  const matrix = printMatrix(kunit);
  console.log('KOFFLOAD_FAULT_MATRIX_BEGIN');
  for (const l of matrix) console.log(l);
  console.log('KOFFLOAD_FAULT_MATRIX_END');
  if (bootReports.length) log(`kernel reports before the first scenario:\n${bootReports.join('\n----\n')}`);
  for (const r of failed) log(`FAILED ${r.fault}:\n  ${r.failures.join('\n  ')}`);
  log(`${rows.length} scenarios in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  const short: string[] = [];
  if (!ONLY) {
    if (kinds < MIN_KINDS) short.push(`fault kinds ${kinds} < ${MIN_KINDS}`);
    if (fuzzed < MIN_FUZZED) short.push(`fuzzed ${fuzzed} < ${MIN_FUZZED}`);
    if (faultedCalls < MIN_CALLS) short.push(`faulted calls ${faultedCalls} < ${MIN_CALLS}`);
  }
  if (short.length) log(`under the bar: ${short.join(', ')}`);
  console.log(`fault_kinds=${kinds} fuzzed=${fuzzed} faulted_calls=${faultedCalls} over_deadline=${over} lost=${lost} leaks=${leaks} reports=${reports}`);
  kc.close();
  kt.close();
  return failed.length || kunit.failed.length || short.length || reports ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error('faults: the suite failed to run:', err);
    process.exit(2);
  },
);
