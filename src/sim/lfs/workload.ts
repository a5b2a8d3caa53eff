/**
 * The write traces of the GC experiments: the same block sequence as the
 * guest's workload program, poc/gc/workload.c (its header comment is the
 * specification; `workload trace NBLOCKS OPS SEED [FIRST_OP]` prints it),
 * so the model and real F2FS see identical writes. In short:
 *
 * - Layout: `files` files (16) of `blocksPerFile` 4 KiB blocks, with
 *   NBLOCKS = floor(floor(f_bfree * FILL_PCT / 100) / files) * files, where
 *   f_bfree is statfs()'s free block count of the fresh F2FS: its
 *   user_block_count minus the 2 blocks mkfs uses (root inode and dentry).
 *   Block b is block b % blocksPerFile of file floor(b / blocksPerFile).
 *   fill writes each file sequentially and fsyncs it.
 * - Two splitmix64 generators (rng.ts): layout from state 2*SEED, writes
 *   from 2*SEED + 1. Layout: Fisher-Yates P of 0..N-1, j = next() % (i + 1)
 *   for i = N-1 down to 1 (drawn for every distribution); hot set
 *   P[0..h), h = floor(N * H / 100).
 * - Write op k (counted from the first run; warm-up and measured runs are
 *   one sequence) draws u1, u2 (draws 2k, 2k+1):
 *     hotcold W/H: u1 % 100 < W ? P[u2 % h] : P[h + u2 % (N - h)]
 *     uniform:     u2 % N
 *     zipf:        C[r] = C[r-1] + 1.0 / (r + 1) summed in double;
 *                  t = ((u2 >> 11) * 2^-53) * C[N-1]; the least r with
 *                  C[r] > t; block P[r]   (theta 1)
 * - After op k with (k + 1) % 64 == 0, and at the end of a run, every file
 *   written since its last fsync is fsynced, in file order.
 */
import { KoffloadError } from '../../errors.js';
import { type SplitMix64 as Gen, MOD_MAX, SplitMix64, lastMod, lastUnit, shuffledIdentity } from './rng.js';

export type WorkloadSpec =
  | { kind: 'hotcold'; hotWritePct: number; hotDataPct: number }
  | { kind: 'zipf' }
  | { kind: 'uniform' };

export const WORKLOADS: Readonly<Record<string, WorkloadSpec>> = {
  'hotcold:90/10': { kind: 'hotcold', hotWritePct: 90, hotDataPct: 10 },
  'hotcold:80/20': { kind: 'hotcold', hotWritePct: 80, hotDataPct: 20 },
  zipf: { kind: 'zipf' },
  uniform: { kind: 'uniform' },
};

/** workload.c's --dist syntax: hotcold:W/H, zipf, uniform */
export function workloadByName(name: string): WorkloadSpec | undefined {
  const w = WORKLOADS[name];
  if (w) return w;
  const m = /^hotcold:(\d+)\/(\d+)$/.exec(name);
  if (m && Number(m[1]) <= 100 && Number(m[2]) >= 1 && Number(m[2]) <= 99) return { kind: 'hotcold', hotWritePct: Number(m[1]), hotDataPct: Number(m[2]) };
  return undefined;
}

export function workloadName(w: WorkloadSpec): string {
  return w.kind === 'hotcold' ? `hotcold:${w.hotWritePct}/${w.hotDataPct}` : w.kind;
}

export interface Layout {
  files: number;
  blocksPerFile: number;
  /** files * blocksPerFile */
  nBlocks: number;
}

/** Blocks mkfs.f2fs leaves valid: the root inode and its dentry block. */
export const MKFS_VALID_BLOCKS = 2;

/** workload.c's fill: NBLOCKS from statfs's f_bfree on the fresh filesystem. */
export function layoutFor(userBlocks: number, fillPct: number, files = 16): Layout {
  const bfree = userBlocks - MKFS_VALID_BLOCKS;
  const nBlocks = Math.floor(Math.floor((bfree * fillPct) / 100) / files) * files;
  return { files, blocksPerFile: nBlocks / files, nBlocks };
}

const GAMMA = 0x9e3779b97f4a7c15n;

/** The block sequence of one workload, layout and seed. */
export class TraceGen {
  /** P: P[0..hot) is the hot set (hot/cold), P[r] the block of Zipf rank r */
  readonly perm: Int32Array;
  readonly hot: number;
  private readonly cdf: Float64Array | undefined;

  constructor(
    readonly spec: WorkloadSpec,
    readonly layout: Layout,
    readonly seed: number,
  ) {
    const n = layout.nBlocks;
    // the 64-bit modulo in doubles is exact up to MOD_MAX (256 GiB of 4 KiB blocks)
    if (!Number.isInteger(n) || n < 2 || n > MOD_MAX) throw new KoffloadError('KOFFLOAD_ERR_INVALID_ARG', `a trace needs 2..${MOD_MAX} blocks, got ${n}`);
    this.perm = shuffledIdentity(n, new SplitMix64(2n * BigInt(seed)));
    this.hot = spec.kind === 'hotcold' ? Math.floor((n * spec.hotDataPct) / 100) : 0;
    if (spec.kind === 'hotcold' && (this.hot === 0 || this.hot === n)) throw new RangeError(`${n} blocks are too few for a ${spec.hotDataPct}% hot set`);
    if (spec.kind === 'zipf') {
      const cdf = new Float64Array(n);
      let c = 0;
      for (let i = 0; i < n; i++) {
        c += 1.0 / (i + 1);
        cdf[i] = c;
      }
      this.cdf = cdf;
    }
  }

  /** Is block b in the hot set (hot/cold), or among the 10% most likely ranks (zipf)? */
  hotMask(): Uint8Array {
    const m = new Uint8Array(this.layout.nBlocks);
    const k = this.spec.kind === 'hotcold' ? this.hot : this.spec.kind === 'zipf' ? Math.floor(this.layout.nBlocks / 10) : 0;
    for (let i = 0; i < k; i++) m[this.perm[i]!] = 1;
    return m;
  }

  /** The blocks of ops first .. first + ops - 1. */
  trace(first: number, ops: number): Int32Array {
    const out = new Int32Array(ops);
    const g: Gen = new SplitMix64(2n * BigInt(this.seed) + 1n + 2n * BigInt(first) * GAMMA);
    const n = this.layout.nBlocks;
    const spec = this.spec;
    const perm = this.perm;
    if (spec.kind === 'hotcold') {
      const h = this.hot;
      const w = spec.hotWritePct;
      for (let k = 0; k < ops; k++) {
        g.step();
        const isHot = lastMod(g, 100) < w;
        g.step();
        out[k] = isHot ? perm[lastMod(g, h)]! : perm[h + lastMod(g, n - h)]!;
      }
    } else if (spec.kind === 'uniform') {
      for (let k = 0; k < ops; k++) {
        g.step();
        g.step();
        out[k] = lastMod(g, n);
      }
    } else {
      const cdf = this.cdf!;
      const total = cdf[n - 1]!;
      for (let k = 0; k < ops; k++) {
        g.step();
        g.step();
        const t = lastUnit(g) * total;
        let lo = 0;
        let hi = n - 1;
        while (lo < hi) {
          const mid = lo + ((hi - lo) >>> 1);
          if (cdf[mid]! > t) hi = mid;
          else lo = mid + 1;
        }
        out[k] = perm[lo]!;
      }
    }
    return out;
  }
}
