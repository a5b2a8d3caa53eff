// Netlink / genl framing and the typed attribute codec: round trips and
// every rejection the module comment of src/netlink/codec.ts promises.
import assert from 'node:assert/strict';
import { endianness } from 'node:os';
import { KoffloadError, WireError, errnoName } from '../../src/errors.js';
import { KOFFLOAD } from '../../src/generated/wire.js';
import { parseRequest, parseSubsys } from '../../src/kernel/client.js';
import {
  NLA_F_NESTED,
  NLMSG,
  NLM_F,
  decodeAttrs,
  decodeGenl,
  decodeNlDone,
  decodeNlError,
  decodeNlMessages,
  decodeRawAttrs,
  decodeU64Nest,
  encodeAttrs,
  encodeGenlMsg,
  encodeNlDone,
  encodeNlError,
  encodeNlMsg,
  encodeU64Nest,
  putAttr,
  putBinary,
  putString,
  putU32,
  putU64,
  rd16,
  rd32,
  rd64,
  wr16,
  wr32,
  wr64,
} from '../../src/netlink/codec.js';

const A = KOFFLOAD.attr;
const SPEC = KOFFLOAD.attrSpec;
const LE = endianness() === 'LE';

const isMalformed = (e: unknown): boolean => e instanceof WireError && e.code === 'KOFFLOAD_ERR_MALFORMED';
const isInvalidArg = (e: unknown): boolean => e instanceof KoffloadError && e.code === 'KOFFLOAD_ERR_INVALID_ARG';

/** A raw attribute with arbitrary bytes and no checks, padded. */
function rawAttr(type: number, data: Buffer): Buffer {
  const len = 4 + data.length;
  const b = Buffer.alloc((len + 3) & ~3);
  if (LE) {
    b.writeUInt16LE(len, 0);
    b.writeUInt16LE(type, 2);
  } else {
    b.writeUInt16BE(len, 0);
    b.writeUInt16BE(type, 2);
  }
  data.copy(b, 4);
  return b;
}

const u32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  if (LE) b.writeUInt32LE(v);
  else b.writeUInt32BE(v);
  return b;
};

describe('codec: netlink framing', () => {
  it('round-trips nlmsghdr fields and pads to 4 bytes', () => {
    const buf = encodeNlMsg({ type: 0x1234, flags: NLM_F.REQUEST | NLM_F.ACK, seq: 0xfffffffe, pid: 77 }, [Buffer.from([1, 2, 3])]);
    assert.equal(buf.length, 20);
    const [m, ...rest] = decodeNlMessages(buf);
    assert.equal(rest.length, 0);
    assert.deepEqual(m!.header, { len: 19, type: 0x1234, flags: 5, seq: 0xfffffffe, pid: 77 });
    assert.deepEqual([...m!.payload], [1, 2, 3]);
  });

  it('decodes several messages of one datagram, including an unpadded last one', () => {
    const a = encodeGenlMsg({ type: 30, flags: 0, seq: 1, cmd: 3, version: 1 }, [putString(A.subsysName, 'abc')]);
    const b = encodeGenlMsg({ type: 30, flags: 0, seq: 2, cmd: 4, version: 1 }, [putU32(A.subsysId, 9)]);
    const c = encodeNlMsg({ type: 31, flags: 0, seq: 3 }, [Buffer.from([7])]);
    const dgram = Buffer.concat([a, b, c.subarray(0, 17)]); // last one without its padding
    const msgs = decodeNlMessages(dgram);
    assert.deepEqual(
      msgs.map((m) => m.header.seq),
      [1, 2, 3],
    );
    assert.equal(decodeGenl(msgs[0]!).cmd, 3);
    assert.equal(decodeAttrs(decodeGenl(msgs[1]!).attrs, SPEC).values.subsysId, 9);
  });

  it('rejects a truncated header', () => {
    assert.throws(() => decodeNlMessages(Buffer.alloc(10)), isMalformed);
  });

  it('rejects a length past the datagram, below the header, and trailing bytes', () => {
    const m = encodeNlMsg({ type: 20, flags: 0, seq: 1 }, [Buffer.alloc(8)]);
    assert.throws(() => decodeNlMessages(m.subarray(0, m.length - 4)), isMalformed);
    const short = Buffer.from(m);
    short.writeUInt32LE(12, 0);
    assert.throws(() => decodeNlMessages(short), isMalformed);
    assert.throws(() => decodeNlMessages(Buffer.concat([m, Buffer.alloc(3)])), isMalformed);
  });

  it('rejects a genl message without its genlmsghdr', () => {
    const [m] = decodeNlMessages(encodeNlMsg({ type: 20, flags: 0, seq: 1 }, [Buffer.alloc(2)]));
    assert.throws(() => decodeGenl(m!), isMalformed);
  });

  it('refuses to encode out-of-range header fields', () => {
    assert.throws(() => encodeNlMsg({ type: 0x10000, flags: 0, seq: 1 }, []), isInvalidArg);
    assert.throws(() => encodeGenlMsg({ type: 20, flags: 0, seq: 1, cmd: 256, version: 1 }, []), isInvalidArg);
  });
});

