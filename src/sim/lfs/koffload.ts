/**
 * The LFS model as the kernel side of subsystem f2fs_gc: what the patched
 * F2FS of kernel-shim/f2fs/ (fs/f2fs/koffload.c and its hooks in gc.c) does
 * at each GC point, over the model's state, so a policy written for the
 * real kernel runs against the model unchanged:
 *
 * - foreground victim (get_advised_victim()): reads the ranking under "r"
 *   dev and takes the first entry whose segment is still dirty, of the
 *   published log type, with valid blocks > 0 and <= the published count;
 *   else F2FS's own choice, and an advisory VICTIM request telling why
 *   (no advice, stale, malformed) and what F2FS chose;
 * - each moved data block (f2fs_koffload_gc_hot()): the class entry "c" dev
 *   ino chunk, read again whenever the (inode, chunk) changes from the
 *   previous block and afresh for each victim; bit 0 for hot and warm data
 *   victims, bit 1 for cold ones; set: the hot data log, else (or no entry)
 *   the cold one;
 * - after each data victim (f2fs_koffload_gc_end()): MovedRequest notices of
 *   at most 160 runs each, advisory;
 * - the counters of /sys/kernel/debug/koffload_f2fs/<dev>/stats.
 * Background GC is not modelled (it never runs under this workload), so the
 * waiting VICTIM call is not made.
 *
 * The model's files are inode 4 and up (F2FS's first regular inode after
 * the root's 3), in order; block i of a file is its page index i.
 *
 * Where the advice lives is a Backend: the simulator's koffload core
 * (SimBackend: SimCore.cacheLookup() and advise(), the policy served by
 * koffloadd over netlink or in memory), or a policy engine called in this
 * process (DirectBackend: no transport, same requests, same entries). What
 * the policy observes is written where ProcObserver reads it (ProcFiles),
 * or read from the model (ModelObserver).
 */
import { mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CHUNK_BLOCKS, CHUNK_BYTES, NULL_SEGNO, classBitFor, classKey, rankingKey } from '../../../examples/f2fs/advice.js';
import { CostBenefitEngine, type F2fsEngine, GreedyEngine, LEARNED_PARAMS, LearnedEngine } from '../../../examples/f2fs/engine.js';
import { DAEMON_DEFAULTS, type DaemonParams } from '../../../examples/f2fs/learned-core.js';
import { LEARNED_MODEL } from '../../../examples/f2fs/learned-model.js';
import { type F2fsObserver, type Iostat, type SegmentInfo, decodeDev } from '../../../examples/f2fs/host.js';
import { Fallback, GcType, MovedRequest, type MovedRunInit, Op, Ranking, VictimRequest } from '../../generated/proto/f2fs.js';
import type { PolicyRun } from './experiment.js';
import { GC_CB, GC_GREEDY, type GcHook, LOG, type LfsModel } from './model.js';
import type { Params, PolicyFamily } from './policies.js';

/** The first regular file's inode number on a fresh F2FS (the root is 3). */
export const FIRST_INO = 4;
/** Runs per notice (F2FS_KOFFLOAD_RUNS). */
export const RUNS_PER_NOTICE = 160;
/** Ranking entries the kernel decodes (F2FS_KOFFLOAD_CANDIDATES). */
export const CANDIDATES = 64;

/** The counters of koffload.c's debugfs stats file, by its names. */
export interface KernelStats {
  victim_advised: number;
  victim_fallback_no_advice: number;
  victim_fallback_stale: number;
  victim_fallback_malformed: number;
  blocks_hot: number;
  blocks_cold: number;
  class_missing: number;
  notices_sent: number;
  notices_dropped: number;
  bg_calls: number;
  bg_served: number;
}

export const zeroStats = (): KernelStats => ({
  victim_advised: 0,
  victim_fallback_no_advice: 0,
  victim_fallback_stale: 0,
  victim_fallback_malformed: 0,
  blocks_hot: 0,
  blocks_cold: 0,
  class_missing: 0,
  notices_sent: 0,
  notices_dropped: 0,
  bg_calls: 0,
  bg_served: 0,
});

