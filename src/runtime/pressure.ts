/**
 * Memory pressure as the daemon sees it: PSI of the whole machine
 * (/proc/pressure/memory) and of the daemon's own cgroup (cgroup v2
 * memory.pressure), plus that cgroup's memory.events counters.
 *
 * A PressureMonitor samples a PressureSource and keeps one frozen
 * PressureState that handlers read as ctx.pressure and the lanes check
 * before a handler starts (OpSpec.underPressure). Reading is free: the
 * state object is replaced only when the monitor samples, never per
 * request.
 *
 * How it wakes (procPressureSource): a PSI trigger (default
 * `some 150000 1000000`: 150 ms of stall within 1 s) written to
 * /proc/pressure/memory and to the cgroup's memory.pressure, each fd
 * watched with POLLPRI by koffload's own addon (src/native/koffload_nl.c,
 * psiWatch()). A trigger fires once per window while the stall lasts, so
 * the monitor samples at once and then every activePollMs until the level
 * is back to none, and every idlePollMs otherwise (for memory.events).
 * Where triggers cannot be armed (no PSI, psi=0, no CAP_SYS_RESOURCE on an
 * older kernel, a cgroup without memory.pressure, the addon not built),
 * the files are read every pollMs instead: the fallback costs one read of
 * two small files per second and sees a stall up to pollMs late. Without
 * PSI at all the level stays 'none' and the daemon says so once.
 *
 * The level of a sample: 'full' when the share of wall time in which all
 * non-idle tasks stalled on memory since the previous sample reaches
 * fullThreshold (either scope), 'some' when the share in which some task
 * stalled reaches someThreshold, or when memory.events counted a new high,
 * max, oom or oom_kill event; else 'none'. A level is held for holdMs
 * after the last sample that reached it, so a stall that comes in bursts
 * does not make the lanes flap between declining and serving.
 */
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import type { Clock } from './deadline.js';
import { monotonicNs } from './deadline.js';
import { type Logger, silentLogger } from './policy.js';
import { koffloadNl, koffloadNlAvailable } from '../native/koffload-nl.js';

export type PressureLevel = 'none' | 'some' | 'full';
export const PRESSURE_LEVELS: readonly PressureLevel[] = ['none', 'some', 'full'];

/** What handlers see as ctx.pressure. */
export interface PressureState {
  readonly level: PressureLevel;
  /** share of the last sampling window (system or the daemon's cgroup, the higher) in which some task stalled on memory, 0..1 */
  readonly some: number;
  /** share of it in which every non-idle task stalled on memory, 0..1 */
  readonly full: number;
  /** when the level last changed, CLOCK_MONOTONIC ns (0n: never) */
  readonly sinceNs: bigint;
}

/** What the lanes read (a monitor, or a fixed state in tests and tools). */
export interface PressureView {
  readonly current: PressureState;
}

export const NO_PRESSURE: PressureState = Object.freeze({ level: 'none', some: 0, full: 0, sinceNs: 0n });
export const NO_PRESSURE_VIEW: PressureView = Object.freeze({ current: NO_PRESSURE });

/** level a >= level b */
export function pressureAtLeast(a: PressureLevel, b: PressureLevel): boolean {
  return PRESSURE_LEVELS.indexOf(a) >= PRESSURE_LEVELS.indexOf(b);
}

/** One read of a PSI file: totals in µs, avg10 as a share 0..1. */
export interface PsiReading {
  someTotalUs: number;
  fullTotalUs: number;
  someAvg10: number;
  fullAvg10: number;
}

/** memory.events counters that mean the cgroup is at or near its limit. */
export const PRESSURE_EVENTS = ['low', 'high', 'max', 'oom', 'oom_kill'] as const;
export type PressureEvent = (typeof PRESSURE_EVENTS)[number];
const LEVEL_EVENTS: readonly PressureEvent[] = ['high', 'max', 'oom', 'oom_kill'];