describe('codec: u16 and u32 access', () => {
  it('writes and reads in host order, as Buffer does, at any offset of a view', () => {
    const b = Buffer.alloc(48, 0xee).subarray(5, 37);
    const want = Buffer.alloc(4);
    for (const v of [0, 1, 0xff, 0x1234, 0xffff]) {
      for (const o of [0, 1, 3, 30]) {
        wr16(b, v, o);
        assert.equal(rd16(b, o), v);
        if (LE) want.writeUInt16LE(v);
        else want.writeUInt16BE(v);
        assert.deepEqual(b.subarray(o, o + 2), want.subarray(0, 2));
      }
    }
    for (const v of [0, 1, 0x80, 0x8000_0000, 0x1234_5678, 0xffff_ffff]) {
      for (const o of [0, 2, 7, 28]) {
        wr32(b, v, o);
        assert.equal(rd32(b, o), v);
        if (LE) want.writeUInt32LE(v);
        else want.writeUInt32BE(v);
        assert.deepEqual(b.subarray(o, o + 4), want);
      }
    }
  });

  it('throws RangeError for an offset that is not an integer inside the buffer, and for a value outside the type', () => {
    const b = Buffer.alloc(8);
    for (const o of [-1, 7, 8, 1.5, Number.NaN]) {
      assert.throws(() => rd16(b, o), RangeError);
      assert.throws(() => wr16(b, 1, o), RangeError);
      assert.throws(() => rd32(b, o), RangeError);
      assert.throws(() => wr32(b, 1, o), RangeError);
    }
    assert.throws(() => rd32(b, 5), RangeError);
    assert.equal(rd16(b, 6), 0);
    for (const v of [-1, 0x10000, 1.5, Number.NaN]) assert.throws(() => wr16(b, v, 0), RangeError);
    for (const v of [-1, 2 ** 32, 0.5, Number.NaN]) assert.throws(() => wr32(b, v, 0), RangeError);
    assert.deepEqual(b, Buffer.alloc(8));
  });
});

describe('codec: u64 access', () => {
  const values = [0n, 1n, 0xffn, 0x1_0000_0000n, 0x0102_0304_0506_0708n, 2n ** 63n, 2n ** 64n - 1n];

  it('writes and reads u64s in host order at any offset, inside a view of a larger buffer', () => {
    const big = Buffer.alloc(64, 0xee);
    const b = big.subarray(3, 40);
    for (const v of values) {
      for (const o of [0, 1, 4, 7, 29]) {
        wr64(b, v, o);
        assert.equal(rd64(b, o), v);
        const want = Buffer.alloc(8);
        if (LE) want.writeBigUInt64LE(v);
        else want.writeBigUInt64BE(v);
        assert.deepEqual(b.subarray(o, o + 8), want, `bytes of ${v} at ${o}`);
      }
    }
    // nothing outside the view was touched
    assert.deepEqual(big.subarray(0, 3), Buffer.alloc(3, 0xee));
    assert.deepEqual(big.subarray(40), Buffer.alloc(24, 0xee));
  });

  it('throws RangeError for an offset outside the buffer and a value outside u64', () => {
    const b = Buffer.alloc(16);
    for (const o of [-1, 9, 16, 1.5, Number.NaN]) {
      assert.throws(() => rd64(b, o), RangeError);
      assert.throws(() => wr64(b, 1n, o), RangeError);
    }
    for (const v of [-1n, 2n ** 64n, 1 as unknown as bigint]) assert.throws(() => wr64(b, v, 0), RangeError);
    assert.deepEqual(b, Buffer.alloc(16));
  });
});

