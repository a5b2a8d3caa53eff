/**
 * The daemon: loads policy modules, binds their subsystems on one
 * KoffloadClient, serves them, reloads them, shuts down cleanly.
 *
 * Shutdown order (stop()): every server stops starting work and declines
 * what is queued or arrives (outcome `shutdown`); running handlers finish
 * or are abandoned at their deadlines (at most the subsystem's deadline,
 * normally ~100 ms); then each subsystem is unbound and the socket
 * closed. Draining before unbinding lets answers already being computed
 * reach their callers; unbinding first would turn them into late replies.
 *
 * Reload (reload(), SIGHUP): reloads and stop() run one after another on
 * one promise chain; a reload is refused once stop() was called, and one
 * under way gives up at its next step. The modules are imported afresh and
 * every subsystem looked up in the kernel; if any of that fails, nothing
 * changes and the old policies stay in service. Otherwise each subsystem
 * gets a new server (new requests go to it at once) and is bound again (a
 * second BIND from the same socket updates its mode and caps); if a bind
 * fails the old servers are routed again and every subsystem already
 * rebound is bound once more with its previous caps and the mode it had,
 * so the kernel is left as it was too. Once all are bound the old servers
 * drain, subsystems no longer served are drained and unbound. Every
 * reload failure is logged here and rethrown. What a reload re-reads: the
 * policy modules and every local file they import (loader.ts); not the
 * config file or flags, not npm packages, not koffload itself.
 *
 * The /metrics server caps its connections, times out slow clients, and
 * keeps an 'error' listener for its whole life; scrapes share one kernel
 * dump per DaemonMetrics kernelStatsCacheMs.
 *
 * Binding check (DaemonOptions.bindingCheckMs): a binding can go away
 * without this daemon unbinding it, when the subsystem's module is
 * unloaded (koffload_unregister() ends its pending calls and drops the
 * handler) or koffload.ko itself is (the genl family goes, and a new
 * module registers it under another id). The check asks the kernel for
 * each served subsystem every bindingCheckMs; one that is registered and
 * unbound again (or anew, under another subsystem id) is bound again with
 * the same policy and BIND settings as at start, after nlctrl is asked for
 * the family id anew when the old one is gone. A subsystem another process
 * has bound meanwhile is left to it. Rebinding runs on the reload/stop
 * chain, so it never races a reload or a stop; it changes nothing for the
 * subsystems that kept their binding.
 */
import { createServer, type Server } from 'node:http';
import { Counter } from 'prom-client';
import { dirname } from 'node:path';
import { KoffloadError, NetlinkError } from '../errors.js';
import type { Mode } from '../generated/wire.js';
import { KoffloadClient, type SubsysInfo } from '../kernel/client.js';
import type { FamilyClientOptions } from '../kernel/family.js';
import { loadPolicyModule } from './loader.js';
import { createLogger } from './logger.js';
import { DaemonMetrics } from './metrics.js';
import { type Logger, PolicyRegistry, type SubsystemPolicy } from './policy.js';
import { Recorder } from './record.js';
import { HEAP_BOUNDS, HeapAllocationMeter, type HeapConfig, type LockOps, type LockReport, addonLockOps, lockResident } from './memory.js';
import { type ProtectionFacts, protectionWarnings, readProtection } from './protection.js';
import { PressureMonitor, type PressureSource, addonPsiWatcher, badTrigger, procPressureSource } from './pressure.js';
import { type DecisionEvent, Dispatcher, SubsystemServer } from './server.js';
import { type Target, resolveTarget } from './target.js';

export interface SubsystemConfig {
  /** rollout mode asked at BIND. @default the kernel's ('on') */
  mode?: Mode;
  /** canary fraction 0..1000, with mode canary */
  canaryPermille?: number;
}

/** Memory pressure watching (src/runtime/pressure.ts); `false` turns it off (ctx.pressure stays none). */
export interface PressureConfig {
  /** PSI trigger written to /proc/pressure/memory and the cgroup's memory.pressure. @default 'some 150000 1000000' */
  trigger?: string;
  /** share of time with some task stalled from which the level is some, 0..1. @default 0.1 */
  someThreshold?: number;
  /** share of time with all tasks stalled from which the level is full, 0..1. @default 0.02 */
  fullThreshold?: number;
  /** a level is kept this long after the last sample that reached it, ms, 0..600000. @default 2000 */
  holdMs?: number;
  /** how often the files are read when no trigger can be armed, ms, 50..60000. @default 1000 */
  pollMs?: number;
}

