#!/usr/bin/env node
/**
 * Runs GC policies on the LFS model (src/sim/lfs) and prints GC data WAF.
 *
 *   node dist/bench/lfs-model.js --policy kernel-greedy --policy bound-life:t=80000 --seeds 1,2
 *   node dist/bench/lfs-model.js --workload hotcold:80/20 --fill 70,80,90
 *   node dist/bench/lfs-model.js --list
 */
import { parseArgs } from 'node:util';
import { GEOMETRY_1G, MKFS_1_15, type Geometry, scaledGeometry } from '../src/sim/lfs/geometry.js';
import { describeGeometry, type ExperimentResult, runExperiment } from '../src/sim/lfs/experiment.js';
import { POLICIES, policyByName } from '../src/sim/lfs/policies.js';
import { workloadByName } from '../src/sim/lfs/workload.js';

const HELP = `usage: node dist/bench/lfs-model.js [options]
  --policy P         a policy, with parameters as name:k=v,k=v; repeat for more
                     (default kernel-greedy and kernel-cb; --list names them)
  --workload W,..    hotcold:90/10 (default), hotcold:80/20, zipf, uniform
  --fill P,..        percent of user capacity filled (default 80)
  --seeds S,..       (default 1,2)
  --warmup N         warm-up writes (default 1000000)
  --measure N        measured writes (default 1000000)
  --size S           mkfs geometry: 128M..8G (default 1G), or scaled:SEGS
  --bps N            main-area block writes per guest second (default 60000
                     at 1 GiB, in proportion to the main area otherwise)
  --no-nodes         leave node blocks out of the model
  --cp-nodes         node pages written by checkpoints only, not by fsync
  --min-hot-blocks N F2FS's min_hot_blocks (default 16; 0: user data to the warm log)
  --json             one JSON object per run instead of the table
  --markdown         at the end, a table per workload: mean GC data WAF over
                     the seeds (each seed), change against kernel-cb and
                     kernel-greedy (run both for those columns)
  --list             the policies
`;

