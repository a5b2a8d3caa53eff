/**
 * A model of F2FS 6.1's data path in `mode=lfs` on one device, at the level
 * that decides GC write amplification: segments, the six logs, segment
 * allocation, SIT valid counts and mtimes, the dirty/prefree/free lists,
 * foreground GC as f2fs_balance_fs() runs it, checkpoints, and node blocks
 * (which take space from data). Typed arrays only; no object per block.
 *
 * The C it follows (fs/f2fs/ of Debian's linux-source-6.1, 6.1.192), by part:
 * - trigger: f2fs_balance_fs() after each written data page
 *   (f2fs_write_single_data_page) and each fsync'd node page
 *   (__write_node_page with do_balance); has_not_enough_free_secs() and
 *   __get_secs_required() with lfs mode's dirty data pages, and
 *   has_curseg_enough_space() against ckpt_valid_blocks (segment.h).
 * - f2fs_gc(): init_gc_type BG_GC, no_bg_gc, nr_free_secs 1: a checkpoint
 *   first when prefree segments exist, FG_GC if space is still short, then
 *   one victim per round until !has_not_enough_free_secs(sec_freed) and at
 *   least one section freed, with the in-loop checkpoint when free sections
 *   <= upper + NR_GC_CHECKPOINT_SECS (gc.c). sec_freed is counted again
 *   after that checkpoint frees the same sections, as the C does.
 * - get_victim_by_default() for FG_GC, LFS: every dirty segment is a
 *   candidate (no max_victim_search cap for FG), scanned circularly from
 *   last_victim[gc_mode] with its update rule; strict `<` keeps the first
 *   minimum; greedy cost = valid blocks, cost-benefit = get_cb_cost() with
 *   its integer u and age and the min/max_mtime updates it makes.
 * - update_segment_mtime(): seconds (get_mtime() is boot-time seconds
 *   since mkfs), averaged over every write into and invalidation in the
 *   segment, floor division; GC moves are not ATGC so they pass
 *   old_mtime 0 and stamp "now". min_mtime stays 0 on a fresh fs.
 * - placement: regular-file data to CURSEG_HOT_DATA when the file has at
 *   most min_hot_blocks (16) dirty pages as f2fs_write_cache_pages() starts
 *   (FI_HOT_DATA: every fsync of this workload's overwrites), else to
 *   CURSEG_WARM_DATA (the fill; no write hint, no hot extension); GC-moved
 *   data to CURSEG_COLD_DATA (page_private_gcing),
 *   file dnodes and inodes to CURSEG_WARM_NODE, indirect nodes to
 *   CURSEG_COLD_NODE; new_curseg() with NOHEAP (the 6.1 default): hot data
 *   and node logs take the lowest free segment, warm and cold data the
 *   next free one after their current segment.
 * - FG move_data_page(): a page dirty in the page cache is written by GC
 *   with its new contents and counts as GC data, not user data.
 * - checkpoint: dirty node pages written, ckpt_valid = valid, prefree
 *   segments freed (f2fs_clear_prefree_segments()). Meta areas (CP, SIT,
 *   NAT, SSA) lie outside the main area and are not modelled.
 * Not modelled: background GC (never runs under this load: the device is
 * never idle), discard, roll-forward, xattrs, directories, inline data.
 *
 * Time: `blocksPerSec` main-area block writes per second of the guest's
 * clock (user data, GC, node); SIT mtimes take floor(seconds) as the
 * kernel does. A GcHook steers the victim and where moved blocks go, as a
 * patched F2FS would; the default hook is none (the kernel's own choice).
 */
import { KoffloadError } from '../../errors.js';
import { BLOCKS_PER_SEG, type Geometry } from './geometry.js';
import type { Layout } from './workload.js';

/** Log numbers as F2FS's enum curseg_type; EXTRA_LOG_BASE.. are logs a patch would add. */
export const LOG = { HOT_DATA: 0, WARM_DATA: 1, COLD_DATA: 2, HOT_NODE: 3, WARM_NODE: 4, COLD_NODE: 5 } as const;
export const EXTRA_LOG_BASE = 6;
export const LOG_NAMES = ['hot-data', 'warm-data', 'cold-data', 'hot-node', 'warm-node', 'cold-node'];

