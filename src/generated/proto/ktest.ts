// Generated from proto/ktest.proto by `npm run gen` (scripts/gen.ts).
// Do not edit: change the source and regenerate.
//
// Typed payloads of koffload.ktest: for each message X an interface X (as
// decoded: 64-bit integers are bigint, bytes are Uint8Array, absent
// sub-messages undefined), an interface XInit (what encode() accepts: every
// field optional) and a codec value X; the schema `ktest` lists the ops of
// enum Op.

import { Buffer } from 'node:buffer';
import { type MessageCodec, type Schema, defineSchema, messageCodec } from '../../runtime/schema.js';
import * as pb from '../../runtime/pb.js';

/** Op ids of the ktest subsystems (koffload op = enum value). */
export const Op = {
  OP_UNSPEC: 0,
  /** Answer with the same data and seq. */
  OP_ECHO: 1,
  /** Pick a victim among candidates (a stand-in for an LFS GC decision). */
  OP_PICK: 2,
} as const;

/** Decoded koffload.ktest.EchoRequest. */
export interface EchoRequest {
  data: Uint8Array;
  seq: bigint;
}

/** What encode() accepts for koffload.ktest.EchoRequest. */
export interface EchoRequestInit {
  data?: Uint8Array;
  seq?: bigint | number;
}

/** Decoded koffload.ktest.EchoResponse. */
export interface EchoResponse {
  data: Uint8Array;
  seq: bigint;
}

/** What encode() accepts for koffload.ktest.EchoResponse. */
export interface EchoResponseInit {
  data?: Uint8Array;
  seq?: bigint | number;
}

/** Decoded koffload.ktest.Segment. */
export interface Segment {
  id: number;
  valid_blocks: number;
  age_ms: bigint;
}

/** What encode() accepts for koffload.ktest.Segment. */
export interface SegmentInit {
  id?: number;
  valid_blocks?: number;
  age_ms?: bigint | number;
}

/** Decoded koffload.ktest.PickRequest. */
export interface PickRequest {
  candidates: Segment[];
}

/** What encode() accepts for koffload.ktest.PickRequest. */
export interface PickRequestInit {
  candidates?: SegmentInit[];
}

/** Decoded koffload.ktest.PickResponse. */
export interface PickResponse {
  victim_id: number;
}

/** What encode() accepts for koffload.ktest.PickResponse. */
export interface PickResponseInit {
  victim_id?: number;
}

const T_EchoRequest = 'koffload.ktest.EchoRequest';

function read_EchoRequest(r: pb.PbReader): EchoRequest {
  let f_1: Buffer | undefined;
  let f_2: bigint | undefined;
  while (r.pos < r.end) {
    const t = r.u32();
    const wt = t & 7;
    switch (t >>> 3) {
      case 1:
        if (wt !== 2) throw pb.wrongWireType('data', wt);
        f_1 = r.bytes();
        break;
      case 2:
        if (wt !== 0) throw pb.wrongWireType('seq', wt);
        f_2 = r.uint64();
        break;
      default:
        r.skip(wt);
    }
  }
  return { data: f_1 ?? Buffer.alloc(0), seq: f_2 ?? 0n };
}

function decode_EchoRequest(bytes: Uint8Array): EchoRequest {
  const b = pb.asBuffer(bytes);
  try {
    return read_EchoRequest(pb.reader.reset(b));
  } catch (err) {
    throw pb.badPayload(T_EchoRequest, err);
  }
}

function size_EchoRequest(v: unknown, path: string): number {
  const o = pb.asObject(T_EchoRequest, v, path);
  for (const k in o) if (k !== 'data' && k !== 'seq') throw pb.unknownField(T_EchoRequest, path, k);
  let n = 0;
  {
    const x = o['data'];
    if (x !== undefined && x !== null) {
      const y = pb.bytesOf(T_EchoRequest, path, 'data', x);
      n += 1 + pb.varintSize(y.length) + y.length;
    }
  }
  {
    const x = o['seq'];
    if (x !== undefined && x !== null) {
      const y = pb.int64Of(T_EchoRequest, path, 'seq', 'uint64', x);
      n += 1 + pb.varint64Size(y);
    }
  }
  return n;
}

