/**
 * The decision engines of the f2fs_gc example policies: plain synchronous
 * objects that turn the kernel's requests (proto/f2fs.proto) and what the
 * policy observes (host.ts) into what to publish. examples/f2fs/policy.ts
 * serves one through koffloadd; the LFS model's direct path
 * (src/sim/lfs/koffload.ts) calls the very same object without netlink.
 *
 * Every engine keeps per-filesystem state (by `dev`), joins a victim's
 * notice parts, and after each cleaned victim (and when the kernel says it
 * had no usable ranking) publishes a Ranking whose gc_seq is the last one it
 * saw: the model's synchronous mode waits for exactly that.
 *
 * - greedy: fewest valid blocks first, from a segment_info poll per event;
 * - cost-benefit: F2FS's get_cb_cost() on SIT mtimes the policy estimates
 *   (F2FS does not export them): it replays update_segment_mtime() on the
 *   valid-count changes between its polls, on a clock of blocks written;
 * - learned: learned-core.ts's GcDaemon, with its class bits.
 */
import type { MovedRequest, MovedResponseInit, RankedVictimInit, VictimRequest } from '../../src/generated/proto/f2fs.js';
import { BlockMap, type CleanedVictim, NULL_SEGNO, NoticeAssembler, type Publication, SEG_BLOCKS, rankingPublication } from './advice.js';
import { type F2fsObserver, type SegmentInfo, packSegmentInfo } from './host.js';
import { DAEMON_DEFAULTS, type DaemonParams, GcDaemon } from './learned-core.js';

export interface F2fsEngine {
  readonly name: string;
  /** An advisory VICTIM: foreground GC had no ranking it could use. What to publish. */
  victimAdvice(req: VictimRequest): Publication[];
  /** A VICTIM call that waits (background GC): the segment to clean, or undefined to decline. */
  victimCall(req: VictimRequest): number | undefined;
  /** One MOVED notice part: what to publish, and the MovedResponse to record. */
  moved(req: MovedRequest): { publish: Publication[]; response: MovedResponseInit };
}

export interface EngineOptions {
  observer: F2fsObserver;
  /** the ranking's lifetime in the cache, ms. @default 5000 */
  rankingTtlMs?: number;
  /** a class entry's lifetime, ms; republished when changed and every half of it. @default 60000 */
  classTtlMs?: number;
  /**
   * publish the class entries that changed after every classEvery-th
   * cleaned victim only (4 KiB each, one per file chunk, most of them
   * changed after each victim): fewer messages for a slow daemon. @default 1
   */
  classEvery?: number;
  /** ranking entries published, 1..64. @default 32 */
  top?: number;
  /** the clock of TTL refreshes, ms. @default performance.now() */
  nowMs?: () => number;
}

interface Dev {
  dev: number;
  notices: NoticeAssembler;
  /** the newest gc_seq seen */
  gcSeq: bigint;
  /** the last poll and the clock it was taken at */
  info: SegmentInfo | undefined;
}

/** Common plumbing: per-dev state, notice assembly, the ranking publication. */
abstract class BaseEngine<D extends Dev> implements F2fsEngine {
  abstract readonly name: string;
  private readonly devs = new Map<number, D>();
  protected readonly observer: F2fsObserver;
  protected readonly rankingTtlMs: number;
  protected readonly classTtlMs: number;
  protected readonly top: number;
  protected readonly nowMs: () => number;
  protected readonly classEvery: number;

  constructor(o: EngineOptions) {
    this.observer = o.observer;
    this.rankingTtlMs = o.rankingTtlMs ?? 5000;
    this.classTtlMs = o.classTtlMs ?? 60000;
    this.top = Math.min(64, Math.max(1, o.top ?? 32));
    this.nowMs = o.nowMs ?? ((): number => performance.now());
    this.classEvery = Math.max(1, Math.floor(o.classEvery ?? 1));
  }