export const GC_GREEDY = 0;
export const GC_CB = 1;
export type KernelGcMode = typeof GC_GREEDY | typeof GC_CB;

const UINT_MAX = 4294967295;
const BPS = BLOCKS_PER_SEG;
const LOG_BPS = 9;
/** ADDRS_PER_INODE with inline xattrs (the 6.1 default, no extra_attr) */
export const ADDRS_PER_INODE = 923 - 50;
/** ADDRS_PER_BLOCK */
export const ADDRS_PER_BLOCK = 1018;
/** NR_GC_CHECKPOINT_SECS */
const NR_GC_CHECKPOINT_SECS = 3;

/** What a patched F2FS lets a policy steer. Every method is optional. */
export interface GcHook {
  readonly name: string;
  /** Once, before the fill. */
  attach?(m: LfsModel): void;
  /** The FG victim: a dirty segment number, or -1 for the kernel's own choice. */
  victim?(m: LfsModel): number;
  /**
   * The data log a block moved out of `victim` goes to (LOG.*, or
   * EXTRA_LOG_BASE + i for i < extraLogs); called in victim block order.
   */
  destination?(m: LfsModel, victim: number, block: number): number;
  /** Once per cleaned victim, after its blocks moved. */
  afterVictim?(m: LfsModel, victim: number, moved: Int32Array, nMoved: number, wasNode: boolean): void;
  /** Once per f2fs_gc() call that cleaned at least one victim, when it returns. */
  afterGcCall?(m: LfsModel): void;
  /** A logical block was written into segment seg (bounds keep per-segment aggregates). */
  onPlace?(m: LfsModel, id: number, seg: number): void;
  /** A logical block's old copy in segment seg became invalid. */
  onRemove?(m: LfsModel, id: number, seg: number): void;
  /**
   * The data log a user write of block b goes to (default: the warm data
   * log, as for a regular file without hints); a patch that placed user
   * data per block, like a per-block write hint, would decide this.
   */
  userLog?(m: LfsModel, b: number): number;
  /** A log opened segment seg (new_curseg()). */
  onOpen?(m: LfsModel, seg: number, log: number): void;
  /** onTick() runs after every tickOps user writes (a daemon's polls). */
  tickOps?: number;
  onTick?(m: LfsModel): void;
}

export interface ModelOptions {
  geometry: Geometry;
  layout: Layout;
  /** F2FS's own policy: gc_idle=2 (greedy) or gc_idle=1 (cost-benefit). @default GC_CB */
  kernelGc?: KernelGcMode;
  hook?: GcHook;
  /** Data logs a patch adds for moved data. @default 0 */
  extraLogs?: number;
  /** Main-area block writes per second of the guest's clock (SIT mtime). @default 60000 */
  blocksPerSec?: number;
  /** Writes between fsyncs. @default 64 */
  fsyncEvery?: number;
  /** Model node blocks (inodes, dnodes, indirect nodes). @default true */
  nodes?: boolean;
  /** min_hot_blocks (sysfs): files with at most this many dirty pages at writeback go to the hot data log. @default 16 */
  minHotBlocks?: number;
  /**
   * fsync writes the file's dirty node pages (f2fs_fsync_node_pages()); with
   * false they wait for the next checkpoint (a sensitivity knob: the node
   * write volume decides how much of the spare space node segments hold).
   * @default true
   */
  fsyncNodes?: boolean;
}

export interface Counters {
  /** fs_data: user data pages written back */
  userData: number;
  /** fs_gc_data: data blocks moved by GC */
  gcData: number;
  /** node pages written by fsync and checkpoints */
  node: number;
  /** node blocks moved by GC */
  gcNode: number;
  /** f2fs_gc() calls that ran foreground GC */
  gcCalls: number;
  dataVictims: number;
  nodeVictims: number;
  checkpoints: number;
  /** user writes issued (before page-cache merging) */
  userOps: number;
  /** user writes merged into a page still dirty from an earlier one */
  merged: number;
  /** dirty pages GC wrote (with their new contents) before writeback did */
  absorbed: number;
}

const zero = (): Counters => ({ userData: 0, gcData: 0, node: 0, gcNode: 0, gcCalls: 0, dataVictims: 0, nodeVictims: 0, checkpoints: 0, userOps: 0, merged: 0, absorbed: 0 });

