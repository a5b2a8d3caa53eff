// Shared pieces of the conformance suite: the target (koffload.ko in a
// QEMU guest, or the simulator), clients, a scriptable in-process handler,
// child handlers, and the ledger that checks after every test that the
// kernel's counters agree exactly with what the test's runs reported.
//
// KOFFLOAD_TARGET=kernel: the loaded modules, resolved by name.
// KOFFLOAD_TARGET=sim or unset: a simulator started in this process, on a
// real netlink socket when root (children reach it through its state file,
// named in $KOFFLOAD_SIM_STATE), else in memory (no child processes);
// KOFFLOAD_SIM_TRANSPORT=netlink|inproc chooses.
import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

import { cFixture } from '../c-fixture.js';
import { KoffloadClient, type KernelRequest, type SubsysInfo } from '../../src/kernel/client.js';
import type { FamilyClientOptions } from '../../src/kernel/family.js';
import { KtestClient, type RunOptions, type RunResult } from '../../src/kernel/test-client.js';
import { KOFFLOAD } from '../../src/generated/wire.js';
import { type SimClientOptions, type Simulator, startSimulator } from '../../src/sim/index.js';

export const here = dirname(fileURLToPath(import.meta.url));
/** Repository root (this file runs from dist/test/conformance). */
export const root = join(here, '..', '..', '..');

export type OutcomeKey = keyof typeof KOFFLOAD.outcome;
export type CounterKey = keyof typeof KOFFLOAD.counter;
export const OUTCOME_KEYS = Object.keys(KOFFLOAD.outcome) as OutcomeKey[];
export const COUNTER_KEYS = Object.keys(KOFFLOAD.counter) as CounterKey[];

export const SUBSYS = ['ktest', 'ktest2'] as const;
export type SubsysName = (typeof SUBSYS)[number];

const ktestProto = protobuf.loadSync(join(root, 'proto', 'ktest.proto'));
export const EchoRequest = ktestProto.lookupType('koffload.ktest.EchoRequest');
export const EchoResponse = ktestProto.lookupType('koffload.ktest.EchoResponse');

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** What the suite runs against. */
export interface Target {
  kind: 'kernel' | 'sim';
  /** the simulator, when kind is 'sim' */
  sim?: Simulator;
  /** 'netlink' on the kernel and on a netlink simulator, else 'inproc' */
  transport: 'netlink' | 'inproc';
  /** whether child processes can reach the target */
  children: boolean;
  /** options for a new KoffloadClient (a fresh in-memory socket for inproc) */
  koffload(opts?: SimClientOptions): FamilyClientOptions;
  /** options for a new KtestClient */
  ktest(): FamilyClientOptions;
  /** environment for child processes */
  childEnv: NodeJS.ProcessEnv;
  /** module log lines (the simulator's pr_info equivalents) */
  log: string[];
  close(): Promise<void>;
}

export const TARGET_KIND: 'kernel' | 'sim' = process.env.KOFFLOAD_TARGET === 'kernel' ? 'kernel' : 'sim';

let current: Target | undefined;

/** The target of the running suite (set by openTarget()). */
export function target(): Target {
  if (!current) throw new Error('openTarget() has not run');
  return current;
}

