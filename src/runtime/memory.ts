/**
 * Keeping koffloadd resident and small: memory locking and V8 heap limits.
 *
 * Locking (config `mlock`, flag --mlock). mlockall() is not an option for
 * a Node 20 process: V8 11.3 returns pages of its code range to the kernel
 * with madvise(MADV_DONTNEED), which fails with EINVAL on locked memory,
 * and V8 aborts on that failure (measured: `mlockall(MCL_CURRENT |
 * MCL_FUTURE)` then exit dies in OS::SetPermissions). So koffloadd locks
 * what a page fault under pressure would have to read back and what V8
 * does not manage: every file mapping of the process (node's text and
 * data, libc, the addon: on fault, MLOCK_ONFAULT, so what is resident
 * now stays resident and the rest stays where it is until first used),
 * the main thread's [stack] and the malloc [heap], and the transport's
 * receive arena and REPLY buffer (populated). V8's heap is anonymous
 * memory: without swap it is never reclaimed, with swap the systemd unit
 * keeps it in RAM with MemorySwapMax=0 and MemoryMin=
 * (deploy/systemd/koffloadd.service).
 *
 * Heap limits (config `heap`): V8 fixes its heap limits when the isolate
 * is made, before any of koffloadd's code runs, so koffloadd restarts
 * itself with --max-old-space-size / --max-semi-space-size through
 * execve(2) (our addon): the same pid, cgroup and systemd MainPID, no
 * second node in memory. KOFFLOAD_HEAP_EXEC marks the restarted process
 * so it never loops; the limits in effect are logged
 * (v8.getHeapStatistics().heap_size_limit).
 */
import { readFileSync } from 'node:fs';
import { GCProfiler, getHeapStatistics } from 'node:v8';
import { KoffloadError } from '../errors.js';
import { koffloadNl } from '../native/koffload-nl.js';

/** One line of /proc/self/maps. */
export interface Mapping {
  start: number;
  end: number;
  perms: string;
  path: string;
}

export function parseMaps(text: string): Mapping[] {
  const out: Mapping[] = [];
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (!m) continue;
    out.push({ start: parseInt(m[1]!, 16), end: parseInt(m[2]!, 16), perms: m[3]!, path: m[4]!.trim() });
  }
  return out;
}

/**
 * The mappings koffloadd locks: file mappings, [stack] and [heap], never
 * an inaccessible one (a guard page, a reservation) nor a kernel one
 * ([vvar], [vdso], [vsyscall]) nor an anonymous one (V8's).
 */
export function lockableMappings(maps: readonly Mapping[]): Mapping[] {
  return maps.filter((m) => {
    if (m.perms.startsWith('---') || m.path === '') return false;
    if (m.path.startsWith('[')) return m.path === '[stack]' || m.path === '[heap]';
    return true;
  });
}

/** What lockResident() needs of the system (the addon and /proc; tests inject one). */
export interface LockOps {
  readMaps(): string;
  mlockRange(start: number, length: number, onfault: boolean): number;
  memlockLimit(): [number, number];
  /** the transport's buffers: 0 or the errno */
  lockBuffers(): number;
}

export function addonLockOps(lockBuffers: () => number): LockOps {
  const nl = koffloadNl();
  return {
    readMaps: () => readFileSync('/proc/self/maps', 'utf8'),
    mlockRange: (s, l, o) => nl.mlockRange(s, l, o),
    memlockLimit: () => nl.memlockLimit(),
    lockBuffers,
  };
}

const MiB = 1024 * 1024;
const fmtBytes = (n: number): string => (n === Infinity ? 'unlimited' : n >= MiB ? `${(n / MiB).toFixed(1)} MiB` : `${Math.round(n / 1024)} KiB`);

/** The coded error of a failed lock, naming the limit and how to raise it. */
export function memlockError(errno: string, neededBytes: number, limit: [number, number], what: string): KoffloadError {
  return new KoffloadError(
    'KOFFLOAD_ERR_MEMLOCK',
    `mlock2() of ${what} failed with ${errno}: RLIMIT_MEMLOCK is ${fmtBytes(limit[0])} (hard ${fmtBytes(limit[1])}) and locking needs about ${fmtBytes(neededBytes)}; ` +
      `raise it (LimitMEMLOCK=infinity in the systemd unit, \`ulimit -l unlimited\` or \`prlimit --memlock=unlimited\` before starting, memlock in /etc/security/limits.conf), ` +
      'or give koffloadd CAP_IPC_LOCK, or run it without mlock',
  );
}

export interface LockReport {
  /** bytes of the ranges locked (file mappings on fault: not all resident) */
  lockedBytes: number;
  mappings: number;
}

/**
 * Locks the process's file mappings (on fault), [stack], [heap] and the
 * transport's buffers; throws KOFFLOAD_ERR_MEMLOCK when the kernel refuses
 * (ENOMEM/EPERM/EAGAIN: RLIMIT_MEMLOCK without CAP_IPC_LOCK). What was
 * locked before a failure stays locked until exit.
 */
