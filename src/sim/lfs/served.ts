/**
 * The LFS model served by a real koffloadd policy: the model is the kernel
 * side of subsystem f2fs_gc (koffload.ts's KernelSide) in the simulator's
 * koffload core, the policy module (examples/f2fs-*.ts) runs in a Daemon
 * exactly as `koffloadd --policy FILE` runs it, and the two talk through
 * the simulator's genl family (in memory here: the bytes, the cache, the
 * advisory lane and the policy loader are the real ones).
 *
 * Staleness: foreground GC never waits for the policy, so the kernel side
 * uses whatever the cache holds when it chooses. What differs is how far
 * the writer gets before the policy answers:
 * - pacing 'sync' (default): after each f2fs_gc() call the writer waits
 *   until the policy has published a ranking whose gc_seq is that of the
 *   last request the call sent (or waitMs passed, counted), as if the
 *   policy ran between two GC calls and never within one. Deterministic
 *   for a deterministic policy, and as fast as the policy.
 * - pacing { writesPerSec }: the writer goes on at that rate of user writes
 *   (wall clock), checking at each GC call; the policy runs beside it and
 *   keeps up or not, as on a real machine (the guest writes about 5000
 *   4 KiB blocks a second under QEMU).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Ranking } from '../../generated/proto/f2fs.js';
import { rankingKey } from '../../../examples/f2fs/advice.js';
import { encodeDev } from '../../../examples/f2fs/host.js';
import { Daemon } from '../../runtime/daemon.js';
import { type Logger, silentLogger } from '../../runtime/policy.js';
import type { DecisionEvent } from '../../runtime/server.js';
import { DEFAULT_SUBSYSTEMS, F2FS_GC_SUBSYSTEM, type Simulator, startSimulator } from '../index.js';
import { type ExperimentResult, type ExperimentSpec, runExperimentAsync } from './experiment.js';
import { KernelSide, ProcFiles } from './koffload.js';
import { GC_CB, type KernelGcMode } from './model.js';

/** The device the model's F2FS is on: null_blk's first device, as in the guest. */
export const MODEL_DEV = { major: 251, minor: 0, name: 'nullb0' } as const;

export interface ServedOptions {
  /** the policy module, as koffloadd --policy takes it */
  policyFile: string;
  /** the experiment: geometry, fill, workload, seed, phases (the policy is the module) */
  spec: Omit<ExperimentSpec, 'policy' | 'minHotBlocks'>;
  /** F2FS's own choice when the advice does not fit (gc_idle). @default GC_CB */
  kernelGc?: KernelGcMode;
  /** sysfs min_hot_blocks of the filesystem. @default 0 */
  minHotBlocks?: number;
  /** @default 'sync' */
  pacing?: 'sync' | { writesPerSec: number };
  /** sync pacing: the longest wait after one GC call, ms. @default 1000 */
  waitMs?: number;
  /** where the proc files go (KOFFLOAD_F2FS_ROOT). @default a fresh directory under the temporary one, removed after */
  root?: string;
  /** koffloadd --record FILE */
  record?: string;
  logger?: Logger;
}

export interface ServedResult extends ExperimentResult {
  /** the kernel side's counters (debugfs stats), over the measured phase */
  kernel: Record<string, number>;
  /** handler run time of the policy per op, µs: p50, p99, max, count (whole run) */
  handlerUs: Record<string, { p50: number; p99: number; max: number; count: number }>;
  /** sync pacing: GC calls after which the policy's ranking did not come within waitMs */
  waitTimeouts: number;
  /** the daemon's outcomes by op (ok, declined, expired, abandoned, shed, ...), whole run */
  outcomes: Record<string, number>;
}

const quantile = (xs: number[], q: number): number => {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};

/**
 * Runs one experiment with the model served by `policyFile`. Starts an
 * in-memory simulator with subsystem f2fs_gc and a Daemon, and stops both.
 */