export interface DaemonConfig {
  /** policy module paths (live policies) */
  policies: string[];
  /** candidate policy module paths run as shadows (computed and recorded, never sent) */
  shadow?: string[];
  /** per-subsystem BIND settings */
  subsystems?: Record<string, SubsystemConfig>;
  /** serve /metrics on this TCP port (0: any free port). @default none */
  metricsPort?: number | null;
  /** address for /metrics. @default '127.0.0.1' */
  metricsHost?: string;
  /** append record lines to this file. @default none */
  record?: string | null;
  /** the simulator's state file, when not the default */
  stateFile?: string;
  /** base directory for relative paths. @default the working directory */
  baseDir?: string;
  /** memory pressure watching, or false. @default {} (on, with its defaults) */
  pressure?: PressureConfig | false;
  /**
   * lock koffloadd's file mappings (on fault), stack, malloc heap and the
   * transport's buffers in memory at start (src/runtime/memory.ts); a
   * failure is KOFFLOAD_ERR_MEMLOCK. @default false
   */
  mlock?: boolean;
  /** V8 heap limits; koffloadd restarts itself (execve) with them. @default node's own */
  heap?: HeapConfig;
}

export interface DaemonOptions {
  config: DaemonConfig;
  /** connect here instead of resolveTarget() (tests, npm start) */
  target?: Target;
  logger?: Logger;
  /** a hook for every handled request (npm start's summary) */
  onDecision?: (ev: DecisionEvent) => void;
  /** /metrics connections open at once; more are closed at once. @default 16 */
  metricsMaxConnections?: number;
  /** how long one kernel dump serves /metrics scrapes, ms. @default 1000 */
  kernelStatsCacheMs?: number;
  /** where pressure is read (tests inject one). @default the real PSI files, with the addon's triggers */
  pressureSource?: PressureSource;
  /** how memory is locked with config mlock (tests inject one). @default the addon's mlock2() */
  lockOps?: LockOps;
  /** what the start-up protection check reads (tests inject it). @default readProtection() */
  protection?: () => ProtectionFacts;
  /**
   * How often every served subsystem's binding is checked, and bound again
   * when the kernel lost it (the binding check above), ms; 0 turns the
   * check off. @default 1000
   */
  bindingCheckMs?: number;
}

interface Bound {
  subsysId: number;
  policy: SubsystemPolicy;
  live: SubsystemServer;
  shadow: SubsystemServer | undefined;
}

const MODES: readonly string[] = ['off', 'shadow', 'canary', 'on'];

