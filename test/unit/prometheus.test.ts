// koffloadd as Prometheus sees it, checked with Prometheus' own tools
// (Debian's prometheus package: promtool and the server):
// - promtool check metrics accepts the daemon's /metrics;
// - the alerting rules in deploy/prometheus pass promtool check rules and
//   their unit tests (promtool test rules);
// - the Grafana dashboard in deploy/grafana is well formed;
// - end to end: a real Prometheus on loopback scrapes a daemon serving a
//   workload of known size with known faults on the simulator, its totals
//   equal what the callers and the daemon counted, the rules load and the
//   ones the faults should trigger are active, and every dashboard query
//   runs and finds its series.
// Without the package (an ordinary user cannot install it) the tests skip
// and say why; root's npm test installs it first.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EchoRequest, PickRequest, PickResponse } from '../../src/generated/proto/ktest.js';
import { KOFFLOAD, type Outcome } from '../../src/generated/wire.js';
import { Daemon } from '../../src/runtime/daemon.js';
import { silentLogger } from '../../src/runtime/policy.js';
import type { DecisionEvent } from '../../src/runtime/server.js';
import { type Simulator, startSimulator } from '../../src/sim/index.js';
import { repoRoot } from '../../scripts/gen.js';
import { FAULTS_POLICY, PrometheusServer, until } from '../prometheus-server.js';
import { needTool } from '../skip.js';
import { EXAMPLE } from './runtime-daemon.test.js';

const DEPLOY = join(repoRoot(), 'deploy');
const RULES = join(DEPLOY, 'prometheus', 'koffload.rules.yml');
const RULE_TESTS = join(DEPLOY, 'prometheus', 'koffload.rules.test.yml');
const DASHBOARD = join(DEPLOY, 'grafana', 'koffload.json');

const outcomeName = (k: Outcome): string => KOFFLOAD.outcomeNames[KOFFLOAD.outcome[k]]!;

interface Target {
  refId: string;
  expr: string;
  datasource: { type: string; uid: string };
}
interface Panel {
  id: number;
  title: string;
  datasource: { type: string; uid: string };
  gridPos: { x: number; y: number; w: number; h: number };
  targets: Target[];
}
const dashboard = (): { uid: string; panels: Panel[]; templating: { list: { name: string }[] } } => JSON.parse(readFileSync(DASHBOARD, 'utf8'));

/** A dashboard query with Grafana's variables as the "All" selection and a fixed rate window. */
function resolveVariables(expr: string): string {
  const q = expr.replaceAll('$__rate_interval', '1m').replaceAll('$subsystem', '.*');
  assert.doesNotMatch(q, /\$/, `a variable the test does not know in: ${expr}`);
  return q;
}

