/**
 * Pure netlink + generic netlink framing: no sockets, no state.
 *
 * Layout (all integers in host byte order, as netlink defines them):
 *   nlmsghdr   len u32 | type u16 | flags u16 | seq u32 | pid u32   (16 bytes)
 *   genlmsghdr cmd u8 | version u8 | reserved u16                   (4 bytes)
 *   nlattr     len u16 | type u16 | data, padded to 4 bytes
 * Messages and attributes start at 4-byte aligned offsets; several messages
 * may share one datagram.
 *
 * Validation rules of the typed decoder ({@link decodeAttrs}), mirroring the
 * kernel's strict genl validation (NL_VALIDATE_STRICT) so both ends agree:
 * - integer attributes have exactly their size; `max` and enum ranges hold;
 *   flag masks hold;
 * - strings end in one NUL, have no other NUL, are valid UTF-8, and with the
 *   NUL fit in `maxLen`;
 * - binaries fit in `maxLen`;
 * - nests carry NLA_F_NESTED and their content is well formed; no other
 *   attribute carries NLA_F_NESTED or NLA_F_NET_BYTEORDER;
 * - an attribute appears at most once; type 0 never appears;
 * - bytes left after the last attribute (other than its missing padding)
 *   are an error.
 * Unknown attribute types (not in the spec) are skipped and listed in
 * `unknown`: numbering is append-only, so a newer module may send more
 * attributes than this build knows, and skipping them keeps an older daemon
 * working. Pad attributes (nla_put_u64_64bit's padattr) are skipped silently.
 */
import { Buffer } from 'node:buffer';
import { endianness } from 'node:os';
import { KoffloadError, WireError } from '../errors.js';

export const NLMSG_HDRLEN = 16;
export const GENL_HDRLEN = 4;
export const NLA_HDRLEN = 4;

/** Control message types. */
export const NLMSG = { NOOP: 1, ERROR: 2, DONE: 3, OVERRUN: 4 } as const;
/** Lowest type of a non-control message (genl family ids start at 16). */
export const NLMSG_MIN_TYPE = 16;

/** nlmsg_flags. ROOT/MATCH/DUMP apply to GET requests, CAPPED/ACK_TLVS to errors. */
export const NLM_F = {
  REQUEST: 0x1,
  MULTI: 0x2,
  ACK: 0x4,
  ECHO: 0x8,
  DUMP_INTR: 0x10,
  DUMP_FILTERED: 0x20,
  ROOT: 0x100,
  MATCH: 0x200,
  DUMP: 0x300,
  CAPPED: 0x100,
  ACK_TLVS: 0x200,
} as const;

export const NLA_F_NESTED = 0x8000;
export const NLA_F_NET_BYTEORDER = 0x4000;
export const NLA_TYPE_MASK = 0x3fff;

/** Extended ack TLVs after an NLMSG_ERROR or NLMSG_DONE. */
export const NLMSGERR_ATTR = { MSG: 1, OFFS: 2, COOKIE: 3, POLICY: 4, MISS_TYPE: 5, MISS_NEST: 6 } as const;

const LE = endianness() === 'LE';

export const align4 = (n: number): number => (n + 3) & ~3;

