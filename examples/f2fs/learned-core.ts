/**
 * The learned GC policy's core: what it learns from a filesystem's
 * segment_info polls and GC notices, and the advice it derives, in plain
 * arrays. The same code runs in the policy koffloadd serves
 * (examples/f2fs-learned.ts, through examples/f2fs/engine.ts) and in the
 * LFS model's exploration of policies (src/sim/lfs/daemon.ts), so what the
 * model measured is what the real kernel gets.
 *
 * Blocks are dense ids (advice.ts's BlockMap: a slot of 16384 ids per
 * (inode, chunk)); the per-block arrays grow with them (ensure()). Time t is
 * user data blocks written (iostat's fs data), whatever the caller's clock.
 *
 * Observations in:
 * - onPoll(): a segment_info poll (each segment's log type and valid
 *   blocks);
 * - onVictim(): a cleaned victim: its segment and log type, the blocks moved
 *   and the segment each went to;
 * - onOpen(): a segment allocation (births=1 only; F2FS does not send it).
 * Advice out (publish(), or refreshClasses() and rank() apart):
 * - a victim ranking (victim rules 1-5): up to `top` (segment, valid, type)
 *   entries, best first; or a bitmap of segments to skip (rule 6, the
 *   exploration only);
 * - two class bits per block (placement rules 1 and 7; 9 is given the true
 *   hot set): move to the hot data log when moved out of a user-written
 *   victim / out of a GC-log victim.
 *
 * The rules and the numbers behind them: docs/poc-gc-model.md.
 */
import { CHUNK_BLOCKS, CHUNK_SHIFT, ClassMap, SEG_BLOCKS, SEG_TYPE } from './advice.js';

/** Log types: F2FS's data logs, and EXTRA_LOG_BASE.. for logs a patch would add (the model's exploration). */
const LOG = SEG_TYPE;
export const EXTRA_LOG_BASE = 6;

const BPS = SEG_BLOCKS;
const NEVER = -1e18;
/** hazard table ages: [0, 1024) then doubling buckets */
const AGE_BUCKETS = 24;
const ageBucket = (a: number): number => (a < 1024 ? 0 : Math.min(AGE_BUCKETS - 1, 32 - Math.clz32(Math.floor(a / 1024))));
const BUCKET_START = Float64Array.from({ length: AGE_BUCKETS }, (_, b) => (b === 0 ? 0 : 1024 * 2 ** (b - 1)));
const bucketEnd = (b: number): number => (b === AGE_BUCKETS - 1 ? Infinity : 1024 * 2 ** b);
const bucketStart = (b: number): number => BUCKET_START[b]!;
const NO_BLOCKS = new Int32Array(0);
const NO_PAGE = new Uint8Array(0);
const MEMO_SIZE = 8192;
const MEMO_MASK = MEMO_SIZE - 1;
const isDataType = (ty: number): boolean => (ty >= LOG.HOT_DATA && ty <= LOG.COLD_DATA) || ty >= EXTRA_LOG_BASE;
/** hazard table row of a data log: hot, warm, cold, or a log the patch added */
const HZ_TYPES = 4;
const hzRow = (ty: number): number => (ty >= EXTRA_LOG_BASE ? 3 : ty);

