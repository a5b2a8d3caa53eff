// `npm run bench`: koffloadd against the C daemons it competes with, on the
// socket path they would use against koffload.ko, measured in one run.
//
// bench/loadgen.c plays the kernel (REQUESTs byte-identical to the
// module's, every reply checked); the responders are
//   conv     bench/responder.c conv: one recv() and one send() per message
//   batch    bench/responder.c batch: recvmmsg() of up to 16 datagrams (what
//            koffloadd's transport reads in a wake-up's first crossing), one
//            sendmsg() per batch
//   koffloadd  the real daemon (dist/src/cli/koffloadd.js) with metrics on,
//            serving bench/policy.ts (a trivial typed ECHO policy)
// each run back to back under the same settings, for several rounds, so the
// ratios of one round compare like with like on a shared, noisy machine.
//
//   npm run bench                      the table and the ratio line
//   npm run bench -- --quick           the same in under a minute
//   npm run bench -- --rounds 5        more rounds (the spread is printed)
//   npm run bench -- --sweep           in-flight, payload and subsystem sweeps
//                                      to build/bench/sweep.csv and sweep.svg
//   npm run bench -- --soak 300        koffloadd for 300 s at 80% of its peak
//   npm run bench -- --profile DIR     koffloadd under node --cpu-prof
//   npm run bench -- --kernel          the real module in the QEMU guest:
//                                      koffload_test's kthreads calling, the C
//                                      handler vs koffloadd (bench/kernel-bench.ts)
//
// Needs root (unicast between userspace ports) and gcc. Prints numbers;
// asserts nothing but that every reply checked out.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const OUT = join(ROOT, 'build', 'bench');
const STATE_DIR = join(OUT, 'state');
const STATE = join(STATE_DIR, 'sim.json');
// the TypeScript policy as an author writes it; its compiled form where the
// sources are not there (the QEMU guest holds dist/, not bench/)
const POLICY = existsSync(join(ROOT, 'bench', 'policy.ts')) ? join(ROOT, 'bench', 'policy.ts') : join(ROOT, 'dist', 'bench', 'policy.js');
/** how long loadgen waits for the responder to bind (koffloadd starts in ~30 s under QEMU's emulation) */
const BIND_WAIT_S = 120;

export type Kind = 'conv' | 'batch' | 'koffloadd';
export const KINDS: readonly Kind[] = ['conv', 'batch', 'koffloadd'];

export interface Settings {
  inflight: number;
  payload: number;
  subsystems: number;
  durationS: number;
  warmupS: number;
  /** requests a second (open loop); 0: closed loop */
  rate?: number;
  /** deadline of each call, ms */
  timeoutMs?: number;
}

export interface Result {
  kind: Kind;
  settings: Settings;
  /** loadgen's report, key=value */
  r: Record<string, number>;
  /** koffloadd only: requests counted by outcome in /metrics at the end */
  metricsOk?: number;
  metricsTotal?: number;
  /** koffloadd only: RSS samples during the run, MB */
  rssSamples?: number[];
  /** koffloadd only, with RunOptions.heapEvery: its V8 heap during the run */
  heapSamples?: HeapSample[];
  /** koffloadd only: V8 heap bytes allocated per request handled between the end of warm-up and the end (koffload_heap_allocated_bytes_total) */
  heapBytesPerReq?: number;
  /** koffloadd only: replies per sendmsg() over the same window */
  repliesPerSend?: number;
}

function fail(msg: string): never {
  process.stderr.write(`bench: ${msg}\n`);
  process.exit(1);
}

function buildC(): void {
  mkdirSync(OUT, { recursive: true });
  for (const p of ['loadgen', 'responder']) {
    const r = spawnSync('gcc', ['-O2', '-g', '-Wall', '-Wextra', '-I', join(ROOT, 'kernel-shim', 'include'), '-o', join(OUT, p), join(ROOT, 'bench', `${p}.c`)], {
      stdio: 'inherit',
    });
    if (r.status !== 0) fail(`gcc failed to build bench/${p}.c (it needs gcc and the C library headers)`);
  }
}

