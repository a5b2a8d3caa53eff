// `npm run bench`'s command line: --help, and usage errors that say what was
// wrong (it used to die with a TypeError stack on any unknown flag). Nothing
// here measures: the bench itself needs root and minutes.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BENCH = join(fileURLToPath(new URL('../../', import.meta.url)), 'bench', 'bench.js');

function bench(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BENCH, ...args], { encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('bench: command line', function () {
  this.timeout(30_000);

  for (const flag of ['--help', '-h']) {
    it(`${flag} prints the options and exits 0`, () => {
      const r = bench(flag);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /^usage: npm run bench/);
      for (const opt of ['--quick', '--rounds', '--sweep', '--soak', '--profile', '--kernel', '--prebuilt']) assert.match(r.stdout, new RegExp(`\\n  ${opt}\\b`));
      assert.match(r.stdout, /throughput_ratio_conventional=X/);
    });
  }

  for (const [args, why] of [
    [['--bogus'], /Unknown option '--bogus'/],
    [['--rounds', 'x'], /--rounds wants a positive number, got 'x'/],
    [['--duration', '0'], /--duration wants a positive number, got '0'/],
    [['--soak=-5'], /--soak wants a positive number, got '-5'/],
  ] as const) {
    it(`${args.join(' ')}: exit 2 with the reason and the usage, no stack`, () => {
      const r = bench(...args);
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, why);
      assert.match(r.stderr, /usage: npm run bench/);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    });
  }
});
