/**
 * `koffloadctl top`: a live view per subsystem, from the kernel's GET-SUBSYS
 * counters (every caller's outcome, whoever serves it) and, when a
 * koffloadd's /metrics is reachable, its handler-time histogram.
 *
 * The frame is a pure function of two snapshots (topRows(), renderTop()),
 * so what the screen shows is tested without a terminal; runTop() is the
 * loop: on a terminal it redraws in place on the alternate screen and ends
 * on q, Ctrl-C or SIGTERM, restoring the screen; otherwise it prints one
 * plain line per subsystem and refresh.
 */
import { KOFFLOAD, type Outcome } from '../generated/wire.js';
import type { SubsysInfo } from '../kernel/client.js';
import { table } from '../runtime/cli-support.js';

/** A kernel snapshot and, when scraped, koffloadd's handler histogram. */
export interface TopSnapshot {
  /** monotonic milliseconds */
  atMs: number;
  subs: SubsysInfo[];
  /** cumulative handler-time buckets per subsystem (role live, every op summed); undefined: no /metrics */
  handler?: Map<string, HandlerBuckets>;
}

/** Cumulative bucket counts by upper bound in seconds (Infinity last), as Prometheus exposes them. */
export type HandlerBuckets = Map<number, number>;

export interface TopRow {
  name: string;
  bound: boolean;
  mode: string;
  /** kernel calls per second over the interval */
  callsPerS: number;
  /** served share of the interval's calls, 0..1; undefined without calls */
  servedShare: number | undefined;
  /** each fallback reason's share of the interval's calls (served and zero reasons left out), largest first */
  fallbacks: Array<{ reason: string; share: number }>;
  /** handler time quantiles over the interval, seconds; undefined without /metrics or handler runs */
  p50S: number | undefined;
  p99S: number | undefined;
  pending: number;
  circuit: string;
}

/**
 * The handler-time histograms of a /metrics text: role="live" buckets of
 * koffload_handler_duration_seconds, summed over ops, per subsystem.
 */
export function parseHandlerBuckets(text: string): Map<string, HandlerBuckets> {
  const out = new Map<string, HandlerBuckets>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('koffload_handler_duration_seconds_bucket{')) continue;
    const m = /^[a-z_]+\{([^}]*)\} ([0-9.eE+-]+)$/.exec(line);
    if (!m) continue;
    const labels = Object.fromEntries([...m[1]!.matchAll(/([a-z_]+)="([^"]*)"/g)].map((x) => [x[1]!, x[2]!]));
    if (labels.role !== 'live' || labels.subsystem === undefined || labels.le === undefined) continue;
    const le = labels.le === '+Inf' ? Infinity : Number(labels.le);
    const h = out.get(labels.subsystem) ?? new Map<number, number>();
    h.set(le, (h.get(le) ?? 0) + Number(m[2]));
    out.set(labels.subsystem, h);
  }
  return out;
}

/**
 * The q-quantile of the runs between two cumulative histograms, by linear
 * interpolation within the bucket (as Prometheus' histogram_quantile());
 * undefined when nothing ran in between. A quantile in the +Inf bucket is
 * the largest finite bound.
 */
export function quantile(q: number, before: HandlerBuckets | undefined, after: HandlerBuckets): number | undefined {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const d = bounds.map((le) => (after.get(le) ?? 0) - (before?.get(le) ?? 0));
  const total = d.at(-1) ?? 0;
  if (total <= 0) return undefined;
  const rank = q * total;
  for (let i = 0; i < bounds.length; i++) {
    if (d[i]! < rank) continue;
    const hi = bounds[i]!;
    const lo = i === 0 ? 0 : bounds[i - 1]!;
    if (hi === Infinity) return lo;
    const below = i === 0 ? 0 : d[i - 1]!;
    const inBucket = d[i]! - below;
    return inBucket <= 0 ? hi : lo + ((hi - lo) * (rank - below)) / inBucket;
  }
  return bounds.filter(Number.isFinite).at(-1);
}

const sumOutcomes = (s: SubsysInfo): bigint => KOFFLOAD.outcomeKeys.reduce((a, k) => a + s.outcomes[k], 0n);

/** The rows of one frame: the change from `prev` (none: since the counters started) to `cur`. */
export function topRows(prev: TopSnapshot | undefined, cur: TopSnapshot): TopRow[] {
  const dtS = prev ? Math.max(1e-3, (cur.atMs - prev.atMs) / 1000) : undefined;
  return cur.subs.map((s) => {
    const p = prev?.subs.find((x) => x.subsysId === s.subsysId && x.name === s.name);
    const delta = (k: Outcome): bigint => s.outcomes[k] - (p?.outcomes[k] ?? 0n);
    const calls = p ? sumOutcomes(s) - sumOutcomes(p) : sumOutcomes(s);
    const n = Number(calls);
    const fallbacks = KOFFLOAD.outcomeKeys
      .filter((k) => k !== 'served' && delta(k) > 0n)
      .map((k) => ({ reason: KOFFLOAD.outcomeNames[KOFFLOAD.outcome[k]]!, share: Number(delta(k)) / n }))
      .sort((a, b) => b.share - a.share);
    const h = cur.handler?.get(s.name);
    const hp = prev?.handler?.get(s.name);
    return {
      name: s.name,
      bound: s.bound,
      mode: s.mode === 'canary' ? `canary ${s.canaryPermille}/1000` : s.mode,
      callsPerS: dtS ? n / dtS : 0,
      servedShare: n > 0 ? Number(delta('served')) / n : undefined,
      fallbacks,
      p50S: h ? quantile(0.5, hp, h) : undefined,
      p99S: h ? quantile(0.99, hp, h) : undefined,
      pending: s.pending,
      circuit: s.circuit === 'halfOpen' ? 'half-open' : s.circuit,
    };
  });
}

