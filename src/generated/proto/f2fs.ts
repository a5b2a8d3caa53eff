// Generated from proto/f2fs.proto by `npm run gen` (scripts/gen.ts).
// Do not edit: change the source and regenerate.
//
// Typed payloads of koffload.f2fs: for each message X an interface X (as
// decoded: 64-bit integers are bigint, bytes are Uint8Array, absent
// sub-messages undefined), an interface XInit (what encode() accepts: every
// field optional) and a codec value X; the schema `f2fs` lists the ops of enum
// Op.

import { Buffer } from 'node:buffer';
import { type MessageCodec, type Schema, defineSchema, messageCodec } from '../../runtime/schema.js';
import * as pb from '../../runtime/pb.js';

/** Op ids of subsystem f2fs_gc (koffload op = enum value). */
export const Op = {
  OP_UNSPEC: 0,
  /**
   * A GC pass wants a victim. Advisory from foreground GC: answer by
   * publishing a Ranking. A call from background GC: answer with a
   * VictimResponse (or decline: F2FS's own choice).
   */
  OP_VICTIM: 1,
  /**
   * A victim was cleaned: where its blocks went (MovedRequest). Advisory only,
   * never answered; one victim may take several (part 0, 1, ...; the last one
   * says so).
   */
  OP_MOVED: 2,
} as const;

/** enum koffload.f2fs.GcType */
export const GcType = {
  GC_FOREGROUND: 0,
  GC_BACKGROUND: 1,
} as const;

/** Why the kernel did not take a victim from the published ranking. */
export const Fallback = {
  FALLBACK_NONE: 0,
  /** no ranking published (or it expired) */
  FALLBACK_NO_ADVICE: 1,
  /** a ranking, but no entry fits any more (freed, refilled, grown, in use) */
  FALLBACK_STALE: 2,
  /** the ranking did not decode */
  FALLBACK_MALFORMED: 3,
} as const;

/** Decoded koffload.f2fs.VictimRequest. */
export interface VictimRequest {
  dev: number;
  gc_type: number;
  free_segments: number;
  reserved_segments: number;
  /** F2FS's own choice, or 0xffffffff when it has none (yet) */
  kernel_victim: number;
  kernel_victim_valid: number;
  fallback: number;
  /** victims chosen by GC on this filesystem since mount */
  gc_seq: bigint;
}

/** What encode() accepts for koffload.f2fs.VictimRequest. */
export interface VictimRequestInit {
  dev?: number;
  gc_type?: number;
  free_segments?: number;
  reserved_segments?: number;
  /** F2FS's own choice, or 0xffffffff when it has none (yet) */
  kernel_victim?: number;
  kernel_victim_valid?: number;
  fallback?: number;
  /** victims chosen by GC on this filesystem since mount */
  gc_seq?: bigint | number;
}

/** Decoded koffload.f2fs.VictimResponse. */
export interface VictimResponse {
  segno: number;
}

/** What encode() accepts for koffload.f2fs.VictimResponse. */
export interface VictimResponseInit {
  segno?: number;
}

/** Decoded koffload.f2fs.RankedVictim. */
export interface RankedVictim {
  segno: number;
  /** valid blocks when ranked: the kernel skips the entry if it has more now */
  valid: number;
  /** log type (CURSEG_*: 0 hot, 1 warm, 2 cold data) when ranked */
  seg_type: number;
}

/** What encode() accepts for koffload.f2fs.RankedVictim. */
export interface RankedVictimInit {
  segno?: number;
  /** valid blocks when ranked: the kernel skips the entry if it has more now */
  valid?: number;
  /** log type (CURSEG_*: 0 hot, 1 warm, 2 cold data) when ranked */
  seg_type?: number;
}

/** Decoded koffload.f2fs.Ranking. Cache key "r" dev. */
export interface Ranking {
  /** the gc_seq the policy had seen when it ranked */
  gc_seq: bigint;
  victims: RankedVictim[];
}

/** What encode() accepts for koffload.f2fs.Ranking. Cache key "r" dev. */
export interface RankingInit {
  /** the gc_seq the policy had seen when it ranked */
  gc_seq?: bigint | number;
  victims?: RankedVictimInit[];
}

/**
 * Decoded koffload.f2fs.MovedRun. A run of blocks of one file moved to one
 * segment.
 */
export interface MovedRun {
  ino: number;
  first_index: number;
  count: number;
  dest_segno: number;
  /** log type of the destination (CURSEG_*) */
  dest_type: number;
}

/**
 * What encode() accepts for koffload.f2fs.MovedRun. A run of blocks of one
 * file moved to one segment.
 */
export interface MovedRunInit {
  ino?: number;
  first_index?: number;
  count?: number;
  dest_segno?: number;
  /** log type of the destination (CURSEG_*) */
  dest_type?: number;
}

/** Decoded koffload.f2fs.MovedRequest. */
export interface MovedRequest {
  dev: number;
  /** the victim */
  segno: number;
  seg_type: number;
  /** its valid blocks when it was chosen */
  valid: number;
  /** its SIT mtime (seconds, the filesystem's clock) */
  mtime: bigint;
  /** chosen from the published ranking (else by F2FS) */
  from_advice: boolean;
  /** its gc_seq */
  gc_seq: bigint;
  /** requests of one victim: part 0, 1, ...; last is set on the final one */
  part: number;
  last: boolean;
  runs: MovedRun[];
}