  protected abstract makeDev(dev: number): D;
  /** a victim's notices are complete (or as complete as they will be): observe and learn */
  protected abstract cleaned(d: D, v: CleanedVictim): void;
  /** observe afresh (force: after a fallback, whether a poll is due or not) */
  protected abstract refresh(d: D, force: boolean): void;
  protected abstract ranking(d: D): RankedVictimInit[];
  /** the class entries to publish now (none by default: F2FS's cold log) */
  protected classes(_d: D): Publication[] {
    return [];
  }
  /** what the response of a notice records (the learned policy's inputs) */
  protected response(_d: D): MovedResponseInit {
    return {};
  }

  protected devOf(dev: number): D {
    let d = this.devs.get(dev);
    if (!d) this.devs.set(dev, (d = this.makeDev(dev)));
    return d;
  }

  private rankingOf(d: D): Publication[] {
    const r = this.ranking(d);
    return r.length > 0 ? [rankingPublication(d.dev, d.gcSeq, r, this.rankingTtlMs)] : [];
  }

  victimAdvice(req: VictimRequest): Publication[] {
    const d = this.devOf(req.dev);
    if (req.gc_seq > d.gcSeq) d.gcSeq = req.gc_seq;
    this.refresh(d, true);
    return this.rankingOf(d);
  }

  victimCall(req: VictimRequest): number | undefined {
    const d = this.devOf(req.dev);
    this.refresh(d, true);
    const r = this.ranking(d);
    return r[0]?.segno;
  }

  moved(req: MovedRequest): { publish: Publication[]; response: MovedResponseInit } {
    const d = this.devOf(req.dev);
    const done = d.notices.add(req);
    if (done.length === 0) return { publish: [], response: {} };
    for (const v of done) {
      if (v.gcSeq > d.gcSeq) d.gcSeq = v.gcSeq;
      this.cleaned(d, v);
    }
    // class entries before the ranking: a reader that sees the new ranking sees them too
    return { publish: [...this.classes(d), ...this.rankingOf(d)], response: this.response(d) };
  }
}

const newDev = (dev: number): Dev => ({ dev, notices: new NoticeAssembler(), gcSeq: 0n, info: undefined });

/** Dirty segments (some valid blocks, not all), by a cost, least first. */
function rankBy(info: SegmentInfo, top: number, cost: (s: number) => number): RankedVictimInit[] {
  const cand: number[] = [];
  const c: number[] = [];
  for (let s = 0; s < info.valid.length; s++) {
    const v = info.valid[s]!;
    if (v <= 0 || v >= SEG_BLOCKS) continue;
    cand.push(s);
    c[s] = cost(s);
  }
  cand.sort((a, b) => c[a]! - c[b]! || a - b);
  return cand.slice(0, top).map((s) => ({ segno: s, valid: info.valid[s]!, seg_type: info.type[s]! }));
}

/** Greedy: the segment with the fewest valid blocks first (node segments too, as F2FS's FG greedy). */
export class GreedyEngine extends BaseEngine<Dev> {
  readonly name = 'f2fs-greedy';

  protected makeDev(dev: number): Dev {
    return newDev(dev);
  }

  protected cleaned(d: Dev): void {
    this.refresh(d);
  }

  protected refresh(d: Dev): void {
    d.info = this.observer.segmentInfo(d.dev);
  }

  protected ranking(d: Dev): RankedVictimInit[] {
    const info = d.info;
    return info ? rankBy(info, this.top, (s) => info.valid[s]!) : [];
  }
}

interface CbDev extends Dev {
  /** estimated SIT mtime per segment, on the clock of blocks written */
  mtime: Float64Array;
  /** a notice said it was cleaned since the last poll: its next data is a new life */
  cleanedSince: Uint8Array;
  clock: number;
}

const UINT_MAX = 4294967295;

/**
 * get_cb_cost() of a segment with `valid` blocks and SIT mtime `mtime`, when
 * the newest mtime is `max` and the oldest `min`: the lower, the better.
 */
export function cbCost(valid: number, mtime: number, min: number, max: number): number {
  const u = Math.floor((valid * 100) / SEG_BLOCKS);
  const age = max !== min ? 100 - Math.floor((100 * (mtime - min)) / (max - min)) : 0;
  return UINT_MAX - Math.floor((100 * (100 - u) * age) / (100 + u));
}

