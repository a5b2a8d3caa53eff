/**
 * Is koffloadd protected from the rest of the machine? Checked once at
 * start (Daemon.start), after memory locking: one warning line for each
 * protection missing, never a failure (a developer's koffloadd in a shell
 * is unprotected on purpose). The systemd unit deploy/systemd/koffloadd.service
 * sets all three; docs/operations.md explains each.
 *
 * - oom_score_adj above OOM_SCORE_ADJ_PROTECTED (-500): under memory
 *   pressure the OOM killer weighs koffloadd like any process of its
 *   size, so it may be killed exactly when memory decisions matter;
 * - no memory.min or memory.low in its own cgroup v2 (or no cgroup of its
 *   own): its pages are reclaimed like everyone else's;
 * - nothing locked (VmLck 0): its code and socket buffers can be paged
 *   out and must be faulted back in under pressure.
 */
import { readFileSync } from 'node:fs';
import { cgroupV2Dir } from './pressure.js';

/** oom_score_adj at or below this counts as protected. */
export const OOM_SCORE_ADJ_PROTECTED = -500;

export interface ProtectionFacts {
  /** /proc/self/oom_score_adj; undefined when unreadable */
  oomScoreAdj: number | undefined;
  /** the daemon's own cgroup v2 directory; undefined without one */
  cgroupDir: string | undefined;
  /** memory.min and memory.low of that cgroup, bytes ('max': Infinity); undefined when absent */
  memoryMin: number | undefined;
  memoryLow: number | undefined;
  /** VmLck, bytes */
  lockedBytes: number;
}

function readOr(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

function bytes(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (v === 'max') return Infinity;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}

export function readProtection(opts: { procRoot?: string; cgroupRoot?: string } = {}): ProtectionFacts {
  const proc = opts.procRoot ?? '/proc';
  const adj = readOr(`${proc}/self/oom_score_adj`);
  const cgLine = readOr(`${proc}/self/cgroup`);
  const cg = cgLine === undefined ? undefined : cgroupV2Dir(cgLine, opts.cgroupRoot ?? '/sys/fs/cgroup');
  const lck = /^VmLck:\s+(\d+) kB/m.exec(readOr(`${proc}/self/status`) ?? '');
  return {
    oomScoreAdj: adj === undefined ? undefined : Number(adj),
    cgroupDir: cg,
    memoryMin: cg ? bytes(readOr(`${cg}/memory.min`)) : undefined,
    memoryLow: cg ? bytes(readOr(`${cg}/memory.low`)) : undefined,
    lockedBytes: lck ? Number(lck[1]) * 1024 : 0,
  };
}

/** One line per protection missing (empty: protected). */
export function protectionWarnings(f: ProtectionFacts): string[] {
  const out: string[] = [];
  if (f.oomScoreAdj !== undefined && f.oomScoreAdj > OOM_SCORE_ADJ_PROTECTED) {
    out.push(
      `unprotected: oom_score_adj is ${f.oomScoreAdj} (protected at ${OOM_SCORE_ADJ_PROTECTED} or below): the OOM killer may pick koffloadd under memory pressure; ` +
        'set OOMScoreAdjust=-900 (deploy/systemd/koffloadd.service) or write to /proc/<pid>/oom_score_adj',
    );
  }
  if (!((f.memoryMin ?? 0) > 0 || (f.memoryLow ?? 0) > 0)) {
    const where = f.cgroupDir ? `its cgroup ${f.cgroupDir} has memory.min ${f.memoryMin ?? 'absent'} and memory.low ${f.memoryLow ?? 'absent'}` : 'it has no cgroup v2 of its own';
    out.push(`unprotected: ${where}: its memory is reclaimed like any other's under pressure; set MemoryMin= and MemoryLow= (deploy/systemd/koffloadd.service)`);
  }
  if (f.lockedBytes === 0) {
    out.push('unprotected: no memory is locked: its code and socket buffers can be paged out under pressure; run with --mlock (config mlock) and LimitMEMLOCK=infinity or CAP_IPC_LOCK');
  }
  return out;
}