/** What encode() accepts for koffload.f2fs.MovedRequest. */
export interface MovedRequestInit {
  dev?: number;
  /** the victim */
  segno?: number;
  seg_type?: number;
  /** its valid blocks when it was chosen */
  valid?: number;
  /** its SIT mtime (seconds, the filesystem's clock) */
  mtime?: bigint | number;
  /** chosen from the published ranking (else by F2FS) */
  from_advice?: boolean;
  /** its gc_seq */
  gc_seq?: bigint | number;
  /** requests of one victim: part 0, 1, ...; last is set on the final one */
  part?: number;
  last?: boolean;
  runs?: MovedRunInit[];
}

/**
 * Decoded koffload.f2fs.MovedResponse. OP_MOVED is advisory: nothing answers
 * it, and the kernel never reads this message. A policy may fill it with what
 * it observed while handling the notice, so that `koffloadd --record` keeps
 * its inputs next to the kernel's (the record of an advisory request holds the
 * handler's response): what scripts/train-f2fs-policy.ts learns from.
 */
export interface MovedResponse {
  /**
   * the policy's clock when it handled the notice: user data blocks written
   * (iostat_info's "fs data" / 4096)
   */
  clock: bigint;
  /**
   * a segment_info poll taken then, if it took one: per segment a
   * little-endian u16, valid blocks | log type << 12
   */
  segment_info: Uint8Array;
}

/**
 * What encode() accepts for koffload.f2fs.MovedResponse. OP_MOVED is advisory:
 * nothing answers it, and the kernel never reads this message. A policy may
 * fill it with what it observed while handling the notice, so that `koffloadd
 * --record` keeps its inputs next to the kernel's (the record of an advisory
 * request holds the handler's response): what scripts/train-f2fs-policy.ts
 * learns from.
 */
export interface MovedResponseInit {
  /**
   * the policy's clock when it handled the notice: user data blocks written
   * (iostat_info's "fs data" / 4096)
   */
  clock?: bigint | number;
  /**
   * a segment_info poll taken then, if it took one: per segment a
   * little-endian u16, valid blocks | log type << 12
   */
  segment_info?: Uint8Array;
}

const T_VictimRequest = 'koffload.f2fs.VictimRequest';
const E_GcType = {"GC_FOREGROUND":0,"GC_BACKGROUND":1};
const E_Fallback = {"FALLBACK_NONE":0,"FALLBACK_NO_ADVICE":1,"FALLBACK_STALE":2,"FALLBACK_MALFORMED":3};

function read_VictimRequest(r: pb.PbReader): VictimRequest {
  let f_1: number | undefined;
  let f_2: number | undefined;
  let f_3: number | undefined;
  let f_4: number | undefined;
  let f_5: number | undefined;
  let f_6: number | undefined;
  let f_7: number | undefined;
  let f_8: bigint | undefined;
  while (r.pos < r.end) {
    const t = r.u32();
    const wt = t & 7;
    switch (t >>> 3) {
      case 1:
        if (wt !== 0) throw pb.wrongWireType('dev', wt);
        f_1 = r.u32();
        break;
      case 2:
        if (wt !== 0) throw pb.wrongWireType('gc_type', wt);
        f_2 = r.int32();
        break;
      case 3:
        if (wt !== 0) throw pb.wrongWireType('free_segments', wt);
        f_3 = r.u32();
        break;
      case 4:
        if (wt !== 0) throw pb.wrongWireType('reserved_segments', wt);
        f_4 = r.u32();
        break;
      case 5:
        if (wt !== 0) throw pb.wrongWireType('kernel_victim', wt);
        f_5 = r.u32();
        break;
      case 6:
        if (wt !== 0) throw pb.wrongWireType('kernel_victim_valid', wt);
        f_6 = r.u32();
        break;
      case 7:
        if (wt !== 0) throw pb.wrongWireType('fallback', wt);
        f_7 = r.int32();
        break;
      case 8:
        if (wt !== 0) throw pb.wrongWireType('gc_seq', wt);
        f_8 = r.uint64();
        break;
      default:
        r.skip(wt);
    }
  }
  return { dev: f_1 ?? 0, gc_type: f_2 ?? 0, free_segments: f_3 ?? 0, reserved_segments: f_4 ?? 0, kernel_victim: f_5 ?? 0, kernel_victim_valid: f_6 ?? 0, fallback: f_7 ?? 0, gc_seq: f_8 ?? 0n };
}

function decode_VictimRequest(bytes: Uint8Array): VictimRequest {
  const b = pb.asBuffer(bytes);
  try {
    return read_VictimRequest(pb.reader.reset(b));
  } catch (err) {
    throw pb.badPayload(T_VictimRequest, err);
  }
}