function write_EchoRequest(w: pb.PbWriter, o: Record<string, unknown>): void {
  {
    const x = o['data'];
    if (x !== undefined && x !== null) {
      w.u32(10);
      w.bytes((x as Uint8Array));
    }
  }
  {
    const x = o['seq'];
    if (x !== undefined && x !== null) {
      w.u32(16);
      w.u64((typeof x === 'bigint' ? x : BigInt(x as number)));
    }
  }
}

function encode_EchoRequest(value: EchoRequestInit): Buffer {
  const size = size_EchoRequest(value, '');
  const b = Buffer.allocUnsafe(size);
  write_EchoRequest(pb.writer.reset(b), value as unknown as Record<string, unknown>);
  return b;
}

const T_EchoResponse = 'koffload.ktest.EchoResponse';

function read_EchoResponse(r: pb.PbReader): EchoResponse {
  let f_1: Buffer | undefined;
  let f_2: bigint | undefined;
  while (r.pos < r.end) {
    const t = r.u32();
    const wt = t & 7;
    switch (t >>> 3) {
      case 1:
        if (wt !== 2) throw pb.wrongWireType('data', wt);
        f_1 = r.bytes();
        break;
      case 2:
        if (wt !== 0) throw pb.wrongWireType('seq', wt);
        f_2 = r.uint64();
        break;
      default:
        r.skip(wt);
    }
  }
  return { data: f_1 ?? Buffer.alloc(0), seq: f_2 ?? 0n };
}

function decode_EchoResponse(bytes: Uint8Array): EchoResponse {
  const b = pb.asBuffer(bytes);
  try {
    return read_EchoResponse(pb.reader.reset(b));
  } catch (err) {
    throw pb.badPayload(T_EchoResponse, err);
  }
}

function size_EchoResponse(v: unknown, path: string): number {
  const o = pb.asObject(T_EchoResponse, v, path);
  for (const k in o) if (k !== 'data' && k !== 'seq') throw pb.unknownField(T_EchoResponse, path, k);
  let n = 0;
  {
    const x = o['data'];
    if (x !== undefined && x !== null) {
      const y = pb.bytesOf(T_EchoResponse, path, 'data', x);
      n += 1 + pb.varintSize(y.length) + y.length;
    }
  }
  {
    const x = o['seq'];
    if (x !== undefined && x !== null) {
      const y = pb.int64Of(T_EchoResponse, path, 'seq', 'uint64', x);
      n += 1 + pb.varint64Size(y);
    }
  }
  return n;
}

function write_EchoResponse(w: pb.PbWriter, o: Record<string, unknown>): void {
  {
    const x = o['data'];
    if (x !== undefined && x !== null) {
      w.u32(10);
      w.bytes((x as Uint8Array));
    }
  }
  {
    const x = o['seq'];
    if (x !== undefined && x !== null) {
      w.u32(16);
      w.u64((typeof x === 'bigint' ? x : BigInt(x as number)));
    }
  }
}

function encode_EchoResponse(value: EchoResponseInit): Buffer {
  const size = size_EchoResponse(value, '');
  const b = Buffer.allocUnsafe(size);
  write_EchoResponse(pb.writer.reset(b), value as unknown as Record<string, unknown>);
  return b;
}

const T_Segment = 'koffload.ktest.Segment';

function read_Segment(r: pb.PbReader): Segment {
  let f_1: number | undefined;
  let f_2: number | undefined;
  let f_3: bigint | undefined;
  while (r.pos < r.end) {
    const t = r.u32();
    const wt = t & 7;
    switch (t >>> 3) {
      case 1:
        if (wt !== 0) throw pb.wrongWireType('id', wt);
        f_1 = r.u32();
        break;
      case 2:
        if (wt !== 0) throw pb.wrongWireType('valid_blocks', wt);
        f_2 = r.u32();
        break;
      case 3:
        if (wt !== 0) throw pb.wrongWireType('age_ms', wt);
        f_3 = r.uint64();
        break;
      default:
        r.skip(wt);
    }
  }
  return { id: f_1 ?? 0, valid_blocks: f_2 ?? 0, age_ms: f_3 ?? 0n };
}

function decode_Segment(bytes: Uint8Array): Segment {
  const b = pb.asBuffer(bytes);
  try {
    return read_Segment(pb.reader.reset(b));
  } catch (err) {
    throw pb.badPayload(T_Segment, err);
  }
}

