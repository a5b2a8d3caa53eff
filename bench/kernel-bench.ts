// The real kernel path: koffload_test.ko's kernel threads call
// koffload_call() on `ktest` (ECHO, the reply checked by the module:
// CHECK_ECHO counts it intact), and the handler bound to it is either the C
// handler of the conformance suite (test/conformance/fixtures/nl-probe.c
// echo: one recv and one send per wake-up) or the real koffloadd serving
// bench/policy.ts on `ktest` with the echo answer (the guest holds dist/,
// not examples/). Runs inside the QEMU guest of
// scripts/kernel-test.sh (software emulation: absolute numbers mean little,
// the ratio of one run is what to read):
//
//   KOFFLOAD_GUEST_ESBUILD=1 KOFFLOAD_GUEST_CMD='node dist/bench/kernel-bench.js' bash scripts/kernel-test.sh
//   npm run bench -- --kernel           (the same)
//
// For each round and each in-flight count (kernel threads, each one call
// at a time; --threads 1,16) it runs the C handler and koffloadd back to
// back, each warmed up for --warmup seconds first (default 5), and prints
// calls/s (served calls over the run's wall time) and the mean wait inside
// the kernel (total-wait-ns / calls), then the ratios koffloadd / C.
// Every call must end served and intact.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { KOFFLOAD_TEST } from '../src/generated/wire.js';
import { KoffloadClient } from '../src/kernel/client.js';
import { KtestClient } from '../src/kernel/test-client.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PROBE = join(ROOT, 'dist', 'test', 'conformance', 'fixtures', 'nl-probe');
const OP_ECHO = 1;

type Handler = 'c' | 'koffloadd';

interface Measured {
  handler: Handler;
  threads: number;
  calls: number;
  perSec: number;
  meanWaitUs: number;
  maxWaitUs: number;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function waitBound(k: KoffloadClient, want: boolean): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if ((await k.getSubsys('ktest')).bound === want) return;
    await sleep(50);
  }
  throw new Error(`ktest never became ${want ? 'bound' : 'unbound'}`);
}

async function startHandler(h: Handler, k: KoffloadClient): Promise<ChildProcess> {
  const p =
    h === 'c'
      ? spawn(PROBE, ['echo', '0', String(k.familyId)], { stdio: ['pipe', 'pipe', 'inherit'] })
      : spawn(process.execPath, [join(ROOT, 'dist', 'src', 'cli', 'koffloadd.js'), '--policy', join(ROOT, 'dist', 'bench', 'policy.js'), '--log-level', 'warn'], {
          stdio: ['pipe', 'ignore', 'inherit'],
          env: { ...process.env, KOFFLOAD_BENCH_NAMES: 'ktest', KOFFLOAD_BENCH_ANSWER: 'echo' },
        });
  await waitBound(k, true);
  return p;
}

async function stopHandler(h: Handler, p: ChildProcess, k: KoffloadClient): Promise<void> {
  if (h === 'c') p.stdin?.end();
  else p.kill('SIGTERM');
  await new Promise((r) => (p.exitCode !== null ? r(undefined) : p.once('exit', r)));
  await waitBound(k, false);
}

async function measure(t: KtestClient, h: Handler, threads: number, calls: number, warmupS: number): Promise<Measured> {
  const payload = Buffer.alloc(52, 0x5a);
  const flags = KOFFLOAD_TEST.runFlag.checkEcho;
  // warm-up, by time as the socket-path bench does: V8 needs thousands of
  // calls before its optimising tier takes the handler path, which under
  // emulation is seconds (after 200 warm-up calls koffloadd ran at a third
  // of its warmed-up rate)
  const w0 = process.hrtime.bigint();
  do {
    await t.waitResult(await t.run({ subsys: 'ktest', op: OP_ECHO, calls: Math.max(200, threads * 10), threads, timeoutMs: 10_000, context: 'normal', payload, flags }), { timeoutMs: 600_000 });
  } while (Number(process.hrtime.bigint() - w0) / 1e9 < warmupS);
  const t0 = process.hrtime.bigint();
  const res = await t.waitResult(await t.run({ subsys: 'ktest', op: OP_ECHO, calls, threads, timeoutMs: 10_000, context: 'normal', payload, flags }), { pollMs: 5, timeoutMs: 600_000 });
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  const served = Number(res.outcomes.served);
  if (served !== calls || Number(res.intact) !== calls) {
    throw new Error(`${h}: ${served} of ${calls} calls served, ${res.intact} intact: ${JSON.stringify(res.outcomes, (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v))}`);
  }
  return { handler: h, threads, calls, perSec: calls / s, meanWaitUs: Number(res.totalWaitNs) / calls / 1000, maxWaitUs: Number(res.maxWaitNs) / 1000 };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rounds: { type: 'string', default: '2' }, calls: { type: 'string', default: '3000' }, threads: { type: 'string', default: '1,16' }, warmup: { type: 'string', default: '5' } } });
  if (!existsSync(PROBE)) throw new Error(`${PROBE} is missing: run inside scripts/kernel-test.sh's guest, which builds it`);
  const k = await KoffloadClient.open();
  const t = await KtestClient.open();
  const rounds = Number(values.rounds);
  const calls = Number(values.calls);
  const threadsList = values.threads.split(',').map(Number);
  const all: Measured[][] = [];
  for (let r = 0; r < rounds; r++) {
    for (const threads of threadsList) {
      const pair: Measured[] = [];
      for (const h of ['c', 'koffloadd'] as const) {
        const p = await startHandler(h, k);
        try {
          pair.push(await measure(t, h, threads, calls, Number(values.warmup)));
        } finally {
          await stopHandler(h, p, k);
        }
        const m = pair[pair.length - 1]!;
        console.log(`kernel-bench: round ${r + 1} ${h.padEnd(9)} threads=${threads} calls/s=${m.perSec.toFixed(0)} mean_wait_us=${m.meanWaitUs.toFixed(1)} max_wait_us=${m.maxWaitUs.toFixed(0)}`);
      }
      all.push(pair);
    }
  }
  console.log('\nkernel path (QEMU, software emulation): koffload_test kthreads -> koffload.ko -> handler');
  console.log('threads  C calls/s  koffloadd calls/s  throughput koffloadd/C  mean wait koffloadd/C');
  for (const threads of threadsList) {
    const pairs = all.filter((p) => p[0]!.threads === threads);
    const tr = pairs.map(([c, d]) => d!.perSec / c!.perSec);
    const wr = pairs.map(([c, d]) => d!.meanWaitUs / c!.meanWaitUs);
    const spread = (xs: number[]): string => (xs.length > 1 ? ` (${Math.min(...xs).toFixed(2)}..${Math.max(...xs).toFixed(2)})` : '');
    console.log(
      `${String(threads).padStart(7)}  ${median(pairs.map((p) => p[0]!.perSec)).toFixed(0).padStart(9)}  ${median(pairs.map((p) => p[1]!.perSec)).toFixed(0).padStart(17)}  ${`${median(tr).toFixed(2)}${spread(tr)}`.padStart(22)}  ${`${median(wr).toFixed(2)}${spread(wr)}`.padStart(21)}`,
    );
  }
  for (const threads of threadsList) {
    const pairs = all.filter((p) => p[0]!.threads === threads);
    console.log(`kernel_throughput_ratio_t${threads}=${median(pairs.map(([c, d]) => d!.perSec / c!.perSec)).toFixed(2)} kernel_wait_ratio_t${threads}=${median(pairs.map(([c, d]) => d!.meanWaitUs / c!.meanWaitUs)).toFixed(2)}`);
  }
  k.close();
  t.close();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`kernel-bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
