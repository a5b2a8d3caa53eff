// Prometheus end to end on the target: koffload.ko in the QEMU guest
// (`npm run test:kernel`), or the simulator (`npm test`).
//
// The Daemon (koffloadd's class, its /metrics on loopback) serves ktest with
// test/fixtures/faults-policy.ts while koffload_test.ko's in-kernel callers
// (the simulator's on the host) make a workload of known size with known
// faults: calls served, calls the handler declines, calls whose handler
// hangs past the deadline until the circuit opens, calls while it is open,
// callers in reclaim scopes (noreclaim, NOFS, kswapd: they fall back at once,
// without an upcall), calls on ktest2, which nobody serves. A real Debian
// prometheus on 127.0.0.1 scrapes the daemon every second (the config is
// written here). Asserted through Prometheus' HTTP API: between the last
// scrape before the workload and the first one after it, the kernel's
// counters as the daemon exports them (koffload_kernel_calls_total per
// outcome, koffload_kernel_events_total) grew by exactly what the runs
// counted, and the daemon's own families (koffload_requests_total,
// the handler histogram) hold exactly what the daemon saw.
//
// In the guest, prometheus is there when scripts/kernel-test.sh copied it in
// (KOFFLOAD_GUEST_OPTIONAL_BINS, set by `npm run test:kernel`); without it
// the test skips and says why.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { KoffloadClient } from '../../src/kernel/client.js';
import { KtestClient, type RunOptions, type RunResult } from '../../src/kernel/test-client.js';
import { KOFFLOAD, KOFFLOAD_TEST, type KoffloadTestContext } from '../../src/generated/wire.js';
import { Daemon } from '../../src/runtime/daemon.js';
import { silentLogger } from '../../src/runtime/policy.js';
import type { DecisionEvent } from '../../src/runtime/server.js';
import { FAULTS_POLICY, PrometheusServer, type Sample, until } from '../prometheus-server.js';
import { findTool, needTool, skipBecause } from '../skip.js';
import { Ledger, OUTCOME_KEYS, type OutcomeKey, type SubsysName, TARGET_KIND, ms, nonZero, openTarget, target } from './env.js';

const OP_ECHO = 1;
const COOLDOWN_PARAM = '/sys/module/koffload_test/parameters/circuit_cooldown_ms';

// the workload
const SERVED = 120;
const DECLINED = 15;
const RECLAIM: Partial<Record<KoffloadTestContext, number>> = { noreclaim: 4, nofs: 3, kswapd: 3 };
const NO_HANDLER = 7;
/** ktest's circuit threshold: five deadlines in a row open it */
const HANGS = 5;
const AFTER_OPEN = 8;
/** deadline of the hanging calls, ms; the handler hangs far longer (HANG_MS) */
const HANG_DEADLINE_MS = TARGET_KIND === 'kernel' ? 1_000 : 100;
/** how long a reclaim-scope caller may take to fall back, ms (it never waits for userspace) */
const RECLAIM_MAX_MS = 20;

const outcomeName = (k: OutcomeKey): string => KOFFLOAD.outcomeNames[KOFFLOAD.outcome[k]]!;
const byLabel = (samples: Sample[], label: string): Record<string, number> => Object.fromEntries(samples.map((s) => [s.metric[label]!, s.value]));

