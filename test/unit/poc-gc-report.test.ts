// scripts/poc-gc-report.ts: issue 7's summary line from the guest's POCGC
// lines: means over seeds, greedy as the default, the better of F2FS's own
// as the best kernel, the best koffload policy reported even when it loses.
import assert from 'node:assert/strict';
import { wafPlot } from '../../scripts/poc-gc-plot.js';
import { parseResults, seedLines, summaryLine, wafPlots } from '../../scripts/poc-gc-report.js';

const line = (policy: string, seed: number, waf: number, extra = ''): string =>
  `POCGC name=c0${seed} policy=${policy} dist=hotcold:90/10 util=80 seed=${seed} warmup=1000000 ops=1000000 minhot=0 waf_gc=${waf}${extra}`;

describe('poc-gc report: the summary line', () => {
  it('parses a POCGC line into its fields and skips other lines', () => {
    const rows = parseResults(`noise\n${line('cb', 1, 1.7, ' kf_victim_advised=12')}\n`);
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.policy, 'cb');
    assert.equal(rows[0]!.waf_gc, '1.7');
    assert.equal(rows[0]!.kf_victim_advised, '12');
  });

  it('compares the best koffload policy with the better kernel policy, means over seeds', () => {
    const rows = parseResults(
      [line('greedy', 1, 2.7), line('greedy', 2, 2.6), line('cb', 1, 1.7), line('cb', 2, 1.6), line('kf:greedy', 1, 2.6), line('kf:learned', 1, 1.5), line('kf:learned', 2, 1.4)].join('\n'),
    );
    const s = summaryLine(rows)!;
    assert.equal(s.policy, 'kf:learned');
    assert.equal(s.line, 'waf_default=2.65 waf_best_kernel=1.65 waf_best=1.45 improvement_vs_kernel_pct=12.1 improvement_vs_greedy_pct=45.3 policy=kf:learned workload=hotcold:90/10');
  });

  it('reports a koffload policy that loses to cost-benefit with a negative improvement', () => {
    const s = summaryLine(parseResults([line('greedy', 1, 2.7), line('cb', 1, 1.6), line('kf:learned', 1, 1.76)].join('\n')))!;
    assert.equal(s.policy, 'kf:learned');
    assert.match(s.line, / waf_best=1\.76 improvement_vs_kernel_pct=-10\.0 improvement_vs_greedy_pct=34\.8 /);
  });

  it('reports a tie as 0.0, not -0.0', () => {
    const s = summaryLine(parseResults([line('greedy', 1, 1.7284), line('cb', 1, 1.7199), line('kf:learned', 1, 1.7197)].join('\n')))!;
    assert.match(s.line, / improvement_vs_kernel_pct=0\.0 /);
  });

  it('leaves fault runs out: their WAF is half a fallback', () => {
    const s = summaryLine(parseResults([line('greedy', 1, 2.7), line('cb', 1, 1.7), line('kf:learned', 1, 1.6), line('kf:learned', 2, 1.4, ' fault=kill')].join('\n')))!;
    assert.match(s.line, / waf_best=1\.60 /);
  });

  it('gives no line without both kernel baselines, and ignores other workloads', () => {
    assert.equal(summaryLine(parseResults([line('greedy', 1, 2.7), line('kf:learned', 1, 1.5)].join('\n'))), undefined);
    const other = line('cb', 1, 1.6).replace('util=80', 'util=90');
    assert.equal(summaryLine(parseResults([line('greedy', 1, 2.7), other].join('\n'))), undefined);
  });
});

describe('poc-gc report: the WAF-against-utilisation plot', () => {
  const at = (policy: string, util: number, seed: number, waf: number, extra = ''): string =>
    `POCGC name=c${util}${seed} policy=${policy} dist=hotcold:90/10 util=${util} seed=${seed} warmup=1000000 ops=1000000 waf_gc=${waf}${extra}`;

  it('draws a line per policy through the seed means, bounds dashed, and skips fault runs', () => {
    const rows = parseResults(
      [at('greedy', 70, 1, 2.0), at('greedy', 80, 1, 2.6), at('greedy', 80, 2, 2.8), at('kf:learned', 70, 1, 1.2), at('kf:learned', 80, 1, 1.5), at('kf:learned', 80, 2, 9, ' fault=kill')].join('\n'),
    );
    const bounds = [
      { trace: rows[0]!, bound: 'bound-life-2', waf: 1.1 },
      { trace: rows[1]!, bound: 'bound-life-2', waf: 1.3 },
    ];
    const plots = wafPlots(rows, bounds);
    assert.equal(plots.length, 1);
    const { svg, file } = plots[0]!;
    assert.equal(file, 'waf-hotcold-90-10.svg');
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    // greedy's 80% point is the mean of its two seeds, 2.7; the fault run's 9 is nowhere
    assert.match(svg, /<title>F2FS greedy 80%: 2\.700<\/title>/);
    assert.match(svg, /<title>koffload learned 80%: 1\.500<\/title>/);
    assert.doesNotMatch(svg, /9\.000/);
    assert.equal((svg.match(/<polyline /g) ?? []).length, 3);
    assert.equal((svg.match(/<polyline [^>]*stroke-dasharray/g) ?? []).length, 1);
    assert.match(svg, />bound-life-2 \(bound, model\)</);
  });

  it('draws nothing for a workload measured at one utilisation only, and refuses an empty plot', () => {
    assert.deepEqual(wafPlots(parseResults(at('greedy', 80, 1, 2.6)), []), []);
    assert.throws(() => wafPlot('empty', [{ name: 'x', points: [] }]), RangeError);
  });
});

describe('poc-gc report: the spread over seeds', () => {
  it('counts seeds, not runs, and leaves fault runs out', () => {
    const l = (seed: number, waf: number, extra = ''): string =>
      `POCGC name=x policy=kf:learned dist=hotcold:90/10 util=80 seed=${seed} warmup=1000000 ops=1000000 minhot=0 waf_gc=${waf}${extra}`;
    // one seed and a fault run of the same seed: no spread line at all
    assert.deepEqual(seedLines(parseResults([l(1, 1.51), l(1, 1.61, ' fault=kill')].join('\n'))), []);
    const two = seedLines(parseResults([l(1, 1.5), l(2, 1.6), l(2, 9, ' fault=kill')].join('\n')));
    assert.equal(two.length, 1);
    assert.match(two[0]!, /waf_gc mean 1\.550, spread 6\.45% over 2 seeds$/);
  });
});
