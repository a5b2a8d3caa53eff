// Generated from proto/koffload.genl.yaml by `npm run gen` (scripts/gen.ts).
// Do not edit: change the source and regenerate.
//
// Per-message codecs of the operations whose attributes the spec lists:
// decode<Op>() walks one message's attribute area once (binaries as offset and
// length into the buffer) and encode<Op>() writes them into a buffer, with the
// validation rules of src/netlink/codec.ts. The fast path of
// src/kernel/client.ts uses them.

import { WireError, KoffloadError } from '../errors.js';
import { checkAttr, rd16, rd32, rd64, wr16, wr32, wr64 } from '../netlink/codec.js';
import { KOFFLOAD } from './wire.js';

const bad = (what: string): WireError => new WireError(what);
const invalid = (name: string, why: string): KoffloadError => new KoffloadError('KOFFLOAD_ERR_INVALID_ARG', `${name}: ${why}`);

/** Names of the koffload attributes a REQUEST does not carry, by id (validated when present). */
const OTHER_Request: Record<number, string> = { 1: 'subsysName', 8: 'status', 10: 'mode', 11: 'canaryPermille', 12: 'deadlineMs', 13: 'maxInflight', 14: 'cacheKey', 15: 'cacheTtlMs', 16: 'version', 17: 'portid', 18: 'pending', 19: 'outcomes', 20: 'counters', 21: 'circuit', 22: 'payloadMax', 23: 'inflightMax', 24: 'deadlineMaxMs', 25: 'nrOps', 26: 'boundPid', 28: 'bound' };

/** The attributes of one koffload REQUEST message (binaries: offset and length into the decoded buffer; -1 when absent). */
export interface RequestAttrs {
  reqId: bigint;
  subsysId: number;
  op: number;
  deadlineNs: bigint;
  flags: number;
  payloadOff: number;
  payloadLen: number;
  defaultOff: number;
  defaultLen: number;
}

/**
 * Decodes the attribute area b[off, end) of a REQUEST: strict sizes, ranges and
 * lengths; a repeated attribute, type 0 or stray flag bits are malformed, and so is a missing
 * req-id, subsys-id, op, deadline-ns, flags, payload
 * (WireError); unknown types and pads are skipped.
 */
