/**
 * GC policies for the LFS model. Each is a victim rule and a placement
 * rule for moved blocks, written as plain functions of what the policy
 * may know:
 * - kernel-*: F2FS's own (get_victim_by_default(), all moved data to the
 *   cold log);
 * - bound-*: future knowledge (when each block is next overwritten, or
 *   whether it is in the hot set): limits, not policies;
 * - the realistic ones (daemon.ts) see only what a userspace daemon can:
 *   segment_info polls, the kernel's GC requests, their own history.
 *
 * Names take parameters: `bound-life:t=40000,logs=2`.
 */
import type { PolicyContext, PolicyDef, PolicyRun } from './experiment.js';
import { BLOCKS_PER_SEG } from './geometry.js';
import { EXTRA_LOG_BASE, GC_CB, GC_GREEDY, type GcHook, type KernelGcMode, LOG, type LfsModel } from './model.js';
import { oracleFor } from './oracle.js';
import { DAEMON_POLICIES } from './daemon.js';
import { DIRECT_FAMILIES } from './koffload.js';

export type Params = Record<string, number>;

/** A policy family: parameters with defaults, and the factory. */
export interface PolicyFamily {
  base: string;
  about: string;
  oracle?: boolean;
  defaults: Params;
  make(p: Params, ctx: PolicyContext): PolicyRun;
}

const BPS = BLOCKS_PER_SEG;

/** The kernel victim of mode k under a hook's placement. */
const kernelMode = (p: Params): KernelGcMode => (p.greedy ? GC_GREEDY : GC_CB);

// ---- F2FS ----

const kernel: PolicyFamily[] = [
  {
    base: 'kernel-greedy',
    about: "F2FS's greedy (gc_idle=2): fewest valid blocks; moved data to the cold log",
    defaults: {},
    make: () => ({ kernelGc: GC_GREEDY }),
  },
  {
    base: 'kernel-cb',
    about: "F2FS's cost-benefit (gc_idle=1): get_cb_cost() on SIT mtimes; moved data to the cold log",
    defaults: {},
    make: () => ({ kernelGc: GC_CB }),
  },
];

// ---- future-knowledge bounds: placement ----

/**
 * Moved blocks by remaining lifetime r (ops until overwritten): logs
 * thresholds t, t*f, t*f^2, ...; r < t to the first GC log, and so on;
 * the longest-lived to the cold log. logs = GC destinations in all (2:
 * the hot data log and the cold log, more: logs a patch adds).
 */
function lifePlacement(p: Params, ctx: PolicyContext): { hook: GcHook; extraLogs: number } {
  const o = oracleFor(ctx.future(), ctx.layout.nBlocks);
  const n = Math.max(2, p.logs!);
  const dests = gcLogs(n);
  const th: number[] = [];
  for (let i = 0; i < n - 1; i++) th.push(p.t! * Math.pow(p.f!, i));
  return {
    extraLogs: Math.max(0, n - 2),
    hook: {
      name: 'bound-life',
      destination(m, _v, b) {
        const r = o.nextWrite(m, b) - m.opNow;
        for (let i = 0; i < th.length; i++) if (r < th[i]!) return dests[i]!;
        return LOG.COLD_DATA;
      },
    },
  };
}

/**
 * GC destinations when n logs take moved data: the warm data log (idle
 * after the fill: this workload's user overwrites go to the hot data log),
 * then added logs, the cold log last.
 */
export function gcLogs(n: number): number[] {
  const d = [LOG.WARM_DATA as number];
  for (let i = 0; i < n - 2; i++) d.push(EXTRA_LOG_BASE + i);
  d.push(LOG.COLD_DATA);
  return d;
}

// ---- future-knowledge bounds: victim selection ----

/**
 * Victim by a score over each dirty data segment's valid blocks and their
 * true remaining lifetimes, from per-segment histograms of the valid
 * blocks' death times (buckets of h/16 ops, kept by onPlace/onRemove).
 * rule:
 *   1 "waste": valid + a * (valid blocks dying within h ops): moving a
 *     block that dies soon is waste, and waiting would cost less;
 *   2 "life-cb": cost-benefit with age replaced by the mean remaining
 *     lifetime of the valid blocks, each capped at h.
 * Node segments are left to the kernel's cost-benefit, which rarely picks
 * them (fsync rewrites nodes so often that node segments empty by themselves).
 */
