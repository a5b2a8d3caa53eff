// poc/gc/workload.c: its write sequence is exactly the one its header
// comment and docs/poc-gc.md define, regenerated here from that text in
// TypeScript (as the LFS model does for the future-knowledge bound), and its
// fill/run contract (continuing sequence, state checks, writes only under
// DIR). Builds the program with gcc; skipped where there is none.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { skipBecause } from '../skip.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const M64 = (1n << 64n) - 1n;
const GAMMA = 0x9e3779b97f4a7c15n;

/** splitmix64 as documented: state s, next() advances s by GAMMA and mixes. */
class SplitMix64 {
  constructor(private s: bigint) {}
  next(): bigint {
    this.s = (this.s + GAMMA) & M64;
    let z = this.s;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M64;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M64;
    return z ^ (z >> 31n);
  }
}

type Dist = { kind: 'hotcold'; writePct: number; hotPct: number } | { kind: 'zipf' } | { kind: 'uniform' };

/** Block indices of ops first..first+ops-1, from the documented algorithm. */
function referenceTrace(dist: Dist, nblocks: number, ops: number, seed: bigint, first = 0): number[] {
  const layout = new SplitMix64((2n * seed) & M64);
  const perm = Array.from({ length: nblocks }, (_, i) => i);
  for (let i = nblocks - 1; i >= 1; i--) {
    const j = Number(layout.next() % BigInt(i + 1));
    [perm[i], perm[j]] = [perm[j]!, perm[i]!];
  }
  const hot = dist.kind === 'hotcold' ? Math.floor((nblocks * dist.hotPct) / 100) : 0;
  const cdf: number[] = [];
  if (dist.kind === 'zipf') {
    let c = 0;
    for (let r = 0; r < nblocks; r++) cdf.push((c += 1.0 / (r + 1)));
  }
  const w = new SplitMix64((2n * seed + 1n) & M64);
  for (let k = 0; k < 2 * first; k++) w.next();
  const out: number[] = [];
  const n = BigInt(nblocks);
  for (let k = 0; k < ops; k++) {
    const u1 = w.next();
    const u2 = w.next();
    if (dist.kind === 'hotcold') {
      out.push(u1 % 100n < BigInt(dist.writePct)
        ? perm[Number(u2 % BigInt(hot))]!
        : perm[hot + Number(u2 % (n - BigInt(hot)))]!);
    } else if (dist.kind === 'uniform') {
      out.push(Number(u2 % n));
    } else {
      const t = Number(u2 >> 11n) * 2 ** -53 * cdf[nblocks - 1]!;
      let lo = 0;
      let hi = nblocks - 1;
      while (lo < hi) {
        const mid = lo + Math.floor((hi - lo) / 2);
        if (cdf[mid]! > t) hi = mid;
        else lo = mid + 1;
      }
      out.push(perm[lo]!);
    }
  }
  return out;
}

