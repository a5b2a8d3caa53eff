// The LFS model's write traces: splitmix64 and the sequence of
// poc/gc/workload.c, checked against numbers printed by the C program
// (`workload [--dist D] trace NBLOCKS OPS SEED [FIRST_OP]`, gcc 12 -O2).
import assert from 'node:assert/strict';
import { SplitMix64, shuffledIdentity } from '../../src/sim/lfs/rng.js';
import { TraceGen, WORKLOADS, layoutFor, workloadByName } from '../../src/sim/lfs/workload.js';

const N = 177760;
const layout = { files: 16, blocksPerFile: N / 16, nBlocks: N };

describe('lfs: splitmix64', () => {
  it('draws the reference sequence, in 32-bit halves as in 64-bit C', () => {
    const g = new SplitMix64(0);
    assert.equal(g.nextBigInt(), 16294208416658607535n);
    assert.equal(g.nextBigInt(), 7960286522194355700n);
    assert.equal(g.nextBigInt(), 487617019471545679n);
    // the state wraps at 2^64
    assert.equal(new SplitMix64(0xffffffffffffffffn).nextBigInt(), 16490336266968443936n);
  });

  it('unit() and mod() reduce a draw as the C does', () => {
    assert.equal(new SplitMix64(1234567).unit(), 0.35007954202140812);
    assert.equal(new SplitMix64(1234567).mod(177760), 145317);
    // against BigInt arithmetic over many draws and moduli
    const a = new SplitMix64(99);
    const b = new SplitMix64(99);
    for (let i = 0; i < 2000; i++) {
      const m = 1 + ((i * 7919) % (1 << 26));
      assert.equal(a.mod(m), Number(b.nextBigInt() % BigInt(m)));
    }
  });

  it('shuffledIdentity is a permutation', () => {
    const p = shuffledIdentity(1000, new SplitMix64(10));
    assert.deepEqual([...p].sort((x, y) => x - y), [...Array(1000).keys()]);
    assert.notDeepEqual([...p.subarray(0, 10)], [...Array(10).keys()]);
  });
});

describe('lfs: workload traces (poc/gc/workload.c)', () => {
  const first12: Record<string, number[]> = {
    'hotcold:90/10': [119053, 69378, 29532, 47932, 38407, 25483, 167114, 121679, 75341, 151690, 127802, 54231],
    'hotcold:80/20': [119053, 146041, 29532, 47932, 103162, 25483, 106797, 121679, 43409, 6585, 127802, 9105],
    zipf: [73254, 146868, 139399, 66507, 60885, 153359, 82669, 109168, 93568, 33813, 156723, 151406],
    uniform: [361, 175247, 16135, 113270, 99762, 45311, 127811, 10218, 35317, 138157, 13926, 149457],
  };
  // sum and a rolling hash (x = (x * 31 + b) mod 1e9+7) of 100000 ops with seed 7
  const digest: Record<string, [number, number]> = {
    'hotcold:90/10': [8862345798, 824317951],
    'hotcold:80/20': [8899414194, 45145374],
    zipf: [9623555217, 603628918],
    uniform: [8886103610, 798957162],
  };

  for (const name of Object.keys(WORKLOADS)) {
    it(`${name}: the C program's blocks`, () => {
      const w = workloadByName(name)!;
      assert.deepEqual([...new TraceGen(w, layout, 1).trace(0, 12)], first12[name]);
      const t = new TraceGen(w, layout, 7).trace(0, 100000);
      let s = 0;
      let x = 0;
      for (const b of t) {
        s += b;
        x = (x * 31 + b) % 1000000007;
      }
      assert.deepEqual([s, x], digest[name]);
    });
  }

  it('a run starts anywhere in the sequence (skip-ahead), also for small layouts', () => {
    const g = new TraceGen(WORKLOADS['hotcold:90/10']!, layout, 3);
    assert.deepEqual([...g.trace(999998, 4)], [151393, 94409, 123901, 39072]);
    assert.deepEqual([...g.trace(0, 1000002).subarray(999998)], [151393, 94409, 123901, 39072]);
    const small = { files: 8, blocksPerFile: 125, nBlocks: 1000 };
    assert.deepEqual([...new TraceGen(WORKLOADS['hotcold:90/10']!, small, 5).trace(0, 8)], [362, 818, 583, 452, 469, 354, 207, 299]);
  });

  it('90% of hot/cold writes go to the 10% hot set', () => {
    const g = new TraceGen(WORKLOADS['hotcold:90/10']!, layout, 1);
    const hot = g.hotMask();
    let n = 0;
    for (const b of g.trace(0, 100000)) n += hot[b]!;
    assert.ok(Math.abs(n / 100000 - 0.9) < 0.005, `hot share ${n / 100000}`);
  });

  it('the fill takes workload.c\'s NBLOCKS from the fresh filesystem\'s free blocks', () => {
    // statfs f_bfree on a fresh 1 GiB F2FS: 222208 - 2
    assert.deepEqual(layoutFor(222208, 80), { files: 16, blocksPerFile: 11110, nBlocks: 177760 });
    assert.equal(workloadByName('hotcold:70/30')?.kind, 'hotcold');
    assert.equal(workloadByName('hotcold:70/100'), undefined);
    assert.throws(() => new TraceGen(WORKLOADS.uniform!, { files: 1, blocksPerFile: 2 ** 27, nBlocks: 2 ** 27 }, 1), { code: 'KOFFLOAD_ERR_INVALID_ARG' });
  });
});