function lines(stream: NodeJS.ReadableStream, onLine: (l: string) => void): void {
  let buf = '';
  stream.setEncoding?.('utf8');
  stream.on('data', (d: string) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      onLine(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
}

function waitFor<T>(what: string, ms: number, start: (resolve: (v: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    start((v) => {
      clearTimeout(t);
      resolve(v);
    });
  });
}

function exited(p: ChildProcess, ms: number): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const t = setTimeout(() => {
      p.kill('SIGKILL');
      resolve();
    }, ms);
    p.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
  });
}

function parseReport(line: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const kv of line.split(' ').slice(1)) {
    const [k, v] = kv.split('=');
    if (k && v !== undefined && v !== '' && !Number.isNaN(Number(v))) out[k] = Number(v);
  }
  return out;
}

function rssMb(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

interface Scraped {
  ok: number;
  total: number;
  /** koffload_heap_allocated_bytes_total */
  heapBytes: number;
  /** koffload_replies_total and koffload_reply_batches_total (sendmsg() calls that carried replies) */
  replies: number;
  replyBatches: number;
  /** prom-client's nodejs_* heap gauges, MB */
  heap: Omit<HeapSample, 'at'>;
}

async function scrape(url: string): Promise<Scraped> {
  const text = await (await fetch(url)).text();
  let ok = 0;
  let total = 0;
  const alloc = /^koffload_heap_allocated_bytes_total (\d+(?:\.\d+)?(?:e\+\d+)?)$/m.exec(text);
  const heapBytes = alloc ? Number(alloc[1]) : Number.NaN;
  const num = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
  const mb = (name: string): number => num(name) / 2 ** 20;
  for (const l of text.split('\n')) {
    const m = /^koffload_requests_total\{([^}]*)\} (\d+)/.exec(l);
    if (!m) continue;
    total += Number(m[2]);
    if (/outcome="ok"/.test(m[1]!)) ok += Number(m[2]);
  }
  return { ok, total, heapBytes, replies: num('koffload_replies_total'), replyBatches: num('koffload_reply_batches_total'), heap: { totalMb: mb('nodejs_heap_size_total_bytes'), usedMb: mb('nodejs_heap_size_used_bytes'), externalMb: mb('nodejs_external_memory_bytes') } };
}

export interface RunOptions {
  /** extra node flags for koffloadd (--cpu-prof ...) */
  nodeArgs?: string[];
  /** sample koffloadd's RSS this often, ms (0: never) */
  rssEveryMs?: number;
  /** with rssEveryMs: also read koffloadd's V8 heap from /metrics every this many RSS samples */
  heapEvery?: number;
}

/** koffloadd's V8 heap from its /metrics (prom-client's nodejs_* gauges), MB; at which RSS sample */
export interface HeapSample {
  at: number;
  totalMb: number;
  usedMb: number;
  externalMb: number;
}