/** Runs promtool; its output when it fails. */
function promtool(bin: string, args: string[], input?: string): { status: number | null; out: string } {
  const r = spawnSync(bin, args, { encoding: 'utf8', timeout: 30_000, ...(input !== undefined ? { input } : {}) });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('prometheus: promtool on the metrics, the rules and their tests', function () {
  this.timeout(30_000);
  let sim: Simulator | undefined;
  let daemon: Daemon | undefined;
  afterEach(async () => {
    await daemon?.stop();
    daemon = undefined;
    await sim?.close();
    sim = undefined;
  });

  it('promtool check metrics accepts /metrics, with the process metrics and every family in use', async function () {
    const bin = needTool(this, 'promtool', 'prometheus');
    sim = await startSimulator({ transport: 'inproc', stateFile: null });
    daemon = await Daemon.start({ config: { policies: [EXAMPLE], metricsPort: 0 }, target: { kind: 'sim', koffload: sim.clientOptions() }, logger: silentLogger });
    // every label set in use: served, declined (no candidates), a fallback, a no-handler subsystem
    assert.equal((await sim.call('ktest', 1, EchoRequest.encode({ seq: 1n }))).outcome, 'served');
    assert.equal((await sim.call('ktest', 2, PickRequest.encode({ candidates: [] }), { default: PickResponse.encode({ victim_id: 1 }) })).outcome, 'declined');
    assert.equal((await sim.call('ktest', 1, EchoRequest.encode({}), { context: 'atomic' })).outcome, 'atomic');
    assert.equal((await sim.call('ktest2', 1, EchoRequest.encode({}))).outcome, 'noHandler');
    const res = await fetch(`http://127.0.0.1:${daemon.metricsPort}/metrics`);
    const body = await res.text();
    for (const family of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'process_start_time_seconds', 'nodejs_eventloop_lag_p99_seconds', 'nodejs_heap_size_used_bytes', 'nodejs_gc_duration_seconds']) {
      assert.match(body, new RegExp(`^# TYPE ${family} `, 'm'), `${family} missing`);
    }
    assert.match(body, /^koffload_requests_total\{subsystem="ktest",op="pick",outcome="declined"\} 1$/m);
    assert.match(body, /^koffload_kernel_deadline_seconds\{subsystem="ktest"\} 0\.2$/m);
    const r = promtool(bin, ['check', 'metrics'], body);
    assert.equal(r.status, 0, r.out);
    // and it would say so: a gauge named like a counter is rejected
    const bad = promtool(bin, ['check', 'metrics'], `${body}# HELP x_total a gauge\n# TYPE x_total gauge\nx_total 1\n`);
    assert.notEqual(bad.status, 0);
  });

  it('promtool check rules accepts deploy/prometheus/koffload.rules.yml', function () {
    const bin = needTool(this, 'promtool', 'prometheus');
    const r = promtool(bin, ['check', 'rules', RULES]);
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, /SUCCESS: 6 rules found/);
  });

  it('promtool test rules: every alert fires on its synthetic fault and stays quiet on the near miss', function () {
    const bin = needTool(this, 'promtool', 'prometheus');
    const r = promtool(bin, ['test', 'rules', RULE_TESTS]);
    assert.equal(r.status, 0, r.out);
    // each alerting rule has a test
    const tests = readFileSync(RULE_TESTS, 'utf8');
    for (const [, name] of readFileSync(RULES, 'utf8').matchAll(/- alert: (\w+)/g)) assert.match(tests, new RegExp(`alertname: ${name}\\b`), `${name} has no test`);
  });

  it('promtool check config accepts the example scrape config', function () {
    const bin = needTool(this, 'promtool', 'prometheus');
    const r = promtool(bin, ['check', 'config', join(DEPLOY, 'prometheus', 'prometheus.yml')]);
    assert.equal(r.status, 0, r.out);
  });
});

describe('grafana: the dashboard JSON', () => {
  it('is well formed: unique panel ids, every panel on the grid with Prometheus queries on the datasource variable', () => {
    const d = dashboard();
    assert.equal(d.uid, 'koffload');
    assert.deepEqual(d.templating.list.map((v) => v.name), ['datasource', 'subsystem']);
    assert.equal(new Set(d.panels.map((p) => p.id)).size, d.panels.length);
    assert.ok(d.panels.length >= 10);
    for (const p of d.panels) {
      assert.ok(p.gridPos.x >= 0 && p.gridPos.w > 0 && p.gridPos.x + p.gridPos.w <= 24, `${p.title}: off the 24-column grid`);
      assert.deepEqual(p.datasource, { type: 'prometheus', uid: '${datasource}' }, p.title);
      assert.ok(p.targets.length > 0, `${p.title}: no query`);
      for (const t of p.targets) {
        assert.deepEqual(t.datasource, p.datasource, `${p.title} ${t.refId}`);
        resolveVariables(t.expr);
      }
    }
  });
});

// the workload: how many calls of each kind, and what each must end with
const SERVED = 120;
const DECLINED = 15;
const RECLAIM = 10;
const NO_HANDLER = 7;
const HANGS = 5; // the circuit threshold: five deadlines in a row open it
const AFTER_OPEN = 8;

