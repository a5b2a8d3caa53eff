/**
 * The advisory cache formats and notices of subsystem f2fs_gc
 * (proto/f2fs.proto), as a policy builds and reads them: cache keys, the
 * ranking, the 2-bit class maps, the dense numbering of (inode, index)
 * blocks a policy keeps its per-block state in, and the reassembly of a
 * victim's MovedRequest parts. No I/O here.
 */
import { type MovedRequest, type MovedRun, Ranking, type RankedVictimInit } from '../../src/generated/proto/f2fs.js';

/** Blocks per class entry ("c" dev ino chunk): 2 bits each in 4096 bytes. */
export const CHUNK_SHIFT = 14;
export const CHUNK_BLOCKS = 1 << CHUNK_SHIFT;
export const CHUNK_BYTES = CHUNK_BLOCKS / 4;
/** Class bits: hot when moved out of a user-written (hot or warm data) victim / out of a cold (GC-written) one. */
export const HOT_FROM_USER = 1;
export const HOT_FROM_GC = 2;
/** Blocks per segment (F2FS's 2 MiB segments of 4 KiB blocks). */
export const SEG_BLOCKS = 512;
/** CURSEG_* log types as segment_info and the requests give them. */
export const SEG_TYPE = { HOT_DATA: 0, WARM_DATA: 1, COLD_DATA: 2, HOT_NODE: 3, WARM_NODE: 4, COLD_NODE: 5 } as const;
/** F2FS's NULL_SEGNO: "none" in VictimRequest.kernel_victim and MovedRun.dest_segno. */
export const NULL_SEGNO = 0xffffffff;
/** The kernel decodes at most this many ranking entries (F2FS_KOFFLOAD_CANDIDATES). */
export const RANKING_MAX = 64;

export const isDataType = (t: number): boolean => t >= SEG_TYPE.HOT_DATA && t <= SEG_TYPE.COLD_DATA;

/**
 * Which class bit the kernel applies to a block moved out of a victim of
 * log type t: HOT_FROM_USER for the hot and warm data logs, HOT_FROM_GC
 * for the cold one (koffload.c, f2fs_koffload_gc_begin()).
 */
export const classBitFor = (t: number): number => (t === SEG_TYPE.HOT_DATA || t === SEG_TYPE.WARM_DATA ? HOT_FROM_USER : HOT_FROM_GC);

/** Cache key "r" dev: the ranking. */
export function rankingKey(dev: number): Buffer {
  const k = Buffer.alloc(5);
  k[0] = 0x72;
  k.writeUInt32LE(dev >>> 0, 1);
  return k;
}

/** Cache key "c" dev ino chunk: the classes of blocks chunk * 16384 .. + 16383 of inode ino. */
export function classKey(dev: number, ino: number, chunk: number): Buffer {
  const k = Buffer.alloc(13);
  k[0] = 0x63;
  k.writeUInt32LE(dev >>> 0, 1);
  k.writeUInt32LE(ino >>> 0, 5);
  k.writeUInt32LE(chunk >>> 0, 9);
  return k;
}

/** One thing to publish: key, payload, lifetime. */
export interface Publication {
  key: Buffer;
  payload: Buffer;
  ttlMs: number;
}

/** The Ranking payload: entries best first, at most RANKING_MAX. */
export function rankingPublication(dev: number, gcSeq: bigint, victims: readonly RankedVictimInit[], ttlMs: number): Publication {
  return { key: rankingKey(dev), payload: Ranking.encode({ gc_seq: gcSeq, victims: victims.slice(0, RANKING_MAX) }), ttlMs };
}

/**
 * Dense block ids for (inode, index): each (inode, chunk) pair met gets a
 * slot of CHUNK_BLOCKS ids, in the order first met, so per-block state
 * lives in flat arrays and a slot is exactly one class entry.
 */
export class BlockMap {
  private readonly slotOf = new Map<number, number>();
  /** per slot: inode and chunk */
  readonly slotIno: number[] = [];
  readonly slotChunk: number[] = [];

  get slots(): number {
    return this.slotIno.length;
  }

  /** ids in use: slots * CHUNK_BLOCKS */
  get capacity(): number {
    return this.slots * CHUNK_BLOCKS;
  }

  /** The slot of (ino, chunk), made on first use. */
  slot(ino: number, chunk: number): number {
    // ino < 2^32, chunk < 2^18 (index < 2^32): the key stays an exact double
    const key = ino * 262144 + chunk;
    let s = this.slotOf.get(key);
    if (s === undefined) {
      s = this.slotIno.length;
      this.slotOf.set(key, s);
      this.slotIno.push(ino);
      this.slotChunk.push(chunk);
    }
    return s;
  }