describe(`prometheus end to end (${TARGET_KIND === 'kernel' ? 'koffload.ko' : 'simulator'})`, function () {
  this.timeout(240_000);
  let kclient: KoffloadClient;
  let ktest: KtestClient;
  let ledger: Ledger;
  let dir: string | undefined;
  let prom: PrometheusServer | undefined;
  let daemon: Daemon | undefined;
  let cooldown: string | undefined;

  before(async () => {
    await openTarget();
    kclient = await KoffloadClient.open(target().koffload());
    ktest = await KtestClient.open(target().ktest());
    ledger = new Ledger(kclient, ktest);
  });

  after(async () => {
    await prom?.stop();
    await daemon?.stop();
    if (cooldown !== undefined) writeFileSync(COOLDOWN_PARAM, cooldown);
    kclient?.close();
    ktest?.close();
    await target().close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('a real Prometheus scrapes koffloadd: served and every fallback total equal what the callers and the daemon counted, the kernel families and the daemon families', async function () {
    let bin: string;
    if (TARGET_KIND === 'kernel') {
      const found = findTool('prometheus');
      if (!found) skipBecause(this, "prometheus is not in the guest image (npm run test:kernel copies it in when Debian's prometheus is installed on the host: bash scripts/install-kernel-deps.sh)");
      bin = found;
    } else {
      bin = needTool(this, 'prometheus', 'prometheus');
    }
    dir = mkdtempSync(join(tmpdir(), 'koffload-prom-'));
    // an open circuit stays open through the calls that follow, however slow the emulated guest
    if (existsSync(COOLDOWN_PARAM)) {
      cooldown = readFileSync(COOLDOWN_PARAM, 'utf8').trim();
      writeFileSync(COOLDOWN_PARAM, '30000');
    }
    await ledger.checkpoint();
    const decisions = new Map<string, number>();
    daemon = await Daemon.start({
      config: { policies: [FAULTS_POLICY], metricsPort: 0, metricsHost: '127.0.0.1' },
      target: { kind: TARGET_KIND, koffload: target().koffload() },
      logger: silentLogger,
      kernelStatsCacheMs: 0,
      onDecision: (ev: DecisionEvent) => void decisions.set(ev.outcome, (decisions.get(ev.outcome) ?? 0) + 1),
    });
    prom = await PrometheusServer.start({ bin, dir, target: `127.0.0.1:${daemon.metricsPort}` });
    const srv = prom;
    // Prometheus' start-up and first scrape are slow under TCG
    const before = await srv.scrapeAfter(0, 'the first scrape', 120_000);

    // the workload, each kind counted by its callers
    const counted = new Map<SubsysName, Record<OutcomeKey, bigint>>();
    const run = async (o: RunOptions & { subsys: SubsysName }): Promise<RunResult> => {
      const r = await ledger.run(o);
      const c = counted.get(o.subsys) ?? (Object.fromEntries(OUTCOME_KEYS.map((k) => [k, 0n])) as Record<OutcomeKey, bigint>);
      for (const k of OUTCOME_KEYS) c[k] += r.outcomes[k];
      counted.set(o.subsys, c);
      return r;
    };
    const call = (subsys: SubsysName, data: string, calls: number, threads: number, timeoutMs = 5_000, context: KoffloadTestContext = 'normal'): RunOptions & { subsys: SubsysName } => ({
      subsys,
      op: OP_ECHO,
      calls,
      threads,
      timeoutMs,
      context,
      payload: Buffer.from(data),
      flags: data === 'ok' && context === 'normal' ? KOFFLOAD_TEST.runFlag.checkEcho : 0,
    });
    const served = await run(call('ktest', 'ok', SERVED, 4));
    assert.deepEqual(nonZero(served.outcomes), { served: BigInt(SERVED) });
    assert.equal(served.intact, BigInt(SERVED));
    assert.deepEqual(nonZero((await run(call('ktest', 'decline', DECLINED, 3))).outcomes), { declined: BigInt(DECLINED) });
    // callers in reclaim: no upcall, no wait
    let reclaim = 0;
    for (const [context, n] of Object.entries(RECLAIM) as [KoffloadTestContext, number][]) {
      const r = await run(call('ktest', 'ok', n, 1, 5_000, context));
      assert.deepEqual(nonZero(r.outcomes), { reclaim: BigInt(n) }, context);
      assert.ok(ms(r.maxWaitNs) < RECLAIM_MAX_MS, `${context}: a reclaim caller waited ${ms(r.maxWaitNs).toFixed(1)} ms`);
      reclaim += n;
    }
    assert.deepEqual(nonZero((await run(call('ktest2', 'ok', NO_HANDLER, 1))).outcomes), { noHandler: BigInt(NO_HANDLER) });
    assert.deepEqual(nonZero((await run(call('ktest', 'hang', HANGS, HANGS, HANG_DEADLINE_MS))).outcomes), { deadline: BigInt(HANGS) });
    assert.deepEqual(nonZero((await run(call('ktest', 'ok', AFTER_OPEN, 2))).outcomes), { circuitOpen: BigInt(AFTER_OPEN) });
    // the kernel counted what the callers did
    await ledger.verify();
    // the daemon saw every request the kernel sent, the hanging ones abandoned at their deadline
    const daemonExpected = { ok: SERVED, declined: DECLINED, abandoned: HANGS };
    await until('the daemon to count every request', async () => Object.entries(daemonExpected).every(([o, n]) => decisions.get(o) === n), 20_000);
    assert.deepEqual(Object.fromEntries(decisions), daemonExpected);

    // the first scrape that started after the workload ended
    const after = await srv.scrapeAfter(Date.now(), 'a scrape after the workload', 60_000);
    const at = async (q: string, label: string, t: number): Promise<Record<string, number>> => byLabel(await srv.query(q, t), label);

    // the kernel's families, as the daemon exports them: every outcome, zeros included
    for (const sub of ['ktest', 'ktest2'] as const) {
      const q = `koffload_kernel_calls_total{job="koffloadd",subsystem="${sub}"}`;
      const [b, a] = [await at(q, 'outcome', before), await at(q, 'outcome', after)];
      const grew = Object.fromEntries(Object.keys(a).map((o) => [o, a[o]! - (b[o] ?? 0)]));
      const want = Object.fromEntries(OUTCOME_KEYS.map((k) => [outcomeName(k), Number(counted.get(sub)?.[k] ?? 0n)]));
      assert.deepEqual(grew, want, `growth of ${q} from the scrape before the workload to the one after`);
    }
    const eq = 'koffload_kernel_events_total{job="koffloadd",subsystem="ktest"}';
    const [eb, ea] = [await at(eq, 'counter', before), await at(eq, 'counter', after)];
    const events = (c: string): number => ea[c]! - eb[c]!;
    assert.equal(events('requests-sent'), SERVED + DECLINED + HANGS, 'requests sent to the daemon');
    assert.equal(events('circuit-opens'), 1);
    assert.equal(events('binds'), 0, 'bound once, before the first scrape');
    assert.equal(reclaim, Number(counted.get('ktest')!.reclaim));
    assert.deepEqual(await at('koffload_kernel_bound', 'subsystem', after), { ktest: 1, ktest2: 0 });
    assert.deepEqual(await at('koffload_kernel_circuit_state', 'subsystem', after), { ktest: 1, ktest2: 0 });

    // the daemon's families: it started with this test, so its totals are the workload's
    assert.deepEqual(await at('koffload_requests_total{job="koffloadd",subsystem="ktest",op="echo"}', 'outcome', after), daemonExpected);
    assert.deepEqual(
      (await srv.query('koffload_handler_duration_seconds_count{job="koffloadd",subsystem="ktest",op="echo",role="live"}', after)).map((s) => s.value),
      [SERVED + DECLINED + HANGS],
    );
    assert.equal((await srv.query('process_resident_memory_bytes{job="koffloadd"} > 0', after)).length, 1);
    console.log(
      `prometheus e2e (${TARGET_KIND}): scrape before ${new Date(before).toISOString()}, after ${new Date(after).toISOString()}; ` +
        `ktest ${JSON.stringify(nonZero(counted.get('ktest')!), (_, v: unknown) => (typeof v === 'bigint' ? Number(v) : v))}, ktest2 no-handler ${NO_HANDLER}`,
    );
  });
});