export interface DaemonParams {
  /**
   * victim rule: 0 none (the kernel's cost-benefit); 1 cost-benefit on the
   * daemon's own segment ages; 2 the same with age^k; 3 "waste" by each
   * segment's own invalidation rate: rank by valid + wa * valid *
   * (1 - e^(-rate h)), least first; 4 "waste" with survival over the next
   * h writes from a hazard table learned per (log type, segment age); 5
   * "waste" with rate * tau * (1 - e^(-h/tau)); 6 defer: the kernel's scan
   * skips segments predicted to lose more than theta within h
   */
  victim: number;
  /**
   * placement rule: 0 all to the cold log; 1 history: hot when moved out of
   * a warm victim less than t writes after its previous such move; 2 victim
   * age: survivors of warm victims younger than a writes; 3 generation: all
   * survivors of warm victims; 7 learned: logistic regression on the
   * block's history, trained online on whether moved blocks died before
   * their destination segment was cleaned; 9 the true hot set (a bound)
   */
  place: number;
  t: number;
  a: number;
  k: number;
  wa: number;
  h: number;
  w: number;
  theta: number;
  /** rule 7: learning rate */
  lr: number;
  /** rule 7: examples resolved before the bits are published */
  minTrain: number;
  /** rule 7: half-life of the block's move count, user writes */
  half: number;
  /** rule 7: P(dies before its GC segment is cleaned) above which the block goes hot */
  pHot: number;
  /**
   * the log GC's hot class goes to: 0 the hot data log, 1 the warm data
   * log, 6 a log the patch adds
   */
  hotLog: number;
  /**
   * min_hot_blocks the daemon writes to sysfs at start (-1: leave F2FS's 16).
   * 0 sends all user data to the warm log, which leaves the hot data log
   * to GC: user writes and moved blocks then never share a log
   */
  minHot: number;
  /** segment births: 0 from segment_info polls, 1 from the kernel's allocation events */
  births: number;
  /** publish every `every` GC calls */
  every: number;
  /** recompute every block's bits every `refresh` publishes (moved blocks at once) */
  refresh: number;
  /** poll segment_info every `poll` user writes */
  poll: number;
  /** ranking entries published */
  top: number;
  /**
   * which class bit the kernel applies (exploration only): 0 bit 0 for
   * user-written victims as userWritten() says; 1 bit 0 for every hot or
   * warm data victim, as koffload.c does
   */
  bitRule: number;
  /** rule 7: a segment a poll sees empty resolves its examples as died at once (1), or when reborn (0) */
  emptyDied: number;
}

export const DAEMON_DEFAULTS: DaemonParams = {
  victim: 0,
  place: 7,
  t: 900000,
  a: 40000,
  k: 1,
  wa: 6,
  h: 40000,
  w: 0.3,
  theta: 0.3,
  lr: 0.05,
  minTrain: 20000,
  half: 500000,
  pHot: 0.5,
  hotLog: 0,
  minHot: 0,
  births: 0,
  every: 1,
  refresh: 16,
  poll: 4096,
  top: 32,
  bitRule: 0,
  emptyDied: 0,
};

/** What the daemon publishes; the kernel reads it at GC time. */
export interface Advice {
  rankSeg: Int32Array;
  rankValid: Int32Array;
  rankType: Int8Array;
  rankLen: number;
  /** per block id, bit 0: hot when moved out of a user-written victim; bit 1: out of a GC-log victim */
  cls: ClassMap;
  /** published at least once */
  ranked: boolean;
  /** victim rule 6: segments the kernel's scan skips */
  defer: Uint8Array | undefined;
}

/** Features of a block's history, for rule 7 (the daemon's own data only). */
export const NF = 7;
/** The features' names, in weight order (the bias is the last weight). */
export const FEATURES = ['never-moved-out-of-user', 'log-since-user-move', 'user-moves-decayed', 'in-gc-log-since', 'log-since-gc-move', 'next-from-user', 'never-seen'] as const;

/** The userspace side: observations in, advice out. */
export class GcDaemon {
  readonly advice: Advice;
  readonly stats = { notifications: 0, movedSeen: 0, publishes: 0, polls: 0, trained: 0, trainedDied: 0 };
  // segment_info history
  private pollValid: Int32Array | undefined;
  private pollType: Int8Array | undefined;
  private birth: Float64Array | undefined;
  private rate: Float64Array | undefined;
  private opened: Uint8Array | undefined;
  private lastPollT = 0;
  private readonly hzDied = new Float64Array(HZ_TYPES * AGE_BUCKETS);
  private readonly hzExp = new Float64Array(HZ_TYPES * AGE_BUCKETS);
  // per-block history from GC notifications, by block id (grown by ensure())
  private lastWarmMove = new Float64Array(0);
  private lastGcMove = new Float64Array(0);
  private moveCount = new Float32Array(0);
  private moveCountT = new Float64Array(0);
  private seen = new Uint8Array(0);
  /** block ids the arrays hold */
  nBlocks = 0;
  // rule 7: examples waiting for their destination segment's cleaning
  readonly weights = new Float64Array(NF + 1);
  private exX = new Float32Array(0);
  private exBlock = new Int32Array(0);
  private exT = new Float64Array(0);
  private exNext = new Int32Array(0);
  private exFree = new Int32Array(0);
  private exFreeN = 0;
  private segHead: Int32Array | undefined;
  private readonly x = new Float64Array(NF);
  private refreshAt = 0;
  /** classifyRange()'s memo of log1p(t - lw), log1p(t - lg), the count's decay, by time */
  private readonly memoKey = new Float64Array(3 * MEMO_SIZE);
  private readonly memoVal = new Float64Array(3 * MEMO_SIZE);
  /** every labelled example, before it trains the weights (offline training collects them) */
  onExample: ((x: Float64Array, died: number) => void) | undefined;