function asBuffer(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

/**
 * Host-order integer access (netlink's byte order), for this codec and the
 * generated ones: byte loads and stores the optimiser inlines (Buffer's
 * readUInt32LE and friends are a call each, up to twice the time on Node
 * 20), with the same refusals: a RangeError for an offset that is not an
 * integer inside the buffer, or a value outside the type.
 */
function badAccess(o: number, n: number, len: number): RangeError {
  return new RangeError(`offset ${o} of ${n} bytes is outside the ${len} bytes of the buffer`);
}
function badValue(v: number, bits: number): RangeError {
  return new RangeError(`${v} is not a u${bits}`);
}
const inside = (b: Uint8Array, o: number, n: number): boolean => o >>> 0 === o && o + n <= b.length;
export const rd16: (b: Buffer, o: number) => number = LE
  ? (b, o) => {
      if (!inside(b, o, 2)) throw badAccess(o, 2, b.length);
      return b[o]! | (b[o + 1]! << 8);
    }
  : (b, o) => {
      if (!inside(b, o, 2)) throw badAccess(o, 2, b.length);
      return (b[o]! << 8) | b[o + 1]!;
    };
export const rd32: (b: Buffer, o: number) => number = LE
  ? (b, o) => {
      if (!inside(b, o, 4)) throw badAccess(o, 4, b.length);
      return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
    }
  : (b, o) => {
      if (!inside(b, o, 4)) throw badAccess(o, 4, b.length);
      return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
    };
const rdS32 = (b: Buffer, o: number): number => rd32(b, o) | 0;
// 64-bit access through an 8-byte scratch seen as bytes and as one u64
// (host order, like the wire): a copy of 8 bytes and one typed-array
// element access, which the optimiser inlines. Half the time of a
// DataView's getBigUint64 and a third of its setBigUint64 (Node 20), and
// several times faster than Buffer's readBigUInt64LE/writeBigUInt64LE,
// which build the value from 32-bit halves with BigInt operations.
const scratch64 = new BigUint64Array(1);
const scratch8 = new Uint8Array(scratch64.buffer);
export const rd64 = (b: Buffer, o: number): bigint => {
  if (!inside(b, o, 8)) throw badAccess(o, 8, b.length);
  const s = scratch8;
  s[0] = b[o]!;
  s[1] = b[o + 1]!;
  s[2] = b[o + 2]!;
  s[3] = b[o + 3]!;
  s[4] = b[o + 4]!;
  s[5] = b[o + 5]!;
  s[6] = b[o + 6]!;
  s[7] = b[o + 7]!;
  return scratch64[0]!;
};
export const wr16: (b: Buffer, v: number, o: number) => void = (b, v, o) => {
  if (!inside(b, o, 2)) throw badAccess(o, 2, b.length);
  if (!(v >>> 0 === v && v <= 0xffff)) throw badValue(v, 16);
  if (LE) {
    b[o] = v;
    b[o + 1] = v >>> 8;
  } else {
    b[o] = v >>> 8;
    b[o + 1] = v;
  }
};
export const wr32: (b: Buffer, v: number, o: number) => void = (b, v, o) => {
  if (!inside(b, o, 4)) throw badAccess(o, 4, b.length);
  if (!(v >>> 0 === v)) throw badValue(v, 32);
  if (LE) {
    b[o] = v;
    b[o + 1] = v >>> 8;
    b[o + 2] = v >>> 16;
    b[o + 3] = v >>> 24;
  } else {
    b[o] = v >>> 24;
    b[o + 1] = v >>> 16;
    b[o + 2] = v >>> 8;
    b[o + 3] = v;
  }
};
export const wr64 = (b: Buffer, v: bigint, o: number): void => {
  if (!inside(b, o, 8)) throw badAccess(o, 8, b.length);
  if (typeof v !== 'bigint' || v < 0n || v > 0xffffffffffffffffn) throw new RangeError(`${String(v)} is not a u64`);
  scratch64[0] = v;
  const s = scratch8;
  b[o] = s[0]!;
  b[o + 1] = s[1]!;
  b[o + 2] = s[2]!;
  b[o + 3] = s[3]!;
  b[o + 4] = s[4]!;
  b[o + 5] = s[5]!;
  b[o + 6] = s[6]!;
  b[o + 7] = s[7]!;
};

// ---------------------------------------------------------------------------
// nlmsghdr

export interface NlMsgHeader {
  /** nlmsg_len: header plus payload, without trailing padding */
  len: number;
  type: number;
  flags: number;
  seq: number;
  /** nlmsg_pid: the sender's port (0 from the kernel) */
  pid: number;
}

export interface NlMessage {
  header: NlMsgHeader;
  /** bytes after the header, `header.len - 16` long */
  payload: Buffer;
}

export interface NlMsgInit {
  type: number;
  flags: number;
  seq: number;
  pid?: number;
}

function checkUint(v: number, bits: 8 | 16 | 32, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > 2 ** bits - 1) {
    throw new KoffloadError('KOFFLOAD_ERR_INVALID_ARG', `${what} must be a u${bits}, got ${v}`);
  }
}