/** One measurement: loadgen against one responder. */
export async function runOne(kind: Kind, s: Settings, opts: RunOptions = {}): Promise<Result> {
  mkdirSync(STATE_DIR, { recursive: true, mode: 0o755 });
  rmSync(STATE, { force: true });
  const args = [
    '--inflight', String(s.inflight), '--payload', String(s.payload), '--subsystems', String(s.subsystems),
    '--duration', String(s.durationS), '--warmup', String(s.warmupS), '--timeout-ms', String(s.timeoutMs ?? 1000),
    '--bind-wait', String(BIND_WAIT_S),
    '--state', STATE, '--responder-pid', '-', '--hold', '--label', kind,
  ];
  if (s.rate) args.push('--rate', String(Math.round(s.rate)));
  const gen = spawn(join(OUT, 'loadgen'), args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let genErr = '';
  let report: string | undefined;
  let onReport: ((l: string) => void) | undefined;
  lines(gen.stdout!, (l) => {
    if (l.startsWith('loadgen ')) {
      report = l;
      onReport?.(l);
    }
  });
  // the heap allocation window: from the end of loadgen's warm-up to its report
  let atWarm: Promise<Scraped | undefined> | undefined;
  let metricsUrl: string | undefined;
  const port = await waitFor<number>('loadgen to open its socket', 10_000, (resolve) => {
    lines(gen.stderr!, (l) => {
      if (l === 'loadgen: measuring') {
        if (kind === 'koffloadd' && metricsUrl) atWarm = scrape(metricsUrl).catch(() => undefined);
        return;
      }
      genErr += `${l}\n`;
      const m = /port (\d+)/.exec(l);
      if (m) resolve(Number(m[1]));
    });
  });
  let resp: ChildProcess;
  let respErr = '';
  if (kind === 'koffloadd') {
    resp = spawn(
      process.execPath,
      [...(opts.nodeArgs ?? []), join(ROOT, 'dist', 'src', 'cli', 'koffloadd.js'), '--policy', POLICY, '--metrics-port', '0', '--state-file', STATE, '--log-level', 'info'],
      { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, KOFFLOAD_BENCH_SUBSYSTEMS: String(s.subsystems) } },
    );
    lines(resp.stderr!, (l) => {
      respErr += `${l}\n`;
      const m = /url=(http:\S+)/.exec(l);
      if (m) metricsUrl = m[1];
    });
  } else {
    resp = spawn(join(OUT, 'responder'), [kind, '--dest', String(port), '--subsystems', String(s.subsystems)], { stdio: ['ignore', 'ignore', 'pipe'] });
    lines(resp.stderr!, (l) => (respErr += `${l}\n`));
  }
  gen.stdin!.write(`${resp.pid}\n`);
  const rss: number[] = [];
  const heap: HeapSample[] = [];
  const sampler =
    kind === 'koffloadd' && (opts.rssEveryMs ?? 0) > 0
      ? setInterval(() => {
          const v = rssMb(resp.pid!);
          if (v === undefined) return;
          rss.push(v);
          const at = rss.length;
          if (opts.heapEvery && metricsUrl && at % opts.heapEvery === 0) {
            void scrape(metricsUrl).then(
              (m) => heap.push({ at, ...m.heap }),
              () => undefined,
            );
          }
        }, opts.rssEveryMs)
      : undefined;
  const budgetMs = (s.warmupS + s.durationS + BIND_WAIT_S) * 1000 + (s.timeoutMs ?? 1000) + 60_000;
  try {
    await waitFor<string>(`the report of loadgen against ${kind}`, budgetMs, (resolve) => {
      if (report) resolve(report);
      onReport = resolve;
      gen.once('exit', (code) => {
        if (!report) fail(`loadgen exited (${code}) before reporting against ${kind}:\n${genErr}${respErr}`);
      });
      resp.once('exit', (code) => {
        if (!report) fail(`${kind} exited (${code}) during the run:\n${respErr}${genErr}`);
      });
    });
  } finally {
    if (sampler) clearInterval(sampler);
  }
  const res: Result = { kind, settings: s, r: parseReport(report!) };
  if (rss.length) res.rssSamples = rss;
  if (heap.length) res.heapSamples = heap.sort((a, b) => a.at - b.at);
  if (kind === 'koffloadd' && metricsUrl) {
    const m = await scrape(metricsUrl);
    res.metricsOk = m.ok;
    res.metricsTotal = m.total;
    const w = await atWarm;
    if (w && m.total > w.total) res.heapBytesPerReq = (m.heapBytes - w.heapBytes) / (m.total - w.total);
    if (w && m.replyBatches > w.replyBatches) res.repliesPerSend = (m.replies - w.replies) / (m.replyBatches - w.replyBatches);
  }
  resp.kill('SIGTERM');
  await exited(resp, 15_000);
  gen.stdin!.end();
  await exited(gen, 5_000);
  if (gen.exitCode !== 0) fail(`loadgen found bad replies from ${kind} (exit ${gen.exitCode}): ${report}\n${genErr}`);
  return res;
}

// ---------------------------------------------------------------------------
// reporting

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? Number.NaN : n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
};
const spread = (xs: number[]): string => (xs.length > 1 ? ` (${Math.min(...xs).toFixed(2)}..${Math.max(...xs).toFixed(2)})` : '');

function row(cells: (string | number)[], widths: number[]): string {
  return cells.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]!) : String(c).padStart(widths[i]!))).join('  ');
}