export class LfsModel {
  readonly geo: Geometry;
  readonly layout: Layout;
  readonly nSeg: number;
  readonly nLogs: number;
  readonly kernelGc: KernelGcMode;
  readonly blocksPerSec: number;
  readonly fsyncEvery: number;
  readonly hook: GcHook | undefined;

  // per segment (SIT, free and dirty seglists)
  readonly valid: Int32Array;
  readonly ckptValid: Int32Array;
  /** se->mtime, seconds */
  readonly mtime: Float64Array;
  /** the log that last wrote the segment (se->type); kept after the segment is freed */
  readonly segLog: Int8Array;
  readonly isFree: Uint8Array;
  readonly isPrefree: Uint8Array;
  readonly isDirty: Uint8Array;
  readonly isCurseg: Uint8Array;
  /** user data writes done when the segment was opened by its log */
  readonly openedAtOp: Float64Array;
  nrFree: number;
  nrPrefree = 0;
  nrDirty = 0;
  minMtime = 0;
  maxMtime = 0;
  readonly lastVictim = new Int32Array(2);

  // per block slot: the logical block there, -1 when invalid
  readonly owner: Int32Array;
  // per logical block: data blocks 0..nData-1, node blocks nData..; slot or -1
  readonly addr: Int32Array;
  readonly nData: number;
  readonly nNode: number;
  /** node block holding each data block's address */
  readonly nodeOf: Int32Array;
  /** 0 inode/dnode (warm node), 1 indirect (cold node) */
  readonly nodeKind: Uint8Array;
  readonly nodeDirty: Uint8Array;
  /** first node id of each file (its inode) */
  readonly fileNode0: Int32Array;
  readonly fileNodes: Int32Array;
  dirtyNodes = 0;
  readonly modelNodes: boolean;
  readonly fsyncNodes: boolean;
  readonly minHotBlocks: number;

  // logs
  readonly cursegSeg: Int32Array;
  readonly cursegOff: Int32Array;

  // page cache: data pages written by the user and not yet written back
  readonly isPending: Uint8Array;
  readonly pendingOp: Float64Array;
  dirtyData = 0;
  /** global op index of the user write whose contents each data block holds (-1: the fill) */
  readonly verOp: Float64Array;

  // time and counts
  /** main-area block writes so far (the clock) */
  blockWrites = 0;
  /** global op index of the next user write (the fill is not counted) */
  opNow = 0;
  readonly c: Counters = zero();
  /** per destination log: data blocks GC moved there */
  readonly movedTo: Float64Array;
  /** per victim log: data blocks GC moved out of victims that log wrote */
  readonly movedFrom: Float64Array;
  /** per victim log: data victims cleaned */
  readonly victimsFrom: Float64Array;

  private readonly batchB: Int32Array;
  private batchN = 0;
  private readonly moved = new Int32Array(BPS);
  private inGc = false;
  /** steps() and fillSteps() yield after each GC call that cleaned a victim */
  pauseAfterGc = false;
  private pauseDue = false;
  private readonly onPlace: GcHook['onPlace'];
  private readonly onRemove: GcHook['onRemove'];
  private readonly userLogOf: GcHook['userLog'];

