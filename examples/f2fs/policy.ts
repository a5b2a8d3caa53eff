/**
 * Serving an f2fs_gc engine (engine.ts) through koffloadd: the two ops of
 * proto/f2fs.proto, with the public policy API only.
 *
 * - VICTIM, advisory (foreground GC had no ranking it could use): publish a
 *   fresh ranking; nothing is answered.
 * - VICTIM, waiting (background GC, a 20 ms deadline): the engine's first
 *   candidate, or decline (F2FS's own choice).
 * - MOVED (advisory): learn from the cleaned victim, publish the class
 *   entries that changed and the ranking; the response (never sent) records
 *   what the policy observed, for `koffloadd --record`.
 *
 * Advisory requests run one at a time, in the order the kernel sent them
 * (advisoryConcurrency 1), so a victim's notice parts are seen in order.
 */
import { f2fs } from '../../src/generated/proto/f2fs.js';
import { type HandlerContext, type Policy, decline, definePolicy } from '../../src/runtime/index.js';
import type { Publication } from './advice.js';
import type { F2fsEngine } from './engine.js';

async function publishAll(ctx: HandlerContext<unknown, unknown>, pubs: Publication[]): Promise<void> {
  // sent back to back on one socket: the kernel applies them in this order
  await Promise.all(pubs.map((p) => ctx.publishBytes(p.key, p.payload, p.ttlMs)));
}

/** The koffloadd policy of subsystem f2fs_gc that `engine` decides for. */
export function f2fsPolicy(engine: F2fsEngine): Policy<typeof f2fs> {
  return definePolicy({
    subsystem: 'f2fs_gc',
    schema: f2fs,
    name: engine.name,
    limits: {
      // background GC's calls: one at a time is plenty (one GC thread per filesystem)
      concurrency: 1,
      queueMax: 4,
      minBudgetUs: 500,
      // notices: in order, and a burst of a whole GC call's victims may wait
      advisoryConcurrency: 1,
      advisoryQueueMax: 4096,
    },
    ops: {
      victim: {
        handler: async (req, ctx) => {
          if (ctx.advisory) {
            await publishAll(ctx, engine.victimAdvice(req));
            return decline('advice published');
          }
          const segno = engine.victimCall(req);
          return segno === undefined ? decline('no candidate') : { segno };
        },
      },
      moved: {
        handler: async (req, ctx) => {
          const r = engine.moved(req);
          await publishAll(ctx, r.publish);
          return r.response;
        },
      },
    },
  });
}