function size_Segment(v: unknown, path: string): number {
  const o = pb.asObject(T_Segment, v, path);
  for (const k in o) if (k !== 'id' && k !== 'valid_blocks' && k !== 'age_ms') throw pb.unknownField(T_Segment, path, k);
  let n = 0;
  {
    const x = o['id'];
    if (x !== undefined && x !== null) {
      const y = pb.int32Of(T_Segment, path, 'id', 'uint32', x);
      n += 1 + pb.varintSize(y);
    }
  }
  {
    const x = o['valid_blocks'];
    if (x !== undefined && x !== null) {
      const y = pb.int32Of(T_Segment, path, 'valid_blocks', 'uint32', x);
      n += 1 + pb.varintSize(y);
    }
  }
  {
    const x = o['age_ms'];
    if (x !== undefined && x !== null) {
      const y = pb.int64Of(T_Segment, path, 'age_ms', 'uint64', x);
      n += 1 + pb.varint64Size(y);
    }
  }
  return n;
}

function write_Segment(w: pb.PbWriter, o: Record<string, unknown>): void {
  {
    const x = o['id'];
    if (x !== undefined && x !== null) {
      w.u32(8);
      w.u32((x as number));
    }
  }
  {
    const x = o['valid_blocks'];
    if (x !== undefined && x !== null) {
      w.u32(16);
      w.u32((x as number));
    }
  }
  {
    const x = o['age_ms'];
    if (x !== undefined && x !== null) {
      w.u32(24);
      w.u64((typeof x === 'bigint' ? x : BigInt(x as number)));
    }
  }
}

function encode_Segment(value: SegmentInit): Buffer {
  const size = size_Segment(value, '');
  const b = Buffer.allocUnsafe(size);
  write_Segment(pb.writer.reset(b), value as unknown as Record<string, unknown>);
  return b;
}

const T_PickRequest = 'koffload.ktest.PickRequest';

function read_PickRequest(r: pb.PbReader): PickRequest {
  const f_1: Segment[] = [];
  while (r.pos < r.end) {
    const t = r.u32();
    const wt = t & 7;
    switch (t >>> 3) {
      case 1:
        if (wt !== 2) throw pb.wrongWireType('candidates', wt);
        {
          const outer = r.enter();
          const v = read_Segment(r);
          r.pos = r.end;
          r.end = outer;
          f_1.push(v);
        }
        break;
      default:
        r.skip(wt);
    }
  }
  return { candidates: f_1 };
}

function decode_PickRequest(bytes: Uint8Array): PickRequest {
  const b = pb.asBuffer(bytes);
  try {
    return read_PickRequest(pb.reader.reset(b));
  } catch (err) {
    throw pb.badPayload(T_PickRequest, err);
  }
}

function size_PickRequest(v: unknown, path: string): number {
  const o = pb.asObject(T_PickRequest, v, path);
  for (const k in o) if (k !== 'candidates') throw pb.unknownField(T_PickRequest, path, k);
  let n = 0;
  {
    const x = o['candidates'];
    if (x !== undefined && x !== null) {
      const a = pb.arrayOf(T_PickRequest, path, 'candidates', x);
      for (let i = 0; i < a.length; i++) {
        const s = size_Segment(a[i], `${path}candidates[${i}].`);
        n += 1 + pb.varintSize(s) + s;
      }
    }
  }
  return n;
}

function write_PickRequest(w: pb.PbWriter, o: Record<string, unknown>): void {
  {
    const x = o['candidates'];
    if (x !== undefined && x !== null) {
      const a = x as unknown[];
      for (let i = 0; i < a.length; i++) {
        w.u32(10);
        w.u32(size_Segment(a[i], ''));
        write_Segment(w, a[i] as Record<string, unknown>);
      }
    }
  }
}

function encode_PickRequest(value: PickRequestInit): Buffer {
  const size = size_PickRequest(value, '');
  const b = Buffer.allocUnsafe(size);
  write_PickRequest(pb.writer.reset(b), value as unknown as Record<string, unknown>);
  return b;
}

const T_PickResponse = 'koffload.ktest.PickResponse';

function read_PickResponse(r: pb.PbReader): PickResponse {
  let f_1: number | undefined;
  while (r.pos < r.end) {
    const t = r.u32();
    const wt = t & 7;
    switch (t >>> 3) {
      case 1:
        if (wt !== 0) throw pb.wrongWireType('victim_id', wt);
        f_1 = r.u32();
        break;
      default:
        r.skip(wt);
    }
  }
  return { victim_id: f_1 ?? 0 };
}

