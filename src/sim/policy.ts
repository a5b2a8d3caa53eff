/**
 * The kernel's strict attribute validation (lib/nlattr.c, NL_VALIDATE_STRICT,
 * kernel 6.1), reproduced rule for rule so the simulator rejects exactly what
 * koffload.ko rejects, with the same errno and the same extended ack.
 *
 * The policy of each attribute is derived from the generated attrSpec table
 * the same way scripts/gen.ts derives the kernel's nla_policy tables
 * (koffload_nl_gen.h): string -> NLA_NUL_STRING with len maxLen - 1, integer
 * with max or enum -> NLA_POLICY_FULL_RANGE(0, max), flags -> NLA_POLICY_MASK,
 * binary -> NLA_BINARY with len maxLen, nest -> NLA_NESTED, pad -> no entry
 * (NLA_UNSPEC, which strict validation refuses).
 *
 * Order of checks, as in __nla_validate_parse() and validate_nla():
 * 1. the walk stops at the first attribute that does not fit (nla_ok);
 * 2. type 0 or above maxtype: "Unknown attribute type", EINVAL;
 * 3. fixed-size types of the wrong size: "invalid attribute length", EINVAL;
 * 4. NLA_F_NESTED missing on a nest or present elsewhere, EINVAL;
 * 5. the type's own checks (NLA_UNSPEC "Unsupported attribute" EINVAL;
 *    strings and binaries "Attribute failed policy validation", ERANGE, or
 *    EINVAL for a NUL_STRING without a NUL in its first len + 1 bytes);
 * 6. range ("integer out of range", ERANGE) or mask ("reserved bit set",
 *    EINVAL);
 * 7. bytes left over that cannot be an attribute: EINVAL. A last attribute
 *    whose padding is missing is fine (rem goes negative, not positive).
 * A later copy of an attribute replaces an earlier one (no duplicate check).
 * NLA_F_NET_BYTEORDER is ignored, as the kernel ignores it for these types.
 */
import { type AttrSpecTable } from '../netlink/codec.js';

export const EINVAL = 22;
export const ERANGE = 34;

/** linux/netlink.h enum netlink_attribute_type (policy dumps) */
const NL_ATTR_TYPE = { U32: 4, U64: 5, BINARY: 10, NUL_STRING: 12, NESTED: 13 } as const;
/** linux/netlink.h enum netlink_policy_type_attr */
const NL_POLICY_TYPE_ATTR = { TYPE: 1, MIN_VALUE_U: 4, MAX_VALUE_U: 5, MAX_LENGTH: 7, MASK: 12 } as const;

export type NlaKind = 'u32' | 'u64' | 'nul-string' | 'binary' | 'nested' | 'unspec';

export interface NlaPolicy {
  kind: NlaKind;
  /** NUL_STRING: longest string without its NUL; BINARY: longest payload */
  len?: number;
  /** NLA_POLICY_FULL_RANGE maximum (minimum is 0) */
  max?: number;
  /** NLA_POLICY_MASK */
  mask?: number;
}

export interface FamilyPolicy {
  maxattr: number;
  /** index = attribute type; missing entries are NLA_UNSPEC */
  attrs: ReadonlyArray<NlaPolicy | undefined>;
}

/** What the kernel puts into struct netlink_ext_ack. */
export interface ExtAckInfo {
  msg?: string;
  /** offset of the offending attribute from the start of the nlmsghdr */
  badAttrOffset?: number;
  /** the policy entry that failed, dumped as NLMSGERR_ATTR_POLICY */
  policy?: NlaPolicy;
  /** a required attribute that is missing (GENL_REQ_ATTR_CHECK) */
  missType?: number;
}

export interface GenlFailure {
  errno: number;
  extack: ExtAckInfo;
}

/** One parsed attribute: its data and its offset in the message. */
export interface ParsedAttr {
  data: Buffer;
  /** offset of the nlattr header from the start of the nlmsghdr */
  offset: number;
}

export type AttrTable = Map<number, ParsedAttr>;

export function policyFromSpec(spec: AttrSpecTable): FamilyPolicy {
  const attrs: Array<NlaPolicy | undefined> = [];
  let maxattr = 0;
  for (const s of Object.values(spec)) {
    maxattr = Math.max(maxattr, s.id);
    let p: NlaPolicy | undefined;
    switch (s.type) {
      case 'u32':
      case 'u8':
      case 'u16':
        p = { kind: 'u32' };
        if (s.mask !== undefined) p.mask = s.mask;
        else if (s.max !== undefined) p.max = s.max;
        break;
      case 'u64':
        p = { kind: 'u64' };
        break;
      case 'string':
        p = { kind: 'nul-string', ...(s.maxLen !== undefined ? { len: s.maxLen - 1 } : {}) };
        break;
      case 'binary':
        p = { kind: 'binary', ...(s.maxLen !== undefined ? { len: s.maxLen } : {}) };
        break;
      case 'nest':
        p = { kind: 'nested' };
        break;
      case 'pad':
        p = undefined;
        break;
    }
    attrs[s.id] = p;
  }
  return { maxattr, attrs };
}

const FIXED_LEN: Partial<Record<NlaKind, number>> = { u32: 4, u64: 8 };

function fail(errno: number, extack: ExtAckInfo): GenlFailure {
  return { errno, extack };
}

/**
 * Parses and validates the attribute area `attrs` (which starts at
 * `attrsOffset` in the message) like __nlmsg_parse() in strict mode.
 * Returns the table or the failure the kernel would report.
 */