  constructor(opts: ModelOptions) {
    this.geo = opts.geometry;
    this.layout = opts.layout;
    this.nSeg = opts.geometry.mainSegs;
    this.nLogs = EXTRA_LOG_BASE + (opts.extraLogs ?? 0);
    this.kernelGc = opts.kernelGc ?? GC_CB;
    this.blocksPerSec = opts.blocksPerSec ?? 60000;
    this.fsyncEvery = opts.fsyncEvery ?? 64;
    this.hook = opts.hook;
    this.onPlace = opts.hook?.onPlace?.bind(opts.hook);
    this.onRemove = opts.hook?.onRemove?.bind(opts.hook);
    this.userLogOf = opts.hook?.userLog?.bind(opts.hook);
    this.modelNodes = opts.nodes ?? true;
    this.fsyncNodes = this.modelNodes && (opts.fsyncNodes ?? true);
    this.minHotBlocks = opts.minHotBlocks ?? 16;
    const n = this.nSeg;
    this.valid = new Int32Array(n);
    this.ckptValid = new Int32Array(n);
    this.mtime = new Float64Array(n);
    this.segLog = new Int8Array(n).fill(-1);
    this.isFree = new Uint8Array(n).fill(1);
    this.isPrefree = new Uint8Array(n);
    this.isDirty = new Uint8Array(n);
    this.isCurseg = new Uint8Array(n);
    this.openedAtOp = new Float64Array(n);
    this.nrFree = n;
    this.owner = new Int32Array(n * BPS).fill(-1);

    const { files, blocksPerFile, nBlocks } = opts.layout;
    this.nData = nBlocks;
    const perFile = nodesPerFile(blocksPerFile);
    this.nNode = this.modelNodes ? files * perFile : 0;
    this.addr = new Int32Array(this.nData + this.nNode).fill(-1);
    this.nodeOf = new Int32Array(this.nData);
    this.nodeKind = new Uint8Array(this.nNode);
    this.nodeDirty = new Uint8Array(this.nNode);
    this.fileNode0 = new Int32Array(files);
    this.fileNodes = new Int32Array(files).fill(this.modelNodes ? perFile : 0);
    for (let f = 0; f < files; f++) {
      const base = this.nData + f * perFile;
      this.fileNode0[f] = base;
      if (this.modelNodes) {
        if (perFile > 3) this.nodeKind[base + 3 - this.nData] = 1;
        for (let i = 0; i < blocksPerFile; i++) this.nodeOf[f * blocksPerFile + i] = base + nodeIndexOf(i);
      }
    }
    this.isPending = new Uint8Array(this.nData);
    this.pendingOp = new Float64Array(this.nData);
    this.verOp = new Float64Array(this.nData).fill(-1);
    this.movedTo = new Float64Array(this.nLogs);
    this.movedFrom = new Float64Array(this.nLogs);
    this.victimsFrom = new Float64Array(this.nLogs);
    this.batchB = new Int32Array(Math.max(this.fsyncEvery, blocksPerFile));

    // mkfs opens every persistent log on a segment of its own
    this.cursegSeg = new Int32Array(this.nLogs);
    this.cursegOff = new Int32Array(this.nLogs);
    for (let l = 0; l < this.nLogs; l++) this.openLog(l, 0);
    this.hook?.attach?.(this);
  }

  // ---- clock and SIT ----

  /** get_mtime(): whole seconds of the guest's clock */
  nowSec(): number {
    return Math.floor(this.blockWrites / this.blocksPerSec);
  }

  /** update_segment_mtime(sbi, blkaddr, 0) for segment s */
  private touchMtime(s: number): void {
    const ctime = Math.floor(this.blockWrites / this.blocksPerSec);
    const m = this.mtime[s]!;
    if (m === 0) this.mtime[s] = ctime;
    else {
      const v = this.valid[s]!;
      this.mtime[s] = Math.floor((m * v + ctime) / (v + 1));
    }
    if (ctime > this.maxMtime) this.maxMtime = ctime;
  }

  private addDirty(s: number): void {
    if (!this.isDirty[s]) {
      this.isDirty[s] = 1;
      this.nrDirty++;
    }
  }

  private removeDirty(s: number): void {
    if (this.isDirty[s]) {
      this.isDirty[s] = 0;
      this.nrDirty--;
    }
  }

  /** locate_dirty_segment() */
  private locateDirty(s: number): void {
    if (this.isCurseg[s]) return;
    const v = this.valid[s]!;
    if (v === 0) {
      if (!this.isPrefree[s]) {
        this.isPrefree[s] = 1;
        this.nrPrefree++;
      }
      this.removeDirty(s);
    } else if (v < BPS) this.addDirty(s);
    else this.removeDirty(s);
  }

  // ---- logs ----

  private isNodeLog(l: number): boolean {
    return l >= LOG.HOT_NODE && l <= LOG.COLD_NODE;
  }

  /** get_new_segment() with ALLOC_RIGHT (NOHEAP) from `hint` */
  private openLog(l: number, hint: number): void {
    const n = this.nSeg;
    let s = hint;
    while (s < n && !this.isFree[s]) s++;
    if (s >= n) {
      s = 0;
      while (s < n && !this.isFree[s]) s++;
    }
    if (s >= n) throw new KoffloadError('KOFFLOAD_ERR_LFS_NO_SPACE', `no free segment for log ${l} at op ${this.opNow}`);
    this.isFree[s] = 0;
    this.nrFree--;
    this.isCurseg[s] = 1;
    this.segLog[s] = l;
    this.openedAtOp[s] = this.opNow;
    this.cursegSeg[l] = s;
    this.cursegOff[l] = 0;
    this.hook?.onOpen?.(this, s, l);
  }

