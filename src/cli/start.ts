#!/usr/bin/env node
/**
 * `npm start`: the daemon with the example policy against the kernel module
 * when it is loaded, else against a simulator started in this process; a
 * small demo workload; a summary of what happened.
 *
 *   npm start                 run the demo and exit
 *   npm start -- --serve      keep serving (a light workload keeps running);
 *                             try `koffloadctl status` from another shell
 *   npm start -- --calls 500  more PICK calls
 *   npm start -- --metrics-port 9464   /metrics on that port (0: any free one)
 *   npm start -- --gc quick   the F2FS GC comparison on the LFS model at half
 *                             the guest's size (seconds); --gc off: none
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { costBenefitVictim } from '../../examples/ktest-policy.js';
import { EchoRequest, PickRequest, PickResponse, type SegmentInit } from '../generated/proto/ktest.js';
import { KOFFLOAD, KOFFLOAD_TEST, type Outcome } from '../generated/wire.js';
import { KtestClient } from '../kernel/test-client.js';
import { EXIT, describeError, exitCodeOf, runIfMain, table } from '../runtime/cli-support.js';
import { Daemon } from '../runtime/daemon.js';
import { createLogger } from '../runtime/logger.js';
import type { DecisionEvent } from '../runtime/server.js';
import { type Target, loadSimModule } from '../runtime/target.js';
import type { Simulator, SimulatorOptions } from '../sim/index.js';
import type * as Lfs from '../sim/lfs/index.js';
import { formatStatus } from './koffloadctl.js';

const EXAMPLE_POLICY = fileURLToPath(new URL('../../examples/ktest-policy.js', import.meta.url));

export const HELP = `usage: npm start [-- options]

Runs koffloadd with examples/ktest-policy against koffload.ko when it is
loaded, else against a simulator in this process, drives a demo workload of
ktest ECHO and PICK calls, and prints what happened.

options:
  --serve          keep serving after the demo (SIGINT/SIGTERM to stop)
  --calls N        PICK calls in the demo (default 200)
  --seed N         random seed of the workload (default 1)
  --metrics-port N serve /metrics on 127.0.0.1:N (0: any free port) from the
                   demo daemon and the --serve one (default: none for the
                   demo, 9464 if free for --serve)
  --log-level L    daemon log level (default warn)
  --gc MODE        the F2FS garbage-collection comparison printed after the
                   demo, on the LFS model (src/sim/lfs): F2FS's greedy and
                   cost-benefit, examples/f2fs-learned.ts and two
                   future-knowledge bounds on hot/cold 90/10 at 80%.
                   full: the guest's 1 GiB geometry, 1M warm-up + 1M
                   measured writes (about 30 s); quick: half the size,
                   300k + 200k (a few seconds); off: skip it (default full)
  -h, --help       this text
`;

/** The F2FS GC comparison of `--gc full`: what `npm run poc:gc -- --quick` measures in the guest, on the model. */
const GC_POLICIES = ['kernel-greedy', 'kernel-cb', 'koffload-learned', 'bound-victim-only', 'bound-both-2'];

// a variable specifier, as loadSimModule()'s: the simulator is optional at build time
const LFS_MODULE = '../sim/lfs/index.js';

async function gcComparison(mode: 'full' | 'quick'): Promise<string> {
  const { lfsComparison, GEOMETRY_1G } = (await import(LFS_MODULE)) as typeof Lfs;
  const t0 = performance.now();
  const { text } = lfsComparison({
    policies: GC_POLICIES,
    minHotBlocks: 0,
    ...(mode === 'full' ? { geometry: GEOMETRY_1G, warmupOps: 1_000_000, measureOps: 1_000_000 } : {}),
  });
  const s = ((performance.now() - t0) / 1000).toFixed(1);
  return `${text}
(${s} s; the same comparison on a real F2FS in QEMU: npm run poc:gc -- --quick, docs/poc-gc.md)
`;
}

type SimModule = { startSimulator(opts?: SimulatorOptions): Promise<Simulator>; resolveTarget(opts?: { stateFile?: string }): Promise<Target> };

/** A small deterministic PRNG (mulberry32), so runs are repeatable. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The kernel's default: greedy, fewest valid blocks. */
function greedyVictim(c: SegmentInit[]): number {
  let best = c[0]!;
  for (const s of c) if ((s.valid_blocks ?? 0) < (best.valid_blocks ?? 0)) best = s;
  return best.id ?? 0;
}