export function decodeRequest(b: Buffer, off: number, end: number): RequestAttrs {
  let seen = 0;
  let reqId: bigint | undefined;
  let subsysId: number | undefined;
  let op: number | undefined;
  let deadlineNs: bigint | undefined;
  let flags: number | undefined;
  let payloadOff = -1;
  let payloadLen = 0;
  let defaultOff = -1;
  let defaultLen = 0;
  while (off < end) {
    if (end - off < 4) throw bad(`${end - off} trailing bytes after the attributes at offset ${off}`);
    const len = rd16(b, off);
    const raw = rd16(b, off + 2);
    const type = raw & 0x3fff;
    if (len < 4) throw bad(`nla_len ${len} of attribute ${type} at offset ${off} is shorter than its header`);
    if (len > end - off) throw bad(`nla_len ${len} of attribute ${type} at offset ${off} exceeds the ${end - off} bytes left`);
    const d = off + 4;
    const n = len - 4;
    switch (type) {
      case 0:
        throw bad('attribute type 0 (UNSPEC)');
      case 3:
        if ((raw & 0xc000) !== 0) throw bad('attribute reqId (3) has NLA_F_NESTED or NLA_F_NET_BYTEORDER');
        if (reqId !== undefined) throw bad('attribute reqId (3) appears twice');
        if (n !== 8) throw bad(`attribute reqId (3) is ${n} bytes, a u64 is 8`);
        reqId = rd64(b, d);
        break;
      case 2:
        if ((raw & 0xc000) !== 0) throw bad('attribute subsysId (2) has NLA_F_NESTED or NLA_F_NET_BYTEORDER');
        if (subsysId !== undefined) throw bad('attribute subsysId (2) appears twice');
        if (n !== 4) throw bad(`attribute subsysId (2) is ${n} bytes, a u32 is 4`);
        subsysId = rd32(b, d);
        break;
      case 4:
        if ((raw & 0xc000) !== 0) throw bad('attribute op (4) has NLA_F_NESTED or NLA_F_NET_BYTEORDER');
        if (op !== undefined) throw bad('attribute op (4) appears twice');
        if (n !== 4) throw bad(`attribute op (4) is ${n} bytes, a u32 is 4`);
        op = rd32(b, d);
        if (op > 63) throw bad(`attribute op (4) is ${op}, above its max 63`);
        break;
      case 5:
        if ((raw & 0xc000) !== 0) throw bad('attribute deadlineNs (5) has NLA_F_NESTED or NLA_F_NET_BYTEORDER');
        if (deadlineNs !== undefined) throw bad('attribute deadlineNs (5) appears twice');
        if (n !== 8) throw bad(`attribute deadlineNs (5) is ${n} bytes, a u64 is 8`);
        deadlineNs = rd64(b, d);
        break;
      case 6:
        if ((raw & 0xc000) !== 0) throw bad('attribute flags (6) has NLA_F_NESTED or NLA_F_NET_BYTEORDER');
        if (flags !== undefined) throw bad('attribute flags (6) appears twice');
        if (n !== 4) throw bad(`attribute flags (6) is ${n} bytes, a u32 is 4`);
        flags = rd32(b, d);
        break;
      case 7:
        if ((raw & 0xc000) !== 0) throw bad('attribute payload (7) has NLA_F_NESTED or NLA_F_NET_BYTEORDER');
        if (payloadOff >= 0) throw bad('attribute payload (7) appears twice');
        if (n > 4096) throw bad(`attribute payload (7) is ${n} bytes, above 4096`);
        payloadOff = d;
        payloadLen = n;
        break;
      case 9:
        if ((raw & 0xc000) !== 0) throw bad('attribute default (9) has NLA_F_NESTED or NLA_F_NET_BYTEORDER');
        if (defaultOff >= 0) throw bad('attribute default (9) appears twice');
        if (n > 4096) throw bad(`attribute default (9) is ${n} bytes, above 4096`);
        defaultOff = d;
        defaultLen = n;
        break;
      case 27:
        break; // pad
      case 1:
      case 8:
      case 10:
      case 11:
      case 12:
      case 13:
      case 14:
      case 15:
      case 16:
      case 17:
      case 18:
      case 19:
      case 20:
      case 21:
      case 22:
      case 23:
      case 24:
      case 25:
      case 26:
      case 28:
        if ((seen & (1 << type)) !== 0) throw bad(`attribute ${type} appears twice`);
        seen |= 1 << type;
        checkAttr(OTHER_Request[type]!, KOFFLOAD.attrSpec[OTHER_Request[type]! as keyof typeof KOFFLOAD.attrSpec], b, d, n, raw);
        break;
      default:
        break; // a type this build does not know (a newer module): skipped
    }
    off += (len + 3) & ~3;
  }
  if (reqId === undefined) throw bad('missing attribute req-id');
  if (subsysId === undefined) throw bad('missing attribute subsys-id');
  if (op === undefined) throw bad('missing attribute op');
  if (deadlineNs === undefined) throw bad('missing attribute deadline-ns');
  if (flags === undefined) throw bad('missing attribute flags');
  if (payloadOff < 0) throw bad('missing attribute payload');
  return { reqId, subsysId, op, deadlineNs, flags, payloadOff, payloadLen, defaultOff, defaultLen };
}

/** What encodeRequest() writes (binaries as bytes; undefined attributes are left out). */
export interface RequestValues {
  reqId: bigint;
  subsysId: number;
  op: number;
  deadlineNs: bigint;
  flags: number;
  payload: Uint8Array;
  default?: Uint8Array | undefined;
}

/** Bytes encodeRequest() writes for `v` at most (exact unless a string is multi-byte UTF-8). */
export function sizeRequest(v: RequestValues): number {
  let n = 0;
  n += 12;
  n += 8;
  n += 8;
  n += 12;
  n += 8;
  n += ((4 + v.payload.length + 3) & ~3);
  if (v.default !== undefined) n += ((4 + v.default.length + 3) & ~3);
  return n;
}

/**
 * Writes the attributes of a REQUEST into b at off (room: sizeRequest(v));
 * returns the offset after them. KOFFLOAD_ERR_INVALID_ARG for a value
 * outside its type or range, before anything is written.
 */
