#!/usr/bin/env node
/**
 * Trains the learned F2FS GC policy's placement model from a `koffloadd
 * --record` file and writes the model the policy starts from
 * (examples/f2fs/learned-model.ts; examples/f2fs-learned.ts loads it).
 *
 *   node dist/scripts/train-f2fs-policy.js --record FILE [--out PATH] [--json PATH]
 *   node dist/scripts/train-f2fs-policy.js --simulate [--size scaled:126] [--warmup N] [--measure N] [--seed N]
 *   node dist/scripts/train-f2fs-policy.js --check      the committed model is what --simulate makes
 *
 * The record holds every MOVED notice the kernel sent and, in the
 * handler's response (MovedResponse), what the policy observed when it
 * handled it: its clock (iostat's fs data) and the segment_info poll it
 * took, if any. Replaying them in order through learned-core.ts's GcDaemon
 * rebuilds the policy's examples exactly as it built them live: each block
 * moved, with its history's features at that moment, labelled once its
 * destination segment is cleaned (survived: 0) or found reborn (died: 1).
 * The weights are then the L2-regularised logistic regression fitted to
 * all of them (Newton's method, deterministic), not the online ones.
 *
 * --simulate makes the record itself: the LFS model served by koffloadd
 * with examples/f2fs-learned.ts learning from scratch
 * (KOFFLOAD_F2FS_MODEL=none), in the simulator's synchronous mode, so the
 * same command always gives the same record and the same model.
 */
import { createReadStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { BlockMap, NULL_SEGNO, NoticeAssembler, SEG_BLOCKS } from '../examples/f2fs/advice.js';
import { LEARNED_PARAMS, type LearnedModel } from '../examples/f2fs/engine.js';
import { unpackSegmentInfo } from '../examples/f2fs/host.js';
import { DAEMON_DEFAULTS, FEATURES, GcDaemon, NF } from '../examples/f2fs/learned-core.js';
import { MovedRequest, MovedResponse } from '../src/generated/proto/f2fs.js';
import { EXIT, runIfMain } from '../src/runtime/cli-support.js';
import { MKFS_1_15, scaledGeometry } from '../src/sim/lfs/geometry.js';
import { runServed } from '../src/sim/lfs/served.js';
import { WORKLOADS } from '../src/sim/lfs/workload.js';

const REPO = resolve(fileURLToPath(new URL('.', import.meta.url)), import.meta.url.includes('/dist/') ? '../..' : '..');
export const MODEL_PATH = join(REPO, 'examples/f2fs/learned-model.ts');
/** --simulate's defaults: what the committed model was made with. */
export const SIMULATE_DEFAULTS = { size: '1G', warmup: 500_000, measure: 500_000, seed: 1 } as const;

export interface Examples {
  x: Float64Array;
  y: Uint8Array;
  n: number;
  /** notices read, victims joined, polls replayed */
  notices: number;
  victims: number;
  polls: number;
}

/** The MOVED lines of a record, in order: the request, and what the policy recorded in its response. */
export async function* movedLines(file: string): AsyncGenerator<{ req: MovedRequest; clock: number | undefined; poll: Uint8Array | undefined }> {
  const rl = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  for await (const line of rl) {
    if (!line.trim()) continue;
    let rec: { subsys?: string; role?: string; opName?: string | null; request?: { b64?: string }; reply?: { status?: string; b64?: string } | null };
    try {
      rec = JSON.parse(line) as typeof rec;
    } catch {
      continue; // a torn line (the record format allows them)
    }
    if (rec.subsys !== 'f2fs_gc' || rec.role !== 'live' || rec.opName !== 'moved' || !rec.request?.b64) continue;
    const req = MovedRequest.decode(Buffer.from(rec.request.b64, 'base64'));
    let clock: number | undefined;
    let poll: Uint8Array | undefined;
    if (rec.reply?.status === 'ok' && rec.reply.b64 !== undefined) {
      const r = MovedResponse.decode(Buffer.from(rec.reply.b64, 'base64'));
      if (r.clock > 0n) clock = Number(r.clock);
      if (r.segment_info.length > 0) poll = r.segment_info;
    }
    yield { req, clock, poll };
  }
}

/** Replays a record's notices through the policy's core and returns every labelled example. */
export async function examplesOf(file: string): Promise<Examples> {
  const daemon = new GcDaemon({ ...DAEMON_DEFAULTS, ...LEARNED_PARAMS });
  const blocks = new BlockMap();
  const notices = new NoticeAssembler();
  let cap = 1 << 16;
  let x = new Float64Array(cap * NF);
  let y = new Uint8Array(cap);
  let n = 0;
  daemon.onExample = (xs, died) => {
    if (n === cap) {
      cap *= 2;
      const nx = new Float64Array(cap * NF);
      nx.set(x);
      x = nx;
      const ny = new Uint8Array(cap);
      ny.set(y);
      y = ny;
    }
    x.set(xs, n * NF);
    y[n++] = died;
  };
  const ids = new Int32Array(SEG_BLOCKS);
  const dests = new Int32Array(SEG_BLOCKS);
  let clock = 0;
  let count = 0;
  let victims = 0;
  let polls = 0;
  for await (const { req, clock: c, poll } of movedLines(file)) {
    count++;
    if (c !== undefined) clock = c;
    const done = notices.add(req);
    // the live policy polls first, then learns from the victim (engine.ts)
    if (done.length > 0 && poll) {
      const si = unpackSegmentInfo(poll);
      daemon.onPoll(clock, si.valid, si.type);
      polls++;
    }
    for (const v of done) {
      let k = 0;
      for (const r of v.runs) {
        for (let i = 0; i < r.count && k < SEG_BLOCKS; i++) {
          ids[k] = blocks.id(r.ino, r.first_index + i);
          dests[k++] = r.dest_segno === NULL_SEGNO ? -1 : r.dest_segno;
        }
      }
      daemon.onVictim(clock, v.segno, v.segType, ids, dests, k);
      victims++;
    }
  }
  return { x: x.subarray(0, n * NF), y: y.subarray(0, n), n, notices: count, victims, polls };
}

/** Mean log loss of weights w (NF + bias) on the examples. */
export function logLoss(ex: Examples, w: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < ex.n; i++) {
    let z = w[NF]!;
    for (let j = 0; j < NF; j++) z += w[j]! * ex.x[i * NF + j]!;
    const p = 1 / (1 + Math.exp(-z));
    s -= ex.y[i] ? Math.log(Math.max(p, 1e-12)) : Math.log(Math.max(1 - p, 1e-12));
  }
  return s / Math.max(1, ex.n);
}

/** L2-regularised logistic regression by Newton's method (IRLS); deterministic. */
export function fit(ex: Examples, lambda = 1, iterations = 25): number[] {
  const d = NF + 1;
  const w = new Float64Array(d);
  const xi = new Float64Array(d);
  for (let it = 0; it < iterations; it++) {
    const g = new Float64Array(d);
    const h = new Float64Array(d * d);
    for (let i = 0; i < ex.n; i++) {
      for (let j = 0; j < NF; j++) xi[j] = ex.x[i * NF + j]!;
      xi[NF] = 1;
      let z = 0;
      for (let j = 0; j < d; j++) z += w[j]! * xi[j]!;
      const p = 1 / (1 + Math.exp(-z));
      const r = p - ex.y[i]!;
      const s = p * (1 - p);
      for (let j = 0; j < d; j++) {
        g[j]! += r * xi[j]!;
        for (let k = 0; k <= j; k++) h[j * d + k]! += s * xi[j]! * xi[k]!;
      }
    }
    for (let j = 0; j < d; j++) {
      for (let k = 0; k < j; k++) h[k * d + j] = h[j * d + k]!;
      // the bias is not shrunk
      if (j < NF) {
        g[j]! += lambda * w[j]!;
        h[j * d + j]! += lambda;
      }
      h[j * d + j]! += 1e-9;
    }
    const step = solve(h, g, d);
    let moved = 0;
    for (let j = 0; j < d; j++) {
      w[j]! -= step[j]!;
      moved = Math.max(moved, Math.abs(step[j]!));
    }
    if (moved < 1e-10) break;
  }
  return [...w].map((v) => Number(v.toPrecision(8)));
}

