/**
 * Realistic GC policies: a userspace daemon that sees only what it could
 * see on a real system, and a kernel side that uses what the daemon
 * published, as a patched F2FS would.
 *
 * The daemon (GcDaemon) never touches the model. It gets plain data:
 * - segment_info polls (/proc/fs/f2fs/<dev>/segment_info: each segment's
 *   log type and valid blocks) every `poll` user writes;
 * - one notification per cleaned victim, sent by the kernel after the
 *   fact (foreground GC cannot wait): the segment, its log type, and for
 *   every block moved its (inode, index) (here the block number, one to one
 *   with (file, index)) and the segment it was written to;
 * - with births=1, each segment allocation (segment, log), which a patch
 *   could append to its notifications; by default the daemon dates a
 *   segment's birth from the polls, missing a segment freed and refilled by
 *   the same log between two polls;
 * - its clock: iostat_info's fs_data (user data writes).
 * It publishes, every `every` GC calls (when f2fs_gc() returns):
 * - a victim ranking (victim rules 1-5): up to `top` (segment, valid,
 *   type) entries, best first; or a bitmap of segments to skip (rule 6);
 * - two class bits per block (placement rules 1, 7, 9): move to the hot
 *   data log when moved out of a user-written (warm-log) victim / out of a
 *   GC-log victim; 2 bits x 16384 blocks fit one 4 KiB cache entry.
 *
 * The kernel side (advisedHook) takes the first ranking entry still dirty,
 * of the published type and with no more valid blocks than published,
 * else falls back to F2FS's cost-benefit, counting the reason; it sends
 * each moved block to the hot data log or the cold log by the block's bit
 * for the victim's kind (rule 2/3: by the victim alone).
 */
import { DAEMON_DEFAULTS, type DaemonParams, GcDaemon, userWritten } from '../../../examples/f2fs/learned-core.js';
import { BLOCKS_PER_SEG } from './geometry.js';
import { EXTRA_LOG_BASE, GC_CB, type GcHook, LOG } from './model.js';
import type { Params, PolicyFamily } from './policies.js';

export { DAEMON_DEFAULTS, type DaemonParams, GcDaemon, userWritten };

const BPS = BLOCKS_PER_SEG;

/** The patched kernel's side: reads the advice, validates, falls back, notifies. */
export function advisedHook(d: GcDaemon): { hook: GcHook; stats: () => Record<string, number> } {
  const a = d.advice;
  const c = { served: 0, fallbackNoAdvice: 0, fallbackStale: 0, hotPlaced: 0, gcCalls: 0 };
  const p = d.p;
  const dest = new Int32Array(BPS);
  let pollValid: Int32Array | undefined;
  let pollType: Int8Array | undefined;
  const hook: GcHook = {
    name: 'advised',
    tickOps: p.poll,
    onOpen(m, seg) {
      if (p.births === 1) d.onOpen(m.c.userData, seg, m.nSeg);
    },
    onTick(m) {
      pollValid ??= new Int32Array(m.nSeg);
      pollType ??= new Int8Array(m.nSeg);
      m.segmentInfo(pollValid, pollType);
      d.onPoll(m.c.userData, pollValid, pollType);
    },
    victim(m) {
      if (p.victim === 0) return -1;
      if (!a.ranked) {
        c.fallbackNoAdvice++;
        return -1;
      }
      if (a.defer) {
        const s = m.kernelVictim(GC_CB, a.defer);
        if (s >= 0) {
          c.served++;
          return s;
        }
        c.fallbackStale++;
        return -1;
      }
      for (let i = 0; i < a.rankLen; i++) {
        const s = a.rankSeg[i]!;
        if (m.isDirty[s] && m.segLog[s] === a.rankType[i] && m.valid[s]! <= a.rankValid[i]!) {
          c.served++;
          return s;
        }
      }
      c.fallbackStale++;
      return -1;
    },
    destination(m, victim, b) {
      const ty = m.segLog[victim]!;
      // bitRule 1: the kernel's (koffload.c) choice of bit, by log type alone
      const fromWarm = p.bitRule === 1 ? ty === LOG.HOT_DATA || ty === LOG.WARM_DATA : userWritten(ty, p);
      let hot: boolean;
      switch (p.place) {
        case 1:
          hot = fromWarm && (a.cls.get(b) & 1) !== 0;
          break;
        case 2:
          hot = fromWarm && m.opNow - m.openedAtOp[victim]! < p.a;
          break;
        case 3:
          hot = fromWarm;
          break;
        case 7:
        case 9:
          hot = (a.cls.get(b) & (fromWarm ? 1 : 2)) !== 0;
          break;
        default:
          hot = false;
      }
      if (!hot) return LOG.COLD_DATA;
      c.hotPlaced++;
      return p.hotLog;
    },
    afterVictim(m, victim, moved, n, wasNode) {
      if (wasNode) return;
      for (let i = 0; i < n; i++) dest[i] = m.addr[moved[i]!]! >> 9;
      d.onVictim(m.c.userData, victim, m.segLog[victim]!, moved, dest, n);
    },
    afterGcCall(m) {
      if (++c.gcCalls % p.every === 0) d.publish(m.c.userData);
    },
  };
  return { hook, stats: () => ({ ...c, ...d.stats }) };
}

function daemonFamily(base: string, about: string, defaults: Partial<DaemonParams>, oracle = false): PolicyFamily {
  const all = { ...DAEMON_DEFAULTS, ...defaults } as unknown as Params;
  return {
    base,
    about,
    ...(oracle ? { oracle } : {}),
    defaults: all,
    make(p, ctx) {
      const dp = p as unknown as DaemonParams;
      const d = new GcDaemon(dp, ctx.layout.nBlocks, dp.place === 9 ? ctx.gen.hotMask() : undefined);
      const { hook, stats } = advisedHook(d);
      return {
        kernelGc: GC_CB,
        hook,
        stats,
        extraLogs: dp.hotLog >= EXTRA_LOG_BASE ? dp.hotLog - EXTRA_LOG_BASE + 1 : 0,
        ...(dp.minHot >= 0 ? { minHotBlocks: dp.minHot } : {}),
      };
    },
  };
}

export const DAEMON_POLICIES: PolicyFamily[] = [
  daemonFamily('daemon', 'userspace: victim rule `victim`, placement rule `place` (daemon.ts); segment_info polls and GC notifications only', {}),
];