function size_VictimRequest(v: unknown, path: string): number {
  const o = pb.asObject(T_VictimRequest, v, path);
  for (const k in o) if (k !== 'dev' && k !== 'gc_type' && k !== 'free_segments' && k !== 'reserved_segments' && k !== 'kernel_victim' && k !== 'kernel_victim_valid' && k !== 'fallback' && k !== 'gc_seq') throw pb.unknownField(T_VictimRequest, path, k);
  let n = 0;
  {
    const x = o['dev'];
    if (x !== undefined && x !== null) {
      const y = pb.int32Of(T_VictimRequest, path, 'dev', 'uint32', x);
      n += 1 + pb.varintSize(y);
    }
  }
  {
    const x = o['gc_type'];
    if (x !== undefined && x !== null) {
      const y = pb.enumOf(T_VictimRequest, path, 'gc_type', x, E_GcType);
      n += 1 + pb.varintSize(y);
    }
  }
  {
    const x = o['free_segments'];
    if (x !== undefined && x !== null) {
      const y = pb.int32Of(T_VictimRequest, path, 'free_segments', 'uint32', x);
      n += 1 + pb.varintSize(y);
    }
  }
  {
    const x = o['reserved_segments'];
    if (x !== undefined && x !== null) {
      const y = pb.int32Of(T_VictimRequest, path, 'reserved_segments', 'uint32', x);
      n += 1 + pb.varintSize(y);
    }
  }
  {
    const x = o['kernel_victim'];
    if (x !== undefined && x !== null) {
      const y = pb.int32Of(T_VictimRequest, path, 'kernel_victim', 'uint32', x);
      n += 1 + pb.varintSize(y);
    }
  }
  {
    const x = o['kernel_victim_valid'];
    if (x !== undefined && x !== null) {
      const y = pb.int32Of(T_VictimRequest, path, 'kernel_victim_valid', 'uint32', x);
      n += 1 + pb.varintSize(y);
    }
  }
  {
    const x = o['fallback'];
    if (x !== undefined && x !== null) {
      const y = pb.enumOf(T_VictimRequest, path, 'fallback', x, E_Fallback);
      n += 1 + pb.varintSize(y);
    }
  }
  {
    const x = o['gc_seq'];
    if (x !== undefined && x !== null) {
      const y = pb.int64Of(T_VictimRequest, path, 'gc_seq', 'uint64', x);
      n += 1 + pb.varint64Size(y);
    }
  }
  return n;
}

function write_VictimRequest(w: pb.PbWriter, o: Record<string, unknown>): void {
  {
    const x = o['dev'];
    if (x !== undefined && x !== null) {
      w.u32(8);
      w.u32((x as number));
    }
  }
  {
    const x = o['gc_type'];
    if (x !== undefined && x !== null) {
      w.u32(16);
      w.int32((x as number));
    }
  }
  {
    const x = o['free_segments'];
    if (x !== undefined && x !== null) {
      w.u32(24);
      w.u32((x as number));
    }
  }
  {
    const x = o['reserved_segments'];
    if (x !== undefined && x !== null) {
      w.u32(32);
      w.u32((x as number));
    }
  }
  {
    const x = o['kernel_victim'];
    if (x !== undefined && x !== null) {
      w.u32(40);
      w.u32((x as number));
    }
  }
  {
    const x = o['kernel_victim_valid'];
    if (x !== undefined && x !== null) {
      w.u32(48);
      w.u32((x as number));
    }
  }
  {
    const x = o['fallback'];
    if (x !== undefined && x !== null) {
      w.u32(56);
      w.int32((x as number));
    }
  }
  {
    const x = o['gc_seq'];
    if (x !== undefined && x !== null) {
      w.u32(64);
      w.u64((typeof x === 'bigint' ? x : BigInt(x as number)));
    }
  }
}

function encode_VictimRequest(value: VictimRequestInit): Buffer {
  const size = size_VictimRequest(value, '');
  const b = Buffer.allocUnsafe(size);
  write_VictimRequest(pb.writer.reset(b), value as unknown as Record<string, unknown>);
  return b;
}

const T_VictimResponse = 'koffload.f2fs.VictimResponse';

function read_VictimResponse(r: pb.PbReader): VictimResponse {
  let f_1: number | undefined;
  while (r.pos < r.end) {
    const t = r.u32();
    const wt = t & 7;
    switch (t >>> 3) {
      case 1:
        if (wt !== 0) throw pb.wrongWireType('segno', wt);
        f_1 = r.u32();
        break;
      default:
        r.skip(wt);
    }
  }
  return { segno: f_1 ?? 0 };
}

function decode_VictimResponse(bytes: Uint8Array): VictimResponse {
  const b = pb.asBuffer(bytes);
  try {
    return read_VictimResponse(pb.reader.reset(b));
  } catch (err) {
    throw pb.badPayload(T_VictimResponse, err);
  }
}

function size_VictimResponse(v: unknown, path: string): number {
  const o = pb.asObject(T_VictimResponse, v, path);
  for (const k in o) if (k !== 'segno') throw pb.unknownField(T_VictimResponse, path, k);
  let n = 0;
  {
    const x = o['segno'];
    if (x !== undefined && x !== null) {
      const y = pb.int32Of(T_VictimResponse, path, 'segno', 'uint32', x);
      n += 1 + pb.varintSize(y);
    }
  }
  return n;
}

function write_VictimResponse(w: pb.PbWriter, o: Record<string, unknown>): void {
  {
    const x = o['segno'];
    if (x !== undefined && x !== null) {
      w.u32(8);
      w.u32((x as number));
    }
  }
}