  /** new_curseg(): __get_next_segno() then get_new_segment() */
  private newCurseg(l: number): void {
    const old = this.cursegSeg[l]!;
    this.isCurseg[old] = 0;
    const hint = l === LOG.HOT_DATA || this.isNodeLog(l) ? 0 : old;
    this.openLog(l, hint);
  }

  /** f2fs_allocate_data_block(): logical block id to the tail of log l */
  private append(id: number, l: number): void {
    this.blockWrites++;
    const old = this.addr[id]!;
    const oldSeg = old >= 0 ? old >>> LOG_BPS : -1;
    if (oldSeg >= 0) this.touchMtime(oldSeg);
    const s = this.cursegSeg[l]!;
    this.touchMtime(s);
    const slot = (s << LOG_BPS) | this.cursegOff[l]!;
    this.valid[s]!++;
    this.ckptValid[s]!++;
    this.owner[slot] = id;
    this.addr[id] = slot;
    if (oldSeg >= 0) {
      this.valid[oldSeg]!--;
      this.owner[old] = -1;
      if (this.onRemove) this.onRemove(this, id, oldSeg);
    }
    if (this.onPlace) this.onPlace(this, id, s);
    if (++this.cursegOff[l]! === BPS) this.newCurseg(l);
    if (oldSeg >= 0) this.locateDirty(oldSeg);
    this.locateDirty(s);
  }

  private markNodeDirty(nid: number): void {
    const k = nid - this.nData;
    if (!this.nodeDirty[k]) {
      this.nodeDirty[k] = 1;
      this.dirtyNodes++;
    }
  }

  private writeNode(nid: number): void {
    const k = nid - this.nData;
    if (this.nodeDirty[k]) {
      this.nodeDirty[k] = 0;
      this.dirtyNodes--;
    }
    this.append(nid, this.nodeKind[k] ? LOG.COLD_NODE : LOG.WARM_NODE);
  }

  // ---- space accounting ----

  /** has_curseg_enough_space() */
  private cursegSpace(nodeBlocks: number, dataBlocks: number): boolean {
    for (let l = LOG.HOT_DATA; l <= LOG.COLD_NODE; l++) {
      const left = BPS - this.ckptValid[this.cursegSeg[l]!]!;
      if ((l <= LOG.COLD_DATA ? dataBlocks : nodeBlocks) > left) return false;
    }
    return true;
  }

  /** __get_secs_required()'s upper bound */
  private upperSecs(): number {
    const nodeSecs = Math.floor(this.dirtyNodes / BPS);
    const dataSecs = Math.floor(this.dirtyData / BPS);
    return nodeSecs + dataSecs + (this.dirtyNodes % BPS ? 1 : 0) + (this.dirtyData % BPS ? 1 : 0);
  }

  /** has_not_enough_free_secs(sbi, freed, 0) */
  notEnoughFree(freed: number): boolean {
    const free = this.nrFree + freed;
    const nodeBlocks = this.dirtyNodes % BPS;
    const dataBlocks = this.dirtyData % BPS;
    const lower = Math.floor(this.dirtyNodes / BPS) + Math.floor(this.dirtyData / BPS) + this.geo.reservedSegs;
    const upper = lower + (nodeBlocks ? 1 : 0) + (dataBlocks ? 1 : 0);
    if (free > upper) return false;
    if (free <= lower) return true;
    return !this.cursegSpace(nodeBlocks, dataBlocks);
  }

  /** f2fs_write_checkpoint(), as far as the main area sees it */
  checkpoint(): void {
    this.c.checkpoints++;
    if (this.dirtyNodes > 0) {
      // f2fs_sync_node_pages(): indirect nodes first, then dnodes
      for (let pass = 1; pass >= 0; pass--) {
        for (let k = 0; k < this.nNode; k++) {
          if (this.nodeDirty[k] && this.nodeKind[k] === pass) {
            this.writeNode(this.nData + k);
            this.c.node++;
          }
        }
      }
    }
    this.ckptValid.set(this.valid);
    if (this.nrPrefree > 0) {
      for (let s = 0; s < this.nSeg; s++) {
        if (this.isPrefree[s]) {
          this.isPrefree[s] = 0;
          this.isFree[s] = 1;
          this.nrFree++;
        }
      }
      this.nrPrefree = 0;
    }
  }

