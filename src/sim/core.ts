/**
 * The simulated koffload core: subsystem registry, admission, pending
 * table, deadline wait, completion by reply, timeout, release or shutdown,
 * circuit breaker, in-flight cap and advisory cache. A line-by-line port of
 * koffload_call.c, koffload_main.c and koffload_cache.c; the comments name
 * the C functions each part follows.
 *
 * Concurrency: JavaScript runs one task at a time, so every "under
 * ks_lock" section of the C code is a synchronous stretch here, and
 * claiming a pending call (reply vs timeout vs release vs shutdown) is
 * atomic by construction: whoever deletes the entry from `pending` first
 * owns its completion. A caller that loses the claim awaits the completion
 * the winner resolves, exactly like koffload_lost_claim().
 */
import { monotonicOffsetNs } from '../runtime/timens.js';
import { KOFFLOAD } from '../generated/wire.js';
import { ERRNO } from './transport.js';

export type OutcomeKey = keyof typeof KOFFLOAD.outcome;
export type CounterKey = keyof typeof KOFFLOAD.counter;
export type ModeKey = keyof typeof KOFFLOAD.mode;
export type CircuitKey = keyof typeof KOFFLOAD.circuit;

export const REQ_ID_SHIFT = 48n;
const REQ_SEQ_MASK = (1n << REQ_ID_SHIFT) - 1n;
const SUBSYS_ID_MAX = 0xffff;
const L = KOFFLOAD.limits;

/** KOFFLOAD_DEFAULT_* of include/linux/koffload.h */
export const DEFAULTS = {
  timeoutMs: 100,
  maxInflight: 64,
  circuitThreshold: 5,
  circuitCooldownMs: 1000,
  cacheEntries: 256,
} as const;

/** How the caller may wait, as koffload_ctx_atomic() / _reclaim() judge it. */
export interface CallerContext {
  /** atomic context, IRQs off or a gfp that cannot block */
  atomic: boolean;
  /** PF_MEMALLOC, or a gfp / scope without __GFP_FS | __GFP_IO */
  reclaim: boolean;
  /** in reclaim proper (PF_MEMALLOC, kswapd): not even a shadow send */
  inReclaim: boolean;
  /** tgid of the calling task, 0 for a kernel thread */
  pid: number;
}

/** The contexts of koffload_test.ko, mapped to what admission sees. */
export function contextOf(name: 'normal' | 'atomic' | 'noreclaim' | 'nofs', pid = 0): CallerContext {
  switch (name) {
    case 'atomic':
      return { atomic: true, reclaim: false, inReclaim: false, pid };
    // memalloc_noreclaim_save() sets PF_MEMALLOC
    case 'noreclaim':
      return { atomic: false, reclaim: true, inReclaim: true, pid };
    // memalloc_nofs_save() clears __GFP_FS from every allocation
    case 'nofs':
      return { atomic: false, reclaim: true, inReclaim: false, pid };
    default:
      return { atomic: false, reclaim: false, inReclaim: false, pid };
  }
}

export interface SubsysConfig {
  name: string;
  nrOps: number;
  timeoutMs?: number;
  maxInflight?: number;
  circuitThreshold?: number;
  circuitCooldownMs?: number;
  cacheEntries?: number;
}

/** struct koffload_call */
export interface KCall {
  op: number;
  timeoutMs: number;
  req: Buffer;
  /** kc_default when KOFFLOAD_CALL_HAS_DEFAULT */
  default?: Buffer;
  /** kc_resp_size; 0 means no reply buffer */
  respSize: number;
}

export interface KCallResult {
  outcome: OutcomeKey;
  /** the reply when served */
  resp?: Buffer;
  waitNs: bigint;
}

interface Pending {
  id: bigint;
  deadlineNs: bigint;
  respSize: number;
  outcome?: OutcomeKey;
  resp?: Buffer;
  /** resolves once the claimer has filled outcome (and resp) */
  done: Promise<void>;
  complete: () => void;
}

interface CacheEntry {
  expiresNs: bigint;
  data: Buffer;
}