function table(title: string, results: Result[][], conv: Kind = 'conv', batch: Kind = 'batch'): void {
  const w = [10, 10, 8, 8, 9, 9, 9, 9, 9];
  console.log(`\n${title}`);
  console.log(row(['responder', 'msg/s', 'vs conv', 'vs batch', 'p50 us', 'p99 us', 'p99.9 us', 'cpu us/msg', 'gen cpu%'], w));
  for (const k of KINDS) {
    const per = results.map((round) => round.find((x) => x.kind === k)).filter((x): x is Result => x !== undefined);
    if (per.length === 0) continue;
    const ratio = (other: Kind): number[] =>
      results.map((round) => {
        const a = round.find((x) => x.kind === k);
        const b = round.find((x) => x.kind === other);
        return a && b ? a.r['msg_per_s']! / b.r['msg_per_s']! : Number.NaN;
      });
    const m = (key: string): number => median(per.map((x) => x.r[key]!));
    console.log(
      row(
        [
          k,
          Math.round(m('msg_per_s')),
          median(ratio(conv)).toFixed(2),
          median(ratio(batch)).toFixed(2),
          m('p50_us').toFixed(1),
          m('p99_us').toFixed(1),
          m('p999_us').toFixed(1),
          m('resp_cpu_us_per_msg').toFixed(2),
          m('gen_cpu_pct').toFixed(0),
        ],
        w,
      ),
    );
  }
}

function ratios(results: Result[][], key: string, a: Kind, b: Kind): number[] {
  return results.map((round) => {
    const x = round.find((r) => r.kind === a);
    const y = round.find((r) => r.kind === b);
    return x && y ? x.r[key]! / y.r[key]! : Number.NaN;
  });
}

function machine(): string {
  const cpu = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown cpu';
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  return `${cpu}, ${spawnSync('nproc').stdout.toString().trim()} cores, kernel ${kernel}, node ${process.version}, load average ${load}`;
}

// ---------------------------------------------------------------------------
// modes