/** One netlink message, padded to 4 bytes; `len` excludes the padding. */
export function encodeNlMsg(init: NlMsgInit, payload: readonly Uint8Array[]): Buffer {
  checkUint(init.type, 16, 'nlmsg_type');
  checkUint(init.flags, 16, 'nlmsg_flags');
  checkUint(init.seq, 32, 'nlmsg_seq');
  checkUint(init.pid ?? 0, 32, 'nlmsg_pid');
  const len = NLMSG_HDRLEN + payload.reduce((n, p) => n + p.byteLength, 0);
  if (len > 0xffffffff) throw new KoffloadError('KOFFLOAD_ERR_INVALID_ARG', 'netlink message too long');
  const buf = Buffer.alloc(align4(len));
  wr32(buf, len, 0);
  wr16(buf, init.type, 4);
  wr16(buf, init.flags, 6);
  wr32(buf, init.seq, 8);
  wr32(buf, init.pid ?? 0, 12);
  let off = NLMSG_HDRLEN;
  for (const p of payload) {
    buf.set(p, off);
    off += p.byteLength;
  }
  return buf;
}

/**
 * Every message of one datagram. Throws WireError on a truncated header, a
 * length that points outside the datagram, or trailing bytes that cannot be
 * a message.
 */
export function decodeNlMessages(data: Uint8Array): NlMessage[] {
  const { messages, error } = decodeNlMessagesPartial(data);
  if (error) throw error;
  return messages;
}

/**
 * The messages of one datagram up to the first that is malformed (a
 * truncated header or a length that cannot be right: nothing after it can
 * be framed), and the error that ended the walk, if any.
 */
export function decodeNlMessagesPartial(data: Uint8Array): { messages: NlMessage[]; error?: WireError } {
  const buf = asBuffer(data);
  const out: NlMessage[] = [];
  let off = 0;
  while (off < buf.length) {
    const rem = buf.length - off;
    if (rem < NLMSG_HDRLEN) return { messages: out, error: new WireError(`${rem} trailing bytes at offset ${off}: truncated nlmsghdr`) };
    const len = rd32(buf, off);
    if (len < NLMSG_HDRLEN) return { messages: out, error: new WireError(`nlmsg_len ${len} at offset ${off} is shorter than the header`) };
    if (len > rem) return { messages: out, error: new WireError(`nlmsg_len ${len} at offset ${off} exceeds the ${rem} bytes left`) };
    out.push({
      header: { len, type: rd16(buf, off + 4), flags: rd16(buf, off + 6), seq: rd32(buf, off + 8), pid: rd32(buf, off + 12) },
      payload: buf.subarray(off + NLMSG_HDRLEN, off + len),
    });
    off += align4(len);
  }
  return { messages: out };
}

// ---------------------------------------------------------------------------
// genlmsghdr

export interface GenlMsgInit extends NlMsgInit {
  cmd: number;
  version: number;
}

export interface GenlMessage {
  header: NlMsgHeader;
  cmd: number;
  version: number;
  /** the attribute area after the genl header */
  attrs: Buffer;
}

/** One genl message: `init.type` is the family id. */
export function encodeGenlMsg(init: GenlMsgInit, attrs: readonly Uint8Array[]): Buffer {
  checkUint(init.cmd, 8, 'genl cmd');
  checkUint(init.version, 8, 'genl version');
  const g = Buffer.alloc(GENL_HDRLEN);
  g.writeUInt8(init.cmd, 0);
  g.writeUInt8(init.version, 1);
  return encodeNlMsg(init, [g, ...attrs]);
}

/** The genl view of a message whose type is a family id. */
export function decodeGenl(msg: NlMessage): GenlMessage {
  if (msg.header.type < NLMSG_MIN_TYPE) throw new WireError(`type ${msg.header.type} is a control message, not genl`);
  if (msg.payload.length < GENL_HDRLEN) throw new WireError(`genl message of ${msg.payload.length} bytes has no genlmsghdr`);
  return {
    header: msg.header,
    cmd: msg.payload.readUInt8(0),
    version: msg.payload.readUInt8(1),
    attrs: msg.payload.subarray(GENL_HDRLEN),
  };
}

// ---------------------------------------------------------------------------
// NLMSG_ERROR and NLMSG_DONE

export interface ExtAck {
  /** NLMSGERR_ATTR_MSG: the kernel's explanation */
  message?: string;
  /** NLMSGERR_ATTR_OFFS: offset of the offending attribute in the request */
  offset?: number;
  /** NLMSGERR_ATTR_MISS_TYPE: a required attribute that was missing */
  missingType?: number;
}

