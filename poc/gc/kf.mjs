#!/usr/bin/env node
// The koffload side of a poc-gc configuration, for poc/gc/guest.sh: reads
// koffloadd's /metrics (its own counters, its handler histogram and the
// kernel's GET-SUBSYS counters it exports) and the patch's debugfs stats.
//
//   node poc/gc/kf.mjs wait URL SECONDS      until subsystem f2fs_gc is bound (exit 1 on timeout)
//   node poc/gc/kf.mjs snap URL DEV OUT      save /metrics and /sys/kernel/debug/koffload_f2fs/DEV/stats
//                                            (URL -: the stats only, for a kernel-policy configuration)
//   node poc/gc/kf.mjs diff BEFORE AFTER     print key=value words: what happened in between
//
// diff prints: kf_<name> for each debugfs counter (victim_advised,
// victim_fallback_no_advice, ..., notices_sent, notices_dropped, bg_calls,
// bg_served), kk_<outcome> for the kernel's koffload_call() outcomes of
// f2fs_gc, kk_<counter> for its other counters (advisories,
// advisories-dropped, cache-hits, cache-misses, ...), kd_<op>_<outcome> for
// the daemon's request outcomes, kd_<op>_p50_us / _p99_us / _n from its
// handler histogram (Prometheus-style interpolation within a bucket).
import { readFileSync, writeFileSync } from 'node:fs';

const SUB = 'f2fs_gc';

async function metrics(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.text();
}

/** name{labels} value lines, for subsystem f2fs_gc */
function parse(text) {
  const out = [];
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)\{([^}]*)\} ([0-9.eE+-]+|\+Inf|NaN)$/.exec(line);
    if (!m) continue;
    const labels = Object.fromEntries([...m[2].matchAll(/([a-z_]+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (labels.subsystem !== undefined && labels.subsystem !== SUB) continue;
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

function stats(text) {
  const o = {};
  for (const l of text.trim().split('\n')) {
    const [k, v] = l.split(' ');
    if (k && v !== undefined) o[k] = Number(v);
  }
  return o;
}

function quantile(buckets, q) {
  // buckets: [[le, cumulative count]] ascending, +Inf last
  const total = buckets.at(-1)?.[1] ?? 0;
  if (total <= 0) return NaN;
  const want = q * total;
  let prevLe = 0;
  let prevN = 0;
  for (const [le, n] of buckets) {
    if (n >= want) {
      if (!Number.isFinite(le)) return prevLe;
      return prevLe + ((le - prevLe) * (want - prevN)) / Math.max(1, n - prevN);
    }
    prevLe = le;
    prevN = n;
  }
  return prevLe;
}

const [cmd, ...args] = process.argv.slice(2);
if (cmd === 'wait') {
  const [url, secs] = args;
  const until = Date.now() + Number(secs) * 1000;
  for (;;) {
    try {
      if (parse(await metrics(url)).some((m) => m.name === 'koffload_kernel_bound' && m.value === 1)) process.exit(0);
    } catch {
      // not listening yet
    }
    if (Date.now() > until) process.exit(1);
    await new Promise((r) => setTimeout(r, 250));
  }
} else if (cmd === 'snap') {
  const [url, dev, out] = args;
  let st = '';
  try {
    st = readFileSync(`/sys/kernel/debug/koffload_f2fs/${dev}/stats`, 'utf8');
  } catch {
    st = '';
  }
  // URL '-': a configuration without koffloadd (the patch's counters only)
  writeFileSync(out, JSON.stringify({ metrics: url === '-' ? '' : await metrics(url), stats: st }));
} else if (cmd === 'diff') {
  const [a, b] = args.map((f) => JSON.parse(readFileSync(f, 'utf8')));
  const words = [];
  const sa = stats(a.stats);
  const sb = stats(b.stats);
  for (const k of Object.keys(sb)) words.push(`kf_${k}=${sb[k] - (sa[k] ?? 0)}`);
  const ma = parse(a.metrics);
  const mb = parse(b.metrics);
  const key = (m) => `${m.name}|${JSON.stringify(m.labels)}`;
  const before = new Map(ma.map((m) => [key(m), m.value]));
  const delta = (m) => m.value - (before.get(key(m)) ?? 0);
  const hist = new Map();
  for (const m of mb) {
    if (m.name === 'koffload_kernel_calls_total') words.push(`kk_${m.labels.outcome}=${delta(m)}`);
    else if (m.name === 'koffload_kernel_events_total') words.push(`kk_${m.labels.counter}=${delta(m)}`);
    else if (m.name === 'koffload_requests_total') words.push(`kd_${m.labels.op}_${m.labels.outcome}=${delta(m)}`);
    else if (m.name === 'koffload_handler_duration_seconds_bucket' && m.labels.role === 'live') {
      const h = hist.get(m.labels.op) ?? [];
      h.push([m.labels.le === '+Inf' ? Infinity : Number(m.labels.le), delta(m)]);
      hist.set(m.labels.op, h);
    }
  }
  for (const [op, h] of hist) {
    h.sort((x, y) => x[0] - y[0]);
    const n = h.at(-1)?.[1] ?? 0;
    words.push(`kd_${op}_n=${n}`);
    if (n > 0) words.push(`kd_${op}_p50_us=${Math.round(quantile(h, 0.5) * 1e6)}`, `kd_${op}_p99_us=${Math.round(quantile(h, 0.99) * 1e6)}`);
  }
  process.stdout.write(`${words.join(' ')}\n`);
} else {
  process.stderr.write('usage: kf.mjs wait URL SECONDS | snap URL DEV OUT | diff BEFORE AFTER\n');
  process.exit(2);
}