/** Where the kernel side finds advice and sends its requests. */
export interface Backend {
  /** koffload_cache_lookup(): the live entry, or undefined */
  lookup(key: Buffer): Buffer | undefined;
  /**
   * koffload_advise(): an advisory request. Returns whether it was sent
   * when that is known at once; else calls done(sent) later.
   */
  advise(op: number, payload: Buffer, done: (sent: boolean) => void): void;
  /** after each f2fs_gc() call that cleaned a victim, before the writer goes on */
  afterGcCall?(m: LfsModel): void;
}

/** The patched F2FS's GC hooks over the model: a GcHook. */
export class KernelSide implements GcHook {
  readonly name = 'koffload-f2fs';
  readonly stats = zeroStats();
  /** victims chosen since mount (fk_gc_seq) */
  gcSeq = 0n;
  /** the gc_seq of the last request sent since takeAdvised(), -1 when none */
  private advisedSeq = -1n;
  private model: LfsModel | undefined;
  tickOps?: number;
  private readonly blocksPerFile: number;
  // the victim being cleaned (fk_seg_*)
  private seg = -1;
  private segValid = 0;
  private segMtime = 0;
  private segAdvised = false;
  private segUser = false;
  // the class entry read last (fk_cls_*)
  private clsIno = -1;
  private clsChunk = -1;
  private cls: Buffer | undefined;
  private clsRead = false;

  constructor(
    private readonly backend: Backend,
    readonly dev: number,
    m: { layout: { blocksPerFile: number } },
    private readonly proc?: ProcFiles,
  ) {
    this.blocksPerFile = m.layout.blocksPerFile;
    if (proc) {
      this.tickOps = proc.everyOps;
    }
  }

  onTick(m: LfsModel): void {
    this.proc?.write(m);
  }

  /** get_advised_victim(), else get_victim_by_default()'s own scan; f2fs_koffload_victim() */
  victim(m: LfsModel): number {
    let fallback: number = Fallback.FALLBACK_NO_ADVICE;
    let segno = -1;
    const raw = this.backend.lookup(rankingKey(this.dev));
    if (raw) {
      let r: Ranking | undefined;
      try {
        r = Ranking.decode(raw);
      } catch {
        fallback = Fallback.FALLBACK_MALFORMED;
      }
      if (r) {
        fallback = Fallback.FALLBACK_STALE;
        for (const c of r.victims.slice(0, CANDIDATES)) {
          const s = c.segno;
          if (s >= m.nSeg || !m.isDirty[s]) continue;
          const v = m.valid[s]!;
          if (m.segLog[s] !== c.seg_type || v === 0 || v > c.valid) continue;
          segno = s;
          break;
        }
      }
    }
    const advised = segno >= 0;
    if (!advised) segno = m.kernelVictim();
    if (segno >= 0) this.gcSeq++;
    if (advised) this.stats.victim_advised++;
    else {
      if (fallback === Fallback.FALLBACK_MALFORMED) this.stats.victim_fallback_malformed++;
      else if (fallback === Fallback.FALLBACK_STALE) this.stats.victim_fallback_stale++;
      else this.stats.victim_fallback_no_advice++;
      const req = VictimRequest.encode({
        dev: this.dev,
        gc_type: GcType.GC_FOREGROUND,
        free_segments: m.nrFree,
        reserved_segments: m.geo.reservedSegs,
        kernel_victim: segno >= 0 ? segno : NULL_SEGNO,
        ...(segno >= 0 ? { kernel_victim_valid: m.valid[segno]! } : {}),
        fallback,
        gc_seq: this.gcSeq,
      });
      this.backend.advise(Op.OP_VICTIM, req, () => undefined);
      this.advisedSeq = this.gcSeq;
    }
    if (segno >= 0 && m.isDataLog(m.segLog[segno]!)) {
      // f2fs_koffload_gc_begin()
      this.seg = segno;
      this.segValid = m.valid[segno]!;
      this.segMtime = m.mtime[segno]!;
      this.segAdvised = advised;
      this.segUser = classBitFor(m.segLog[segno]!) === 1;
      this.clsRead = false;
    } else this.seg = -1;
    return segno;
  }

