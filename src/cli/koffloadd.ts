#!/usr/bin/env node
/**
 * koffloadd: serve koffload policies.
 *
 *   koffloadd --policy examples/ktest-policy.ts
 *   koffloadd --config examples/koffloadd.json
 *
 * See `koffloadd --help` and docs/policy-guide.md.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { KoffloadError } from '../errors.js';
import { EXIT, describeError, exitCodeOf, runIfMain, usageError } from '../runtime/cli-support.js';
import { Daemon, type DaemonConfig, validateConfig } from '../runtime/daemon.js';
import { LEVELS, type Level, createLogger } from '../runtime/logger.js';
import { execPlan, heapExecPlan, heapFlags, heapLimitMb } from '../runtime/memory.js';
import { SystemdNotifier } from '../runtime/notify.js';

export const HELP = `usage: koffloadd [options]

Serves koffload policy modules: binds their subsystems in the kernel
(koffload.ko, or a running koffload-sim when the module is not loaded),
answers requests, and shuts down cleanly on SIGTERM/SIGINT.

options:
  -c, --config FILE        JSON config file (docs/policy-guide.md); paths in it
                           are relative to the file
  -p, --policy PATH        a policy module (.ts or .js, compiled in memory; it
                           and its directories must be writable only by root
                           or koffloadd's user); repeatable
      --shadow PATH        a candidate policy run beside the live one: computed
                           and recorded, never sent; repeatable
      --mode SUBSYS=MODE   bind SUBSYS in mode off|shadow|canary|on;
                           canary takes a fraction: ktest=canary:250 (per mille)
      --metrics-port N     serve Prometheus metrics on http://HOST:N/metrics
      --metrics-host HOST  address for metrics (default 127.0.0.1)
      --record FILE        append every request and answer to FILE (JSON lines)
      --mlock              lock the process's mapped files, stack and malloc heap
                           and the socket buffers in memory (needs RLIMIT_MEMLOCK
                           or CAP_IPC_LOCK; docs/operations.md)
      --state-file FILE    the simulator's state file (default: its own)
      --log-level LEVEL    debug|info|warn|error|silent (default info)
  -h, --help               this text

systemd: with $NOTIFY_SOCKET set (Type=notify), sends READY=1 once every
         subsystem is bound and /metrics listens, STOPPING=1 when it stops

signals: SIGTERM, SIGINT  decline queued work, finish running handlers,
                          unbind, exit 0 (during startup: once started)
         SIGHUP           reopen the record file, reload the policy
                          modules (and the local files they import) and
                          rebind (ignored during startup); on failure the
                          old ones serve, in the kernel too

exit codes: 0 stopped cleanly; 1 failure; 2 bad usage, config or policy;
            3 no kernel module and no simulator; 4 needs CAP_NET_ADMIN (root);
            5 the kernel has no such subsystem, or another process serves it
`;

/** Config from flags and the optional config file; KOFFLOAD_ERR_BAD_CONFIG. */
export function configFromArgs(argv: string[], cwd = process.cwd()): { config: DaemonConfig; logLevel: Level; help: boolean } {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        config: { type: 'string', short: 'c' },
        policy: { type: 'string', short: 'p', multiple: true },
        shadow: { type: 'string', multiple: true },
        mode: { type: 'string', multiple: true },
        'metrics-port': { type: 'string' },
        'metrics-host': { type: 'string' },
        record: { type: 'string' },
        mlock: { type: 'boolean' },
        'state-file': { type: 'string' },
        'log-level': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: false,
      strict: true,
    });
  } catch (err) {
    throw usageError((err as Error).message);
  }
  const v = parsed.values;
  const logLevel = (v['log-level'] ?? 'info') as Level;
  if (!LEVELS.includes(logLevel)) throw usageError(`--log-level must be one of ${LEVELS.join(', ')}`);
  if (v.help) return { config: { policies: [] }, logLevel, help: true };
  let raw: Record<string, unknown> = {};
  let baseDir = cwd;
  if (v.config !== undefined) {
    const path = resolve(cwd, v.config);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new KoffloadError('KOFFLOAD_ERR_BAD_CONFIG', `cannot read config file ${path}: ${(err as Error).message}`, { cause: err });
    }
    try {
      raw = JSON.parse(text) as Record<string, unknown>;
    } catch (err) {
      throw new KoffloadError('KOFFLOAD_ERR_BAD_CONFIG', `${path} is not valid JSON: ${(err as Error).message}`, { cause: err });
    }
    validateConfig(raw, path);
    baseDir = dirname(path);
    // paths from the file are relative to it, paths from flags to the working directory
    const abs = (xs: unknown): string[] => ((xs as string[] | undefined) ?? []).map((p) => resolve(baseDir, p));
    raw = { ...raw, policies: abs(raw['policies']), shadow: abs(raw['shadow']) };
    if (typeof raw['record'] === 'string') raw['record'] = resolve(baseDir, raw['record']);
  }
  const merged: Record<string, unknown> = { ...raw };
  merged['policies'] = [...((raw['policies'] as string[] | undefined) ?? []), ...(v.policy ?? []).map((p) => resolve(cwd, p))];
  merged['shadow'] = [...((raw['shadow'] as string[] | undefined) ?? []), ...(v.shadow ?? []).map((p) => resolve(cwd, p))];
  if (v.mode) {
    const subs = { ...((raw['subsystems'] as Record<string, Record<string, unknown>> | undefined) ?? {}) };
    for (const m of v.mode) {
      const match = /^([^=]+)=(off|shadow|canary|on)(?::(\d+))?$/.exec(m);
      if (!match) throw usageError(`--mode ${m}: expected SUBSYS=off|shadow|canary|on[:PERMILLE]`);
      subs[match[1]!] = { ...(subs[match[1]!] ?? {}), mode: match[2], ...(match[3] !== undefined ? { canaryPermille: Number(match[3]) } : {}) };
    }
    merged['subsystems'] = subs;
  }
  if (v['metrics-port'] !== undefined) {
    const n = Number(v['metrics-port']);
    if (!/^\d+$/.test(v['metrics-port']) || n > 65535) throw usageError('--metrics-port must be 0..65535');
    merged['metricsPort'] = n;
  }
  if (v['metrics-host'] !== undefined) merged['metricsHost'] = v['metrics-host'];
  if (v.record !== undefined) merged['record'] = resolve(cwd, v.record);
  if (v.mlock) merged['mlock'] = true;
  if (v['state-file'] !== undefined) merged['stateFile'] = resolve(cwd, v['state-file']);
  merged['baseDir'] = baseDir;
  return { config: validateConfig(merged, v.config ?? 'flags'), logLevel, help: false };
}