describe('codec: NLMSG_ERROR and NLMSG_DONE', () => {
  const request = { len: 36, type: 0x20, flags: NLM_F.REQUEST, seq: 42, pid: 1234 };

  it('parses an error with the echoed request and an extended ack message', () => {
    const payload = Buffer.concat([Buffer.from([4, 1, 0, 0]), putU64(A.reqId, 5n)]);
    const [m] = decodeNlMessages(encodeNlError(request, { errno: 1, requestPayload: payload, extack: 'socket is not the bound handler' }));
    assert.equal(m!.header.type, NLMSG.ERROR);
    assert.equal(m!.header.seq, 42);
    const info = decodeNlError(m!);
    assert.equal(info.errno, 1);
    assert.equal(errnoName(info.errno), 'EPERM');
    assert.equal(info.message, 'socket is not the bound handler');
    assert.equal(info.request.seq, 42);
    assert.equal(info.request.pid, 1234);
    assert.deepEqual(info.requestPayload, payload);
  });

  it('parses an ACK (errno 0, capped)', () => {
    const [m] = decodeNlMessages(encodeNlError(request, { errno: 0 }));
    const info = decodeNlError(m!);
    assert.equal(info.errno, 0);
    assert.equal(info.requestPayload, undefined);
    assert.equal(info.message, undefined);
  });

  it('rejects a truncated error and one with a positive error', () => {
    const [m] = decodeNlMessages(encodeNlMsg({ type: NLMSG.ERROR, flags: 0, seq: 1 }, [Buffer.alloc(8)]));
    assert.throws(() => decodeNlError(m!), isMalformed);
    const bad = encodeNlError(request, { errno: 0 });
    bad.writeInt32LE(5, 16);
    assert.throws(() => decodeNlError(decodeNlMessages(bad)[0]!), isMalformed);
  });

  it('parses NLMSG_DONE with and without an error', () => {
    assert.equal(decodeNlDone(decodeNlMessages(encodeNlDone(7))[0]!).errno, 0);
    assert.equal(decodeNlDone(decodeNlMessages(encodeNlDone(7, 22))[0]!).errno, 22);
  });

  it('names errnos the way Node does, EAGAIN before EWOULDBLOCK', () => {
    assert.equal(errnoName(2), 'ENOENT');
    assert.equal(errnoName(11), 'EAGAIN');
    assert.equal(errnoName(9999), 'E9999');
  });
});