async function headline(rounds: number, durationS: number, warmupS: number): Promise<void> {
  const base: Settings = { inflight: 32, payload: 64, subsystems: 1, durationS, warmupS };
  const thr: Result[][] = [];
  const lat: Result[][] = [];
  const scale: { one: Result; many: Result }[] = [];
  for (let i = 0; i < rounds; i++) {
    process.stderr.write(`bench: round ${i + 1}/${rounds}\n`);
    const t: Result[] = [];
    for (const k of KINDS) t.push(await runOne(k, base, { rssEveryMs: 500 }));
    thr.push(t);
    // right after the 1-subsystem run, so both see the same machine
    const s64 = await runOne('koffloadd', { ...base, subsystems: 64 }, { rssEveryMs: 500 });
    scale.push({ one: t.find((x) => x.kind === 'koffloadd')!, many: s64 });
    const l: Result[] = [];
    for (const k of KINDS) l.push(await runOne(k, { ...base, inflight: 1 }));
    lat.push(l);
  }
  console.log(`\nkoffload bench: ${machine()}`);
  console.log(`${rounds} round(s), ${durationS} s each after ${warmupS} s warm-up; medians (ratios: median of the rounds' ratios)`);
  table('32 in flight, 64 B payloads, 1 subsystem', thr);
  table('1 in flight, 64 B payloads, 1 subsystem', lat);
  const fall = scale.map(({ one, many }) => 1 - many.r['msg_per_s']! / one.r['msg_per_s']!);
  const t64 = median(scale.map(({ many }) => many.r['msg_per_s']!));
  const cpuRise = scale.map(({ one, many }) => many.r['resp_cpu_us_per_msg']! / one.r['resp_cpu_us_per_msg']! - 1);
  console.log(
    `\nkoffloadd at 64 subsystems (32 in flight): ${Math.round(t64)} msg/s, ${Math.abs(median(fall) * 100).toFixed(1)}% ${median(fall) < 0 ? 'above' : 'below'} 1 subsystem${fall.length > 1 ? `, fall per round${spread(fall.map((f) => f * 100))}` : ''}; ` +
      `CPU per message ${(median(cpuRise) * 100).toFixed(1)}% above${spread(cpuRise.map((f) => f * 100))}`,
  );
  const all = [...thr.flat(), ...scale.map(({ many }) => many)].filter((x) => x.kind === 'koffloadd');
  const rss = Math.max(...all.flatMap((x) => x.rssSamples ?? [x.r['resp_rss_mb'] ?? 0]));
  for (const x of [...thr.flat(), ...lat.flat(), ...scale.map(({ many }) => many)]) {
    if (x.metricsOk !== undefined && x.metricsOk !== x.r['total_ok']) {
      console.log(`warning: koffloadd's /metrics counted ${x.metricsOk} ok answers, loadgen ${x.r['total_ok']}`);
    }
  }
  const alloc = (rs: Result[][]): number => median(rs.flat().flatMap((x) => (x.heapBytesPerReq !== undefined ? [x.heapBytesPerReq] : [])));
  console.log(
    `koffloadd V8 heap allocated per request (koffload_heap_allocated_bytes_total over the measured window): ` +
      `${Math.round(alloc(thr))} B at 32 in flight, ${Math.round(alloc(lat))} B at 1 in flight`,
  );
  const perSend = median(thr.flat().flatMap((x) => (x.repliesPerSend !== undefined ? [x.repliesPerSend] : [])));
  console.log(`koffloadd replies per sendmsg() at 32 in flight (koffload_reply_batches_total over the measured window): ${perSend.toFixed(1)}`);
  const tc = ratios(thr, 'msg_per_s', 'koffloadd', 'conv');
  const tl = ratios(thr, 'msg_per_s', 'koffloadd', 'batch');
  const pc = ratios(lat, 'p50_us', 'koffloadd', 'conv');
  if (tc.length > 1) console.log(`spread over rounds: throughput vs conv${spread(tc)}, vs batch${spread(tl)}, p50 vs conv${spread(pc)}`);
  console.log(
    `targets: throughput >= 1.00x conv: ${median(tc) >= 1 ? 'met' : 'NOT met'}; >= 0.50x batch: ${median(tl) >= 0.5 ? 'met' : 'NOT met'}; ` +
      `p50 <= 1.30x conv: ${median(pc) <= 1.3 ? 'met' : 'NOT met'}; 1 -> 64 subsystems < 10% fall: ${median(fall) < 0.1 ? 'met' : 'NOT met'}; ` +
      `RSS <= 150 MB: ${rss <= 150 ? 'met' : 'NOT met'}`,
  );
  console.log(
    `throughput_ratio_conventional=${median(tc).toFixed(2)} throughput_ratio_limit=${median(tl).toFixed(2)} p50_ratio_conventional=${median(pc).toFixed(2)} rss_mb=${Math.round(rss)} ` +
      `heap_bytes_per_req=${Math.round(alloc(thr))}`,
  );
}

async function sweep(durationS: number, warmupS: number): Promise<void> {
  const base: Settings = { inflight: 32, payload: 64, subsystems: 1, durationS, warmupS };
  const rows: { sweep: string; r: Result }[] = [];
  const go = async (name: string, s: Settings): Promise<void> => {
    for (const k of KINDS) {
      const r = await runOne(k, s);
      rows.push({ sweep: name, r });
      process.stderr.write(`bench: ${name} ${k} inflight=${s.inflight} payload=${s.payload} subsystems=${s.subsystems}: ${Math.round(r.r['msg_per_s']!)} msg/s p99 ${r.r['p99_us']} us\n`);
    }
  };
  for (const k of [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096]) await go('inflight', { ...base, inflight: k });
  for (const p of [64, 256, 1024, 4096]) await go('payload', { ...base, payload: p });
  for (const n of [1, 4, 16, 64]) await go('subsystems', { ...base, subsystems: n });
  const head = 'sweep,responder,inflight,payload,subsystems,msg_per_s,p50_us,p99_us,p999_us,resp_cpu_us_per_msg,gen_cpu_pct';
  const csv = [head, ...rows.map(({ sweep: sw, r }) => [sw, r.kind, r.settings.inflight, r.settings.payload, r.settings.subsystems, r.r['msg_per_s'], r.r['p50_us'], r.r['p99_us'], r.r['p999_us'], r.r['resp_cpu_us_per_msg'], r.r['gen_cpu_pct']].join(','))];
  writeFileSync(join(OUT, 'sweep.csv'), `${csv.join('\n')}\n`);
  writeFileSync(join(OUT, 'sweep.svg'), plot(rows.filter((x) => x.sweep === 'inflight').map((x) => x.r)));
  console.log(`bench: wrote ${join(OUT, 'sweep.csv')} and ${join(OUT, 'sweep.svg')}`);
}

