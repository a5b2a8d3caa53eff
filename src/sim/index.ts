/**
 * The koffload kernel simulator: koffload.ko and koffload_test.ko in a
 * Node.js process, speaking the same bytes over a real NETLINK_GENERIC
 * socket (transport 'netlink', root only) or over in-memory sockets
 * (transport 'inproc'), following the same rules (see docs/simulator.md
 * for what differs and why).
 *
 *   const sim = await startSimulator();
 *   const handler = await KoffloadClient.open(sim.clientOptions());
 *   const ktest = await KtestClient.open(sim.testClientOptions());
 *   await sim.call('ktest', 1, payload);     // one in-kernel caller
 *   await sim.close();                         // pending calls end: shutdown
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { KoffloadError, NetlinkError } from '../errors.js';
import { KOFFLOAD, KOFFLOAD_TEST } from '../generated/wire.js';
import type { FamilyClientOptions } from '../kernel/family.js';
import { GenlClient } from '../netlink/genl.js';
import { type ContextName, type OutcomeKey, SimCore, Subsys, contextOf } from './core.js';
import { SimGenl, koffloadFamily } from './genl.js';
import { InprocHub, InprocTransport } from './inproc.js';
import { KtestModule } from './ktest.js';
import { NetlinkTransport } from './nl-transport.js';
import { type PortRow, pidHoldsInode, readPorts } from './proc.js';
import { assertTrustedDir, assertTrustedFile } from '../runtime/trust.js';
import type { SimTransport } from './transport.js';

export type { OutcomeKey } from './core.js';
export { InprocHub, InprocSocket } from './inproc.js';

/** Family ids the simulator answers on (no nlctrl: clients pass them). */
export const SIM_FAMILY_IDS = { koffload: 0x4b4f, koffloadTest: 0x4b54 } as const;
/** Where a netlink-transport simulator publishes itself by default. */
export const DEFAULT_STATE_FILE = '/run/koffload/sim.json';
/** The test subsystems of koffload_test.ko. */
export const DEFAULT_SUBSYSTEMS: ReadonlyArray<SimSubsystem> = [
  { name: 'ktest', nrOps: 2, timeoutMs: 200, maxInflight: 64 },
  { name: 'ktest2', nrOps: 2, timeoutMs: 200, maxInflight: 64 },
];

export interface SimSubsystem {
  /** 1..31 bytes */
  name: string;
  /** op ids 1..nrOps are valid; 1..63 */
  nrOps: number;
  /** default call deadline, ms (0: koffload's 100). @default 200 */
  timeoutMs?: number;
  /** in-flight cap (0: koffload's 64). @default 64 */
  maxInflight?: number;
  /** advisory cache entries (0: koffload's 256). @default 256 */
  cacheEntries?: number;
}

/** Subsystem f2fs_gc as the patched f2fs.ko registers it (fs/f2fs/koffload.c). */
export const F2FS_GC_SUBSYSTEM: SimSubsystem = { name: 'f2fs_gc', nrOps: 2, timeoutMs: 20, maxInflight: 8, cacheEntries: 4096 };

export interface SimulatorOptions {
  /**
   * 'netlink': a real NETLINK_GENERIC socket (needs root to unicast between
   * user ports); 'inproc': in-memory sockets, this process only; 'auto':
   * netlink when the effective uid is 0, else inproc.
   * @default 'auto'
   */
  transport?: 'netlink' | 'inproc' | 'auto';
  /** Subsystems RUN may name and call() may call. @default ktest, ktest2 */
  subsystems?: SimSubsystem[];
  /**
   * File that publishes {pid, portId, familyIds} to other processes
   * (resolveTarget()); null for none.
   * @default '/run/koffload/sim.json' for netlink, null for inproc
   */
  stateFile?: string | null;
  /** Diagnostics (the module's pr_info lines). @default none */
  log?: (line: string) => void;
}

export interface SimCallResult {
  outcome: OutcomeKey;
  /** the handler's reply when served */
  payload?: Buffer;
  waitNs: bigint;
}

export interface SimClientOptions {
  /** inproc only: whether the socket counts as CAP_NET_ADMIN. @default true */
  privileged?: boolean;
  /** inproc only: receive buffer bytes. @default 8 MiB */
  recvBufferSize?: number;
}