/** Opens the target named by KOFFLOAD_TARGET; a new simulator for 'sim'. */
export async function openTarget(): Promise<Target> {
  if (TARGET_KIND === 'kernel') {
    current = {
      kind: 'kernel',
      transport: 'netlink',
      children: true,
      koffload: () => ({}),
      ktest: () => ({}),
      childEnv: { ...process.env },
      log: [],
      close: () => Promise.resolve(),
    };
    return current;
  }
  const log: string[] = [];
  // KOFFLOAD_SIM_TRANSPORT=inproc runs the in-memory path as root too
  const forced = process.env.KOFFLOAD_SIM_TRANSPORT;
  const netlink = forced ? forced === 'netlink' : process.geteuid?.() === 0;
  const stateFile = netlink ? join(tmpdir(), `koffload-conformance-${process.pid}.json`) : null;
  const sim = await startSimulator({ transport: netlink ? 'netlink' : 'inproc', stateFile, log: (l) => log.push(l) });
  current = {
    kind: 'sim',
    sim,
    transport: sim.transport,
    children: sim.transport === 'netlink',
    koffload: (opts) => sim.clientOptions(opts),
    ktest: () => sim.testClientOptions(),
    childEnv: stateFile ? { ...process.env, KOFFLOAD_SIM_STATE: stateFile } : { ...process.env },
    log,
    close: async () => {
      await sim.close();
      if (stateFile) rmSync(stateFile, { force: true });
    },
  };
  return current;
}

export async function waitFor(what: string, cond: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** Rejects with the name of what did not happen when a promise takes longer than timeoutMs. */
export async function within<T>(what: string, p: Promise<T>, timeoutMs = 20_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** A function resolving with the first match of a regexp in the process's stdout, or "EXIT ..." if it ends without one. */
export function watchStdout(proc: ChildProcess): (re: RegExp) => Promise<string> {
  let out = '';
  let closed = false;
  const waiters: (() => void)[] = [];
  proc.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    for (const w of waiters) w();
  });
  // 'close': after the last of its output
  proc.once('close', () => {
    closed = true;
    for (const w of waiters) w();
  });
  return (re) =>
    new Promise((resolve) => {
      const check = (): void => {
        const m = re.exec(out);
        if (m) resolve(m[0]);
        else if (closed) resolve(`EXIT code=${proc.exitCode} signal=${proc.signalCode}`);
      };
      waiters.push(check);
      check();
    });
}

/** What the stall meters saw, ms: the longest oversleep of a 1 ms sleep on any CPU, and the largest p99 of one CPU. */
export interface StallReading {
  maxMs: number;
  p99Ms: number;
  /** the longest oversleep per CPU, in CPU order */
  perCpuMaxMs: number[];
}

/** The CPUs this machine has online (/sys/devices/system/cpu/online: "0-1", "0,2-3"). */
export function onlineCpus(): number[] {
  let list: string;
  try {
    list = readFileSync('/sys/devices/system/cpu/online', 'utf8').trim();
  } catch {
    return Array.from({ length: availableParallelism() }, (_, i) => i);
  }
  const cpus: number[] = [];
  for (const part of list.split(',')) {
    const [lo, hi = lo] = part.split('-').map(Number);
    if (!Number.isInteger(lo) || !Number.isInteger(hi)) throw new Error(`cannot read the online CPU list '${list}'`);
    for (let c = lo!; c <= hi!; c++) cpus.push(c);
  }
  return cpus;
}

/**
 * One stall meter (fixtures/stallmeter.c) bound to each online CPU, while a
 * test runs: how late the machine woke an ordinary task meanwhile. A caller
 * may wait past its deadline by that much (its wake-up was as late as every
 * task's on its CPU) and by no more. Undefined where the meter cannot be
 * built. stop() ends them and reads the result; their processes are in
 * procs for a test's own clean-up should it end before stop().
 */
