/**
 * splitmix64 (Steele, Lea, Flood 2014; Vigna's reference C), computed in
 * two uint32 halves so a trace of millions of draws costs no BigInt:
 *
 *     uint64_t next(uint64_t *s) {
 *         uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
 *         z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
 *         z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
 *         return z ^ (z >> 31);
 *     }
 *
 * with the two reductions the workload program (poc/gc/workload.c) uses:
 * next() % m as unsigned 64-bit arithmetic (mod()), and
 * (next() >> 11) * 2^-53 (unit()).
 */

/** Largest m mod() accepts: (m - 1)^2 + m must stay exact in a double. */
export const MOD_MAX = 1 << 26;

const GAMMA_HI = 0x9e3779b9;
const GAMMA_LO = 0x7f4a7c15;
const M1_HI = 0xbf58476d;
const M1_LO = 0x1ce4e5b9;
const M2_HI = 0x94d049bb;
const M2_LO = 0x133111eb;

export class SplitMix64 {
  private hi: number;
  private lo: number;
  /** the halves of the last next() */
  outHi = 0;
  outLo = 0;

  /** state: the initial s, a non-negative integer below 2^53 or a bigint (mod 2^64) */
  constructor(state: number | bigint) {
    const s = BigInt.asUintN(64, BigInt(state));
    this.hi = Number(s >> 32n) >>> 0;
    this.lo = Number(s & 0xffffffffn) >>> 0;
  }

  /** Advances; the 64-bit result is in outHi/outLo. */
  step(): void {
    // s += gamma
    let lo = this.lo + GAMMA_LO;
    let hi = (this.hi + GAMMA_HI + (lo > 0xffffffff ? 1 : 0)) >>> 0;
    lo >>>= 0;
    this.lo = lo;
    this.hi = hi;
    // z ^= z >> 30; z *= M1
    let zl = (lo ^ ((lo >>> 30) | (hi << 2))) >>> 0;
    let zh = (hi ^ (hi >>> 30)) >>> 0;
    mul64(zh, zl, M1_HI, M1_LO);
    zh = mulHi;
    zl = mulLo;
    // z ^= z >> 27; z *= M2
    lo = (zl ^ ((zl >>> 27) | (zh << 5))) >>> 0;
    hi = (zh ^ (zh >>> 27)) >>> 0;
    mul64(hi, lo, M2_HI, M2_LO);
    zh = mulHi;
    zl = mulLo;
    // z ^= z >> 31
    this.outLo = (zl ^ ((zl >>> 31) | (zh << 1))) >>> 0;
    this.outHi = (zh ^ (zh >>> 31)) >>> 0;
  }

  /** next() as a bigint (tests and seeds; slow). */
  nextBigInt(): bigint {
    this.step();
    return (BigInt(this.outHi) << 32n) | BigInt(this.outLo);
  }

  /** (next() >> 11) * 2^-53: a double in [0, 1) */
  unit(): number {
    this.step();
    return lastUnit(this);
  }

  /** next() % m for 1 <= m <= MOD_MAX */
  mod(m: number): number {
    this.step();
    return lastMod(this, m);
  }
}

/** The last draw as (z >> 11) * 2^-53. */
export function lastUnit(g: SplitMix64): number {
  return (g.outHi * 2097152 + (g.outLo >>> 11)) * 1.1102230246251565e-16;
}

/** The last draw mod m: ((hi mod m) * (2^32 mod m) + lo) mod m, exact for m <= MOD_MAX. */
export function lastMod(g: SplitMix64, m: number): number {
  return (((g.outHi % m) * (4294967296 % m)) + g.outLo) % m;
}

let mulHi = 0;
let mulLo = 0;

/** (ah:al) * (bh:bl) mod 2^64 into mulHi:mulLo. */
function mul64(ah: number, al: number, bh: number, bl: number): void {
  const a0 = al & 0xffff;
  const a1 = al >>> 16;
  const b0 = bl & 0xffff;
  const b1 = bl >>> 16;
  const p00 = a0 * b0;
  const p01 = a0 * b1;
  const p10 = a1 * b0;
  const p11 = a1 * b1;
  const mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  mulLo = (((mid & 0xffff) << 16) | (p00 & 0xffff)) >>> 0;
  const carry = p11 + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16);
  mulHi = (carry + Math.imul(ah, bl) + Math.imul(al, bh)) >>> 0;
}

/**
 * Fisher-Yates from the top: for i = n-1 down to 1, j = next() % (i + 1),
 * swap p[i] and p[j]; p starts as the identity. n - 1 draws.
 */
export function shuffledIdentity(n: number, rng: SplitMix64): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i >= 1; i--) {
    const j = rng.mod(i + 1);
    const t = p[i]!;
    p[i] = p[j]!;
    p[j] = t;
  }
  return p;
}
