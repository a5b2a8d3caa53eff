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
  /** IRQs off, hardirq or NMI: koffload_ctx_nosend(), not even a shadow send */
  nosend: boolean;
  /** atomic context, IRQs off, RCU read side or a gfp that cannot block */
  atomic: boolean;
  /** PF_MEMALLOC, or a gfp / scope without __GFP_FS | __GFP_IO */
  reclaim: boolean;
  /** in reclaim proper (PF_MEMALLOC, kswapd): not even a shadow send */
  inReclaim: boolean;
  /** tgid of the calling task, 0 for a kernel thread */
  pid: number;
}

/** The calling contexts of koffload_test.ko that admission tells apart. */
export type ContextName = 'normal' | 'atomic' | 'noreclaim' | 'nofs' | 'irqsoff' | 'hardirq' | 'softirq' | 'rcu' | 'noio' | 'kswapd';

/** The contexts of koffload_test.ko, mapped to what admission sees. */
export function contextOf(name: ContextName, pid = 0): CallerContext {
  const none = { nosend: false, atomic: false, reclaim: false, inReclaim: false, pid };
  switch (name) {
    // a spinlock, or softirq (in_task() is false there: current is whoever was interrupted)
    case 'atomic':
    case 'softirq':
      return { ...none, atomic: true, pid: name === 'softirq' ? 0 : pid };
    // no send at all: a netlink send runs the taps
    case 'irqsoff':
    case 'hardirq':
      return { ...none, nosend: true, atomic: true, pid: name === 'hardirq' ? 0 : pid };
    // rcu_preempt_depth() > 0
    case 'rcu':
      return { ...none, atomic: true };
    // memalloc_noreclaim_save() sets PF_MEMALLOC; kswapd runs with PF_MEMALLOC | PF_KSWAPD
    case 'noreclaim':
    case 'kswapd':
      return { ...none, reclaim: true, inReclaim: true };
    // memalloc_nofs_save() / _noio_save() clear __GFP_FS (and __GFP_IO) from every allocation
    case 'nofs':
    case 'noio':
      return { ...none, reclaim: true };
    default:
      return none;
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
  /** kc_timeout_us: wins over timeoutMs when non-zero */
  timeoutUs?: number;
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
  /** ks_bind_gen of the binding that published it */
  gen: number;
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
  /** identity of the bound socket (PeerInfo.socket): the handler is the socket, not the port */
  boundSocket: unknown;
  /** a fresh object per binding: a release aimed at an older binding misses */
  bindToken: object | undefined;
  /** resolves once a koffload_unregister() in progress has drained */
  unregistering: Promise<void> | undefined;
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
  /** the call's budget after the caps, ns */
  budgetNs: bigint;
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
  /** koffload_next_id: subsystem ids are handed out cyclically */
  private nextId = 1;
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
    if (ks.registered || ks.unregistering) return -ERRNO.EINVAL;
    if (this.findByName(ks.name)) return -17; // EEXIST
    // xa_alloc_cyclic(): the next free id from the cursor, wrapping once
    let id = 0;
    for (let i = 0; i < SUBSYS_ID_MAX; i++) {
      const cand = ((this.nextId - 1 + i) % SUBSYS_ID_MAX) + 1;
      if (!this.subsystems.has(cand)) {
        id = cand;
        break;
      }
    }
    if (!id) return -ERRNO.EBUSY;
    this.nextId = (id % SUBSYS_ID_MAX) + 1;
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
    // a second caller returns once the first has drained
    if (!ks.registered) return ks.unregistering;
    ks.shutting = true;
    const claimed = this.unbindLocked(ks);
    this.completeClaimed(claimed, 'shutdown');
    this.subsystems.delete(ks.id);
    ks.registered = false;
    const drain = (async (): Promise<void> => {
      if (ks.users > 0) await new Promise<void>((resolve) => (ks.drained = resolve));
      ks.cache.clear();
    })();
    ks.unregistering = drain;
    void drain.then(() => {
      if (ks.unregistering === drain) ks.unregistering = undefined;
    });
    return drain;
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

  /** koffload_budget_ns(): kc_timeout_us, else kc_timeout_ms, capped. */
  private budgetNs(ks: Subsys, kc: KCall): bigint {
    let ns = kc.timeoutUs ? BigInt(kc.timeoutUs) * 1000n : BigInt(kc.timeoutMs || ks.timeoutMs) * 1_000_000n;
    if (ks.capDeadlineMs) {
      const cap = BigInt(ks.capDeadlineMs) * 1_000_000n;
      if (cap < ns) ns = cap;
    }
    return ns;
  }

  /**
   * koffload_precheck() and koffload_grab(): the no-wait fallbacks (the
   * kernel decides them without a lock), then the binding a send goes to.
   * One synchronous stretch. Counts the caller as a user on 'served'.
   */
  private admit(ks: Subsys, ctx: CallerContext, kc: KCall, a: Admit): OutcomeKey {
    if (!ks.registered || ks.shutting) return 'shutdown';
    a.probe = false;
    let outcome: OutcomeKey = 'served';
    if (!ks.portid) outcome = 'noHandler';
    else if ((a.mode = ks.mode) === 'off') outcome = 'disabled';
    else if (a.mode === 'shadow') outcome = ctx.nosend ? 'atomic' : ctx.inReclaim ? 'reclaim' : 'served';
    else if (a.mode === 'canary' && Math.floor(this.random() * L.permille) >= ks.canaryPermille) outcome = 'canarySkip';
    else if (ctx.nosend || ctx.atomic) outcome = 'atomic';
    else if (ctx.reclaim) outcome = 'reclaim';
    else if (ks.boundPid !== 0 && ctx.pid !== 0 && ks.boundPid === ctx.pid) outcome = 'recursion';
    else outcome = this.circuitAdmit(ks, a);
    if (outcome !== 'served') return outcome;
    ks.users++;
    a.portid = ks.portid;
    a.gen = ks.bindGen;
    a.budgetNs = this.budgetNs(ks, kc);
    a.inflightCap = ks.effectiveInflight();
    return outcome;
  }

  /** koffload_leave() */
  private leave(ks: Subsys, outcome: OutcomeKey, a: Admit): void {
    ks.outcomes[outcome]++;
    // an outcome of an earlier binding says nothing of this one
    if (a.mode !== 'shadow' && a.gen === ks.bindGen) this.circuitRecord(ks, outcome, a.probe);
    else if (a.probe) ks.probeOut = false;
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
    const deadlineNs = now() + a.budgetNs;
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
    const deadlineNs = now() + a.budgetNs;
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

    // the deadline timer (the kernel's hrtimer): never before the deadline,
    // Node's timers being whole milliseconds and possibly early by a fraction
    while (kp.outcome === undefined) {
      const leftNs = deadlineNs - now();
      if (leftNs <= 0n) break;
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        kp.done.then(() => false),
        new Promise<boolean>((r) => (timer = setTimeout(() => r(true), Math.ceil(Number(leftNs) / 1e6)))),
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
    const a: Admit = { portid: 0, gen: 0, mode: 'off', budgetNs: 0n, inflightCap: 0, probe: false };
    let outcome: OutcomeKey;
    let resp: Buffer | undefined;
    const finish = (): KCallResult => {
      const r: KCallResult = { outcome, waitNs: now() - start };
      if (outcome === 'served' && resp !== undefined) r.resp = resp;
      return r;
    };
    if (!ks.registered || ks.shutting) {
      // not a user, but the memory is the caller's: count it
      outcome = 'shutdown';
      ks.outcomes[outcome]++;
      return finish();
    }
    if (
      !Number.isInteger(kc.op) ||
      kc.op < 1 ||
      kc.op > ks.nrOps ||
      kc.req.length > L.payloadMax ||
      kc.timeoutMs > L.deadlineMaxMs ||
      (kc.timeoutUs ?? 0) > L.deadlineMaxMs * 1000 ||
      (kc.default !== undefined && kc.default.length > L.payloadMax)
    ) {
      outcome = 'invalid';
      ks.outcomes[outcome]++;
      return finish();
    }
    outcome = this.admit(ks, ctx, kc, a);
    if (outcome !== 'served') {
      // the no-wait fallbacks: counted, no user, no circuit sample
      ks.outcomes[outcome]++;
      return finish();
    }
    {
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
   * koffload_advise(): an advisory REQUEST (id 0, flag advisory, plus
   * shadow in mode shadow) that nobody waits for. 0 when sent, else a
   * negative errno: -ESRCH (no handler), -EOPNOTSUPP (mode off),
   * -EWOULDBLOCK (IRQs off, hardirq), -EBUSY (buffer full), -ESHUTDOWN,
   * -EINVAL. Counted as advisories or advisories-dropped, not as a call.
   */
  async advise(ks: Subsys, op: number, req: Buffer, ctx: CallerContext = contextOf('normal')): Promise<number> {
    // every return is counted, as in koffload_advise()
    let err = 0;
    if (!ks.registered || ks.shutting) err = -ERRNO.ESHUTDOWN;
    else if (!Number.isInteger(op) || op < 1 || op > ks.nrOps || req.length > L.payloadMax) err = -ERRNO.EINVAL;
    else if (!ks.portid) err = -ERRNO.ESRCH;
    else if (ks.mode === 'off') err = -ERRNO.EOPNOTSUPP;
    else if (ctx.nosend) err = -ERRNO.EWOULDBLOCK;
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
   * `socket` is the sender's identity (PeerInfo.socket).
   */
  completeReply(id: bigint, socket: unknown, status: number, payload: Buffer | undefined): number {
    const ks = this.subsystems.get(Number(id >> REQ_ID_SHIFT));
    if (!ks) return -ERRNO.ENOENT;
    // the sender before the id, so a forged reply claims nothing
    if (!this.boundTo(ks, socket)) {
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

  /** koffload_bound_to(): the handler is the bound socket, never its port id. */
  boundTo(ks: Subsys, socket: unknown): boolean {
    return ks.portid !== 0 && socket !== undefined && ks.boundSocket === socket;
  }

  /** koffload_bind() */
  bindLocked(ks: Subsys, portid: number, pid: number, socket: unknown): void {
    ks.boundPid = pid;
    ks.portid = portid;
    ks.boundSocket = socket;
    ks.bindToken = {};
    ks.bindGen++;
    ks.circuit = 'closed';
    ks.failures = 0;
    ks.probeOut = false;
  }

  /**
   * koffload_unbind(): drops the binding, claims every pending call and
   * flushes the advisory cache (a new handler inherits no decision).
   */
  unbindLocked(ks: Subsys): Pending[] {
    ks.boundPid = 0;
    ks.portid = 0;
    ks.boundSocket = undefined;
    ks.bindToken = undefined;
    ks.cache.clear();
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

  /** koffload_cache_publish(): 0 or a negative errno; the entry belongs to binding generation `gen`. */
  cachePublish(ks: Subsys, key: Buffer, data: Buffer, ttlMs: number, gen: number = ks.bindGen): number {
    if (key.length === 0 || key.length > L.keyMax || data.length > L.payloadMax) return -ERRNO.EINVAL;
    const t = now();
    const k = key.toString('hex');
    const old = ks.cache.get(k);
    if (ttlMs === 0) {
      if (!old) return -ERRNO.ENOENT;
      ks.cache.delete(k);
      return 0;
    }
    const e: CacheEntry = { expiresNs: t + BigInt(ttlMs) * 1_000_000n, gen, data: Buffer.from(data) };
    if (old) {
      ks.cache.set(k, e);
      return 0;
    }
    if (ks.cache.size >= ks.cacheEntries) {
      // koffload_cache_make_room(): the kernel reaps a bounded run of
      // buckets; here every expired or stale entry goes at once
      for (const [ek, ev] of ks.cache) if (ev.expiresNs <= t || ev.gen !== gen) ks.cache.delete(ek);
      if (ks.cache.size >= ks.cacheEntries) return -ERRNO.ENOSPC;
    }
    ks.cache.set(k, e);
    return 0;
  }

  /** The entry a lookup would find now, without counting a hit or a miss (a test's or a driver's look). */
  cachePeek(ks: Subsys, key: Buffer): Buffer | undefined {
    if (!ks.registered || ks.shutting || !ks.portid || !(ks.mode === 'on' || ks.mode === 'canary')) return undefined;
    const e = ks.cache.get(key.toString('hex'));
    return e && e.gen === ks.bindGen && e.expiresNs > now() ? Buffer.from(e.data) : undefined;
  }

  /**
   * koffload_cache_lookup(): the payload, or undefined on a miss; counts a
   * hit or a miss. Safe for any caller context: it never waits.
   */
  cacheLookup(ks: Subsys, key: Buffer, bufSize: number = L.payloadMax): Buffer | undefined | 'emsgsize' {
    if (key.length === 0 || key.length > L.keyMax) return undefined;
    if (!ks.registered || ks.shutting) return undefined;
    let ret: Buffer | undefined | 'emsgsize';
    // only the bound handler's decisions, only in mode on (or a sampled canary)
    const allowed = ks.mode === 'on' || (ks.mode === 'canary' && Math.floor(this.random() * L.permille) < ks.canaryPermille);
    if (ks.portid && allowed) {
      const e = ks.cache.get(key.toString('hex'));
      if (e && e.gen === ks.bindGen && e.expiresNs > now()) ret = e.data.length <= bufSize ? Buffer.from(e.data) : 'emsgsize';
    }
    ks.count(ret instanceof Buffer ? 'cacheHits' : 'cacheMisses');
    return ret;
  }
}