export interface Simulator {
  readonly transport: 'netlink' | 'inproc';
  /** Options for KoffloadClient.open(); a fresh socket each call for inproc. */
  clientOptions(opts?: SimClientOptions): FamilyClientOptions;
  /** Options for KtestClient.open(). */
  testClientOptions(opts?: SimClientOptions): FamilyClientOptions;
  /**
   * One in-kernel caller: koffload_call() on `subsys`. The default timeout
   * is the subsystem's; context is how the caller may wait.
   */
  call(
    subsys: string,
    op: number,
    payload: Uint8Array,
    opts?: { timeoutMs?: number; timeoutUs?: number; default?: Uint8Array; context?: ContextName },
  ): Promise<SimCallResult>;
  /** koffload_cache_lookup(): the live entry for `key`, counting a hit or a miss. */
  cacheLookup(subsys: string, key: Uint8Array): Buffer | undefined;
  /** The live entry for `key` without counting anything (a test's or a driver's look, not a kernel caller's). */
  cachePeek(subsys: string, key: Uint8Array): Buffer | undefined;
  /**
   * koffload_advise() from an in-kernel caller: an advisory REQUEST nobody
   * waits for. 0 when sent, else the negative errno koffload_advise() returns.
   */
  advise(subsys: string, op: number, payload: Uint8Array, opts?: { context?: ContextName }): Promise<number>;
  /**
   * koffload_unregister() then koffload_register() of `subsys`, as when
   * its module is unloaded and loaded again: pending calls end with
   * shutdown, the binding goes, the subsystem comes back unbound under a
   * new id, which this resolves with. Its counters go on (koffload.ko's
   * start from zero with the new registration).
   */
  reregister(subsys: string): Promise<number>;
  /** Unregisters everything; pending calls end with shutdown. */
  close(): Promise<void>;
}

/** What a state file holds. */
export interface SimState {
  pid: number;
  portId: number;
  familyIds: { koffload: number; koffloadTest: number };
}

const toBuf = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength);

/**
 * Publishes `state` at `path`: only in a directory that only root (or this
 * user) can change (KOFFLOAD_ERR_UNSAFE_FILE otherwise), through a fresh
 * temporary file (O_EXCL: never through a link someone left there).
 */
export function writeStateFile(path: string, state: SimState): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  assertTrustedDir(dirname(path), 'simulator state directory');
  const tmp = `${path}.${process.pid}.tmp`;
  rmSync(tmp, { force: true });
  writeFileSync(tmp, `${JSON.stringify(state)}\n`, { mode: 0o644, flag: 'wx' });
  renameSync(tmp, path);
}

/** Parses a state file; undefined when missing or not a simulator's. */
export function readStateFile(path: string): SimState | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
  const s = raw as Partial<SimState> | null;
  const ok = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v > 0 && v <= 0xffffffff;
  if (!s || !ok(s.pid) || !ok(s.portId) || !s.familyIds || !ok(s.familyIds.koffload) || !ok(s.familyIds.koffloadTest)) return undefined;
  return { pid: s.pid, portId: s.portId, familyIds: { koffload: s.familyIds.koffload, koffloadTest: s.familyIds.koffloadTest } };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Whether the simulator a state file names is running and listening: its
 * pid is alive and holds the socket bound to its port (a pid reused by
 * another process, or a port now held by someone else, does not count).
 * A process that may not read the simulator's /proc/<pid>/fd (not root,
 * another user's simulator) can check only that both exist: it cannot
 * bind or answer anything there either.
 */
export function stateIsLive(
  s: SimState,
  ports: () => Map<number, PortRow> = readPorts,
  holdsInode: (pid: number, inode: number) => boolean | undefined = pidHoldsInode,
): boolean {
  if (!alive(s.pid)) return false;
  try {
    const row = ports().get(s.portId);
    if (row === undefined) return false;
    const held = holdsInode(s.pid, row.inode);
    return held ?? process.geteuid?.() !== 0;
  } catch {
    return false;
  }
}

class SimulatorImpl implements Simulator {
  private closing: Promise<void> | undefined;

  constructor(
    readonly transport: 'netlink' | 'inproc',
    private readonly t: SimTransport,
    private readonly hub: InprocHub | undefined,
    private readonly core: SimCore,
    private readonly genl: SimGenl,
    private readonly ktest: KtestModule,
    private readonly byName: Map<string, Subsys>,
    private readonly stateFile: string | null,
  ) {}

  private options(familyId: number, opts: SimClientOptions): FamilyClientOptions {
    if (this.hub) {
      const sockOpts = { privileged: opts.privileged ?? true, ...(opts.recvBufferSize !== undefined ? { recvBufferSize: opts.recvBufferSize } : {}) };
      return { socket: this.hub.open(sockOpts), peerPort: 0, familyId };
    }
    return { peerPort: this.t.portId, familyId };
  }

  clientOptions(opts: SimClientOptions = {}): FamilyClientOptions {
    return this.options(SIM_FAMILY_IDS.koffload, opts);
  }