export interface PressureSource {
  /** the machine's PSI; undefined without PSI */
  readSystem(): PsiReading | undefined;
  /** the daemon's cgroup's memory.pressure; undefined without cgroup v2 (or in the root cgroup) */
  readCgroup(): PsiReading | undefined;
  /** the daemon's cgroup's memory.events; undefined without one */
  readEvents(): Partial<Record<PressureEvent, number>> | undefined;
  /**
   * Arms the triggers; `onTrigger` runs when one fires. Returns how many
   * were armed (0: none, the monitor polls) and a function that disarms them.
   */
  watch?(onTrigger: () => void, onError: (err: Error) => void): { armed: number; stop(): void };
  /** a short description for the log ('/proc/pressure/memory + /sys/fs/cgroup/x/memory.pressure') */
  describe?(): string;
}

/** Parses a PSI file (`some avg10=.. avg60=.. avg300=.. total=..` lines); undefined when it is not one. */
export function parsePsi(text: string): PsiReading | undefined {
  const out: PsiReading = { someTotalUs: 0, fullTotalUs: 0, someAvg10: 0, fullAvg10: 0 };
  let seen = false;
  for (const line of text.split('\n')) {
    const m = /^(some|full) avg10=([\d.]+) avg60=[\d.]+ avg300=[\d.]+ total=(\d+)/.exec(line);
    if (!m) continue;
    seen = true;
    const avg = Number(m[2]) / 100;
    const total = Number(m[3]);
    if (m[1] === 'some') {
      out.someAvg10 = avg;
      out.someTotalUs = total;
    } else {
      out.fullAvg10 = avg;
      out.fullTotalUs = total;
    }
  }
  return seen ? out : undefined;
}

/** Parses memory.events (`name value` lines). */
export function parseMemoryEvents(text: string): Partial<Record<PressureEvent, number>> {
  const out: Partial<Record<PressureEvent, number>> = {};
  for (const line of text.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && (PRESSURE_EVENTS as readonly string[]).includes(k)) out[k as PressureEvent] = Number(v);
  }
  return out;
}

/**
 * The daemon's cgroup v2 directory from /proc/self/cgroup's `0::/path`
 * line; undefined without cgroup v2 or in the root cgroup (which has no
 * memory.events, memory.min or memory.low, and whose pressure is the
 * machine's). On a host with cgroup v1 too, the line is `0::/` and the
 * memory controller is v1's: also undefined.
 */
export function cgroupV2Dir(procSelfCgroup: string, cgroupRoot = '/sys/fs/cgroup'): string | undefined {
  const line = procSelfCgroup.split('\n').find((l) => l.startsWith('0::'));
  if (line === undefined) return undefined;
  const path = line.slice(3).trim();
  if (path === '' || path === '/') return undefined;
  return `${cgroupRoot}${path}`;
}