export function parseStrict(attrs: Buffer, attrsOffset: number, policy: FamilyPolicy): AttrTable | GenlFailure {
  const tb: AttrTable = new Map();
  let off = 0;
  let rem = attrs.length;
  // nla_for_each_attr + nla_ok
  while (rem >= 4) {
    const nlaLen = attrs.readUInt16LE(off);
    if (nlaLen < 4 || nlaLen > rem) break;
    const rawType = attrs.readUInt16LE(off + 2);
    const type = rawType & 0x3fff; // nla_type(): both flag bits masked
    const nested = (rawType & 0x8000) !== 0;
    const data = attrs.subarray(off + 4, off + nlaLen);
    const at = attrsOffset + off;
    if (type === 0 || type > policy.maxattr) return fail(EINVAL, { msg: 'Unknown attribute type', badAttrOffset: at });
    const pt = policy.attrs[type];
    const err = validateNla(pt ?? { kind: 'unspec' }, data, nested, at);
    if (err) return err;
    tb.set(type, { data, offset: at });
    const total = (nlaLen + 3) & ~3;
    off += total;
    rem -= total;
  }
  if (rem > 0) return fail(EINVAL, { msg: 'bytes leftover after parsing attributes' });
  return tb;
}

function validateNla(pt: NlaPolicy, data: Buffer, nested: boolean, at: number): GenlFailure | undefined {
  const attrlen = data.length;
  const fixed = FIXED_LEN[pt.kind];
  if (fixed !== undefined && attrlen !== fixed) return fail(EINVAL, { msg: 'invalid attribute length', badAttrOffset: at, policy: pt });
  if (pt.kind === 'nested' && !nested) return fail(EINVAL, { msg: 'NLA_F_NESTED is missing', badAttrOffset: at });
  if (pt.kind !== 'nested' && pt.kind !== 'unspec' && nested) return fail(EINVAL, { msg: 'NLA_F_NESTED not expected', badAttrOffset: at });
  const policyFail = (errno: number): GenlFailure => fail(errno, { msg: 'Attribute failed policy validation', badAttrOffset: at, policy: pt });
  switch (pt.kind) {
    case 'unspec':
      return fail(EINVAL, { msg: 'Unsupported attribute', badAttrOffset: at });
    case 'nul-string': {
      const minlen = pt.len !== undefined ? Math.min(attrlen, pt.len + 1) : attrlen;
      if (minlen === 0 || data.subarray(0, minlen).indexOf(0) < 0) return policyFail(EINVAL);
      // then the NLA_STRING checks
      let n = attrlen;
      if (n < 1) return policyFail(ERANGE);
      if (pt.len !== undefined) {
        if (data[n - 1] === 0) n--;
        if (n > pt.len) return policyFail(ERANGE);
      }
      return undefined;
    }
    case 'binary':
      if (pt.len !== undefined && attrlen > pt.len) return policyFail(ERANGE);
      return undefined;
    case 'nested':
      // no nested policy: only the size of a non-empty nest is checked
      if (attrlen !== 0 && attrlen < 4) return policyFail(ERANGE);
      return undefined;
    case 'u32': {
      const v = data.readUInt32LE(0);
      if (pt.max !== undefined && v > pt.max) return fail(ERANGE, { msg: 'integer out of range', badAttrOffset: at, policy: pt });
      if (pt.mask !== undefined && (v & ~pt.mask) >>> 0 !== 0) return fail(EINVAL, { msg: 'reserved bit set', badAttrOffset: at });
      return undefined;
    }
    case 'u64':
      return undefined;
  }
}

function nla(type: number, data: Buffer): Buffer {
  const len = 4 + data.length;
  const b = Buffer.alloc((len + 3) & ~3);
  b.writeUInt16LE(len, 0);
  b.writeUInt16LE(type, 2);
  data.copy(b, 4);
  return b;
}

const u32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0, 0);
  return b;
};
const u64 = (v: bigint): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(v, 0);
  return b;
};

/**
 * NLMSGERR_ATTR_POLICY as netlink_policy_dump_write_attr() writes it for
 * the policy kinds used here (x86-64: u64 attributes carry no pad).
 */
export function encodePolicyNest(type: number, pt: NlaPolicy): Buffer {
  const parts: Buffer[] = [];
  let t: number;
  switch (pt.kind) {
    case 'u32':
    case 'u64': {
      t = pt.kind === 'u32' ? NL_ATTR_TYPE.U32 : NL_ATTR_TYPE.U64;
      if (pt.mask !== undefined) {
        parts.push(nla(NL_POLICY_TYPE_ATTR.MASK, u64(BigInt(pt.mask))));
        break;
      }
      const max = pt.max !== undefined ? BigInt(pt.max) : pt.kind === 'u32' ? 0xffffffffn : 0xffffffffffffffffn;
      parts.push(nla(NL_POLICY_TYPE_ATTR.MIN_VALUE_U, u64(0n)), nla(NL_POLICY_TYPE_ATTR.MAX_VALUE_U, u64(max)));
      break;
    }
    case 'binary':
      t = NL_ATTR_TYPE.BINARY;
      if (pt.len !== undefined) parts.push(nla(NL_POLICY_TYPE_ATTR.MAX_LENGTH, u32(pt.len)));
      break;
    case 'nul-string':
      t = NL_ATTR_TYPE.NUL_STRING;
      if (pt.len !== undefined) parts.push(nla(NL_POLICY_TYPE_ATTR.MAX_LENGTH, u32(pt.len)));
      break;
    case 'nested':
      t = NL_ATTR_TYPE.NESTED;
      break;
    case 'unspec':
      return Buffer.alloc(0);
  }
  parts.push(nla(NL_POLICY_TYPE_ATTR.TYPE, u32(t)));
  const body = Buffer.concat(parts);
  const out = nla(type, body);
  out.writeUInt16LE(type | 0x8000, 2);
  return out;
}
