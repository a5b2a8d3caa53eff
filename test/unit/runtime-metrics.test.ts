// DaemonMetrics counts requests without prom-client's per-call label
// hashing; what a scrape shows must be what prom-client's own Counter and
// Histogram would show for the same events.
import assert from 'node:assert/strict';
import { Counter, Histogram, Registry } from 'prom-client';
import { DaemonMetrics } from '../../src/runtime/metrics.js';
import { OUTCOMES, type DecisionEvent, type RequestOutcome } from '../../src/runtime/server.js';

const BUCKETS = [1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5, 1];

function ev(subsystem: string, opName: string | undefined, op: number, role: 'live' | 'shadow', outcome: RequestOutcome, handlerNs: bigint): DecisionEvent {
  return { subsystem, opName, role, outcome, handlerNs, req: { op } } as unknown as DecisionEvent;
}

/** The metric families named, from a scrape, in order. */
function families(text: string, names: string[]): string {
  return text
    .split('\n\n')
    .map((block) => block.trim())
    .filter((block) => names.some((n) => block.includes(`# TYPE ${n} `)))
    .join('\n\n');
}

describe('runtime: metrics', () => {
  it('requests and handler latency scrape exactly as prom-client would count them', async () => {
    const m = new DaemonMetrics();
    const ref = new Registry();
    const req = new Counter({ name: 'koffload_requests_total', help: 'Requests handled by the live policy, by subsystem, op and outcome', labelNames: ['subsystem', 'op', 'outcome'], registers: [ref] });
    const sh = new Counter({ name: 'koffload_shadow_decisions_total', help: 'Decisions computed by shadow (candidate) policies and not sent, by outcome', labelNames: ['subsystem', 'op', 'outcome'], registers: [ref] });
    const lat = new Histogram({ name: 'koffload_handler_duration_seconds', help: 'Run time of handlers that started, by subsystem, op and role (live or shadow)', labelNames: ['subsystem', 'op', 'role'], buckets: BUCKETS, registers: [ref] });
    let seed = 1;
    const next = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    for (let i = 0; i < 3000; i++) {
      const e = ev(['ktest', 'ktest2'][next(2)]!, ['echo', 'pick', undefined][next(3)], 7, next(5) === 0 ? 'shadow' : 'live', OUTCOMES[next(OUTCOMES.length)]!, BigInt(next(4) === 0 ? 0 : next(2_000_000_000)));
      m.observe(e);
      const labels = { subsystem: e.subsystem, op: e.opName ?? '7', outcome: e.outcome };
      (e.role === 'live' ? req : sh).inc(labels);
      if (e.handlerNs > 0n) lat.observe({ subsystem: e.subsystem, op: labels.op, role: e.role }, Number(e.handlerNs) / 1e9);
    }
    const names = ['koffload_requests_total', 'koffload_shadow_decisions_total', 'koffload_handler_duration_seconds'];
    const got = families(await m.metrics(), names);
    assert.equal(got, families(await ref.metrics(), names));
    assert.match(got, /koffload_handler_duration_seconds_bucket\{le="\+Inf",subsystem="ktest",op="echo",role="live"\} \d+/);
  });
});
