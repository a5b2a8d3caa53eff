/**
 * The simulated koffload_test.ko: family "koffload_test" (RUN, RESULT) and
 * its in-kernel callers. A run's "kernel threads" are async tasks making
 * calls one after another through SimCore.call(), each with its deadline
 * on a timer; they yield to the event loop every few calls, as the kthreads
 * cond_resched(). Context 'self' runs inside the RUN command, as the
 * process that sent RUN, before the reply, like the module.
 *
 * Lifetime (as in koffload_test.c): runs live in the table until a RESULT
 * reads them done, or until the module exits; a worker never frees its run.
 */
import { KOFFLOAD, KOFFLOAD_TEST } from '../generated/wire.js';
import { encodeU64Nest, putAttr, putU32, putU64 } from '../netlink/codec.js';
import { type CallerContext, type ContextName as CallContext, type KCall, type OutcomeKey, type SimCore, type Subsys, contextOf } from './core.js';
import { type GenlInfo, type SimFamily, getU32, reqAttrMissing, setErrAttr } from './genl.js';
import { policyFromSpec } from './policy.js';
import { ERRNO } from './transport.js';

const A = KOFFLOAD_TEST.attr;
const CTX = KOFFLOAD_TEST.context;
const FLAG = KOFFLOAD_TEST.runFlag;
const L = KOFFLOAD.limits;
/** calls a worker makes before it yields to the event loop */
const YIELD_EVERY = 16;

type ContextName = keyof typeof CTX;

interface Run {
  id: number;
  ks: Subsys;
  op: number;
  calls: number;
  timeoutMs: number;
  timeoutUs: number;
  respSize: number;
  context: ContextName;
  flags: number;
  data: Buffer;
  key: Buffer;
  nrWorkers: number;
  running: number;
  done: boolean;
  interrupted: boolean;
  seq: bigint;
  started: bigint;
  outcomes: Record<OutcomeKey, bigint>;
  outcomeMaxNs: Record<OutcomeKey, bigint>;
  maxWaitNs: bigint;
  totalWaitNs: bigint;
  intact: bigint;
  last: Buffer | undefined;
  workers: Promise<void>[];
}

const zeros = (): Record<OutcomeKey, bigint> => Object.fromEntries(KOFFLOAD.outcomeKeys.map((k) => [k, 0n])) as Record<OutcomeKey, bigint>;

// ---------------------------------------------------------------- protobuf (koffload_pb.h)

function putVarint(out: number[], v: bigint): void {
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
}

/** koffload_test_encode(): EchoRequest { data = 1; seq = 2 } */
export function encodeEchoRequest(data: Buffer, seq: bigint): Buffer {
  const out: number[] = [];
  if (data.length) {
    out.push(0x0a);
    putVarint(out, BigInt(data.length));
    for (const b of data) out.push(b);
  }
  out.push(0x10);
  putVarint(out, seq);
  return Buffer.from(out);
}

/** koffload_test_echo_ok(): an EchoResponse with the run's data and `seq`. */
export function echoOk(buf: Buffer, data: Buffer, seq: bigint): boolean {
  let off = 0;
  let gotSeq = 0n;
  let got: Buffer = Buffer.alloc(0);
  const varint = (): bigint | undefined => {
    let v = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (off >= buf.length) return undefined;
      const b = buf[off++]!;
      v |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return v & 0xffffffffffffffffn;
    }
    return undefined;
  };
  while (off < buf.length) {
    const tag = varint();
    if (tag === undefined) return false;
    const field = tag >> 3n;
    const wire = Number(tag & 7n);
    if (field === 0n) return false;
    if (field === 1n) {
      if (wire !== 2) return false;
      const n = varint();
      if (n === undefined || BigInt(buf.length - off) < n) return false;
      got = buf.subarray(off, off + Number(n));
      off += Number(n);
    } else if (field === 2n) {
      if (wire !== 0) return false;
      const v = varint();
      if (v === undefined) return false;
      gotSeq = v;
    } else if (wire === 0) {
      if (varint() === undefined) return false;
    } else if (wire === 1 || wire === 5) {
      off += wire === 1 ? 8 : 4;
      if (off > buf.length) return false;
    } else if (wire === 2) {
      const n = varint();
      if (n === undefined || BigInt(buf.length - off) < n) return false;
      off += Number(n);
    } else return false;
  }
  return gotSeq === seq && got.length === data.length && got.equals(data);
}

// ---------------------------------------------------------------- the module

export interface KtestModuleOptions {
  /** names of the subsystems RUN may name */
  subsystems: Subsys[];
  log: (line: string) => void;
}

export class KtestModule {
  private readonly runs: Run[] = [];
  private lastId = 0;
  private exiting = false;

  constructor(
    private readonly core: SimCore,
    private readonly opts: KtestModuleOptions,
  ) {}