function decode_PickResponse(bytes: Uint8Array): PickResponse {
  const b = pb.asBuffer(bytes);
  try {
    return read_PickResponse(pb.reader.reset(b));
  } catch (err) {
    throw pb.badPayload(T_PickResponse, err);
  }
}

function size_PickResponse(v: unknown, path: string): number {
  const o = pb.asObject(T_PickResponse, v, path);
  for (const k in o) if (k !== 'victim_id') throw pb.unknownField(T_PickResponse, path, k);
  let n = 0;
  {
    const x = o['victim_id'];
    if (x !== undefined && x !== null) {
      const y = pb.int32Of(T_PickResponse, path, 'victim_id', 'uint32', x);
      n += 1 + pb.varintSize(y);
    }
  }
  return n;
}

function write_PickResponse(w: pb.PbWriter, o: Record<string, unknown>): void {
  {
    const x = o['victim_id'];
    if (x !== undefined && x !== null) {
      w.u32(8);
      w.u32((x as number));
    }
  }
}

function encode_PickResponse(value: PickResponseInit): Buffer {
  const size = size_PickResponse(value, '');
  const b = Buffer.allocUnsafe(size);
  write_PickResponse(pb.writer.reset(b), value as unknown as Record<string, unknown>);
  return b;
}

/** The protobufjs JSON descriptor of the file (the reflection codecs are built from it). */
export const descriptor = {
  nested: {
    koffload: {
      nested: {
        ktest: {
          nested: {
            Op: {
              values: {
                OP_UNSPEC: 0,
                OP_ECHO: 1,
                OP_PICK: 2
              }
            },
            EchoRequest: {
              fields: {
                data: {
                  type: "bytes",
                  id: 1
                },
                seq: {
                  type: "uint64",
                  id: 2
                }
              }
            },
            EchoResponse: {
              fields: {
                data: {
                  type: "bytes",
                  id: 1
                },
                seq: {
                  type: "uint64",
                  id: 2
                }
              }
            },
            Segment: {
              fields: {
                id: {
                  type: "uint32",
                  id: 1
                },
                valid_blocks: {
                  type: "uint32",
                  id: 2
                },
                age_ms: {
                  type: "uint64",
                  id: 3
                }
              }
            },
            PickRequest: {
              fields: {
                candidates: {
                  rule: "repeated",
                  type: "Segment",
                  id: 1
                }
              }
            },
            PickResponse: {
              fields: {
                victim_id: {
                  type: "uint32",
                  id: 1
                }
              }
            }
          }
        }
      }
    }
  }
};

/** Ops of koffload.ktest, from enum Op. */
export interface KtestOps {
  echo: { op: 1; request: EchoRequest; requestInit: EchoRequestInit; response: EchoResponse; responseInit: EchoResponseInit };
  pick: { op: 2; request: PickRequest; requestInit: PickRequestInit; response: PickResponse; responseInit: PickResponseInit };
}

/** The schema of proto/ktest.proto: pass it to definePolicy(). */
export const ktest: Schema<KtestOps> = defineSchema<KtestOps>({
  name: 'ktest',
  package: 'koffload.ktest',
  descriptor,
  codecs: {
    'koffload.ktest.EchoRequest': { decode: decode_EchoRequest, encode: encode_EchoRequest },
    'koffload.ktest.EchoResponse': { decode: decode_EchoResponse, encode: encode_EchoResponse },
    'koffload.ktest.Segment': { decode: decode_Segment, encode: encode_Segment },
    'koffload.ktest.PickRequest': { decode: decode_PickRequest, encode: encode_PickRequest },
    'koffload.ktest.PickResponse': { decode: decode_PickResponse, encode: encode_PickResponse },
  },
  ops: {
    echo: { op: 1, request: 'EchoRequest', response: 'EchoResponse' },
    pick: { op: 2, request: 'PickRequest', response: 'PickResponse' },
  },
});

export const EchoRequest: MessageCodec<EchoRequest, EchoRequestInit> = messageCodec(ktest, 'EchoRequest');
export const EchoResponse: MessageCodec<EchoResponse, EchoResponseInit> = messageCodec(ktest, 'EchoResponse');
export const Segment: MessageCodec<Segment, SegmentInit> = messageCodec(ktest, 'Segment');
export const PickRequest: MessageCodec<PickRequest, PickRequestInit> = messageCodec(ktest, 'PickRequest');
export const PickResponse: MessageCodec<PickResponse, PickResponseInit> = messageCodec(ktest, 'PickResponse');