export function lockResident(ops: LockOps): LockReport {
  const maps = lockableMappings(parseMaps(ops.readMaps()));
  const needed = maps.reduce((n, m) => n + (m.end - m.start), 0);
  let locked = 0;
  for (const m of maps) {
    // file mappings on fault: what is resident stays, nothing more is read in now
    const onfault = !m.path.startsWith('[');
    const err = ops.mlockRange(m.start, m.end - m.start, onfault);
    if (err === 0) {
      locked += m.end - m.start;
      continue;
    }
    throw memlockError(errnoText(err), needed, ops.memlockLimit(), `${m.path} (${fmtBytes(m.end - m.start)})`);
  }
  const be = ops.lockBuffers();
  if (be !== 0) throw memlockError(errnoText(be), needed, ops.memlockLimit(), "the transport's buffers");
  return { lockedBytes: locked, mappings: maps.length };
}

function errnoText(errno: number): string {
  return { 1: 'EPERM', 11: 'EAGAIN', 12: 'ENOMEM', 22: 'EINVAL' }[errno] ?? `errno ${errno}`;
}

/** V8 heap limits of koffloadd (config `heap`). */
export interface HeapConfig {
  /** --max-old-space-size, MiB, 16..65536. @default node's own (about a quarter of RAM, at most 4 GiB) */
  maxOldSpaceMb?: number;
  /** --max-semi-space-size, MiB, 1..1024. @default node's own (16) */
  maxSemiSpaceMb?: number;
}

export const HEAP_BOUNDS: Record<keyof HeapConfig, [number, number]> = { maxOldSpaceMb: [16, 65536], maxSemiSpaceMb: [1, 1024] };

/** The node flags of a heap config. */
export function heapFlags(h: HeapConfig): string[] {
  const f: string[] = [];
  if (h.maxOldSpaceMb !== undefined) f.push(`--max-old-space-size=${h.maxOldSpaceMb}`);
  if (h.maxSemiSpaceMb !== undefined) f.push(`--max-semi-space-size=${h.maxSemiSpaceMb}`);
  return f;
}

export const HEAP_EXEC_ENV = 'KOFFLOAD_HEAP_EXEC';

export interface ExecPlan {
  path: string;
  argv: string[];
  env: string[];
}

/**
 * The execve() that restarts this process with the heap flags, or
 * undefined when they are in effect already (given on node's command
 * line, or this is the restarted process). Flags of the same names in
 * execArgv are replaced, NODE_OPTIONS is left as it is (the command line
 * wins over it).
 */
export function heapExecPlan(
  h: HeapConfig,
  proc: { execPath: string; execArgv: readonly string[]; argv: readonly string[]; env: NodeJS.ProcessEnv } = process,
): ExecPlan | undefined {
  const flags = heapFlags(h);
  if (flags.length === 0) return undefined;
  if (proc.env[HEAP_EXEC_ENV] === '1') return undefined;
  if (flags.every((f) => proc.execArgv.includes(f))) return undefined;
  const names = flags.map((f) => f.split('=')[0]!);
  const keep = proc.execArgv.filter((a) => !names.some((n) => a === n || a.startsWith(`${n}=`) || a.startsWith(n.replace(/-/g, '_'))));
  const env = Object.entries({ ...proc.env, [HEAP_EXEC_ENV]: '1' })
    .filter((e): e is [string, string] => e[1] !== undefined)
    .map(([k, v]) => `${k}=${v}`);
  return { path: proc.execPath, argv: [proc.argv[0] ?? proc.execPath, ...keep, ...flags, ...proc.argv.slice(1)], env };
}

/** Replaces this process per the plan; returns only by throwing. */
export function execPlan(plan: ExecPlan): never {
  return koffloadNl().execve(plan.path, plan.argv, plan.env);
}

/** The V8 heap limit in effect, MiB. */
export function heapLimitMb(): number {
  return Math.round(getHeapStatistics().heap_size_limit / MiB);
}

/**
 * Bytes allocated on the V8 heap since start(), from heap statistics and
 * a GCProfiler: what is in use now, minus what was in use at the start,
 * plus what every GC in between freed. An estimate (objects allocated and
 * freed by the GC of a window's very edge may be missed); koffloadd
 * exports it as koffload_heap_allocated_bytes_total and the benchmark
 * divides its growth over a window by the requests served in it. The
 * profiler is restarted every rolloverMs so its record of GCs stays small.
 */
export class HeapAllocationMeter {
  private profiler: InstanceType<typeof GCProfiler> | undefined;
  private baseUsed = 0;
  private freed = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly rolloverMs = 10_000) {}

  start(): void {
    if (this.profiler) return;
    this.baseUsed = getHeapStatistics().used_heap_size;
    this.freed = 0;
    this.profiler = new GCProfiler();
    this.profiler.start();
    this.timer = setInterval(() => this.roll(), this.rolloverMs);
    this.timer.unref();
  }

  /** Folds the GCs recorded so far into `freed` and starts a new record. */
  private roll(): void {
    const p = this.profiler;
    if (!p) return;
    const r = p.stop() as { statistics?: { beforeGC: { heapStatistics: { usedHeapSize: number } }; afterGC: { heapStatistics: { usedHeapSize: number } } }[] } | undefined;
    for (const g of r?.statistics ?? []) this.freed += Math.max(0, g.beforeGC.heapStatistics.usedHeapSize - g.afterGC.heapStatistics.usedHeapSize);
    p.start();
  }

  /** Bytes allocated since start() (0 before). */
  allocatedBytes(): number {
    if (!this.profiler) return 0;
    this.roll();
    return Math.max(0, getHeapStatistics().used_heap_size - this.baseUsed + this.freed);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.profiler?.stop();
    this.profiler = undefined;
  }
}