export interface NlErrorInfo extends ExtAck {
  /** positive errno; 0 for a plain ACK */
  errno: number;
  /** the header of the request this answers */
  request: NlMsgHeader;
  /** the request's payload, when the kernel echoed it (no NLM_F_CAPPED) */
  requestPayload?: Buffer;
}

function decodeExtAck(tlvs: Buffer): ExtAck {
  const ack: ExtAck = {};
  for (const a of decodeRawAttrs(tlvs)) {
    if (a.type === NLMSGERR_ATTR.MSG) {
      const nul = a.data.indexOf(0);
      ack.message = a.data.subarray(0, nul < 0 ? a.data.length : nul).toString('utf8');
    } else if (a.type === NLMSGERR_ATTR.OFFS && a.data.length === 4) {
      ack.offset = rd32(a.data, 0);
    } else if (a.type === NLMSGERR_ATTR.MISS_TYPE && a.data.length === 4) {
      ack.missingType = rd32(a.data, 0);
    }
  }
  return ack;
}

/** Parses struct nlmsgerr and any extended ack TLVs after it. */
export function decodeNlError(msg: NlMessage): NlErrorInfo {
  if (msg.header.type !== NLMSG.ERROR) throw new WireError(`type ${msg.header.type} is not NLMSG_ERROR`);
  const p = msg.payload;
  if (p.length < 4 + NLMSG_HDRLEN) throw new WireError(`NLMSG_ERROR payload of ${p.length} bytes is truncated`);
  const error = rdS32(p, 0);
  if (error > 0) throw new WireError(`NLMSG_ERROR carries a positive error ${error}`);
  const reqLen = rd32(p, 4);
  const request: NlMsgHeader = { len: reqLen, type: rd16(p, 8), flags: rd16(p, 10), seq: rd32(p, 12), pid: rd32(p, 16) };
  const info: NlErrorInfo = { errno: error === 0 ? 0 : -error, request };
  let off = 4 + NLMSG_HDRLEN;
  // an ACK (error 0) and a capped error carry only the header
  const capped = error === 0 || (msg.header.flags & NLM_F.CAPPED) !== 0;
  if (!capped) {
    if (reqLen < NLMSG_HDRLEN || 4 + reqLen > p.length) {
      throw new WireError(`NLMSG_ERROR echoes a request of ${reqLen} bytes in ${p.length - 4}`);
    }
    info.requestPayload = p.subarray(off, 4 + reqLen);
    off = 4 + align4(reqLen);
  }
  if ((msg.header.flags & NLM_F.ACK_TLVS) !== 0 && off < p.length) {
    Object.assign(info, decodeExtAck(p.subarray(off)));
  }
  return info;
}

function encodeHeader(h: NlMsgHeader): Buffer {
  const b = Buffer.alloc(NLMSG_HDRLEN);
  wr32(b, h.len, 0);
  wr16(b, h.type, 4);
  wr16(b, h.flags, 6);
  wr32(b, h.seq, 8);
  wr32(b, h.pid, 12);
  return b;
}

function signedInt(v: number): Buffer {
  const b = Buffer.alloc(4);
  if (LE) b.writeInt32LE(v, 0);
  else b.writeInt32BE(v, 0);
  return b;
}

export interface NlErrorInit {
  /** positive errno, 0 for an ACK */
  errno: number;
  /** echo this payload of the request (as the kernel does without NETLINK_CAP_ACK) */
  requestPayload?: Uint8Array;
  /** extended ack message (NLMSGERR_ATTR_MSG) */
  extack?: string;
  /** sender port to put in the header. @default 0 */
  pid?: number;
}

/** An NLMSG_ERROR (or ACK) answering `request`, the way the kernel builds it. */
export function encodeNlError(request: NlMsgHeader, init: NlErrorInit): Buffer {
  checkUint(init.errno, 16, 'errno');
  const echo = init.errno !== 0 && init.requestPayload !== undefined ? asBuffer(init.requestPayload) : undefined;
  const reqHeader = encodeHeader({ ...request, len: NLMSG_HDRLEN + (echo?.length ?? 0) });
  const parts: Buffer[] = [signedInt(-init.errno), reqHeader];
  let flags = echo ? 0 : NLM_F.CAPPED;
  if (echo) parts.push(echo, Buffer.alloc(align4(echo.length) - echo.length));
  if (init.extack !== undefined) {
    flags |= NLM_F.ACK_TLVS;
    parts.push(putString(NLMSGERR_ATTR.MSG, init.extack));
  }
  return encodeNlMsg({ type: NLMSG.ERROR, flags, seq: request.seq, pid: init.pid ?? 0 }, parts);
}