function main(): number {
  const { values: v } = parseArgs({
    options: {
      policy: { type: 'string', multiple: true },
      workload: { type: 'string' },
      fill: { type: 'string' },
      seeds: { type: 'string' },
      warmup: { type: 'string' },
      measure: { type: 'string' },
      size: { type: 'string' },
      bps: { type: 'string' },
      'no-nodes': { type: 'boolean' },
      'cp-nodes': { type: 'boolean' },
      'min-hot-blocks': { type: 'string' },
      json: { type: 'boolean' },
      markdown: { type: 'boolean' },
      list: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (v.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (v.list) {
    for (const p of POLICIES) process.stdout.write(`${p.name.padEnd(28)} ${p.oracle ? '[bound] ' : ''}${p.about}\n`);
    return 0;
  }
  const list = (s: string | undefined, d: string): string[] => (s ?? d).split(',').filter(Boolean);
  const policies = (v.policy ?? ['kernel-greedy', 'kernel-cb']).map((n) => {
    const p = policyByName(n);
    if (!p) throw new Error(`unknown policy ${n} (--list)`);
    return p;
  });
  const workloads = list(v.workload, 'hotcold:90/10').map((n) => {
    const w = workloadByName(n);
    if (!w) throw new Error(`unknown workload ${n}`);
    return w;
  });
  let geometry: Geometry = GEOMETRY_1G;
  if (v.size) {
    const m = /^scaled:(\d+)$/.exec(v.size);
    const g = m ? scaledGeometry(Number(m[1])) : MKFS_1_15[v.size];
    if (!g) throw new Error(`unknown --size ${v.size}`);
    geometry = g;
  }
  const fills = list(v.fill, '80').map(Number);
  const seeds = list(v.seeds, '1,2').map(Number);
  const warmupOps = Number(v.warmup ?? 1_000_000);
  const measureOps = Number(v.measure ?? 1_000_000);
  const blocksPerSec = v.bps === undefined ? undefined : Number(v.bps);
  if (!v.json) process.stdout.write(`geometry: ${describeGeometry(geometry, fills[0]!)}\nwarm-up ${warmupOps}, measured ${measureOps} writes; ${blocksPerSec ?? Math.round((60000 * geometry.mainSegs) / 502)} blocks/s guest clock${v['no-nodes'] ? '; no node blocks' : ''}\n\n`);
  const rows: ExperimentResult[] = [];
  for (const workload of workloads) {
    for (const fillPct of fills) {
      for (const policy of policies) {
        for (const seed of seeds) {
          const r = runExperiment({ geometry, fillPct, workload, seed, warmupOps, measureOps, policy, ...(blocksPerSec ? { blocksPerSec } : {}), nodes: !v['no-nodes'], fsyncNodes: !v['cp-nodes'], minHotBlocks: Number(v['min-hot-blocks'] ?? 16) });
          rows.push(r);
          if (v.json) process.stdout.write(`${JSON.stringify(r)}\n`);
          else if (v.markdown) process.stderr.write('.');
          if (!v.json && !v.markdown) {
            const moved = Object.entries(r.movedTo).map(([k, n]) => `${k}:${((100 * n) / r.measured.gcData).toFixed(0)}%`).join(' ');
            const stats = Object.entries(r.stats).map(([k, n]) => `${k}=${Number.isInteger(n) ? n : n.toFixed(3)}`).join(' ');
            process.stdout.write(
              `${r.workload.padEnd(14)} fill=${fillPct} ${r.policy.padEnd(26)} seed=${seed} gc_data_waf=${r.gcDataWaf.toFixed(3)} device_waf=${r.deviceWaf.toFixed(3)} ` +
                `gc_calls=${r.measured.gcCalls} victims=${r.measured.dataVictims}+${r.measured.nodeVictims}n cps=${r.measured.checkpoints} run_s=${r.runSeconds.toFixed(2)} cpu_s=${r.cpuSeconds.toFixed(2)} guest_s=${r.modelSeconds} ${moved} ${stats}\n`,
            );
          }
        }
      }
    }
  }
  if (v.markdown) process.stdout.write(`\n${markdown(rows)}`);
  return 0;
}

/** Per workload: policies down, fills across; mean (per seed) and the change against the kernel's two. */
function markdown(rows: ExperimentResult[]): string {
  const out: string[] = [];
  const uniq = <T,>(xs: T[]): T[] => [...new Set(xs)];
  for (const w of uniq(rows.map((r) => r.workload))) {
    const wr = rows.filter((r) => r.workload === w);
    const fills = uniq(wr.map((r) => r.fillPct));
    const mean = (p: string, f: number): { m: number; each: number[] } | undefined => {
      const xs = wr.filter((r) => r.policy === p && r.fillPct === f).map((r) => r.gcDataWaf);
      return xs.length ? { m: xs.reduce((a, b) => a + b, 0) / xs.length, each: xs } : undefined;
    };
    out.push(`${w}: GC data WAF, mean of seeds (each seed); change against kernel-cb / kernel-greedy`, '');
    out.push(`| policy | ${fills.map((f) => `${f}% full`).join(' | ')} |`, `|---|${fills.map(() => '---').join('|')}|`);
    for (const p of uniq(wr.map((r) => r.policy))) {
      const cells = fills.map((f) => {
        const x = mean(p, f);
        if (!x) return '';
        const cb = mean('kernel-cb', f);
        const gr = mean('kernel-greedy', f);
        const rel = (b: { m: number } | undefined): string => (b ? `${(100 * (x.m / b.m - 1)).toFixed(1)}%` : '-');
        return `${x.m.toFixed(3)} (${x.each.map((e) => e.toFixed(3)).join('/')}) ${rel(cb)} / ${rel(gr)}`;
      });
      out.push(`| ${p} | ${cells.join(' | ')} |`);
    }
    out.push('');
  }
  return out.join('\n');
}

process.exitCode = main();
