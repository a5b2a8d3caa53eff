/**
 * One GC experiment on the model: mkfs geometry, fill, warm-up, measured
 * phase, the GC data WAF of the measured phase. Policies are named
 * factories (policies.ts) building the kernel mode and hook of a run.
 */
import { performance } from 'node:perf_hooks';
import { KoffloadError } from '../../errors.js';
import { BLOCKS_PER_SEG, GEOMETRY_1G, type Geometry, userBlockCount } from './geometry.js';
import { type Counters, EXTRA_LOG_BASE, type GcHook, type KernelGcMode, LOG_NAMES, LfsModel } from './model.js';
import { type Layout, TraceGen, type WorkloadSpec, layoutFor, workloadName } from './workload.js';

/** What a policy factory gets: the run's parameters and, for oracles only, the future. */
export interface PolicyContext {
  geometry: Geometry;
  layout: Layout;
  gen: TraceGen;
  warmupOps: number;
  measureOps: number;
  /**
   * The whole write sequence from op 0: warm-up, measured phase and
   * `lookaheadOps` more (never executed). Only future-knowledge bounds may
   * read it; realistic policies see what the kernel would send them.
   */
  future(): Int32Array;
}

export interface PolicyRun {
  /** F2FS's own policy under the hook (the fallback). */
  kernelGc: KernelGcMode;
  hook?: GcHook;
  /** data logs the patch adds for moved blocks */
  extraLogs?: number;
  /** the policy sets F2FS's min_hot_blocks (sysfs) at start, over the experiment's */
  minHotBlocks?: number;
  /** counters printed with the result (fallbacks, decisions served, ...); the measured phase's share is reported */
  stats?(): Record<string, number>;
  /**
   * Let a policy outside the model run: awaited after every f2fs_gc() call
   * that cleaned a victim (runExperimentAsync() only; the model does not
   * move meanwhile, as if the policy ran between two GC calls).
   */
  pause?(): Promise<void>;
}

export interface PolicyDef {
  name: string;
  /** one line: what it decides and from what */
  about: string;
  /** uses knowledge of future writes (a bound, not a policy) */
  oracle?: boolean;
  make(ctx: PolicyContext): PolicyRun;
}

export interface ExperimentSpec {
  /** @default GEOMETRY_1G */
  geometry?: Geometry;
  /** percent of user capacity the files fill. @default 80 */
  fillPct?: number;
  workload: WorkloadSpec;
  seed: number;
  /** @default 1_000_000 */
  warmupOps?: number;
  /** @default 1_000_000 */
  measureOps?: number;
  /** ops past the measured phase an oracle may see. @default measureOps */
  lookaheadOps?: number;
  policy: PolicyDef;
  /**
   * Main-area block writes per second of the guest clock (SIT mtimes).
   * @default 60000 at the 1 GiB geometry, in proportion to the main area
   * otherwise (same seconds per turnover of the device)
   */
  blocksPerSec?: number;
  /** model node blocks. @default true */
  nodes?: boolean;
  /** fsync writes node pages (else only checkpoints do). @default true */
  fsyncNodes?: boolean;
  /** F2FS's min_hot_blocks (sysfs): 0 sends every user write to the warm log. @default 16 */
  minHotBlocks?: number;
  /** validate the model's invariants after each phase (slow). @default false */
  check?: boolean;
}

export interface ExperimentResult {
  policy: string;
  workload: string;
  seed: number;
  fillPct: number;
  /** (user data + GC data) / user data over the measured phase */
  gcDataWaf: number;
  /** every main-area write (data, node, GC) per user data write */
  deviceWaf: number;
  measured: Counters;
  /** moved data blocks per destination log name */
  movedTo: Record<string, number>;
  /** per log whose victims were cleaned: victims, and data blocks moved out of them */
  movedFrom: Record<string, { victims: number; moved: number }>;
  stats: Record<string, number>;
  /** wall-clock seconds of the model run (fill + warm-up + measured) */
  runSeconds: number;
  /** CPU seconds of this process over the run (robust on a loaded machine) */
  cpuSeconds: number;
  /** the guest clock at the end, seconds */
  modelSeconds: number;
}

const diff = (a: Counters, b: Counters): Counters => {
  const o = { ...b };
  for (const k of Object.keys(o) as (keyof Counters)[]) o[k] = b[k] - a[k];
  return o;
};

export function logName(l: number): string {
  return l < EXTRA_LOG_BASE ? LOG_NAMES[l]! : `gc-log-${l - EXTRA_LOG_BASE + 1}`;
}

/** Trace generators by workload and seed, shared by the runs of one process. */
const genCache = new Map<string, TraceGen>();
const traceCache = new Map<string, Int32Array>();

function generator(w: WorkloadSpec, layout: Layout, seed: number): TraceGen {
  const key = `${workloadName(w)}/${layout.nBlocks}/${layout.files}/${seed}`;
  let g = genCache.get(key);
  if (!g) {
    g = new TraceGen(w, layout, seed);
    genCache.set(key, g);
    if (genCache.size > 8) genCache.delete(genCache.keys().next().value!);
  }
  return g;
}