/** Checks a config object; KOFFLOAD_ERR_BAD_CONFIG. */
export function validateConfig(raw: unknown, where = 'config'): DaemonConfig {
  const bad = (detail: string): never => {
    throw new KoffloadError('KOFFLOAD_ERR_BAD_CONFIG', `${where}: ${detail}`);
  };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) bad('must be a JSON object');
  const c = raw as Record<string, unknown>;
  const known = ['policies', 'shadow', 'subsystems', 'metricsPort', 'metricsHost', 'record', 'stateFile', 'baseDir', 'pressure', 'mlock', 'heap'];
  for (const k of Object.keys(c)) if (!known.includes(k)) bad(`unknown key '${k}' (known: ${known.join(', ')})`);
  const strList = (k: string): string[] => {
    const v = c[k] ?? [];
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string' && x.length > 0)) bad(`${k} must be a list of paths`);
    return v as string[];
  };
  const policies = strList('policies');
  const shadow = strList('shadow');
  if (policies.length === 0) bad('no policy modules (policies: [...] or --policy)');
  const subsystems: Record<string, SubsystemConfig> = {};
  if (c['subsystems'] !== undefined) {
    if (typeof c['subsystems'] !== 'object' || c['subsystems'] === null) bad('subsystems must be an object');
    for (const [name, s] of Object.entries(c['subsystems'] as Record<string, unknown>)) {
      if (typeof s !== 'object' || s === null) bad(`subsystems.${name} must be an object`);
      const so = s as Record<string, unknown>;
      for (const k of Object.keys(so)) if (k !== 'mode' && k !== 'canaryPermille') bad(`subsystems.${name}.${k} is unknown (mode, canaryPermille)`);
      if (so['mode'] !== undefined && !MODES.includes(so['mode'] as string)) bad(`subsystems.${name}.mode must be one of ${MODES.join(', ')}`);
      const pm = so['canaryPermille'];
      if (pm !== undefined && (typeof pm !== 'number' || !Number.isInteger(pm) || pm < 0 || pm > 1000)) bad(`subsystems.${name}.canaryPermille must be 0..1000`);
      subsystems[name] = { mode: so['mode'] as Mode | undefined, canaryPermille: pm as number | undefined };
    }
  }
  const port = c['metricsPort'];
  if (port !== undefined && port !== null && (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535)) bad('metricsPort must be 0..65535');
  for (const k of ['metricsHost', 'record', 'stateFile', 'baseDir']) {
    if (c[k] !== undefined && c[k] !== null && typeof c[k] !== 'string') bad(`${k} must be a string`);
  }
  let pressure: PressureConfig | false = {};
  const pr = c['pressure'];
  if (pr === false) pressure = false;
  else if (pr !== undefined) {
    if (typeof pr !== 'object' || pr === null || Array.isArray(pr)) bad('pressure must be an object or false');
    const po = pr as Record<string, unknown>;
    const numeric: Record<string, [number, number]> = { someThreshold: [0, 1], fullThreshold: [0, 1], holdMs: [0, 600_000], pollMs: [50, 60_000] };
    for (const [k, v] of Object.entries(po)) {
      if (k === 'trigger') {
        const why = badTrigger(v);
        if (why) bad(`pressure.trigger ${why}`);
        continue;
      }
      const b = numeric[k];
      if (!b) bad(`pressure.${k} is unknown (trigger, ${Object.keys(numeric).join(', ')})`);
      if (typeof v !== 'number' || !Number.isFinite(v) || v < b![0] || v > b![1]) bad(`pressure.${k} must be a number in ${b![0]}..${b![1]}`);
    }
    pressure = { ...(po as PressureConfig) };
  }
  if (c['mlock'] !== undefined && typeof c['mlock'] !== 'boolean') bad('mlock must be true or false');
  let heap: HeapConfig | undefined;
  if (c['heap'] !== undefined) {
    const h = c['heap'];
    if (typeof h !== 'object' || h === null || Array.isArray(h)) bad('heap must be an object { maxOldSpaceMb, maxSemiSpaceMb }');
    for (const [k, v] of Object.entries(h as Record<string, unknown>)) {
      const b = HEAP_BOUNDS[k as keyof HeapConfig];
      if (!b) bad(`heap.${k} is unknown (${Object.keys(HEAP_BOUNDS).join(', ')})`);
      if (typeof v !== 'number' || !Number.isInteger(v) || v < b![0] || v > b![1]) bad(`heap.${k} must be an integer in ${b![0]}..${b![1]} (MiB)`);
    }
    heap = { ...(h as HeapConfig) };
  }
  return {
    policies,
    shadow,
    subsystems,
    pressure,
    mlock: c['mlock'] === true,
    ...(heap ? { heap } : {}),
    metricsPort: (port as number | null | undefined) ?? null,
    metricsHost: (c['metricsHost'] as string | undefined) ?? '127.0.0.1',
    record: (c['record'] as string | null | undefined) ?? null,
    ...(typeof c['stateFile'] === 'string' ? { stateFile: c['stateFile'] } : {}),
    ...(typeof c['baseDir'] === 'string' ? { baseDir: c['baseDir'] } : {}),
  };
}

/** Maps a kernel answer to a coded error where one fits. */
export function codedKernelError(err: unknown, subsystem: string): unknown {
  if (err instanceof NetlinkError) {
    if (err.code === 'EPERM' || err.code === 'EACCES') return new KoffloadError('KOFFLOAD_ERR_PERMISSION', `binding ${subsystem}`, { cause: err, errno: err.errno });
    if (err.code === 'ENOENT') return new KoffloadError('KOFFLOAD_ERR_UNKNOWN_SUBSYSTEM', `the kernel has no subsystem '${subsystem}'`, { cause: err, errno: err.errno });
    if (err.code === 'EBUSY' || err.code === 'EEXIST') return new KoffloadError('KOFFLOAD_ERR_BUSY', `${subsystem} is bound by another socket`, { cause: err, errno: err.errno });
  }
  return err;
}