/** The NLMSG_DONE that ends a dump (`errno` > 0 for a failed dump). */
export function encodeNlDone(seq: number, errno = 0, pid = 0): Buffer {
  checkUint(errno, 16, 'errno');
  return encodeNlMsg({ type: NLMSG.DONE, flags: NLM_F.MULTI, seq, pid }, [signedInt(-errno)]);
}

/** NLMSG_DONE: the final int of a dump (negative when the dump failed). */
export function decodeNlDone(msg: NlMessage): { errno: number } & ExtAck {
  if (msg.header.type !== NLMSG.DONE) throw new WireError(`type ${msg.header.type} is not NLMSG_DONE`);
  // some producers send an empty DONE; the kernel always sends the int
  if (msg.payload.length === 0) return { errno: 0 };
  if (msg.payload.length < 4) throw new WireError(`NLMSG_DONE payload of ${msg.payload.length} bytes is truncated`);
  const error = rdS32(msg.payload, 0);
  const out: { errno: number } & ExtAck = { errno: error < 0 ? -error : 0 };
  if ((msg.header.flags & NLM_F.ACK_TLVS) !== 0 && msg.payload.length > 4) {
    Object.assign(out, decodeExtAck(msg.payload.subarray(4)));
  }
  return out;
}

// ---------------------------------------------------------------------------
// Raw attributes

export interface RawAttr {
  /** type without the flag bits */
  type: number;
  nested: boolean;
  netByteOrder: boolean;
  data: Buffer;
}

/** Structural walk of an attribute area (no type knowledge). */
export function decodeRawAttrs(data: Uint8Array): RawAttr[] {
  const buf = asBuffer(data);
  const out: RawAttr[] = [];
  let off = 0;
  while (off < buf.length) {
    const rem = buf.length - off;
    if (rem < NLA_HDRLEN) throw new WireError(`${rem} trailing bytes after the attributes at offset ${off}`);
    const len = rd16(buf, off);
    const rawType = rd16(buf, off + 2);
    if (len < NLA_HDRLEN) throw new WireError(`nla_len ${len} of attribute ${rawType & NLA_TYPE_MASK} at offset ${off} is shorter than its header`);
    if (len > rem) throw new WireError(`nla_len ${len} of attribute ${rawType & NLA_TYPE_MASK} at offset ${off} exceeds the ${rem} bytes left`);
    out.push({
      type: rawType & NLA_TYPE_MASK,
      nested: (rawType & NLA_F_NESTED) !== 0,
      netByteOrder: (rawType & NLA_F_NET_BYTEORDER) !== 0,
      data: buf.subarray(off + NLA_HDRLEN, off + len),
    });
    off += align4(len);
  }
  return out;
}

function checkAttrType(type: number): void {
  if (!Number.isInteger(type) || type < 1 || type > NLA_TYPE_MASK) {
    throw new KoffloadError('KOFFLOAD_ERR_INVALID_ARG', `attribute type must be in 1..${NLA_TYPE_MASK}, got ${type}`);
  }
}

/** One attribute with its padding; `flags` are NLA_F_* bits. */
export function putAttr(type: number, data: Uint8Array, flags = 0): Buffer {
  checkAttrType(type);
  const len = NLA_HDRLEN + data.byteLength;
  if (len > 0xffff) throw new KoffloadError('KOFFLOAD_ERR_INVALID_ARG', `attribute ${type} of ${data.byteLength} bytes does not fit nla_len`);
  const buf = Buffer.alloc(align4(len));
  wr16(buf, len, 0);
  wr16(buf, type | flags, 2);
  buf.set(data, NLA_HDRLEN);
  return buf;
}