function traceOf(g: TraceGen, ops: number): Int32Array {
  const key = `${workloadName(g.spec)}/${g.layout.nBlocks}/${g.layout.files}/${g.seed}`;
  const t = traceCache.get(key);
  if (t && t.length >= ops) return t.subarray(0, ops);
  const nt = g.trace(0, ops);
  traceCache.set(key, nt);
  if (traceCache.size > 4) traceCache.delete(traceCache.keys().next().value!);
  return nt;
}

/** Runs one experiment; a policy with pause() needs runExperimentAsync(). */
export function runExperiment(spec: ExperimentSpec): ExperimentResult {
  const g = experiment(spec, false);
  for (;;) {
    const r = g.next();
    if (r.done) return r.value;
  }
}

/** runExperiment() for a policy whose pause() lets something outside the model run between GC calls. */
export async function runExperimentAsync(spec: ExperimentSpec): Promise<ExperimentResult> {
  let pause: (() => Promise<void>) | undefined;
  const g = experiment(spec, true, (p) => (pause = p));
  for (;;) {
    const r = g.next();
    if (r.done) return r.value;
    await pause?.();
  }
}

function* experiment(spec: ExperimentSpec, async: boolean, onPause?: (p: () => Promise<void>) => void): Generator<void, ExperimentResult, void> {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const geometry = spec.geometry ?? GEOMETRY_1G;
  const fillPct = spec.fillPct ?? 80;
  const layout = layoutFor(userBlockCount(geometry), fillPct);
  const warmupOps = spec.warmupOps ?? 1_000_000;
  const measureOps = spec.measureOps ?? 1_000_000;
  const lookahead = spec.lookaheadOps ?? measureOps;
  const gen = generator(spec.workload, layout, spec.seed);
  const ctx: PolicyContext = { geometry, layout, gen, warmupOps, measureOps, future: () => traceOf(gen, warmupOps + measureOps + lookahead) };
  const run = spec.policy.make(ctx);
  if (run.pause && !async) throw new KoffloadError('KOFFLOAD_ERR_INVALID_ARG', `policy ${spec.policy.name} runs outside the model: use runExperimentAsync()`);
  const trace = traceOf(gen, warmupOps + measureOps);
  const m = new LfsModel({
    geometry,
    layout,
    kernelGc: run.kernelGc,
    ...(run.hook ? { hook: run.hook } : {}),
    extraLogs: run.extraLogs ?? 0,
    blocksPerSec: spec.blocksPerSec ?? Math.round((60000 * geometry.mainSegs) / GEOMETRY_1G.mainSegs),
    nodes: spec.nodes ?? true,
    fsyncNodes: spec.fsyncNodes ?? true,
    minHotBlocks: run.minHotBlocks ?? spec.minHotBlocks ?? 16,
  });
  if (run.pause) {
    m.pauseAfterGc = true;
    onPause?.(run.pause.bind(run));
  }
  yield* m.fillSteps();
  if (spec.check) m.check();
  yield* m.steps(trace.subarray(0, warmupOps), 0);
  if (spec.check) m.check();
  const a = m.snapshot();
  const movedBefore = Float64Array.from(m.movedTo);
  const fromBefore = Float64Array.from(m.movedFrom);
  const victimsBefore = Float64Array.from(m.victimsFrom);
  const statsBefore = run.stats?.() ?? {};
  yield* m.steps(trace.subarray(warmupOps, warmupOps + measureOps), warmupOps);
  if (spec.check) m.check();
  const d = diff(a, m.snapshot());
  const movedTo: Record<string, number> = {};
  const movedFrom: Record<string, { victims: number; moved: number }> = {};
  for (let l = 0; l < m.nLogs; l++) {
    const n = m.movedTo[l]! - movedBefore[l]!;
    if (n > 0) movedTo[logName(l)] = n;
    const v = m.victimsFrom[l]! - victimsBefore[l]!;
    if (v > 0) movedFrom[logName(l)] = { victims: v, moved: m.movedFrom[l]! - fromBefore[l]! };
  }
  // the policy's counters over the measured phase
  const stats: Record<string, number> = {};
  for (const [k, v] of Object.entries(run.stats?.() ?? {})) stats[k] = v - (statsBefore[k] ?? 0);
  return {
    policy: spec.policy.name,
    workload: workloadName(spec.workload),
    seed: spec.seed,
    fillPct,
    gcDataWaf: (d.userData + d.gcData) / d.userData,
    deviceWaf: (d.userData + d.gcData + d.node + d.gcNode) / d.userData,
    measured: d,
    movedTo,
    movedFrom,
    stats,
    runSeconds: (performance.now() - t0) / 1000,
    cpuSeconds: ((c1) => (c1.user + c1.system) / 1e6)(process.cpuUsage(c0)),
    modelSeconds: m.nowSec(),
  };
}

/** Segments of the main area the run's data fills, for reports. */
export function describeGeometry(g: Geometry, fillPct: number): string {
  const ub = userBlockCount(g);
  const l = layoutFor(ub, fillPct);
  return (
    `${g.mainSegs} main segments of ${BLOCKS_PER_SEG} blocks, ${g.ovpSegs} over-provisioned (${g.reservedSegs} reserved), ` +
    `user capacity ${ub} blocks; ${l.files} files of ${l.blocksPerFile} blocks = ${l.nBlocks} (${((100 * l.nBlocks) / (g.mainSegs * BLOCKS_PER_SEG)).toFixed(1)}% of the main area)`
  );
}