async function loadAll(paths: readonly string[], baseDir: string): Promise<PolicyRegistry> {
  const reg = new PolicyRegistry();
  for (const p of paths) for (const pol of await loadPolicyModule(p, baseDir)) reg.add(pol);
  return reg;
}

export class Daemon {
  readonly metrics: DaemonMetrics;
  readonly logger: Logger;
  /** memory pressure as handlers see it; undefined with config pressure: false */
  readonly pressure: PressureMonitor | undefined;
  /** what config mlock locked, when it is set */
  locked: LockReport | undefined;
  /** V8 heap bytes allocated since start (koffload_heap_allocated_bytes_total) */
  readonly heapMeter = new HeapAllocationMeter();
  private readonly bound = new Map<string, Bound>();
  private readonly dispatcher: Dispatcher;
  private recorder: Recorder | undefined;
  private http: Server | undefined;
  private stopping: Promise<void> | undefined;
  /** set by stop(): reloads are refused and one under way gives up */
  private stopRequested = false;
  /** reloads and stop, one after another; never rejects */
  private chain: Promise<void> = Promise.resolve();
  /** the binding check's timer, and why each subsystem it found unbound is (for one log line per loss) */
  private checkTimer: NodeJS.Timeout | undefined;
  private checking = false;
  private readonly lost = new Map<string, string>();

  private constructor(
    readonly client: KoffloadClient,
    readonly target: Target,
    private readonly config: DaemonConfig,
    private readonly opts: DaemonOptions,
  ) {
    this.logger = opts.logger ?? createLogger();
    this.metrics = new DaemonMetrics(opts.kernelStatsCacheMs !== undefined ? { kernelStatsCacheMs: opts.kernelStatsCacheMs } : {});
    this.dispatcher = new Dispatcher(client);
    const pc = config.pressure;
    if (pc !== false) {
      const source = opts.pressureSource ?? procPressureSource({ ...(pc?.trigger !== undefined ? { trigger: pc.trigger } : {}), watcher: addonPsiWatcher() });
      this.pressure = new PressureMonitor({ source, logger: this.logger, ...(pc ?? {}) });
    }
    client.on('overrun', (n) => this.logger.warn('socket receive buffer overran; requests lost (their callers fell back)', { dropped: n }));
    client.on('decodeError', (err) => this.logger.warn('dropped a malformed message', { err: err.message }));
    this.metrics.setSources({
      lanes: () =>
        this.dispatcher.servers().flatMap((s) =>
          (['blocking', 'advisory'] as const).map((lane) => ({ subsystem: s.subsystem, role: s.role, lane, stats: s.laneStats(lane), abandoned: s.abandonedRunning })),
        ),
      clientStats: () => this.client.stats,
      kernelSubsystems: () => this.client.dumpSubsys(),
      pressure: () => (this.pressure ? { state: this.pressure.current, stats: this.pressure.stats } : undefined),
      heapAllocatedBytes: () => this.heapMeter.allocatedBytes(),
    });
    const self = this;
    new Counter({
      name: 'koffload_record_errors_total',
      help: 'Record lines that failed to write to the --record file',
      registers: [this.metrics.registry],
      collect() {
        this.reset();
        this.inc(self.recorder?.errors ?? 0);
      },
    });
    new Counter({
      name: 'koffload_record_dropped_total',
      help: 'Record lines dropped because too much was waiting to be written to the --record file',
      registers: [this.metrics.registry],
      collect() {
        this.reset();
        this.inc(self.recorder?.dropped ?? 0);
      },
    });
  }

  /** The recorder's counters, when recording. */
  recordStats(): { lines: number; errors: number; dropped: number } | undefined {
    const r = this.recorder;
    return r ? { lines: r.lines, errors: r.errors, dropped: r.dropped } : undefined;
  }