  /** The id of block `index` of inode `ino`. */
  id(ino: number, index: number): number {
    return this.slot(ino, Math.floor(index / CHUNK_BLOCKS)) * CHUNK_BLOCKS + (index % CHUNK_BLOCKS);
  }
}

/**
 * 2 class bits per block id, packed as the "c" entries are (block i at
 * bits 2 * (i % 4) of byte i / 4 of its slot's page), with the pages that
 * changed since they were last published.
 */
export class ClassMap {
  private pages: Uint8Array[] = [];
  private changed = new Set<number>();
  /** when each page was last published, ms (the caller's clock) */
  private publishedAt: number[] = [];

  get(id: number): number {
    const p = this.pages[Math.floor(id / CHUNK_BLOCKS)];
    if (!p) return 0;
    const i = id % CHUNK_BLOCKS;
    return (p[i >> 2]! >> ((i & 3) * 2)) & 3;
  }

  /** Slot s's page, made when missing, to write into directly; touch(s) after changing it. */
  page(s: number): Uint8Array {
    return (this.pages[s] ??= new Uint8Array(CHUNK_BYTES));
  }

  /** Slot s's page changed (written through page()). */
  touch(s: number): void {
    this.changed.add(s);
  }

  set(id: number, cls: number): void {
    const s = Math.floor(id / CHUNK_BLOCKS);
    const p = (this.pages[s] ??= new Uint8Array(CHUNK_BYTES));
    const i = id % CHUNK_BLOCKS;
    const sh = (i & 3) * 2;
    const old = p[i >> 2]!;
    const v = (old & ~(3 << sh)) | ((cls & 3) << sh);
    if (v !== old) {
      p[i >> 2] = v;
      this.changed.add(s);
    }
  }

  /**
   * The pages to publish now: every changed page, and every page whose last
   * publish is older than refreshMs (so entries never expire while the
   * policy runs). nowMs is the caller's clock.
   */
  take(map: BlockMap, dev: number, ttlMs: number, nowMs: number, refreshMs = ttlMs / 2): Publication[] {
    const out: Publication[] = [];
    for (let s = 0; s < map.slots; s++) {
      const p = (this.pages[s] ??= new Uint8Array(CHUNK_BYTES));
      const due = !(s in this.publishedAt) || nowMs - this.publishedAt[s]! >= refreshMs;
      if (!this.changed.has(s) && !due) continue;
      out.push({ key: classKey(dev, map.slotIno[s]!, map.slotChunk[s]!), payload: Buffer.from(p), ttlMs });
      this.publishedAt[s] = nowMs;
    }
    this.changed.clear();
    return out;
  }
}

/** A cleaned victim, its notice parts joined. */
export interface CleanedVictim {
  dev: number;
  segno: number;
  segType: number;
  /** valid blocks when chosen */
  valid: number;
  mtime: bigint;
  fromAdvice: boolean;
  gcSeq: bigint;
  runs: MovedRun[];
  /** parts received (1 when none was lost) */
  parts: number;
  /** a part was missing (a notice the kernel could not send) */
  incomplete: boolean;
}

/**
 * Joins the MovedRequest parts of each victim (part 0, 1, ..., the last
 * one flagged). Notices of one filesystem come in order; a part that the
 * kernel could not send (counted as notices_dropped) leaves a gap: the
 * victim is still delivered, flagged incomplete, when its last part or the
 * next victim's first part arrives.
 */
export class NoticeAssembler {
  private readonly open = new Map<number, CleanedVictim & { next: number }>();

  /** Adds one part; returns the victims completed by it (0, 1 or 2). */
  add(req: MovedRequest): CleanedVictim[] {
    const done: CleanedVictim[] = [];
    let v = this.open.get(req.dev);
    if (v && (v.gcSeq !== req.gc_seq || v.segno !== req.segno || req.part < v.next)) {
      // a new victim began before the last part of the previous one came
      this.open.delete(req.dev);
      done.push(finish({ ...v, incomplete: true }));
      v = undefined;
    }
    if (!v) {
      v = {
        dev: req.dev,
        segno: req.segno,
        segType: req.seg_type,
        valid: req.valid,
        mtime: req.mtime,
        fromAdvice: req.from_advice,
        gcSeq: req.gc_seq,
        runs: [],
        parts: 0,
        incomplete: req.part !== 0,
        next: 0,
      };
      this.open.set(req.dev, v);
    }
    if (req.part !== v.next) v.incomplete = true;
    v.next = req.part + 1;
    v.parts++;
    for (const r of req.runs) v.runs.push(r);
    if (req.last) {
      this.open.delete(req.dev);
      done.push(finish(v));
    }
    return done;
  }
}

function finish(v: CleanedVictim & { next?: number }): CleanedVictim {
  const { next: _next, ...rest } = v;
  return rest;
}
