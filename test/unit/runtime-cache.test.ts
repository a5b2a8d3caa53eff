// The advisory cache API: typed publish and delete with argument checks,
// and the refresh helper that republishes before entries expire.
import assert from 'node:assert/strict';
import { PickResponse } from '../../src/generated/proto/ktest.js';
import { AdvisoryCache, refreshEvery } from '../../src/runtime/index.js';
import { StubTransport } from './runtime-stub.js';

describe('runtime: advisory cache', () => {
  it('publishes encoded values and deletes with TTL 0', async () => {
    const t = new StubTransport();
    const c = new AdvisoryCache(t, 3, PickResponse);
    await c.publish('seg', { victim_id: 4 }, 5000);
    await c.delete('seg');
    assert.deepEqual(
      t.published.map((p) => [p.subsysId, p.key.toString(), p.ttlMs]),
      [
        [3, 'seg', 5000],
        [3, 'seg', 0],
      ],
    );
    assert.equal(PickResponse.decode(t.published[0]!.payload).victim_id, 4);
  });

  it('rejects bad keys, TTLs and values with coded errors', async () => {
    const c = new AdvisoryCache(new StubTransport(), 3, PickResponse);
    await assert.rejects(c.publish('', { victim_id: 1 }, 10), { code: 'KOFFLOAD_ERR_INVALID_ARG' });
    await assert.rejects(c.publish('x'.repeat(65), { victim_id: 1 }, 10), { code: 'KOFFLOAD_ERR_INVALID_ARG' });
    await assert.rejects(c.publish('k', { victim_id: 1 }, 0), { code: 'KOFFLOAD_ERR_INVALID_ARG' });
    await assert.rejects(c.publish('k', { victim_id: 1 }, 3_600_001), { code: 'KOFFLOAD_ERR_INVALID_ARG' });
    await assert.rejects(c.publish('k', { nope: 1 } as never, 10), { code: 'KOFFLOAD_ERR_BAD_RESPONSE' });
  });

  it('refreshEvery publishes at once and on each refresh, and counts failures', async () => {
    const t = new StubTransport();
    const c = new AdvisoryCache(t, 1, PickResponse);
    let round = 0;
    const r = refreshEvery({
      cache: c,
      ttlMs: 60_000,
      compute: () => {
        round++;
        if (round === 3) throw new Error('model unavailable');
        return [['a', { victim_id: round }] as const];
      },
    });
    await r.refresh(); // joins the first round
    await r.refresh();
    await r.refresh();
    r.stop();
    assert.equal(r.stats.rounds, 2);
    assert.equal(r.stats.failures, 1);
    assert.deepEqual(t.published.map((p) => PickResponse.decode(p.payload).victim_id), [1, 2]);
    assert.ok(t.published.every((p) => p.ttlMs === 60_000));
  });

  it('refreshEvery refuses a period that would let entries lapse', () => {
    const c = new AdvisoryCache(new StubTransport(), 1, PickResponse);
    assert.throws(() => refreshEvery({ cache: c, ttlMs: 1000, refreshMs: 1000, compute: () => [] }), { code: 'KOFFLOAD_ERR_INVALID_ARG' });
  });
});
