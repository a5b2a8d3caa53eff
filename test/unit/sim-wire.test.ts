// The simulator's wire layer against the kernel's rules, byte for byte
// where the bytes are the contract: strict attribute validation
// (lib/nlattr.c), netlink_ack() framing with extended ack TLVs, genl
// dispatch errors and dump framing. No timing here.
import assert from 'node:assert/strict';

import { KOFFLOAD } from '../../src/generated/wire.js';
import {
  NLM_F, NLMSG, NLA_F_NESTED, decodeNlError, decodeNlMessages, decodeRawAttrs, encodeGenlMsg, putAttr, putString, putU32, putU64,
  type NlMessage,
} from '../../src/netlink/codec.js';
import { nlAck } from '../../src/sim/genl.js';
import { type GenlFailure, type AttrTable, parseStrict, policyFromSpec } from '../../src/sim/policy.js';
import { SIM_FAMILY_IDS, startSimulator, type Simulator } from '../../src/sim/index.js';
import type { GenlSocket } from '../../src/netlink/socket.js';

const POLICY = policyFromSpec(KOFFLOAD.attrSpec);
const A = KOFFLOAD.attr;
const EINVAL = 22;
const ERANGE = 34;

function parse(...attrs: Buffer[]): AttrTable | GenlFailure {
  return parseStrict(Buffer.concat(attrs), 20, POLICY);
}

function failure(r: AttrTable | GenlFailure): GenlFailure {
  assert.ok(!(r instanceof Map), 'expected a validation failure');
  return r as GenlFailure;
}

describe('sim: strict attribute validation (lib/nlattr.c)', () => {
  it('accepts a valid set, NLA_F_NET_BYTEORDER, a missing last padding, and lets a repeat win', () => {
    const name = putString(A.subsysName, 'ktest');
    const u32be = putU32(A.version, 1);
    u32be.writeUInt16LE(A.version | 0x4000, 2);
    const last = putAttr(A.payload, Buffer.from([1]));
    const t = parse(name, u32be, putU32(A.mode, 1), putU32(A.mode, 2), last.subarray(0, 5));
    assert.ok(t instanceof Map);
    assert.equal(t.get(A.mode)?.data.readUInt32LE(0), 2);
    assert.equal(t.get(A.subsysName)?.offset, 20);
    assert.deepEqual(t.get(A.payload)?.data, Buffer.from([1]));
  });

  it('refuses unknown types, type 0 and the pad attribute with EINVAL and the offending offset', () => {
    const ok = putU32(A.subsysId, 1);
    let f = failure(parse(ok, putU32(99, 1)));
    assert.deepEqual([f.errno, f.extack.msg, f.extack.badAttrOffset], [EINVAL, 'Unknown attribute type', 20 + ok.length]);
    f = failure(parse(Buffer.from([8, 0, 0, 0, 1, 0, 0, 0])));
    assert.equal(f.extack.msg, 'Unknown attribute type');
    f = failure(parse(putU64(A.pad, 0)));
    assert.deepEqual([f.errno, f.extack.msg], [EINVAL, 'Unsupported attribute']);
  });

  it('refuses a fixed-size attribute of the wrong size with EINVAL and the policy', () => {
    const f = failure(parse(putU64(A.subsysId, 1)));
    assert.deepEqual([f.errno, f.extack.msg, f.extack.policy?.kind], [EINVAL, 'invalid attribute length', 'u32']);
  });

  it('checks NLA_F_NESTED both ways', () => {
    const flagged = putU32(A.mode, 1);
    flagged.writeUInt16LE(A.mode | NLA_F_NESTED, 2);
    assert.equal(failure(parse(flagged)).extack.msg, 'NLA_F_NESTED not expected');
    assert.equal(failure(parse(putAttr(A.outcomes, Buffer.alloc(0)))).extack.msg, 'NLA_F_NESTED is missing');
  });

  it('validates NUL_STRING like the kernel: NUL within len + 1, then the length', () => {
    const raw = (b: Buffer): Buffer => putAttr(A.subsysName, b);
    let f = failure(parse(raw(Buffer.from('abc'))));
    assert.deepEqual([f.errno, f.extack.msg], [EINVAL, 'Attribute failed policy validation']);
    f = failure(parse(raw(Buffer.from(`${'a'.repeat(40)}\0`))));
    assert.equal(f.errno, EINVAL, 'no NUL in the first 32 bytes');
    f = failure(parse(raw(Buffer.from(`abc\0${'x'.repeat(40)}`))));
    assert.equal(f.errno, ERANGE, 'NUL early, but too long');
    assert.ok(parse(raw(Buffer.from(`${'a'.repeat(31)}\0`))) instanceof Map);
    assert.ok(parse(raw(Buffer.from('ab\0cd'))) instanceof Map, 'a NUL inside a short string passes (read as "ab")');
  });

  it('refuses a too long binary and an out-of-range integer with ERANGE, a reserved flag bit with EINVAL', () => {
    let f = failure(parse(putAttr(A.payload, Buffer.alloc(4097))));
    assert.deepEqual([f.errno, f.extack.msg, f.extack.policy?.len], [ERANGE, 'Attribute failed policy validation', 4096]);
    f = failure(parse(putU32(A.mode, 4)));
    assert.deepEqual([f.errno, f.extack.msg, f.extack.policy?.max], [ERANGE, 'integer out of range', 3]);
    f = failure(parse(putU32(A.flags, 8)));
    assert.deepEqual([f.errno, f.extack.msg, f.extack.policy], [EINVAL, 'reserved bit set', undefined]);
  });

  it('refuses bytes left over that cannot be an attribute', () => {
    const f = failure(parse(putU32(A.subsysId, 1), Buffer.alloc(4, 0xff)));
    assert.deepEqual([f.errno, f.extack.msg], [EINVAL, 'bytes leftover after parsing attributes']);
  });
});

