/**
 * What koffloadd and koffloadctl share: exit codes and turning errors into
 * one clear line (plus the table's solution).
 */
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { KoffloadError, NetlinkError } from '../errors.js';

/** Exit codes of both CLIs (docs/policy-guide.md). */
export const EXIT = {
  /** success; koffloadd: stopped by SIGTERM/SIGINT after draining */
  ok: 0,
  /** an unexpected failure at run time */
  failure: 1,
  /** bad usage or configuration: flags, config file, policy module */
  usage: 2,
  /** nothing to talk to: koffload.ko not loaded and no simulator running */
  noTarget: 3,
  /** not permitted: needs CAP_NET_ADMIN (root) */
  permission: 4,
  /** the kernel has no such subsystem, or another process serves it */
  subsystem: 5,
} as const;

const USAGE_CODES = new Set([
  'KOFFLOAD_ERR_BAD_CONFIG',
  'KOFFLOAD_ERR_POLICY_NOT_FOUND',
  'KOFFLOAD_ERR_BAD_POLICY',
  'KOFFLOAD_ERR_UNKNOWN_OP',
  'KOFFLOAD_ERR_DUPLICATE_OP',
  'KOFFLOAD_ERR_MISSING_HANDLER',
  'KOFFLOAD_ERR_BAD_LIMITS',
  'KOFFLOAD_ERR_SCHEMA_MISMATCH',
  'KOFFLOAD_ERR_BAD_RECORD',
  'KOFFLOAD_ERR_UNSAFE_FILE',
  'KOFFLOAD_ERR_INVALID_ARG',
]);

function codeOf(err: unknown): string | undefined {
  const c = (err as { code?: unknown } | null)?.code;
  return typeof c === 'string' ? c : undefined;
}

/** The exit code for an error that ends a CLI. */
export function exitCodeOf(err: unknown): number {
  const code = codeOf(err);
  if (code === undefined) return EXIT.failure;
  if (USAGE_CODES.has(code)) return EXIT.usage;
  if (code === 'KOFFLOAD_ERR_NO_FAMILY') return EXIT.noTarget;
  if (code === 'KOFFLOAD_ERR_PERMISSION' || code === 'EPERM' || code === 'EACCES') return EXIT.permission;
  if (code === 'KOFFLOAD_ERR_UNKNOWN_SUBSYSTEM' || code === 'KOFFLOAD_ERR_BUSY') return EXIT.subsystem;
  return EXIT.failure;
}

/** `prog: message` and, for coded errors, the fix. */
export function describeError(prog: string, err: unknown): string {
  if (err instanceof NetlinkError && (err.code === 'EPERM' || err.code === 'EACCES')) {
    return `${prog}: ${err.message}: needs CAP_NET_ADMIN (root)`;
  }
  const code = codeOf(err);
  const msg = err instanceof Error ? err.message : String(err);
  const solution = (err as { solution?: unknown } | null)?.solution;
  if (code?.startsWith('KOFFLOAD_ERR_')) {
    return `${prog}: ${code}: ${msg}${typeof solution === 'string' ? `\n  fix: ${solution}` : ''}`;
  }
  return `${prog}: ${msg}`;
}

/** A KoffloadError for bad flags. */
export function usageError(detail: string): KoffloadError {
  return new KoffloadError('KOFFLOAD_ERR_BAD_CONFIG', detail);
}

/** Left-aligned text table. */
export function table(head: string[], rows: (string | number | bigint)[][]): string {
  const cells = [head, ...rows.map((r) => r.map(String))];
  const widths = head.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
}

/** True when the module at `metaUrl` is the program node was started with (also through a bin symlink). */
export function isMain(metaUrl: string): boolean {
  const argv1 = process.argv[1];
  if (argv1 === undefined) return false;
  try {
    return pathToFileURL(realpathSync(argv1)).href === metaUrl;
  } catch {
    return false;
  }
}

/**
 * Runs a command's `main` when its module is the process entry point:
 * exits with the code `main` resolves to, or prints a thrown error the
 * one way every command does and exits with its code.
 */
export function runIfMain(metaUrl: string, prog: string, main: (argv: string[]) => Promise<number>): void {
  if (!isMain(metaUrl)) return;
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`${describeError(prog, err)}\n`);
      process.exit(exitCodeOf(err));
    },
  );
}
