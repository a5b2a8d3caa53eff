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
 *
 * The patch asks whichever policy binds f2fs_gc about every mounted F2FS.
 * KOFFLOAD_F2FS_DEVICES (comma-separated block device names, e.g.
 * "nullb2") restricts the policy to those: the requests of any other
 * filesystem are declined at once and nothing is published for it, so its
 * GC keeps F2FS's own choice (poc/gc/guest.sh runs kernel-policy
 * configurations beside a koffload one that way).
 */
import { f2fs } from '../../src/generated/proto/f2fs.js';
import { type HandlerContext, type Policy, decline, definePolicy } from '../../src/runtime/index.js';
import type { Publication } from './advice.js';
import type { F2fsEngine } from './engine.js';
import { ProcObserver } from './host.js';

export interface F2fsPolicyOptions {
  /**
   * the filesystems the policy decides for, by block device name; the
   * requests of any other are declined and it keeps F2FS's own choice.
   * @default KOFFLOAD_F2FS_DEVICES (comma-separated) when set, else every filesystem
   */
  devices?: readonly string[];
  /** a request's dev (new_encode_dev(s_dev)) to its block device name. @default ProcObserver's name() */
  nameOf?: (dev: number) => string;
}

function devicesFromEnv(): string[] | undefined {
  const v = process.env.KOFFLOAD_F2FS_DEVICES;
  if (v === undefined || v.trim() === '') return undefined;
  return v.split(',').map((d) => d.trim()).filter(Boolean);
}

async function publishAll(ctx: HandlerContext<unknown, unknown>, pubs: Publication[]): Promise<void> {
  // sent back to back on one socket: the kernel applies them in this order
  await Promise.all(pubs.map((p) => ctx.publishBytes(p.key, p.payload, p.ttlMs)));
}

/** The koffloadd policy of subsystem f2fs_gc that `engine` decides for. */
export function f2fsPolicy(engine: F2fsEngine, options: F2fsPolicyOptions = {}): Policy<typeof f2fs> {
  const devices = options.devices ?? devicesFromEnv();
  const wanted = devices ? new Set(devices) : undefined;
  const nameOf = options.nameOf ?? ((proc: ProcObserver) => (dev: number): string => proc.name(dev))(new ProcObserver());
  const governed = new Map<number, boolean>();
  const governs = (dev: number): boolean => {
    if (!wanted) return true;
    let g = governed.get(dev);
    if (g === undefined) {
      try {
        g = wanted.has(nameOf(dev));
      } catch {
        g = false; // no such device: not one of ours
      }
      governed.set(dev, g);
    }
    return g;
  };
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
      // a notice stays true after its deadline (20 ms, the background call's):
      // a burst queues instead of expiring, and the learned policy learns
      // from every victim (in the guest, at some 40 ms a notice, most expired)
      advisoryLateMs: 5000,
    },
    ops: {
      victim: {
        handler: async (req, ctx) => {
          if (!governs(req.dev)) return decline('not a governed filesystem');
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
          if (!governs(req.dev)) return {};
          const r = engine.moved(req);
          await publishAll(ctx, r.publish);
          return r.response;
        },
      },
    },
  });
}