  /** f2fs_koffload_gc_hot() */
  destination(_m: LfsModel, _victim: number, b: number): number {
    if (this.seg < 0) return LOG.COLD_DATA;
    const f = Math.floor(b / this.blocksPerFile);
    const index = b - f * this.blocksPerFile;
    const ino = FIRST_INO + f;
    const chunk = Math.floor(index / CHUNK_BLOCKS);
    if (!this.clsRead || this.clsIno !== ino || this.clsChunk !== chunk) {
      const e = this.backend.lookup(classKey(this.dev, ino, chunk));
      this.cls = e && e.length === CHUNK_BYTES ? e : undefined;
      this.clsIno = ino;
      this.clsChunk = chunk;
      this.clsRead = true;
    }
    if (!this.cls) {
      this.stats.class_missing++;
      this.stats.blocks_cold++;
      return LOG.COLD_DATA;
    }
    const i = index % CHUNK_BLOCKS;
    const hot = ((this.cls[i >> 2]! >> (2 * (i & 3))) & (this.segUser ? 1 : 2)) !== 0;
    if (hot) this.stats.blocks_hot++;
    else this.stats.blocks_cold++;
    return hot ? LOG.HOT_DATA : LOG.COLD_DATA;
  }

  /** f2fs_koffload_gc_moved() for each block, then f2fs_koffload_gc_end() */
  afterVictim(m: LfsModel, victim: number, moved: Int32Array, n: number, wasNode: boolean): void {
    if (wasNode || this.seg !== victim) return;
    const bpf = this.blocksPerFile;
    let runs: MovedRunInit[] = [];
    let part = 0;
    let last: { ino: number; first_index: number; count: number; dest_segno: number; dest_type: number } | undefined;
    const notice = (final: boolean): void => {
      const req = MovedRequest.encode({
        dev: this.dev,
        segno: victim,
        seg_type: m.segLog[victim]!,
        valid: this.segValid,
        mtime: BigInt(this.segMtime),
        from_advice: this.segAdvised,
        gc_seq: this.gcSeq,
        part,
        last: final,
        runs,
      });
      this.backend.advise(Op.OP_MOVED, req, (sent) => void (sent ? this.stats.notices_sent++ : this.stats.notices_dropped++));
      this.advisedSeq = this.gcSeq;
      part++;
      runs = [];
      last = undefined;
    };
    for (let i = 0; i < n; i++) {
      const b = moved[i]!;
      const f = Math.floor(b / bpf);
      const ino = FIRST_INO + f;
      const index = b - f * bpf;
      const dest = m.addr[b]! >>> 9;
      if (last && last.ino === ino && last.first_index + last.count === index && last.dest_segno === dest) {
        last.count++;
        continue;
      }
      if (runs.length === RUNS_PER_NOTICE) notice(false);
      last = { ino, first_index: index, count: 1, dest_segno: dest, dest_type: m.segLog[dest]! };
      runs.push(last);
    }
    notice(true);
    this.seg = -1;
  }

  afterGcCall(m: LfsModel): void {
    this.model = m;
    this.proc?.write(m);
    this.backend.afterGcCall?.(m);
  }

  /** The gc_seq of the newest request sent since the last call (-1 when none), for a driver that waits for the policy. */
  takeAdvised(): bigint {
    const s = this.advisedSeq;
    this.advisedSeq = -1n;
    return s;
  }

  /** User writes issued so far (0 before the first GC call). */
  userOps(): number {
    return this.model?.c.userOps ?? 0;
  }
}

/** What the model's F2FS would show in segment_info: copies, so a policy may keep them. */
export function segmentInfoOf(m: LfsModel): SegmentInfo {
  const info = { valid: new Int32Array(m.nSeg), type: new Int8Array(m.nSeg) };
  m.segmentInfo(info.valid, info.type);
  return info;
}

/** iostat_info's write counters of the model, in blocks (meta and checkpoint writes are not modelled). */
export function iostatOf(m: LfsModel): Iostat {
  return { fsData: m.c.userData, fsNode: m.c.node, fsMeta: 0, gcData: m.c.gcData, gcNode: m.c.gcNode, cpData: 0, cpNode: 0, cpMeta: 0 };
}

