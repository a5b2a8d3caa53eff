/**
 * Future knowledge for bounds: when each block is next overwritten.
 * Built from the whole write sequence (warm-up, measured and look-ahead
 * ops); a policy that reads it is a bound, not something userspace can do.
 */
import type { LfsModel } from './model.js';

export class Oracle {
  /** nextOcc[k]: the op after k that writes the same block, or `never` */
  private readonly nextOcc: Int32Array;
  /** firstOcc[b]: the first op writing b (the fill's version dies then) */
  private readonly firstOcc: Int32Array;
  /** an op index past every known op */
  readonly never: number;

  constructor(future: Int32Array, nBlocks: number) {
    const n = future.length;
    this.never = n + 1;
    this.nextOcc = new Int32Array(n);
    const last = new Int32Array(nBlocks).fill(this.never);
    for (let k = n - 1; k >= 0; k--) {
      const b = future[k]!;
      this.nextOcc[k] = last[b]!;
      last[b] = k;
    }
    this.firstOcc = last;
  }

  /** The op that overwrites the contents block b holds in m (never: not within the known ops). */
  nextWrite(m: LfsModel, b: number): number {
    const v = m.verOp[b]!;
    return v >= 0 ? this.nextOcc[v]! : this.firstOcc[b]!;
  }
}

const cache = new WeakMap<Int32Array, Oracle>();

/** One Oracle per future array (the experiments of one process share traces). */
export function oracleFor(future: Int32Array, nBlocks: number): Oracle {
  let o = cache.get(future);
  if (!o) {
    o = new Oracle(future, nBlocks);
    cache.set(future, o);
  }
  return o;
}
