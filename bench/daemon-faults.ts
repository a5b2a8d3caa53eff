// Numbers for the daemon faults of issue 13, against the in-process
// simulator: memory over 50 reloads, handlers running at once behind a
// handler that never settles (concurrency 1), and the longest call wait
// while another process floods /metrics. Prints numbers; asserts nothing.
//
//   npm run build && node dist/bench/daemon-faults.js [reload|abandoned|scrape]...
//
// Uses only APIs that predate the fixes, so the same file, compiled, runs
// against an older build for a before/after comparison.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';
import { EchoRequest, ktest } from '../src/generated/proto/ktest.js';
import type { KernelRequest } from '../src/kernel/client.js';
import { Daemon } from '../src/runtime/daemon.js';
import { PolicyRegistry, SubsystemServer, definePolicy, silentLogger } from '../src/runtime/index.js';
import { startSimulator } from '../src/sim/index.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const mb = (n: number): string => (n / 1048576).toFixed(2);

async function settleGc(): Promise<void> {
  for (let i = 0; i < 4; i++) {
    await new Promise((r) => setTimeout(r, 20));
    gc();
  }
}

async function reloads(n: number): Promise<void> {
  const sim = await startSimulator({ transport: 'inproc', stateFile: null });
  const d = await Daemon.start({
    config: { policies: [join(ROOT, 'examples/ktest-policy.ts')] },
    target: { kind: 'sim', koffload: sim.clientOptions() },
    logger: silentLogger,
  });
  await d.reload(); // first reload warms what every reload uses
  await settleGc();
  const before = process.memoryUsage();
  for (let i = 0; i < n; i++) await d.reload();
  await settleGc();
  const after = process.memoryUsage();
  const served = (await sim.call('ktest', 1, EchoRequest.encode({ seq: 1n }))).outcome;
  await d.stop();
  await sim.close();
  console.log(
    `reload: ${n} reloads of examples/ktest-policy.ts: heapUsed ${mb(before.heapUsed)} -> ${mb(after.heapUsed)} MB ` +
      `(${((after.heapUsed - before.heapUsed) / n / 1024).toFixed(1)} KiB/reload), rss ${mb(before.rss)} -> ${mb(after.rss)} MB; then a call: ${served}`,
  );
}

async function abandoned(n: number): Promise<void> {
  let started = 0;
  const policy = new PolicyRegistry()
    .add(definePolicy({ subsystem: 'ktest', schema: ktest, limits: { concurrency: 1, queueMax: 64 }, ops: { echo: { handler: () => ((started++), new Promise<never>(() => {})) } } }))
    .get('ktest')!;
  const transport = { on() {}, off() {}, reply: () => true, publish: async () => {} };
  const server = new SubsystemServer({ policy, subsysId: 1, transport });
  const outcomes: Record<string, number> = {};
  let id = 1n;
  for (let i = 0; i < n; i++) {
    const req: KernelRequest = { reqId: id++, subsysId: 1, op: 1, deadlineNs: process.hrtime.bigint() + 1_000_000n, flags: 0, payload: EchoRequest.encode({}) };
    const ev = await server.handle(req);
    outcomes[ev.outcome] = (outcomes[ev.outcome] ?? 0) + 1;
  }
  console.log(`abandoned: ${n} requests with 1 ms deadlines, concurrency 1, a handler that never settles: ${started} handlers running at once at the end; outcomes ${JSON.stringify(outcomes)}`);
}

async function scrapeFlood(calls: number, connections: number): Promise<void> {
  const sim = await startSimulator({ transport: 'inproc', stateFile: null });
  const d = await Daemon.start({
    config: { policies: [join(ROOT, 'dist/examples/ktest-policy.js')], metricsPort: 0 },
    target: { kind: 'sim', koffload: sim.clientOptions() },
    logger: silentLogger,
  });
  const measure = async (): Promise<{ maxMs: number; p99Ms: number }> => {
    const waits: number[] = [];
    for (let i = 0; i < calls; i++) {
      const r = await sim.call('ktest', 1, EchoRequest.encode({ seq: BigInt(i) }));
      waits.push(Number(r.waitNs) / 1e6);
    }
    waits.sort((a, b) => a - b);
    return { maxMs: waits[waits.length - 1]!, p99Ms: waits[Math.floor(waits.length * 0.99)]! };
  };
  const quiet = await measure();
  const dir = mkdtempSync(join(tmpdir(), 'koffload-bench-'));
  const flooder = join(dir, 'flood.mjs');
  writeFileSync(
    flooder,
    `const url = process.argv[2]; let n = 0;
     const one = async () => { for (;;) { try { await (await fetch(url)).text(); n++; } catch { await new Promise((r) => setTimeout(r, 1)); } } };
     for (let i = 0; i < ${connections}; i++) one();
     setInterval(() => process.stdout.write(n + '\\n'), 200);`,
  );
  const child = spawn(process.execPath, [flooder, `http://127.0.0.1:${d.metricsPort}/metrics`], { stdio: ['ignore', 'pipe', 'inherit'] });
  let scrapes = 0;
  child.stdout.on('data', (b: Buffer) => (scrapes = Number(b.toString().trim().split('\n').pop())));
  await new Promise((r) => setTimeout(r, 500));
  const s0 = scrapes;
  const t0 = performance.now();
  const flood = await measure();
  const rate = ((scrapes - s0) / ((performance.now() - t0) / 1000)).toFixed(0);
  child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
  await d.stop();
  await sim.close();
  console.log(
    `scrape: ${calls} calls; quiet: longest ${quiet.maxMs.toFixed(2)} ms, p99 ${quiet.p99Ms.toFixed(2)} ms; ` +
      `under ${connections} scraping connections (~${rate} scrapes/s): longest ${flood.maxMs.toFixed(2)} ms, p99 ${flood.p99Ms.toFixed(2)} ms`,
  );
}

// deadline timers are unref'd: keep the loop alive while handlers hang
setInterval(() => {}, 1000);
const which = process.argv.slice(2);
const want = (k: string): boolean => which.length === 0 || which.includes(k);
if (want('reload')) await reloads(Number(process.env.RELOADS ?? 50));
if (want('abandoned')) await abandoned(2000);
if (want('scrape')) await scrapeFlood(2000, 32);
process.exit(0);