  /** Loads, connects, binds and serves; rejects with a coded error on bad config. */
  static async start(opts: DaemonOptions): Promise<Daemon> {
    const config = opts.config;
    const baseDir = config.baseDir ?? process.cwd();
    // load before connecting: a broken policy never touches the kernel
    const live = await loadAll(config.policies, baseDir);
    const shadow = await loadAll(config.shadow ?? [], baseDir);
    for (const s of shadow.subsystems()) {
      if (!live.get(s.subsystem)) throw new KoffloadError('KOFFLOAD_ERR_BAD_CONFIG', `shadow policy for ${s.subsystem} without a live policy for it`);
    }
    // open the record file before connecting too: a path that cannot be written is a config error (exit 2)
    const logger = opts.logger ?? createLogger();
    const recorder = config.record ? new Recorder(config.record, { logger }) : undefined;
    let client: KoffloadClient;
    let target: Target;
    try {
      target = opts.target ?? (await resolveTarget(config.stateFile ? { stateFile: config.stateFile } : {}));
      client = await KoffloadClient.open(target.koffload as FamilyClientOptions);
    } catch (err) {
      await recorder?.close();
      throw err;
    }
    const d = new Daemon(client, target, config, { ...opts, logger });
    d.recorder = recorder;
    try {
      // before binding: no request is served from memory that can be paged out
      if (config.mlock) {
        d.locked = lockResident(opts.lockOps ?? addonLockOps(() => client.lockBuffers()));
        d.logger.info('memory locked', { lockedMiB: (d.locked.lockedBytes / 2 ** 20).toFixed(1), mappings: d.locked.mappings });
      }
      // one line per protection missing: an unprotected daemon still serves
      for (const w of protectionWarnings((opts.protection ?? readProtection)())) d.logger.warn(w);
      // before binding: the first request already sees the pressure there is
      d.pressure?.start();
      d.heapMeter.start();
      await d.apply(live, shadow);
      if (config.metricsPort !== null && config.metricsPort !== undefined) await d.listen(config.metricsPort, config.metricsHost ?? '127.0.0.1');
      d.startBindingCheck(opts.bindingCheckMs ?? 1000);
    } catch (err) {
      await d.stop().catch(() => {});
      throw err;
    }
    d.logger.info('serving', { target: target.kind, subsystems: [...d.bound.keys()].join(',') });
    return d;
  }

  /** The metrics endpoint's port, once listening. */
  get metricsPort(): number | undefined {
    const a = this.http?.address();
    return a && typeof a === 'object' ? a.port : undefined;
  }

  /** Subsystems served, with their kernel ids. */
  subsystems(): { name: string; subsysId: number; policy: string; shadow: boolean }[] {
    return [...this.bound.entries()].map(([name, b]) => ({ name, subsysId: b.subsysId, policy: b.policy.name, shadow: b.shadow !== undefined }));
  }

  private onDecision(ev: DecisionEvent): void {
    this.metrics.observe(ev);
    this.recorder?.write(ev);
    this.opts.onDecision?.(ev);
  }

  private makeServer(policy: SubsystemPolicy, subsysId: number, role: 'live' | 'shadow'): SubsystemServer {
    return new SubsystemServer({
      policy,
      subsysId,
      transport: this.client,
      role,
      logger: this.logger,
      onDecision: (ev) => this.onDecision(ev),
      onPublishError: () => this.metrics.publishFailed(policy.subsystem, role),
      ...(this.pressure ? { pressure: this.pressure } : {}),
    });
  }

  /**
   * A promise rejection nobody handled (koffloadd's process handler calls
   * this): logged and counted (koffload_unhandled_rejections_total); the
   * daemon keeps serving.
   */
  unhandledRejection(reason: unknown): void {
    this.metrics.unhandledRejection();
    this.logger.error('unhandled promise rejection (a policy did not await or catch a promise); still serving', { err: String(reason) });
  }

  /** Throws once stop() was called: a reload must not bind what stop() is about to unbind. */
  private abortIfStopping(): void {
    if (this.stopRequested) throw new KoffloadError('KOFFLOAD_ERR_SOCKET_CLOSED', 'the daemon is stopping; reload abandoned');
  }