/** the kernel's CLOCK_MONOTONIC: the host's, also when this process runs in a time namespace */
const now = (): bigint => process.hrtime.bigint() - monotonicOffsetNs();
const zeros = <K extends string>(keys: readonly K[]): Record<K, bigint> => Object.fromEntries(keys.map((k) => [k, 0n])) as Record<K, bigint>;

/** struct koffload_subsys: configuration and private state. */
export class Subsys {
  readonly name: string;
  readonly nameBytes: Buffer;
  readonly nrOps: number;
  readonly timeoutMs: number;
  readonly maxInflight: number;
  readonly circuitThreshold: number;
  readonly circuitCooldownMs: number;
  readonly cacheEntries: number;
  id = 0;
  registered = false;
  shutting = false;
  users = 0;
  portid = 0;
  boundPid = 0;
  /** a fresh object per binding: a release aimed at an older binding misses */
  bindToken: object | undefined;
  /** ks_bind_gen: changes on every bind and unbind */
  bindGen = 0;
  mode: ModeKey = 'on';
  canaryPermille: number = L.permille;
  capDeadlineMs = 0;
  capInflight = 0;
  readonly pending = new Map<bigint, Pending>();
  circuit: CircuitKey = 'closed';
  failures = 0;
  openUntilNs = 0n;
  probeOut = false;
  readonly cache = new Map<string, CacheEntry>();
  inflight = 0;
  readonly outcomes = zeros(KOFFLOAD.outcomeKeys);
  readonly counters = zeros(KOFFLOAD.counterKeys);
  /** resolves koffload_unregister()'s drain wait */
  drained: (() => void) | undefined;

  constructor(c: SubsysConfig) {
    this.name = c.name;
    this.nameBytes = Buffer.from(c.name);
    this.nrOps = c.nrOps;
    this.timeoutMs = c.timeoutMs || DEFAULTS.timeoutMs;
    this.maxInflight = c.maxInflight || DEFAULTS.maxInflight;
    this.circuitThreshold = c.circuitThreshold || DEFAULTS.circuitThreshold;
    this.circuitCooldownMs = c.circuitCooldownMs || DEFAULTS.circuitCooldownMs;
    this.cacheEntries = c.cacheEntries || DEFAULTS.cacheEntries;
  }

  count(c: CounterKey): void {
    this.counters[c]++;
  }

  /** koffload_effective_timeout_ms() */
  effectiveTimeoutMs(timeoutMs: number): number {
    const t = timeoutMs || this.timeoutMs;
    return this.capDeadlineMs ? Math.min(this.capDeadlineMs, t) : t;
  }

  /** koffload_effective_inflight() */
  effectiveInflight(): number {
    return this.capInflight ? Math.min(this.capInflight, this.maxInflight) : this.maxInflight;
  }
}

/** What admission decided (struct koffload_admit). */
interface Admit {
  portid: number;
  gen: number;
  mode: ModeKey;
  timeoutMs: number;
  inflightCap: number;
  probe: boolean;
}

const isFailure = (o: OutcomeKey): boolean => o === 'deadline' || o === 'handlerError' || o === 'malformed';
const isSuccess = (o: OutcomeKey): boolean => o === 'served' || o === 'declined';

/** koffload_send_errno_outcome() */
function sendErrnoOutcome(errno: number): OutcomeKey {
  if (errno === ERRNO.EAGAIN || errno === ERRNO.ENOBUFS) return 'overload';
  if (errno === ERRNO.ECONNREFUSED) return 'handlerDied';
  return 'sendFailure';
}

/** The genl side the core calls to reach a handler. */
export interface Upcaller {
  /**
   * Builds and unicasts one REQUEST to `port`; resolves 0 or the errno of
   * the failed unicast. Resolves a positive errno other than EAGAIN,
   * ENOBUFS or ECONNREFUSED when the message could not be built.
   */
  sendRequest(ks: Subsys, port: number, id: bigint, kc: KCall, deadlineNs: bigint, flags: number): Promise<number>;
}

export class SimCore {
  /** registered subsystems by id (DEFINE_XARRAY_ALLOC1: ids from 1) */
  readonly subsystems = new Map<number, Subsys>();
  upcaller: Upcaller | undefined;
  /** koffload_req_seq: request ids are never reused while the module is loaded */
  private reqSeq = 0n;
  /** Math.random by default; a test may make canary sampling deterministic */
  random: () => number = Math.random;