describe('codec: typed attributes', () => {
  it('round-trips every attribute type of the koffload spec', () => {
    const nest = encodeU64Nest(A.outcomes, [3n, 0n, 5n]);
    const attrs = [
      ...encodeAttrs(SPEC, {
        subsysName: 'ktest',
        subsysId: 7,
        reqId: 0xfedcba9876543210n,
        op: 63,
        payload: Buffer.from('hello'),
        status: KOFFLOAD.status.error,
        canaryPermille: 1000,
      }),
      nest,
    ];
    const { values, unknown } = decodeAttrs(Buffer.concat(attrs), SPEC);
    assert.deepEqual(unknown, []);
    assert.equal(values.subsysName, 'ktest');
    assert.equal(values.subsysId, 7);
    assert.equal(values.reqId, 0xfedcba9876543210n);
    assert.equal(values.op, 63);
    assert.equal(values.payload?.toString(), 'hello');
    assert.equal(values.status, 2);
    assert.equal(values.canaryPermille, 1000);
    const outcomes = decodeU64Nest(values.outcomes!, KOFFLOAD.outcomeKeys);
    assert.equal(outcomes.served, 3n);
    assert.equal(outcomes.noHandler, 5n);
    assert.equal(outcomes.invalid, 0n);
  });

  it('encodes in attribute id order and sets NLA_F_NESTED on nests', () => {
    const enc = encodeAttrs(SPEC, { status: 0, subsysId: 1, outcomes: [] });
    const raw = decodeRawAttrs(Buffer.concat(enc));
    assert.deepEqual(
      raw.map((a) => a.type),
      [A.subsysId, A.status, A.outcomes],
    );
    assert.deepEqual(
      raw.map((a) => a.nested),
      [false, false, true],
    );
  });

  it('accepts a string of maxLen bytes with its NUL and rejects one byte more', () => {
    const ok = 'x'.repeat(KOFFLOAD.limits.nameMax - 1);
    assert.equal(decodeAttrs(putString(A.subsysName, ok), SPEC).values.subsysName, ok);
    assert.throws(() => decodeAttrs(putString(A.subsysName, `${ok}x`), SPEC), isMalformed);
  });

  it('rejects a string without its NUL, with a NUL inside, or with bad UTF-8', () => {
    assert.throws(() => decodeAttrs(rawAttr(A.subsysName, Buffer.from('abc')), SPEC), isMalformed);
    assert.throws(() => decodeAttrs(rawAttr(A.subsysName, Buffer.from('a\0b\0')), SPEC), isMalformed);
    assert.throws(() => decodeAttrs(rawAttr(A.subsysName, Buffer.from([0xff, 0xfe, 0])), SPEC), isMalformed);
  });

  it('rejects integers of the wrong size', () => {
    assert.throws(() => decodeAttrs(rawAttr(A.subsysId, Buffer.alloc(8)), SPEC), isMalformed);
    assert.throws(() => decodeAttrs(rawAttr(A.subsysId, Buffer.alloc(2)), SPEC), isMalformed);
    assert.throws(() => decodeAttrs(rawAttr(A.reqId, Buffer.alloc(4)), SPEC), isMalformed);
  });

  it('rejects values above max and outside enums', () => {
    assert.throws(() => decodeAttrs(putU32(A.op, KOFFLOAD.limits.opsMax + 1), SPEC), isMalformed);
    assert.throws(() => decodeAttrs(putU32(A.status, KOFFLOAD.statusNames.length), SPEC), isMalformed);
    assert.throws(() => decodeAttrs(putU32(A.canaryPermille, 1001), SPEC), isMalformed);
    assert.equal(decodeAttrs(putU32(A.mode, KOFFLOAD.mode.on), SPEC).values.mode, 3);
  });

  it('rejects binaries above maxLen', () => {
    assert.equal(decodeAttrs(putBinary(A.payload, Buffer.alloc(4096)), SPEC).values.payload?.length, 4096);
    assert.throws(() => decodeAttrs(putBinary(A.payload, Buffer.alloc(4097)), SPEC), isMalformed);
    assert.throws(() => decodeAttrs(putBinary(A.cacheKey, Buffer.alloc(65)), SPEC), isMalformed);
  });

  it('rejects misaligned attributes (an unpadded attribute followed by another)', () => {
    const first = rawAttr(A.subsysName, Buffer.from('ab\0')).subarray(0, 7); // no padding
    const dgram = Buffer.concat([first, putU32(A.subsysId, 1)]);
    assert.throws(() => decodeAttrs(dgram, SPEC), isMalformed);
  });

  it('rejects trailing bytes, a length below the header and one past the end', () => {
    assert.throws(() => decodeRawAttrs(Buffer.concat([putU32(A.subsysId, 1), Buffer.alloc(2)])), isMalformed);
    const short = putU32(A.subsysId, 1);
    short.writeUInt16LE(3, 0);
    assert.throws(() => decodeRawAttrs(short), isMalformed);
    const long = putU32(A.subsysId, 1);
    long.writeUInt16LE(12, 0);
    assert.throws(() => decodeRawAttrs(long), isMalformed);
  });

  it('accepts a missing padding after the last attribute', () => {
    const a = putString(A.subsysName, 'ab'); // 7 bytes + 1 pad
    assert.equal(decodeAttrs(a.subarray(0, 7), SPEC).values.subsysName, 'ab');
  });

  it('skips and reports unknown attribute types; rejects type 0 and repeats', () => {
    const buf = Buffer.concat([putU32(A.subsysId, 4), putU32(999, 1), rawAttr(A.pad, Buffer.alloc(0))]);
    const { values, unknown } = decodeAttrs(buf, SPEC);
    assert.equal(values.subsysId, 4);
    assert.deepEqual(unknown, [999]);
    assert.throws(() => decodeAttrs(rawAttr(0, Buffer.alloc(4)), SPEC), isMalformed);
    assert.throws(() => decodeAttrs(Buffer.concat([putU32(A.subsysId, 1), putU32(A.subsysId, 2)]), SPEC), isMalformed);
  });

  it('checks the nest flag both ways', () => {
    assert.throws(() => decodeAttrs(putAttr(A.outcomes, Buffer.alloc(0)), SPEC), isMalformed);
    assert.throws(() => decodeAttrs(putAttr(A.subsysId, u32(1), NLA_F_NESTED), SPEC), isMalformed);
    assert.throws(() => decodeAttrs(putAttr(A.outcomes, Buffer.from([9, 0, 1, 0]), NLA_F_NESTED), SPEC), isMalformed);
  });

  it('validates u64 counter nests', () => {
    const good = Buffer.concat([putU64(1, 10n), putU64(50, 1n)]);
    const v = decodeU64Nest(good, KOFFLOAD.counterKeys);
    assert.equal(v.requestsSent, 10n);
    assert.equal(v.releases, 0n);
    assert.throws(() => decodeU64Nest(putU32(1, 1), KOFFLOAD.counterKeys), isMalformed);
    assert.throws(() => decodeU64Nest(Buffer.concat([putU64(2, 1n), putU64(2, 1n)]), KOFFLOAD.counterKeys), isMalformed);
  });

  it('validates what it encodes', () => {
    assert.throws(() => encodeAttrs(SPEC, { subsysName: 'x'.repeat(32) }), isInvalidArg);
    assert.throws(() => encodeAttrs(SPEC, { status: 3 }), isInvalidArg);
    assert.throws(() => encodeAttrs(SPEC, { subsysId: -1 }), isInvalidArg);
    assert.throws(() => encodeAttrs(SPEC, { subsysId: 1.5 }), isInvalidArg);
    assert.throws(() => encodeAttrs(SPEC, { reqId: -1n }), isInvalidArg);
    assert.throws(() => encodeAttrs(SPEC, { payload: Buffer.alloc(4097) }), isInvalidArg);
    assert.throws(() => encodeAttrs(SPEC, { subsysName: 'a\0b' }), isInvalidArg);
    assert.throws(() => encodeAttrs(SPEC, { nope: 1 } as unknown as Parameters<typeof encodeAttrs<typeof SPEC>>[1]), isInvalidArg);
  });
});