  /**
   * Serves `live` (and `shadow`): every subsystem is first looked up in the
   * kernel (nothing changes if one is missing); then all are routed to new
   * servers and bound. If a bind fails or stop() is called meanwhile, the
   * previous servers are routed again and the new ones drained (subsystems
   * bound only by this call are unbound). Only once all binds succeeded do
   * the previous servers drain and subsystems no longer served get released.
   */
  private async apply(live: PolicyRegistry, shadow: PolicyRegistry): Promise<void> {
    // 1. validate everything before swapping anything
    const infos = new Map<string, SubsysInfo>();
    for (const p of live.subsystems()) {
      try {
        infos.set(p.subsystem, await this.client.getSubsys(p.subsystem));
      } catch (err) {
        throw codedKernelError(err, p.subsystem);
      }
      this.abortIfStopping();
    }
    // 2. route to the new servers before BIND: a request that arrives right after the bind ack finds them
    const swapped: { name: string; b: Bound; old: Bound | undefined; info: SubsysInfo; bound: boolean }[] = [];
    for (const p of live.subsystems()) {
      const info = infos.get(p.subsystem)!;
      const sp = shadow.get(p.subsystem);
      const b: Bound = {
        subsysId: info.subsysId,
        policy: p,
        live: this.makeServer(p, info.subsysId, 'live'),
        shadow: sp ? this.makeServer(sp, info.subsysId, 'shadow') : undefined,
      };
      const old = this.bound.get(p.subsystem);
      if (old) this.dispatcher.remove(old.subsysId);
      this.dispatcher.remove(info.subsysId);
      this.dispatcher.add(b.live);
      if (b.shadow) this.dispatcher.add(b.shadow);
      this.bound.set(p.subsystem, b);
      swapped.push({ name: p.subsystem, b, old, info, bound: false });
    }
    // 3. bind
    try {
      for (const s of swapped) {
        const { b, old, info } = s;
        const p = b.policy;
        const sc = this.config.subsystems?.[p.subsystem] ?? {};
        // a BIND without a mode resets it to on: on a rebind keep what an admin set (koffloadctl mode)
        const keep = old !== undefined && sc.mode === undefined;
        try {
          await this.client.bind({
            name: p.subsystem,
            mode: keep ? info.mode : sc.mode,
            canaryPermille: keep ? info.canaryPermille : sc.canaryPermille,
            deadlineMs: p.limits.deadlineMs,
            maxInflight: p.limits.maxInflight,
          });
        } catch (err) {
          throw codedKernelError(err, p.subsystem);
        }
        s.bound = true;
        this.logger.info('bound', { subsystem: p.subsystem, id: info.subsysId, policy: p.name, ops: [...p.ops.values()].map((o) => o.name).join(','), shadow: b.shadow?.policy.name });
        this.abortIfStopping();
      }
    } catch (err) {
      // the kernel first: subsystems already rebound get their previous caps and mode back
      for (const s of swapped) {
        if (!s.bound || !s.old) continue;
        const prev = s.old.policy.limits;
        try {
          await this.client.bind({ name: s.name, mode: s.info.mode, canaryPermille: s.info.canaryPermille, deadlineMs: prev.deadlineMs, maxInflight: prev.maxInflight });
        } catch (e) {
          this.logger.error('could not restore the previous binding; the kernel keeps the new caps and mode', { subsystem: s.name, err: String(e) });
        }
      }
      // put the previous servers back; drain the new ones
      const undo: Promise<unknown>[] = [];
      for (const s of swapped) {
        this.dispatcher.remove(s.b.subsysId);
        undo.push(s.b.live.drain());
        if (s.b.shadow) undo.push(s.b.shadow.drain());
        if (s.old) {
          this.dispatcher.add(s.old.live);
          if (s.old.shadow) this.dispatcher.add(s.old.shadow);
          this.bound.set(s.name, s.old);
        } else {
          this.bound.delete(s.name);
          if (s.bound) undo.push(this.client.unbind(s.b.subsysId).catch((e: unknown) => this.logger.warn('unbind failed', { subsystem: s.name, err: String(e) })));
        }
      }
      await Promise.all(undo);
      throw err;
    }
    // 4. the previous servers drain; subsystems no longer served are released
    const drains: Promise<void>[] = [];
    for (const s of swapped) {
      if (!s.old) continue;
      drains.push(s.old.live.drain());
      if (s.old.shadow) drains.push(s.old.shadow.drain());
    }
    for (const [name, b] of [...this.bound.entries()]) {
      if (live.get(name)) continue;
      drains.push(this.release(name, b));
    }
    await Promise.all(drains);
  }

  private async release(name: string, b: Bound): Promise<void> {
    await Promise.all([b.live.drain(), b.shadow?.drain()]);
    this.dispatcher.remove(b.subsysId);
    this.bound.delete(name);
    try {
      await this.client.unbind(b.subsysId);
    } catch (err) {
      this.logger.warn('unbind failed', { subsystem: name, err: String(err) });
    }
  }