function candidates(rand: () => number, n: number): SegmentInit[] {
  return Array.from({ length: n }, (_, i) => ({ id: 100 + i, valid_blocks: Math.floor(rand() * 512), age_ms: BigInt(Math.floor(rand() * 600_000)) }));
}

interface Tally {
  outcomes: Map<string, Map<string, number>>;
  pick: { compared: number; served: number; overridden: number; victimValid: number; victimAgeS: number; greedyValid: number; greedyAgeS: number };
}

function count(t: Tally, op: string, outcomeKey: string): void {
  const outcome = KOFFLOAD.outcomeNames[KOFFLOAD.outcome[outcomeKey as Outcome]] ?? outcomeKey;
  const m = t.outcomes.get(op) ?? new Map<string, number>();
  m.set(outcome, (m.get(outcome) ?? 0) + 1);
  t.outcomes.set(op, m);
}

async function simWorkload(sim: Simulator, calls: number, seed: number, t: Tally): Promise<void> {
  const rand = rng(seed);
  const batch = 16;
  for (let i = 0; i < calls; i += batch) {
    const jobs: Promise<void>[] = [];
    for (let j = i; j < Math.min(calls, i + batch); j++) {
      const c = candidates(rand, 8);
      const g = greedyVictim(c);
      jobs.push(
        sim.call('ktest', 2, PickRequest.encode({ candidates: c }), { default: PickResponse.encode({ victim_id: g }) }).then((r) => {
          count(t, 'pick', r.outcome);
          const victim = r.outcome === 'served' && r.payload ? PickResponse.decode(r.payload).victim_id : g;
          const seg = c.find((s) => s.id === victim)!;
          const gs = c.find((s) => s.id === g)!;
          t.pick.compared++;
          if (r.outcome === 'served') t.pick.served++;
          if (victim !== g) t.pick.overridden++;
          t.pick.victimValid += seg.valid_blocks ?? 0;
          t.pick.victimAgeS += Number(seg.age_ms ?? 0n) / 1000;
          t.pick.greedyValid += gs.valid_blocks ?? 0;
          t.pick.greedyAgeS += Number(gs.age_ms ?? 0n) / 1000;
        }),
      );
      if (j % 4 === 0) {
        jobs.push(sim.call('ktest', 1, EchoRequest.encode({ data: Buffer.from(`hello ${j}`), seq: BigInt(j) })).then((r) => count(t, 'echo', r.outcome)));
      }
    }
    await Promise.all(jobs);
  }
  // callers that may not wait: the kernel answers them with their default, never asking userspace
  for (const context of ['atomic', 'noreclaim', 'nofs'] as const) {
    const r = await sim.call('ktest', 1, EchoRequest.encode({ seq: 1n }), { context });
    count(t, 'echo', r.outcome);
  }
}

async function kernelWorkload(target: Target, calls: number, t: Tally): Promise<void> {
  const kt = await KtestClient.open(target.koffloadTest ?? {});
  try {
    // koffload_test.ko wraps a payload in an EchoRequest, unless flag raw
    // says it is the op's request already
    const runs: [string, number, Uint8Array, number][] = [
      ['echo', 1, Buffer.from('hello'), KOFFLOAD_TEST.runFlag.checkEcho],
      ['pick', 2, PickRequest.encode({ candidates: candidates(rng(1), 8) }), KOFFLOAD_TEST.runFlag.raw],
    ];
    for (const [name, op, payload, flags] of runs) {
      const id = await kt.run({ subsys: 'ktest', op, calls, threads: 4, payload, flags });
      const res = await kt.waitResult(id);
      for (const [k, n] of Object.entries(res.outcomes)) for (let i = 0n; i < n; i++) count(t, name, k);
    }
  } finally {
    kt.close();
  }
}

/** One ECHO call from koffload_test.ko's callers; its outcome. */
async function kernelCallOnce(target: Target): Promise<Outcome> {
  const kt = await KtestClient.open(target.koffloadTest ?? {});
  try {
    const res = await kt.waitResult(await kt.run({ subsys: 'ktest', op: 1, calls: 1, threads: 1, payload: Buffer.from('after') }));
    return KOFFLOAD.outcomeKeys.find((k) => res.outcomes[k] > 0n) ?? 'noHandler';
  } finally {
    kt.close();
  }
}

