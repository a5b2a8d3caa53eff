#!/usr/bin/env node
/**
 * koffload-sim: run the kernel simulator as a long-lived process, so that
 * koffloadd, koffloadctl and tests in other processes can use it where
 * koffload.ko is not loaded. They find it through its state file
 * (resolveTarget() in src/sim).
 */
import { parseArgs } from 'node:util';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { KoffloadError } from '../errors.js';
import { DEFAULT_STATE_FILE, type SimSubsystem, type Simulator, readStateFile, stateIsLive, startSimulator } from '../sim/index.js';

export const HELP = `usage: koffload-sim [options]

Runs a simulated koffload.ko + koffload_test.ko: the families koffload and
koffload_test, answering on a netlink socket exactly as the modules do
(same bytes, same rules), until SIGTERM or SIGINT.

options:
  --transport netlink|inproc  netlink (default): a NETLINK_GENERIC socket
                              other processes reach (needs root);
                              inproc: in memory, reachable by nobody else
                              (only useful to check the simulator starts)
  --state-file FILE           where to publish {pid, portId, familyIds}
                              (default ${DEFAULT_STATE_FILE})
  --no-state-file             publish nothing
  --subsys NAME:OPS[:TIMEOUT_MS[:MAX_INFLIGHT]]
                              a subsystem to register (repeatable; default
                              ktest:2:200:64 and ktest2:2:200:64)
  -q, --quiet                 no log lines
  -h, --help                  this text

Clients: koffloadd and koffloadctl find the simulator by themselves (the
module first, then the state file; --state-file or $KOFFLOAD_SIM_STATE for
another path). In code: resolveTarget() from src/sim/index.ts.

On SIGTERM or SIGINT every pending call ends with outcome shutdown, the
state file is removed, and the process exits 0.

exit codes: 0 stopped by a signal; 1 failure (another simulator runs,
            the state file cannot be written); 2 bad usage;
            4 no permission (the netlink transport needs root)
`;

export const EXIT = { OK: 0, FAILURE: 1, USAGE: 2, PERMISSION: 4 } as const;

class UsageError extends Error {}

/** Parses one --subsys value. */
export function parseSubsys(v: string): SimSubsystem {
  const parts = v.split(':');
  const [name, ops, timeout, inflight] = parts;
  const int = (s: string | undefined, what: string, min: number, max: number): number | undefined => {
    if (s === undefined || s === '') return undefined;
    const n = Number(s);
    if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--subsys ${v}: ${what} must be an integer in ${min}..${max}`);
    return n;
  };
  if (parts.length < 2 || parts.length > 4 || !name) throw new UsageError(`--subsys ${v}: want NAME:OPS[:TIMEOUT_MS[:MAX_INFLIGHT]]`);
  if (Buffer.byteLength(name) > 31) throw new UsageError(`--subsys ${v}: the name is longer than 31 bytes`);
  const s: SimSubsystem = { name, nrOps: int(ops, 'OPS', 1, 63)! };
  const t = int(timeout, 'TIMEOUT_MS', 1, 60_000);
  const m = int(inflight, 'MAX_INFLIGHT', 1, 4096);
  if (t !== undefined) s.timeoutMs = t;
  if (m !== undefined) s.maxInflight = m;
  return s;
}

export interface SimArgs {
  transport: 'netlink' | 'inproc';
  stateFile: string | null;
  subsystems: SimSubsystem[] | undefined;
  quiet: boolean;
  help: boolean;
}

export function parseSimArgs(argv: string[]): SimArgs {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        transport: { type: 'string' },
        'state-file': { type: 'string' },
        'no-state-file': { type: 'boolean' },
        subsys: { type: 'string', multiple: true },
        quiet: { type: 'boolean', short: 'q' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const transport = values.transport ?? 'netlink';
  if (transport !== 'netlink' && transport !== 'inproc') throw new UsageError(`--transport must be netlink or inproc, got '${transport}'`);
  if (values['no-state-file'] && values['state-file']) throw new UsageError('--state-file and --no-state-file exclude each other');
  const subsystems = values.subsys?.map(parseSubsys);
  if (subsystems && new Set(subsystems.map((s) => s.name)).size !== subsystems.length) throw new UsageError('--subsys names must be unique');
  return {
    transport,
    stateFile: values['no-state-file'] ? null : (values['state-file'] ?? (transport === 'netlink' ? DEFAULT_STATE_FILE : null)),
    subsystems,
    quiet: values.quiet ?? false,
    help: values.help ?? false,
  };
}

export async function main(argv: string[]): Promise<number> {
  let args: SimArgs;
  try {
    args = parseSimArgs(argv);
  } catch (err) {
    process.stderr.write(`koffload-sim: ${(err as Error).message}\n(see koffload-sim --help)\n`);
    return EXIT.USAGE;
  }
  if (args.help) {
    process.stdout.write(HELP);
    return EXIT.OK;
  }
  const log = args.quiet ? (): void => undefined : (line: string): void => void process.stderr.write(`${line}\n`);
  if (args.transport === 'netlink' && process.geteuid?.() !== 0) {
    process.stderr.write('koffload-sim: the netlink transport needs root (only root may unicast between netlink sockets)\n');
    return EXIT.PERMISSION;
  }
  if (args.stateFile) {
    const other = readStateFile(args.stateFile);
    if (other && other.pid !== process.pid && stateIsLive(other)) {
      process.stderr.write(`koffload-sim: another simulator (pid ${other.pid}) runs with state file ${args.stateFile}\n`);
      return EXIT.FAILURE;
    }
  }
  let sim: Simulator;
  try {
    sim = await startSimulator({
      transport: args.transport,
      stateFile: args.stateFile,
      log,
      ...(args.subsystems ? { subsystems: args.subsystems } : {}),
    });
  } catch (err) {
    process.stderr.write(`koffload-sim: ${(err as Error).message}\n`);
    if (err instanceof KoffloadError && err.solution) process.stderr.write(`  ${err.solution}\n`);
    return EXIT.FAILURE;
  }
  if (args.stateFile) log(`koffload-sim: state file ${args.stateFile}; stop with SIGTERM or SIGINT`);
  // the simulator's socket does not keep the process alive: this does
  const keepAlive = setInterval(() => undefined, 1 << 30);
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  log(`koffload-sim: ${signal}: ending pending calls and stopping`);
  await sim.close();
  clearInterval(keepAlive);
  return EXIT.OK;
}

function isMain(): boolean {
  const argv1 = process.argv[1];
  if (!argv1) return false;
  try {
    return realpathSync(argv1) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`koffload-sim: ${String(err)}\n`);
      process.exit(EXIT.FAILURE);
    },
  );
}