/**
 * Cost-benefit: F2FS's get_cb_cost() on estimated SIT mtimes. F2FS keeps a
 * segment's mtime, in whole seconds of its own clock, as the running mean
 * (floored) of the times of every write into it and every invalidation in
 * it (update_segment_mtime(); min_mtime stays 0 on a fresh filesystem).
 * The policy reads the same clock (host.ts, clockSec()) and sees valid
 * counts at its polls, one per event, so it replays the mean one block at
 * a time at the second of the poll (the middle of the interval when more
 * than a second passed). A segment first seen holding data gets a time
 * between 0 and that first poll, by segment number (a fill writes segments
 * in order); one a notice says was cleaned starts a new life.
 */
export class CostBenefitEngine extends BaseEngine<CbDev> {
  readonly name = 'f2fs-cost-benefit';

  protected makeDev(dev: number): CbDev {
    return { ...newDev(dev), mtime: new Float64Array(0), cleanedSince: new Uint8Array(0), clock: 0 };
  }

  protected cleaned(d: CbDev, v: CleanedVictim): void {
    // emptied by GC: whatever it holds at the poll is a new life
    if (v.segno < d.cleanedSince.length) d.cleanedSince[v.segno] = 1;
    this.refresh(d);
  }

  protected refresh(d: CbDev): void {
    const info = this.observer.segmentInfo(d.dev);
    const now = this.observer.clockSec(d.dev);
    const n = info.valid.length;
    const prev = d.info;
    if (!prev || prev.valid.length !== n) {
      d.mtime = new Float64Array(n);
      d.cleanedSince = new Uint8Array(n);
      let k = 0;
      let holding = 0;
      for (let s = 0; s < n; s++) if (info.valid[s]! > 0) holding++;
      for (let s = 0; s < n; s++) if (info.valid[s]! > 0) d.mtime[s] = Math.floor((now * ++k) / (holding + 1));
    } else {
      const at = now - d.clock > 1 ? Math.floor((d.clock + now) / 2) : now;
      for (let s = 0; s < n; s++) {
        const v0 = prev.valid[s]!;
        const v = info.valid[s]!;
        if (v === 0) continue;
        if (d.cleanedSince[s] === 1 || prev.type[s] !== info.type[s] || v0 === 0) {
          // a new life: its first write sets the mean, the next ones come at the same time
          d.mtime[s] = at;
          continue;
        }
        let m = d.mtime[s]!;
        if (v < v0) for (let j = v0; j > v; j--) m = Math.floor((m * j + at) / (j + 1));
        else for (let j = v0; j < v; j++) m = m === 0 ? at : Math.floor((m * j + at) / (j + 1));
        d.mtime[s] = m;
      }
      d.cleanedSince.fill(0);
    }
    d.info = info;
    d.clock = now;
  }

  protected ranking(d: CbDev): RankedVictimInit[] {
    const info = d.info;
    if (!info) return [];
    let max = d.clock;
    for (let s = 0; s < info.valid.length; s++) if (d.mtime[s]! > max) max = d.mtime[s]!;
    return rankBy(info, this.top, (s) => cbCost(info.valid[s]!, d.mtime[s]!, 0, max));
  }
}

/** The learned policy's model file (examples/f2fs/learned-model.json). */
export interface LearnedModel {
  format: 'koffload-f2fs-learned/1';
  /** the logistic regression's weights, one per feature and the bias last */
  weights: number[];
  /** training examples resolved to make them */
  examples: number;
  /** how the file was made */
  source: string;
}

export interface LearnedOptions extends EngineOptions {
  /** the rules and their parameters. @default the `learned` configuration: victim=4, wa=3, h=30000, place=7 */
  params?: Partial<DaemonParams>;
  /** initial weights: with them the class bits are published from the first victim on, and learning goes on online */
  model?: LearnedModel;
}

/** The `learned` configuration of docs/poc-gc-model.md. */
export const LEARNED_PARAMS: Partial<DaemonParams> = { victim: 4, wa: 3, h: 30000 };