export async function stallMeters(): Promise<{ procs: ChildProcess[]; stop(): Promise<StallReading> } | undefined> {
  const bin = cFixture('conformance', 'stallmeter');
  if (!bin) return undefined;
  const meters = onlineCpus().map((cpu) => {
    const proc = spawn(bin, [String(cpu)], { stdio: ['ignore', 'pipe', 'inherit'] });
    return { cpu, proc, line: watchStdout(proc) };
  });
  const kill = (): void => {
    for (const m of meters) if (m.proc.exitCode === null && m.proc.signalCode === null) m.proc.kill('SIGKILL');
  };
  try {
    for (const m of meters) {
      const ready = await within(`the stall meter on CPU ${m.cpu}`, m.line(/READY|EXIT.*/), 10_000);
      if (ready !== 'READY') throw new Error(`the stall meter on CPU ${m.cpu} did not start: ${ready}`);
    }
  } catch (err) {
    kill();
    throw err;
  }
  return {
    procs: meters.map((m) => m.proc),
    async stop(): Promise<StallReading> {
      const perCpuMaxMs: number[] = [];
      let p99Ms = 0;
      try {
        for (const m of meters) m.proc.kill('SIGTERM');
        for (const m of meters) {
          const line = await within(`the stall meter on CPU ${m.cpu}`, m.line(/STALL [^\n]*|EXIT.*/), 10_000);
          const us = (k: string): number => Number(new RegExp(`${k}=(\\d+)`).exec(line)?.[1] ?? Number.NaN);
          if (!Number.isFinite(us('max_us')) || !(us('samples') > 0)) throw new Error(`the stall meter on CPU ${m.cpu} printed nothing usable: ${line}`);
          perCpuMaxMs.push(us('max_us') / 1000);
          p99Ms = Math.max(p99Ms, us('p99_us') / 1000);
        }
      } finally {
        kill();
      }
      return { maxMs: Math.max(...perCpuMaxMs), p99Ms, perCpuMaxMs };
    },
  };
}

/** How a scripted handler answers one request. */
export type Behaviour = (req: KernelRequest) => { status: number; payload?: Buffer } | 'hang' | Promise<'hang' | { status: number; payload?: Buffer }>;

export const echo: Behaviour = (req) => {
  const msg = EchoRequest.decode(req.payload) as unknown as { data: Uint8Array; seq: unknown };
  const out = EchoResponse.encode(EchoResponse.fromObject({ data: msg.data, seq: msg.seq })).finish();
  return { status: KOFFLOAD.status.ok, payload: Buffer.from(out) };
};
export const hang: Behaviour = () => 'hang';
export const fail: Behaviour = () => ({ status: KOFFLOAD.status.error });
export const decline: Behaviour = () => ({ status: KOFFLOAD.status.decline });

/** An in-process handler bound to one subsystem; its behaviour can change. */
export class Handler {
  requests: KernelRequest[] = [];
  held: KernelRequest[] = [];
  subsysId = 0;

  private constructor(
    readonly client: KoffloadClient,
    public behaviour: Behaviour,
  ) {}

  static async bind(
    name: SubsysName,
    behaviour: Behaviour,
    opts: Partial<Parameters<KoffloadClient['bind']>[0]> = {},
    clientOpts: FamilyClientOptions = target().koffload(),
  ): Promise<Handler> {
    const client = await KoffloadClient.open(clientOpts);
    const h = new Handler(client, behaviour);
    client.on('request', (req: KernelRequest) => {
      h.requests.push(req);
      void h.answer(req);
    });
    const bound = await client.bind({ name, ...opts });
    h.subsysId = bound.subsysId;
    return h;
  }

  private async answer(req: KernelRequest): Promise<void> {
    if (req.flags & KOFFLOAD.reqFlag.shadow) return;
    const r = await this.behaviour(req);
    if (r === 'hang') {
      this.held.push(req);
      return;
    }
    this.client.reply(req.reqId, r.status, r.payload);
  }

  close(): void {
    this.client.close();
  }
}

/** A handler process, for kills and stops. */
export class ChildHandler {
  private constructor(
    readonly proc: ChildProcess,
    readonly portId: number,
  ) {}

  static async start(name: SubsysName, rcvbuf?: number, mode: 'hang' | 'orphan' = 'hang'): Promise<ChildHandler> {
    const args = [join(here, 'fixtures', 'child-handler.js'), mode, name];
    if (rcvbuf) args.push(String(rcvbuf));
    const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], env: target().childEnv });
    const portId = await new Promise<number>((resolve, reject) => {
      let out = '';
      proc.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /BOUND (\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      proc.once('exit', (code) => reject(new Error(`child handler exited early (${code})`)));
    });
    return new ChildHandler(proc, portId);
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const gone = new Promise((r) => this.proc.once('exit', r));
    this.proc.kill(signal);
    await gone;
  }
}