export async function runServed(opts: ServedOptions): Promise<ServedResult> {
  const root = opts.root ?? mkdtempSync(join(tmpdir(), 'koffload-lfs-'));
  const dev = encodeDev(MODEL_DEV.major, MODEL_DEV.minor);
  const minHot = opts.minHotBlocks ?? 0;
  const proc = new ProcFiles(root, dev, MODEL_DEV.name, minHot);
  const prevRoot = process.env.KOFFLOAD_F2FS_ROOT;
  process.env.KOFFLOAD_F2FS_ROOT = root;
  let sim: Simulator | undefined;
  let daemon: Daemon | undefined;
  const handler = new Map<string, number[]>();
  const pacing = opts.pacing ?? 'sync';
  try {
    // Sync pacing has no time between GC calls: a real-time deadline on
    // the advisory requests (the kernel's 20 ms) would only measure this
    // process's own model work, and drop notices at random; paced runs keep it.
    const subsys = pacing === 'sync' ? { ...F2FS_GC_SUBSYSTEM, timeoutMs: 60_000 } : F2FS_GC_SUBSYSTEM;
    sim = await startSimulator({ transport: 'inproc', subsystems: [...DEFAULT_SUBSYSTEMS, subsys], stateFile: null });
    const outcomes: Record<string, number> = {};
    const onDecision = (ev: DecisionEvent): void => {
      const k = `${ev.opName ?? ev.req.op}${ev.lane === 'advisory' ? '' : '-call'}`;
      outcomes[`${k}/${ev.outcome}`] = (outcomes[`${k}/${ev.outcome}`] ?? 0) + 1;
      let a = handler.get(k);
      if (!a) handler.set(k, (a = []));
      a.push(Number(ev.handlerNs) / 1000);
    };
    daemon = await Daemon.start({
      config: { policies: [opts.policyFile], ...(opts.record ? { record: opts.record } : {}) },
      target: { kind: 'sim', koffload: sim.clientOptions() },
      logger: opts.logger ?? silentLogger,
      onDecision,
    });
    const s = sim;
    let kernel!: KernelSide;
    let waitTimeouts = 0;
    const waitMs = opts.waitMs ?? 1000;
    const t0 = performance.now();
    let opsAtStart = -1;
    const key = rankingKey(dev);
    const published = (): bigint => {
      const e = s.cachePeek('f2fs_gc', key);
      if (!e) return -1n;
      try {
        return Ranking.decode(e).gc_seq;
      } catch {
        return -1n;
      }
    };
    const result = await runExperimentAsync({
      ...opts.spec,
      minHotBlocks: minHot,
      policy: {
        name: basename(opts.policyFile).replace(/\.[cm]?[jt]s$/, ''),
        about: `the policy module ${opts.policyFile}, served by koffloadd through the simulator's f2fs_gc subsystem`,
        make: (ctx) => {
          kernel = new KernelSide(
            {
              lookup: (k) => s.cacheLookup('f2fs_gc', k),
              advise: (op, payload, done) => void s.advise('f2fs_gc', op, payload).then((err) => done(err === 0)),
            },
            dev,
            ctx,
            proc,
          );
          return {
            kernelGc: opts.kernelGc ?? GC_CB,
            hook: kernel,
            stats: () => ({ ...kernel.stats }),
            pause: async () => {
              if (pacing === 'sync') {
                const want = kernel.takeAdvised();
                const until = performance.now() + waitMs;
                for (;;) {
                  await new Promise<void>((r) => setImmediate(r));
                  if (want < 0n || published() >= want) return;
                  if (performance.now() > until) {
                    waitTimeouts++;
                    return;
                  }
                }
              }
              const ops = kernel.userOps();
              if (opsAtStart < 0) opsAtStart = ops;
              const ahead = t0 + ((ops - opsAtStart) * 1000) / pacing.writesPerSec - performance.now();
              if (ahead > 0) await sleep(ahead);
              else await new Promise<void>((r) => setImmediate(r));
            },
          };
        },
      },
    });
    const handlerUs: ServedResult['handlerUs'] = {};
    for (const [k, xs] of handler) handlerUs[k] = { p50: quantile(xs, 0.5), p99: quantile(xs, 0.99), max: Math.max(...xs), count: xs.length };
    return { ...result, kernel: result.stats, handlerUs, waitTimeouts, outcomes };
  } finally {
    await daemon?.stop();
    await sim?.close();
    if (prevRoot === undefined) delete process.env.KOFFLOAD_F2FS_ROOT;
    else process.env.KOFFLOAD_F2FS_ROOT = prevRoot;
    if (!opts.root) rmSync(root, { recursive: true, force: true });
  }
}
