/**
 * The protobuf wire format for the codecs that `npm run gen` writes per
 * message (src/generated/proto/*.ts): a reader over a Buffer and a
 * size-then-write encoder, with 64-bit integers as bigint straight from
 * and to their two 32-bit halves (no Long objects, no decimal strings).
 *
 * The generated codecs produce the same bytes and the same decoded
 * objects as the protobufjs reflection codec they replace (schema.ts keeps
 * it for toJSON/fromJSON and for messages with maps or oneofs); the
 * differences are stricter checks on bad input: a field whose wire type is
 * not its type's, and bytes that are not a Uint8Array, are rejected rather
 * than misread.
 */
import { Buffer } from 'node:buffer';
import { KoffloadError } from '../errors.js';

export class PbError extends Error {}

// ---------------------------------------------------------------------------
// decoding

/** A cursor over b[pos, end). Methods throw PbError on truncated or malformed input. */
export class PbReader {
  constructor(
    public b: Buffer,
    public pos: number,
    /** the end of what is being read now (a sub-message's while it is) */
    public end: number,
  ) {}

  /** Points the reader at new input (decoding is synchronous: one reader serves every decode). */
  reset(b: Buffer): this {
    this.b = b;
    this.pos = 0;
    this.end = b.length;
    return this;
  }

  /** A varint of up to 32 significant bits, as an unsigned number (higher bits dropped, as protobufjs does). */
  u32(): number {
    const b = this.b;
    let p = this.pos;
    const e = this.end;
    if (p < e) {
      const x = b[p]!;
      if (x < 0x80) {
        this.pos = p + 1;
        return x;
      }
    }
    let v = 0;
    for (let s = 0; s < 35; s += 7) {
      if (p >= e) throw new PbError('index out of range');
      const x = b[p++]!;
      v |= (x & 0x7f) << s;
      if (x < 0x80) {
        this.pos = p;
        return v >>> 0;
      }
    }
    // bits above 32: skip up to 5 more bytes
    for (let i = 0; i < 5; i++) {
      if (p >= e) throw new PbError('index out of range');
      if (b[p++]! < 0x80) {
        this.pos = p;
        return v >>> 0;
      }
    }
    throw new PbError('invalid varint encoding');
  }

  /** A varint as its low and high 32 bits. */
  private u64parts(): [number, number] {
    const b = this.b;
    let p = this.pos;
    const e = this.end;
    let lo = 0;
    let hi = 0;
    let i = 0;
    for (; i < 4; i++) {
      if (p >= e) throw new PbError('index out of range');
      const x = b[p++]!;
      lo |= (x & 0x7f) << (7 * i);
      if (x < 0x80) {
        this.pos = p;
        return [lo >>> 0, 0];
      }
    }
    if (p >= e) throw new PbError('index out of range');
    let x = b[p++]!;
    lo |= (x & 0x7f) << 28;
    hi = (x & 0x7f) >> 4;
    if (x < 0x80) {
      this.pos = p;
      return [lo >>> 0, hi >>> 0];
    }
    for (i = 0; i < 5; i++) {
      if (p >= e) throw new PbError('index out of range');
      x = b[p++]!;
      hi |= (x & 0x7f) << (7 * i + 3);
      if (x < 0x80) {
        this.pos = p;
        return [lo >>> 0, hi >>> 0];
      }
    }
    throw new PbError('invalid varint encoding');
  }

  uint64(): bigint {
    const [lo, hi] = this.u64parts();
    return hi === 0 ? BigInt(lo) : (BigInt(hi) << 32n) | BigInt(lo);
  }