function intBuf(bytes: 1 | 2 | 4, v: number, what: string): Buffer {
  checkUint(v, (bytes * 8) as 8 | 16 | 32, what);
  const b = Buffer.alloc(bytes);
  if (bytes === 1) b.writeUInt8(v, 0);
  else if (bytes === 2) wr16(b, v, 0);
  else wr32(b, v, 0);
  return b;
}

export const putU8 = (type: number, v: number): Buffer => putAttr(type, intBuf(1, v, `attribute ${type}`));
export const putU16 = (type: number, v: number): Buffer => putAttr(type, intBuf(2, v, `attribute ${type}`));
export const putU32 = (type: number, v: number): Buffer => putAttr(type, intBuf(4, v, `attribute ${type}`));

export function putU64(type: number, v: bigint | number): Buffer {
  const big = typeof v === 'bigint' ? v : Number.isSafeInteger(v) ? BigInt(v) : -1n;
  if (big < 0n || big > 0xffffffffffffffffn) throw new KoffloadError('KOFFLOAD_ERR_INVALID_ARG', `attribute ${type} must be a u64, got ${v}`);
  const b = Buffer.alloc(8);
  wr64(b, big, 0);
  return putAttr(type, b);
}

/** A NUL-terminated string attribute (the NUL is added here). */
export function putString(type: number, s: string): Buffer {
  const bytes = Buffer.from(s, 'utf8');
  if (bytes.includes(0)) throw new KoffloadError('KOFFLOAD_ERR_INVALID_ARG', `string attribute ${type} contains a NUL`);
  return putAttr(type, Buffer.concat([bytes, Buffer.alloc(1)]));
}

export const putBinary = (type: number, data: Uint8Array): Buffer => putAttr(type, data);

/** A nest (NLA_F_NESTED set) around already encoded attributes. */
export function putNested(type: number, children: readonly Uint8Array[]): Buffer {
  return putAttr(type, Buffer.concat(children.map(asBuffer)), NLA_F_NESTED);
}

// ---------------------------------------------------------------------------
// Typed attributes, driven by the generated attrSpec tables

export type AttrType = 'u8' | 'u16' | 'u32' | 'u64' | 'string' | 'binary' | 'nest' | 'pad';

/** One entry of a generated `attrSpec` table (src/generated/wire.ts). */
export interface AttrSpec {
  readonly id: number;
  readonly type: AttrType;
  /** string: bytes including the NUL; binary: bytes */
  readonly maxLen?: number;
  /** integers: highest allowed value (from `max:` or the enum) */
  readonly max?: number;
  /** integers of a flags enum: allowed bits */
  readonly mask?: number;
  readonly enum?: string;
  readonly nested?: string;
}

export type AttrSpecTable = { readonly [name: string]: AttrSpec };

/** Decoded value of an attribute type; a nest is its raw attribute area. */
export type AttrValue<T extends AttrType> = T extends 'u8' | 'u16' | 'u32'
  ? number
  : T extends 'u64'
    ? bigint
    : T extends 'string'
      ? string
      : T extends 'binary' | 'nest'
        ? Buffer
        : never;

/** Accepted input of an attribute type when encoding. */
export type AttrInput<T extends AttrType> = T extends 'u8' | 'u16' | 'u32'
  ? number
  : T extends 'u64'
    ? bigint | number
    : T extends 'string'
      ? string
      : T extends 'binary'
        ? Uint8Array
        : T extends 'nest'
          ? Uint8Array | readonly Uint8Array[]
          : never;

type DataKeys<S extends AttrSpecTable> = { [K in keyof S]: S[K]['type'] extends 'pad' ? never : K }[keyof S];

export type AttrValues<S extends AttrSpecTable> = { -readonly [K in DataKeys<S>]?: AttrValue<S[K]['type']> };
export type AttrInputs<S extends AttrSpecTable> = { readonly [K in DataKeys<S>]?: AttrInput<S[K]['type']> | undefined };

export interface DecodedAttrs<S extends AttrSpecTable> {
  values: AttrValues<S>;
  /** attribute types not in the spec, skipped */
  unknown: number[];
}

const byIdCache = new WeakMap<AttrSpecTable, Map<number, [string, AttrSpec]>>();

function byId(spec: AttrSpecTable): Map<number, [string, AttrSpec]> {
  let m = byIdCache.get(spec);
  if (!m) {
    m = new Map(Object.entries(spec).map(([name, s]) => [s.id, [name, s]]));
    byIdCache.set(spec, m);
  }
  return m;
}