function encode_VictimResponse(value: VictimResponseInit): Buffer {
  const size = size_VictimResponse(value, '');
  const b = Buffer.allocUnsafe(size);
  write_VictimResponse(pb.writer.reset(b), value as unknown as Record<string, unknown>);
  return b;
}

const T_RankedVictim = 'koffload.f2fs.RankedVictim';

function read_RankedVictim(r: pb.PbReader): RankedVictim {
  let f_1: number | undefined;
  let f_2: number | undefined;
  let f_3: number | undefined;
  while (r.pos < r.end) {
    const t = r.u32();
    const wt = t & 7;
    switch (t >>> 3) {
      case 1:
        if (wt !== 0) throw pb.wrongWireType('segno', wt);
        f_1 = r.u32();
        break;
      case 2:
        if (wt !== 0) throw pb.wrongWireType('valid', wt);
        f_2 = r.u32();
        break;
      case 3:
        if (wt !== 0) throw pb.wrongWireType('seg_type', wt);
        f_3 = r.u32();
        break;
      default:
        r.skip(wt);
    }
  }
  return { segno: f_1 ?? 0, valid: f_2 ?? 0, seg_type: f_3 ?? 0 };
}

function decode_RankedVictim(bytes: Uint8Array): RankedVictim {
  const b = pb.asBuffer(bytes);
  try {
    return read_RankedVictim(pb.reader.reset(b));
  } catch (err) {
    throw pb.badPayload(T_RankedVictim, err);
  }
}

function size_RankedVictim(v: unknown, path: string): number {
  const o = pb.asObject(T_RankedVictim, v, path);
  for (const k in o) if (k !== 'segno' && k !== 'valid' && k !== 'seg_type') throw pb.unknownField(T_RankedVictim, path, k);
  let n = 0;
  {
    const x = o['segno'];
    if (x !== undefined && x !== null) {
      const y = pb.int32Of(T_RankedVictim, path, 'segno', 'uint32', x);
      n += 1 + pb.varintSize(y);
    }
  }
  {
    const x = o['valid'];
    if (x !== undefined && x !== null) {
      const y = pb.int32Of(T_RankedVictim, path, 'valid', 'uint32', x);
      n += 1 + pb.varintSize(y);
    }
  }
  {
    const x = o['seg_type'];
    if (x !== undefined && x !== null) {
      const y = pb.int32Of(T_RankedVictim, path, 'seg_type', 'uint32', x);
      n += 1 + pb.varintSize(y);
    }
  }
  return n;
}

function write_RankedVictim(w: pb.PbWriter, o: Record<string, unknown>): void {
  {
    const x = o['segno'];
    if (x !== undefined && x !== null) {
      w.u32(8);
      w.u32((x as number));
    }
  }
  {
    const x = o['valid'];
    if (x !== undefined && x !== null) {
      w.u32(16);
      w.u32((x as number));
    }
  }
  {
    const x = o['seg_type'];
    if (x !== undefined && x !== null) {
      w.u32(24);
      w.u32((x as number));
    }
  }
}

function encode_RankedVictim(value: RankedVictimInit): Buffer {
  const size = size_RankedVictim(value, '');
  const b = Buffer.allocUnsafe(size);
  write_RankedVictim(pb.writer.reset(b), value as unknown as Record<string, unknown>);
  return b;
}

const T_Ranking = 'koffload.f2fs.Ranking';

function read_Ranking(r: pb.PbReader): Ranking {
  let f_1: bigint | undefined;
  const f_2: RankedVictim[] = [];
  while (r.pos < r.end) {
    const t = r.u32();
    const wt = t & 7;
    switch (t >>> 3) {
      case 1:
        if (wt !== 0) throw pb.wrongWireType('gc_seq', wt);
        f_1 = r.uint64();
        break;
      case 2:
        if (wt !== 2) throw pb.wrongWireType('victims', wt);
        {
          const outer = r.enter();
          const v = read_RankedVictim(r);
          r.pos = r.end;
          r.end = outer;
          f_2.push(v);
        }
        break;
      default:
        r.skip(wt);
    }
  }
  return { gc_seq: f_1 ?? 0n, victims: f_2 };
}

function decode_Ranking(bytes: Uint8Array): Ranking {
  const b = pb.asBuffer(bytes);
  try {
    return read_Ranking(pb.reader.reset(b));
  } catch (err) {
    throw pb.badPayload(T_Ranking, err);
  }
}

function size_Ranking(v: unknown, path: string): number {
  const o = pb.asObject(T_Ranking, v, path);
  for (const k in o) if (k !== 'gc_seq' && k !== 'victims') throw pb.unknownField(T_Ranking, path, k);
  let n = 0;
  {
    const x = o['gc_seq'];
    if (x !== undefined && x !== null) {
      const y = pb.int64Of(T_Ranking, path, 'gc_seq', 'uint64', x);
      n += 1 + pb.varint64Size(y);
    }
  }
  {
    const x = o['victims'];
    if (x !== undefined && x !== null) {
      const a = pb.arrayOf(T_Ranking, path, 'victims', x);
      for (let i = 0; i < a.length; i++) {
        const s = size_RankedVictim(a[i], `${path}victims[${i}].`);
        n += 1 + pb.varintSize(s) + s;
      }
    }
  }
  return n;
}

