/**
 * Client of the `koffload_test` genl family (koffload_test.ko): starts runs
 * of in-kernel koffload_call()s in a chosen context and reads their results,
 * so the suites can check the kernel's call path from outside.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KoffloadError, WireError } from '../errors.js';
import { KOFFLOAD, KOFFLOAD_TEST, type KoffloadTestContext, type KoffloadTestRunFlag, type Outcome } from '../generated/wire.js';
import { type AttrInputs, type GenlMessage, decodeAttrs, decodeU64Nest, encodeAttrs } from '../netlink/codec.js';
import type { GenlClient } from '../netlink/genl.js';
import { type FamilyClientOptions, openFamily } from './family.js';

type Spec = typeof KOFFLOAD_TEST.attrSpec;
const SPEC: Spec = KOFFLOAD_TEST.attrSpec;
const MAX_TIMER_MS = 2 ** 31 - 1;
const DEBUGFS = '/sys/kernel/debug';

export type KtestClientOptions = FamilyClientOptions;

export interface RunOptions {
  /** subsystem the calls go to ('ktest', 'ktest2') */
  subsys: string;
  /** koffload op id */
  op: number;
  /** number of calls, 1..KOFFLOAD_TEST.limits.callsMax */
  calls: number;
  /** kernel threads making them, 1..threadsMax. @default 1 */
  threads?: number;
  /** each call's timeout (deadline) in ms. @default 1000 */
  timeoutMs?: number;
  /**
   * each call's deadline in microseconds (kc_timeout_us), for budgets
   * under a millisecond; when set it wins over timeoutMs. @default unset
   */
  timeoutUs?: number;
  /** calling context. @default 'normal' */
  context?: KoffloadTestContext;
  /** request payload of every call. @default empty */
  payload?: Uint8Array;
  /** KOFFLOAD_TEST.runFlag bits, or their names. @default 0 */
  flags?: number | readonly KoffloadTestRunFlag[];
  /** advisory cache key, for context 'cache' */
  cacheKey?: Uint8Array;
  /** size of the reply buffer each call passes, 0..4096. @default 4096 */
  respSize?: number;
  /**
   * How long to wait for the RUN command's answer (for the simulator's
   * context 'self', which answers after the last call, this covers every
   * call's timeout).
   * @default the client's timeoutMs; for 'self' 10000 + calls * timeoutMs
   */
  requestTimeoutMs?: number;
  /**
   * Context 'self' on koffload_test.ko: make the calls (write the run id
   * to the module's trigger file) before run() resolves; false leaves the
   * run waiting for {@link KtestClient.triggerSelf}.
   * @default true
   */
  trigger?: boolean;
}

export interface RunResult {
  done: boolean;
  /** outcome counts of the run's calls so far */
  outcomes: Record<Outcome, bigint>;
  /** longest time one call waited, ns */
  maxWaitNs: bigint;
  /** longest wait by outcome, ns (zero for outcomes no call had) */
  outcomeMaxWaitNs: Record<Outcome, bigint>;
  /** sum of all calls' waits, ns */
  totalWaitNs: bigint;
  /** served replies that were intact (flag checkEcho) or cache hits (context 'cache') */
  intact: bigint;
  /** the last served payload */
  lastPayload?: Buffer;
}

export interface WaitOptions {
  /** pause between polls, ms. @default 20 */
  pollMs?: number;
  /** give up after this long with KOFFLOAD_ERR_TIMEOUT, ms. @default 60000 */
  timeoutMs?: number;
}

function flagsValue(flags: number | readonly KoffloadTestRunFlag[] | undefined): number {
  if (flags === undefined) return 0;
  if (typeof flags === 'number') return flags;
  let v = 0;
  for (const f of flags) {
    if (!(f in KOFFLOAD_TEST.runFlag)) throw new KoffloadError('KOFFLOAD_ERR_INVALID_ARG', `unknown run flag '${String(f)}'`);
    v |= KOFFLOAD_TEST.runFlag[f];
  }
  return v;
}

/** Decodes one RESULT reply. */
export function parseRunResult(msg: GenlMessage): RunResult {
  const { values: v } = decodeAttrs(msg.attrs, SPEC);
  if (v.done === undefined) throw new WireError('RESULT reply without done');
  const res: RunResult = {
    done: v.done !== 0,
    outcomes: decodeU64Nest(v.outcomes ?? Buffer.alloc(0), KOFFLOAD.outcomeKeys),
    maxWaitNs: v.maxWaitNs ?? 0n,
    outcomeMaxWaitNs: decodeU64Nest(v.outcomeMaxWaitNs ?? Buffer.alloc(0), KOFFLOAD.outcomeKeys),
    totalWaitNs: v.totalWaitNs ?? 0n,
    intact: v.intact ?? 0n,
  };
  if (v.lastPayload !== undefined) res.lastPayload = v.lastPayload;
  return res;
}