  /**
   * blocks: the block ids to make room for at once (more as ensure() is
   * told); trueHot: for place 9 only, the workload's hot set by block id.
   * weights: a trained model's (the learned policy's file), else zeros.
   */
  constructor(
    readonly p: DaemonParams,
    blocks = 0,
    private readonly trueHot?: Uint8Array,
    weights?: ArrayLike<number>,
  ) {
    this.advice = { rankSeg: new Int32Array(p.top).fill(-1), rankValid: new Int32Array(p.top), rankType: new Int8Array(p.top), rankLen: 0, cls: new ClassMap(), ranked: false, defer: undefined };
    if (weights) {
      if (weights.length !== NF + 1) throw new Error(`the learned placement has ${NF + 1} weights, got ${weights.length}`);
      this.weights.set(weights);
    }
    this.ensure(blocks);
  }

  /** Makes room for block ids 0..n-1; the arrays at least double when they grow. */
  ensure(n: number): void {
    if (n <= this.nBlocks) return;
    const cap = Math.max(n, 2 * this.nBlocks);
    const grow = <T extends Float64Array | Float32Array | Uint8Array | Int32Array>(a: T, make: (k: number) => T, fill?: number): T => {
      const b = make(cap);
      if (fill !== undefined) b.fill(fill, a.length);
      b.set(a as never);
      return b;
    };
    this.lastWarmMove = grow(this.lastWarmMove, (k) => new Float64Array(k), NEVER);
    this.lastGcMove = grow(this.lastGcMove, (k) => new Float64Array(k), NEVER);
    this.moveCount = grow(this.moveCount, (k) => new Float32Array(k));
    this.moveCountT = grow(this.moveCountT, (k) => new Float64Array(k));
    this.seen = grow(this.seen, (k) => new Uint8Array(k));
    if (this.p.place === 9 && this.trueHot) for (let b = this.nBlocks; b < Math.min(cap, this.trueHot.length); b++) if (this.trueHot[b]) this.advice.cls.set(b, 3);
    this.nBlocks = cap;
    if (this.p.place === 7) {
      // examples: up to two per block waiting, and a victim's worth more per GC call in flight
      const exCap = 2 * cap + 4 * BPS * 64;
      const old = this.exBlock.length;
      if (exCap > old) {
        this.exX = grow(this.exX, () => new Float32Array(exCap * NF));
        const keep = <T extends Int32Array | Float64Array>(a: T, make: (k: number) => T): T => {
          const b = make(exCap);
          b.set(a as never);
          return b;
        };
        this.exBlock = keep(this.exBlock, (k) => new Int32Array(k));
        this.exT = keep(this.exT, (k) => new Float64Array(k));
        this.exNext = keep(this.exNext, (k) => new Int32Array(k));
        const free = new Int32Array(exCap);
        free.set(this.exFree.subarray(0, this.exFreeN));
        // new entries are taken last-in first-out, so the lowest new index goes last
        for (let i = exCap - 1; i >= old; i--) free[this.exFreeN++] = i;
        this.exFree = free;
      }
    }
  }

  // ---- observations ----

  private ensureSegs(n: number, t: number): void {
    if (this.pollValid) return;
    this.pollValid = new Int32Array(n);
    this.pollType = new Int8Array(n).fill(-1);
    this.birth = new Float64Array(n).fill(t);
    this.rate = new Float64Array(n);
    this.opened = new Uint8Array(n);
  }

  /**
   * The kernel reports that a log opened segment seg (of nSeg) at t: its
   * birth (births=1). Blocks moved into its previous life and never
   * resolved all died.
   */
  onOpen(t: number, seg: number, nSeg: number): void {
    this.ensureSegs(nSeg, t);
    if (this.p.place === 7) this.resolve(seg, NO_BLOCKS, 0, t);
    this.birth![seg] = t;
    this.opened![seg] = 1;
  }