  int64(): bigint {
    const [lo, hi] = this.u64parts();
    if (hi === 0) return BigInt(lo);
    return BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo));
  }

  sint64(): bigint {
    const u = this.uint64();
    return (u >> 1n) ^ -(u & 1n);
  }

  int32(): number {
    return this.u32() | 0;
  }

  sint32(): number {
    const u = this.u32();
    return (u >>> 1) ^ -(u & 1);
  }

  bool(): boolean {
    return this.u32() !== 0;
  }

  private need(n: number): number {
    const p = this.pos;
    if (n > this.end - p) throw new PbError('index out of range');
    this.pos = p + n;
    return p;
  }

  fixed32(): number {
    return this.b.readUInt32LE(this.need(4));
  }

  sfixed32(): number {
    return this.b.readInt32LE(this.need(4));
  }

  fixed64(): bigint {
    return this.b.readBigUInt64LE(this.need(8));
  }

  sfixed64(): bigint {
    return this.b.readBigInt64LE(this.need(8));
  }

  float(): number {
    return this.b.readFloatLE(this.need(4));
  }

  double(): number {
    return this.b.readDoubleLE(this.need(8));
  }

  /** The bytes of a length-delimited field: a view of the input. */
  bytes(): Buffer {
    const n = this.u32();
    const p = this.need(n);
    return this.b.subarray(p, p + n);
  }

  string(): string {
    const n = this.u32();
    const p = this.need(n);
    return this.b.toString('utf8', p, p + n);
  }

  /** Starts a length-delimited sub-message: returns the end to restore once it is read. */
  enter(): number {
    const n = this.u32();
    const p = this.pos;
    if (n > this.end - p) throw new PbError('index out of range');
    const outer = this.end;
    this.end = p + n;
    return outer;
  }

  /** Skips one field of wire type `wt`. */
  skip(wt: number): void {
    switch (wt) {
      case 0:
        this.u64parts();
        return;
      case 1:
        this.need(8);
        return;
      case 2:
        this.need(this.u32());
        return;
      case 3:
        for (;;) {
          const t = this.u32();
          if ((t & 7) === 4) return;
          this.skip(t & 7);
        }
      case 5:
        this.need(4);
        return;
      default:
        throw new PbError(`invalid wire type ${wt}`);
    }
  }
}

/** The reader every generated decoder shares (decoding is synchronous and never re-entered). */
export const reader = new PbReader(Buffer.alloc(0), 0, 0);