function oracleVictim(p: Params, ctx: PolicyContext): Pick<GcHook, 'victim' | 'onPlace' | 'onRemove'> {
  const o = oracleFor(ctx.future(), ctx.layout.nBlocks);
  const rule = p.rule!;
  const h = p.h!;
  const a = p.a!;
  const bw = Math.max(1, Math.floor(h / 16));
  const nb = Math.ceil((o.never + 1) / bw) + 1;
  let hist: Int32Array | undefined;
  const deathOf = new Float64Array(ctx.layout.nBlocks);
  const at = (m: LfsModel): Int32Array => (hist ??= new Int32Array(m.nSeg * nb));
  return {
    onPlace(m, id, seg) {
      if (id >= m.nData) return;
      const d = o.nextWrite(m, id);
      deathOf[id] = d;
      at(m)[seg * nb + Math.floor(d / bw)]!++;
    },
    onRemove(m, id, seg) {
      if (id >= m.nData) return;
      at(m)[seg * nb + Math.floor(deathOf[id]! / bw)]!--;
    },
    victim(m) {
      const hs = at(m);
      const now = m.opNow;
      const k0 = Math.floor(now / bw);
      const k1 = Math.min(nb - 1, Math.floor((now + h) / bw));
      let best = -1;
      let bestScore = Infinity;
      for (let s = 0; s < m.nSeg; s++) {
        if (!m.isDirty[s] || !m.isDataLog(m.segLog[s]!)) continue;
        const v = m.valid[s]!;
        const row = s * nb;
        let score: number;
        if (rule === 1) {
          let dying = 0;
          for (let k = k0; k <= k1; k++) dying += hs[row + k]!;
          score = v + a * dying;
        } else {
          let life = 0;
          let soon = 0;
          for (let k = k0; k <= k1; k++) {
            const c = hs[row + k]!;
            if (c) {
              life += c * Math.max(0, (k + 0.5) * bw - now);
              soon += c;
            }
          }
          life += (v - soon) * h;
          const u = v / BPS;
          score = -((1 - u) * (life / v)) / (1 + u);
        }
        if (score < bestScore) {
          bestScore = score;
          best = s;
        }
      }
      return best;
    },
  };
}

const bounds: PolicyFamily[] = [
  {
    base: 'bound-hot',
    about: 'bound: moved blocks of the true hot set to log `log` (0 hot data, 1 warm data, 6 an added log), the rest to the cold log; kernel victim, or victim=1 as bound-victim',
    oracle: true,
    defaults: { greedy: 0, victim: 0, rule: 1, a: 8, h: 75000, log: LOG.WARM_DATA },
    make(p, ctx) {
      const hot = ctx.gen.hotMask();
      const to = p.log!;
      const hook: GcHook = { name: 'bound-hot', destination: (_m, _v, b) => (hot[b] ? to : LOG.COLD_DATA) };
      return { kernelGc: kernelMode(p), hook: p.victim ? { ...hook, ...oracleVictim(p, ctx) } : hook, extraLogs: to >= EXTRA_LOG_BASE ? 1 : 0 };
    },
  },
  {
    base: 'bound-user',
    about: 'bound beyond GC: user writes of the true hot set to the hot data log, the rest to the warm log (a per-block write hint); moved hot blocks to the hot data log (moved=1), or all moved data to the cold log',
    oracle: true,
    defaults: { moved: 1 },
    make(p, ctx) {
      const hot = ctx.gen.hotMask();
      const hook: GcHook = { name: 'bound-user', userLog: (_m, b) => (hot[b] ? LOG.HOT_DATA : LOG.WARM_DATA) };
      if (p.moved) hook.destination = (_m, _v, b) => (hot[b] ? LOG.HOT_DATA : LOG.COLD_DATA);
      return { kernelGc: GC_CB, hook };
    },
  },
  {
    base: 'bound-life',
    about: 'bound: kernel victim; moved blocks to `logs` GC logs by true remaining lifetime (thresholds t, t*f, ...)',
    oracle: true,
    defaults: { t: 40000, f: 4, logs: 2, greedy: 0 },
    make(p, ctx) {
      const { hook, extraLogs } = lifePlacement(p, ctx);
      return { kernelGc: kernelMode(p), hook, extraLogs };
    },
  },
  {
    base: 'bound-victim',
    about: 'bound: victim by true remaining lifetimes (rule 1: valid + a*dying within h; rule 2: CB with true life); moved data to the cold log',
    oracle: true,
    defaults: { rule: 1, a: 8, h: 75000 },
    make(p, ctx) {
      return { kernelGc: GC_CB, hook: { name: 'bound-victim', ...oracleVictim(p, ctx) } };
    },
  },
  {
    base: 'bound-both',
    about: 'bound: bound-victim and bound-life together',
    oracle: true,
    defaults: { rule: 1, a: 8, h: 75000, t: 320000, f: 4, logs: 2 },
    make(p, ctx) {
      const { hook, extraLogs } = lifePlacement(p, ctx);
      return { kernelGc: GC_CB, hook: { ...hook, ...oracleVictim(p, ctx), name: 'bound-both' }, extraLogs };
    },
  },
];