/** segment_info_seq_show() */
export function formatSegmentInfo(info: SegmentInfo): string {
  const out = ['format: segment_type|valid_blocks\nsegment_type(0:HD, 1:WD, 2:CD, 3:HN, 4:WN, 5:CN)\n'];
  const n = info.valid.length;
  for (let i = 0; i < n; i++) {
    if (i % 10 === 0) out.push(String(i).padEnd(10));
    out.push(`${info.type[i]}|${String(info.valid[i]).padEnd(3)}`);
    out.push(i % 10 === 9 || i === n - 1 ? '\n' : ' ');
  }
  return out.join('');
}

/** iostat_info_seq_show()'s [WRITE] part (bytes), and an empty [READ] part. */
export function formatIostat(s: Iostat, nowSec = 0): string {
  const b = (blocks: number): string => String(blocks * 4096).padEnd(16);
  return (
    `time:\t\t${String(nowSec).padEnd(16)}\n[WRITE]\napp buffered data:\t${b(s.fsData)}\napp direct data:\t${b(0)}\napp mapped data:\t${b(0)}\n` +
    `app buffered cdata:\t${b(0)}\napp mapped cdata:\t${b(0)}\nfs data:\t\t${b(s.fsData)}\nfs cdata:\t\t${b(0)}\nfs node:\t\t${b(s.fsNode)}\n` +
    `fs meta:\t\t${b(s.fsMeta)}\nfs gc data:\t\t${b(s.gcData)}\nfs gc node:\t\t${b(s.gcNode)}\nfs cp data:\t\t${b(s.cpData)}\n` +
    `fs cp node:\t\t${b(s.cpNode)}\nfs cp meta:\t\t${b(s.cpMeta)}\n[READ]\n`
  );
}

/**
 * The files a policy reads, under a root of its own (KOFFLOAD_F2FS_ROOT):
 * sys/dev/block/<major>:<minor> -> ../../devices/virtual/block/<name>,
 * proc/fs/f2fs/<name>/{segment_info,iostat_info}, sys/fs/f2fs/<name>/
 * min_hot_blocks. Rewritten whole (a new file renamed over the old, so a
 * reader never sees half of one) after every GC call and every `everyOps`
 * user writes.
 */
export class ProcFiles {
  private readonly dir: string;
  readonly writes = { count: 0 };

  constructor(
    readonly root: string,
    readonly dev: number,
    readonly name: string,
    minHotBlocks: number,
    readonly everyOps = 4096,
  ) {
    const { major, minor } = decodeDev(dev);
    this.dir = join(root, 'proc/fs/f2fs', name);
    mkdirSync(this.dir, { recursive: true });
    mkdirSync(join(root, 'sys/dev/block'), { recursive: true });
    mkdirSync(join(root, 'sys/fs/f2fs', name), { recursive: true });
    const link = join(root, 'sys/dev/block', `${major}:${minor}`);
    rmSync(link, { force: true });
    symlinkSync(`../../devices/virtual/block/${name}`, link);
    writeFileSync(join(root, 'sys/fs/f2fs', name, 'min_hot_blocks'), `${minHotBlocks}\n`);
    // mounted at boot: the uptime is the filesystem's clock
    writeFileSync(join(root, 'sys/fs/f2fs', name, 'mounted_time_sec'), '0');
    this.put(join(root, 'proc'), 'uptime', '0.00 0.00\n');
  }

  write(m: LfsModel): void {
    this.put(this.dir, 'segment_info', formatSegmentInfo(segmentInfoOf(m)));
    this.put(this.dir, 'iostat_info', formatIostat(iostatOf(m), m.nowSec()));
    this.put(join(this.root, 'proc'), 'uptime', `${(m.blockWrites / m.blocksPerSec).toFixed(2)} 0.00\n`);
    this.writes.count++;
  }

  private put(dir: string, file: string, text: string): void {
    const tmp = join(dir, `.${file}.tmp`);
    writeFileSync(tmp, text);
    renameSync(tmp, join(dir, file));
  }
}

/** The model as a policy's observer, without files (the direct path). */
export class ModelObserver implements F2fsObserver {
  model: LfsModel | undefined;

  segmentInfo(): SegmentInfo {
    return segmentInfoOf(this.need());
  }

  iostat(): Iostat {
    return iostatOf(this.need());
  }

  clockSec(): number {
    return this.need().nowSec();
  }

  minHotBlocks(): number {
    return this.need().minHotBlocks;
  }