function write_Ranking(w: pb.PbWriter, o: Record<string, unknown>): void {
  {
    const x = o['gc_seq'];
    if (x !== undefined && x !== null) {
      w.u32(8);
      w.u64((typeof x === 'bigint' ? x : BigInt(x as number)));
    }
  }
  {
    const x = o['victims'];
    if (x !== undefined && x !== null) {
      const a = x as unknown[];
      for (let i = 0; i < a.length; i++) {
        w.u32(18);
        w.u32(size_RankedVictim(a[i], ''));
        write_RankedVictim(w, a[i] as Record<string, unknown>);
      }
    }
  }
}

function encode_Ranking(value: RankingInit): Buffer {
  const size = size_Ranking(value, '');
  const b = Buffer.allocUnsafe(size);
  write_Ranking(pb.writer.reset(b), value as unknown as Record<string, unknown>);
  return b;
}

const T_MovedRun = 'koffload.f2fs.MovedRun';

function read_MovedRun(r: pb.PbReader): MovedRun {
  let f_1: number | undefined;
  let f_2: number | undefined;
  let f_3: number | undefined;
  let f_4: number | undefined;
  let f_5: number | undefined;
  while (r.pos < r.end) {
    const t = r.u32();
    const wt = t & 7;
    switch (t >>> 3) {
      case 1:
        if (wt !== 0) throw pb.wrongWireType('ino', wt);
        f_1 = r.u32();
        break;
      case 2:
        if (wt !== 0) throw pb.wrongWireType('first_index', wt);
        f_2 = r.u32();
        break;
      case 3:
        if (wt !== 0) throw pb.wrongWireType('count', wt);
        f_3 = r.u32();
        break;
      case 4:
        if (wt !== 0) throw pb.wrongWireType('dest_segno', wt);
        f_4 = r.u32();
        break;
      case 5:
        if (wt !== 0) throw pb.wrongWireType('dest_type', wt);
        f_5 = r.u32();
        break;
      default:
        r.skip(wt);
    }
  }
  return { ino: f_1 ?? 0, first_index: f_2 ?? 0, count: f_3 ?? 0, dest_segno: f_4 ?? 0, dest_type: f_5 ?? 0 };
}

function decode_MovedRun(bytes: Uint8Array): MovedRun {
  const b = pb.asBuffer(bytes);
  try {
    return read_MovedRun(pb.reader.reset(b));
  } catch (err) {
    throw pb.badPayload(T_MovedRun, err);
  }
}

function size_MovedRun(v: unknown, path: string): number {
  const o = pb.asObject(T_MovedRun, v, path);
  for (const k in o) if (k !== 'ino' && k !== 'first_index' && k !== 'count' && k !== 'dest_segno' && k !== 'dest_type') throw pb.unknownField(T_MovedRun, path, k);
  let n = 0;
  {
    const x = o['ino'];
    if (x !== undefined && x !== null) {
      const y = pb.int32Of(T_MovedRun, path, 'ino', 'uint32', x);
      n += 1 + pb.varintSize(y);
    }
  }
  {
    const x = o['first_index'];
    if (x !== undefined && x !== null) {
      const y = pb.int32Of(T_MovedRun, path, 'first_index', 'uint32', x);
      n += 1 + pb.varintSize(y);
    }
  }
  {
    const x = o['count'];
    if (x !== undefined && x !== null) {
      const y = pb.int32Of(T_MovedRun, path, 'count', 'uint32', x);
      n += 1 + pb.varintSize(y);
    }
  }
  {
    const x = o['dest_segno'];
    if (x !== undefined && x !== null) {
      const y = pb.int32Of(T_MovedRun, path, 'dest_segno', 'uint32', x);
      n += 1 + pb.varintSize(y);
    }
  }
  {
    const x = o['dest_type'];
    if (x !== undefined && x !== null) {
      const y = pb.int32Of(T_MovedRun, path, 'dest_type', 'uint32', x);
      n += 1 + pb.varintSize(y);
    }
  }
  return n;
}

function write_MovedRun(w: pb.PbWriter, o: Record<string, unknown>): void {
  {
    const x = o['ino'];
    if (x !== undefined && x !== null) {
      w.u32(8);
      w.u32((x as number));
    }
  }
  {
    const x = o['first_index'];
    if (x !== undefined && x !== null) {
      w.u32(16);
      w.u32((x as number));
    }
  }
  {
    const x = o['count'];
    if (x !== undefined && x !== null) {
      w.u32(24);
      w.u32((x as number));
    }
  }
  {
    const x = o['dest_segno'];
    if (x !== undefined && x !== null) {
      w.u32(32);
      w.u32((x as number));
    }
  }
  {
    const x = o['dest_type'];
    if (x !== undefined && x !== null) {
      w.u32(40);
      w.u32((x as number));
    }
  }
}

function encode_MovedRun(value: MovedRunInit): Buffer {
  const size = size_MovedRun(value, '');
  const b = Buffer.allocUnsafe(size);
  write_MovedRun(pb.writer.reset(b), value as unknown as Record<string, unknown>);
  return b;
}

const T_MovedRequest = 'koffload.f2fs.MovedRequest';

