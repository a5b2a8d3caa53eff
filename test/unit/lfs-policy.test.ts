// GC policies on the LFS model: the future-knowledge oracle, the kernel
// side of userspace advice (validation, fallback, placement bits), the
// daemon's labels, and the comparison npm start prints.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { BlockMap, CHUNK_BLOCKS, ClassMap, type Publication } from '../../examples/f2fs/advice.js';
import { lfsComparison } from '../../src/sim/lfs/compare.js';
import { GcDaemon, DAEMON_DEFAULTS, advisedHook } from '../../src/sim/lfs/daemon.js';
import { runExperiment } from '../../src/sim/lfs/experiment.js';
import { scaledGeometry, userBlockCount } from '../../src/sim/lfs/geometry.js';
import { GC_CB, LOG, LfsModel } from '../../src/sim/lfs/model.js';
import { Oracle } from '../../src/sim/lfs/oracle.js';
import { NAMED, POLICIES, policyByName } from '../../src/sim/lfs/policies.js';
import { TraceGen, WORKLOADS, layoutFor } from '../../src/sim/lfs/workload.js';

const geometry = scaledGeometry(64);
const layout = layoutFor(userBlockCount(geometry), 80, 4);

describe('lfs: policies', () => {
  it('the oracle gives the op that overwrites the version a block holds', () => {
    const o = new Oracle(Int32Array.from([3, 1, 3, 2, 1]), 4);
    const verOp = Float64Array.from([-1, -1, -1, -1]);
    const m = { verOp } as unknown as LfsModel;
    assert.deepEqual([0, 1, 2, 3].map((b) => o.nextWrite(m, b)), [o.never, 1, 3, 0]);
    verOp[3] = 0; // block 3 holds op 0's write: op 2 overwrites it
    verOp[1] = 4; // the last write of block 1: never again
    assert.equal(o.nextWrite(m, 3), 2);
    assert.equal(o.nextWrite(m, 1), o.never);
  });

  it('names resolve to configurations, with parameters on top; unknown ones do not', () => {
    assert.equal(policyByName('learned')?.name, 'learned');
    assert.equal(policyByName('learned:every=4')?.name, 'learned:every=4');
    assert.equal(policyByName('bound-life:t=1000')?.name, 'bound-life:t=1000');
    assert.equal(policyByName('bound-life')?.oracle, true);
    assert.equal(policyByName('nope'), undefined);
    assert.equal(policyByName('bound-life:zz=1'), undefined);
    assert.equal(policyByName('bound-life:t=x'), undefined);
    for (const [n] of NAMED) assert.ok(POLICIES.some((p) => p.name === n), n);
  });

  it("the kernel side serves a ranking entry only while it matches the live segment, else falls back to cost-benefit", () => {
    const d = new GcDaemon({ ...DAEMON_DEFAULTS, victim: 4, place: 0 }, layout.nBlocks);
    const { hook, stats } = advisedHook(d);
    const m = new LfsModel({ geometry, layout, kernelGc: GC_CB, hook, blocksPerSec: 2000 });
    m.fill();
    m.run(new TraceGen(WORKLOADS['hotcold:90/10']!, layout, 1).trace(0, 20000), 0);
    const dirty = [...m.isDirty.keys()].filter((s) => m.isDirty[s]);
    assert.ok(dirty.length >= 2);
    const [s1, s2] = dirty as [number, number];
    const a = d.advice;
    a.ranked = true;
    const before = stats();
    // entry 0: the live segment has more valid blocks than published (reused): skipped
    a.rankSeg[0] = s1;
    a.rankValid[0] = m.valid[s1]! - 1;
    a.rankType[0] = m.segLog[s1]!;
    // entry 1: matches
    a.rankSeg[1] = s2;
    a.rankValid[1] = m.valid[s2]!;
    a.rankType[1] = m.segLog[s2]!;
    a.rankLen = 2;
    assert.equal(hook.victim!(m), s2);
    // a published log type that no longer matches: skipped too, so no entry is left
    a.rankType[1] = (m.segLog[s2]! + 1) % 3;
    assert.equal(hook.victim!(m), -1);
    const after = stats();
    assert.equal(after.served! - before.served!, 1);
    assert.equal(after.fallbackStale! - before.fallbackStale!, 1);
    // nothing published yet: its own counter
    const fresh = advisedHook(new GcDaemon({ ...DAEMON_DEFAULTS, victim: 4, place: 0 }, layout.nBlocks));
    assert.equal(fresh.hook.victim!(m), -1);
    assert.equal(fresh.stats().fallbackNoAdvice, 1);
  });

  it('class bits send a moved block to the hot data log, by the kind of victim it leaves', () => {
    const d = new GcDaemon({ ...DAEMON_DEFAULTS, place: 7 }, layout.nBlocks);
    const { hook } = advisedHook(d);
    const m = { segLog: Int8Array.from([LOG.WARM_DATA, LOG.COLD_DATA]) } as unknown as LfsModel;
    d.advice.cls.set(7, 1); // hot when it leaves a warm victim
    d.advice.cls.set(8, 2); // hot when it leaves a GC-log victim
    assert.equal(hook.destination!(m, 0, 7), LOG.HOT_DATA);
    assert.equal(hook.destination!(m, 1, 7), LOG.COLD_DATA);
    assert.equal(hook.destination!(m, 0, 8), LOG.COLD_DATA);
    assert.equal(hook.destination!(m, 1, 8), LOG.HOT_DATA);
    assert.equal(hook.destination!(m, 0, 9), LOG.COLD_DATA);
  });

  it('the daemon labels a moved block by whether it outlived its destination segment', () => {
    const d = new GcDaemon({ ...DAEMON_DEFAULTS, place: 7 }, 100);
    // blocks 5 and 6 leave warm victim 10 for segment 20
    d.onVictim(1000, 10, LOG.WARM_DATA, Int32Array.from([5, 6]), Int32Array.from([20, 20]), 2);
    assert.equal(d.stats.trained, 0);
    // segment 20 is cleaned: 5 survived, 6 had died
    d.onVictim(5000, 20, LOG.COLD_DATA, Int32Array.from([5]), Int32Array.from([30]), 1);
    assert.equal(d.stats.trained, 2);
    assert.equal(d.stats.trainedDied, 1);
    // segment 30 empties: its notice may still be queued, so nothing is decided yet;
    // the poll that sees it reborn resolves block 5 as died
    const valid = new Int32Array(40);
    const type = new Int8Array(40).fill(LOG.COLD_DATA);
    valid[30] = 1;
    d.onPoll(6000, valid, type);
    valid[30] = 0;
    d.onPoll(7000, valid, type);
    assert.equal(d.stats.trained, 2);
    valid[30] = 4;
    d.onPoll(8000, valid, type);
    assert.equal(d.stats.trained, 3);
    assert.equal(d.stats.trainedDied, 2);
    // emptyDied=1 decides at the poll that sees it empty
    const e = new GcDaemon({ ...DAEMON_DEFAULTS, place: 7, emptyDied: 1 }, 100);
    e.onVictim(1000, 10, LOG.WARM_DATA, Int32Array.from([5]), Int32Array.from([30]), 1);
    valid[30] = 1;
    e.onPoll(6000, valid, type);
    valid[30] = 0;
    e.onPoll(7000, valid, type);
    assert.deepEqual([e.stats.trained, e.stats.trainedDied], [1, 1]);
  });

  it("the class refresh gives every block the bits classify() gives it, and marks exactly the pages that changed", () => {
    const p = { ...DAEMON_DEFAULTS, place: 7, minTrain: 0 };
    // weights that put every feature's term near the decision boundary (x1 and x4 are 0.4-0.9 here)
    const d = new GcDaemon(p, 0, undefined, [-2, -8, 3, 0.8, 6, 1.4, -1, 0.5]);
    const mixed = new Set<number>();
    const ref = new ClassMap();
    const priv = d as unknown as { classify(t: number, b: number): number; seen: Uint8Array };
    let s = 7;
    const rnd = (n: number): number => (s = (s * 1103515245 + 12345) % 2147483648) % n;
    const ids = new Int32Array(512);
    const dests = new Int32Array(512);
    let t = 0;
    const blocks = 3 * CHUNK_BLOCKS + 123;
    for (let round = 0; round < 6; round++) {
      // victims move blocks, clustered and scattered, out of warm and cold segments
      for (let v = 0; v < 40; v++) {
        t += 300 + rnd(5000);
        const n = 1 + rnd(512);
        const base = rnd(blocks);
        for (let i = 0; i < n; i++) {
          ids[i] = rnd(4) === 0 ? rnd(blocks) : (base + i) % blocks;
          dests[i] = 100 + rnd(300);
        }
        d.onVictim(t, rnd(400), rnd(2) ? LOG.WARM_DATA : LOG.COLD_DATA, ids, dests, n);
      }
      for (const refresh of [1, 3, 7]) {
        t += 1000 + rnd(200000);
        d.p.refresh = refresh;
        const unseen = priv.classify(t, -1);
        for (let k = 0; k < refresh; k++) d.refreshClasses(t);
        for (let b = 0; b < d.nBlocks; b++) ref.set(b, priv.seen[b] ? priv.classify(t, b) : unseen);
        for (let b = 0; b < d.nBlocks; b++) if (priv.seen[b]) mixed.add(ref.get(b));
        for (let b = 0; b < d.nBlocks; b++) if (d.advice.cls.get(b) !== ref.get(b)) assert.fail(`block ${b} at t=${t}: ${d.advice.cls.get(b)}, classify() ${ref.get(b)}`);
      }
    }
    assert.ok(mixed.size >= 2, `the moved blocks' classes are too uniform to tell: ${[...mixed]}`);
    // both maps hold the same pages, and the same ones are pending publication
    const map = new BlockMap();
    for (let c = 0; c < Math.ceil(d.nBlocks / CHUNK_BLOCKS); c++) map.slot(4, c);
    d.advice.cls.take(map, 1, 1000, 0, 1e9);
    ref.take(map, 1, 1000, 0, 1e9);
    d.p.refresh = 1;
    d.refreshClasses(t + 1e6);
    const unseen = priv.classify(t + 1e6, -1);
    for (let b = 0; b < d.nBlocks; b++) ref.set(b, priv.seen[b] ? priv.classify(t + 1e6, b) : unseen);
    const keys = (pubs: Publication[]): string[] => pubs.map((x) => `${x.key.toString('hex')}:${createHash('sha256').update(x.payload).digest('hex')}`);
    const pending = keys(ref.take(map, 1, 1000, 1, 1e9));
    assert.ok(pending.length > 0 && pending.length < map.slots, `${pending.length} of ${map.slots} pages changed: the check needs some`);
    assert.deepEqual(keys(d.advice.cls.take(map, 1, 1000, 1, 1e9)), pending);
    // nothing changed since: nothing to publish
    assert.equal(d.advice.cls.take(map, 1, 1000, 2, 1e9).length, 0);
  });

  it('a notice handled after the poll that saw its victim empty still labels the survivors', () => {
    const d = new GcDaemon({ ...DAEMON_DEFAULTS, place: 7 }, 100);
    const valid = new Int32Array(40);
    const type = new Int8Array(40).fill(LOG.COLD_DATA);
    d.onVictim(1000, 10, LOG.WARM_DATA, Int32Array.from([5, 6]), Int32Array.from([20, 20]), 2);
    valid[20] = 2;
    d.onPoll(2000, valid, type);
    // GC cleans 20; the policy polls before it handles the notice
    valid[20] = 0;
    d.onPoll(3000, valid, type);
    d.onVictim(3000, 20, LOG.COLD_DATA, Int32Array.from([5]), Int32Array.from([30]), 1);
    assert.deepEqual([d.stats.trained, d.stats.trainedDied], [2, 1]);
  });

  it('a poll that sees a segment reborn leaves the examples of its new life alone', () => {
    const d = new GcDaemon({ ...DAEMON_DEFAULTS, place: 7 }, 100);
    const valid = new Int32Array(50);
    const type = new Int8Array(50).fill(LOG.COLD_DATA);
    d.onPoll(1000, valid, type); // segment 40 empty
    // block 7 moves into segment 40 after that poll
    d.onVictim(1500, 10, LOG.WARM_DATA, Int32Array.from([7]), Int32Array.from([40]), 1);
    valid[40] = 3;
    d.onPoll(2000, valid, type); // segment 40 filling: reborn
    assert.equal(d.stats.trained, 0);
    // segment 40 is cleaned with block 7 alive: a survivor, not a death
    d.onVictim(3000, 40, LOG.COLD_DATA, Int32Array.from([7]), Int32Array.from([41]), 1);
    assert.equal(d.stats.trained, 1);
    assert.equal(d.stats.trainedDied, 0);
  });

  it('on a small device the learned policy beats cost-benefit, which beats greedy', () => {
    const g = scaledGeometry(126);
    const w = (name: string): number =>
      runExperiment({ geometry: g, workload: WORKLOADS['hotcold:90/10']!, seed: 1, warmupOps: 300000, measureOps: 200000, policy: policyByName(name)! }).gcDataWaf;
    const [greedy, cb, learned] = [w('kernel-greedy'), w('kernel-cb'), w('learned')];
    assert.ok(cb < 0.7 * greedy, `cb ${cb} greedy ${greedy}`);
    assert.ok(learned < 0.95 * cb, `learned ${learned} cb ${cb}`);
  });

  it('lfsComparison() prints the three policies against each other', () => {
    const c = lfsComparison({ geometry: scaledGeometry(126), warmupOps: 200000, measureOps: 100000 });
    assert.deepEqual(c.results.map((r) => r.policy), ['kernel-greedy', 'kernel-cb', 'learned']);
    assert.match(c.text, /kernel-greedy +\d\.\d{3}/);
    assert.match(c.text, /learned: \d\.\d{3} GC data WAF, -\d+\.\d% against F2FS's cost-benefit/);
    assert.throws(() => lfsComparison({ policies: ['nope'] }), { code: 'KOFFLOAD_ERR_INVALID_ARG' });
  });
});
