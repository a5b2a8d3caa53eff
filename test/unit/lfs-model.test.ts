// The F2FS model: mkfs geometry, the model's bookkeeping, and victim
// selection exactly as get_victim_by_default() computes it.
import assert from 'node:assert/strict';
import { GEOMETRY_1G, MKFS_1_15, mkfsGeometry, scaledGeometry, userBlockCount } from '../../src/sim/lfs/geometry.js';
import { GC_CB, GC_GREEDY, LOG, LfsModel, nodeIndexOf, nodesPerFile } from '../../src/sim/lfs/model.js';
import { TraceGen, WORKLOADS, layoutFor } from '../../src/sim/lfs/workload.js';

function small(kernelGc: typeof GC_CB | typeof GC_GREEDY = GC_CB, fillPct = 80): { m: LfsModel; gen: TraceGen } {
  const geometry = scaledGeometry(64);
  const layout = layoutFor(userBlockCount(geometry), fillPct, 4);
  return { m: new LfsModel({ geometry, layout, kernelGc, blocksPerSec: 2000 }), gen: new TraceGen(WORKLOADS['hotcold:90/10']!, layout, 1) };
}

describe('lfs: geometry', () => {
  it('mkfsGeometry() is mkfs.f2fs 1.15 for every measured size', () => {
    for (const [size, g] of Object.entries(MKFS_1_15)) assert.deepEqual(mkfsGeometry(g.mainSegs), g, size);
    assert.equal(userBlockCount(GEOMETRY_1G), 222208);
  });
});

describe('lfs: model', () => {
  it('maps file blocks to inode, direct and indirect-linked nodes as F2FS does', () => {
    assert.equal(nodesPerFile(873), 1);
    assert.equal(nodesPerFile(874), 2);
    assert.equal(nodesPerFile(11110), 13);
    assert.deepEqual([0, 872, 873, 1890, 1891, 2908, 2909, 3927].map(nodeIndexOf), [0, 0, 1, 1, 2, 2, 4, 5]);
  });

  it('keeps valid counts, lists and addresses consistent through fill and GC', () => {
    for (const mode of [GC_GREEDY, GC_CB] as const) {
      const { m, gen } = small(mode);
      m.fill();
      m.check();
      m.run(gen.trace(0, 60000), 0);
      m.check();
      const c = m.snapshot();
      assert.ok(c.gcCalls > 50 && c.dataVictims > 0, `GC ran: ${JSON.stringify(c)}`);
      // every user write reached the device, was merged in the page cache
      // or was written by GC
      assert.equal(c.userData + c.merged + c.absorbed, c.userOps);
      assert.ok(c.merged > 0 && c.absorbed > 0);
      // GC keeps the reserved segments free
      assert.ok(m.nrFree + m.nrPrefree >= m.geo.reservedSegs - 1);
    }
  });

  it("sends the fill to the warm log, fsync'd overwrites to the hot log (min_hot_blocks), GC-moved data to the cold log", () => {
    const { m, gen } = small();
    const logsHolding = (): Set<number> => {
      const l = new Set<number>();
      for (let s = 0; s < m.nSeg; s++) if (m.valid[s]! > 0 && m.isDataLog(m.segLog[s]!)) l.add(m.segLog[s]!);
      return l;
    };
    m.fill();
    // a whole file dirty at once: more than 16 pages, the warm log
    assert.deepEqual([...logsHolding()], [LOG.WARM_DATA]);
    m.run(gen.trace(0, 30000), 0);
    // a few pages per file per fsync: FI_HOT_DATA
    assert.ok(logsHolding().has(LOG.HOT_DATA));
    assert.ok(m.movedTo[LOG.COLD_DATA]! > 0);
    assert.equal(m.movedTo[LOG.COLD_DATA], m.snapshot().gcData);
    // min_hot_blocks 0: every user write to the warm log
    const geometry = scaledGeometry(64);
    const layout = layoutFor(userBlockCount(geometry), 80, 4);
    const m0 = new LfsModel({ geometry, layout, kernelGc: GC_CB, blocksPerSec: 2000, minHotBlocks: 0 });
    m0.fill();
    m0.run(gen.trace(0, 30000), 0);
    for (let s = 0; s < m0.nSeg; s++) if (m0.valid[s]! > 0) assert.notEqual(m0.segLog[s], LOG.HOT_DATA, `segment ${s}`);
  });

  it('greedy picks the fewest valid blocks, the first in the circular scan on ties', () => {
    const { m } = small(GC_GREEDY);
    const set = (s: number, v: number): void => {
      m.valid[s] = v;
      m.isDirty[s] = 1;
    };
    m.isDirty.fill(0);
    set(10, 300);
    set(20, 100);
    set(30, 100);
    set(40, 200);
    m.nrDirty = 4;
    m.lastVictim[GC_GREEDY] = 0;
    assert.equal(m.kernelVictim(GC_GREEDY), 20);
    // the scan ended at segment 40: last_victim = 41, and the next scan
    // starts there, wraps, and still finds 20 first
    assert.equal(m.lastVictim[GC_GREEDY], 41);
    assert.equal(m.kernelVictim(GC_GREEDY), 20);
    // started at 25 (after a wrap), 30 is met before 20
    m.lastVictim[GC_GREEDY] = 25;
    assert.equal(m.kernelVictim(GC_GREEDY), 30);
    assert.equal(m.lastVictim[GC_GREEDY], 26);
  });

  it("cost-benefit is get_cb_cost(): integer u and age, UINT_MAX minus the benefit", () => {
    const { m } = small();
    m.minMtime = 0;
    m.maxMtime = 100;
    m.valid[5] = 256; // u = 50
    m.mtime[5] = 40; // age = 60
    assert.equal(m.cbCost(5), 4294967295 - Math.floor((100 * 50 * 60) / 150));
    m.valid[6] = 511; // u = 99
    m.mtime[6] = 0; // age = 100
    assert.equal(m.cbCost(6), 4294967295 - Math.floor((100 * 1 * 100) / 199));
    // an mtime past max_mtime raises it, as the C does
    m.mtime[7] = 150;
    m.valid[7] = 0;
    assert.equal(m.cbCost(7), 4294967295);
    assert.equal(m.maxMtime, 150);
  });

  it('cost-benefit selects nothing when every candidate has age 0, and the model reports running out of space', () => {
    // F2FS's own failure mode: all SIT mtimes equal to max_mtime
    const geometry = scaledGeometry(64);
    const layout = layoutFor(userBlockCount(geometry), 80, 4);
    const m = new LfsModel({ geometry, layout, kernelGc: GC_CB, blocksPerSec: 1e12 });
    m.fill();
    const gen = new TraceGen(WORKLOADS['hotcold:90/10']!, layout, 1);
    assert.throws(() => m.run(gen.trace(0, 200000), 0), { code: 'KOFFLOAD_ERR_LFS_NO_SPACE' });
  });
});