export async function main(argv: string[]): Promise<number> {
  let opts;
  try {
    opts = configFromArgs(argv);
  } catch (err) {
    process.stderr.write(`${describeError('koffloadd', err)}\n(see koffloadd --help)\n`);
    return EXIT.usage;
  }
  if (opts.help) {
    process.stdout.write(HELP);
    return EXIT.ok;
  }
  const logger = createLogger({ level: opts.logLevel, prefix: 'koffloadd' });
  const notifier = new SystemdNotifier({ logger });
  const config = opts.config;
  if (config.heap) {
    // V8's heap limits are fixed when node starts: restart this process (same pid) with them
    const plan = heapExecPlan(config.heap);
    if (plan) {
      logger.info('restarting with V8 heap limits', { flags: heapFlags(config.heap).join(' ') });
      try {
        execPlan(plan);
      } catch (err) {
        process.stderr.write(`koffloadd: cannot restart with V8 heap limits (${heapFlags(config.heap).join(' ')}): ${String(err)}\n`);
        return EXIT.failure;
      }
    }
    logger.info('V8 heap limit', { heapLimitMiB: heapLimitMb(), flags: heapFlags(config.heap).join(' ') });
  }
  return new Promise<number>((resolveExit) => {
    let daemon: Daemon | undefined;
    let stopping = false;
    let done = false;
    const finish = (code: number): void => {
      if (done) return;
      done = true;
      // whatever the exit path (a second signal, a lost socket), no recorded line stays in memory
      daemon?.flushRecordSync();
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      process.off('SIGHUP', onHup);
      process.off('unhandledRejection', onRejection);
      resolveExit(code);
    };
    const runStop = (d: Daemon): void => {
      d.stop().then(
        () => finish(EXIT.ok),
        (err: unknown) => {
          logger.error('stop failed', { err: String(err) });
          finish(EXIT.failure);
        },
      );
    };
    const stop = (sig: string): void => {
      if (stopping) {
        logger.warn('second signal: exiting without draining', { signal: sig });
        finish(EXIT.failure);
        return;
      }
      stopping = true;
      if (daemon === undefined) {
        // still starting: stop as soon as start() resolves
        logger.info('stop signal during startup; stopping once started', { signal: sig });
        return;
      }
      logger.info('stopping', { signal: sig });
      notifier.stopping();
      runStop(daemon);
    };
    const onTerm = (): void => stop('SIGTERM');
    const onInt = (): void => stop('SIGINT');
    const onHup = (): void => {
      if (daemon === undefined || stopping) {
        logger.info(stopping ? 'SIGHUP while stopping: ignored' : 'SIGHUP during startup: ignored (nothing to reload yet)');
        return;
      }
      logger.info('SIGHUP: reopening the record file and reloading');
      daemon.reopenRecord();
      daemon.reload().catch(() => {
        // reload() logs every failure itself; the previous policies keep serving
      });
    };
    // a policy's fire-and-forget promise that rejects would end Node 20: logged, counted, survived
    const onRejection = (reason: unknown): void => {
      if (daemon) daemon.unhandledRejection(reason);
      else logger.error('unhandled promise rejection during startup', { err: String(reason) });
    };
    process.on('unhandledRejection', onRejection);
    // an uncaught exception too: write what is queued for the record file on the way out
    process.once('exit', () => daemon?.flushRecordSync());
    // installed before start() resolves: a signal while loading or binding must not kill the process half-bound
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
    process.on('SIGHUP', onHup);
    Daemon.start({ config, logger }).then(
      (d) => {
        daemon = d;
        if (d.metricsPort !== undefined) logger.info('metrics', { url: `http://${config.metricsHost ?? '127.0.0.1'}:${d.metricsPort}/metrics` });
        d.client.on('close', (err) => {
          if (stopping || done) return;
          logger.error('netlink socket closed', { err: String(err) });
          // flush what was recorded before exiting
          d.closeRecorder().then(
            () => finish(EXIT.failure),
            () => finish(EXIT.failure),
          );
        });
        if (stopping) {
          logger.info('stopping', { signal: 'received during startup' });
          notifier.stopping();
          runStop(d);
          return;
        }
        // bound and listening: what systemd's Type=notify waits for
        notifier.ready(`serving ${d.subsystems().map((s) => s.name).join(', ')}`);
      },
      (err: unknown) => {
        process.stderr.write(`${describeError('koffloadd', err)}\n`);
        finish(exitCodeOf(err));
      },
    );
  });
}

runIfMain(import.meta.url, 'koffloadd', main);