describe('sim: netlink_ack() framing', () => {
  const req = encodeGenlMsg({ type: 0x4b4f, flags: NLM_F.REQUEST | NLM_F.ACK, seq: 7, pid: 55, cmd: 6, version: 1 }, [putU32(A.subsysId, 1)]);

  it('sends an ACK capped, with the request header as it came and the requester as pid', () => {
    const ack = nlAck(req, 55, 0, {});
    const [m] = decodeNlMessages(ack) as [NlMessage];
    assert.deepEqual([m.header.type, m.header.flags, m.header.seq, m.header.pid, m.header.len], [NLMSG.ERROR, NLM_F.CAPPED, 7, 55, 36]);
    assert.equal(m.payload.readInt32LE(0), 0);
    assert.deepEqual(m.payload.subarray(4, 20), req.subarray(0, 16), 'original nlmsg_len kept');
  });

  it('echoes the whole request in an error and appends MSG, OFFS, POLICY, MISS_TYPE in that order', () => {
    const err = nlAck(req, 55, -EINVAL, { msg: 'why', badAttrOffset: 20, policy: { kind: 'u32', max: 3 }, missType: 16 });
    const [m] = decodeNlMessages(err) as [NlMessage];
    assert.equal(m.header.flags, NLM_F.ACK_TLVS);
    const info = decodeNlError(m);
    assert.deepEqual([info.errno, info.message, info.offset, info.missingType], [EINVAL, 'why', 20, 16]);
    assert.deepEqual(info.requestPayload, req.subarray(16));
    const tlvs = decodeRawAttrs(m.payload.subarray(4 + req.length));
    assert.deepEqual(tlvs.map((t) => [t.type, t.nested]), [[1, false], [2, false], [4, true], [5, false]]);
    // the policy nest: MIN_VALUE_U 0, MAX_VALUE_U 3, TYPE U32
    const pol = decodeRawAttrs(tlvs[2]!.data);
    assert.deepEqual(pol.map((a) => [a.type, a.data.length === 8 ? a.data.readBigUInt64LE(0) : a.data.readUInt32LE(0)]), [[4, 0n], [5, 3n], [1, 4]]);
  });
});