  /** koffload_find_by_name(): compares bytes, as strcmp() does. */
  findByName(name: string | Buffer): Subsys | undefined {
    const want = typeof name === 'string' ? Buffer.from(name) : name;
    for (const ks of this.subsystems.values()) if (ks.nameBytes.equals(want)) return ks;
    return undefined;
  }

  /** koffload_register() */
  register(ks: Subsys): number {
    const n = Buffer.byteLength(ks.name);
    if (n === 0 || n >= L.nameMax || ks.name.includes('\0')) return -ERRNO.EINVAL;
    if (!Number.isInteger(ks.nrOps) || ks.nrOps < 1 || ks.nrOps >= L.opsMax) return -ERRNO.EINVAL;
    if (ks.timeoutMs > L.deadlineMaxMs || ks.maxInflight > L.inflightMax || ks.cacheEntries > L.cacheEntriesMax || ks.circuitCooldownMs > L.deadlineMaxMs) {
      return -ERRNO.EINVAL;
    }
    if (ks.registered) return -ERRNO.EINVAL;
    if (this.findByName(ks.name)) return -17; // EEXIST
    let id = 1;
    while (this.subsystems.has(id)) id++;
    if (id > SUBSYS_ID_MAX) return -ERRNO.ENOSPC;
    ks.id = id;
    ks.registered = true;
    ks.shutting = false;
    this.subsystems.set(id, ks);
    return 0;
  }

  /**
   * koffload_unregister(): pending calls end with shutdown at once, as do
   * calls that start meanwhile; resolves once no call is inside call().
   */
  async unregister(ks: Subsys): Promise<void> {
    if (!ks.registered) return;
    ks.shutting = true;
    const claimed = this.unbindLocked(ks);
    this.completeClaimed(claimed, 'shutdown');
    this.subsystems.delete(ks.id);
    ks.registered = false;
    if (ks.users > 0) await new Promise<void>((resolve) => (ks.drained = resolve));
    ks.cache.clear();
  }

  // ---------------------------------------------------------------- call path

  /** koffload_circuit_admit() */
  private circuitAdmit(ks: Subsys, a: Admit): OutcomeKey {
    if (ks.circuit === 'open') {
      if (now() < ks.openUntilNs) return 'circuitOpen';
      ks.circuit = 'halfOpen';
    }
    if (ks.circuit === 'halfOpen') {
      if (ks.probeOut) return 'circuitOpen';
      ks.probeOut = true;
      a.probe = true;
    }
    return 'served';
  }

  private circuitOpen(ks: Subsys): void {
    ks.circuit = 'open';
    ks.openUntilNs = now() + BigInt(ks.circuitCooldownMs) * 1_000_000n;
    ks.count('circuitOpens');
  }

  /** koffload_circuit_record() */
  private circuitRecord(ks: Subsys, outcome: OutcomeKey, probe: boolean): void {
    if (probe) {
      ks.probeOut = false;
      if (isSuccess(outcome)) {
        ks.circuit = 'closed';
        ks.failures = 0;
      } else if (isFailure(outcome)) {
        this.circuitOpen(ks);
      }
      return;
    }
    if (isSuccess(outcome)) ks.failures = 0;
    else if (isFailure(outcome) && ks.circuit === 'closed' && ++ks.failures >= ks.circuitThreshold) this.circuitOpen(ks);
  }

  /** koffload_admit(): one synchronous stretch, as under ks_lock. */
  private admit(ks: Subsys, ctx: CallerContext, timeoutMs: number, a: Admit): OutcomeKey {
    if (!ks.registered || ks.shutting) return 'shutdown';
    ks.users++;
    a.portid = ks.portid;
    a.gen = ks.bindGen;
    a.mode = ks.mode;
    a.timeoutMs = ks.effectiveTimeoutMs(timeoutMs);
    a.inflightCap = ks.effectiveInflight();
    const ownProcess = ks.boundPid !== 0 && ctx.pid !== 0 && ks.boundPid === ctx.pid;
    a.probe = false;
    let outcome: OutcomeKey = 'served';
    if (!a.portid) outcome = 'noHandler';
    else if (a.mode === 'off') outcome = 'disabled';
    else if (a.mode === 'shadow') outcome = ctx.inReclaim ? 'reclaim' : 'served';
    else if (a.mode === 'canary' && Math.floor(this.random() * L.permille) >= ks.canaryPermille) outcome = 'canarySkip';
    else if (ctx.atomic) outcome = 'atomic';
    else if (ctx.reclaim && !ctx.atomic) outcome = 'reclaim';
    else if (ownProcess) outcome = 'recursion';
    else outcome = this.circuitAdmit(ks, a);
    return outcome;
  }

