// scripts/train-f2fs-policy.ts: the learned policy's weights from a record.
// The record of the LFS model served by koffloadd replays into the examples
// the live policy built; the fit is deterministic and beats zero weights.
// (`node dist/scripts/train-f2fs-policy.js --check` compares the committed
// model with its full-size --simulate run: about 20 s, so not here.)
import assert from 'node:assert/strict';
import { NF } from '../../examples/f2fs/learned-core.js';
import { examplesOf, logLoss, modelOf, simulate } from '../../scripts/train-f2fs-policy.js';

describe('train-f2fs-policy: weights from a koffloadd --record file', () => {
  it('replays a simulated record into labelled examples and fits them deterministically, better than zero weights', async function () {
    this.timeout(120000);
    const models = [];
    for (let i = 0; i < 2; i++) {
      const s = await simulate({ size: 'scaled:126', warmup: 40000, measure: 40000, seed: 3 });
      try {
        const ex = await examplesOf(s.record);
        assert.ok(ex.n > 1000 && ex.victims > 50 && ex.polls > 0, `${ex.n} examples, ${ex.victims} victims, ${ex.polls} polls`);
        const died = ex.y.reduce((a, b) => a + b, 0);
        assert.ok(died > 0 && died < ex.n, 'both labels occur');
        const m = modelOf(ex, s.source);
        assert.equal(m.weights.length, NF + 1);
        assert.ok(logLoss(ex, m.weights) < logLoss(ex, new Array(NF + 1).fill(0)) - 0.01);
        models.push(m);
      } finally {
        s.cleanup();
      }
    }
    assert.deepEqual(models[0], models[1]);
  });
});