function read_MovedRequest(r: pb.PbReader): MovedRequest {
  let f_1: number | undefined;
  let f_2: number | undefined;
  let f_3: number | undefined;
  let f_4: number | undefined;
  let f_5: bigint | undefined;
  let f_6: boolean | undefined;
  let f_7: bigint | undefined;
  let f_8: number | undefined;
  let f_9: boolean | undefined;
  const f_10: MovedRun[] = [];
  while (r.pos < r.end) {
    const t = r.u32();
    const wt = t & 7;
    switch (t >>> 3) {
      case 1:
        if (wt !== 0) throw pb.wrongWireType('dev', wt);
        f_1 = r.u32();
        break;
      case 2:
        if (wt !== 0) throw pb.wrongWireType('segno', wt);
        f_2 = r.u32();
        break;
      case 3:
        if (wt !== 0) throw pb.wrongWireType('seg_type', wt);
        f_3 = r.u32();
        break;
      case 4:
        if (wt !== 0) throw pb.wrongWireType('valid', wt);
        f_4 = r.u32();
        break;
      case 5:
        if (wt !== 0) throw pb.wrongWireType('mtime', wt);
        f_5 = r.uint64();
        break;
      case 6:
        if (wt !== 0) throw pb.wrongWireType('from_advice', wt);
        f_6 = r.bool();
        break;
      case 7:
        if (wt !== 0) throw pb.wrongWireType('gc_seq', wt);
        f_7 = r.uint64();
        break;
      case 8:
        if (wt !== 0) throw pb.wrongWireType('part', wt);
        f_8 = r.u32();
        break;
      case 9:
        if (wt !== 0) throw pb.wrongWireType('last', wt);
        f_9 = r.bool();
        break;
      case 10:
        if (wt !== 2) throw pb.wrongWireType('runs', wt);
        {
          const outer = r.enter();
          const v = read_MovedRun(r);
          r.pos = r.end;
          r.end = outer;
          f_10.push(v);
        }
        break;
      default:
        r.skip(wt);
    }
  }
  return { dev: f_1 ?? 0, segno: f_2 ?? 0, seg_type: f_3 ?? 0, valid: f_4 ?? 0, mtime: f_5 ?? 0n, from_advice: f_6 ?? false, gc_seq: f_7 ?? 0n, part: f_8 ?? 0, last: f_9 ?? false, runs: f_10 };
}

function decode_MovedRequest(bytes: Uint8Array): MovedRequest {
  const b = pb.asBuffer(bytes);
  try {
    return read_MovedRequest(pb.reader.reset(b));
  } catch (err) {
    throw pb.badPayload(T_MovedRequest, err);
  }
}

function size_MovedRequest(v: unknown, path: string): number {
  const o = pb.asObject(T_MovedRequest, v, path);
  for (const k in o) if (k !== 'dev' && k !== 'segno' && k !== 'seg_type' && k !== 'valid' && k !== 'mtime' && k !== 'from_advice' && k !== 'gc_seq' && k !== 'part' && k !== 'last' && k !== 'runs') throw pb.unknownField(T_MovedRequest, path, k);
  let n = 0;
  {
    const x = o['dev'];
    if (x !== undefined && x !== null) {
      const y = pb.int32Of(T_MovedRequest, path, 'dev', 'uint32', x);
      n += 1 + pb.varintSize(y);
    }
  }
  {
    const x = o['segno'];
    if (x !== undefined && x !== null) {
      const y = pb.int32Of(T_MovedRequest, path, 'segno', 'uint32', x);
      n += 1 + pb.varintSize(y);
    }
  }
  {
    const x = o['seg_type'];
    if (x !== undefined && x !== null) {
      const y = pb.int32Of(T_MovedRequest, path, 'seg_type', 'uint32', x);
      n += 1 + pb.varintSize(y);
    }
  }
  {
    const x = o['valid'];
    if (x !== undefined && x !== null) {
      const y = pb.int32Of(T_MovedRequest, path, 'valid', 'uint32', x);
      n += 1 + pb.varintSize(y);
    }
  }
  {
    const x = o['mtime'];
    if (x !== undefined && x !== null) {
      const y = pb.int64Of(T_MovedRequest, path, 'mtime', 'uint64', x);
      n += 1 + pb.varint64Size(y);
    }
  }
  {
    const x = o['from_advice'];
    if (x !== undefined && x !== null) {
      pb.boolOf(T_MovedRequest, path, 'from_advice', x);
      n += 1 + 1;
    }
  }
  {
    const x = o['gc_seq'];
    if (x !== undefined && x !== null) {
      const y = pb.int64Of(T_MovedRequest, path, 'gc_seq', 'uint64', x);
      n += 1 + pb.varint64Size(y);
    }
  }
  {
    const x = o['part'];
    if (x !== undefined && x !== null) {
      const y = pb.int32Of(T_MovedRequest, path, 'part', 'uint32', x);
      n += 1 + pb.varintSize(y);
    }
  }
  {
    const x = o['last'];
    if (x !== undefined && x !== null) {
      pb.boolOf(T_MovedRequest, path, 'last', x);
      n += 1 + 1;
    }
  }
  {
    const x = o['runs'];
    if (x !== undefined && x !== null) {
      const a = pb.arrayOf(T_MovedRequest, path, 'runs', x);
      for (let i = 0; i < a.length; i++) {
        const s = size_MovedRun(a[i], `${path}runs[${i}].`);
        n += 1 + pb.varintSize(s) + s;
      }
    }
  }
  return n;
}