const pct = (x: number | undefined): string => (x === undefined ? '-' : `${(100 * x).toFixed(1)}%`);
const ms = (s: number | undefined): string => (s === undefined ? '-' : s < 0.001 ? `${(s * 1e6).toFixed(0)}us` : `${(s * 1000).toFixed(2)}ms`);
const fb = (r: TopRow): string => (r.fallbacks.length === 0 ? '-' : r.fallbacks.map((f) => `${f.reason} ${pct(f.share)}`).join(', '));

/** The frame a terminal shows: a header and a table, one row per subsystem. */
export function renderTop(rows: TopRow[], header: string): string {
  const body =
    rows.length === 0
      ? 'no subsystems registered'
      : table(
          ['SUBSYS', 'HANDLER', 'MODE', 'CALLS/S', 'SERVED', 'FALLBACKS (share of calls)', 'P50', 'P99', 'PENDING', 'CIRCUIT'],
          rows.map((r) => [r.name, r.bound ? 'bound' : 'unbound', r.mode, r.callsPerS.toFixed(1), pct(r.servedShare), fb(r), ms(r.p50S), ms(r.p99S), r.pending, r.circuit]),
        );
  return `${header}\n\n${body}\n`;
}

/** The plain lines of one refresh when stdout is not a terminal: one per subsystem, key=value words. */
export function plainTop(rows: TopRow[], isoTime: string): string {
  return rows
    .map(
      (r) =>
        `${isoTime} subsys=${r.name} bound=${r.bound ? 1 : 0} mode=${r.mode.replace(' ', ':')} calls_per_s=${r.callsPerS.toFixed(1)} served=${pct(r.servedShare)}` +
        ` fallbacks=${r.fallbacks.length === 0 ? '-' : r.fallbacks.map((f) => `${f.reason}:${pct(f.share)}`).join(',')}` +
        ` p50=${ms(r.p50S)} p99=${ms(r.p99S)} pending=${r.pending} circuit=${r.circuit}`,
    )
    .join('\n')
    .concat(rows.length > 0 ? '\n' : '');
}

export interface TopIo {
  out: NodeJS.WriteStream | { isTTY?: boolean; write(s: string): boolean };
  input?: NodeJS.ReadStream;
}

export interface TopOptions {
  /** seconds between refreshes. @default 1 */
  intervalS?: number;
  /** stop after this many refreshes (0: until q, Ctrl-C or SIGTERM). @default 0 */
  count?: number;
  /** read the kernel's subsystems */
  dump(): Promise<SubsysInfo[]>;
  /** koffloadd's /metrics text, or undefined when it cannot be read */
  metrics?(): Promise<string | undefined>;
  /** what the header names as the target */
  targetName: string;
  /** names the source of handler times in the header */
  metricsUrl?: string;
}

const ALT_ON = '\x1b[?1049h\x1b[?25l';
const ALT_OFF = '\x1b[?25h\x1b[?1049l';
const HOME_CLEAR = '\x1b[H\x1b[2J';

/** Refreshes until q, Ctrl-C, SIGTERM or `count` refreshes; resolves when the screen is restored. */
export async function runTop(opts: TopOptions, io: TopIo): Promise<void> {
  const intervalMs = Math.max(100, (opts.intervalS ?? 1) * 1000);
  const tty = io.out.isTTY === true;
  const input = io.input;
  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => {
    stop = resolve;
  });
  const onKey = (b: Buffer): void => {
    // q, Q, Ctrl-C (raw mode delivers it as a byte, not SIGINT)
    if (b.includes(0x71) || b.includes(0x51) || b.includes(0x03)) stop();
  };
  const onSignal = (): void => stop();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const raw = tty && input?.isTTY === true;
  if (raw) {
    input!.setRawMode(true);
    input!.resume();
    input!.on('data', onKey);
  }
  if (tty) io.out.write(ALT_ON);
  let prev: TopSnapshot | undefined;
  let frames = 0;
  try {
    for (;;) {
      const [subs, text] = await Promise.all([opts.dump(), opts.metrics ? opts.metrics() : Promise.resolve(undefined)]);
      const cur: TopSnapshot = { atMs: performance.now(), subs, ...(text !== undefined ? { handler: parseHandlerBuckets(text) } : {}) };
      const rows = topRows(prev, cur);
      frames++;
      if (tty) {
        const src = text !== undefined ? `handler times from ${opts.metricsUrl ?? '/metrics'}` : 'no koffloadd /metrics: handler times not shown';
        const header = `koffloadctl top: ${opts.targetName}, every ${(intervalMs / 1000).toFixed(1)} s; ${src}; q to quit\n` + `${new Date().toISOString()}  ${prev ? 'rates over the last interval' : 'totals since start; rates from the next refresh'}`;
        io.out.write(`${HOME_CLEAR}${renderTop(rows, header)}`);
      } else if (prev) {
        // the first snapshot has no interval: plain lines start with the second
        io.out.write(plainTop(rows, new Date().toISOString()));
      }
      prev = cur;
      if (opts.count && frames >= opts.count + (tty ? 0 : 1)) return;
      const more = await Promise.race([stopped.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), intervalMs).unref())]);
      if (!more) return;
    }
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    if (raw) {
      input!.removeListener('data', onKey);
      input!.setRawMode(false);
      input!.pause();
    }
    if (tty) io.out.write(ALT_OFF);
  }
}