interface LearnedDev extends Dev {
  daemon: GcDaemon;
  blocks: BlockMap;
  /** the clock (fs data blocks) of the last poll, -1 before the first */
  polledAt: number;
  /** the poll taken for the notice being answered, to record */
  lastPoll: SegmentInfo | undefined;
  clock: number;
}

/**
 * The learned policy: hazard-table victim ranking and per-block placement
 * learned online (learned-core.ts), on iostat's fs data as its clock, with a
 * segment_info poll when `poll` blocks were written since the last (or at
 * once after a fallback). Each cleaned victim's blocks are numbered by
 * (inode, index) through a BlockMap, whose slots are the "c" entries.
 */
export class LearnedEngine extends BaseEngine<LearnedDev> {
  readonly name = 'f2fs-learned';
  readonly params: DaemonParams;
  private readonly model: LearnedModel | undefined;
  private readonly ids = new Int32Array(SEG_BLOCKS);
  private readonly dests = new Int32Array(SEG_BLOCKS);

  constructor(o: LearnedOptions) {
    super(o);
    // trained weights: class bits from the first victim on
    const trained = o.model !== undefined && o.model.examples > 0;
    this.params = { ...DAEMON_DEFAULTS, ...LEARNED_PARAMS, ...(o.params ?? {}), ...(trained ? { minTrain: 0 } : {}), top: this.top };
    this.model = trained ? o.model : undefined;
  }

  /** The per-filesystem core (tests, training). */
  daemonOf(dev: number): GcDaemon {
    return this.devOf(dev).daemon;
  }

  protected makeDev(dev: number): LearnedDev {
    // which victims are user-written depends on whether user data may go to the hot data log
    let minHot = this.params.minHot;
    try {
      minHot = this.observer.minHotBlocks(dev);
    } catch {
      // not readable: the parameter's
    }
    return {
      ...newDev(dev),
      daemon: new GcDaemon({ ...this.params, minHot }, 0, undefined, this.model?.weights),
      blocks: new BlockMap(),
      polledAt: -1,
      lastPoll: undefined,
      clock: 0,
    };
  }

  protected refresh(d: LearnedDev, force: boolean): void {
    d.clock = this.observer.iostat(d.dev).fsData;
    if (force || d.polledAt < 0 || d.clock - d.polledAt >= this.params.poll) {
      const info = this.observer.segmentInfo(d.dev);
      d.daemon.onPoll(d.clock, info.valid, info.type);
      d.polledAt = d.clock;
      d.lastPoll = info;
    }
    if (force) d.daemon.rank(d.clock);
  }

  protected cleaned(d: LearnedDev, v: CleanedVictim): void {
    this.refresh(d, false);
    let n = 0;
    for (const r of v.runs) {
      const dest = r.dest_segno === NULL_SEGNO ? -1 : r.dest_segno;
      for (let k = 0; k < r.count && n < SEG_BLOCKS; k++) {
        this.ids[n] = d.blocks.id(r.ino, r.first_index + k);
        this.dests[n++] = dest;
      }
    }
    d.daemon.onVictim(d.clock, v.segno, v.segType, this.ids, this.dests, n);
    d.daemon.publish(d.clock);
  }

  protected ranking(d: LearnedDev): RankedVictimInit[] {
    const a = d.daemon.advice;
    const out: RankedVictimInit[] = [];
    if (!a.ranked) return out;
    for (let i = 0; i < a.rankLen; i++) out.push({ segno: a.rankSeg[i]!, valid: a.rankValid[i]!, seg_type: a.rankType[i]! });
    return out;
  }

  protected override classes(d: LearnedDev): Publication[] {
    if (d.daemon.stats.notifications % this.classEvery !== 0) return [];
    d.daemon.ensure(d.blocks.capacity);
    return d.daemon.advice.cls.take(d.blocks, d.dev, this.classTtlMs, this.nowMs());
  }

  protected override response(d: LearnedDev): MovedResponseInit {
    const r: MovedResponseInit = { clock: BigInt(Math.round(d.clock)) };
    if (d.lastPoll) r.segment_info = packSegmentInfo(d.lastPoll);
    d.lastPoll = undefined;
    return r;
  }
}