describe('codec: koffload messages', () => {
  const reqAttrs = (over: Record<string, unknown> = {}): Buffer =>
    Buffer.concat(
      encodeAttrs(SPEC, {
        reqId: 1n,
        subsysId: 2,
        op: 1,
        deadlineNs: 123n,
        flags: 0,
        payload: Buffer.from('p'),
        ...over,
      }),
    );
  const genl = (attrs: Buffer) => decodeGenl(decodeNlMessages(encodeGenlMsg({ type: 30, flags: 0, seq: 0, cmd: KOFFLOAD.cmd.request, version: 1 }, [attrs]))[0]!);

  it('parses a REQUEST', () => {
    const r = parseRequest(genl(reqAttrs({ flags: KOFFLOAD.reqFlag.hasDefault, default: Buffer.from('d') })));
    assert.equal(r.reqId, 1n);
    assert.equal(r.subsysId, 2);
    assert.equal(r.deadlineNs, 123n);
    assert.equal(r.payload.toString(), 'p');
    assert.equal(r.default?.toString(), 'd');
  });

  it('rejects a REQUEST without payload, or with has-default but no default', () => {
    const noPayload = Buffer.concat(encodeAttrs(SPEC, { reqId: 1n, subsysId: 2, op: 1, deadlineNs: 1n, flags: 0 }));
    assert.throws(() => parseRequest(genl(noPayload)), isMalformed);
    assert.throws(() => parseRequest(genl(reqAttrs({ flags: KOFFLOAD.reqFlag.hasDefault }))), isMalformed);
  });

  it('parses a GET-SUBSYS reply with outcome and counter nests', () => {
    const attrs = Buffer.concat([
      ...encodeAttrs(SPEC, { subsysId: 3, subsysName: 'ktest', mode: KOFFLOAD.mode.canary, circuit: KOFFLOAD.circuit.halfOpen, pending: 2 }),
      encodeU64Nest(A.outcomes, KOFFLOAD.outcomeKeys.map((_, i) => BigInt(i))),
      encodeU64Nest(A.counters, [9n]),
    ]);
    const info = parseSubsys(genl(attrs));
    assert.equal(info.name, 'ktest');
    assert.equal(info.mode, 'canary');
    assert.equal(info.circuit, 'halfOpen');
    assert.equal(info.pending, 2);
    assert.equal(info.outcomes.invalid, BigInt(KOFFLOAD.outcome.invalid));
    assert.equal(info.counters.requestsSent, 9n);
    assert.equal(info.counters.binds, 0n);
  });
});
