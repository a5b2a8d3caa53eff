// The generated per-message envelope codecs (src/generated/wire-codec.ts)
// against the spec-walking codec (src/netlink/codec.ts) they stand in for
// on the fast path: the same values, the same verdict on malformed input.
import assert from 'node:assert/strict';
import { KOFFLOAD } from '../../src/generated/wire.js';
import { decodeReply, decodeRequest, encodeReply, encodeRequest, sizeReply, sizeRequest } from '../../src/generated/wire-codec.js';
import { decodeAttrs, encodeAttrs, putAttr, putU32, putU64 } from '../../src/netlink/codec.js';

const SPEC = KOFFLOAD.attrSpec;
const LENIENT = { ...SPEC, flags: { id: SPEC.flags.id, type: SPEC.flags.type } } as const;

function generic(attrs: Buffer): unknown {
  try {
    const v = decodeAttrs(attrs, LENIENT).values;
    for (const k of ['reqId', 'subsysId', 'op', 'deadlineNs', 'flags', 'payload'] as const) if (v[k] === undefined) throw new Error(`missing ${k}`);
    return { reqId: v.reqId, subsysId: v.subsysId, op: v.op, deadlineNs: v.deadlineNs, flags: v.flags, payload: v.payload?.toString('hex'), default: v.default?.toString('hex') };
  } catch {
    return 'malformed';
  }
}

function generated(attrs: Buffer): unknown {
  try {
    const a = decodeRequest(attrs, 0, attrs.length);
    const hex = (off: number, len: number): string | undefined => (off < 0 ? undefined : attrs.subarray(off, off + len).toString('hex'));
    return { reqId: a.reqId, subsysId: a.subsysId, op: a.op, deadlineNs: a.deadlineNs, flags: a.flags, payload: hex(a.payloadOff, a.payloadLen), default: hex(a.defaultOff, a.defaultLen) };
  } catch {
    return 'malformed';
  }
}

describe('wire-codec: generated REQUEST/REPLY codecs', () => {
  const good = (): Buffer =>
    Buffer.concat(encodeAttrs(SPEC, { reqId: (7n << 48n) | 42n, subsysId: 7, op: 1, deadlineNs: 123456789n, flags: 4, payload: Buffer.from('abc'), default: Buffer.from('d') }));

  it('decodes what encodeAttrs wrote, and what the kernel writes (its order, a pad, an unknown attribute)', () => {
    assert.deepEqual(generated(good()), generic(good()));
    const kernel = Buffer.concat([putU64(3, 9n), putU32(2, 1), putU32(4, 1), putAttr(27, Buffer.alloc(0)), putU64(5, 5n), putU32(6, 0xf0), putAttr(7, Buffer.alloc(0)), putU32(200, 1)]);
    assert.deepEqual(generated(kernel), generic(kernel));
    assert.equal((generated(kernel) as { flags: number }).flags, 0xf0, 'unknown flag bits are the caller\'s to drop');
  });

  it('agrees with decodeAttrs on every single-byte corruption of a REQUEST', () => {
    const base = good();
    let malformed = 0;
    for (let i = 0; i < base.length; i++) {
      for (const v of [0x00, 0x01, 0x40, 0x80, 0xff]) {
        const b = Buffer.from(base);
        b[i] = v;
        const g = generated(b);
        assert.deepEqual(g, generic(b), `byte ${i} = 0x${v.toString(16)}`);
        if (g === 'malformed') malformed++;
      }
    }
    assert.ok(malformed > 20, `${malformed} corruptions were malformed`);
    for (let n = 0; n < base.length; n++) assert.deepEqual(generated(base.subarray(0, n)), generic(base.subarray(0, n)), `truncated to ${n}`);
  });

  it('encodes a REPLY the spec-walking decoder reads back, and sizes it exactly', () => {
    for (const v of [
      { reqId: 1n, status: KOFFLOAD.status.ok, payload: Buffer.from('xyz') },
      { reqId: 0xffffffffffffffffn, status: KOFFLOAD.status.decline, payload: undefined },
      { reqId: 5n, status: KOFFLOAD.status.error, payload: Buffer.alloc(4096) },
    ]) {
      const b = Buffer.alloc(sizeReply(v) + 8, 0xee);
      const end = encodeReply(b, 0, v);
      assert.equal(end, sizeReply(v));
      const back = decodeAttrs(b.subarray(0, end), SPEC).values;
      assert.deepEqual([back.reqId, back.status, back.payload?.toString('hex')], [v.reqId, v.status, v.payload?.toString('hex')]);
      const r = decodeReply(b, 0, end);
      assert.equal(r.reqId, v.reqId);
    }
    const req = { reqId: 3n, subsysId: 1, op: 2, deadlineNs: 9n, flags: 1, payload: Buffer.from('p') };
    const b = Buffer.alloc(sizeRequest(req));
    assert.equal(encodeRequest(b, 0, req), b.length);
    assert.deepEqual(generated(b), generic(b));
  });

  it('refuses values outside their type before writing anything', () => {
    const b = Buffer.alloc(64, 0xee);
    for (const v of [
      { reqId: -1n, status: 0 },
      { reqId: 1n << 64n, status: 0 },
      { reqId: 1n, status: 3 },
      { reqId: 1n, status: 1.5 },
      { reqId: 1n, status: 0, payload: Buffer.alloc(4097) },
      { reqId: 1 as unknown as bigint, status: 0 },
    ]) {
      assert.throws(() => encodeReply(b, 0, v), { code: 'KOFFLOAD_ERR_INVALID_ARG' });
    }
    assert.ok(b.every((x) => x === 0xee));
  });
});