  /** A segment_info poll at user-write count t. */
  onPoll(t: number, valid: Int32Array, type: Int8Array): void {
    this.stats.polls++;
    const n = valid.length;
    this.ensureSegs(n, t);
    const pv = this.pollValid!;
    const pt = this.pollType!;
    const birth = this.birth!;
    const rate = this.rate!;
    const opened = this.opened!;
    const dt = Math.max(1, t - this.lastPollT);
    const w = this.p.w;
    for (let s = 0; s < n; s++) {
      const v = valid[s]!;
      // Seen empty: either every block moved in died (a natural death), or
      // GC just cleaned it and its notice has not been handled yet (a
      // policy polls while notices wait). emptyDied 1 takes the first; 0
      // leaves its examples to the notice, or to the poll that sees the
      // segment reborn.
      if (v === 0 && pv[s]! > 0 && this.p.place === 7 && this.p.emptyDied) this.resolve(s, NO_BLOCKS, 0, Infinity);
      if (opened[s]) {
        // allocated since the last poll: a new life (onOpen set its birth)
        opened[s] = 0;
        rate[s] = 0;
      } else if (this.p.births === 0 && v > 0 && (pv[s] === 0 || pt[s] !== type[s])) {
        // reborn: empty (or of another log) at the last poll, filling now;
        // blocks moved into its last life that were never resolved all died.
        // A segment freed and refilled by the same log between two polls
        // keeps its old birth.
        if (this.p.place === 7) this.resolve(s, NO_BLOCKS, 0, this.lastPollT);
        birth[s] = (this.lastPollT + t) / 2;
        rate[s] = 0;
      } else if (v > 0 && v <= pv[s]!) {
        const r = (pv[s]! - v) / pv[s]! / dt;
        rate[s] = rate[s] === 0 ? r : w * r + (1 - w) * rate[s]!;
        const ty = type[s]!;
        if (isDataType(ty)) {
          const i = hzRow(ty) * AGE_BUCKETS + ageBucket(this.lastPollT - birth[s]!);
          this.hzDied[i]! += pv[s]! - v;
          this.hzExp[i]! += pv[s]! * dt;
        }
      }
      pv[s] = v;
      pt[s] = type[s]!;
    }
    this.lastPollT = t;
    // forget slowly, so the table follows a changing workload
    if (this.stats.polls % 64 === 0)
      for (let i = 0; i < this.hzDied.length; i++) {
        this.hzDied[i]! *= 0.5;
        this.hzExp[i]! *= 0.5;
      }
  }

  /**
   * The kernel's notification of one cleaned victim: its segment and log
   * type, the blocks moved and the segment each was written to.
   */
  onVictim(t: number, seg: number, type: number, blocks: Int32Array, dest: Int32Array, n: number): void {
    this.stats.notifications++;
    this.stats.movedSeen += n;
    const p = this.p;
    let top = -1;
    for (let i = 0; i < n; i++) if (blocks[i]! > top) top = blocks[i]!;
    this.ensure(top + 1);
    const fromWarm = userWritten(type, p);
    if (p.place === 7) this.resolve(seg, blocks, n, Infinity);
    for (let i = 0; i < n; i++) {
      const b = blocks[i]!;
      if (p.place === 7) this.addExample(t, b, fromWarm, dest[i]!);
      const prev = this.lastWarmMove[b]!;
      if (fromWarm) {
        // back in a user-written segment: rewritten since its last move
        this.lastWarmMove[b] = t;
        const c = this.decayedCount(t, b);
        this.moveCount[b] = c + 1;
        this.moveCountT[b] = t;
      } else this.lastGcMove[b] = t;
      if (p.place === 1) {
        const hot = fromWarm && prev > NEVER && t - prev < p.t;
        this.advice.cls.set(b, hot ? 1 : 0);
      } else if (p.place === 7 && this.stats.trained >= p.minTrain) this.advice.cls.set(b, this.classify(t, b));
      this.seen[b] = 1;
    }
  }

  private decayedCount(t: number, b: number): number {
    const c = this.moveCount[b]!;
    return c === 0 ? 0 : c * Math.exp((-(t - this.moveCountT[b]!) * Math.LN2) / this.p.half);
  }