function summary(t: Tally, events: Map<string, number>): string {
  const out: string[] = [];
  const cols = [...new Set([...t.outcomes.values()].flatMap((m) => [...m.keys()]))].sort();
  out.push('kernel-side outcomes of the demo calls (what each in-kernel caller got):');
  out.push(table(['OP', ...cols], [...t.outcomes.entries()].map(([op, m]) => [op, ...cols.map((c) => m.get(c) ?? 0)])));
  out.push('', 'daemon-side handling (outcome per request the daemon saw):');
  out.push(table(['OP/OUTCOME', 'COUNT'], [...events.entries()].sort().map(([k, n]) => [k, n])));
  const p = t.pick;
  // the comparison needs each decision, which only the simulator's callers return
  if (p.compared > 0) {
    out.push('', 'PICK decisions (victim segment for garbage collection):');
    out.push(`  served by the policy: ${p.served} of ${p.compared}; different from the kernel's greedy default: ${p.overridden}`);
    out.push(
      table(
        ['', 'VALID BLOCKS TO COPY (avg)', 'AGE (avg s)'],
        [
          ['kernel default (greedy)', (p.greedyValid / p.compared).toFixed(1), (p.greedyAgeS / p.compared).toFixed(1)],
          ['chosen (cost-benefit)', (p.victimValid / p.compared).toFixed(1), (p.victimAgeS / p.compared).toFixed(1)],
        ],
      ),
    );
    out.push("  cost-benefit copies more live blocks now to reclaim older, colder segments: the trade LFS's cleaner makes.");
  }
  return out.join('\n');
}