describe('sim: genl dispatch', () => {
  let sim: Simulator;
  let sock: GenlSocket;
  let inbox: Buffer[];
  let seq = 1;

  beforeEach(async () => {
    sim = await startSimulator({ transport: 'inproc' });
    const opts = sim.clientOptions();
    sock = opts.socket!;
    inbox = [];
    sock.on('datagram', (b) => inbox.push(b));
  });
  afterEach(async () => {
    sock.close();
    await sim.close();
  });

  async function exchange(msg: Buffer, datagrams: number): Promise<NlMessage[][]> {
    await sock.send([msg], { port: 0 });
    while (inbox.length < datagrams) await new Promise((r) => setImmediate(r));
    return inbox.splice(0).map((b) => decodeNlMessages(b));
  }

  const genl = (cmd: number, attrs: Buffer[], flags = NLM_F.REQUEST | NLM_F.ACK, type: number = SIM_FAMILY_IDS.koffload): Buffer =>
    encodeGenlMsg({ type, flags, seq: seq++, pid: sock.portId, cmd, version: 1 }, attrs);

  const errnoOf = (d: NlMessage[][]): number => decodeNlError(d[0]![0]!).errno;

  it('answers an unknown family with ENOENT, an unknown command with EOPNOTSUPP, a set reserved field with EINVAL', async () => {
    assert.equal(errnoOf(await exchange(genl(1, [], NLM_F.REQUEST, 0x7777), 1)), 2);
    assert.equal(errnoOf(await exchange(genl(42, []), 1)), 95);
    const m = genl(KOFFLOAD.cmd.getSubsys, [putU32(A.subsysId, 1)]);
    m.writeUInt16LE(1, 18);
    assert.equal(errnoOf(await exchange(m, 1)), EINVAL);
  });

  it('reports a missing required attribute as EINVAL with NLMSGERR_ATTR_MISS_TYPE', async () => {
    const d = await exchange(genl(KOFFLOAD.cmd.bind, [putString(A.subsysName, 'ktest')]), 1);
    const info = decodeNlError(d[0]![0]!);
    assert.deepEqual([info.errno, info.missingType, info.message], [EINVAL, A.version, undefined]);
  });

  it('refuses an unprivileged admin command with EPERM and serves its GET', async () => {
    const c = sim.clientOptions({ privileged: false }).socket!;
    const got: Buffer[] = [];
    c.on('datagram', (b) => got.push(b));
    await c.send([encodeGenlMsg({ type: SIM_FAMILY_IDS.koffload, flags: NLM_F.REQUEST, seq: 1, pid: c.portId, cmd: KOFFLOAD.cmd.setMode, version: 1 }, [putU32(A.subsysId, 1), putU32(A.mode, 0)])], { port: 0 });
    await c.send([encodeGenlMsg({ type: SIM_FAMILY_IDS.koffload, flags: NLM_F.REQUEST, seq: 2, pid: c.portId, cmd: KOFFLOAD.cmd.getSubsys, version: 1 }, [putU32(A.subsysId, 1)])], { port: 0 });
    while (got.length < 2) await new Promise((r) => setImmediate(r));
    const [e, g] = got.map((b) => decodeNlMessages(b)[0]!);
    assert.equal(decodeNlError(e!).errno, 1);
    assert.deepEqual([g!.header.type, g!.header.seq, g!.header.flags], [SIM_FAMILY_IDS.koffload, 2, 0]);
    c.close();
  });

  it('ignores messages without NLM_F_REQUEST unless they ask for an ACK', async () => {
    await sock.send([genl(KOFFLOAD.cmd.getSubsys, [putU32(A.subsysId, 1)], 0)], { port: 0 });
    const d = await exchange(genl(KOFFLOAD.cmd.getSubsys, [putU32(A.subsysId, 1)], NLM_F.ACK), 1);
    assert.equal(d.length, 1, 'only the ACK of the second');
    assert.equal(decodeNlError(d[0]![0]!).errno, 0);
  });

  it('dumps every subsystem as NLM_F_MULTI messages in one datagram, then NLMSG_DONE in another, without an ACK', async () => {
    const d = await exchange(genl(KOFFLOAD.cmd.getSubsys, [], NLM_F.REQUEST | NLM_F.ACK | NLM_F.DUMP), 2);
    assert.equal(d.length, 2);
    assert.deepEqual(d[0]!.map((m) => [m.header.type, m.header.flags, m.header.pid]), [
      [SIM_FAMILY_IDS.koffload, NLM_F.MULTI, sock.portId],
      [SIM_FAMILY_IDS.koffload, NLM_F.MULTI, sock.portId],
    ]);
    const done = d[1]![0]!;
    assert.deepEqual([done.header.type, done.header.flags, done.payload.readInt32LE(0)], [NLMSG.DONE, NLM_F.MULTI, 0]);
  });

  it('validates a dump request strictly too', async () => {
    assert.equal(errnoOf(await exchange(genl(KOFFLOAD.cmd.getSubsys, [putU32(99, 0)], NLM_F.REQUEST | NLM_F.DUMP), 1)), EINVAL);
  });

  it('puts the reply attributes of GET-SUBSYS in the kernel order', async () => {
    const d = await exchange(genl(KOFFLOAD.cmd.getSubsys, [putString(A.subsysName, 'ktest2')], NLM_F.REQUEST), 1);
    const m = d[0]![0]!;
    const types = decodeRawAttrs(m.payload.subarray(4)).map((a) => a.type);
    assert.deepEqual(types, [
      A.subsysId, A.subsysName, A.bound, A.portid, A.boundPid, A.mode, A.canaryPermille, A.deadlineMs, A.maxInflight, A.pending, A.circuit,
      A.nrOps, A.payloadMax, A.inflightMax, A.deadlineMaxMs, A.outcomes, A.counters,
    ]);
    assert.deepEqual([m.payload[0], m.payload[1]], [KOFFLOAD.cmd.getSubsys, 1], 'cmd and version');
  });
});