/** koffloadd's CLI, compiled. */
export const KOFFLOADD = join(root, 'dist', 'src', 'cli', 'koffloadd.js');

/**
 * Reads a koffloadd child's stderr into lines and waits, bounded, until it
 * serves (its "metrics url=" line); fails with its log when it exits first.
 */
export async function koffloaddServing(proc: ChildProcess, what = 'koffloadd'): Promise<{ log: string[]; metricsUrl: string }> {
  const log: string[] = [];
  let buf = '';
  proc.stderr!.on('data', (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      log.push(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
  await waitFor(`${what} serving`, () => log.some((l) => / info koffloadd metrics url=/.test(l)) || proc.exitCode !== null, 60_000);
  assert.equal(proc.exitCode, null, `${what} exited at start:\n${log.join('\n')}`);
  return { log, metricsUrl: /url=(\S+)/.exec(log.find((l) => / metrics url=/.test(l))!)![1]! };
}

/** Runs an unprivileged child and returns the error code of each command, and what get showed. */
export function runUnprivileged(name: SubsysName, uid = 65534): Record<string, unknown> {
  const out = execFileSync(process.execPath, [join(here, 'fixtures', 'child-handler.js'), 'unpriv', name], {
    uid,
    gid: uid,
    env: target().childEnv,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return JSON.parse(out.trim().split('\n').pop()!) as Record<string, unknown>;
}

type Counts = Record<OutcomeKey, bigint>;
const zeroCounts = (): Counts => Object.fromEntries(OUTCOME_KEYS.map((k) => [k, 0n])) as Counts;

/** The longest wait of any call, per outcome, over the whole suite, for the summary. */
export const longestWaitNs = new Map<OutcomeKey, bigint>();
export const totals = zeroCounts();

/**
 * Everything the suite's runs reported, per subsystem, since the last
 * checkpoint; `verify()` compares it with the kernel's own counters.
 */
export class Ledger {
  private base = new Map<SubsysName, SubsysInfo>();
  private seen = new Map<SubsysName, Counts>();

  constructor(
    readonly kclient: KoffloadClient,
    readonly ktest: KtestClient,
  ) {}

  async checkpoint(): Promise<void> {
    for (const name of SUBSYS) {
      this.base.set(name, await this.kclient.getSubsys(name));
      this.seen.set(name, zeroCounts());
    }
  }

  /** Start a run, wait for its end, and book its outcomes. */
  async run(opts: RunOptions & { subsys: SubsysName }): Promise<RunResult> {
    const id = await this.ktest.run(opts);
    return this.finish(opts.subsys, id);
  }

  async finish(subsys: SubsysName, runId: number, timeoutMs = 120_000): Promise<RunResult> {
    const res = await this.ktest.waitResult(runId, { pollMs: 20, timeoutMs });
    const seen = this.seen.get(subsys) ?? zeroCounts();
    for (const k of OUTCOME_KEYS) {
      const n = res.outcomes[k];
      seen[k] += n;
      totals[k] += n;
      const wait = res.outcomeMaxWaitNs[k];
      if (n > 0n && wait > (longestWaitNs.get(k) ?? -1n)) longestWaitNs.set(k, wait);
    }
    this.seen.set(subsys, seen);
    return res;
  }

  async delta(name: SubsysName): Promise<{ outcomes: Counts; counters: Record<CounterKey, bigint>; now: SubsysInfo }> {
    const now = await this.kclient.getSubsys(name);
    const base = this.base.get(name)!;
    const outcomes = zeroCounts();
    for (const k of OUTCOME_KEYS) outcomes[k] = now.outcomes[k] - base.outcomes[k];
    const counters = Object.fromEntries(COUNTER_KEYS.map((k) => [k, now.counters[k] - base.counters[k]])) as Record<CounterKey, bigint>;
    return { outcomes, counters, now };
  }

  /** After each test: nothing pending, kernel counts == the runs' counts. */
  async verify(): Promise<void> {
    for (const name of SUBSYS) {
      await waitFor(`${name} pending back to 0`, async () => (await this.kclient.getSubsys(name)).pending === 0, 10_000);
      const { outcomes } = await this.delta(name);
      assert.deepEqual(outcomes, this.seen.get(name), `${name}: kernel outcome counters differ from what the runs reported`);
    }
  }
}

/** Only the outcomes that are non-zero, for readable assertions. */
export function nonZero(outcomes: Partial<Record<OutcomeKey, bigint>>): Partial<Record<OutcomeKey, bigint>> {
  return Object.fromEntries(Object.entries(outcomes).filter(([, v]) => v !== 0n)) as Partial<Record<OutcomeKey, bigint>>;
}

export const ms = (ns: bigint): number => Number(ns) / 1e6;

export function payloadOf(text: string): Buffer {
  return Buffer.from(text);
}

/**
 * The C netlink probe (fixtures/nl-probe.c): prebuilt into the guest image
 * by scripts/kernel-test.sh, built here with the system's C compiler on a
 * host; undefined when neither is possible.
 */
export function probeBinary(): string | undefined {
  return cFixture('conformance', 'nl-probe');
}

/** The port the koffload family answers on: 0 for the kernel, the simulator's port on netlink. */
export function familyPort(): number {
  return target().koffload().peerPort ?? 0;
}

/** An nlmon device up in the guest (a netlink tap: every send goes through dev_queue_xmit). */
export function nlmonUp(): { packets(): number; down(): void } {
  execFileSync('ip', ['link', 'add', 'nlmon0', 'type', 'nlmon']);
  execFileSync('ip', ['link', 'set', 'nlmon0', 'up']);
  const stat = (n: string): number => Number(readFileSync(`/sys/class/net/nlmon0/statistics/${n}`, 'utf8'));
  const base = stat('rx_packets') + stat('tx_packets');
  return {
    packets: () => stat('rx_packets') + stat('tx_packets') - base,
    down: () => execFileSync('ip', ['link', 'del', 'nlmon0']),
  };
}

/**
 * The kernel log, a line each, without the empty string after the last
 * newline: its length is the index the next line will have, so
 * `dmesg().slice(n)` after `n = dmesg().length` is what came since.
 */
export function dmesg(): string[] {
  return execFileSync('dmesg', { encoding: 'utf8', maxBuffer: 64 << 20 })
    .split('\n')
    .filter((l) => l !== '');
}

/** The kernel's taint flags: W (512) is set by any WARN. */
export function taint(): number {
  return Number(readFileSync('/proc/sys/kernel/tainted', 'utf8'));
}

/** koffload_test.ko's reregister file: two racing unregisters, then a new registration. */
export function reregister(name: string): { usersAfterFirst: number; usersAfterSecond: number; oldId: number; newId: number } {
  const file = '/sys/kernel/debug/koffload_test/reregister';
  writeFileSync(file, name);
  const out = readFileSync(file, 'utf8');
  const num = (k: string): number => Number(new RegExp(`${k}=(-?\\d+)`).exec(out)?.[1] ?? NaN);
  return { usersAfterFirst: num('users_first'), usersAfterSecond: num('users_second'), oldId: num('old_id'), newId: num('new_id') };
}

/** Active objects of slab cache `name`, from /proc/slabinfo (root). */
export function slabObjects(name: string): number {
  const line = readFileSync('/proc/slabinfo', 'utf8')
    .split('\n')
    .find((l) => l.split(/\s+/)[0] === name);
  if (!line) throw new Error(`no slab cache ${name}`);
  return Number(line.split(/\s+/)[1]);
}