export class KtestClient {
  /** context 'self' runs whose calls wait for their trigger file */
  private readonly selfTriggers = new Map<number, string>();

  private constructor(
    private readonly genl: GenlClient,
    readonly familyId: number,
  ) {}

  /** Rejects with KOFFLOAD_ERR_NO_FAMILY when koffload_test.ko is not loaded. */
  static async open(options: KtestClientOptions = {}): Promise<KtestClient> {
    const { genl, familyId } = await openFamily(KOFFLOAD_TEST.familyName, options);
    return new KtestClient(genl, familyId);
  }

  get portId(): number {
    return this.genl.portId;
  }

  private async req(cmd: number, attrs: AttrInputs<Spec>, timeoutMs?: number): Promise<GenlMessage> {
    const opts = timeoutMs === undefined ? { version: KOFFLOAD_TEST.version } : { version: KOFFLOAD_TEST.version, timeoutMs };
    const msgs = await this.genl.request(this.familyId, cmd, encodeAttrs(SPEC, attrs), opts);
    const m = msgs[0];
    if (!m) throw new WireError(`koffload_test command ${cmd} answered without a reply message`);
    return m;
  }

  /** Starts a run and resolves with its id (context 'self': after the run, in this process). */
  async run(options: RunOptions): Promise<number> {
    const context = options.context ?? 'normal';
    if (!(context in KOFFLOAD_TEST.context)) throw new KoffloadError('KOFFLOAD_ERR_INVALID_ARG', `unknown context '${String(context)}'`);
    const timeoutMs = options.timeoutMs ?? 1000;
    let requestTimeoutMs = options.requestTimeoutMs;
    if (requestTimeoutMs === undefined && context === 'self') {
      requestTimeoutMs = Math.min(MAX_TIMER_MS, 10_000 + options.calls * timeoutMs);
    }
    const m = await this.req(
      KOFFLOAD_TEST.cmd.run,
      {
        subsys: options.subsys,
        op: options.op,
        calls: options.calls,
        threads: options.threads ?? 1,
        timeoutMs,
        context: KOFFLOAD_TEST.context[context],
        payload: options.payload ?? Buffer.alloc(0),
        flags: flagsValue(options.flags),
        cacheKey: options.cacheKey,
        respSize: options.respSize,
        timeoutUs: options.timeoutUs,
      },
      requestTimeoutMs,
    );
    const { values } = decodeAttrs(m.attrs, SPEC);
    if (values.runId === undefined) throw new WireError('RUN reply without run-id');
    // koffload_test.ko makes context self's calls when this process writes
    // the run id to its debugfs file (outside every genl lock); the write
    // returns after the last call
    if (values.selfTrigger !== undefined) {
      this.selfTriggers.set(values.runId, values.selfTrigger);
      if (options.trigger ?? true) this.triggerSelf(values.runId);
    }
    return values.runId;
  }

  /**
   * Makes the calls of a context 'self' run of koffload_test.ko that was
   * started with `trigger: false`, in this process; returns after the last.
   */
  triggerSelf(runId: number): void {
    const file = this.selfTriggers.get(runId);
    if (file === undefined) throw new KoffloadError('KOFFLOAD_ERR_INVALID_ARG', `run ${runId} is not a context self run waiting for its trigger`);
    this.selfTriggers.delete(runId);
    writeFileSync(join(DEBUGFS, file), String(runId));
  }

  /** A run's state; the kernel forgets a done run once it has been read. */
  async result(runId: number): Promise<RunResult> {
    return parseRunResult(await this.req(KOFFLOAD_TEST.cmd.result, { runId }));
  }

  /** Polls result() until the run is done. */
  async waitResult(runId: number, options: WaitOptions = {}): Promise<RunResult> {
    const pollMs = options.pollMs ?? 20;
    const timeoutMs = options.timeoutMs ?? 60_000;
    const end = Date.now() + timeoutMs;
    for (;;) {
      const r = await this.result(runId);
      if (r.done) return r;
      if (Date.now() >= end) throw new KoffloadError('KOFFLOAD_ERR_TIMEOUT', `run ${runId} not done after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
  }

  close(): void {
    this.genl.close();
  }
}