  /**
   * The block's features now; x[5] (the next move is out of a warm victim)
   * is left 0, classify() adds its weight.
   */
  private features(t: number, b: number, fromWarm: boolean): Float64Array {
    const x = this.x;
    if (b < 0) {
      // a block never moved
      x.fill(0);
      x[0] = 1;
      x[5] = fromWarm ? 1 : 0;
      x[6] = 1;
      return x;
    }
    const lw = this.lastWarmMove[b]!;
    const lg = this.lastGcMove[b]!;
    x[0] = lw > NEVER ? 0 : 1;
    x[1] = lw > NEVER ? Math.log1p(t - lw) / 16 : 0;
    x[2] = Math.min(4, this.decayedCount(t, b)) / 4;
    x[3] = lg > lw ? 1 : 0;
    x[4] = lg > NEVER ? Math.log1p(t - lg) / 16 : 0;
    x[5] = fromWarm ? 1 : 0;
    x[6] = this.seen[b] ? 0 : 1;
    return x;
  }

  private logit(x: Float64Array): number {
    const w = this.weights;
    let z = w[NF]!;
    for (let j = 0; j < NF; j++) z += w[j]! * x[j]!;
    return z;
  }

  private predict(x: Float64Array): number {
    return 1 / (1 + Math.exp(-this.logit(x)));
  }

  /** Bit 0: hot if moved out of a warm victim; bit 1: out of a GC-log victim. */
  private classify(t: number, b: number): number {
    const cut = this.cut;
    const z = this.logit(this.features(t, b, false));
    return (z + this.weights[5]! > cut ? 1 : 0) | (z > cut ? 2 : 0);
  }

  /** the logit above which a block goes hot (pHot as a logit) */
  private get cut(): number {
    return Math.log(this.p.pHot / (1 - this.p.pHot));
  }

  /**
   * classify() of every block id in [from, to), `unseen` for those never
   * moved, into the class map: the refresh's loop, some 16k blocks a
   * victim. The same arithmetic as features() and logit(), in the same
   * order, with the terms whose feature is 0 left out (adding 0 changes
   * no sum), so the bits are those classify() gives.
   */
  private classifyRange(t: number, from: number, to: number, unseen: number): void {
    const cls = this.advice.cls;
    const w = this.weights;
    const w0 = w[0]!;
    const w1 = w[1]!;
    const w2 = w[2]!;
    const w3 = w[3]!;
    const w4 = w[4]!;
    const w5 = w[5]!;
    const bias = w[NF]!;
    const cut = this.cut;
    const half = this.p.half;
    const seen = this.seen;
    const lastWarm = this.lastWarmMove;
    const lastGc = this.lastGcMove;
    const count = this.moveCount;
    const countT = this.moveCountT;
    // blocks moved by one victim share its time: each transcendental once per
    // distinct time (direct-mapped; a collision just computes it again)
    const mk = this.memoKey;
    const mv = this.memoVal;
    mk.fill(NaN);
    const log1pSince = (table: number, at: number): number => {
      const i = table | ((at | 0) & MEMO_MASK);
      if (mk[i] === at) return mv[i]!;
      mk[i] = at;
      return (mv[i] = Math.log1p(t - at) / 16);
    };
    const decay = (at: number): number => {
      const i = 2 * MEMO_SIZE + ((at | 0) & MEMO_MASK);
      if (mk[i] === at) return mv[i]!;
      mk[i] = at;
      return (mv[i] = Math.exp((-(t - at) * Math.LN2) / half));
    };
    const unseenByte = unseen * 0x55;
    // ClassMap.set() inlined: the page written directly, touched once
    let slot = -1;
    let page: Uint8Array = NO_PAGE;
    let changed = false;
    for (let b = from; b < to; b++) {
      const i = b & (CHUNK_BLOCKS - 1);
      if (slot < 0 || i === 0) {
        if (changed) cls.touch(slot);
        slot = b >>> CHUNK_SHIFT;
        page = cls.page(slot);
        changed = false;
      }
      if ((i & 3) === 0 && b + 4 <= to && (seen[b]! | seen[b + 1]! | seen[b + 2]! | seen[b + 3]!) === 0) {
        // four blocks never moved: one byte of `unseen`
        if (page[i >> 2] !== unseenByte) {
          page[i >> 2] = unseenByte;
          changed = true;
        }
        b += 3;
        continue;
      }
      const sh = (i & 3) * 2;
      const old = page[i >> 2]!;
      let k: number;
      if (!seen[b]) k = unseen;
      else {
        const lw = lastWarm[b]!;
        const lg = lastGc[b]!;
        let z = bias;
        // x0 (never moved out of a user-written victim) and x1 (log time since) exclude each other
        if (lw > NEVER) z += w1 * log1pSince(0, lw);
        else z += w0;
        const c = count[b]!;
        z += w2 * (Math.min(4, c === 0 ? 0 : c * decay(countT[b]!)) / 4);
        if (lg > lw) z += w3;
        if (lg > NEVER) z += w4 * log1pSince(MEMO_SIZE, lg);
        k = (z + w5 > cut ? 1 : 0) | (z > cut ? 2 : 0);
      }
      const v = (old & ~(3 << sh)) | (k << sh);
      if (v !== old) {
        page[i >> 2] = v;
        changed = true;
      }
    }
    if (changed) cls.touch(slot);
  }