  /** koffload_leave() */
  private leave(ks: Subsys, outcome: OutcomeKey, a: Admit): void {
    ks.outcomes[outcome]++;
    // an outcome of an earlier binding says nothing of this one
    if (a.mode !== 'shadow' && a.gen === ks.bindGen) this.circuitRecord(ks, outcome, a.probe);
    if (--ks.users === 0 && ks.shutting && ks.drained) {
      const d = ks.drained;
      ks.drained = undefined;
      d();
    }
  }

  /** koffload_claim(): whoever deletes the entry owns its completion. */
  private claim(ks: Subsys, kp: Pending): boolean {
    return ks.pending.delete(kp.id);
  }

  private async shadow(ks: Subsys, kc: KCall, a: Admit): Promise<OutcomeKey> {
    const deadlineNs = now() + BigInt(a.timeoutMs) * 1_000_000n;
    const err = await this.up().sendRequest(ks, a.portid, 0n, kc, deadlineNs, KOFFLOAD.reqFlag.shadow);
    if (err) return sendErrnoOutcome(err);
    ks.count('requestsSent');
    return 'shadow';
  }

  private up(): Upcaller {
    if (!this.upcaller) throw new Error('simulated kernel has no genl family');
    return this.upcaller;
  }

  /** koffload_upcall(): register, send, wait for exactly one completion. */
  private async upcall(ks: Subsys, kc: KCall, a: Admit): Promise<{ outcome: OutcomeKey; resp?: Buffer }> {
    const deadlineNs = now() + BigInt(a.timeoutMs) * 1_000_000n;
    const id = (BigInt(ks.id) << REQ_ID_SHIFT) | (++this.reqSeq & REQ_SEQ_MASK);
    let complete!: () => void;
    const done = new Promise<void>((r) => (complete = r));
    const kp: Pending = { id, deadlineNs, respSize: kc.respSize, done, complete };

    // a release or unregister that ran since admission has swept already
    if (ks.shutting || ks.bindGen !== a.gen) return { outcome: ks.shutting ? 'shutdown' : 'handlerDied' };
    // insert before sending: the reply may come back before the send returns
    ks.pending.set(id, kp);

    const err = await this.up().sendRequest(ks, a.portid, id, kc, deadlineNs, kc.default !== undefined ? KOFFLOAD.reqFlag.hasDefault : 0);
    if (err) {
      if (!this.claim(ks, kp)) return this.lostClaim(kp);
      return { outcome: sendErrnoOutcome(err) };
    }
    ks.count('requestsSent');

    if (kp.outcome === undefined) {
      const leftMs = Number(deadlineNs - now()) / 1e6;
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        kp.done.then(() => false),
        new Promise<boolean>((r) => (timer = setTimeout(() => r(true), Math.max(0, Math.floor(leftMs))))),
      ]);
      clearTimeout(timer);
      if (!timedOut) return this.lostClaim(kp);
    }
    if (!this.claim(ks, kp)) return this.lostClaim(kp);
    return { outcome: 'deadline' };
  }

  /** koffload_lost_claim(): the winner completes it now or has already. */
  private async lostClaim(kp: Pending): Promise<{ outcome: OutcomeKey; resp?: Buffer }> {
    await kp.done;
    return kp.resp !== undefined ? { outcome: kp.outcome ?? 'sendFailure', resp: kp.resp } : { outcome: kp.outcome ?? 'sendFailure' };
  }

  /** koffload_call(); never rejects. */
  async call(ks: Subsys, kc: KCall, ctx: CallerContext): Promise<KCallResult> {
    const start = now();
    const a: Admit = { portid: 0, gen: 0, mode: 'off', timeoutMs: 0, inflightCap: 0, probe: false };
    let outcome: OutcomeKey;
    let resp: Buffer | undefined;
    const finish = (): KCallResult => {
      const r: KCallResult = { outcome, waitNs: now() - start };
      if (outcome === 'served' && resp !== undefined) r.resp = resp;
      return r;
    };
    if (
      !Number.isInteger(kc.op) ||
      kc.op < 1 ||
      kc.op > ks.nrOps ||
      kc.req.length > L.payloadMax ||
      kc.timeoutMs > L.deadlineMaxMs ||
      (kc.default !== undefined && kc.default.length > L.payloadMax)
    ) {
      outcome = 'invalid';
      ks.outcomes[outcome]++;
      return finish();
    }
    outcome = this.admit(ks, ctx, kc.timeoutMs, a);
    if (outcome === 'shutdown') {
      // not a user, but the memory is the caller's: count it
      ks.outcomes[outcome]++;
      return finish();
    }
    if (outcome === 'served') {
      if (a.mode === 'shadow') {
        outcome = await this.shadow(ks, kc, a);
      } else {
        // rule 5: never queue; past the cap, fall back at once
        if (++ks.inflight > a.inflightCap) {
          outcome = 'overload';
        } else {
          const r = await this.upcall(ks, kc, a);
          outcome = r.outcome;
          resp = r.resp;
        }
        ks.inflight--;
      }
    }
    this.leave(ks, outcome, a);
    return finish();
  }

  /**
   * koffload_advise(): an advisory REQUEST (id 0, flag advisory) that
   * nobody waits for. 0 when sent, else a negative errno: -ESRCH (no
   * handler), -EOPNOTSUPP (mode off), -EBUSY (buffer full), -ESHUTDOWN,
   * -EINVAL. Counted as advisories or advisories-dropped, not as a call.
   */
  async advise(ks: Subsys, op: number, req: Buffer): Promise<number> {
    if (!Number.isInteger(op) || op < 1 || op > ks.nrOps || req.length > L.payloadMax) return -ERRNO.EINVAL;
    if (!ks.registered || ks.shutting) return -ERRNO.ESHUTDOWN;
    let err = 0;
    if (!ks.portid) err = -ERRNO.ESRCH;
    else if (ks.mode === 'off') err = -ERRNO.EOPNOTSUPP;
    if (err) {
      ks.count('advisoriesDropped');
      return err;
    }
    ks.users++;
    const port = ks.portid;
    const deadlineNs = now() + BigInt(ks.effectiveTimeoutMs(0)) * 1_000_000n;
    const kc: KCall = { op, timeoutMs: 0, req, respSize: 0 };
    // mode shadow: the advice is only recorded, as koffload_advise() flags it
    const flags = KOFFLOAD.reqFlag.advisory | (ks.mode === 'shadow' ? KOFFLOAD.reqFlag.shadow : 0);
    let sent = await this.up().sendRequest(ks, port, 0n, kc, deadlineNs, flags);
    if (sent === ERRNO.EAGAIN || sent === ERRNO.ENOBUFS) sent = ERRNO.EBUSY;
    else if (sent === ERRNO.ECONNREFUSED) sent = ERRNO.ESRCH;
    ks.count(sent ? 'advisoriesDropped' : 'advisories');
    if (--ks.users === 0 && ks.shutting && ks.drained) {
      const d = ks.drained;
      ks.drained = undefined;
      d();
    }
    return -sent;
  }

  // ---------------------------------------------------------------- replies and bindings

  /**
   * koffload_complete_reply(): 0, or -EMSGSIZE (completed as malformed),
   * -EPERM (not the bound socket), -ENOENT (nothing pending with that id).
   */
  completeReply(id: bigint, portid: number, status: number, payload: Buffer | undefined): number {
    const ks = this.subsystems.get(Number(id >> REQ_ID_SHIFT));
    if (!ks) return -ERRNO.ENOENT;
    // the sender before the id, so a forged reply claims nothing
    if (!ks.portid || ks.portid !== portid) {
      ks.count('foreignReplies');
      return -ERRNO.EPERM;
    }
    const kp = ks.pending.get(id);
    if (!kp) {
      ks.count('lateReplies');
      return -ERRNO.ENOENT;
    }
    ks.pending.delete(id);
    const len = payload?.length ?? 0;
    let err = -ERRNO.ENOENT;
    if (now() > kp.deadlineNs) {
      // past the deadline: the waiter's timer has not claimed it yet
      ks.count('lateReplies');
      kp.outcome = 'deadline';
    } else if (status === KOFFLOAD.status.ok && len > kp.respSize) {
      ks.count('badReplies');
      kp.outcome = 'malformed';
      err = -ERRNO.EMSGSIZE;
    } else if (status === KOFFLOAD.status.ok) {
      kp.outcome = 'served';
      kp.resp = Buffer.from(payload ?? Buffer.alloc(0));
      err = 0;
    } else {
      kp.outcome = status === KOFFLOAD.status.decline ? 'declined' : 'handlerError';
      err = 0;
    }
    kp.complete();
    return err;
  }

  /** koffload_bind_locked() */
  bindLocked(ks: Subsys, portid: number, pid: number): void {
    ks.boundPid = pid;
    ks.portid = portid;
    ks.bindToken = {};
    ks.bindGen++;
    ks.circuit = 'closed';
    ks.failures = 0;
    ks.probeOut = false;
  }

  /** koffload_unbind_locked(): drops the binding and claims every pending call. */
  unbindLocked(ks: Subsys): Pending[] {
    ks.boundPid = 0;
    ks.portid = 0;
    ks.bindToken = undefined;
    ks.bindGen++;
    ks.capDeadlineMs = 0;
    ks.capInflight = 0;
    const claimed = [...ks.pending.values()];
    ks.pending.clear();
    return claimed;
  }

  /** koffload_complete_claimed() */
  completeClaimed(claimed: Pending[], outcome: OutcomeKey): void {
    for (const kp of claimed) {
      kp.outcome = outcome;
      kp.complete();
    }
  }

  /**
   * koffload_nl_release() for one binding: the socket that made binding
   * `token` of `ks` closed. A no-op when that binding has ended already
   * (unbound, or replaced by a new socket that reused the port).
   */
  release(ks: Subsys, token: object): void {
    if (!ks.registered || ks.bindToken !== token) return;
    const claimed = this.unbindLocked(ks);
    ks.count('releases');
    this.completeClaimed(claimed, 'handlerDied');
  }

  // ---------------------------------------------------------------- advisory cache

  /** koffload_cache_publish(): 0 or a negative errno. */
  cachePublish(ks: Subsys, key: Buffer, data: Buffer, ttlMs: number): number {
    if (key.length === 0 || key.length > L.keyMax || data.length > L.payloadMax) return -ERRNO.EINVAL;
    const t = now();
    const k = key.toString('hex');
    const old = ks.cache.get(k);
    if (ttlMs === 0) {
      if (!old) return -ERRNO.ENOENT;
      ks.cache.delete(k);
      return 0;
    }
    const e: CacheEntry = { expiresNs: t + BigInt(ttlMs) * 1_000_000n, data: Buffer.from(data) };
    if (old) {
      ks.cache.set(k, e);
      return 0;
    }
    if (ks.cache.size >= ks.cacheEntries) {
      // koffload_cache_evict_expired(): drop one expired entry to make room
      let evicted = false;
      for (const [ek, ev] of ks.cache) {
        if (ev.expiresNs <= t) {
          ks.cache.delete(ek);
          evicted = true;
          break;
        }
      }
      if (!evicted) return -ERRNO.ENOSPC;
    }
    ks.cache.set(k, e);
    return 0;
  }

  /**
   * koffload_cache_lookup(): the payload, or undefined on a miss; counts a
   * hit or a miss. Safe for any caller context: it never waits.
   */
  cacheLookup(ks: Subsys, key: Buffer, bufSize: number = L.payloadMax): Buffer | undefined | 'emsgsize' {
    if (key.length === 0 || key.length > L.keyMax) return undefined;
    const e = ks.cache.get(key.toString('hex'));
    let ret: Buffer | undefined | 'emsgsize';
    if (e && e.expiresNs > now()) ret = e.data.length <= bufSize ? Buffer.from(e.data) : 'emsgsize';
    ks.count(ret instanceof Buffer ? 'cacheHits' : 'cacheMisses');
    return ret;
  }
}
