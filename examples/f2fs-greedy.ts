/**
 * F2FS garbage collection (subsystem f2fs_gc of the patched f2fs.ko,
 * kernel-shim/f2fs/): greedy victim selection from userspace. After every
 * cleaned victim, and whenever foreground GC found no ranking it could use,
 * it reads /proc/fs/f2fs/<dev>/segment_info and publishes the dirty
 * segments with the fewest valid blocks first. Moved blocks go where F2FS
 * sends them (the cold data log): it publishes no class entries.
 *
 * It decides what F2FS's own greedy (gc_idle=2) decides, from userspace: the
 * harness check that the hook steers F2FS (docs/poc-gc.md).
 *
 * Run it:  koffloadd --policy examples/f2fs-greedy.ts
 */
import { GreedyEngine } from './f2fs/engine.js';
import { ProcObserver } from './f2fs/host.js';
import { f2fsPolicy } from './f2fs/policy.js';

export default f2fsPolicy(new GreedyEngine({ observer: new ProcObserver() }));