/** Two panels: throughput and p99 latency against in-flight count (log2), one line per responder. */
export function plot(results: Result[]): string {
  const W = 900;
  const H = 360;
  const pad = { l: 70, r: 130, t: 30, b: 45 };
  const colors: Record<Kind, string> = { conv: '#1f77b4', batch: '#2ca02c', koffloadd: '#d62728' };
  const xs = [...new Set(results.map((r) => r.settings.inflight))].sort((a, b) => a - b);
  const lx = (k: number): number => pad.l + ((Math.log2(k) - Math.log2(xs[0]!)) / Math.max(1, Math.log2(xs[xs.length - 1]!) - Math.log2(xs[0]!))) * (W - pad.l - pad.r);
  const panel = (y0: number, key: string, label: string, log: boolean): string => {
    const vals = results.map((r) => r.r[key]!).filter((v) => v > 0);
    const lo = log ? Math.log10(Math.min(...vals)) : 0;
    const hi = log ? Math.log10(Math.max(...vals)) : Math.max(...vals) * 1.05;
    const ly = (v: number): number => y0 + H - pad.b - (((log ? Math.log10(Math.max(v, 1e-9)) : v) - lo) / (hi - lo || 1)) * (H - pad.t - pad.b);
    let s = `<text x="${pad.l}" y="${y0 + 18}" font-size="14">${label}</text>`;
    s += `<line x1="${pad.l}" y1="${y0 + H - pad.b}" x2="${W - pad.r}" y2="${y0 + H - pad.b}" stroke="#000"/><line x1="${pad.l}" y1="${y0 + pad.t}" x2="${pad.l}" y2="${y0 + H - pad.b}" stroke="#000"/>`;
    for (const k of xs) s += `<text x="${lx(k)}" y="${y0 + H - pad.b + 16}" font-size="11" text-anchor="middle">${k}</text>`;
    s += `<text x="${(W - pad.r + pad.l) / 2}" y="${y0 + H - 8}" font-size="12" text-anchor="middle">requests in flight</text>`;
    for (let i = 0; i <= 4; i++) {
      const v = log ? 10 ** (lo + ((hi - lo) * i) / 4) : (hi * i) / 4;
      const y = ly(v);
      s += `<line x1="${pad.l - 4}" y1="${y}" x2="${W - pad.r}" y2="${y}" stroke="#ddd"/><text x="${pad.l - 6}" y="${y + 4}" font-size="11" text-anchor="end">${v >= 1000 ? `${Math.round(v / 1000)}k` : v.toFixed(v < 10 ? 1 : 0)}</text>`;
    }
    KINDS.forEach((k, i) => {
      const pts = results.filter((r) => r.kind === k).sort((a, b) => a.settings.inflight - b.settings.inflight);
      if (pts.length === 0) return;
      s += `<polyline fill="none" stroke="${colors[k]}" stroke-width="2" points="${pts.map((r) => `${lx(r.settings.inflight).toFixed(1)},${ly(r.r[key]!).toFixed(1)}`).join(' ')}"/>`;
      s += `<text x="${W - pad.r + 10}" y="${y0 + pad.t + 16 * i + 10}" font-size="12" fill="${colors[k]}">${k}</text>`;
    });
    return s;
  };
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${2 * H}" font-family="sans-serif">\n${panel(0, 'msg_per_s', 'throughput, msg/s (64 B payloads, 1 subsystem)', false)}\n${panel(H, 'p99_us', 'p99 latency, us (log scale)', true)}\n</svg>\n`;
}