const INT_SIZE: Partial<Record<AttrType, number>> = { u8: 1, u16: 2, u32: 4, u64: 8 };
const utf8 = new TextDecoder('utf-8', { fatal: true });

type Scalar = number | bigint | string | Buffer;

function decodeValue(name: string, spec: AttrSpec, a: RawAttr): Scalar {
  const what = `attribute ${name} (${spec.id})`;
  if (a.netByteOrder) throw new WireError(`${what} has NLA_F_NET_BYTEORDER`);
  if (spec.type === 'nest') {
    if (!a.nested) throw new WireError(`${what} is a nest without NLA_F_NESTED`);
    decodeRawAttrs(a.data); // structure check
    return a.data;
  }
  if (a.nested) throw new WireError(`${what} has NLA_F_NESTED but is not a nest`);
  const size = INT_SIZE[spec.type];
  if (size !== undefined) {
    if (a.data.length !== size) throw new WireError(`${what} is ${a.data.length} bytes, a ${spec.type} is ${size}`);
    const v: number | bigint =
      size === 1 ? a.data.readUInt8(0) : size === 2 ? rd16(a.data, 0) : size === 4 ? rd32(a.data, 0) : rd64(a.data, 0);
    if (spec.max !== undefined && BigInt(v) > BigInt(spec.max)) throw new WireError(`${what} is ${v}, above its max ${spec.max}`);
    if (spec.mask !== undefined && (BigInt(v) & ~BigInt(spec.mask)) !== 0n) {
      throw new WireError(`${what} is 0x${v.toString(16)}, outside its mask 0x${spec.mask.toString(16)}`);
    }
    return v;
  }
  if (spec.type === 'string') {
    const n = a.data.length;
    if (n === 0 || a.data[n - 1] !== 0) throw new WireError(`${what} is not NUL-terminated`);
    if (spec.maxLen !== undefined && n > spec.maxLen) throw new WireError(`${what} is ${n} bytes with its NUL, above ${spec.maxLen}`);
    if (a.data.indexOf(0) !== n - 1) throw new WireError(`${what} has a NUL inside`);
    try {
      return utf8.decode(a.data.subarray(0, n - 1));
    } catch {
      throw new WireError(`${what} is not valid UTF-8`);
    }
  }
  // binary
  if (spec.maxLen !== undefined && a.data.length > spec.maxLen) {
    throw new WireError(`${what} is ${a.data.length} bytes, above ${spec.maxLen}`);
  }
  return a.data;
}

/**
 * Validates one attribute the caller does not otherwise read (the generated
 * per-message decoders, for the family's attributes outside their message):
 * throws WireError where decodeAttrs would.
 */
export function checkAttr(name: string, spec: AttrSpec, b: Buffer, off: number, len: number, rawType: number): void {
  decodeValue(name, spec, { type: rawType & NLA_TYPE_MASK, nested: (rawType & NLA_F_NESTED) !== 0, netByteOrder: (rawType & NLA_F_NET_BYTEORDER) !== 0, data: b.subarray(off, off + len) });
}

/**
 * Decodes and validates an attribute area against a spec table (rules in
 * the module comment). Returned buffers share memory with `data`.
 */
export function decodeAttrs<S extends AttrSpecTable>(data: Uint8Array, spec: S): DecodedAttrs<S> {
  const ids = byId(spec);
  const values: Record<string, Scalar> = {};
  const unknown: number[] = [];
  for (const a of decodeRawAttrs(data)) {
    if (a.type === 0) throw new WireError('attribute type 0 (UNSPEC)');
    const hit = ids.get(a.type);
    if (!hit) {
      unknown.push(a.type);
      continue;
    }
    const [name, s] = hit;
    if (s.type === 'pad') continue;
    if (name in values) throw new WireError(`attribute ${name} (${s.id}) appears twice`);
    values[name] = decodeValue(name, s, a);
  }
  return { values: values as AttrValues<S>, unknown };
}

function invalid(name: string, why: string): KoffloadError {
  return new KoffloadError('KOFFLOAD_ERR_INVALID_ARG', `${name}: ${why}`);
}

