/**
 * Prometheus metrics of a daemon, in their own Registry (never the global
 * one). Counters of handled requests are updated as they happen; gauges of
 * queue depth and in-flight work, the client's socket counters and the
 * kernel's per-subsystem counters are read in collect() when scraped. The
 * kernel's counters come from one GET-SUBSYS dump shared by every scrape
 * within kernelStatsCacheMs (and by all scrapes while one dump is in
 * flight), so a flood of scrapes from any local user costs the kernel and
 * the daemon's event loop at most one dump per interval.
 * Every label set is bounded: subsystem, op, outcome, lane, a fixed enum.
 * The registry also holds prom-client's default process metrics
 * (process_*, nodejs_*), collected once per process and shared by every
 * DaemonMetrics in it. docs/metrics.md lists each metric.
 *
 * Per-request counting costs no label hashing: observe() finds the
 * request's series (subsystem, op, role) in two small maps and bumps plain
 * numbers; the requests counters copy them into prom-client in collect()
 * and the latency histogram is a metric of its own that formats them when
 * scraped, exactly as prom-client's Histogram would.
 */
import { Counter, Gauge, Histogram, type Metric, Registry, collectDefaultMetrics } from 'prom-client';
import { KOFFLOAD } from '../generated/wire.js';
import type { KoffloadClientStats, SubsysInfo } from '../kernel/client.js';
import { type DecisionEvent, type Lane, type LaneStats, OUTCOMES, type RequestOutcome } from './server.js';
import { PRESSURE_EVENTS, PRESSURE_LEVELS, type PressureState, type PressureStats } from './pressure.js';

export interface MetricsSources {
  /** live servers: queue depth and in-flight per lane */
  lanes(): { subsystem: string; role: string; lane: Lane; stats: LaneStats; abandoned: number }[];
  /** the client's counters (decode errors, drops, late replies) */
  clientStats(): KoffloadClientStats | undefined;
  /** the kernel's view of every subsystem (GET-SUBSYS dump); may reject */
  kernelSubsystems(): Promise<SubsysInfo[]>;
  /** the daemon's memory pressure monitor, when it runs one */
  pressure?(): { state: PressureState; stats: PressureStats } | undefined;
  /** bytes allocated on the V8 heap since the daemon started (HeapAllocationMeter) */
  heapAllocatedBytes?(): number;
}

/** Buckets from 10 µs to 1 s: handler latency against deadlines of ~100 ms. */
const LATENCY_BUCKETS = [1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5, 1];

/**
 * Sets a counter to an absolute value read from a monotonic source; call
 * after reset() in collect(). prom-client counters only go up, so a reset
 * followed by one inc() is exact.
 */
function setCounter(c: Counter<string>, labels: Record<string, string>, value: number): void {
  c.inc(labels, Math.max(0, value));
}

/**
 * prom-client's default metrics that break Prometheus' naming rules:
 * gauges named *_total, which `promtool check metrics` rejects ("non-counter
 * metrics should not have _total suffix"). The same counts, by type, stay
 * in nodejs_active_handles, nodejs_active_requests, nodejs_active_resources.
 */
const MISNAMED_DEFAULTS = new Set(['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']);

/**
 * prom-client's default metrics, made once per process: each
 * collectDefaultMetrics() call starts its own event-loop delay monitor and
 * GC observer that are never stopped, so daemons (and tests that start many)
 * share one set, registered in each daemon's registry.
 */
let processMetrics: Metric[] | undefined;
function defaultProcessMetrics(): Metric[] {
  if (!processMetrics) {
    const r = new Registry();
    collectDefaultMetrics({ register: r });
    processMetrics = r
      .getMetricsAsArray()
      .filter((m) => !MISNAMED_DEFAULTS.has(m.name))
      .map((m) => r.getSingleMetric(m.name)!);
  }
  return processMetrics;
}

const OUTCOME_INDEX = Object.fromEntries(OUTCOMES.map((o, i) => [o, i])) as Record<RequestOutcome, number>;
const PRESSURE_OUTCOME = OUTCOME_INDEX.pressure;