function readOr<T>(path: string, parse: (s: string) => T): T | undefined {
  try {
    return parse(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
}

/** How a trigger fd is watched: the addon's psiWatch() (tests inject their own). */
export interface PsiWatcher {
  /** Watches `fd` for POLLPRI; `cb(0)` per event, `cb(-errno)` when the fd fails (the watch then ends). Returns a stop function that also closes fd. */
  watch(fd: number, cb: (status: number) => void): () => void;
}

/** The addon's POLLPRI watch; undefined when the addon is not built (the monitor then polls). */
export function addonPsiWatcher(): PsiWatcher | undefined {
  if (!koffloadNlAvailable()) return undefined;
  const nl = koffloadNl();
  return {
    watch(fd, cb) {
      const h = nl.psiWatch(fd, cb);
      return () => nl.psiUnwatch(h);
    },
  };
}

export interface ProcPressureOptions {
  /** the PSI trigger written to each pressure file: `<some|full> <stall µs> <window µs>`. @default 'some 150000 1000000' */
  trigger?: string;
  /** @default '/proc' */
  procRoot?: string;
  /** where cgroup v2 is mounted. @default '/sys/fs/cgroup' */
  cgroupRoot?: string;
  /** arms triggers through this; undefined: no triggers, the monitor polls. */
  watcher?: PsiWatcher;
}

export const DEFAULT_TRIGGER = 'some 150000 1000000';

/** Checks a trigger string; returns a reason when it is not one. */
export function badTrigger(t: unknown): string | undefined {
  if (typeof t !== 'string') return 'must be a string';
  const m = /^(some|full) (\d+) (\d+)$/.exec(t);
  if (!m) return `'${t}' is not '<some|full> <stall µs> <window µs>'`;
  const stall = Number(m[2]);
  const win = Number(m[3]);
  // the kernel's bounds (kernel/sched/psi.c): window 500 ms .. 10 s, stall within it
  if (win < 500_000 || win > 10_000_000) return `window ${win} µs is outside 500000..10000000`;
  if (stall === 0 || stall > win) return `stall ${stall} µs must be 1..window`;
  return undefined;
}

/** The real files: /proc/pressure/memory and the daemon's own cgroup v2 files. */
export function procPressureSource(opts: ProcPressureOptions = {}): PressureSource {
  const proc = opts.procRoot ?? '/proc';
  const sysPath = `${proc}/pressure/memory`;
  const cg = readOr(`${proc}/self/cgroup`, (s) => cgroupV2Dir(s, opts.cgroupRoot ?? '/sys/fs/cgroup'));
  const cgPressure = cg !== undefined ? `${cg}/memory.pressure` : undefined;
  const cgEvents = cg !== undefined ? `${cg}/memory.events` : undefined;
  const trigger = opts.trigger ?? DEFAULT_TRIGGER;
  /** what was armed where, for the log */
  const armed: string[] = [];
  return {
    readSystem: () => readOr(sysPath, parsePsi),
    readCgroup: () => (cgPressure ? readOr(cgPressure, parsePsi) : undefined),
    readEvents: () => (cgEvents ? readOr(cgEvents, parseMemoryEvents) : undefined),
    describe: () => (armed.length ? armed.join(', ') : [sysPath, cgPressure, cgEvents].filter((p) => p !== undefined).join(' + ')),
    watch(onTrigger, onError) {
      const stops: (() => void)[] = [];
      armed.length = 0;
      const watcher = opts.watcher;
      if (watcher) {
        for (const path of [sysPath, cgPressure]) {
          if (path === undefined) continue;
          let fd: number;
          try {
            // a trigger lives as long as the fd: written once, watched with POLLPRI (Documentation/accounting/psi.rst)
            fd = openSync(path, 'r+');
          } catch {
            continue;
          }
          try {
            armed.push(`${path}: ${writeTrigger(fd, trigger)}`);
            stops.push(
              watcher.watch(fd, (status) => {
                if (status < 0) onError(new Error(`PSI trigger on ${path} failed: errno ${-status}`));
                else onTrigger();
              }),
            );
          } catch {
            closeQuietly(fd);
          }
        }
      }
      return {
        armed: stops.length,
        stop: () => {
          for (const s of stops.splice(0)) s();
        },
      };
    },
  };
}

/**
 * The same stall share over a 2 s window: a task without CAP_SYS_RESOURCE
 * may only arm triggers whose window is a multiple of 2 s (kernel 6.5+;
 * a sandbox may also deny the capability to root).
 */
export function unprivilegedTrigger(trigger: string): string | undefined {
  const m = /^(some|full) (\d+) (\d+)$/.exec(trigger);
  if (!m) return undefined;
  const win = Number(m[3]);
  if (win % 2_000_000 === 0) return undefined;
  const stall = Math.max(1, Math.round((Number(m[2]) * 2_000_000) / win));
  return `${m[1]} ${stall} 2000000`;
}

/** Writes the trigger (or its 2 s-window form when the kernel refuses it); returns the one armed. */
function writeTrigger(fd: number, trigger: string): string {
  // the kernel takes the trigger, NUL included, in one write(2)
  try {
    writeSync(fd, Buffer.from(`${trigger}\0`));
    return trigger;
  } catch (err) {
    const alt = unprivilegedTrigger(trigger);
    if (!alt || (err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
    writeSync(fd, Buffer.from(`${alt}\0`));
    return alt;
  }
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}

export interface PressureMonitorOptions {
  source: PressureSource;
  /** @default process.hrtime.bigint */
  clock?: Clock;
  logger?: Logger;
  /** share of the window with some task stalled from which the level is 'some', 0..1. @default 0.1 */
  someThreshold?: number;
  /** share of the window with all tasks stalled from which the level is 'full', 0..1. @default 0.02 */
  fullThreshold?: number;
  /** how long a level is kept after the last sample that reached it, ms. @default 2000 */
  holdMs?: number;
  /** sampling period without triggers, ms. @default 1000 */
  pollMs?: number;
  /** sampling period with triggers armed while the level is none (memory.events), ms. @default 5000 */
  idlePollMs?: number;
  /** sampling period while the level is some or full, ms. @default 250 */
  activePollMs?: number;
}

export interface PressureStats {
  samples: number;
  /** trigger events seen */
  triggers: number;
  /** triggers armed at start (0: polling) */
  armed: number;
  /** the level changed */
  changes: number;
  /** memory.events counters as last read (absolute) */
  events: Partial<Record<PressureEvent, number>>;
  /** the last sample's shares, per scope */
  system: { some: number; full: number } | undefined;
  cgroup: { some: number; full: number } | undefined;
}

interface Prev {
  at: bigint;
  r: PsiReading;
}

/** Share of [prev, now] stalled, from the totals (µs); the kernel's avg10 before there is a previous read. */
function shares(prev: Prev | undefined, r: PsiReading, now: bigint): { some: number; full: number } {
  if (!prev) return { some: r.someAvg10, full: r.fullAvg10 };
  const dtUs = Number(now - prev.at) / 1000;
  if (dtUs <= 0) return { some: 0, full: 0 };
  const clamp = (x: number): number => (x < 0 ? 0 : x > 1 ? 1 : x);
  return { some: clamp((r.someTotalUs - prev.r.someTotalUs) / dtUs), full: clamp((r.fullTotalUs - prev.r.fullTotalUs) / dtUs) };
}

export class PressureMonitor implements PressureView {
  current: PressureState = NO_PRESSURE;
  readonly stats: PressureStats = { samples: 0, triggers: 0, armed: 0, changes: 0, events: {}, system: undefined, cgroup: undefined };
  private readonly source: PressureSource;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly someThreshold: number;
  private readonly fullThreshold: number;
  private readonly holdNs: bigint;
  private readonly pollMs: number;
  private readonly idlePollMs: number;
  private readonly activePollMs: number;
  private prevSystem: Prev | undefined;
  private prevCgroup: Prev | undefined;
  private prevEvents: Partial<Record<PressureEvent, number>> | undefined;
  private lastSomeNs: bigint | undefined;
  private lastFullNs: bigint | undefined;
  private timer: NodeJS.Timeout | undefined;
  private unwatch: (() => void) | undefined;
  private running = false;
  private readonly listeners: ((s: PressureState) => void)[] = [];

  constructor(opts: PressureMonitorOptions) {
    this.source = opts.source;
    this.clock = opts.clock ?? monotonicNs;
    this.logger = opts.logger ?? silentLogger;
    this.someThreshold = opts.someThreshold ?? 0.1;
    this.fullThreshold = opts.fullThreshold ?? 0.02;
    this.holdNs = BigInt(Math.round((opts.holdMs ?? 2000) * 1e6));
    this.pollMs = opts.pollMs ?? 1000;
    this.idlePollMs = opts.idlePollMs ?? 5000;
    this.activePollMs = opts.activePollMs ?? 250;
  }

  /** Calls `f` with every new level (after the state changed). */
  onChange(f: (s: PressureState) => void): void {
    this.listeners.push(f);
  }

  /** Arms the triggers (or the poll), takes a first sample. Idempotent. */
  start(): void {
    if (this.running) return;
    this.running = true;
    const w = this.source.watch?.(
      () => {
        this.stats.triggers++;
        this.sample();
      },
      (err) => this.logger.warn('PSI trigger failed; polling instead', { err: err.message }),
    );
    this.stats.armed = w?.armed ?? 0;
    if (w && w.armed > 0) this.unwatch = w.stop;
    else w?.stop();
    this.sample();
    const what = this.source.describe?.() ?? 'injected source';
    if (!this.stats.system && !this.stats.cgroup) {
      this.logger.info('no PSI on this kernel (CONFIG_PSI off or psi=0): ctx.pressure stays none', { source: what });
    } else {
      this.logger.info('watching memory pressure', { source: what, how: this.stats.armed > 0 ? `${this.stats.armed} PSI trigger(s)` : `read every ${this.pollMs} ms` });
    }
  }

  /** Disarms triggers and timers. */
  stop(): void {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.unwatch?.();
    this.unwatch = undefined;
  }

  private schedule(): void {
    if (!this.running) return;
    if (this.timer) clearTimeout(this.timer);
    const ms = this.current.level !== 'none' ? this.activePollMs : this.stats.armed > 0 ? this.idlePollMs : this.pollMs;
    this.timer = setTimeout(() => this.sample(), ms);
    this.timer.unref();
  }

  /** Reads the source once and updates `current`; returns it. */
  sample(): PressureState {
    const now = this.clock();
    this.stats.samples++;
    const sys = this.source.readSystem();
    const cg = this.source.readCgroup();
    const ev = this.source.readEvents();
    const s = sys ? shares(this.prevSystem, sys, now) : undefined;
    const c = cg ? shares(this.prevCgroup, cg, now) : undefined;
    this.prevSystem = sys ? { at: now, r: sys } : undefined;
    this.prevCgroup = cg ? { at: now, r: cg } : undefined;
    this.stats.system = s;
    this.stats.cgroup = c;
    const some = Math.max(s?.some ?? 0, c?.some ?? 0);
    const full = Math.max(s?.full ?? 0, c?.full ?? 0);
    let eventsRose = false;
    if (ev) {
      if (this.prevEvents) for (const k of LEVEL_EVENTS) if ((ev[k] ?? 0) > (this.prevEvents[k] ?? 0)) eventsRose = true;
      this.prevEvents = ev;
      this.stats.events = ev;
    }
    if (full >= this.fullThreshold && full > 0) this.lastFullNs = now;
    if ((some >= this.someThreshold && some > 0) || eventsRose || this.lastFullNs === now) this.lastSomeNs = now;
    const held = (t: bigint | undefined): boolean => t !== undefined && (t === now || now - t < this.holdNs);
    const level: PressureLevel = held(this.lastFullNs) ? 'full' : held(this.lastSomeNs) ? 'some' : 'none';
    const prev = this.current;
    if (level !== prev.level || some !== prev.some || full !== prev.full) {
      this.current = Object.freeze({ level, some, full, sinceNs: level === prev.level ? prev.sinceNs : now });
    }
    if (level !== prev.level) {
      this.stats.changes++;
      const fields = { level, was: prev.level, some: some.toFixed(3), full: full.toFixed(3) };
      if (level === 'none') this.logger.info('memory pressure over', fields);
      else this.logger.warn('memory pressure', fields);
      for (const f of this.listeners) {
        try {
          f(this.current);
        } catch (err) {
          this.logger.error('pressure listener threw', { err: String(err) });
        }
      }
    }
    this.schedule();
    return this.current;
  }
}
