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
 */
import { Counter, Gauge, Histogram, type Metric, Registry, collectDefaultMetrics } from 'prom-client';
import { KOFFLOAD } from '../generated/wire.js';
import type { KoffloadClientStats, SubsysInfo } from '../kernel/client.js';
import type { DecisionEvent, Lane, LaneStats } from './server.js';

export interface MetricsSources {
  /** live servers: queue depth and in-flight per lane */
  lanes(): { subsystem: string; role: string; lane: Lane; stats: LaneStats; abandoned: number }[];
  /** the client's counters (decode errors, drops, late replies) */
  clientStats(): KoffloadClientStats | undefined;
  /** the kernel's view of every subsystem (GET-SUBSYS dump); may reject */
  kernelSubsystems(): Promise<SubsysInfo[]>;
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

export interface DaemonMetricsOptions {
  /** metric name prefix. @default 'koffload_' */
  prefix?: string;
  /** how long one kernel dump serves scrapes, ms, >= 0 (0: a dump per scrape, concurrent ones shared). @default 1000 */
  kernelStatsCacheMs?: number;
}

export class DaemonMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'subsystem' | 'op' | 'outcome'>;
  private readonly shadowDecisions: Counter<'subsystem' | 'op' | 'outcome'>;
  private readonly latency: Histogram<'subsystem' | 'op' | 'role'>;
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
    this.requests = new Counter({
      name: `${p}requests_total`,
      help: 'Requests handled by the live policy, by subsystem, op and outcome',
      labelNames: ['subsystem', 'op', 'outcome'],
      registers: r,
    });
    this.shadowDecisions = new Counter({
      name: `${p}shadow_decisions_total`,
      help: 'Decisions computed by shadow (candidate) policies and not sent, by outcome',
      labelNames: ['subsystem', 'op', 'outcome'],
      registers: r,
    });
    this.latency = new Histogram({
      name: `${p}handler_duration_seconds`,
      help: 'Run time of handlers that started, by subsystem, op and role (live or shadow)',
      labelNames: ['subsystem', 'op', 'role'],
      buckets: LATENCY_BUCKETS,
      registers: r,
    });
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
    const self = this;
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

  /** Counts one handled request (the SubsystemServer onDecision hook). */
  observe(ev: DecisionEvent): void {
    const labels = { subsystem: ev.subsystem, op: ev.opName ?? String(ev.req.op), outcome: ev.outcome };
    if (ev.role === 'live') this.requests.inc(labels);
    else this.shadowDecisions.inc(labels);
    if (ev.handlerNs > 0n) this.latency.observe({ subsystem: ev.subsystem, op: labels.op, role: ev.role }, Number(ev.handlerNs) / 1e9);
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