  // ---- victim selection ----

  /** get_cb_cost() */
  cbCost(s: number): number {
    const mtime = this.mtime[s]!;
    const u = Math.floor((this.valid[s]! * 100) / BPS);
    if (mtime < this.minMtime) this.minMtime = mtime;
    if (mtime > this.maxMtime) this.maxMtime = mtime;
    let age = 0;
    if (this.maxMtime !== this.minMtime) age = 100 - Math.floor((100 * (mtime - this.minMtime)) / (this.maxMtime - this.minMtime));
    return UINT_MAX - Math.floor((100 * (100 - u) * age) / (100 + u));
  }

  /**
   * get_victim_by_default() for FG_GC and LFS allocation; -1 when none.
   * skip: segments a patched kernel leaves out of the scan (they still
   * count as searched, as sec_usage_check()'s skips do).
   */
  kernelVictim(mode: KernelGcMode = this.kernelGc, skip?: Uint8Array): number {
    const maxSearch = this.nrDirty;
    if (maxSearch === 0) return -1;
    const n = this.nSeg;
    const lv = this.lastVictim;
    const last = lv[mode]!;
    let lastSegment = n;
    let offset = last;
    let minCost = mode === GC_GREEDY ? 2 * BPS : UINT_MAX;
    let minSeg = -1;
    let searched = 0;
    for (;;) {
      let s = offset;
      while (s < lastSegment && !this.isDirty[s]) s++;
      if (s >= lastSegment) {
        if (lv[mode]) {
          lastSegment = lv[mode]!;
          lv[mode] = 0;
          offset = 0;
          continue;
        }
        break;
      }
      offset = s + 1;
      searched++;
      if (!skip || !skip[s]) {
        const cost = mode === GC_GREEDY ? this.valid[s]! : this.cbCost(s);
        if (minCost > cost) {
          minCost = cost;
          minSeg = s;
        }
      }
      if (searched >= maxSearch) {
        lv[mode] = (!lv[mode] && s <= last ? last + 1 : s + 1) % n;
        break;
      }
    }
    return minSeg;
  }

  // ---- GC ----

  /** do_garbage_collect() on one segment; returns the blocks moved */
  private collect(victim: number): number {
    const base = victim << LOG_BPS;
    const wasNode = this.isNodeLog(this.segLog[victim]!);
    const hook = this.hook;
    let n = 0;
    for (let off = 0; off < BPS; off++) {
      const id = this.owner[base + off]!;
      if (id < 0) continue;
      this.moved[n++] = id;
      if (wasNode) {
        this.writeNode(id);
        this.c.gcNode++;
        continue;
      }
      const dest = hook?.destination ? hook.destination(this, victim, id) : LOG.COLD_DATA;
      if (this.isPending[id]) {
        // move_data_page(): the dirty page is written with its new contents
        this.verOp[id] = this.pendingOp[id]!;
        this.isPending[id] = 0;
        this.dirtyData--;
        this.c.absorbed++;
      }
      this.append(id, dest);
      this.movedTo[dest]!++;
      this.c.gcData++;
      if (this.modelNodes) this.markNodeDirty(this.nodeOf[id]!);
    }
    if (wasNode) this.c.nodeVictims++;
    else {
      this.c.dataVictims++;
      const l = this.segLog[victim]!;
      this.victimsFrom[l]!++;
      this.movedFrom[l]! += n;
    }
    hook?.afterVictim?.(this, victim, this.moved, n, wasNode);
    return n;
  }

  /** f2fs_gc() as f2fs_balance_fs() calls it */
  private gc(): void {
    let fg = false;
    let secFreed = 0;
    let cleaned = 0;
    this.inGc = true;
    for (;;) {
      if (!fg && this.notEnoughFree(0)) {
        if (this.nrPrefree > 0) this.checkpoint();
        if (this.notEnoughFree(0)) fg = true;
      }
      if (!fg) break;
      let victim = this.hook?.victim ? this.hook.victim(this) : -1;
      if (victim < 0 || !this.isDirty[victim]) victim = this.kernelVictim();
      if (victim < 0) break;
      if (cleaned === 0) this.c.gcCalls++;
      this.collect(victim);
      cleaned++;
      if (this.valid[victim] === 0) secFreed++;
      if (!this.notEnoughFree(secFreed)) {
        if (secFreed < 1) continue;
        break;
      }
      if (this.nrFree <= this.upperSecs() + NR_GC_CHECKPOINT_SECS && this.nrPrefree > 0) this.checkpoint();
    }
    this.inGc = false;
    if (cleaned > 0) {
      this.hook?.afterGcCall?.(this);
      if (this.pauseAfterGc) this.pauseDue = true;
    }
  }

