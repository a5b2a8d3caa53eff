/**
 * What an f2fs_gc policy observes of the filesystem it decides for, read
 * from procfs and sysfs only (it never opens a file on that filesystem,
 * docs/policy-guide.md rule 5):
 *
 * - the device: a request's `dev` is new_encode_dev(sb->s_dev); the policy
 *   decodes it to major:minor and resolves the name F2FS files its proc
 *   directory under (sb->s_id, the block device's name) through the
 *   symlink /sys/dev/block/<major>:<minor>, whose last component is that
 *   name for whole disks and partitions alike;
 * - /proc/fs/f2fs/<name>/segment_info: each main-area segment's log type and
 *   valid blocks;
 * - /proc/fs/f2fs/<name>/iostat_info (with sysfs iostat_enable=1): bytes
 *   written, by kind; "fs data" / 4096 is the learned policy's clock;
 * - /sys/fs/f2fs/<name>/min_hot_blocks: whether user data shares the hot data
 *   log (the learned policy tells user-written victims from GC-written ones);
 * - the filesystem's own clock, that of its SIT mtimes (get_mtime(): boot
 *   time seconds since the mount, plus the checkpoint's elapsed time, 0 on
 *   a fresh filesystem): floor(/proc/uptime) - /sys/fs/f2fs/<name>/mounted_time_sec.
 *
 * KOFFLOAD_F2FS_ROOT (default /) is prefixed to every path: the simulator's
 * model of F2FS (src/sim/lfs/koffload.ts) writes the same files under a
 * directory of its own.
 */
import { readFileSync, readlinkSync } from 'node:fs';
import { basename, join } from 'node:path';

/** new_decode_dev() */
export function decodeDev(dev: number): { major: number; minor: number } {
  return { major: (dev & 0xfff00) >>> 8, minor: (dev & 0xff) | ((dev >>> 12) & 0xfff00) };
}

/** new_encode_dev() */
export function encodeDev(major: number, minor: number): number {
  return ((minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12)) >>> 0;
}

/** One segment_info poll: per main-area segment, valid blocks and log type. */
export interface SegmentInfo {
  valid: Int32Array;
  type: Int8Array;
}

/**
 * Parses segment_info (segment_info_seq_show(), fs/f2fs/sysfs.c): two
 * header lines, then rows of ten "type|valid" cells after the row's first
 * segment number. Throws on anything else.
 */
export function parseSegmentInfo(text: string): SegmentInfo {
  const lines = text.split('\n');
  if (!lines[0]?.startsWith('format: segment_type|valid_blocks')) throw new Error('not a segment_info file');
  const valid: number[] = [];
  const type: number[] = [];
  for (let i = 2; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '') continue;
    const cells = line.trim().split(/\s+/);
    const first = Number(cells[0]);
    if (!Number.isInteger(first) || first !== valid.length) throw new Error(`segment_info: row ${i} starts at ${cells[0]}, expected ${valid.length}`);
    for (let c = 1; c < cells.length; c++) {
      const bar = cells[c]!.indexOf('|');
      const t = Number(cells[c]!.slice(0, bar));
      const v = Number(cells[c]!.slice(bar + 1));
      if (bar < 0 || !Number.isInteger(t) || !Number.isInteger(v)) throw new Error(`segment_info: bad cell '${cells[c]}'`);
      type.push(t);
      valid.push(v);
    }
  }
  return { valid: Int32Array.from(valid), type: Int8Array.from(type) };
}

/** iostat_info's write counters, in 4 KiB blocks. */
export interface Iostat {
  fsData: number;
  fsNode: number;
  fsMeta: number;
  gcData: number;
  gcNode: number;
  cpData: number;
  cpNode: number;
  cpMeta: number;
}

const IOSTAT_FIELDS: ReadonlyArray<[string, keyof Iostat]> = [
  ['fs data', 'fsData'],
  ['fs node', 'fsNode'],
  ['fs meta', 'fsMeta'],
  ['fs gc data', 'gcData'],
  ['fs gc node', 'gcNode'],
  ['fs cp data', 'cpData'],
  ['fs cp node', 'cpNode'],
  ['fs cp meta', 'cpMeta'],
];

/**
 * Parses the [WRITE] part of iostat_info (iostat_info_seq_show(),
 * fs/f2fs/iostat.c): "name:<tabs>bytes" lines. Empty text (iostat_enable
 * is 0) throws.
 */
