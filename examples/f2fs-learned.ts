/**
 * F2FS garbage collection (subsystem f2fs_gc): the learned policy of
 * docs/poc-gc-model.md. It chooses victims by the waste a hazard table
 * predicts (learned per log type and segment age from segment_info polls),
 * and sends each moved block to the hot data log when a logistic regression
 * over the block's GC history says it will die before its new segment is
 * cleaned (published as 2 class bits per block). It starts from the weights
 * of examples/f2fs/learned-model.ts (scripts/train-f2fs-policy.ts made them
 * from a `koffloadd --record` file) and keeps learning online.
 *
 * Set min_hot_blocks to 0 on the filesystem (sysfs) so user writes stay out
 * of the hot data log, which then holds only what this policy sends there;
 * the policy itself never writes to the filesystem or its settings.
 *
 * Environment: KOFFLOAD_F2FS_MODEL=FILE.json loads other weights (the
 * training script's --json output); KOFFLOAD_F2FS_MODEL=none starts from
 * zeros and learns from scratch.
 *
 * Run it:  koffloadd --policy examples/f2fs-learned.ts
 */
import { readFileSync } from 'node:fs';
import { type LearnedModel, LearnedEngine } from './f2fs/engine.js';
import { ProcObserver } from './f2fs/host.js';
import { LEARNED_MODEL } from './f2fs/learned-model.js';
import { f2fsPolicy } from './f2fs/policy.js';

function model(): LearnedModel | undefined {
  const file = process.env.KOFFLOAD_F2FS_MODEL;
  if (file === 'none') return undefined;
  if (!file) return LEARNED_MODEL;
  const m = JSON.parse(readFileSync(file, 'utf8')) as LearnedModel;
  if (m.format !== LEARNED_MODEL.format || m.weights?.length !== LEARNED_MODEL.weights.length) throw new Error(`${file} is not a ${LEARNED_MODEL.format} model`);
  return m;
}

export default f2fsPolicy(new LearnedEngine({ observer: new ProcObserver(), model: model() }));