  /** f2fs_balance_fs() */
  private balance(): void {
    if (!this.inGc && this.notEnoughFree(0)) this.gc();
  }

  // ---- user writes ----

  /** write() of one block into the page cache: global op index `op` (-1: the fill) */
  private dirty(b: number, op: number): void {
    if (!this.isPending[b]) {
      this.isPending[b] = 1;
      this.dirtyData++;
    } else this.c.merged++;
    this.pendingOp[b] = op;
    this.batchB[this.batchN++] = b;
    this.c.userOps++;
  }

  /** fsync() of every file written since its last fsync, in file order; yields after a GC call when pauseAfterGc is set */
  private *flush(filling: boolean): Generator<void, void, void> {
    const n = this.batchN;
    if (n === 0) return;
    const bb = this.batchB.subarray(0, n);
    bb.sort();
    const bpf = this.layout.blocksPerFile;
    let i = 0;
    while (i < n) {
      const f = Math.floor(bb[i]! / bpf);
      const end = (f + 1) * bpf;
      // f2fs_write_cache_pages(): FI_HOT_DATA when the inode has at most
      // min_hot_blocks dirty pages
      let dirtyPages = 0;
      for (let k = i; k < n && bb[k]! < end; k++) if (this.isPending[bb[k]!] && (k === i || bb[k - 1] !== bb[k])) dirtyPages++;
      const fileLog = dirtyPages <= this.minHotBlocks ? LOG.HOT_DATA : LOG.WARM_DATA;
      // file_write_and_wait_range(): dirty pages in index order
      let j = i;
      for (; j < n && bb[j]! < end; j++) {
        const b = bb[j]!;
        if (!this.isPending[b]) continue; // a duplicate, or GC wrote it already
        this.isPending[b] = 0;
        this.dirtyData--;
        this.verOp[b] = this.pendingOp[b]!;
        this.append(b, this.userLogOf && !filling ? this.userLogOf(this, b) : fileLog);
        this.c.userData++;
        if (this.modelNodes) {
          this.markNodeDirty(this.nodeOf[b]!);
          this.markNodeDirty(this.fileNode0[f]!);
          // the fill links new dnodes from the indirect node
          if (filling && this.fileNodes[f]! > 3) this.markNodeDirty(this.fileNode0[f]! + 3);
        }
        this.balance();
        if (this.pauseDue) {
          this.pauseDue = false;
          yield;
        }
      }
      // f2fs_fsync_node_pages(): the file's dirty node pages in nid order
      if (this.fsyncNodes) {
        const n0 = this.fileNode0[f]!;
        const nn = this.fileNodes[f]!;
        for (let k = n0; k < n0 + nn; k++) {
          if (this.nodeDirty[k - this.nData]) {
            this.writeNode(k);
            this.c.node++;
            this.balance();
            if (this.pauseDue) {
              this.pauseDue = false;
              yield;
            }
          }
        }
      }
      i = j;
    }
    this.batchN = 0;
  }

  /** workload.c's fill: each file written sequentially, then fsynced. */
  fill(): void {
    drive(this.fillSteps());
  }

  /** fill(), pausing as run() does (fillSteps() yields where steps() would). */
  *fillSteps(): Generator<void, void, void> {
    const bpf = this.layout.blocksPerFile;
    for (let f = 0; f < this.layout.files; f++) {
      for (let b = f * bpf; b < (f + 1) * bpf; b++) this.dirty(b, -1);
      yield* this.flush(true);
    }
  }

  /**
   * Runs user writes: trace[i] is the block of global op opBase + i. An
   * fsync round follows every fsyncEvery writes (counted from op 0).
   */
  run(trace: Int32Array, opBase: number): void {
    drive(this.steps(trace, opBase));
  }

