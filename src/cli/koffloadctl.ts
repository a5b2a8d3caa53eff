#!/usr/bin/env node
/**
 * koffloadctl: look at and steer koffload.
 *
 *   koffloadctl status
 *   koffloadctl mode ktest canary --permille 100
 *   koffloadctl replay run.jsonl --policy examples/ktest-policy.ts
 *   koffloadctl calls ktest --count 100
 *   koffloadctl top
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { KoffloadError, NetlinkError } from '../errors.js';
import { KOFFLOAD, KOFFLOAD_TEST, type Mode } from '../generated/wire.js';
import { KoffloadClient, type SubsysInfo } from '../kernel/client.js';
import { KtestClient } from '../kernel/test-client.js';
import { EXIT, describeError, exitCodeOf, runIfMain, table, usageError } from '../runtime/cli-support.js';
import { loadPolicyModule } from '../runtime/loader.js';
import { createLogger } from '../runtime/logger.js';
import { PolicyRegistry } from '../runtime/policy.js';
import { formatReplayReport, replayRecording } from '../runtime/replay.js';
import { type Target, resolveTarget } from '../runtime/target.js';
import { runTop } from './top.js';

export const HELP = `usage: koffloadctl <command> [options]

commands:
  status [--json]                       subsystems: bound handler (port, pid),
                                        mode, pending calls, circuit, and the
                                        kernel's outcome and event counters
  mode <subsys> off|shadow|canary|on [--permille N]
                                        change a subsystem's rollout mode
                                        (canary: N of 1000 calls go to userspace)
  replay <file> --policy PATH [--max-diffs N] [--deadline-ms N] [--json]
                                        run a policy offline over a record file
                                        (koffloadd --record) and show where its
                                        decisions differ
  calls <subsys> [--count N] [--threads K] [--timeout-ms T]
        [--context normal|atomic|noreclaim|nofs] [--data TEXT] [--json]
                                        make N in-kernel ECHO calls from K
                                        kernel threads of the test subsystems
                                        (ktest, ktest2: koffload_test.ko or the
                                        simulator) and show how they ended
  top [--interval S] [--count N] [--metrics URL|none]
                                        a live view per subsystem: calls/s,
                                        served share, fallback share by
                                        reason, handler p50/p99 (from
                                        koffloadd's /metrics, default
                                        http://127.0.0.1:9464/metrics), pending,
                                        circuit; q or Ctrl-C ends it; plain
                                        lines when stdout is not a terminal

options:
      --state-file FILE   the simulator's state file (default: its own)
  -h, --help              this text

Talks to koffload.ko when it is loaded, else to a running koffload-sim.

exit codes: 0 success; 1 failure; 2 bad usage, policy or record file;
            3 no kernel module and no simulator; 4 needs CAP_NET_ADMIN (root);
            5 the kernel has no such subsystem
`;

async function connect(stateFile: string | undefined): Promise<{ client: KoffloadClient; target: Target }> {
  const target = await resolveTarget(stateFile ? { stateFile } : {});
  return { client: await KoffloadClient.open(target.koffload), target };
}

function nonzero(rec: Record<string, bigint>): string[] {
  return Object.keys(rec).filter((k) => rec[k] !== 0n);
}

export function formatStatus(subs: SubsysInfo[], kind: string): string {
  const out: string[] = [`target: ${kind === 'kernel' ? 'kernel (koffload.ko)' : 'simulator (koffload-sim)'}`, ''];
  if (subs.length === 0) return `${out.join('\n')}no subsystems registered\n`;
  out.push(
    table(
      ['SUBSYS', 'ID', 'HANDLER', 'MODE', 'PENDING', 'CIRCUIT', 'DEADLINE', 'INFLIGHT'],
      subs.map((s) => [
        s.name,
        s.subsysId,
        !s.bound ? 'unbound' : s.portid === 0 ? 'bound (port and pid: CAP_NET_ADMIN only)' : `port ${s.portid} pid ${s.boundPid}`,
        s.mode === 'canary' ? `canary ${s.canaryPermille}/1000` : s.mode,
        s.pending,
        s.circuit === 'halfOpen' ? 'half-open' : s.circuit,
        s.deadlineMs === 0 ? '-' : `${s.deadlineMs} ms`,
        s.maxInflight === 0 ? `- (max ${s.inflightMax})` : s.maxInflight,
      ]),
    ),
  );
  const outcomeCols = KOFFLOAD.outcomeKeys.filter((k) => subs.some((s) => nonzero(s.outcomes).includes(k)));
  out.push('', 'outcomes of kernel calls:');
  if (outcomeCols.length === 0) out.push('  (no calls yet)');
  else {
    out.push(
      table(
        ['SUBSYS', ...outcomeCols.map((k) => KOFFLOAD.outcomeNames[KOFFLOAD.outcome[k]]!)],
        subs.map((s) => [s.name, ...outcomeCols.map((k) => s.outcomes[k])]),
      ),
    );
  }
  const counterCols = KOFFLOAD.counterKeys.filter((k) => subs.some((s) => nonzero(s.counters).includes(k)));
  out.push('', 'counters:');
  if (counterCols.length === 0) out.push('  (all zero)');
  else {
    out.push(
      table(
        ['SUBSYS', ...counterCols.map((k) => KOFFLOAD.counterNames[KOFFLOAD.counter[k]]!)],
        subs.map((s) => [s.name, ...counterCols.map((k) => s.counters[k])]),
      ),
    );
  }
  return `${out.join('\n')}\n`;
}

const bigintJson = (_k: string, v: unknown): unknown => (typeof v === 'bigint' ? v.toString() : v);

async function status(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: { json: { type: 'boolean' }, 'state-file': { type: 'string' } }, allowPositionals: true });
  if (positionals.length > 0) throw usageError(`status takes no arguments (got ${positionals.join(' ')})`);
  const { client, target } = await connect(values['state-file']);
  try {
    const subs = await client.dumpSubsys();
    if (values.json) process.stdout.write(`${JSON.stringify({ target: target.kind, subsystems: subs }, bigintJson, 2)}\n`);
    else process.stdout.write(formatStatus(subs, target.kind));
    return EXIT.ok;
  } finally {
    client.close();
  }
}

async function mode(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: { permille: { type: 'string' }, 'state-file': { type: 'string' } }, allowPositionals: true });
  const [name, m] = positionals;
  if (positionals.length !== 2 || !name || !m || !['off', 'shadow', 'canary', 'on'].includes(m)) {
    throw usageError('usage: koffloadctl mode <subsys> off|shadow|canary|on [--permille N]');
  }
  let permille: number | undefined;
  if (values.permille !== undefined) {
    permille = Number(values.permille);
    if (!/^\d+$/.test(values.permille) || permille > KOFFLOAD.limits.permille) throw usageError(`--permille must be 0..${KOFFLOAD.limits.permille}`);
  }
  const { client } = await connect(values['state-file']);
  try {
    let info: SubsysInfo;
    try {
      info = await client.getSubsys(name);
    } catch (err) {
      if (err instanceof NetlinkError && err.code === 'ENOENT') throw new KoffloadError('KOFFLOAD_ERR_UNKNOWN_SUBSYSTEM', `the kernel has no subsystem '${name}'`, { cause: err });
      throw err;
    }
    try {
      await client.setMode(info.subsysId, m as Mode, permille);
    } catch (err) {
      if (err instanceof NetlinkError && (err.code === 'EPERM' || err.code === 'EACCES')) {
        throw new KoffloadError('KOFFLOAD_ERR_PERMISSION', `changing the mode of ${name}`, { cause: err, errno: err.errno });
      }
      throw err;
    }
    const after = await client.getSubsys(info.subsysId);
    process.stdout.write(`${name}: mode ${after.mode}${after.mode === 'canary' ? ` ${after.canaryPermille}/1000` : ''}\n`);
    return EXIT.ok;
  } finally {
    client.close();
  }
}

const CALL_CONTEXTS = ['normal', 'atomic', 'noreclaim', 'nofs'] as const;

/** Drives the test subsystems' in-kernel callers, to see a policy at work. */
async function calls(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      count: { type: 'string' },
      threads: { type: 'string' },
      'timeout-ms': { type: 'string' },
      context: { type: 'string' },
      data: { type: 'string' },
      json: { type: 'boolean' },
      'state-file': { type: 'string' },
    },
    allowPositionals: true,
  });
  const [subsys] = positionals;
  if (positionals.length !== 1 || !subsys) throw usageError('usage: koffloadctl calls <subsys> [--count N] [--threads K] [--timeout-ms T] [--context C]');
  const int = (s: string | undefined, what: string, dflt: number, max: number): number => {
    if (s === undefined) return dflt;
    if (!/^\d+$/.test(s) || Number(s) < 1 || Number(s) > max) throw usageError(`${what} must be an integer 1..${max}`);
    return Number(s);
  };
  const count = int(values.count, '--count', 100, KOFFLOAD_TEST.limits.callsMax);
  const threads = int(values.threads, '--threads', 4, KOFFLOAD_TEST.limits.threadsMax);
  const timeoutMs = int(values['timeout-ms'], '--timeout-ms', 200, KOFFLOAD.limits.deadlineMaxMs);
  const context = values.context ?? 'normal';
  if (!(CALL_CONTEXTS as readonly string[]).includes(context)) throw usageError(`--context must be one of ${CALL_CONTEXTS.join(', ')}`);
  const target = await resolveTarget(values['state-file'] ? { stateFile: values['state-file'] } : {});
  if (!target.koffloadTest) {
    throw new KoffloadError('KOFFLOAD_ERR_UNKNOWN_SUBSYSTEM', 'no test callers here: load kernel-shim/koffload_test.ko, or run koffload-sim');
  }
  let ktest: KtestClient;
  try {
    ktest = await KtestClient.open(target.koffloadTest);
  } catch (err) {
    if (err instanceof KoffloadError && err.code === 'KOFFLOAD_ERR_NO_FAMILY') {
      throw new KoffloadError('KOFFLOAD_ERR_UNKNOWN_SUBSYSTEM', 'koffload_test.ko is not loaded (its callers drive these calls)', { cause: err });
    }
    throw err;
  }
  try {
    let runId: number;
    try {
      runId = await ktest.run({
        subsys,
        op: 1,
        calls: count,
        threads: Math.min(threads, count),
        timeoutMs,
        context: context as (typeof CALL_CONTEXTS)[number],
        payload: Buffer.from(values.data ?? 'hello from the kernel'),
        flags: ['checkEcho'],
      });
    } catch (err) {
      if (err instanceof NetlinkError && err.code === 'ENOENT') throw new KoffloadError('KOFFLOAD_ERR_UNKNOWN_SUBSYSTEM', `no test subsystem '${subsys}' (ktest, ktest2)`, { cause: err });
      if (err instanceof NetlinkError && err.code === 'EPERM') throw new KoffloadError('KOFFLOAD_ERR_PERMISSION', 'running test callers', { cause: err, errno: err.errno });
      throw err;
    }
    const res = await ktest.waitResult(runId, { pollMs: 20, timeoutMs: 60_000 + count * timeoutMs });
    const ended = KOFFLOAD.outcomeKeys.filter((k) => res.outcomes[k] !== 0n);
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ target: target.kind, subsys, outcomes: res.outcomes, outcomeMaxWaitNs: res.outcomeMaxWaitNs, intact: res.intact }, bigintJson, 2)}\n`);
    } else {
      process.stdout.write(`${count} ECHO calls on ${subsys} (${target.kind === 'kernel' ? 'koffload_test.ko' : 'simulator'}, ${threads} threads, ${timeoutMs} ms deadline, context ${context}):\n`);
      process.stdout.write(
        `${table(
          ['OUTCOME', 'CALLS', 'LONGEST WAIT'],
          ended.map((k) => [KOFFLOAD.outcomeNames[KOFFLOAD.outcome[k]]!, res.outcomes[k], `${(Number(res.outcomeMaxWaitNs[k]) / 1e6).toFixed(2)} ms`]),
        )}\n`,
      );
      if (res.outcomes.served > 0n) process.stdout.write(`served replies that echoed their request: ${res.intact} of ${res.outcomes.served}\n`);
    }
    return EXIT.ok;
  } finally {
    ktest.close();
  }
}

async function replay(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { policy: { type: 'string', short: 'p', multiple: true }, 'max-diffs': { type: 'string' }, 'deadline-ms': { type: 'string' }, json: { type: 'boolean' } },
    allowPositionals: true,
  });
  if (positionals.length !== 1 || !values.policy?.length) throw usageError('usage: koffloadctl replay <file> --policy PATH');
  const num = (s: string | undefined, what: string): number | undefined => {
    if (s === undefined) return undefined;
    if (!/^\d+$/.test(s)) throw usageError(`${what} must be a non-negative integer`);
    return Number(s);
  };
  const reg = new PolicyRegistry();
  for (const p of values.policy) for (const pol of await loadPolicyModule(p, process.cwd())) reg.add(pol);
  const maxDiffs = num(values['max-diffs'], '--max-diffs');
  const deadlineMs = num(values['deadline-ms'], '--deadline-ms');
  const report = await replayRecording(resolve(positionals[0]!), reg, {
    ...(maxDiffs !== undefined ? { maxDiffs } : {}),
    ...(deadlineMs !== undefined ? { deadlineMs } : {}),
    logger: createLogger({ level: 'warn', prefix: 'replay' }),
  });
  process.stdout.write(values.json ? `${JSON.stringify(report, bigintJson, 2)}\n` : `${formatReplayReport(report)}\n`);
  return EXIT.ok;
}

/** koffloadd's /metrics, or undefined when it does not answer within half a second. */
async function scrape(url: string): Promise<string | undefined> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(500) });
    return r.ok ? await r.text() : undefined;
  } catch {
    return undefined;
  }
}

async function top(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { interval: { type: 'string' }, count: { type: 'string' }, metrics: { type: 'string' }, 'state-file': { type: 'string' } },
    allowPositionals: true,
  });
  if (positionals.length > 0) throw usageError(`top takes no arguments (got ${positionals.join(' ')})`);
  const intervalS = values.interval === undefined ? 1 : Number(values.interval);
  if (!Number.isFinite(intervalS) || intervalS < 0.1 || intervalS > 3600) throw usageError('--interval must be 0.1..3600 seconds');
  const count = values.count === undefined ? 0 : Number(values.count);
  if (!/^\d+$/.test(values.count ?? '0')) throw usageError('--count must be a non-negative integer');
  const url = values.metrics ?? 'http://127.0.0.1:9464/metrics';
  if (url !== 'none' && !/^https?:\/\//.test(url)) throw usageError('--metrics must be an http(s) URL or none');
  const { client, target } = await connect(values['state-file']);
  try {
    await runTop(
      {
        intervalS,
        count,
        dump: () => client.dumpSubsys(),
        ...(url !== 'none' ? { metrics: () => scrape(url), metricsUrl: url } : {}),
        targetName: target.kind === 'kernel' ? 'kernel (koffload.ko)' : 'simulator (koffload-sim)',
      },
      { out: process.stdout, input: process.stdin },
    );
    return EXIT.ok;
  } finally {
    client.close();
  }
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '-h' || cmd === '--help' || cmd === 'help' || rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(HELP);
    return cmd === undefined ? EXIT.usage : EXIT.ok;
  }
  try {
    switch (cmd) {
      case 'status':
        return await status(rest);
      case 'mode':
        return await mode(rest);
      case 'replay':
        return await replay(rest);
      case 'calls':
        return await calls(rest);
      case 'top':
        return await top(rest);
      default:
        throw usageError(`unknown command '${cmd}' (status, mode, replay, calls, top)`);
    }
  } catch (err) {
    const e = err instanceof TypeError && (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') ? usageError(err.message) : err;
    process.stderr.write(`${describeError('koffloadctl', e)}\n`);
    return exitCodeOf(e);
  }
}

runIfMain(import.meta.url, 'koffloadctl', main);
