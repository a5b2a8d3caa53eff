// What the learned F2FS policy loses with the MOVED notices it never sees:
// the LFS model (src/sim/lfs) with examples/f2fs/engine.ts's LearnedEngine
// in-process through the f2fs_gc contract, at the guest's geometry
// (hot/cold 90/10, 80%, seed 1, warm-up 1M, measured 1M, min_hot_blocks 0),
// each MOVED notice dropped before the policy sees it with probability P (a
// fixed LCG, so each run is reproducible). In the guest most of them expired
// or were abandoned in koffloadd's queue (docs/poc-gc.md). Prints numbers;
// asserts nothing.
//
//   npm run build && node dist/bench/lfs-notice-loss.js [P ...]   (default 0 0.25 0.5 0.9; ~12 s each)
import { Op } from '../src/generated/proto/f2fs.js';
import { runExperiment } from '../src/sim/lfs/experiment.js';
import { GEOMETRY_1G } from '../src/sim/lfs/geometry.js';
import { DirectBackend } from '../src/sim/lfs/koffload.js';
import { policyByName } from '../src/sim/lfs/policies.js';
import { workloadByName } from '../src/sim/lfs/workload.js';

const losses = process.argv.length > 2 ? process.argv.slice(2).map(Number) : [0, 0.25, 0.5, 0.9];
const advise = DirectBackend.prototype.advise;
for (const p of losses) {
  let s = 12345;
  const rnd = (): number => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  DirectBackend.prototype.advise = function (this: DirectBackend, op, payload, done): void {
    if (op === Op.OP_MOVED && rnd() < p) return done(true);
    advise.call(this, op, payload, done);
  };
  const r = runExperiment({
    geometry: GEOMETRY_1G,
    workload: workloadByName('hotcold:90/10')!,
    fillPct: 80,
    seed: 1,
    warmupOps: 1_000_000,
    measureOps: 1_000_000,
    minHotBlocks: 0,
    policy: policyByName('koffload-learned:trained=1')!,
  });
  const hot = r.movedTo['hot-data'] ?? 0;
  const cold = r.movedTo['cold-data'] ?? 0;
  console.log(`notices_lost=${p} waf_gc=${r.gcDataWaf.toFixed(3)} moved_hot_pct=${((100 * hot) / Math.max(1, hot + cold)).toFixed(1)} run_s=${r.runSeconds.toFixed(1)}`);
}
DirectBackend.prototype.advise = advise;