/** What observe() counts for one (subsystem, op, role). */
interface Series {
  readonly labels: { subsystem: string; op: string; role: string };
  /** requests by OUTCOMES index */
  readonly outcomes: Float64Array;
  /** handler durations per bucket (not cumulative); the last is above every bound */
  readonly buckets: Float64Array;
  sum: number;
  count: number;
  /** requests served by the op's cheap handler (memory pressure) */
  cheap: number;
}

/**
 * A histogram registered as a prom-client metric (name, help, type, get(),
 * reset()): values come from the Series, formatted as prom-client's own
 * Histogram formats them (cumulative le buckets, +Inf, _sum, _count).
 */
class SeriesHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: readonly number[],
    private readonly series: () => Iterable<Series>,
  ) {}

  get(): { name: string; help: string; type: string; aggregator: string; values: unknown[] } {
    const values: unknown[] = [];
    for (const s of this.series()) {
      if (s.count === 0) continue;
      let acc = 0;
      this.bounds.forEach((le, i) => {
        acc += s.buckets[i]!;
        values.push({ labels: { le }, sharedLabels: s.labels, value: acc, metricName: `${this.name}_bucket` });
      });
      values.push({ labels: { le: '+Inf' }, sharedLabels: s.labels, value: s.count, metricName: `${this.name}_bucket` });
      values.push({ labels: {}, sharedLabels: s.labels, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: {}, sharedLabels: s.labels, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    for (const s of this.series()) {
      s.buckets.fill(0);
      s.sum = 0;
      s.count = 0;
    }
  }
}

export interface DaemonMetricsOptions {
  /** metric name prefix. @default 'koffload_' */
  prefix?: string;
  /** how long one kernel dump serves scrapes, ms, >= 0 (0: a dump per scrape, concurrent ones shared). @default 1000 */
  kernelStatsCacheMs?: number;
}

export class DaemonMetrics {
  readonly registry = new Registry();
  /** subsystem -> op -> [live, shadow] */
  private readonly seriesBy = new Map<string, Map<string, [Series | undefined, Series | undefined]>>();
  /** (series, outcome) pairs and series with durations, in the order first seen (prom-client's output order) */
  private readonly outcomeOrder: [Series, number][] = [];
  private readonly latencyOrder: Series[] = [];
  private readonly allSeries: Series[] = [];
  private readonly publishErrors: Counter<'subsystem' | 'role'>;
  private readonly unhandled: Counter<string>;
  private sources: MetricsSources | undefined;
  /** GET-SUBSYS dumps made for scrapes */
  kernelDumps = 0;

  constructor(opts: DaemonMetricsOptions = {}) {
    const p = opts.prefix ?? 'koffload_';
    const cacheMs = opts.kernelStatsCacheMs ?? 1000;
    const r = [this.registry];
    for (const m of defaultProcessMetrics()) this.registry.registerMetric(m);
    const self = this;
    const requestCounter = (name: string, help: string, role: string): void => {
      new Counter({
        name,
        help,
        labelNames: ['subsystem', 'op', 'outcome'],
        registers: r,
        collect() {
          this.reset();
          for (const [s, i] of self.outcomeOrder) {
            if (s.labels.role === role) this.inc({ subsystem: s.labels.subsystem, op: s.labels.op, outcome: OUTCOMES[i]! }, s.outcomes[i]!);
          }
        },
      });
    };
    requestCounter(`${p}requests_total`, 'Requests handled by the live policy, by subsystem, op and outcome', 'live');
    requestCounter(`${p}shadow_decisions_total`, 'Decisions computed by shadow (candidate) policies and not sent, by outcome', 'shadow');
    this.registry.registerMetric(
      new SeriesHistogram(`${p}handler_duration_seconds`, 'Run time of handlers that started, by subsystem, op and role (live or shadow)', LATENCY_BUCKETS, () => self.latencyOrder) as unknown as Histogram<string>,
    );
    this.publishErrors = new Counter({
      name: `${p}publish_errors_total`,
      help: 'ctx.publish() calls that failed (cache full, bad key, socket closed), awaited by the handler or not',
      labelNames: ['subsystem', 'role'],
      registers: r,
    });
    this.unhandled = new Counter({
      name: `${p}unhandled_rejections_total`,
      help: 'Promise rejections nobody handled (fire-and-forget work in a policy), logged and survived',
      registers: r,
    });
    new Gauge({
      name: `${p}queue_depth`,
      help: 'Requests waiting in a lane, not started',
      labelNames: ['subsystem', 'role', 'lane'],
      registers: r,
      collect() {
        this.reset();
        for (const l of self.sources?.lanes() ?? []) this.set({ subsystem: l.subsystem, role: l.role, lane: l.lane }, l.stats.queued);
      },
    });
    new Gauge({
      name: `${p}in_flight`,
      help: 'Handlers running in a lane',
      labelNames: ['subsystem', 'role', 'lane'],
      registers: r,
      collect() {
        this.reset();
        for (const l of self.sources?.lanes() ?? []) this.set({ subsystem: l.subsystem, role: l.role, lane: l.lane }, l.stats.running);
      },
    });
    new Gauge({
      name: `${p}abandoned_handlers`,
      help: 'Handlers abandoned at their deadline whose promise has not settled yet (a growing value is a leak)',
      labelNames: ['subsystem', 'role'],
      registers: r,
      collect() {
        this.reset();
        const sums = new Map<string, { subsystem: string; role: string; n: number }>();
        for (const l of self.sources?.lanes() ?? []) {
          const k = `${l.subsystem}\0${l.role}`;
          const e = sums.get(k) ?? { subsystem: l.subsystem, role: l.role, n: l.abandoned };
          sums.set(k, e);
        }
        for (const e of sums.values()) this.set({ subsystem: e.subsystem, role: e.role }, e.n);
      },
    });
    // memory pressure (src/runtime/pressure.ts), read when scraped
    new Gauge({
      name: `${p}memory_pressure_level`,
      help: "The daemon's memory pressure level: 0 none, 1 some, 2 full (what ctx.pressure.level says)",
      registers: r,
      collect() {
        this.reset();
        const ps = self.sources?.pressure?.();
        if (ps) this.set(PRESSURE_LEVELS.indexOf(ps.state.level));
      },
    });
    new Gauge({
      name: `${p}memory_pressure_stall_ratio`,
      help: 'Share of the last sampling window stalled on memory, by scope (system, cgroup) and kind (some, full)',
      labelNames: ['scope', 'kind'],
      registers: r,
      collect() {
        this.reset();
        const ps = self.sources?.pressure?.();
        if (!ps) return;
        for (const scope of ['system', 'cgroup'] as const) {
          const v = ps.stats[scope];
          if (!v) continue;
          this.set({ scope, kind: 'some' }, v.some);
          this.set({ scope, kind: 'full' }, v.full);
        }
      },
    });
    new Counter({
      name: `${p}memory_pressure_triggers_total`,
      help: 'PSI trigger events seen (0 and polling when no trigger could be armed)',
      registers: r,
      collect() {
        this.reset();
        const ps = self.sources?.pressure?.();
        if (ps) setCounter(this, {}, ps.stats.triggers);
      },
    });
    new Counter({
      name: `${p}cgroup_memory_events_total`,
      help: "The daemon's cgroup's memory.events counters (low, high, max, oom, oom_kill), cgroup v2 only",
      labelNames: ['event'],
      registers: r,
      collect() {
        this.reset();
        const ps = self.sources?.pressure?.();
        if (!ps) return;
        for (const e of PRESSURE_EVENTS) {
          const v = ps.stats.events[e];
          if (v !== undefined) setCounter(this, { event: e }, v);
        }
      },
    });
    new Counter({
      name: `${p}heap_allocated_bytes_total`,
      help: 'Bytes allocated on the V8 heap since the daemon started (in use now, plus what GCs freed); its growth per served request is what the benchmark reports',
      registers: r,
      collect() {
        this.reset();
        const n = self.sources?.heapAllocatedBytes?.();
        if (n !== undefined) setCounter(this, {}, n);
      },
    });
    new Counter({
      name: `${p}pressure_declined_total`,
      help: "Requests declined without running because of memory pressure (the op's underPressure action decline)",
      labelNames: ['subsystem', 'op', 'role'],
      registers: r,
      collect() {
        this.reset();
        for (const s of self.allSeries) if (s.outcomes[PRESSURE_OUTCOME]! > 0) this.inc(s.labels, s.outcomes[PRESSURE_OUTCOME]!);
      },
    });
    new Counter({
      name: `${p}pressure_cheap_total`,
      help: "Requests answered by the op's cheap handler because of memory pressure (underPressure action cheap)",
      labelNames: ['subsystem', 'op', 'role'],
      registers: r,
      collect() {
        this.reset();
        for (const s of self.allSeries) if (s.cheap > 0) this.inc(s.labels, s.cheap);
      },
    });
    const clientCounter = (name: string, help: string, read: (s: KoffloadClientStats) => number): void => {
      new Counter({
        name: `${p}${name}`,
        help,
        registers: r,
        collect() {
          const s = self.sources?.clientStats();
          this.reset();
          if (s) setCounter(this, {}, read(s));
        },
      });
    };
    clientCounter('late_replies_total', 'Replies the kernel rejected because the call had already ended (ENOENT)', (s) => s.lateReplies);
    clientCounter('decode_errors_total', 'Messages from the kernel that failed to decode (malformed REQUESTs included), dropped', (s) => s.decodeErrors);
    clientCounter('malformed_requests_total', 'REQUESTs dropped as malformed', (s) => s.malformedRequests);
    clientCounter('malformed_declined_total', 'Malformed REQUESTs whose req-id decoded, DECLINEd at once so their callers do not wait', (s) => s.malformedDeclined);
    clientCounter('socket_drops_total', 'REQUESTs lost to a full socket receive buffer (ENOBUFS); their callers fell back', (s) => s.enobufs);
    clientCounter('replies_total', 'Replies queued to the kernel', (s) => s.replies);
    clientCounter('reply_batches_total', 'sendmsg() calls that carried replies', (s) => s.replyBatches);
    new Counter({
      name: `${p}reply_errors_total`,
      help: 'Replies the kernel rejected, by errno name',
      labelNames: ['errno'],
      registers: r,
      collect() {
        const s = self.sources?.clientStats();
        this.reset();
        if (!s) return;
        for (const [errno, n] of Object.entries(s.replyErrors)) setCounter(this, { errno }, n);
      },
    });

    // the kernel's own counters: one GET-SUBSYS dump in flight at a time, reused for cacheMs after it ends
    let kernelRead: Promise<SubsysInfo[]> | undefined;
    let inFlight = false;
    let doneAt = 0;
    const kernel = (): Promise<SubsysInfo[]> => {
      if (kernelRead && (inFlight || performance.now() - doneAt < cacheMs)) return kernelRead;
      const source = self.sources;
      if (!source) return Promise.resolve([]);
      inFlight = true;
      self.kernelDumps++;
      const read: Promise<SubsysInfo[]> = source.kernelSubsystems().then(
        (subs) => {
          inFlight = false;
          doneAt = performance.now();
          return subs;
        },
        () => {
          // a failed dump is not kept: the next scrape asks again
          inFlight = false;
          if (kernelRead === read) kernelRead = undefined;
          return [];
        },
      );
      kernelRead = read;
      return read;
    };
    new Counter({
      name: `${p}kernel_calls_total`,
      help: "The kernel's koffload_call() outcomes per subsystem (served, declined, each fallback reason)",
      labelNames: ['subsystem', 'outcome'],
      registers: r,
      async collect() {
        const subs = await kernel();
        this.reset();
        for (const s of subs) {
          for (const o of KOFFLOAD.outcomeKeys) setCounter(this, { subsystem: s.name, outcome: KOFFLOAD.outcomeNames[KOFFLOAD.outcome[o]]! }, Number(s.outcomes[o]));
        }
      },
    });
    new Counter({
      name: `${p}kernel_events_total`,
      help: "The kernel's other per-subsystem counters (requests-sent, late-replies, cache-hits, ...)",
      labelNames: ['subsystem', 'counter'],
      registers: r,
      async collect() {
        const subs = await kernel();
        this.reset();
        for (const s of subs) {
          for (const c of KOFFLOAD.counterKeys) setCounter(this, { subsystem: s.name, counter: KOFFLOAD.counterNames[KOFFLOAD.counter[c]]! }, Number(s.counters[c]));
        }
      },
    });
    new Gauge({
      name: `${p}kernel_pending`,
      help: 'Calls waiting on userspace in the kernel, per subsystem',
      labelNames: ['subsystem'],
      registers: r,
      async collect() {
        const subs = await kernel();
        this.reset();
        for (const s of subs) this.set({ subsystem: s.name }, s.pending);
      },
    });
    new Gauge({
      name: `${p}kernel_circuit_state`,
      help: "The kernel's circuit breaker per subsystem: 0 closed, 1 open, 2 half-open",
      labelNames: ['subsystem'],
      registers: r,
      async collect() {
        const subs = await kernel();
        this.reset();
        for (const s of subs) this.set({ subsystem: s.name }, KOFFLOAD.circuit[s.circuit]);
      },
    });
    new Gauge({
      name: `${p}kernel_deadline_seconds`,
      help: "The subsystem's default call deadline in the kernel (after the bound handler's cap)",
      labelNames: ['subsystem'],
      registers: r,
      async collect() {
        const subs = await kernel();
        this.reset();
        for (const s of subs) this.set({ subsystem: s.name }, s.deadlineMs / 1000);
      },
    });
    new Gauge({
      name: `${p}kernel_bound`,
      help: '1 when a handler socket is bound to the subsystem',
      labelNames: ['subsystem'],
      registers: r,
      async collect() {
        const subs = await kernel();
        this.reset();
        for (const s of subs) this.set({ subsystem: s.name }, s.bound ? 1 : 0);
      },
    });
  }

  /** Where collect() reads gauges and external counters. */
  setSources(sources: MetricsSources): void {
    this.sources = sources;
  }

  private seriesOf(subsystem: string, op: string, role: string): Series {
    let byOp = this.seriesBy.get(subsystem);
    if (!byOp) this.seriesBy.set(subsystem, (byOp = new Map()));
    let pair = byOp.get(op);
    if (!pair) byOp.set(op, (pair = [undefined, undefined]));
    const i = role === 'live' ? 0 : 1;
    let s = pair[i];
    if (!s) {
      s = { labels: { subsystem, op, role }, outcomes: new Float64Array(OUTCOMES.length), buckets: new Float64Array(LATENCY_BUCKETS.length + 1), sum: 0, count: 0, cheap: 0 };
      this.allSeries.push(s);
      pair[i] = s;
    }
    return s;
  }

  /** Counts one handled request (the SubsystemServer onDecision hook). */
  observe(ev: DecisionEvent): void {
    const s = this.seriesOf(ev.subsystem, ev.opName ?? String(ev.req.op), ev.role);
    const o = OUTCOME_INDEX[ev.outcome];
    if (s.outcomes[o]!++ === 0) this.outcomeOrder.push([s, o]);
    if (ev.cheap) s.cheap++;
    if (ev.handlerNs > 0n) {
      if (s.count === 0 && !this.latencyOrder.includes(s)) this.latencyOrder.push(s);
      const v = Number(ev.handlerNs) / 1e9;
      let b = 0;
      while (b < LATENCY_BUCKETS.length && v > LATENCY_BUCKETS[b]!) b++;
      s.buckets[b]!++;
      s.sum += v;
      s.count++;
    }
  }

  /** Counts a failed ctx.publish() (the SubsystemServer onPublishError hook). */
  publishFailed(subsystem: string, role: string): void {
    this.publishErrors.inc({ subsystem, role });
  }

  /** Counts an unhandled promise rejection the process survived. */
  unhandledRejection(): void {
    this.unhandled.inc();
  }

  metrics(): Promise<string> {
    return this.registry.metrics();
  }
}