async function soak(seconds: number, fixedRate: number | undefined): Promise<void> {
  const base: Settings = { inflight: 32, payload: 64, subsystems: 1, durationS: 3, warmupS: 1 };
  let rate = fixedRate;
  if (rate === undefined) {
    const peak = await runOne('koffloadd', base);
    rate = Math.round(peak.r['msg_per_s']! * 0.8);
    console.log(`soak: koffloadd peak ${Math.round(peak.r['msg_per_s']!)} msg/s at 32 in flight; now ${seconds} s at ${rate} msg/s (80%), up to 256 in flight`);
  } else {
    console.log(`soak: koffloadd for ${seconds} s at ${rate} msg/s (--rate), up to 256 in flight`);
  }
  const r = await runOne('koffloadd', { ...base, inflight: 256, durationS: seconds, warmupS: 5, rate }, { rssEveryMs: 1000, heapEvery: 5 });
  const rss = r.rssSamples ?? [];
  const first = rss.slice(5, 15);
  const last = rss.slice(-10);
  const avg = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  console.log(`soak: ${Math.round(r.r['msg_per_s']!)} msg/s sustained, p50 ${r.r['p50_us']} us, p99 ${r.r['p99_us']} us, p99.9 ${r.r['p999_us']} us`);
  console.log(`soak: RSS ${avg(first).toFixed(1)} MB at the start (mean of 10 s after warm-up), ${avg(last).toFixed(1)} MB at the end (mean of the last 10 s), max ${Math.max(...rss).toFixed(1)} MB`);
  const issued = r.r['total_issued']!;
  const accounted = r.r['total_accounted']!;
  console.log(
    `soak: calls issued ${issued}, accounted ${accounted} (ok ${r.r['total_ok']}, deadline ${r.r['deadline']} in the window), overload ${r.r['total_overload']}; ` +
      `koffloadd /metrics counted ${r.metricsTotal} requests (${r.metricsOk} ok): ${issued === accounted && r.metricsOk === r.r['total_ok'] ? 'every call accounted for' : 'MISMATCH'}`,
  );
  const heap = r.heapSamples ?? [];
  const h = (xs: HeapSample[], k: keyof Omit<HeapSample, 'at'>): string => avg(xs.map((x) => x[k])).toFixed(1);
  const h0 = heap.filter((x) => x.at > 5 && x.at <= 15);
  const h1 = heap.slice(-2);
  if (heap.length >= 2) {
    console.log(
      `soak: V8 heap (from /metrics every 5 s) total ${h(h0, 'totalMb')} -> ${h(h1, 'totalMb')} MB, used ${h(h0, 'usedMb')} -> ${h(h1, 'usedMb')} MB, ` +
        `external ${h(h0, 'externalMb')} -> ${h(h1, 'externalMb')} MB (start: 10 s after warm-up; end: the last 10 s)`,
    );
  }
  const heapAt = new Map(heap.map((x) => [x.at, x]));
  const cell = (i: number, k: keyof Omit<HeapSample, 'at'>): string => {
    const x = heapAt.get(i + 1);
    return x ? x[k].toFixed(2) : '';
  };
  writeFileSync(
    join(OUT, 'soak-rss.csv'),
    `second,rss_mb,heap_total_mb,heap_used_mb,external_mb\n${rss.map((v, i) => `${i + 1},${v.toFixed(2)},${cell(i, 'totalMb')},${cell(i, 'usedMb')},${cell(i, 'externalMb')}`).join('\n')}\n`,
  );
}