  private startBindingCheck(intervalMs: number): void {
    if (intervalMs <= 0) return;
    this.checkTimer = setInterval(() => void this.checkBindings(), intervalMs);
    this.checkTimer.unref();
  }

  /** One round of the binding check; the next tick is skipped while one runs. */
  private async checkBindings(): Promise<void> {
    if (this.checking || this.stopRequested) return;
    this.checking = true;
    try {
      for (const [name, b] of [...this.bound.entries()]) {
        if (this.stopRequested) return;
        const problem = await this.bindingProblem(name, b);
        if (problem === undefined) continue;
        if (this.lost.get(name) !== problem.why) {
          this.lost.set(name, problem.why);
          this.logger.warn(problem.rebind ? 'lost the binding; binding again' : 'lost the binding; binding again once the subsystem is back', { subsystem: name, why: problem.why });
        }
        if (problem.rebind) await this.rebind(name, b);
      }
    } finally {
      this.checking = false;
    }
  }

  /** Why subsystem `name` is not bound to this socket as `b` says, and whether binding it again can work; undefined when it is. */
  private async bindingProblem(name: string, b: Bound): Promise<{ why: string; rebind: boolean } | undefined> {
    let info: SubsysInfo;
    try {
      info = await this.client.getSubsys(name);
    } catch (err) {
      // ENOENT: the subsystem is not registered, or the whole family is gone (another id once it is back)
      if (!(err instanceof NetlinkError && err.code === 'ENOENT')) return undefined;
      try {
        const was = this.client.familyId;
        if ((await this.client.refreshFamily()) === was) return { why: 'the subsystem is not registered (its module unloaded?)', rebind: false };
        info = await this.client.getSubsys(name);
      } catch {
        return { why: 'the koffload family is not registered (koffload.ko unloaded?)', rebind: false };
      }
    }
    const mine = info.portid === 0 || info.portid === this.client.portId;
    if (info.bound && mine && info.subsysId === b.subsysId) {
      if (this.lost.delete(name)) this.logger.info('bound again', { subsystem: name, id: b.subsysId });
      return undefined;
    }
    if (info.bound) return { why: `bound by another process (pid ${info.boundPid})`, rebind: false };
    return { why: info.subsysId === b.subsysId ? 'unbound by the kernel' : `registered anew (id ${b.subsysId} -> ${info.subsysId})`, rebind: true };
  }

  /**
   * Binds `name` again on the reload/stop chain, with new servers for its
   * (possibly new) subsystem id, and lets the old ones drain; unless stop()
   * was called or a reload replaced `old` meanwhile. A failure is logged;
   * the next check tries again.
   */
  private rebind(name: string, old: Bound): Promise<void> {
    const run = this.chain.then(async () => {
      if (this.stopRequested || this.bound.get(name) !== old) return;
      const info = await this.client.getSubsys(name);
      const sc = this.config.subsystems?.[name] ?? {};
      const b: Bound = {
        subsysId: info.subsysId,
        policy: old.policy,
        live: this.makeServer(old.policy, info.subsysId, 'live'),
        shadow: old.shadow ? this.makeServer(old.shadow.policy, info.subsysId, 'shadow') : undefined,
      };
      this.dispatcher.remove(old.subsysId);
      this.dispatcher.add(b.live);
      if (b.shadow) this.dispatcher.add(b.shadow);
      this.bound.set(name, b);
      try {
        // the settings of the first bind: the kernel's state (an admin's mode) went with the old registration
        await this.client.bind({ name, mode: sc.mode, canaryPermille: sc.canaryPermille, deadlineMs: old.policy.limits.deadlineMs, maxInflight: old.policy.limits.maxInflight });
      } catch (err) {
        this.dispatcher.remove(b.subsysId);
        this.dispatcher.add(old.live);
        if (old.shadow) this.dispatcher.add(old.shadow);
        this.bound.set(name, old);
        await Promise.all([b.live.drain(), b.shadow?.drain()]);
        throw codedKernelError(err, name);
      }
      this.lost.delete(name);
      this.logger.info('bound again', { subsystem: name, id: info.subsysId, policy: old.policy.name });
      // the kernel ended the old binding's calls already: its handlers still running only finish or time out,
      // so the chain (a reload, a stop) does not wait for them
      void Promise.all([old.live.drain(), old.shadow?.drain()]).catch(() => {});
    });
    this.chain = run.catch(() => {});
    return run.catch((err: unknown) => this.logger.warn('binding again failed; the next check tries again', { subsystem: name, err: String(err) }));
  }