  /**
   * run() as a generator that yields after each f2fs_gc() call that cleaned
   * a victim, while pauseAfterGc is set: a driver may then let a policy run
   * before the writer goes on (src/sim/lfs/koffload.ts), as if it ran
   * between two GC calls. Without pauseAfterGc it never yields.
   */
  *steps(trace: Int32Array, opBase: number): Generator<void, void, void> {
    const every = this.fsyncEvery;
    const tick = this.hook?.onTick ? (this.hook.tickOps ?? 0) : 0;
    for (let i = 0; i < trace.length; i++) {
      const op = opBase + i;
      this.opNow = op + 1;
      this.dirty(trace[i]!, op);
      if ((op + 1) % every === 0) yield* this.flush(false);
      if (tick > 0 && (op + 1) % tick === 0) this.hook!.onTick!(this);
    }
    yield* this.flush(false);
  }

  // ---- views ----

  snapshot(): Counters {
    return { ...this.c };
  }

  /** The segment_info proc file: per segment, the log type and valid blocks. */
  segmentInfo(valid: Int32Array, type: Int8Array): void {
    valid.set(this.valid);
    type.set(this.segLog);
  }

  isDataLog(l: number): boolean {
    return l === LOG.HOT_DATA || l === LOG.WARM_DATA || l === LOG.COLD_DATA || l >= EXTRA_LOG_BASE;
  }

  /** Checks the model's invariants (tests): valid counts, lists, addresses. */
  check(): void {
    const n = this.nSeg;
    let free = 0;
    let dirty = 0;
    let pre = 0;
    for (let s = 0; s < n; s++) {
      let v = 0;
      for (let o = 0; o < BPS; o++) {
        const id = this.owner[(s << LOG_BPS) | o]!;
        if (id >= 0) {
          v++;
          if (this.addr[id] !== ((s << LOG_BPS) | o)) throw new Error(`slot ${s}:${o} owner ${id} at ${this.addr[id]}`);
        }
      }
      if (v !== this.valid[s]) throw new Error(`segment ${s}: valid ${this.valid[s]} counted ${v}`);
      if (this.isFree[s]) {
        free++;
        if (v) throw new Error(`free segment ${s} holds ${v} blocks`);
      }
      if (this.isDirty[s]) dirty++;
      if (this.isPrefree[s]) pre++;
      if (this.isFree[s]! + this.isCurseg[s]! + this.isPrefree[s]! > 1) throw new Error(`segment ${s} in two states`);
      if (this.isDirty[s] && (this.isCurseg[s] || v === 0 || v === BPS)) throw new Error(`segment ${s} dirty with ${v}`);
    }
    if (free !== this.nrFree || dirty !== this.nrDirty || pre !== this.nrPrefree) throw new Error(`lists: free ${free}/${this.nrFree} dirty ${dirty}/${this.nrDirty} prefree ${pre}/${this.nrPrefree}`);
    for (let id = 0; id < this.nData + this.nNode; id++) if (this.addr[id]! < 0) throw new Error(`block ${id} has no address`);
  }
}

function drive(g: Generator<void, void, void>): void {
  while (!g.next().done);
}

/** Node blocks of a file of `blocks` blocks: inode, 2 direct, 1 indirect and the direct nodes below it. */
export function nodesPerFile(blocks: number): number {
  if (blocks <= ADDRS_PER_INODE) return 1;
  if (blocks <= ADDRS_PER_INODE + ADDRS_PER_BLOCK) return 2;
  if (blocks <= ADDRS_PER_INODE + 2 * ADDRS_PER_BLOCK) return 3;
  return 4 + Math.ceil((blocks - ADDRS_PER_INODE - 2 * ADDRS_PER_BLOCK) / ADDRS_PER_BLOCK);
}

/** Index within its file's nodes of the node that maps block `i`. */
export function nodeIndexOf(i: number): number {
  if (i < ADDRS_PER_INODE) return 0;
  if (i < ADDRS_PER_INODE + ADDRS_PER_BLOCK) return 1;
  if (i < ADDRS_PER_INODE + 2 * ADDRS_PER_BLOCK) return 2;
  return 4 + Math.floor((i - ADDRS_PER_INODE - 2 * ADDRS_PER_BLOCK) / ADDRS_PER_BLOCK);
}