describe('poc: GC workload program', function () {
  this.timeout(60_000);
  let dir: string;
  let prog: string;

  before(function () {
    if (spawnSync('gcc', ['--version']).status !== 0) skipBecause(this, 'needs gcc to build poc/gc/workload.c');
    dir = mkdtempSync(join(tmpdir(), 'koffload-workload-'));
    prog = join(dir, 'workload');
    execFileSync('gcc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', prog, join(REPO, 'poc/gc/workload.c')]);
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const run = (args: string[]) => spawnSync(prog, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  const trace = (args: string[]) => {
    const r = run(args);
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.trim().split('\n').map(Number);
  };

  it('splitmix64 here is the published one (reference outputs for seed 1234567)', () => {
    const g = new SplitMix64(1234567n);
    assert.deepEqual([g.next(), g.next(), g.next()],
      [6457827717110365317n, 3203168211198807973n, 9817491932198370423n]);
  });

  const cases: Array<[string, Dist]> = [
    ['hotcold:90/10', { kind: 'hotcold', writePct: 90, hotPct: 10 }],
    ['hotcold:80/20', { kind: 'hotcold', writePct: 80, hotPct: 20 }],
    ['zipf', { kind: 'zipf' }],
    ['uniform', { kind: 'uniform' }],
  ];
  for (const [name, dist] of cases) {
    it(`${name}: the program's trace is the documented sequence, from any op`, () => {
      for (const [nblocks, seed, first] of [[50_000, 1, 0], [4_096, 2, 12_345], [1_000, 18446744073709551615n, 7]] as const) {
        const got = trace(['--dist', name, 'trace', String(nblocks), '3000', String(seed), String(first)]);
        assert.deepEqual(got, referenceTrace(dist, nblocks, 3000, BigInt(seed), first), `nblocks=${nblocks} seed=${seed}`);
      }
    });
  }

  it('hotcold:90/10 sends 90% of writes to 10% of the blocks', () => {
    const got = trace(['trace', '20000', '200000', '5']);
    const counts = new Map<number, number>();
    for (const b of got) counts.set(b, (counts.get(b) ?? 0) + 1);
    const sorted = [...counts.values()].sort((a, b) => b - a);
    const top = sorted.slice(0, 2000).reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(top / got.length - 0.9) < 0.01, `top 10% got ${top / got.length}`);
  });

  it('fill then two runs: one continuing sequence, state kept, only DIR written', () => {
    const fs = join(dir, 'fs');
    execFileSync('mkdir', ['-p', fs]);
    const fill = run(['--dist', 'hotcold:80/20', 'fill', fs, '0.01', '9']);
    assert.equal(fill.status, 0, fill.stderr);
    const nblocks = Number(/nblocks=(\d+)/.exec(fill.stdout)![1]);
    assert.ok(nblocks > 0 && nblocks % 16 === 0);
    const files = readdirSync(fs).filter((f) => /^f\d\d$/.test(f)).sort();
    assert.equal(files.length, 16);
    for (const f of files) assert.equal(statSync(join(fs, f)).size, (nblocks / 16) * 4096);

    const r1 = run(['run', fs, '1000', '9']);
    assert.equal(r1.status, 0, r1.stderr);
    assert.match(r1.stdout, /^WORKLOAD op=run dist=hotcold:80\/20 files=16 .*first_op=0 writes=1000 .*write_p99_us=[\d.]+ /);
    const r2 = run(['run', fs, '500', '9']);
    assert.equal(r2.status, 0, r2.stderr);
    assert.match(r2.stdout, /first_op=1000 writes=500 /);
    assert.match(readFileSync(join(fs, '.workload'), 'utf8'), /fsync=last seed=9 nblocks=\d+ ops_done=1500\n$/);

    // Each written block holds the number of the last op that wrote it.
    const seq = referenceTrace({ kind: 'hotcold', writePct: 80, hotPct: 20 }, nblocks, 1500, 9n);
    const last = new Map<number, number>();
    seq.forEach((b, op) => last.set(b, op));
    const per = nblocks / 16;
    for (const [b, op] of [...last].slice(0, 50)) {
      const data = readFileSync(join(fs, files[Math.floor(b / per)]!));
      assert.equal(data.readBigUInt64LE((b % per) * 4096), BigInt(op), `block ${b}`);
    }
    assert.deepEqual(readdirSync(fs).sort(), ['.workload', ...files]);
  });

  it('--fsync last fsyncs once per K writes, --fsync written every file written since', () => {
    const fsyncs: Record<string, number> = {};
    for (const mode of ['last', 'written']) {
      const fs = join(dir, `fsync-${mode}`);
      execFileSync('mkdir', ['-p', fs]);
      assert.equal(run(['--fsync', mode, '--fsync-every', '10', 'fill', fs, '0.01', '1']).status, 0);
      const r = run(['run', fs, '1000', '1']);
      assert.equal(r.status, 0, r.stderr);
      fsyncs[mode] = Number(/ fsyncs=(\d+)/.exec(r.stdout)![1]);
      assert.match(readFileSync(join(fs, '.workload'), 'utf8'), new RegExp(`fsync_every=10 fsync=${mode} `));
    }
    // 100 fsyncs, plus the files still dirty at the end (at most 15).
    assert.ok(fsyncs.last! >= 100 && fsyncs.last! <= 115, `last: ${fsyncs.last}`);
    // 10 writes over 16 files touch about 8 of them.
    assert.ok(fsyncs.written! > 500, `written: ${fsyncs.written}`);
  });

  it('refuses a seed or distribution other than the fill\'s, and a second fill (exit 2)', () => {
    const fs = join(dir, 'fs2');
    execFileSync('mkdir', ['-p', fs]);
    assert.equal(run(['fill', fs, '0.01', '3']).status, 0);
    assert.equal(run(['run', fs, '10', '4']).status, 2);
    assert.equal(run(['--dist', 'zipf', 'run', fs, '10', '3']).status, 2);
    assert.equal(run(['fill', fs, '0.01', '3']).status, 2);
    assert.equal(run(['run', join(dir, 'nothing'), '10', '3']).status, 2);
    assert.equal(run(['--dist', 'hotcold:90', 'trace', '10', '1', '1']).status, 2);
    assert.equal(run(['run', fs, '10', '3']).status, 0);
  });
});
