// Generated payload codecs: round trips with bigint and bytes, strict
// encoding of handler responses, JSON forms for records.
import assert from 'node:assert/strict';
import { KoffloadError } from '../../src/errors.js';
import { MovedRequest } from '../../src/generated/proto/f2fs.js';
import { EchoRequest, PickRequest, PickResponse, ktest } from '../../src/generated/proto/ktest.js';

describe('runtime: generated schema codecs', () => {
  it('lists the ops of enum Op with their message types', () => {
    assert.equal(ktest.ops.echo.op, 1);
    assert.equal(ktest.ops.pick.op, 2);
    assert.equal(ktest.ops.pick.request.typeName, 'koffload.ktest.PickRequest');
    assert.equal(ktest.ops.pick.response, PickResponse);
  });

  it('round-trips 64-bit integers as bigint and bytes as Uint8Array', () => {
    const big = 0xffff_ffff_ffff_fff0n;
    const got = EchoRequest.decode(EchoRequest.encode({ data: Buffer.from('abc'), seq: big }));
    assert.equal(got.seq, big);
    assert.equal(Buffer.from(got.data).toString(), 'abc');
  });

  it('fills defaults and repeated fields when decoding', () => {
    const got = PickRequest.decode(Buffer.alloc(0));
    assert.deepEqual(got.candidates, []);
    const e = EchoRequest.decode(Buffer.alloc(0));
    assert.equal(e.seq, 0n);
  });

  it('KOFFLOAD_ERR_BAD_RESPONSE for unknown fields, wrong types and out-of-range values', () => {
    const bad = (v: unknown) => assert.throws(() => PickResponse.encode(v as never), (e: unknown) => e instanceof KoffloadError && e.code === 'KOFFLOAD_ERR_BAD_RESPONSE');
    bad({ victim: 1 });
    bad({ victim_id: 'x' });
    bad({ victim_id: -1 });
    bad({ victim_id: 2 ** 32 });
    bad(null);
    assert.throws(() => EchoRequest.encode({ seq: -1n }), { code: 'KOFFLOAD_ERR_BAD_RESPONSE' });
    // a key beside known ones, in small and large messages and nested
    assert.throws(() => EchoRequest.encode({ seq: 1n, data: Buffer.alloc(1), sequence: 2n } as never), /unknown field 'sequence'/);
    assert.throws(() => PickRequest.encode({ candidates: [{ id: 1, age: 3 }] } as never), /unknown field 'candidates\[0\]\.age'/);
    assert.throws(() => MovedRequest.encode({ dev: 1, segno: 2, bogus: 3 } as never), /unknown field 'bogus'/);
    assert.doesNotThrow(() => MovedRequest.encode({ dev: 1, segno: 2, gc_seq: 3n }));
  });

  it('KOFFLOAD_ERR_BAD_PAYLOAD for bytes that are not the message', () => {
    assert.throws(() => PickRequest.decode(Buffer.from([0x0a, 0xff])), { code: 'KOFFLOAD_ERR_BAD_PAYLOAD' });
  });

  it('toJSON/fromJSON are inverse for records', () => {
    const v = PickRequest.decode(PickRequest.encode({ candidates: [{ id: 3, valid_blocks: 7, age_ms: 99n }] }));
    const json = JSON.parse(JSON.stringify(PickRequest.toJSON(v)));
    assert.deepEqual(json, { candidates: [{ id: 3, valid_blocks: 7, age_ms: '99' }] });
    assert.deepEqual(PickRequest.fromJSON(json), v);
  });
});