export const FAMILIES: PolicyFamily[] = [...kernel, ...bounds, ...DAEMON_POLICIES, ...DIRECT_FAMILIES];

/** Named configurations the tables use (name, definition, what it is). */
export const NAMED: ReadonlyArray<readonly [string, string, string]> = [
  ['learned', 'daemon:victim=4,wa=3,h=30000', 'userspace, the best found: hazard-waste victim ranking + learned per-block placement (2 GC logs: hot data, cold)'],
  ['learned-placement', 'daemon', 'userspace: kernel CB victim + learned per-block placement'],
  ['history-placement', 'daemon:place=1', 'userspace: kernel CB victim + hand rule: moved out of a warm victim within t=900k writes of its last such move -> hot log'],
  ['generation', 'daemon:place=3', 'kernel CB victim; every block moved out of a warm (user) victim -> hot log, re-moved ones -> cold'],
  ['victim-age', 'daemon:place=2', 'kernel CB victim; survivors of warm victims younger than a=40k writes -> hot log'],
  ['hazard-victim', 'daemon:victim=4,wa=3,h=30000,place=0', 'userspace: hazard-waste victim ranking only; moved data to the cold log'],
  ['bound-victim-only', 'bound-victim', 'bound: victim by true next-overwrite times (valid + 8 x dying within 75k), cold log'],
  ['bound-hot-cb', 'bound-hot', 'bound: true hot/cold of moved blocks into 2 logs, kernel CB victim'],
  ['bound-hot-victim', 'bound-hot:victim=1', 'bound: true hot/cold into 2 logs and the future-knowledge victim'],
  ['bound-life-2', 'bound-life:t=320000', 'bound: true remaining lifetime into 2 logs (< 320k writes -> hot log), kernel CB victim'],
  ['bound-life-4', 'bound-life:t=40000,f=4,logs=4', 'bound: true remaining lifetime into 4 logs (2 added), kernel CB victim'],
  ['bound-both-2', 'bound-both', 'bound: future-knowledge victim and 2-log lifetime placement'],
];

function render(base: string, p: Params, defaults: Params): string {
  const diff = Object.entries(p).filter(([k, v]) => defaults[k] !== v);
  return diff.length ? `${base}:${diff.map(([k, v]) => `${k}=${v}`).join(',')}` : base;
}

/** A named configuration, `base` or `base:k=v,k=v`; undefined for an unknown base or parameter. */
export function policyByName(name: string): PolicyDef | undefined {
  const [head, extra] = name.split(':', 2) as [string, string | undefined];
  const named = NAMED.find(([n]) => n === head);
  if (named) {
    // a named configuration with parameters on top: learned:every=16
    const def = extra ? `${named[1]}${named[1].includes(':') ? ',' : ':'}${extra}` : named[1];
    const p = familyPolicy(def);
    return p && { ...p, name, about: named[2] };
  }
  return familyPolicy(name);
}

function familyPolicy(name: string): PolicyDef | undefined {
  const [base, args] = name.split(':', 2) as [string, string | undefined];
  const fam = FAMILIES.find((f) => f.base === base);
  if (!fam) return undefined;
  const p: Params = { ...fam.defaults };
  for (const kv of (args ?? '').split(',').filter(Boolean)) {
    const [k, v] = kv.split('=');
    if (!k || !(k in fam.defaults) || v === undefined || !Number.isFinite(Number(v))) return undefined;
    p[k] = Number(v);
  }
  return { name: render(base, p, fam.defaults), about: fam.about, ...(fam.oracle ? { oracle: true } : {}), make: (ctx) => fam.make(p, ctx) };
}

/** Every family at its defaults, then the named configurations. */
export const POLICIES: PolicyDef[] = [...FAMILIES.map((f) => familyPolicy(f.base)!), ...NAMED.map(([n]) => policyByName(n)!)];
