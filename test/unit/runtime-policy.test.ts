// definePolicy() and PolicyRegistry: eager validation with coded errors,
// and the example policy as a user would write it.
import assert from 'node:assert/strict';
import { ERRORS, KoffloadError } from '../../src/errors.js';
import { EchoResponse, PickResponse, ktest } from '../../src/generated/proto/ktest.js';
import { DEFAULT_LIMITS, PolicyRegistry, decline, definePolicy, isPolicy } from '../../src/runtime/index.js';
import examplePolicy from '../../examples/ktest-policy.js';

const code = (c: keyof typeof ERRORS) => (e: unknown) => e instanceof KoffloadError && e.code === c;
const echo = { handler: (req: { data: Uint8Array; seq: bigint }) => ({ data: req.data, seq: req.seq }) };

describe('runtime: definePolicy', () => {
  it('accepts a complete policy and resolves default limits', () => {
    const p = definePolicy({ subsystem: 'ktest', schema: ktest, ops: { echo } });
    assert.ok(isPolicy(p));
    assert.deepEqual([...p.ops.keys()], [1]);
    assert.equal(p.ops.get(1)?.name, 'echo');
    assert.deepEqual(p.limits, DEFAULT_LIMITS);
  });

  it('accepts explicit op ids and codecs that match the schema', () => {
    const p = definePolicy({
      subsystem: 'ktest2',
      schema: ktest,
      ops: { pick: { op: 2, response: PickResponse, handler: () => decline() } },
    });
    assert.deepEqual([...p.ops.keys()], [2]);
  });

  it('KOFFLOAD_ERR_UNKNOWN_OP for an op the schema does not have', () => {
    assert.throws(() => definePolicy({ subsystem: 'ktest', schema: ktest, ops: { nope: echo } as never }), code('KOFFLOAD_ERR_UNKNOWN_OP'));
  });

  it('KOFFLOAD_ERR_UNKNOWN_SUBSYSTEM for a missing schema or a bad name', () => {
    assert.throws(() => definePolicy({ subsystem: 'ktest', ops: { echo } } as never), code('KOFFLOAD_ERR_UNKNOWN_SUBSYSTEM'));
    assert.throws(() => definePolicy({ subsystem: '', schema: ktest, ops: { echo } }), code('KOFFLOAD_ERR_UNKNOWN_SUBSYSTEM'));
    assert.throws(() => definePolicy({ subsystem: 'x'.repeat(32), schema: ktest, ops: { echo } }), code('KOFFLOAD_ERR_UNKNOWN_SUBSYSTEM'));
  });

  it('KOFFLOAD_ERR_MISSING_HANDLER for an op without a function, or no ops', () => {
    assert.throws(() => definePolicy({ subsystem: 'ktest', schema: ktest, ops: { echo: {} as never } }), code('KOFFLOAD_ERR_MISSING_HANDLER'));
    assert.throws(() => definePolicy({ subsystem: 'ktest', schema: ktest, ops: { echo: { handler: 5 } as never } }), code('KOFFLOAD_ERR_MISSING_HANDLER'));
    assert.throws(() => definePolicy({ subsystem: 'ktest', schema: ktest, ops: {} }), code('KOFFLOAD_ERR_MISSING_HANDLER'));
  });

  it('KOFFLOAD_ERR_SCHEMA_MISMATCH for a response type or op id the schema does not assign', () => {
    assert.throws(
      () => definePolicy({ subsystem: 'ktest', schema: ktest, ops: { pick: { response: EchoResponse, handler: () => decline() } as never } }),
      code('KOFFLOAD_ERR_SCHEMA_MISMATCH'),
    );
    assert.throws(() => definePolicy({ subsystem: 'ktest', schema: ktest, ops: { echo: { op: 2, ...echo } as never } }), code('KOFFLOAD_ERR_SCHEMA_MISMATCH'));
  });

  for (const [k, v] of [
    ['concurrency', 0],
    ['concurrency', 1.5],
    ['queueMax', -1],
    ['deadlineMs', 60001],
    ['maxInflight', 5000],
    ['minBudgetUs', 'x'],
    ['bogus', 1],
  ] as const) {
    it(`KOFFLOAD_ERR_BAD_LIMITS for ${k} = ${String(v)}`, () => {
      assert.throws(() => definePolicy({ subsystem: 'ktest', schema: ktest, limits: { [k]: v } as never, ops: { echo } }), code('KOFFLOAD_ERR_BAD_LIMITS'));
    });
  }

  it('every coded error has a message and a solution', () => {
    for (const [c, e] of Object.entries(ERRORS)) {
      assert.match(c, /^KOFFLOAD_ERR_[A-Z_]+$/);
      assert.ok(e.message.length > 0 && e.solution.length > 0, c);
    }
  });
});

describe('runtime: PolicyRegistry', () => {
  it('merges policies with disjoint ops for one subsystem', () => {
    const r = new PolicyRegistry()
      .add(definePolicy({ subsystem: 'ktest', schema: ktest, ops: { echo } }))
      .add(definePolicy({ subsystem: 'ktest', schema: ktest, ops: { pick: { handler: () => decline() } } }));
    assert.deepEqual([...(r.get('ktest')?.ops.keys() ?? [])].sort(), [1, 2]);
  });

  it('KOFFLOAD_ERR_DUPLICATE_OP for the same op twice', () => {
    const r = new PolicyRegistry().add(definePolicy({ subsystem: 'ktest', schema: ktest, ops: { echo } }));
    assert.throws(() => r.add(definePolicy({ subsystem: 'ktest', schema: ktest, ops: { echo } })), code('KOFFLOAD_ERR_DUPLICATE_OP'));
  });

  it('KOFFLOAD_ERR_BAD_LIMITS for conflicting limits, KOFFLOAD_ERR_BAD_POLICY for a non-policy', () => {
    const r = new PolicyRegistry().add(definePolicy({ subsystem: 'ktest', schema: ktest, limits: { concurrency: 2 }, ops: { echo } }));
    assert.throws(
      () => r.add(definePolicy({ subsystem: 'ktest', schema: ktest, limits: { concurrency: 3 }, ops: { pick: { handler: () => decline() } } })),
      code('KOFFLOAD_ERR_BAD_LIMITS'),
    );
    assert.throws(() => r.add({ subsystem: 'ktest' }), code('KOFFLOAD_ERR_BAD_POLICY'));
  });

  it('the example policy is valid and serves echo and pick', () => {
    assert.ok(isPolicy(examplePolicy));
    assert.deepEqual([...examplePolicy.ops.values()].map((o) => o.name).sort(), ['echo', 'pick']);
  });
});