function encodeValue(name: string, s: AttrSpec, v: unknown): Buffer {
  switch (s.type) {
    case 'u8':
    case 'u16':
    case 'u32': {
      const bits = s.type === 'u8' ? 8 : s.type === 'u16' ? 16 : 32;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 2 ** bits - 1) throw invalid(name, `must be a ${s.type}, got ${String(v)}`);
      if (s.max !== undefined && v > s.max) throw invalid(name, `${v} is above the max ${s.max}`);
      if (s.mask !== undefined && (v & ~s.mask) !== 0) throw invalid(name, `0x${v.toString(16)} has bits outside 0x${s.mask.toString(16)}`);
      return s.type === 'u8' ? putU8(s.id, v) : s.type === 'u16' ? putU16(s.id, v) : putU32(s.id, v);
    }
    case 'u64': {
      if (typeof v !== 'bigint' && typeof v !== 'number') throw invalid(name, 'must be a bigint');
      if (s.max !== undefined && BigInt(v) > BigInt(s.max)) throw invalid(name, `${v} is above the max ${s.max}`);
      try {
        return putU64(s.id, v);
      } catch {
        throw invalid(name, `must be a u64, got ${v}`);
      }
    }
    case 'string': {
      if (typeof v !== 'string') throw invalid(name, 'must be a string');
      const n = Buffer.byteLength(v, 'utf8') + 1;
      if (s.maxLen !== undefined && n > s.maxLen) throw invalid(name, `${n} bytes with the NUL, above ${s.maxLen}`);
      if (v.includes('\0')) throw invalid(name, 'contains a NUL');
      return putString(s.id, v);
    }
    case 'binary': {
      if (!(v instanceof Uint8Array)) throw invalid(name, 'must be a Buffer or Uint8Array');
      if (s.maxLen !== undefined && v.byteLength > s.maxLen) throw invalid(name, `${v.byteLength} bytes, above ${s.maxLen}`);
      return putBinary(s.id, v);
    }
    case 'nest': {
      if (v instanceof Uint8Array) return putNested(s.id, [v]);
      if (Array.isArray(v) && v.every((x) => x instanceof Uint8Array)) return putNested(s.id, v as Uint8Array[]);
      throw invalid(name, 'must be encoded attributes');
    }
    case 'pad':
      throw invalid(name, 'pad attributes are never sent');
  }
}

/**
 * Encodes the given values in spec order (attribute id order), validating
 * them against the spec first. Undefined values are left out.
 */
export function encodeAttrs<S extends AttrSpecTable>(spec: S, values: AttrInputs<S>): Buffer[] {
  const given = values as Readonly<Record<string, unknown>>;
  for (const k of Object.keys(given)) {
    if (!(k in spec)) throw invalid(k, 'not an attribute of this family');
  }
  return Object.entries(spec)
    .sort(([, a], [, b]) => a.id - b.id)
    .filter(([name]) => given[name] !== undefined)
    .map(([name, s]) => encodeValue(name, s, given[name]));
}

/**
 * A nest of u64 counters where attribute type = index + 1 (outcomes,
 * counters). Missing counters read as 0n; types past the known keys (a newer
 * module, or a pad attribute) are skipped; a wrong size, a repeated type or
 * type 0 are malformed.
 */
export function decodeU64Nest<K extends string>(data: Uint8Array, keys: readonly K[]): Record<K, bigint> {
  const out = Object.fromEntries(keys.map((k) => [k, 0n])) as Record<K, bigint>;
  const seen = new Set<number>();
  for (const a of decodeRawAttrs(data)) {
    if (a.type === 0) throw new WireError('counter nest holds attribute type 0');
    const key = keys[a.type - 1];
    if (key === undefined) continue;
    if (a.nested || a.netByteOrder) throw new WireError(`counter ${key} carries flag bits`);
    if (a.data.length !== 8) throw new WireError(`counter ${key} is ${a.data.length} bytes, a u64 is 8`);
    if (seen.has(a.type)) throw new WireError(`counter ${key} appears twice`);
    seen.add(a.type);
    out[key] = rd64(a.data, 0);
  }
  return out;
}

/** The inverse of {@link decodeU64Nest}: one u64 per index, type = index + 1. */
export function encodeU64Nest(type: number, values: readonly bigint[]): Buffer {
  return putNested(
    type,
    values.map((v, i) => putU64(i + 1, v)),
  );
}