export function encodeRequest(b: Buffer, off: number, v: RequestValues): number {
  if ((typeof v.reqId !== 'bigint' || v.reqId < 0n || v.reqId > 0xffffffffffffffffn)) throw invalid('reqId', `must be a u64 bigint, got ${String(v.reqId)}`);
  if ((typeof v.subsysId !== 'number' || !Number.isInteger(v.subsysId) || v.subsysId < 0 || v.subsysId > 4294967295)) throw invalid('subsysId', `must be an integer in 0..4294967295, got ${String(v.subsysId)}`);
  if ((typeof v.op !== 'number' || !Number.isInteger(v.op) || v.op < 0 || v.op > 63)) throw invalid('op', `must be an integer in 0..63, got ${String(v.op)}`);
  if ((typeof v.deadlineNs !== 'bigint' || v.deadlineNs < 0n || v.deadlineNs > 0xffffffffffffffffn)) throw invalid('deadlineNs', `must be a u64 bigint, got ${String(v.deadlineNs)}`);
  if ((typeof v.flags !== 'number' || !Number.isInteger(v.flags) || v.flags < 0 || v.flags > 4294967295)) throw invalid('flags', `must be an integer in 0..4294967295, got ${String(v.flags)}`);
  if ((v.flags & ~7) !== 0) throw invalid('flags', `0x${v.flags.toString(16)} has bits outside 0x7`);
  if (!(v.payload instanceof Uint8Array)) throw invalid('payload', 'must be a Buffer or Uint8Array');
  if (v.payload.length > 4096) throw invalid('payload', `${v.payload.length} bytes, above 4096`);
  if (v.default !== undefined && !(v.default instanceof Uint8Array)) throw invalid('default', 'must be a Buffer or Uint8Array');
  if (v.default !== undefined && v.default.length > 4096) throw invalid('default', `${v.default.length} bytes, above 4096`);
  {
    wr16(b, 12, off);
    wr16(b, 3, off + 2);
    wr64(b, v.reqId, off + 4);
    off += 12;
  }
  {
    wr16(b, 8, off);
    wr16(b, 2, off + 2);
    wr32(b, v.subsysId, off + 4);
    off += 8;
  }
  {
    wr16(b, 8, off);
    wr16(b, 4, off + 2);
    wr32(b, v.op, off + 4);
    off += 8;
  }
  {
    wr16(b, 12, off);
    wr16(b, 5, off + 2);
    wr64(b, v.deadlineNs, off + 4);
    off += 12;
  }
  {
    wr16(b, 8, off);
    wr16(b, 6, off + 2);
    wr32(b, v.flags, off + 4);
    off += 8;
  }
  {
    const n = v.payload.length;
    wr16(b, 4 + n, off);
    wr16(b, 7, off + 2);
    b.set(v.payload, off + 4);
    b.fill(0, off + 4 + n, off + ((4 + n + 3) & ~3));
    off += (4 + n + 3) & ~3;
  }
  if (v.default !== undefined) {
    const n = v.default.length;
    wr16(b, 4 + n, off);
    wr16(b, 9, off + 2);
    b.set(v.default, off + 4);
    b.fill(0, off + 4 + n, off + ((4 + n + 3) & ~3));
    off += (4 + n + 3) & ~3;
  }
  return off;
}

/** Names of the koffload attributes a REPLY does not carry, by id (validated when present). */
const OTHER_Reply: Record<number, string> = { 1: 'subsysName', 2: 'subsysId', 4: 'op', 5: 'deadlineNs', 6: 'flags', 9: 'default', 10: 'mode', 11: 'canaryPermille', 12: 'deadlineMs', 13: 'maxInflight', 14: 'cacheKey', 15: 'cacheTtlMs', 16: 'version', 17: 'portid', 18: 'pending', 19: 'outcomes', 20: 'counters', 21: 'circuit', 22: 'payloadMax', 23: 'inflightMax', 24: 'deadlineMaxMs', 25: 'nrOps', 26: 'boundPid', 28: 'bound' };

/** The attributes of one koffload REPLY message (binaries: offset and length into the decoded buffer; -1 when absent). */
export interface ReplyAttrs {
  reqId: bigint;
  status: number;
  payloadOff: number;
  payloadLen: number;
}

/**
 * Decodes the attribute area b[off, end) of a REPLY: strict sizes, ranges and
 * lengths; a repeated attribute, type 0 or stray flag bits are malformed, and so is a missing
 * req-id, status
 * (WireError); unknown types and pads are skipped.
 */