/** Solves a x = b (d x d, Gaussian elimination with partial pivoting). */
function solve(a: Float64Array, b: Float64Array, d: number): Float64Array {
  const m = Float64Array.from(a);
  const x = Float64Array.from(b);
  for (let c = 0; c < d; c++) {
    let p = c;
    for (let r = c + 1; r < d; r++) if (Math.abs(m[r * d + c]!) > Math.abs(m[p * d + c]!)) p = r;
    if (p !== c) {
      for (let k = 0; k < d; k++) [m[c * d + k], m[p * d + k]] = [m[p * d + k]!, m[c * d + k]!];
      [x[c], x[p]] = [x[p]!, x[c]!];
    }
    for (let r = c + 1; r < d; r++) {
      const f = m[r * d + c]! / m[c * d + c]!;
      for (let k = c; k < d; k++) m[r * d + k]! -= f * m[c * d + k]!;
      x[r]! -= f * x[c]!;
    }
  }
  for (let c = d - 1; c >= 0; c--) {
    let s = x[c]!;
    for (let k = c + 1; k < d; k++) s -= m[c * d + k]! * x[k]!;
    x[c] = s / m[c * d + c]!;
  }
  return x;
}

export function modelOf(ex: Examples, source: string): LearnedModel {
  return { format: 'koffload-f2fs-learned/1', weights: fit(ex), examples: ex.n, source };
}

/** The model module the policy imports. */
export function modelModule(m: LearnedModel, ex: Examples): string {
  const died = ex.y.reduce((a, b) => a + b, 0);
  return `// Generated by scripts/train-f2fs-policy.ts: do not edit; retrain (docs/poc-gc.md).
// ${ex.n} examples (${((100 * died) / Math.max(1, ex.n)).toFixed(1)}% died) from ${ex.notices} notices, ${ex.victims} victims, ${ex.polls} polls;
// log loss ${logLoss(ex, m.weights).toFixed(4)} (all-zero weights: ${logLoss(ex, new Array(NF + 1).fill(0)).toFixed(4)}).
// Features, in weight order (bias last): ${FEATURES.join(', ')}.
import type { LearnedModel } from './engine.js';

export const LEARNED_MODEL: LearnedModel = ${JSON.stringify(m, null, 2).replace(/"([a-z]+)":/g, '$1:').replace(/"/g, "'")};
`;
}

export interface SimulateOptions {
  size?: string;
  warmup?: number;
  measure?: number;
  seed?: number;
  /** where the record goes. @default a temporary file, removed */
  record?: string;
}

/** Records the learned policy learning from scratch on the model (sync mode: deterministic). */
export async function simulate(o: SimulateOptions = {}): Promise<{ record: string; source: string; cleanup: () => void }> {
  const size = o.size ?? SIMULATE_DEFAULTS.size;
  const m = /^scaled:(\d+)$/.exec(size);
  const geometry = m ? scaledGeometry(Number(m[1])) : MKFS_1_15[size];
  if (!geometry) throw new Error(`unknown --size ${size}`);
  const dir = o.record ? undefined : mkdtempSync(join(tmpdir(), 'koffload-train-'));
  const record = o.record ?? join(dir!, 'record.jsonl');
  const warmupOps = o.warmup ?? SIMULATE_DEFAULTS.warmup;
  const measureOps = o.measure ?? SIMULATE_DEFAULTS.measure;
  const seed = o.seed ?? SIMULATE_DEFAULTS.seed;
  const prev = process.env.KOFFLOAD_F2FS_MODEL;
  process.env.KOFFLOAD_F2FS_MODEL = 'none';
  try {
    await runServed({ policyFile: join(REPO, 'examples/f2fs-learned.ts'), spec: { geometry, workload: WORKLOADS['hotcold:90/10']!, seed, warmupOps, measureOps }, minHotBlocks: 0, record });
  } finally {
    if (prev === undefined) delete process.env.KOFFLOAD_F2FS_MODEL;
    else process.env.KOFFLOAD_F2FS_MODEL = prev;
  }
  return {
    record,
    source: `train-f2fs-policy --simulate --size ${size} --warmup ${warmupOps} --measure ${measureOps} --seed ${seed} (hotcold:90/10, 80%, min_hot_blocks 0)`,
    cleanup: () => dir && rmSync(dir, { recursive: true, force: true }),
  };
}