export async function main(argv: string[]): Promise<number> {
  let v;
  try {
    v = parseArgs({
      args: argv,
      options: {
        serve: { type: 'boolean' },
        calls: { type: 'string' },
        seed: { type: 'string' },
        'metrics-port': { type: 'string' },
        'log-level': { type: 'string' },
        gc: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (err) {
    process.stderr.write(`start: ${(err as Error).message}\n${HELP}`);
    return EXIT.usage;
  }
  if (v.help) {
    process.stdout.write(HELP);
    return EXIT.ok;
  }
  const calls = Number(v.calls ?? 200);
  const seed = Number(v.seed ?? 1);
  if (!Number.isInteger(calls) || calls < 1 || calls > 100_000 || !Number.isInteger(seed)) {
    process.stderr.write('start: --calls must be 1..100000 and --seed an integer\n');
    return EXIT.usage;
  }
  const gc = v.gc ?? 'full';
  if (gc !== 'full' && gc !== 'quick' && gc !== 'off') {
    process.stderr.write('start: --gc must be full, quick or off\n');
    return EXIT.usage;
  }
  const metricsPort = v['metrics-port'] === undefined ? undefined : Number(v['metrics-port']);
  if (metricsPort !== undefined && (v['metrics-port'] === '' || !Number.isInteger(metricsPort) || metricsPort < 0 || metricsPort > 65535)) {
    process.stderr.write('start: --metrics-port must be 0..65535\n');
    return EXIT.usage;
  }
  // listen from the start: a signal during the demo must still end --serve
  const stopSignal = v.serve
    ? new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      })
    : Promise.resolve();
  const logger = createLogger({ level: (v['log-level'] as 'warn' | undefined) ?? 'warn', prefix: 'koffloadd' });
  const simMod = await loadSimModule<SimModule>();
  let target: Target | undefined;
  let sim: Simulator | undefined;
  try {
    target = await simMod?.resolveTarget();
    if (target?.kind !== 'kernel') target = undefined;
  } catch {
    target = undefined;
  }
  if (!target) {
    if (!simMod) {
      process.stderr.write('start: koffload.ko is not loaded and the simulator (src/sim) is not built\n');
      return EXIT.noTarget;
    }
    // --serve publishes the simulator so koffloadctl in another shell finds it
    sim = await simMod.startSimulator({ transport: 'auto', ...(v.serve ? {} : { stateFile: null }) });
    target = { kind: 'sim', koffload: sim.clientOptions(), koffloadTest: sim.testClientOptions() };
  }
  const where =
    target.kind === 'kernel'
      ? 'kernel module koffload.ko'
      : sim!.transport === 'netlink'
        ? 'simulator in this process (netlink transport)'
        : 'simulator in this process (inproc transport: in memory, as netlink between processes needs root)';
  process.stdout.write(`koffload demo: target ${where}\n`);
  process.stdout.write(`policy: ${EXAMPLE_POLICY}\n\n`);
  const events = new Map<string, number>();
  const onDecision = (ev: DecisionEvent): void => {
    const k = `${ev.opName ?? ev.req.op}/${ev.outcome}`;
    events.set(k, (events.get(k) ?? 0) + 1);
  };
  let daemon: Daemon;
  try {
    daemon = await Daemon.start({ config: { policies: [EXAMPLE_POLICY], ...(metricsPort !== undefined ? { metricsPort } : {}) }, target, logger, onDecision });
  } catch (err) {
    process.stderr.write(`${describeError('start', err)}\n`);
    await sim?.close();
    return exitCodeOf(err);
  }
  if (daemon.metricsPort !== undefined) process.stdout.write(`metrics: http://127.0.0.1:${daemon.metricsPort}/metrics\n\n`);
  const tally: Tally = { outcomes: new Map(), pick: { compared: 0, served: 0, overridden: 0, victimValid: 0, victimAgeS: 0, greedyValid: 0, greedyAgeS: 0 } };
  try {
    if (sim) await simWorkload(sim, calls, seed, tally);
    else await kernelWorkload(target, calls, tally);
    process.stdout.write(`${summary(tally, events)}\n\n`);
    process.stdout.write(formatStatus(await daemon.client.dumpSubsys(), target.kind));
    // with the daemon gone, every call falls back at once; stopping it also
    // frees the binding for the --serve daemon below (the kernel allows one)
    await daemon.stop();
    const after = sim ? (await sim.call('ktest', 1, EchoRequest.encode({ seq: 2n }))).outcome : await kernelCallOnce(target);
    process.stdout.write(`\nafter the daemon stopped, an ECHO call ends with outcome: ${KOFFLOAD.outcomeNames[KOFFLOAD.outcome[after]]} (the caller used its default at once)\n`);
    if (gc !== 'off') process.stdout.write(`\n${await gcComparison(gc)}`);
  } catch (err) {
    process.stderr.write(`${describeError('start', err)}\n`);
    await daemon.stop().catch(() => {});
    await sim?.close();
    return exitCodeOf(err);
  }
  if (!v.serve) {
    await sim?.close();
    return EXIT.ok;
  }

  // --serve: a fresh daemon and a light workload until a signal; on
  // --metrics-port N, or on 9464 when that is free
  const serveLogger = createLogger({ level: 'info', prefix: 'koffloadd' });
  try {
    daemon = await Daemon.start({ config: { policies: [EXAMPLE_POLICY], metricsPort: metricsPort ?? 9464 }, target, logger: serveLogger, onDecision }).catch(async (err: unknown) => {
      if (metricsPort !== undefined) throw err;
      return Daemon.start({ config: { policies: [EXAMPLE_POLICY] }, target: target!, logger: serveLogger, onDecision });
    });
  } catch (err) {
    process.stderr.write(`${describeError('start', err)}\n`);
    await sim?.close();
    return exitCodeOf(err);
  }
  process.stdout.write(
    `\nserving${daemon.metricsPort ? `; metrics on http://127.0.0.1:${daemon.metricsPort}/metrics` : ''}; ` +
      `${sim?.transport === 'netlink' ? 'run `koffloadctl status` in another shell; ' : ''}Ctrl-C to stop\n`,
  );
  const rand = rng(seed + 1);
  const timer = sim
    ? setInterval(() => {
        const c = candidates(rand, 8);
        void sim!.call('ktest', 2, PickRequest.encode({ candidates: c }), { default: PickResponse.encode({ victim_id: greedyVictim(c) }) });
      }, 100)
    : undefined;
  await stopSignal;
  if (timer) clearInterval(timer);
  await daemon.stop();
  await sim?.close();
  return EXIT.ok;
}

// keep the example's helper in this module's graph, so `npm run build` compiles examples/
void costBenefitVictim;

runIfMain(import.meta.url, 'start', main);