export function decodeReply(b: Buffer, off: number, end: number): ReplyAttrs {
  let seen = 0;
  let reqId: bigint | undefined;
  let status: number | undefined;
  let payloadOff = -1;
  let payloadLen = 0;
  while (off < end) {
    if (end - off < 4) throw bad(`${end - off} trailing bytes after the attributes at offset ${off}`);
    const len = rd16(b, off);
    const raw = rd16(b, off + 2);
    const type = raw & 0x3fff;
    if (len < 4) throw bad(`nla_len ${len} of attribute ${type} at offset ${off} is shorter than its header`);
    if (len > end - off) throw bad(`nla_len ${len} of attribute ${type} at offset ${off} exceeds the ${end - off} bytes left`);
    const d = off + 4;
    const n = len - 4;
    switch (type) {
      case 0:
        throw bad('attribute type 0 (UNSPEC)');
      case 3:
        if ((raw & 0xc000) !== 0) throw bad('attribute reqId (3) has NLA_F_NESTED or NLA_F_NET_BYTEORDER');
        if (reqId !== undefined) throw bad('attribute reqId (3) appears twice');
        if (n !== 8) throw bad(`attribute reqId (3) is ${n} bytes, a u64 is 8`);
        reqId = rd64(b, d);
        break;
      case 8:
        if ((raw & 0xc000) !== 0) throw bad('attribute status (8) has NLA_F_NESTED or NLA_F_NET_BYTEORDER');
        if (status !== undefined) throw bad('attribute status (8) appears twice');
        if (n !== 4) throw bad(`attribute status (8) is ${n} bytes, a u32 is 4`);
        status = rd32(b, d);
        if (status > 2) throw bad(`attribute status (8) is ${status}, above its max 2`);
        break;
      case 7:
        if ((raw & 0xc000) !== 0) throw bad('attribute payload (7) has NLA_F_NESTED or NLA_F_NET_BYTEORDER');
        if (payloadOff >= 0) throw bad('attribute payload (7) appears twice');
        if (n > 4096) throw bad(`attribute payload (7) is ${n} bytes, above 4096`);
        payloadOff = d;
        payloadLen = n;
        break;
      case 27:
        break; // pad
      case 1:
      case 2:
      case 4:
      case 5:
      case 6:
      case 9:
      case 10:
      case 11:
      case 12:
      case 13:
      case 14:
      case 15:
      case 16:
      case 17:
      case 18:
      case 19:
      case 20:
      case 21:
      case 22:
      case 23:
      case 24:
      case 25:
      case 26:
      case 28:
        if ((seen & (1 << type)) !== 0) throw bad(`attribute ${type} appears twice`);
        seen |= 1 << type;
        checkAttr(OTHER_Reply[type]!, KOFFLOAD.attrSpec[OTHER_Reply[type]! as keyof typeof KOFFLOAD.attrSpec], b, d, n, raw);
        break;
      default:
        break; // a type this build does not know (a newer module): skipped
    }
    off += (len + 3) & ~3;
  }
  if (reqId === undefined) throw bad('missing attribute req-id');
  if (status === undefined) throw bad('missing attribute status');
  return { reqId, status, payloadOff, payloadLen };
}

/** What encodeReply() writes (binaries as bytes; undefined attributes are left out). */
export interface ReplyValues {
  reqId: bigint;
  status: number;
  payload?: Uint8Array | undefined;
}

/** Bytes encodeReply() writes for `v` at most (exact unless a string is multi-byte UTF-8). */
export function sizeReply(v: ReplyValues): number {
  let n = 0;
  n += 12;
  n += 8;
  if (v.payload !== undefined) n += ((4 + v.payload.length + 3) & ~3);
  return n;
}

/**
 * Writes the attributes of a REPLY into b at off (room: sizeReply(v));
 * returns the offset after them. KOFFLOAD_ERR_INVALID_ARG for a value
 * outside its type or range, before anything is written.
 */
export function encodeReply(b: Buffer, off: number, v: ReplyValues): number {
  if ((typeof v.reqId !== 'bigint' || v.reqId < 0n || v.reqId > 0xffffffffffffffffn)) throw invalid('reqId', `must be a u64 bigint, got ${String(v.reqId)}`);
  if ((typeof v.status !== 'number' || !Number.isInteger(v.status) || v.status < 0 || v.status > 2)) throw invalid('status', `must be an integer in 0..2, got ${String(v.status)}`);
  if (v.payload !== undefined && !(v.payload instanceof Uint8Array)) throw invalid('payload', 'must be a Buffer or Uint8Array');
  if (v.payload !== undefined && v.payload.length > 4096) throw invalid('payload', `${v.payload.length} bytes, above 4096`);
  {
    wr16(b, 12, off);
    wr16(b, 3, off + 2);
    wr64(b, v.reqId, off + 4);
    off += 12;
  }
  {
    wr16(b, 8, off);
    wr16(b, 8, off + 2);
    wr32(b, v.status, off + 4);
    off += 8;
  }
  if (v.payload !== undefined) {
    const n = v.payload.length;
    wr16(b, 4 + n, off);
    wr16(b, 7, off + 2);
    b.set(v.payload, off + 4);
    b.fill(0, off + 4 + n, off + ((4 + n + 3) & ~3));
    off += (4 + n + 3) & ~3;
  }
  return off;
}
