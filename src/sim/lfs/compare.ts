/**
 * The GC comparison `npm start` shows on a machine without the module:
 * F2FS's greedy and cost-benefit against the best userspace policy found
 * (docs/poc-gc-model.md), on the LFS model at the guest's geometry.
 */
import { KoffloadError } from '../../errors.js';
import { type Geometry, scaledGeometry } from './geometry.js';
import { type ExperimentResult, describeGeometry, runExperiment } from './experiment.js';
import { policyByName } from './policies.js';
import { WORKLOADS, type WorkloadSpec, workloadName } from './workload.js';

export interface ComparisonOptions {
  /** @default scaledGeometry(251): half the guest's 1 GiB main area, its proportions of spare space */
  geometry?: Geometry;
  /** @default 80 */
  fillPct?: number;
  /** @default hotcold:90/10 */
  workload?: WorkloadSpec;
  /** @default 1 */
  seed?: number;
  /** warm-up writes. @default 300_000 */
  warmupOps?: number;
  /** measured writes. @default 200_000 */
  measureOps?: number;
  /** policies, kernel ones first. @default ['kernel-greedy', 'kernel-cb', 'learned'] */
  policies?: string[];
  /** F2FS's sysfs min_hot_blocks for every policy alike. @default 16 (F2FS's) */
  minHotBlocks?: number;
}

export interface Comparison {
  results: ExperimentResult[];
  /** the table and one summary line, ready to print */
  text: string;
}

/**
 * Runs each policy once and formats the table; under a second per policy
 * at the defaults on this machine (2 cores). Throws KoffloadError
 * KOFFLOAD_ERR_INVALID_ARG for an unknown policy name.
 */
export function lfsComparison(opts: ComparisonOptions = {}): Comparison {
  const geometry = opts.geometry ?? scaledGeometry(251);
  const fillPct = opts.fillPct ?? 80;
  const workload = opts.workload ?? WORKLOADS['hotcold:90/10']!;
  const seed = opts.seed ?? 1;
  const warmupOps = opts.warmupOps ?? 300_000;
  const measureOps = opts.measureOps ?? 200_000;
  const names = opts.policies ?? ['kernel-greedy', 'kernel-cb', 'learned'];
  const results = names.map((n) => {
    const policy = policyByName(n);
    if (!policy) throw new KoffloadError('KOFFLOAD_ERR_INVALID_ARG', `unknown LFS policy '${n}' (node dist/bench/lfs-model.js --list)`);
    return runExperiment({ geometry, fillPct, workload, seed, warmupOps, measureOps, policy, ...(opts.minHotBlocks === undefined ? {} : { minHotBlocks: opts.minHotBlocks }) });
  });
  const greedy = results.find((r) => r.policy === 'kernel-greedy');
  const cb = results.find((r) => r.policy === 'kernel-cb');
  const pct = (r: ExperimentResult, base: ExperimentResult | undefined): string => (base ? `${((100 * (r.gcDataWaf - base.gcDataWaf)) / base.gcDataWaf).toFixed(1)}%` : '-');
  const head = ['POLICY', 'GC DATA WAF', 'VS CB', 'VS GREEDY', 'GC CALLS', 'MOVED TO', 'CPU S'];
  const rows = results.map((r) => [
    r.policy,
    r.gcDataWaf.toFixed(3),
    pct(r, cb),
    pct(r, greedy),
    String(r.measured.gcCalls),
    Object.entries(r.movedTo)
      .map(([k, n]) => `${k} ${Math.round((100 * n) / Math.max(1, r.measured.gcData))}%`)
      .join(', '),
    r.cpuSeconds.toFixed(1),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 || i === 5 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  const out = [
    `F2FS GC on the LFS model (src/sim/lfs): ${workloadName(workload)}, ${fillPct}% full, seed ${seed}, ${warmupOps} warm-up + ${measureOps} measured 4 KiB writes`,
    describeGeometry(geometry, fillPct),
    '',
    line(head),
    ...rows.map(line),
  ];
  // bounds know the future: the limits of the table, never its best policy
  const isBound = (r: ExperimentResult): boolean => policyByName(r.policy)?.oracle === true;
  const best = results.filter((r) => !r.policy.startsWith('kernel-') && !isBound(r)).sort((a, b) => a.gcDataWaf - b.gcDataWaf)[0];
  if (best && cb && greedy) {
    out.push(
      '',
      `${best.policy}: ${best.gcDataWaf.toFixed(3)} GC data WAF, ${pct(best, cb)} against F2FS's cost-benefit and ${pct(best, greedy)} against greedy; ` +
        'it chooses victims and the log each moved block goes to from segment_info polls and GC notifications only.',
    );
  }
  const bounds = results.filter(isBound);
  if (bounds.length > 0) {
    out.push(`bounds (future knowledge, not policies): ${bounds.map((r) => `${r.policy} ${r.gcDataWaf.toFixed(3)} (${pct(r, cb)})`).join(', ')}.`);
  }
  return { results, text: out.join('\n') };
}