  private addExample(t: number, b: number, fromWarm: boolean, dest: number): void {
    if (dest < 0 || this.exFreeN === 0) return;
    const e = this.exFree[--this.exFreeN]!;
    this.exX.set(this.features(t, b, fromWarm), e * NF);
    this.exBlock[e] = b;
    this.exT[e] = t;
    const head = (this.segHead ??= new Int32Array(Math.max(dest + 1, this.pollValid?.length ?? 0, 1024)).fill(-1));
    this.exNext[e] = head[dest]!;
    head[dest] = e;
  }

  /**
   * Segment seg was cleaned (or emptied): the blocks moved into it before
   * `before` that survived are label 0, the others died (1).
   */
  private resolve(seg: number, survivors: Int32Array, n: number, before: number): void {
    const head = this.segHead;
    if (!head || seg >= head.length) return;
    const alive = new Set<number>();
    for (let i = 0; i < n; i++) alive.add(survivors[i]!);
    const w = this.weights;
    const lr = this.p.lr;
    const x = this.x;
    let keep = -1;
    for (let e = head[seg]!; e >= 0; ) {
      const next = this.exNext[e]!;
      if (this.exT[e]! >= before) {
        this.exNext[e] = keep;
        keep = e;
        e = next;
        continue;
      }
      for (let j = 0; j < NF; j++) x[j] = this.exX[e * NF + j]!;
      const y = alive.has(this.exBlock[e]!) ? 0 : 1;
      this.onExample?.(x, y);
      const g = this.predict(x) - y;
      for (let j = 0; j < NF; j++) w[j]! -= lr * g * x[j]!;
      w[NF]! -= lr * g;
      this.stats.trained++;
      this.stats.trainedDied += y;
      this.exFree[this.exFreeN++] = e;
      e = next;
    }
    head[seg] = keep;
  }

  // ---- the learned segment survival (victim rules 4-6) ----

  /** Survival of a block of a segment of log ty from age a to a + h (after hazardTable()). */
  survival(ty: number, a: number, h: number): number {
    return Math.exp(this.cumHazard(ty, a) - this.cumHazard(ty, Math.max(0, a) + h));
  }

  /** Cumulative hazard per (log type, bucket start), piecewise linear in age. */
  private readonly cumH = new Float64Array(HZ_TYPES * (AGE_BUCKETS + 1));
  private readonly lam = new Float64Array(HZ_TYPES * AGE_BUCKETS);

  private hazardTable(): void {
    for (let ty = 0; ty < HZ_TYPES; ty++) {
      let acc = 0;
      for (let b = 0; b < AGE_BUCKETS; b++) {
        const i = ty * AGE_BUCKETS + b;
        const e = this.hzExp[i]!;
        const l = e > 0 ? this.hzDied[i]! / e : 0;
        this.lam[i] = l;
        this.cumH[ty * (AGE_BUCKETS + 1) + b] = acc;
        if (b < AGE_BUCKETS - 1) acc += l * (bucketEnd(b) - bucketStart(b));
      }
    }
  }

  private cumHazard(log: number, a: number): number {
    const ty = hzRow(log);
    const b = ageBucket(Math.max(0, a));
    return this.cumH[ty * (AGE_BUCKETS + 1) + b]! + this.lam[ty * AGE_BUCKETS + b]! * (Math.max(0, a) - bucketStart(b));
  }

  /** Mean life of young user-log blocks (the hot ones dominate): 1 / hazard at ages 4k-16k. */
  private fastLife(): number {
    let d = 0;
    let e = 0;
    for (let b = ageBucket(4096); b <= ageBucket(16383); b++) {
      for (const ty of [LOG.HOT_DATA, LOG.WARM_DATA]) {
        d += this.hzDied[ty * AGE_BUCKETS + b]!;
        e += this.hzExp[ty * AGE_BUCKETS + b]!;
      }
    }
    return d > 0 ? e / d : 1e9;
  }

