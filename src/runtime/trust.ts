/**
 * Whether a file may be trusted by a privileged process: koffloadd runs
 * policy code as root with CAP_NET_ADMIN, and koffloadd and koffloadctl
 * connect to whatever simulator a state file names. Either file, or any
 * directory above it, writable by another user hands that user the daemon.
 *
 * The rule (sshd's StrictModes, with the sticky-bit exception):
 * - the file, and every directory from it up to /, is owned by root or by
 *   the effective uid of this process;
 * - the file is a regular file, not writable by group or others;
 * - a directory is not writable by group or others, unless it is sticky
 *   (/tmp): there only an entry's owner may rename or remove it, and that
 *   entry is checked in turn.
 * Both the path as given and the path with its symbolic links resolved are
 * checked, with lstat(), so a link in a foreign directory cannot be
 * swapped under the check. POSIX ACLs are not read.
 */
import { lstatSync, realpathSync, type Stats } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { KoffloadError } from '../errors.js';

export interface TrustOptions {
  /** uids that may own the file and its directories besides root. @default the effective uid */
  uid?: number;
  /** lstat, for tests. @default fs.lstatSync */
  lstat?: (path: string) => Stats;
}

/** Why `st` makes the entry at `path` untrustworthy, or undefined when it does not. */
function problem(st: Stats, path: string, isTarget: boolean, uid: number): string | undefined {
  if (st.uid !== 0 && st.uid !== uid) return `${path} is owned by uid ${st.uid}, not by root or uid ${uid}`;
  if (st.isSymbolicLink()) return undefined; // its directory is checked; its own mode means nothing
  const writable = (st.mode & 0o022) !== 0;
  const mode = (st.mode & 0o7777).toString(8).padStart(4, '0');
  if (isTarget) {
    if (!st.isFile()) return `${path} is not a regular file`;
    if (writable) return `${path} is writable by group or others (mode ${mode})`;
    return undefined;
  }
  if (!st.isDirectory()) return `${path} is not a directory`;
  if (writable && (st.mode & 0o1000) === 0) return `${path} is writable by group or others and not sticky (mode ${mode})`;
  return undefined;
}

function checkChain(file: string, what: string, uid: number, lstat: (p: string) => Stats, targetIsFile: boolean): void {
  let p = file;
  let isTarget = targetIsFile;
  for (;;) {
    let st: Stats;
    try {
      st = lstat(p);
    } catch (err) {
      throw new KoffloadError('KOFFLOAD_ERR_UNSAFE_FILE', `${what}: cannot check ${p}: ${(err as Error).message}`, { cause: err });
    }
    // a link (as given) is judged by its owner; the resolved chain checks what it points to
    const why = problem(st, p, isTarget, uid);
    if (why) throw new KoffloadError('KOFFLOAD_ERR_UNSAFE_FILE', `${what}: ${why}`);
    const up = dirname(p);
    if (up === p) return;
    p = up;
    isTarget = false;
  }
}

/**
 * Throws KOFFLOAD_ERR_UNSAFE_FILE unless only root or this process's user
 * can change the file at `path` (rules in the module comment). `what`
 * names the file in the message ('policy module', 'simulator state file').
 */
export function assertTrustedFile(path: string, what: string, opts: TrustOptions = {}): void {
  const uid = opts.uid ?? process.geteuid?.() ?? 0;
  const lstat = opts.lstat ?? lstatSync;
  const abs = resolve(path);
  checkChain(abs, what, uid, lstat, true);
  let real: string;
  try {
    real = realpathSync(abs);
  } catch (err) {
    throw new KoffloadError('KOFFLOAD_ERR_UNSAFE_FILE', `${what}: cannot resolve ${abs}: ${(err as Error).message}`, { cause: err });
  }
  if (real !== abs) checkChain(real, what, uid, lstat, true);
}

/** Like assertTrustedFile() for a directory (where a trusted file is about to be written). */
export function assertTrustedDir(path: string, what: string, opts: TrustOptions = {}): void {
  const uid = opts.uid ?? process.geteuid?.() ?? 0;
  const lstat = opts.lstat ?? lstatSync;
  const abs = resolve(path);
  checkChain(abs, what, uid, lstat, false);
  const real = realpathSync(abs);
  if (real !== abs) checkChain(real, what, uid, lstat, false);
}