const HELP = `usage: train-f2fs-policy (--record FILE | --simulate | --check) [options]
  --record FILE    train from a koffloadd --record file of examples/f2fs-learned.ts
  --simulate       make the record on the LFS model first (deterministic)
  --check          --simulate with the defaults and compare with ${MODEL_PATH}
  --size S         --simulate: geometry, scaled:SEGS or 128M..8G (default ${SIMULATE_DEFAULTS.size})
  --warmup N       --simulate: warm-up writes (default ${SIMULATE_DEFAULTS.warmup})
  --measure N      --simulate: measured writes (default ${SIMULATE_DEFAULTS.measure})
  --seed N         --simulate: seed (default ${SIMULATE_DEFAULTS.seed})
  --keep-record F  --simulate: keep the record in F
  --out PATH       the model module to write (default ${MODEL_PATH})
  --json PATH      also write the model as JSON (KOFFLOAD_F2FS_MODEL=PATH loads it)
`;

export async function main(argv: string[]): Promise<number> {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      record: { type: 'string' },
      simulate: { type: 'boolean' },
      check: { type: 'boolean' },
      size: { type: 'string' },
      warmup: { type: 'string' },
      measure: { type: 'string' },
      seed: { type: 'string' },
      'keep-record': { type: 'string' },
      out: { type: 'string' },
      json: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (v.help || (!v.record && !v.simulate && !v.check)) {
    process.stdout.write(HELP);
    return v.help ? EXIT.ok : EXIT.usage;
  }
  let file = v.record;
  let source = v.record ? `train-f2fs-policy --record ${v.record}` : '';
  let cleanup = (): void => undefined;
  if (!file) {
    const s = await simulate({
      ...(v.check ? {} : { ...(v.size ? { size: v.size } : {}), ...(v.warmup ? { warmup: Number(v.warmup) } : {}), ...(v.measure ? { measure: Number(v.measure) } : {}), ...(v.seed ? { seed: Number(v.seed) } : {}) }),
      ...(v['keep-record'] ? { record: v['keep-record'] } : {}),
    });
    file = s.record;
    source = s.source;
    cleanup = s.cleanup;
  }
  try {
    const ex = await examplesOf(file);
    if (ex.n === 0) throw new Error(`${file} holds no labelled example (a record of examples/f2fs-learned.ts, koffloadd --record, is needed)`);
    const model = modelOf(ex, source);
    const text = modelModule(model, ex);
    if (v.check) {
      const same = readFileSync(MODEL_PATH, 'utf8') === text;
      process.stdout.write(same ? `train-f2fs-policy: ${MODEL_PATH} is what the script makes\n` : `train-f2fs-policy: ${MODEL_PATH} differs from what the script makes:\n${text}`);
      return same ? EXIT.ok : EXIT.failure;
    }
    writeFileSync(v.out ?? MODEL_PATH, text);
    if (v.json) writeFileSync(v.json, `${JSON.stringify(model, null, 2)}\n`);
    process.stdout.write(`train-f2fs-policy: ${ex.n} examples from ${ex.victims} victims; weights ${model.weights.join(' ')}; log loss ${logLoss(ex, model.weights).toFixed(4)}; wrote ${v.out ?? MODEL_PATH}\n`);
    return EXIT.ok;
  } finally {
    cleanup();
  }
}

runIfMain(import.meta.url, 'train-f2fs-policy', main);