function write_MovedRequest(w: pb.PbWriter, o: Record<string, unknown>): void {
  {
    const x = o['dev'];
    if (x !== undefined && x !== null) {
      w.u32(8);
      w.u32((x as number));
    }
  }
  {
    const x = o['segno'];
    if (x !== undefined && x !== null) {
      w.u32(16);
      w.u32((x as number));
    }
  }
  {
    const x = o['seg_type'];
    if (x !== undefined && x !== null) {
      w.u32(24);
      w.u32((x as number));
    }
  }
  {
    const x = o['valid'];
    if (x !== undefined && x !== null) {
      w.u32(32);
      w.u32((x as number));
    }
  }
  {
    const x = o['mtime'];
    if (x !== undefined && x !== null) {
      w.u32(40);
      w.u64((typeof x === 'bigint' ? x : BigInt(x as number)));
    }
  }
  {
    const x = o['from_advice'];
    if (x !== undefined && x !== null) {
      w.u32(48);
      w.u32((x as boolean) ? 1 : 0);
    }
  }
  {
    const x = o['gc_seq'];
    if (x !== undefined && x !== null) {
      w.u32(56);
      w.u64((typeof x === 'bigint' ? x : BigInt(x as number)));
    }
  }
  {
    const x = o['part'];
    if (x !== undefined && x !== null) {
      w.u32(64);
      w.u32((x as number));
    }
  }
  {
    const x = o['last'];
    if (x !== undefined && x !== null) {
      w.u32(72);
      w.u32((x as boolean) ? 1 : 0);
    }
  }
  {
    const x = o['runs'];
    if (x !== undefined && x !== null) {
      const a = x as unknown[];
      for (let i = 0; i < a.length; i++) {
        w.u32(82);
        w.u32(size_MovedRun(a[i], ''));
        write_MovedRun(w, a[i] as Record<string, unknown>);
      }
    }
  }
}

function encode_MovedRequest(value: MovedRequestInit): Buffer {
  const size = size_MovedRequest(value, '');
  const b = Buffer.allocUnsafe(size);
  write_MovedRequest(pb.writer.reset(b), value as unknown as Record<string, unknown>);
  return b;
}

const T_MovedResponse = 'koffload.f2fs.MovedResponse';

function read_MovedResponse(r: pb.PbReader): MovedResponse {
  let f_1: bigint | undefined;
  let f_2: Buffer | undefined;
  while (r.pos < r.end) {
    const t = r.u32();
    const wt = t & 7;
    switch (t >>> 3) {
      case 1:
        if (wt !== 0) throw pb.wrongWireType('clock', wt);
        f_1 = r.uint64();
        break;
      case 2:
        if (wt !== 2) throw pb.wrongWireType('segment_info', wt);
        f_2 = r.bytes();
        break;
      default:
        r.skip(wt);
    }
  }
  return { clock: f_1 ?? 0n, segment_info: f_2 ?? Buffer.alloc(0) };
}

function decode_MovedResponse(bytes: Uint8Array): MovedResponse {
  const b = pb.asBuffer(bytes);
  try {
    return read_MovedResponse(pb.reader.reset(b));
  } catch (err) {
    throw pb.badPayload(T_MovedResponse, err);
  }
}

function size_MovedResponse(v: unknown, path: string): number {
  const o = pb.asObject(T_MovedResponse, v, path);
  for (const k in o) if (k !== 'clock' && k !== 'segment_info') throw pb.unknownField(T_MovedResponse, path, k);
  let n = 0;
  {
    const x = o['clock'];
    if (x !== undefined && x !== null) {
      const y = pb.int64Of(T_MovedResponse, path, 'clock', 'uint64', x);
      n += 1 + pb.varint64Size(y);
    }
  }
  {
    const x = o['segment_info'];
    if (x !== undefined && x !== null) {
      const y = pb.bytesOf(T_MovedResponse, path, 'segment_info', x);
      n += 1 + pb.varintSize(y.length) + y.length;
    }
  }
  return n;
}

function write_MovedResponse(w: pb.PbWriter, o: Record<string, unknown>): void {
  {
    const x = o['clock'];
    if (x !== undefined && x !== null) {
      w.u32(8);
      w.u64((typeof x === 'bigint' ? x : BigInt(x as number)));
    }
  }
  {
    const x = o['segment_info'];
    if (x !== undefined && x !== null) {
      w.u32(18);
      w.bytes((x as Uint8Array));
    }
  }
}

function encode_MovedResponse(value: MovedResponseInit): Buffer {
  const size = size_MovedResponse(value, '');
  const b = Buffer.allocUnsafe(size);
  write_MovedResponse(pb.writer.reset(b), value as unknown as Record<string, unknown>);
  return b;
}