  /** Family koffload_test with id `id`. */
  family(id: number): SimFamily {
    return {
      name: KOFFLOAD_TEST.familyName,
      id,
      version: KOFFLOAD_TEST.version,
      policy: policyFromSpec(KOFFLOAD_TEST.attrSpec),
      resvStartOp: KOFFLOAD_TEST.cmd.run,
      ops: new Map([
        [KOFFLOAD_TEST.cmd.run, { cmd: KOFFLOAD_TEST.cmd.run, admin: true, doit: (info: GenlInfo) => this.runDoit(info) }],
        [KOFFLOAD_TEST.cmd.result, { cmd: KOFFLOAD_TEST.cmd.result, admin: true, doit: (info: GenlInfo) => this.resultDoit(info) }],
      ]),
    };
  }

  /** koffload_test_parse() */
  private parse(info: GenlInfo): Run | number {
    if (reqAttrMissing(info, A.subsys) || reqAttrMissing(info, A.calls)) return -ERRNO.EINVAL;
    // nla_strcmp(): the whole attribute less one trailing NUL (not up to the first NUL)
    const raw = info.attrs.get(A.subsys)!.data;
    const name = raw.length > 0 && raw[raw.length - 1] === 0 ? raw.subarray(0, raw.length - 1) : raw;
    const ks = this.opts.subsystems.find((s) => s.nameBytes.equals(name));
    if (!ks) {
      setErrAttr(info, A.subsys, 'no such test subsystem');
      return -ERRNO.ENOENT;
    }
    let nrWorkers = 1;
    if (info.attrs.has(A.threads)) {
      nrWorkers = getU32(info, A.threads)!;
      if (!nrWorkers) {
        setErrAttr(info, A.threads, 'threads must be 1 or more');
        return -ERRNO.EINVAL;
      }
    }
    const context = KOFFLOAD_TEST.contextKeys[getU32(info, A.context) ?? CTX.normal]!;
    if (context === 'self') nrWorkers = 1;
    const flags = getU32(info, A.flags) ?? 0;
    if (flags & ~KOFFLOAD_TEST.runFlagAll) {
      setErrAttr(info, A.flags, 'unknown flags');
      return -ERRNO.EINVAL;
    }
    let key = Buffer.alloc(0);
    if (context === 'cache') {
      if (reqAttrMissing(info, A.cacheKey)) return -ERRNO.EINVAL;
      key = Buffer.from(info.attrs.get(A.cacheKey)!.data);
      if (!key.length) {
        setErrAttr(info, A.cacheKey, 'cache key must not be empty');
        return -ERRNO.EINVAL;
      }
    }
    return {
      id: 0,
      ks,
      op: getU32(info, A.op) ?? 1,
      calls: getU32(info, A.calls)!,
      timeoutMs: getU32(info, A.timeoutMs) ?? 0,
      timeoutUs: getU32(info, A.timeoutUs) ?? 0,
      respSize: getU32(info, A.respSize) ?? L.payloadMax,
      context,
      flags,
      data: Buffer.from(info.attrs.get(A.payload)?.data ?? Buffer.alloc(0)),
      key,
      nrWorkers,
      running: nrWorkers,
      done: false,
      interrupted: false,
      seq: 0n,
      started: 0n,
      outcomes: zeros(),
      outcomeMaxNs: zeros(),
      maxWaitNs: 0n,
      totalWaitNs: 0n,
      intact: 0n,
      last: undefined,
      workers: [],
    };
  }

  private noteWait(run: Run, ns: bigint): void {
    run.totalWaitNs += ns;
    if (ns > run.maxWaitNs) run.maxWaitNs = ns;
  }

  /** One call of `run` (koffload_test_call()). */
  private async callOnce(run: Run, ctx: CallerContext): Promise<void> {
    if (run.context === 'cache') {
      const start = process.hrtime.bigint();
      const r = this.core.cacheLookup(run.ks, run.key, L.payloadMax);
      this.noteWait(run, process.hrtime.bigint() - start);
      if (r instanceof Buffer) {
        run.intact++;
        run.last = r;
      }
      return;
    }
    const seq = ++run.seq;
    // flag raw: the payload is the request, already encoded by the caller
    const req = run.flags & FLAG.raw ? run.data : encodeEchoRequest(run.data, seq);
    if (run.context === 'advise') {
      // koffload_test_advise(): from reclaim; intact counts those sent
      const start = process.hrtime.bigint();
      const err = await this.core.advise(run.ks, run.op, req);
      this.noteWait(run, process.hrtime.bigint() - start);
      if (!err) run.intact++;
      return;
    }
    const kc: KCall = { op: run.op, timeoutMs: run.timeoutMs, timeoutUs: run.timeoutUs, req, respSize: run.respSize };
    if (run.flags & FLAG.advise) {
      // flag advise: koffload_advise() in the run's context; intact counts those sent
      const start = process.hrtime.bigint();
      const err = await this.core.advise(run.ks, run.op, req, ctx);
      this.noteWait(run, process.hrtime.bigint() - start);
      if (!err) run.intact++;
      return;
    }
    if (run.flags & FLAG.sendDefault) kc.default = req;
    run.started++;
    const res = await this.core.call(run.ks, kc, ctx);
    run.outcomes[res.outcome]++;
    this.noteWait(run, res.waitNs);
    if (res.waitNs > run.outcomeMaxNs[res.outcome]) run.outcomeMaxNs[res.outcome] = res.waitNs;
    if (res.outcome !== 'served') return;
    const resp = res.resp ?? Buffer.alloc(0);
    if (run.flags & FLAG.checkEcho && echoOk(resp, run.data, seq)) run.intact++;
    run.last = resp;
  }