/** A Buffer view of any Uint8Array (decode input). */
export function asBuffer(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

/** The KOFFLOAD_ERR_BAD_PAYLOAD a generated decoder throws. */
export function badPayload(typeName: string, err: unknown): KoffloadError {
  return new KoffloadError('KOFFLOAD_ERR_BAD_PAYLOAD', `${typeName}: ${(err as Error).message}`, { cause: err });
}

/** A field seen with a wire type its type never has. */
export function wrongWireType(field: string, wt: number): PbError {
  return new PbError(`field ${field}: wire type ${wt} does not fit its type`);
}

// ---------------------------------------------------------------------------
// encoding: sizes

export function varintSize(v: number): number {
  // v is an unsigned 32-bit value or a negative int32 (10 bytes)
  if (v < 0) return 10;
  return v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5;
}

export function varint64Size(v: bigint): number {
  if (v < 0x100000000n) return varintSize(Number(v));
  let n = 1;
  for (let x = v >> 7n; x > 0n; x >>= 7n) n++;
  return n;
}

/** The unsigned 64-bit pattern of an int64 / uint64 / sint64 value. */
export const u64of = (v: bigint): bigint => BigInt.asUintN(64, v);
export const zigzag64 = (v: bigint): bigint => BigInt.asUintN(64, (v << 1n) ^ (v >> 63n));
export const zigzag32 = (v: number): number => ((v << 1) ^ (v >> 31)) >>> 0;

export function stringSize(s: string): number {
  const n = Buffer.byteLength(s, 'utf8');
  return varintSize(n) + n;
}

// ---------------------------------------------------------------------------
// encoding: writing into a Buffer sized beforehand

export class PbWriter {
  pos = 0;
  constructor(public b: Buffer) {}

  /** Points the writer at a new buffer (encoding is synchronous: one writer serves every encode). */
  reset(b: Buffer): this {
    this.b = b;
    this.pos = 0;
    return this;
  }

  u32(v: number): void {
    const b = this.b;
    let p = this.pos;
    while (v > 0x7f) {
      b[p++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    b[p++] = v;
    this.pos = p;
  }

  /** int32: negative values as 10-byte varints, as protobuf requires. */
  int32(v: number): void {
    if (v >= 0) this.u32(v);
    else this.u64(BigInt.asUintN(64, BigInt(v)));
  }

  u64(v: bigint): void {
    if (v < 0x100000000n) {
      this.u32(Number(v));
      return;
    }
    const b = this.b;
    let p = this.pos;
    let lo = Number(v & 0xffffffffn);
    let hi = Number(v >> 32n);
    while (hi > 0 || lo > 0x7f) {
      b[p++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    b[p++] = lo;
    this.pos = p;
  }

  fixed32(v: number): void {
    this.b.writeUInt32LE(v >>> 0, this.pos);
    this.pos += 4;
  }

  sfixed32(v: number): void {
    this.b.writeInt32LE(v, this.pos);
    this.pos += 4;
  }

  fixed64(v: bigint): void {
    this.b.writeBigUInt64LE(BigInt.asUintN(64, v), this.pos);
    this.pos += 8;
  }

  float(v: number): void {
    this.b.writeFloatLE(v, this.pos);
    this.pos += 4;
  }

  double(v: number): void {
    this.b.writeDoubleLE(v, this.pos);
    this.pos += 8;
  }

  bytes(v: Uint8Array): void {
    // length, not byteLength: equal for a Uint8Array, and V8 (Node 20)
    // inlines the one and calls out for the other
    const n = v.length;
    this.u32(n);
    this.b.set(v, this.pos);
    this.pos += n;
  }

  string(v: string): void {
    const n = Buffer.byteLength(v, 'utf8');
    this.u32(n);
    this.b.write(v, this.pos, n, 'utf8');
    this.pos += n;
  }
}

/** The writer every generated encoder shares (encoding is synchronous and never re-entered). */
export const writer = new PbWriter(Buffer.alloc(0));

// ---------------------------------------------------------------------------
// encode-time checks (the reflection codec's toWire + verify); the message
// text is built only when a check fails

export function badResponse(typeName: string, detail: string): KoffloadError {
  return new KoffloadError('KOFFLOAD_ERR_BAD_RESPONSE', `${typeName}: ${detail}`);
}

/** Checks that `value` is a plain object (not null, not an array); returns it. */
export function asObject(typeName: string, value: unknown, path: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw badResponse(typeName, `${path || 'value'} must be an object`);
  return value as Record<string, unknown>;
}

/** A key of a message value that is not one of its fields. */
export function unknownField(typeName: string, path: string, key: string): KoffloadError {
  return badResponse(typeName, `unknown field '${path}${key}'`);
}

const RANGE: Record<string, [number, number]> = {
  uint32: [0, 0xffffffff],
  fixed32: [0, 0xffffffff],
  int32: [-(2 ** 31), 2 ** 31 - 1],
  sint32: [-(2 ** 31), 2 ** 31 - 1],
  sfixed32: [-(2 ** 31), 2 ** 31 - 1],
};

/** A 32-bit integer field's value, checked. */
export function int32Of(typeName: string, path: string, name: string, type: string, x: unknown): number {
  if (typeof x !== 'number' || !Number.isInteger(x)) throw badResponse(typeName, `${path}${name}: integer expected`);
  const r = RANGE[type]!;
  if (x < r[0] || x > r[1]) throw badResponse(typeName, `${path}${name} out of range for ${type}`);
  return x;
}

const U64_MAX = 0xffffffffffffffffn;
const I64_MIN = -(1n << 63n);
const I64_MAX = (1n << 63n) - 1n;

/** A 64-bit integer field's value (bigint, or an integral number), checked. */
export function int64Of(typeName: string, path: string, name: string, type: string, x: unknown): bigint {
  let b: bigint;
  if (typeof x === 'bigint') b = x;
  else if (typeof x === 'number' && Number.isInteger(x)) b = BigInt(x);
  else throw badResponse(typeName, `${path}${name}: integer|Long expected`);
  const unsigned = type === 'uint64' || type === 'fixed64';
  if (unsigned ? b < 0n || b > U64_MAX : b < I64_MIN || b > I64_MAX) throw badResponse(typeName, `${path}${name} out of range for ${type}`);
  return b;
}

export function bytesOf(typeName: string, path: string, name: string, x: unknown): Uint8Array {
  if (!(x instanceof Uint8Array)) throw badResponse(typeName, `${path}${name} must be a Uint8Array`);
  return x;
}

export function stringOf(typeName: string, path: string, name: string, x: unknown): string {
  if (typeof x !== 'string') throw badResponse(typeName, `${path}${name}: string expected`);
  return x;
}

export function boolOf(typeName: string, path: string, name: string, x: unknown): boolean {
  if (typeof x !== 'boolean') throw badResponse(typeName, `${path}${name}: boolean expected`);
  return x;
}

export function numberOf(typeName: string, path: string, name: string, x: unknown): number {
  if (typeof x !== 'number') throw badResponse(typeName, `${path}${name}: number expected`);
  return x;
}

/** An enum field's value: one of `values` (a number, as verify() wants it). */
export function enumOf(typeName: string, path: string, name: string, x: unknown, values: Readonly<Record<string, number>>): number {
  if (typeof x === 'number') {
    for (const k in values) if (values[k] === x) return x;
  }
  throw badResponse(typeName, `${path}${name}: enum value expected`);
}

export function arrayOf(typeName: string, path: string, name: string, x: unknown): unknown[] {
  if (!Array.isArray(x)) throw badResponse(typeName, `${path}${name} must be an array`);
  return x;
}