describe('prometheus: end to end, a real server scraping koffloadd on the simulator', function () {
  this.timeout(60_000);
  let dir: string;
  let prom: PrometheusServer | undefined;
  let sim: Simulator | undefined;
  let daemon: Daemon | undefined;

  afterEach(async () => {
    await prom?.stop();
    prom = undefined;
    await daemon?.stop();
    daemon = undefined;
    await sim?.close();
    sim = undefined;
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('totals equal the workload, the rules load and fire, every dashboard query runs', async function () {
    const bin = needTool(this, 'prometheus', 'prometheus');
    dir = mkdtempSync(join(tmpdir(), 'koffload-prom-'));
    // deadlines long enough that only the hanging handler misses one, however loaded the machine
    sim = await startSimulator({
      transport: 'inproc',
      stateFile: null,
      subsystems: [
        { name: 'ktest', nrOps: 2, timeoutMs: 5_000 },
        { name: 'ktest2', nrOps: 2 },
      ],
    });
    const decisions = new Map<string, number>();
    const onDecision = (ev: DecisionEvent): void => {
      decisions.set(ev.outcome, (decisions.get(ev.outcome) ?? 0) + 1);
    };
    daemon = await Daemon.start({
      config: { policies: [FAULTS_POLICY], metricsPort: 0 },
      target: { kind: 'sim', koffload: sim.clientOptions() },
      logger: silentLogger,
      kernelStatsCacheMs: 0,
      onDecision,
    });

    prom = await PrometheusServer.start({ bin, dir, target: `127.0.0.1:${daemon.metricsPort}`, ruleFiles: [RULES] });
    const srv = prom;
    // a scrape before the workload, so rate() and increase() see it start
    await srv.scrapeAfter(0, 'the first scrape');

    const tally = new Map<string, Map<string, number>>();
    const count = (sub: string, o: Outcome): void => {
      const m = tally.get(sub) ?? new Map<string, number>();
      m.set(outcomeName(o), (m.get(outcomeName(o)) ?? 0) + 1);
      tally.set(sub, m);
    };
    const echo = async (sub: string, data: string, opts: { context?: 'noreclaim' | 'kswapd'; timeoutMs?: number } = {}): Promise<void> => {
      const r = await sim!.call(sub, 1, EchoRequest.encode({ data: Buffer.from(data), seq: 1n }), opts);
      count(sub, r.outcome);
    };
    for (let i = 0; i < SERVED; i += 20) await Promise.all(Array.from({ length: Math.min(20, SERVED - i) }, () => echo('ktest', 'ok')));
    await Promise.all(Array.from({ length: DECLINED }, () => echo('ktest', 'decline')));
    // callers in reclaim: the kernel never waits for userspace for them
    await Promise.all(Array.from({ length: RECLAIM }, (_, i) => echo('ktest', 'ok', { context: i % 2 ? 'kswapd' : 'noreclaim' })));
    await Promise.all(Array.from({ length: NO_HANDLER }, () => echo('ktest2', 'ok')));
    await Promise.all(Array.from({ length: HANGS }, () => echo('ktest', 'hang', { timeoutMs: 100 })));
    // within the circuit's 1 s cooldown
    await Promise.all(Array.from({ length: AFTER_OPEN }, () => echo('ktest', 'ok')));

    // what the callers got is the workload as designed
    const ktest = Object.fromEntries(tally.get('ktest')!);
    assert.deepEqual(ktest, { served: SERVED, declined: DECLINED, reclaim: RECLAIM, deadline: HANGS, 'circuit-open': AFTER_OPEN });
    assert.deepEqual(Object.fromEntries(tally.get('ktest2')!), { 'no-handler': NO_HANDLER });
    // the daemon has seen every request it was sent, the abandoned ones at their deadline
    const daemonExpected = { ok: SERVED, declined: DECLINED, abandoned: HANGS };
    await until('the daemon to count every request', async () => Object.entries(daemonExpected).every(([o, n]) => decisions.get(o) === n), 10_000);
    assert.deepEqual(Object.fromEntries(decisions), daemonExpected);

    // two scrapes after the workload: series it created need two samples for rate()
    const workloadEnd = Date.now();
    await srv.scrapeAfter(workloadEnd + 1_100, 'two scrapes after the workload');

    // the kernel's families, as the daemon exports them: every outcome, zeros included
    const kernelCalls = await srv.query('koffload_kernel_calls_total{job="koffloadd"}');
    for (const sub of ['ktest', 'ktest2']) {
      const got = Object.fromEntries(kernelCalls.filter((s) => s.metric['subsystem'] === sub).map((s) => [s.metric['outcome']!, s.value]));
      const want = Object.fromEntries(KOFFLOAD.outcomeKeys.map((k) => [outcomeName(k), tally.get(sub)!.get(outcomeName(k)) ?? 0]));
      assert.deepEqual(got, want, `koffload_kernel_calls_total{subsystem="${sub}"}`);
    }
    const events = Object.fromEntries((await srv.query('koffload_kernel_events_total{job="koffloadd",subsystem="ktest"}')).map((s) => [s.metric['counter']!, s.value]));
    assert.equal(events['requests-sent'], SERVED + DECLINED + HANGS);
    assert.equal(events['circuit-opens'], 1);
    assert.equal(events['binds'], 1);
    const gauge = async (q: string): Promise<Record<string, number>> => Object.fromEntries((await srv.query(q)).map((s) => [s.metric['subsystem']!, s.value]));
    assert.deepEqual(await gauge('koffload_kernel_circuit_state'), { ktest: 1, ktest2: 0 });
    assert.deepEqual(await gauge('koffload_kernel_bound'), { ktest: 1, ktest2: 0 });
    assert.deepEqual(await gauge('koffload_kernel_deadline_seconds'), { ktest: 5, ktest2: 0.2 });

    // the daemon's families
    const requests = Object.fromEntries((await srv.query('koffload_requests_total{job="koffloadd",subsystem="ktest",op="echo"}')).map((s) => [s.metric['outcome']!, s.value]));
    assert.deepEqual(requests, daemonExpected);
    const started = await srv.query('koffload_handler_duration_seconds_count{job="koffloadd",subsystem="ktest",op="echo",role="live"}');
    assert.deepEqual(started.map((s) => s.value), [SERVED + DECLINED + HANGS]);
    // and the process's, in the same scrape
    assert.equal((await srv.query('process_resident_memory_bytes{job="koffloadd"} > 0')).length, 1);
    assert.equal((await srv.query('nodejs_heap_size_used_bytes{job="koffloadd"} > 0')).length, 1);

    // the rules: all loaded and evaluating without error, after that scrape
    type Rules = { groups: { name: string; lastEvaluation: string; rules: { name: string; health: string; lastError?: string }[] }[] };
    await until('a rule evaluation after the last scrape', async () => {
      const g = (await srv.get<Rules>('/api/v1/rules')).groups[0];
      return g !== undefined && Date.parse(g.lastEvaluation) > workloadEnd + 2_200;
    });
    const rules = (await srv.get<Rules>('/api/v1/rules')).groups.flatMap((g) => g.rules);
    assert.equal(rules.length, 6);
    for (const r of rules) assert.equal(r.health, 'ok', `${r.name}: ${r.lastError}`);
    // the faults' alerts are active (pending: the workload is younger than their 'for')
    type Alerts = { alerts: { labels: Record<string, string>; state: string }[] };
    const active = (await srv.get<Alerts>('/api/v1/alerts')).alerts.map((a) => `${a.labels['alertname']} ${a.labels['subsystem'] ?? ''}`).sort();
    assert.deepEqual(active, ['KoffloadCircuitOpen ktest', 'KoffloadDaemonNotBound ktest2', 'KoffloadFallbackRatioHigh ktest']);

    // every dashboard query runs and finds its series; only the reply
    // errors by errno have none, as no reply failed
    for (const p of dashboard().panels) {
      for (const t of p.targets) {
        const res = await srv.query(resolveVariables(t.expr));
        if (t.expr.includes('koffload_reply_errors_total')) assert.equal(res.length, 0, `${p.title} ${t.refId}`);
        else assert.ok(res.length > 0, `${p.title} ${t.refId}: no series for ${t.expr}`);
      }
    }
  });
});