  testClientOptions(opts: SimClientOptions = {}): FamilyClientOptions {
    return this.options(SIM_FAMILY_IDS.koffloadTest, opts);
  }

  private subsys(name: string): Subsys {
    const ks = this.byName.get(name);
    if (!ks) throw new KoffloadError('KOFFLOAD_ERR_UNKNOWN_SUBSYSTEM', `the simulator has no subsystem '${name}'`);
    return ks;
  }

  async call(
    subsys: string,
    op: number,
    payload: Uint8Array,
    opts: { timeoutMs?: number; timeoutUs?: number; default?: Uint8Array; context?: ContextName } = {},
  ): Promise<SimCallResult> {
    const ks = this.subsys(subsys);
    const kc = {
      op,
      timeoutMs: opts.timeoutMs ?? 0,
      timeoutUs: opts.timeoutUs ?? 0,
      req: toBuf(payload),
      respSize: KOFFLOAD.limits.payloadMax,
      ...(opts.default ? { default: toBuf(opts.default) } : {}),
    };
    const r = await this.core.call(ks, kc, contextOf(opts.context ?? 'normal'));
    return r.resp !== undefined ? { outcome: r.outcome, payload: r.resp, waitNs: r.waitNs } : { outcome: r.outcome, waitNs: r.waitNs };
  }

  cacheLookup(subsys: string, key: Uint8Array): Buffer | undefined {
    const r = this.core.cacheLookup(this.subsys(subsys), toBuf(key));
    return r instanceof Buffer ? r : undefined;
  }

  cachePeek(subsys: string, key: Uint8Array): Buffer | undefined {
    return this.core.cachePeek(this.subsys(subsys), toBuf(key));
  }

  advise(subsys: string, op: number, payload: Uint8Array, opts: { context?: ContextName } = {}): Promise<number> {
    return this.core.advise(this.subsys(subsys), op, toBuf(payload), contextOf(opts.context ?? 'normal'));
  }

  async reregister(subsys: string): Promise<number> {
    const ks = this.subsys(subsys);
    await this.core.unregister(ks);
    const err = this.core.register(ks);
    if (err) throw new KoffloadError('KOFFLOAD_ERR_INVALID_ARG', `cannot register subsystem '${subsys}' again (errno ${-err})`);
    return ks.id;
  }

  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    // koffload_test_exit(), then koffload's: the families go last
    await this.ktest.exit(async () => {
      for (const ks of this.byName.values()) await this.core.unregister(ks);
    });
    this.genl.unregister(SIM_FAMILY_IDS.koffloadTest);
    this.genl.unregister(SIM_FAMILY_IDS.koffload);
    if (this.stateFile) {
      const s = readStateFile(this.stateFile);
      if (s && s.pid === process.pid && s.portId === this.t.portId) rmSync(this.stateFile, { force: true });
    }
    this.t.close();
  }
}

