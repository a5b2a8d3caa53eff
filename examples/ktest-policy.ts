/**
 * Example policy for the `ktest` test subsystem: copy this file to start
 * your own. It answers both ops of proto/ktest.proto:
 *
 * - ECHO: returns the request's data and seq unchanged.
 * - PICK: chooses a victim segment for garbage collection. The kernel's
 *   default is greedy (fewest valid blocks); this policy uses LFS's
 *   cost-benefit rule, which also weighs a segment's age:
 *       benefit / cost = (1 - u) * age / (1 + u),  u = valid / capacity
 *   so an old, mostly-cold segment beats a young one that is only slightly
 *   emptier.
 *
 * Run it:  koffloadd --policy examples/ktest-policy.ts
 */
import { type PickRequest, ktest } from '../src/generated/proto/ktest.js';
import { decline, definePolicy } from '../src/runtime/index.js';

/** Blocks per segment of the simulated file system. */
export const SEGMENT_BLOCKS = 512;

/** LFS cost-benefit victim choice; undefined when there is no candidate. */
export function costBenefitVictim(req: PickRequest): number | undefined {
  let best: { id: number; score: number } | undefined;
  for (const s of req.candidates) {
    const u = Math.min(1, s.valid_blocks / SEGMENT_BLOCKS);
    const score = ((1 - u) * Number(s.age_ms)) / (1 + u);
    if (!best || score > best.score) best = { id: s.id, score };
  }
  return best?.id;
}

export default definePolicy({
  subsystem: 'ktest',
  schema: ktest,
  name: 'ktest-example',
  limits: {
    // four handlers at once; 64 more may wait, the rest is declined at once
    concurrency: 4,
    queueMax: 64,
    // do not start a handler with less than 200 µs left before its deadline
    minBudgetUs: 200,
  },
  ops: {
    echo: {
      handler: (req) => ({ data: req.data, seq: req.seq }),
    },
    pick: {
      handler: async (req, ctx) => {
        const victim = costBenefitVictim(req);
        // no candidates: let the kernel use its own default
        if (victim === undefined) return decline('no candidates');
        if (ctx.advisory) {
          // koffload_advise(): nobody waits; callers that may not wait (reclaim)
          // read the advisory cache, so the answer goes there
          await ctx.publish('pick', { victim_id: victim }, 5_000);
        }
        if (ctx.default && ctx.default.victim_id !== victim) {
          ctx.logger.debug('overriding the kernel default', { kernel: ctx.default.victim_id, policy: victim });
        }
        return { victim_id: victim };
      },
    },
  },
});