  private need(): LfsModel {
    if (!this.model) throw new Error('the model has not started');
    return this.model;
  }
}

/**
 * A policy engine called in this process (no koffload core, no netlink):
 * the requests the kernel side sends are queued and handed to the engine
 * when the GC call that made them returns, in order; what it publishes is
 * what lookup() finds from then on (TTLs are not modelled: entries live
 * until replaced).
 */
export class DirectBackend implements Backend {
  private readonly cache = new Map<string, Buffer>();
  private queue: Array<[number, Buffer]> = [];
  readonly counts = { victim: 0, moved: 0, published: 0 };

  constructor(
    readonly engine: F2fsEngine,
    private readonly observer?: ModelObserver,
  ) {}

  lookup(key: Buffer): Buffer | undefined {
    return this.cache.get(key.toString('hex'));
  }

  advise(op: number, payload: Buffer, done: (sent: boolean) => void): void {
    this.queue.push([op, payload]);
    done(true);
  }

  afterGcCall(m: LfsModel): void {
    if (this.observer) this.observer.model = m;
    const q = this.queue;
    this.queue = [];
    for (const [op, payload] of q) {
      const pubs =
        op === Op.OP_VICTIM
          ? (this.counts.victim++, this.engine.victimAdvice(VictimRequest.decode(payload)))
          : (this.counts.moved++, this.engine.moved(MovedRequest.decode(payload)).publish);
      for (const p of pubs) {
        this.cache.set(p.key.toString('hex'), p.payload);
        this.counts.published++;
      }
    }
  }
}

/** The model's device number in requests and cache keys (null_blk's first device, 251:0). */
export const DIRECT_DEV = 251 << 8;

const ENGINES: Record<string, { about: string; defaults: Params; make: (p: Params, observer: ModelObserver) => F2fsEngine }> = {
  'koffload-greedy': {
    about: 'examples/f2fs-greedy.ts: userspace greedy through the f2fs_gc contract (the ranking only)',
    defaults: {},
    make: (_p, observer) => new GreedyEngine({ observer }),
  },
  'koffload-cb': {
    about: "examples/f2fs-cost-benefit.ts: F2FS's cost-benefit on mtimes estimated from polls, through the f2fs_gc contract",
    defaults: {},
    make: (_p, observer) => new CostBenefitEngine({ observer }),
  },
  'koffload-learned': {
    about: 'examples/f2fs-learned.ts: hazard-waste ranking and learned class bits through the f2fs_gc contract',
    defaults: { ...DAEMON_DEFAULTS, ...LEARNED_PARAMS, classEvery: 1 } as unknown as Params,
    make: (p, observer) => {
      // the family's own parameters are not the core's
      const { minHot: _m, greedy: _g, trained, classEvery, ...core } = p;
      return new LearnedEngine({ observer, classEvery: classEvery!, params: core as unknown as Partial<DaemonParams>, ...(trained ? { model: LEARNED_MODEL } : {}) });
    },
  },
};

/**
 * The example policies' engines on the model through the contract, in this
 * process (DirectBackend): the kernel side, the requests and the cache
 * entries of the real path, without koffloadd. Parameters of every family:
 * minHot (sysfs min_hot_blocks; default -1: the experiment's, a mount
 * setting like the kernel baselines'), greedy (1: F2FS's fallback is
 * greedy, else cost-benefit); koffload-learned also takes learned-core.ts's
 * DaemonParams and trained=1 (start from examples/f2fs/learned-model.ts).
 */
export const DIRECT_FAMILIES: PolicyFamily[] = Object.entries(ENGINES).map(([base, e]) => ({
  base,
  about: e.about,
  defaults: { ...e.defaults, minHot: -1, greedy: 0, ...(base === 'koffload-learned' ? { trained: 0 } : {}) },
  make(p, ctx): PolicyRun {
    const observer = new ModelObserver();
    const backend = new DirectBackend(e.make(p, observer), observer);
    const kernel = new KernelSide(backend, DIRECT_DEV, ctx);
    return {
      kernelGc: p.greedy ? GC_GREEDY : GC_CB,
      hook: kernel,
      ...(p.minHot! >= 0 ? { minHotBlocks: p.minHot! } : {}),
      stats: () => ({ ...kernel.stats }),
    };
  },
}));