  // ---- publishing ----

  /** After a victim (or a GC call): the class bits refreshed, then the ranking. */
  publish(t: number): void {
    this.stats.publishes++;
    this.refreshClasses(t);
    this.rank(t);
  }

  /** Rules 1 and 7: bits that age out, or a slice of every block's bits recomputed. */
  refreshClasses(t: number): void {
    const p = this.p;
    if (p.place === 7 && this.stats.trained >= p.minTrain) {
      // every block once per `refresh` publishes, a slice at a time; blocks
      // never moved share one feature vector, hence one class
      const unseen = this.classify(t, -1);
      const slice = Math.ceil(this.nBlocks / p.refresh);
      const end = Math.min(this.nBlocks, this.refreshAt + slice);
      this.classifyRange(t, this.refreshAt, end, unseen);
      this.refreshAt = end >= this.nBlocks ? 0 : end;
    }
    if (p.place === 1 && this.stats.publishes % p.refresh === 0) {
      // history bits age out
      const cls = this.advice.cls;
      for (let b = 0; b < this.nBlocks; b++) if (cls.get(b) && t - this.lastWarmMove[b]! >= p.t) cls.set(b, 0);
    }
  }

  /** The victim ranking (or the defer bitmap) from the last poll. */
  rank(t: number): void {
    const p = this.p;
    if (p.victim === 0 || !this.pollValid) return;
    this.hazardTable();
    const pv = this.pollValid;
    const pt = this.pollType!;
    const birth = this.birth!;
    const a = this.advice;
    if (p.victim === 6) {
      const defer = (a.defer ??= new Uint8Array(pv.length));
      for (let s = 0; s < pv.length; s++) defer[s] = pv[s]! > 0 && isDataType(pt[s]!) && 1 - this.survival(pt[s]!, t - birth[s]!, p.h) > p.theta ? 1 : 0;
      a.ranked = true;
      return;
    }
    const rate = this.rate!;
    const tau = this.fastLife();
    const fast = tau * (1 - Math.exp(-p.h / tau));
    const top = p.top;
    const bestScore = new Float64Array(top).fill(-Infinity);
    let len = 0;
    for (let s = 0; s < pv.length; s++) {
      const v = pv[s]!;
      if (v === 0 || v === BPS || !isDataType(pt[s]!)) continue;
      let score: number;
      switch (p.victim) {
        case 3:
          score = -(v + p.wa * v * (1 - Math.exp(-rate[s]! * p.h)));
          break;
        case 4:
          score = -(v + p.wa * v * (1 - this.survival(pt[s]!, t - birth[s]!, p.h)));
          break;
        case 5:
          score = -(v + p.wa * Math.min(v, rate[s]! * v * fast));
          break;
        default: {
          const u = v / BPS;
          const age = Math.max(1, t - birth[s]!);
          score = ((1 - u) * (p.victim === 2 ? Math.pow(age, p.k) : age)) / (1 + u);
        }
      }
      if (len < top || score > bestScore[len - 1]!) {
        let i = len < top ? len++ : top - 1;
        while (i > 0 && bestScore[i - 1]! < score) {
          bestScore[i] = bestScore[i - 1]!;
          a.rankSeg[i] = a.rankSeg[i - 1]!;
          a.rankValid[i] = a.rankValid[i - 1]!;
          a.rankType[i] = a.rankType[i - 1]!;
          i--;
        }
        bestScore[i] = score;
        a.rankSeg[i] = s;
        a.rankValid[i] = v;
        a.rankType[i] = pt[s]!;
      }
    }
    a.rankLen = len;
    a.ranked = true;
  }
}

/**
 * Whether a victim of log `ty` holds user-written data (class bit 0) rather
 * than only GC-moved data (bit 1). User data goes to the hot data log
 * (files with at most min_hot_blocks dirty pages at writeback) and the warm
 * one; with min_hot_blocks 0 only to the warm one. GC's own log for the hot
 * class counts as GC-written; where it shares a log with user data the
 * daemon cannot tell a rewritten block from a moved one (it counts as user).
 */
export function userWritten(ty: number, p: Pick<DaemonParams, 'hotLog' | 'minHot'>): boolean {
  if (ty === LOG.WARM_DATA) return true;
  if (ty === LOG.HOT_DATA) return p.minHot !== 0;
  return false;
}