  private workerDone(run: Run): void {
    if (--run.running === 0) run.done = true;
  }

  /** koffload_test_thread(): a kernel thread's calls. */
  private async worker(run: Run, calls: number): Promise<void> {
    // the thread starts after the RUN reply went out
    await new Promise<void>((r) => setImmediate(r));
    const ctx = run.context === 'self' || run.context === 'cache' || run.context === 'advise' ? contextOf('normal') : contextOf(run.context as CallContext);
    for (let i = 0; i < calls && !this.exiting; i++) {
      await this.callOnce(run, ctx);
      if (i % YIELD_EVERY === YIELD_EVERY - 1) await new Promise<void>((r) => setImmediate(r));
    }
    this.workerDone(run);
  }

  private async runDoit(info: GenlInfo): Promise<{ err: number; replies?: Buffer[][] }> {
    const run = this.parse(info);
    if (typeof run === 'number') return { err: run };
    if (this.exiting) {
      info.extack.msg = 'koffload_test is unloading';
      return { err: -ERRNO.ESHUTDOWN };
    }
    if (this.runs.length >= KOFFLOAD_TEST.limits.runsMax) {
      info.extack.msg = 'too many runs kept; read their results';
      return { err: -ERRNO.EBUSY };
    }
    do {
      this.lastId = (this.lastId + 1) >>> 0 || 1;
    } while (this.runs.some((r) => r.id === this.lastId));
    run.id = this.lastId;
    this.runs.push(run);

    if (run.context === 'self') {
      // the calls are made by the process that sent RUN, before the reply
      const ctx = contextOf('normal', info.peer?.pid ?? 0);
      for (let i = 0; i < run.calls && !this.exiting; i++) {
        await this.callOnce(run, ctx);
        if (i % YIELD_EVERY === YIELD_EVERY - 1) await new Promise<void>((r) => setImmediate(r));
      }
      this.workerDone(run);
    } else {
      for (let i = 0; i < run.nrWorkers; i++) {
        const calls = Math.floor(run.calls / run.nrWorkers) + (i < run.calls % run.nrWorkers ? 1 : 0);
        run.workers.push(this.worker(run, calls));
      }
    }
    return { err: 0, replies: [[putU32(A.runId, run.id)]] };
  }

  private resultDoit(info: GenlInfo): { err: number; replies?: Buffer[][] } {
    if (reqAttrMissing(info, A.runId)) return { err: -ERRNO.EINVAL };
    const id = getU32(info, A.runId)!;
    const run = this.runs.find((r) => r.id === id);
    if (!run) {
      setErrAttr(info, A.runId, 'no such run');
      return { err: -ERRNO.ENOENT };
    }
    const done = run.done;
    const attrs = [
      putU32(A.runId, run.id),
      putU32(A.done, done ? 1 : 0),
      putU64(A.maxWaitNs, run.maxWaitNs),
      putU64(A.totalWaitNs, run.totalWaitNs),
      putU64(A.intact, run.intact),
      encodeU64Nest(A.outcomes, KOFFLOAD.outcomeKeys.map((k) => run.outcomes[k])),
      encodeU64Nest(A.outcomeMaxWaitNs, KOFFLOAD.outcomeKeys.map((k) => run.outcomeMaxNs[k])),
    ];
    if (run.last !== undefined) attrs.push(putAttr(A.lastPayload, run.last));
    // a done run is forgotten once its result went out
    if (done) this.runs.splice(this.runs.indexOf(run), 1);
    return { err: 0, replies: [attrs] };
  }

  /**
   * Module exit (koffload_test_exit()): no new RUN, workers stop after
   * their current call, the subsystems are unregistered (pending calls end
   * with shutdown), then every run left is reported and dropped.
   */
  async exit(unregister: () => Promise<void>): Promise<void> {
    this.exiting = true;
    for (const run of this.runs) run.interrupted = !run.done;
    await unregister();
    await Promise.all(this.runs.flatMap((r) => r.workers));
    for (const run of this.runs.splice(0)) {
      let ended = 0n;
      const parts: string[] = [];
      KOFFLOAD.outcomeKeys.forEach((k, i) => {
        const n = run.outcomes[k];
        if (!n) return;
        ended += n;
        parts.push(` ${i}=${n}`);
      });
      this.opts.log(
        `koffload_test: run ${run.id} ${run.ks.name} context ${run.context} ${run.interrupted ? 'interrupted' : 'finished'} at unload: started=${run.started} ended=${ended} outcomes:${parts.join('')}`,
      );
    }
  }
}