/** The protobufjs JSON descriptor of the file (the reflection codecs are built from it). */
export const descriptor = {
  nested: {
    koffload: {
      nested: {
        f2fs: {
          nested: {
            Op: {
              values: {
                OP_UNSPEC: 0,
                OP_VICTIM: 1,
                OP_MOVED: 2
              }
            },
            GcType: {
              values: {
                GC_FOREGROUND: 0,
                GC_BACKGROUND: 1
              }
            },
            Fallback: {
              values: {
                FALLBACK_NONE: 0,
                FALLBACK_NO_ADVICE: 1,
                FALLBACK_STALE: 2,
                FALLBACK_MALFORMED: 3
              }
            },
            VictimRequest: {
              fields: {
                dev: {
                  type: "uint32",
                  id: 1
                },
                gc_type: {
                  type: "GcType",
                  id: 2
                },
                free_segments: {
                  type: "uint32",
                  id: 3
                },
                reserved_segments: {
                  type: "uint32",
                  id: 4
                },
                kernel_victim: {
                  type: "uint32",
                  id: 5
                },
                kernel_victim_valid: {
                  type: "uint32",
                  id: 6
                },
                fallback: {
                  type: "Fallback",
                  id: 7
                },
                gc_seq: {
                  type: "uint64",
                  id: 8
                }
              }
            },
            VictimResponse: {
              fields: {
                segno: {
                  type: "uint32",
                  id: 1
                }
              }
            },
            RankedVictim: {
              fields: {
                segno: {
                  type: "uint32",
                  id: 1
                },
                valid: {
                  type: "uint32",
                  id: 2
                },
                seg_type: {
                  type: "uint32",
                  id: 3
                }
              }
            },
            Ranking: {
              fields: {
                gc_seq: {
                  type: "uint64",
                  id: 1
                },
                victims: {
                  rule: "repeated",
                  type: "RankedVictim",
                  id: 2
                }
              }
            },
            MovedRun: {
              fields: {
                ino: {
                  type: "uint32",
                  id: 1
                },
                first_index: {
                  type: "uint32",
                  id: 2
                },
                count: {
                  type: "uint32",
                  id: 3
                },
                dest_segno: {
                  type: "uint32",
                  id: 4
                },
                dest_type: {
                  type: "uint32",
                  id: 5
                }
              }
            },
            MovedRequest: {
              fields: {
                dev: {
                  type: "uint32",
                  id: 1
                },
                segno: {
                  type: "uint32",
                  id: 2
                },
                seg_type: {
                  type: "uint32",
                  id: 3
                },
                valid: {
                  type: "uint32",
                  id: 4
                },
                mtime: {
                  type: "uint64",
                  id: 5
                },
                from_advice: {
                  type: "bool",
                  id: 6
                },
                gc_seq: {
                  type: "uint64",
                  id: 7
                },
                part: {
                  type: "uint32",
                  id: 8
                },
                last: {
                  type: "bool",
                  id: 9
                },
                runs: {
                  rule: "repeated",
                  type: "MovedRun",
                  id: 10
                }
              }
            },
            MovedResponse: {
              fields: {
                clock: {
                  type: "uint64",
                  id: 1
                },
                segment_info: {
                  type: "bytes",
                  id: 2
                }
              }
            }
          }
        }
      }
    }
  }
};

/** Ops of koffload.f2fs, from enum Op. */
export interface F2fsOps {
  victim: { op: 1; request: VictimRequest; requestInit: VictimRequestInit; response: VictimResponse; responseInit: VictimResponseInit };
  moved: { op: 2; request: MovedRequest; requestInit: MovedRequestInit; response: MovedResponse; responseInit: MovedResponseInit };
}

/** The schema of proto/f2fs.proto: pass it to definePolicy(). */
export const f2fs: Schema<F2fsOps> = defineSchema<F2fsOps>({
  name: 'f2fs',
  package: 'koffload.f2fs',
  descriptor,
  codecs: {
    'koffload.f2fs.VictimRequest': { decode: decode_VictimRequest, encode: encode_VictimRequest },
    'koffload.f2fs.VictimResponse': { decode: decode_VictimResponse, encode: encode_VictimResponse },
    'koffload.f2fs.RankedVictim': { decode: decode_RankedVictim, encode: encode_RankedVictim },
    'koffload.f2fs.Ranking': { decode: decode_Ranking, encode: encode_Ranking },
    'koffload.f2fs.MovedRun': { decode: decode_MovedRun, encode: encode_MovedRun },
    'koffload.f2fs.MovedRequest': { decode: decode_MovedRequest, encode: encode_MovedRequest },
    'koffload.f2fs.MovedResponse': { decode: decode_MovedResponse, encode: encode_MovedResponse },
  },
  ops: {
    victim: { op: 1, request: 'VictimRequest', response: 'VictimResponse' },
    moved: { op: 2, request: 'MovedRequest', response: 'MovedResponse' },
  },
});

export const VictimRequest: MessageCodec<VictimRequest, VictimRequestInit> = messageCodec(f2fs, 'VictimRequest');
export const VictimResponse: MessageCodec<VictimResponse, VictimResponseInit> = messageCodec(f2fs, 'VictimResponse');
export const RankedVictim: MessageCodec<RankedVictim, RankedVictimInit> = messageCodec(f2fs, 'RankedVictim');
export const Ranking: MessageCodec<Ranking, RankingInit> = messageCodec(f2fs, 'Ranking');
export const MovedRun: MessageCodec<MovedRun, MovedRunInit> = messageCodec(f2fs, 'MovedRun');
export const MovedRequest: MessageCodec<MovedRequest, MovedRequestInit> = messageCodec(f2fs, 'MovedRequest');
export const MovedResponse: MessageCodec<MovedResponse, MovedResponseInit> = messageCodec(f2fs, 'MovedResponse');