/** Starts a simulator; rejects with KOFFLOAD_ERR_SOCKET when the transport cannot open. */
export async function startSimulator(opts: SimulatorOptions = {}): Promise<Simulator> {
  const log = opts.log ?? ((): void => undefined);
  const want = opts.transport ?? 'auto';
  if (!['netlink', 'inproc', 'auto'].includes(want)) throw new KoffloadError('KOFFLOAD_ERR_INVALID_ARG', `transport must be netlink, inproc or auto, got '${String(want)}'`);
  const kind: 'netlink' | 'inproc' = want === 'auto' ? (process.geteuid?.() === 0 ? 'netlink' : 'inproc') : want;

  if (kind === 'inproc' && opts.stateFile) {
    throw new KoffloadError('KOFFLOAD_ERR_INVALID_ARG', 'an in-memory simulator cannot be reached from other processes: pass no stateFile');
  }
  const core = new SimCore();
  const byName = new Map<string, Subsys>();
  for (const c of opts.subsystems ?? DEFAULT_SUBSYSTEMS) {
    const ks = new Subsys({ name: c.name, nrOps: c.nrOps, timeoutMs: c.timeoutMs ?? 200, maxInflight: c.maxInflight ?? 64, ...(c.cacheEntries ? { cacheEntries: c.cacheEntries } : {}) });
    const err = core.register(ks);
    if (err) throw new KoffloadError('KOFFLOAD_ERR_INVALID_ARG', `cannot register subsystem '${c.name}' (errno ${-err}): name 1..31 bytes and unique, nrOps 1..63, timeoutMs <= 60000, maxInflight <= 4096, cacheEntries <= 4096`);
    byName.set(c.name, ks);
  }

  let t: SimTransport;
  let hub: InprocHub | undefined;
  let nl: NetlinkTransport | undefined;
  if (kind === 'netlink') {
    t = nl = new NetlinkTransport();
  } else {
    hub = new InprocHub();
    t = new InprocTransport(hub);
  }
  const genl = new SimGenl(t, log);
  // one death watch per subsystem: a new binding replaces the last one's
  const unwatch = new Map<Subsys, () => void>();
  const family = koffloadFamily(core, genl, SIM_FAMILY_IDS.koffload, {
    bound(ks, port, pid) {
      const token = ks.bindToken;
      if (!token) return;
      unwatch.get(ks)?.();
      // the socket closing, or the process that bound it exiting (rule 6)
      const release = (): void => core.release(ks, token);
      const stops = [t.watchPort(port, release), ...(pid ? [t.watchPid(pid, release)] : [])];
      unwatch.set(ks, () => stops.forEach((f) => f()));
    },
    ...(nl ? { beforeBind: (port: number) => nl.learnPort(port) } : {}),
  });
  genl.register(family);
  const ktest = new KtestModule(core, { subsystems: [...byName.values()], log });
  genl.register(ktest.family(SIM_FAMILY_IDS.koffloadTest));

  const stateFile = opts.stateFile === undefined ? (kind === 'netlink' ? DEFAULT_STATE_FILE : null) : opts.stateFile;
  if (stateFile) {
    try {
      writeStateFile(stateFile, { pid: process.pid, portId: t.portId, familyIds: { koffload: SIM_FAMILY_IDS.koffload, koffloadTest: SIM_FAMILY_IDS.koffloadTest } });
    } catch (err) {
      t.close();
      throw new KoffloadError('KOFFLOAD_ERR_BAD_CONFIG', `cannot write the state file ${stateFile}: ${(err as Error).message}`, { cause: err });
    }
  }
  log(`koffload-sim: ${kind} transport, port ${t.portId}, families koffload=${SIM_FAMILY_IDS.koffload} koffload_test=${SIM_FAMILY_IDS.koffloadTest}, subsystems ${[...byName.keys()].join(', ')}`);
  if (nl) nl.setRef(false);
  return new SimulatorImpl(kind, t, hub, core, genl, ktest, byName, stateFile);
}

export type TargetKind = 'kernel' | 'sim';

/**
 * Where koffload lives: the kernel module if family 'koffload' resolves
 * through nlctrl, else a running simulator's state file (opts.stateFile,
 * else $KOFFLOAD_SIM_STATE, else /run/koffload/sim.json) if only root or
 * this user can change it (KOFFLOAD_ERR_UNSAFE_FILE otherwise) and its
 * pid holds its port, else KoffloadError KOFFLOAD_ERR_NO_FAMILY.
 */
export async function resolveTarget(
  opts: { stateFile?: string } = {},
): Promise<{ kind: TargetKind; koffload: FamilyClientOptions; koffloadTest: FamilyClientOptions }> {
  let kernelErr: unknown;
  try {
    const genl = new GenlClient({ timeoutMs: 2000, recvBufferSize: 1 << 16, sendBufferSize: 1 << 16, dropCheckMs: 0 });
    try {
      const koffload = await genl.resolveFamily(KOFFLOAD.familyName);
      let test: number | undefined;
      try {
        test = await genl.resolveFamily(KOFFLOAD_TEST.familyName);
      } catch {
        test = undefined;
      }
      return { kind: 'kernel', koffload: { familyId: koffload }, koffloadTest: test === undefined ? {} : { familyId: test } };
    } finally {
      genl.close();
    }
  } catch (err) {
    kernelErr = err;
  }
  const path = opts.stateFile ?? process.env.KOFFLOAD_SIM_STATE ?? DEFAULT_STATE_FILE;
  // a state file another user could write would send the daemon to their "kernel"
  if (existsSync(path)) assertTrustedFile(path, 'simulator state file');
  const s = readStateFile(path);
  if (s && stateIsLive(s)) {
    return {
      kind: 'sim',
      koffload: { peerPort: s.portId, familyId: s.familyIds.koffload },
      koffloadTest: { peerPort: s.portId, familyId: s.familyIds.koffloadTest },
    };
  }
  const why = kernelErr instanceof NetlinkError || kernelErr instanceof KoffloadError ? (kernelErr as Error).message : String(kernelErr);
  throw new KoffloadError('KOFFLOAD_ERR_NO_FAMILY', `koffload.ko is not loaded (${why}) and no simulator runs (${s ? `${path} names a simulator that is gone` : `no state in ${path}`})`, {
    cause: kernelErr,
  });
}
