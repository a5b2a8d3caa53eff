/**
 * F2FS garbage collection (subsystem f2fs_gc): LFS cost-benefit victim
 * selection from userspace, F2FS's get_cb_cost() (gc_idle=1) on segment
 * ages the policy estimates, since F2FS exports no SIT mtimes: it replays
 * F2FS's running mean of write and invalidation times on the valid counts
 * it polls from /proc/fs/f2fs/<dev>/segment_info (examples/f2fs/engine.ts).
 * Moved blocks go to F2FS's cold data log.
 *
 * Run it:  koffloadd --policy examples/f2fs-cost-benefit.ts
 */
import { CostBenefitEngine } from './f2fs/engine.js';
import { ProcObserver } from './f2fs/host.js';
import { f2fsPolicy } from './f2fs/policy.js';

export default f2fsPolicy(new CostBenefitEngine({ observer: new ProcObserver() }));