  /**
   * Re-imports the policy modules and rebinds. Runs after any reload or
   * stop already under way (never two at once); refused once stop() was
   * called. On any failure (a module that does not load, a subsystem the
   * kernel lacks, a failed bind, a stop meanwhile) the failure is logged,
   * the previous policies keep serving, and the error is rethrown.
   */
  reload(): Promise<void> {
    if (this.stopRequested) return Promise.reject(new KoffloadError('KOFFLOAD_ERR_SOCKET_CLOSED', 'the daemon is stopping; reload refused'));
    const run = this.chain.then(() => this.reloadNow());
    this.chain = run.catch(() => {});
    return run;
  }

  private async reloadNow(): Promise<void> {
    const baseDir = this.config.baseDir ?? process.cwd();
    try {
      this.abortIfStopping();
      const live = await loadAll(this.config.policies, baseDir);
      this.abortIfStopping();
      const shadow = await loadAll(this.config.shadow ?? [], baseDir);
      this.abortIfStopping();
      await this.apply(live, shadow);
    } catch (err) {
      this.logger.error('reload failed; the previous policies stay in service', { err: String(err) });
      throw err;
    }
    this.logger.info('reloaded', { subsystems: [...this.bound.keys()].join(',') });
  }

  private listen(port: number, host: string): Promise<void> {
    // slow or idle clients are dropped; a scrape is small and quick
    this.http = createServer({ requestTimeout: 10_000, headersTimeout: 5_000, keepAliveTimeout: 5_000 }, (req, res) => {
      if (req.method === 'GET' && (req.url === '/metrics' || req.url?.startsWith('/metrics?'))) {
        this.metrics
          .metrics()
          .then((body) => {
            res.writeHead(200, { 'content-type': this.metrics.registry.contentType });
            res.end(body);
          })
          .catch((err: unknown) => {
            res.writeHead(500, { 'content-type': 'text/plain' });
            res.end(String(err));
          });
        return;
      }
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('koffloadd: GET /metrics\n');
    });
    const http = this.http;
    http.maxConnections = this.opts.metricsMaxConnections ?? 16;
    return new Promise((resolve, reject) => {
      let listening = false;
      // for the server's whole life: an 'error' without a listener would end the process
      http.on('error', (err) => {
        if (!listening) reject(new KoffloadError('KOFFLOAD_ERR_BAD_CONFIG', `cannot listen on ${host}:${port}: ${err.message}`, { cause: err }));
        else this.logger.error('metrics server error; still serving', { err: String(err) });
      });
      http.listen(port, host, () => {
        listening = true;
        resolve();
      });
    });
  }

  /** The /metrics HTTP server, once listening (for embedding and tests). */
  get metricsServer(): Server | undefined {
    return this.http;
  }

  /** Flushes and closes the record file (when the daemon must exit without stop()). */
  async closeRecorder(): Promise<void> {
    await this.recorder?.close();
  }

  /** Opens the record file anew, after the write in flight (SIGHUP: rename-then-HUP rotation). */
  reopenRecord(): void {
    this.recorder?.reopen();
  }

  /** Writes the record lines still queued, synchronously: for exit paths (a second signal, process 'exit'). */
  flushRecordSync(): void {
    this.recorder?.flushSync();
  }

  /** Drains, unbinds, closes, after a reload under way gave up. Idempotent. */
  stop(): Promise<void> {
    this.stopRequested = true;
    clearInterval(this.checkTimer);
    this.stopping ??= this.chain.then(async () => {
      await Promise.all([...this.bound.entries()].map(([name, b]) => this.release(name, b)));
      this.dispatcher.detach();
      this.pressure?.stop();
      this.heapMeter.stop();
      this.client.close();
      await this.recorder?.close();
      if (this.http) await new Promise<void>((resolve) => this.http!.close(() => resolve()));
      this.logger.info('stopped');
    });
    return this.stopping;
  }
}

/** Default base dir of a config file: its own directory. */
export function configBaseDir(configPath: string): string {
  return dirname(configPath);
}