export function parseIostat(text: string): Iostat {
  const out: Iostat = { fsData: 0, fsNode: 0, fsMeta: 0, gcData: 0, gcNode: 0, cpData: 0, cpNode: 0, cpMeta: 0 };
  let seen = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('[READ]')) break;
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const f = IOSTAT_FIELDS.find(([n]) => n === line.slice(0, colon));
    if (!f) continue;
    out[f[1]] = Number(line.slice(colon + 1).trim()) / 4096;
    seen++;
  }
  if (seen === 0) throw new Error('iostat_info is empty (echo 1 > /sys/fs/f2fs/<dev>/iostat_enable)');
  return out;
}

/** What a policy reads of a filesystem; the simulator's direct path has its own. */
export interface F2fsObserver {
  segmentInfo(dev: number): SegmentInfo;
  iostat(dev: number): Iostat;
  /** the filesystem's clock, whole seconds since its mount (that of SIT mtimes on a fresh filesystem) */
  clockSec(dev: number): number;
  /** sysfs min_hot_blocks: files with at most this many dirty pages at writeback go to the hot data log (0: user data never does) */
  minHotBlocks(dev: number): number;
}

/** The observer of a real (or simulated, under KOFFLOAD_F2FS_ROOT) F2FS. */
export class ProcObserver implements F2fsObserver {
  private readonly names = new Map<number, string>();

  constructor(readonly root: string = process.env.KOFFLOAD_F2FS_ROOT || '/') {}

  /** The filesystem's name in /proc/fs/f2fs (its block device's). */
  name(dev: number): string {
    let n = this.names.get(dev);
    if (n === undefined) {
      const { major, minor } = decodeDev(dev);
      n = basename(readlinkSync(join(this.root, 'sys/dev/block', `${major}:${minor}`)));
      this.names.set(dev, n);
    }
    return n;
  }

  private read(dev: number, file: string): string {
    return readFileSync(join(this.root, 'proc/fs/f2fs', this.name(dev), file), 'utf8');
  }

  segmentInfo(dev: number): SegmentInfo {
    return parseSegmentInfo(this.read(dev, 'segment_info'));
  }

  iostat(dev: number): Iostat {
    return parseIostat(this.read(dev, 'iostat_info'));
  }

  minHotBlocks(dev: number): number {
    const v = Number(readFileSync(join(this.root, 'sys/fs/f2fs', this.name(dev), 'min_hot_blocks'), 'utf8').trim());
    if (!Number.isInteger(v) || v < 0) throw new Error('cannot read min_hot_blocks');
    return v;
  }

  clockSec(dev: number): number {
    const up = Math.floor(Number(readFileSync(join(this.root, 'proc/uptime'), 'utf8').split(' ')[0]));
    const mounted = Number(readFileSync(join(this.root, 'sys/fs/f2fs', this.name(dev), 'mounted_time_sec'), 'utf8').trim());
    if (!Number.isFinite(up) || !Number.isFinite(mounted)) throw new Error('cannot read the filesystem clock (/proc/uptime, mounted_time_sec)');
    return Math.max(0, up - mounted);
  }
}

/** All of a poll's counters written, in blocks: the cost-benefit clock. */
export const totalWrites = (s: Iostat): number => s.fsData + s.fsNode + s.fsMeta + s.gcData + s.gcNode + s.cpData + s.cpNode + s.cpMeta;

/** MovedResponse.segment_info: per segment a little-endian u16, valid | type << 12. */
export function packSegmentInfo(si: SegmentInfo): Buffer {
  const b = Buffer.alloc(si.valid.length * 2);
  for (let s = 0; s < si.valid.length; s++) b.writeUInt16LE((si.valid[s]! & 0xfff) | ((si.type[s]! & 0xf) << 12), 2 * s);
  return b;
}

export function unpackSegmentInfo(b: Uint8Array): SegmentInfo {
  const n = b.length >> 1;
  const valid = new Int32Array(n);
  const type = new Int8Array(n);
  for (let s = 0; s < n; s++) {
    const w = b[2 * s]! | (b[2 * s + 1]! << 8);
    valid[s] = w & 0xfff;
    type[s] = w >> 12;
  }
  return { valid, type };
}