async function profile(dir: string, durationS: number): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const r = await runOne('koffloadd', { inflight: 32, payload: 64, subsystems: 1, durationS, warmupS: 1 }, { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`] });
  console.log(`profile: ${Math.round(r.r['msg_per_s']!)} msg/s under --cpu-prof; profiles in ${dir} (summarise: node dist/bench/profile-summary.js ${dir}/*.cpuprofile)`);
}

const USAGE = `usage: npm run bench -- [options]   (node dist/bench/bench.js [options], as root)

koffloadd against the C responders (bench/responder.c conv and batch) on the
userspace netlink socket path, bench/loadgen.c playing the kernel; prints the
tables and the line
  throughput_ratio_conventional=X throughput_ratio_limit=Y p50_ratio_conventional=Z rss_mb=R

  --quick           1 round of 2 s runs (under a minute)
  --rounds N        rounds of the headline (default 3; the spread is printed)
  --duration S      seconds measured per run (default 5, --quick 2)
  --warmup S        seconds of warm-up per run (default 1, --quick 0.5)
  --sweep           in-flight, payload and subsystem sweeps to build/bench/sweep.csv and sweep.svg
  --soak S          koffloadd for S seconds at 80% of its measured peak (RSS and V8 heap to
                    build/bench/soak-rss.csv, every call accounted)
  --rate R          with --soak: R msg/s instead (to compare builds at one load)
  --profile DIR     koffloadd under node --cpu-prof, profiles in DIR
  --kernel          in the QEMU guest: the real module's kthreads calling the C handler and
                    koffloadd (bench/kernel-bench.ts), then this socket-path bench in the same
                    guest, so both ratios come from one emulated machine
  --prebuilt        use build/bench/loadgen and responder as they are (no gcc; the guest)
  -h, --help        this text
`;

function usage(msg: string): never {
  process.stderr.write(`bench: ${msg}\n${USAGE}`);
  process.exit(2);
}

/** A number option: finite and positive, else a usage error naming it. */
function positive(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) usage(`--${name} wants a positive number, got '${v}'`);
  return n;
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        quick: { type: 'boolean' },
        sweep: { type: 'boolean' },
        soak: { type: 'string' },
        profile: { type: 'string' },
        rounds: { type: 'string' },
        rate: { type: 'string' },
        duration: { type: 'string' },
        warmup: { type: 'string' },
        kernel: { type: 'boolean' },
        prebuilt: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    usage(err instanceof Error ? err.message : String(err));
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const quick = values.quick ?? false;
  const durationS = positive('duration', values.duration, quick ? 2 : 5);
  const warmupS = positive('warmup', values.warmup, quick ? 0.5 : 1);
  const rounds = Math.round(positive('rounds', values.rounds, quick ? 1 : 3));
  const soakS = values.soak === undefined ? undefined : positive('soak', values.soak, 0);
  const rate = values.rate === undefined ? undefined : Math.round(positive('rate', values.rate, 0));
  if (rate !== undefined && soakS === undefined) usage('--rate is an option of --soak');
  if (values.kernel) {
    // loadgen and the responders are built here: the guest has no gcc
    buildC();
    const r = spawnSync('bash', [join(ROOT, 'scripts', 'kernel-test.sh')], {
      stdio: 'inherit',
      env: {
        ...process.env,
        // koffloadd binds to koffload.ko when it is loaded: unloaded before the socket-path bench
        KOFFLOAD_GUEST_CMD:
          'node dist/bench/kernel-bench.js && rmmod koffload_test && rmmod koffload && node dist/bench/bench.js --prebuilt --rounds 2 --duration 4 --warmup 3',
        KOFFLOAD_SKIP_UNLOAD: '1',
        KOFFLOAD_GUEST_ESBUILD: '1',
        KOFFLOAD_GUEST_FILES: 'build/bench/loadgen build/bench/responder',
      },
    });
    process.exit(r.status ?? 1);
  }
  if (process.geteuid?.() !== 0) fail('needs root: REQUESTs go from one userspace netlink port to another (CAP_NET_ADMIN)');
  if (values.prebuilt) {
    for (const p of ['loadgen', 'responder']) if (!existsSync(join(OUT, p))) fail(`--prebuilt: ${join(OUT, p)} is missing (npm run bench builds it)`);
  } else {
    buildC();
  }
  if (soakS !== undefined) return soak(soakS, rate);
  if (values.profile !== undefined) return profile(values.profile, durationS);
  if (values.sweep) return sweep(quick ? 1 : 2, 0.5);
  return headline(rounds, durationS, warmupS);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((err: unknown) => fail(err instanceof Error ? (err.stack ?? err.message) : String(err)));
}
