// The koffload conformance suite, one file for two kernels: in-kernel
// callers of koffload_test.ko (or of the simulator) call koffload_call() in
// chosen contexts, this process (or a child) plays the handler, and after
// every test the kernel's own counters must agree exactly with what the runs
// reported, with nothing left pending.
//   KOFFLOAD_TARGET=kernel: inside the QEMU guest (`npm run test:kernel`);
//   otherwise: against the simulator (`npm test`), see env.ts.
// A behaviour that differs between the two is a bug in one of them; where
// a test cannot apply to one target it says why (and has a counterpart).
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';

import { KoffloadClient, type ReplyErrorEvent } from '../../src/kernel/client.js';
import { KtestClient, type RunResult } from '../../src/kernel/test-client.js';
import { KOFFLOAD, KOFFLOAD_TEST } from '../../src/generated/wire.js';
import { errnoName } from '../../src/errors.js';
import { openFamily } from '../../src/kernel/family.js';
import { openGenlSocket } from '../../src/netlink/socket.js';
import { NLM_F, align4, decodeNlError, decodeNlMessages, decodeRawAttrs, encodeGenlMsg, putAttr, putString, putU32, putU64 } from '../../src/netlink/codec.js';
import type { InprocSocket } from '../../src/sim/index.js';
import {
  ChildHandler, EchoRequest, EchoResponse, Handler, Ledger, TARGET_KIND, decline, echo, fail, familyPort, hang, longestWaitNs, ms, nlmonUp,
  nonZero, openTarget, probeBinary, reregister, runUnprivileged, sleep, slabObjects, stallMeters, taint, target, totals, waitFor, within, OUTCOME_KEYS,
  type StallReading,
} from './env.js';
import { skipBecause } from '../skip.js';

const OP_ECHO = 1;

const ECHO = KOFFLOAD_TEST.runFlag.checkEcho;

describe(`koffload conformance (${TARGET_KIND === 'kernel' ? 'koffload.ko' : 'simulator'})`, function () {
  let kclient: KoffloadClient;
  let ktest: KtestClient;
  let ledger: Ledger;
  const handlers: Array<{ close(): void }> = [];
  const children: ChildHandler[] = [];

  async function handler(...args: Parameters<typeof Handler.bind>): Promise<Handler> {
    const h = await Handler.bind(...args);
    handlers.push(h);
    return h;
  }

  async function openClients(): Promise<void> {
    await openTarget();
    kclient = await KoffloadClient.open(target().koffload());
    ktest = await KtestClient.open(target().ktest());
    ledger = new Ledger(kclient, ktest);
  }

  before(async () => {
    await openClients();
  });

  beforeEach(async () => {
    await ledger.checkpoint();
  });

  afterEach(async () => {
    for (const c of children.splice(0)) await c.kill();
    for (const h of handlers.splice(0)) h.close();
    // closing the handler sockets released every binding
    for (const name of ['ktest', 'ktest2'] as const) {
      await waitFor(`${name} unbound`, async () => !(await kclient.getSubsys(name)).bound);
    }
    await ledger.verify();
    // the mode is the admin's and outlives bindings: every test starts from on
    for (const name of ['ktest', 'ktest2'] as const) await kclient.setMode((await kclient.getSubsys(name)).subsysId, 'on', 1000);
  });

  after(async () => {
    const lines = OUTCOME_KEYS.filter((k) => totals[k] > 0n).map((k) => {
      const w = longestWaitNs.get(k);
      return `  ${k.padEnd(14)} ${String(totals[k]).padStart(7)} calls   longest wait ${w === undefined ? '-' : `${ms(w).toFixed(2)} ms`}`;
    });
    console.log(`\nper-outcome counts over the suite, with the longest wait of one call:\n${lines.join('\n')}\n`);
    kclient?.close();
    ktest?.close();
    await target().close();
  });

  it('serves calls with payloads intact', async () => {
    const h = await handler('ktest', echo);
    const res = await ledger.run({ subsys: 'ktest', op: OP_ECHO, calls: 400, threads: 4, timeoutMs: 5000, context: 'normal', payload: Buffer.from('segment-42'), flags: ECHO });
    assert.deepEqual(nonZero(res.outcomes), { served: 400n });
    assert.equal(res.intact, 400n);
    const last = EchoResponse.decode(res.lastPayload!) as unknown as { data: Uint8Array };
    assert.equal(Buffer.from(last.data).toString(), 'segment-42');
    assert.equal(h.requests.length, 400);
    const d = await ledger.delta('ktest');
    assert.equal(d.counters.requestsSent, 400n);
  });

  it('sends a raw payload unchanged as the request', async () => {
    const h = await handler('ktest', echo);
    const raw = Buffer.from(EchoRequest.encode(EchoRequest.fromObject({ data: Buffer.from('as is'), seq: 77 })).finish());
    const res = await ledger.run({ subsys: 'ktest', op: OP_ECHO, calls: 3, threads: 1, timeoutMs: 5000, context: 'normal', payload: raw, flags: KOFFLOAD_TEST.runFlag.raw });
    assert.deepEqual(nonZero(res.outcomes), { served: 3n });
    assert.equal(h.requests.length, 3);
    for (const r of h.requests) assert.deepEqual(r.payload, raw);
  });

  it('sends the caller default and op with each request', async () => {
    const h = await handler('ktest', echo);
    await ledger.run({ subsys: 'ktest', op: OP_ECHO, calls: 5, threads: 1, timeoutMs: 5000, context: 'normal', payload: Buffer.from('d'), flags: ECHO | KOFFLOAD_TEST.runFlag.sendDefault });
    assert.equal(h.requests.length, 5);
    for (const r of h.requests) {
      assert.equal(r.op, OP_ECHO);
      assert.ok(r.flags & KOFFLOAD.reqFlag.hasDefault);
      assert.ok(r.default && r.default.length > 0);
      assert.ok(r.deadlineNs > process.hrtime.bigint() - 60_000_000_000n, 'deadline is on CLOCK_MONOTONIC');
    }
  });

  it('falls back at once when no handler is bound', async () => {
    const res = await ledger.run({ subsys: 'ktest2', op: OP_ECHO, calls: 100, threads: 2, timeoutMs: 5000, context: 'normal', payload: Buffer.from('x'), flags: 0 });
    assert.deepEqual(nonZero(res.outcomes), { noHandler: 100n });
    assert.ok(ms(res.maxWaitNs) < 50, `longest wait ${ms(res.maxWaitNs)} ms`);
  });

  it('passes a declined call and a handler error back as such', async () => {
    const h = await handler('ktest', decline);
    let res = await ledger.run({ subsys: 'ktest', op: OP_ECHO, calls: 3, threads: 1, timeoutMs: 5000, context: 'normal', payload: Buffer.from('x'), flags: 0 });
    assert.deepEqual(nonZero(res.outcomes), { declined: 3n });
    h.behaviour = fail;
    res = await ledger.run({ subsys: 'ktest', op: OP_ECHO, calls: 3, threads: 1, timeoutMs: 5000, context: 'normal', payload: Buffer.from('x'), flags: 0 });
    assert.deepEqual(nonZero(res.outcomes), { handlerError: 3n });
  });

  it('costs a hung handler its deadline and no more, and drops late replies', async () => {
    const h = await handler('ktest', hang);
    const timeoutMs = 300;
    // one call per thread, all admitted before the first deadline opens the circuit
    const res = await ledger.run({ subsys: 'ktest', op: OP_ECHO, calls: 8, threads: 8, timeoutMs, context: 'normal', payload: Buffer.from('x'), flags: 0 });
    assert.deepEqual(nonZero(res.outcomes), { deadline: 8n });
    // jiffies round the wait down; scheduling in an emulated guest adds a little
    assert.ok(ms(res.maxWaitNs) <= timeoutMs + 50, `longest wait ${ms(res.maxWaitNs)} ms for a ${timeoutMs} ms deadline`);
    assert.ok(ms(res.maxWaitNs) >= timeoutMs - 10, `gave up early: ${ms(res.maxWaitNs)} ms`);
    // late replies are rejected and counted, never written anywhere
    for (const req of h.held) {
      await assert.rejects(h.client.replyAck(req.reqId, KOFFLOAD.status.ok, Buffer.alloc(4)), (e: { errnoCode?: string }) => e.errnoCode === 'ENOENT');
    }
    const d = await ledger.delta('ktest');
    assert.equal(d.counters.lateReplies, 8n);
  });

  it('releases every pending call at once when the handler is killed', async () => {
    // in memory there is no other process to kill: closing the handler's
    // socket is the same release
    let kill: () => Promise<void>;
    if (target().children) {
      const child = await ChildHandler.start('ktest');
      children.push(child);
      kill = () => child.kill('SIGKILL');
    } else {
      const h = await handler('ktest', hang);
      kill = () => Promise.resolve(h.close());
    }
    const runId = await ktest.run({ subsys: 'ktest', op: OP_ECHO, calls: 8, threads: 8, timeoutMs: 20_000, context: 'normal', payload: Buffer.from('x'), flags: 0 });
    await waitFor('8 calls pending', async () => (await kclient.getSubsys('ktest')).pending === 8);
    await kill();
    const res = await ledger.finish('ktest', runId);
    assert.deepEqual(nonZero(res.outcomes), { handlerDied: 8n });
    assert.ok(ms(res.maxWaitNs) < 10_000, `waited ${ms(res.maxWaitNs)} ms of a 20 s deadline`);
    const d = await ledger.delta('ktest');
    assert.equal(d.counters.releases, 1n);
    assert.equal(d.now.portid, 0, 'binding cleared');
  });

  for (const [context, outcome] of [['atomic', 'atomic'], ['noreclaim', 'reclaim'], ['nofs', 'reclaim']] as const) {
    it(`never reaches userspace from a ${context} caller`, async () => {
      const h = await handler('ktest', echo);
      const res = await ledger.run({ subsys: 'ktest', op: OP_ECHO, calls: 50, threads: 2, timeoutMs: 5000, context, payload: Buffer.from('x'), flags: 0 });
      assert.deepEqual(nonZero(res.outcomes), { [outcome]: 50n });
      assert.equal(h.requests.length, 0);
      assert.equal((await ledger.delta('ktest')).counters.requestsSent, 0n);
    });
  }

  it("never waits on the handler's own process", async () => {
    // the RUN below is sent by this process, which is also the bound handler
    const h = await handler('ktest', echo);
    const res = await ledger.run({ subsys: 'ktest', op: OP_ECHO, calls: 20, threads: 1, timeoutMs: 5000, context: 'self', payload: Buffer.from('x'), flags: 0 });
    assert.deepEqual(nonZero(res.outcomes), { recursion: 20n });
    assert.equal(h.requests.length, 0);
  });

  it('falls back at once past the in-flight cap', async () => {
    const h = await handler('ktest', hang, { maxInflight: 4 });
    const res = await ledger.run({ subsys: 'ktest', op: OP_ECHO, calls: 24, threads: 24, timeoutMs: 3000, context: 'normal', payload: Buffer.from('x'), flags: 0 });
    assert.equal(res.outcomes.deadline, 4n);
    assert.equal(res.outcomes.overload, 20n);
    assert.equal(h.requests.length, 4);
  });

  it('falls back at once when the handler socket buffer is full', async () => {
    // a stopped handler process; in memory, a paused socket
    let resume: () => void;
    if (target().children) {
      const child = await ChildHandler.start('ktest', 4096);
      children.push(child);
      child.proc.kill('SIGSTOP');
      resume = () => child.proc.kill('SIGCONT');
    } else {
      const opts = target().koffload({ recvBufferSize: 4096 });
      const sock = opts.socket as InprocSocket;
      await handler('ktest', hang, {}, opts);
      sock.pause();
      resume = () => sock.resume();
    }
    try {
      const res = await ledger.run({ subsys: 'ktest', op: OP_ECHO, calls: 256, threads: 32, timeoutMs: 1000, context: 'normal', payload: Buffer.alloc(512, 1), flags: 0 });
      const d = await ledger.delta('ktest');
      // calls that fitted in the buffer time out, and enough of those open the circuit
      assert.equal(res.outcomes.overload + res.outcomes.deadline + res.outcomes.circuitOpen, 256n);
      assert.ok(res.outcomes.overload >= 128n, `overload ${res.outcomes.overload}`);
      // only what fitted in the buffer was sent, and those waited out their deadline
      assert.equal(d.counters.requestsSent, res.outcomes.deadline);
    } finally {
      resume();
    }
  });

  it('rejects and counts forged, unknown and finished replies', async () => {
    const h = await handler('ktest', hang);
    const runId = await ktest.run({ subsys: 'ktest', op: OP_ECHO, calls: 1, threads: 1, timeoutMs: 20_000, context: 'normal', payload: Buffer.from('x'), flags: 0 });
    await waitFor('request seen', () => h.held.length === 1);
    const req = h.held[0]!;
    const forger = await KoffloadClient.open(target().koffload());
    try {
      await assert.rejects(forger.replyAck(req.reqId, KOFFLOAD.status.ok, Buffer.from('forged')), (e: { errnoCode?: string }) => e.errnoCode === 'EPERM');
    } finally {
      forger.close();
    }
    assert.equal((await kclient.getSubsys('ktest')).pending, 1, 'a forged reply claims nothing');
    await assert.rejects(h.client.replyAck(req.reqId + 1000n, KOFFLOAD.status.ok, Buffer.alloc(0)), (e: { errnoCode?: string }) => e.errnoCode === 'ENOENT');
    await h.client.replyAck(req.reqId, KOFFLOAD.status.decline);
    await assert.rejects(h.client.replyAck(req.reqId, KOFFLOAD.status.ok, Buffer.alloc(0)), (e: { errnoCode?: string }) => e.errnoCode === 'ENOENT');
    const res = await ledger.finish('ktest', runId);
    assert.deepEqual(nonZero(res.outcomes), { declined: 1n });
    const d = await ledger.delta('ktest');
    assert.equal(d.counters.foreignReplies, 1n);
    assert.equal(d.counters.lateReplies, 2n);
  });

  it('treats a reply too large for the caller buffer as malformed, and tells the handler which', async () => {
    // a handler's socket has NETLINK_CAP_ACK: the error answers carry no copy of the reply
    const opts = target().koffload();
    const sock = opts.socket ?? openGenlSocket({ capAck: true });
    const raw: Buffer[] = [];
    // the socket's receive buffer is reused by its next crossing: keep copies
    sock.on('datagram', (d: Buffer) => raw.push(Buffer.from(d)));
    const h = await handler('ktest', () => ({ status: KOFFLOAD.status.ok, payload: Buffer.alloc(2000, 7) }), {}, { ...opts, socket: sock });
    const errs: ReplyErrorEvent[] = [];
    h.client.on('replyError', (e) => errs.push(e));
    const res = await ledger.run({ subsys: 'ktest', op: OP_ECHO, calls: 2, threads: 1, timeoutMs: 5000, context: 'normal', payload: Buffer.from('x'), flags: 0, respSize: 64 });
    assert.deepEqual(nonZero(res.outcomes), { malformed: 2n });
    assert.equal((await ledger.delta('ktest')).counters.badReplies, 2n);
    await waitFor('two reply errors', () => errs.length === 2);
    assert.deepEqual(errs.map((e) => e.code), ['EMSGSIZE', 'EMSGSIZE']);
    assert.deepEqual(errs.map((e) => e.reqId), h.requests.map((r) => r.reqId), 'each error names its request');
    if (target().kind === 'kernel') {
      // the error answers (the socket's own requests also got ACKs, error 0)
      const acks = raw.flatMap((d) => decodeNlMessages(d)).filter((m) => m.header.type === 2 && decodeNlError(m).errno !== 0);
      assert.equal(acks.length, 2);
      for (const m of acks) {
        assert.ok(m.header.flags & NLM_F.CAPPED, 'error answer is capped');
        assert.ok(m.header.len < 256, `error answer of ${m.header.len} bytes echoes the reply`);
      }
    }
  });

  it('refuses bind, reply, publish and mode changes from an unprivileged process, and hides the handler', async () => {
    const h = await handler('ktest', echo);
    let r: Record<string, unknown>;
    if (target().kind === 'kernel') {
      r = runUnprivileged('ktest');
      // bound, but the handler's port and pid are for CAP_NET_ADMIN only
      assert.deepEqual(r, {
        get: 'OK', bind: 'EPERM', reply: 'EPERM', publish: 'EPERM', setMode: 'EPERM', unbind: 'EPERM', seen: { bound: true, portid: 0, boundPid: 0 },
      });
    } else if (target().children) {
      // Without CAP_NET_ADMIN the kernel refuses any unicast to a user
      // port (netlink_sendmsg: NL_CFG_F_NONROOT_SEND is not set for
      // NETLINK_GENERIC), so an unprivileged process cannot reach a
      // netlink simulator at all, not even for GET.
      r = runUnprivileged('ktest');
      assert.deepEqual(r, {
        get: 'EPERM', bind: 'EPERM', reply: 'EPERM', publish: 'EPERM', setMode: 'EPERM', unbind: 'EPERM', seen: { bound: false, portid: -1, boundPid: -1 },
      });
    } else {
      // in memory: a socket that lacks CAP_NET_ADMIN meets the simulator's own check
      const c = await KoffloadClient.open(target().koffload({ privileged: false }));
      const code = async (f: () => Promise<unknown>): Promise<string> => {
        try {
          await f();
          return 'OK';
        } catch (e) {
          return (e as { errnoCode?: string }).errnoCode ?? String(e);
        }
      };
      try {
        const info = await c.getSubsys('ktest');
        assert.deepEqual([info.bound, info.portid, info.boundPid], [true, 0, 0], 'the handler is hidden from a reader without CAP_NET_ADMIN');
        r = {
          get: await code(() => c.getSubsys('ktest')),
          bind: await code(() => c.bind({ name: 'ktest' })),
          reply: await code(() => c.replyAck((BigInt(h.subsysId) << 48n) | 1n, KOFFLOAD.status.ok, Buffer.alloc(0))),
          publish: await code(() => c.publish(h.subsysId, Buffer.from('k'), Buffer.from('v'), 1000)),
          setMode: await code(() => c.setMode(h.subsysId, 'off')),
          unbind: await code(() => c.unbind(h.subsysId)),
        };
      } finally {
        c.close();
      }
      assert.deepEqual(r, { get: 'OK', bind: 'EPERM', reply: 'EPERM', publish: 'EPERM', setMode: 'EPERM', unbind: 'EPERM' });
    }
    assert.equal((await kclient.getSubsys('ktest')).portid, h.client.portId, 'binding untouched');
  });

  it('refuses a second handler for a bound subsystem', async () => {
    const h = await handler('ktest', echo);
    const other = await KoffloadClient.open(target().koffload());
    try {
      await assert.rejects(other.bind({ name: 'ktest' }), (e: { errnoCode?: string }) => e.errnoCode === 'EBUSY');
      await assert.rejects(other.bind({ name: 'no-such-subsys' }), (e: { errnoCode?: string }) => e.errnoCode === 'ENOENT');
    } finally {
      other.close();
    }
    assert.equal((await kclient.getSubsys('ktest')).portid, h.client.portId);
  });

  it('opens the circuit after repeated failures and closes it after a good probe', async () => {
    const h = await handler('ktest', fail);
    let res = await ledger.run({ subsys: 'ktest', op: OP_ECHO, calls: 12, threads: 1, timeoutMs: 5000, context: 'normal', payload: Buffer.from('x'), flags: 0 });
    // default threshold: 5 consecutive failures
    assert.deepEqual(nonZero(res.outcomes), { handlerError: 5n, circuitOpen: 7n });
    let info = await kclient.getSubsys('ktest');
    assert.equal(info.circuit, 'open');
    h.behaviour = echo;
    await sleep(1100); // default cool-down: 1 s
    res = await ledger.run({ subsys: 'ktest', op: OP_ECHO, calls: 3, threads: 1, timeoutMs: 5000, context: 'normal', payload: Buffer.from('x'), flags: ECHO });
    assert.deepEqual(nonZero(res.outcomes), { served: 3n });
    info = await kclient.getSubsys('ktest');
    assert.equal(info.circuit, 'closed');
    assert.equal((await ledger.delta('ktest')).counters.circuitOpens, 1n);
  });

  it('answers from the advisory cache in reclaim context', async () => {
    const h = await handler('ktest', echo);
    await h.client.publish(h.subsysId, Buffer.from('victim'), Buffer.from('segment-7'), 60_000);
    let res = await ledger.run({ subsys: 'ktest', op: OP_ECHO, calls: 100, threads: 2, timeoutMs: 1000, context: 'cache', payload: Buffer.alloc(0), flags: 0, cacheKey: Buffer.from('victim') });
    assert.equal(res.intact, 100n);
    assert.equal(Buffer.from(res.lastPayload!).toString(), 'segment-7');
    res = await ledger.run({ subsys: 'ktest', op: OP_ECHO, calls: 10, threads: 1, timeoutMs: 1000, context: 'cache', payload: Buffer.alloc(0), flags: 0, cacheKey: Buffer.from('unknown') });
    assert.equal(res.intact, 0n);
    // a short TTL expires; TTL 0 deletes
    await h.client.publish(h.subsysId, Buffer.from('brief'), Buffer.from('v'), 100);
    await sleep(250);
    res = await ledger.run({ subsys: 'ktest', op: OP_ECHO, calls: 1, threads: 1, timeoutMs: 1000, context: 'cache', payload: Buffer.alloc(0), flags: 0, cacheKey: Buffer.from('brief') });
    assert.equal(res.intact, 0n);
    await h.client.publish(h.subsysId, Buffer.from('victim'), Buffer.alloc(0), 0);
    res = await ledger.run({ subsys: 'ktest', op: OP_ECHO, calls: 1, threads: 1, timeoutMs: 1000, context: 'cache', payload: Buffer.alloc(0), flags: 0, cacheKey: Buffer.from('victim') });
    assert.equal(res.intact, 0n);
    const d = await ledger.delta('ktest');
    assert.equal(d.counters.cacheHits, 100n);
    assert.equal(d.counters.cacheMisses, 12n);
    assert.equal(h.requests.length, 0);
  });

  it('shadow mode sends requests but never makes a caller wait', async () => {
    const h = await handler('ktest', hang, { mode: 'shadow' });
    const res = await ledger.run({ subsys: 'ktest', op: OP_ECHO, calls: 50, threads: 2, timeoutMs: 5000, context: 'normal', payload: Buffer.from('x'), flags: 0 });
    assert.deepEqual(nonZero(res.outcomes), { shadow: 50n });
    assert.ok(ms(res.maxWaitNs) < 100, `longest wait ${ms(res.maxWaitNs)} ms`);
    await waitFor('50 shadow requests', () => h.requests.length === 50);
    assert.ok(h.requests.every((r) => (r.flags & KOFFLOAD.reqFlag.shadow) !== 0));
  });

  it('mode off never asks userspace', async () => {
    const h = await handler('ktest', echo, { mode: 'off' });
    const res = await ledger.run({ subsys: 'ktest', op: OP_ECHO, calls: 20, threads: 1, timeoutMs: 5000, context: 'normal', payload: Buffer.from('x'), flags: 0 });
    assert.deepEqual(nonZero(res.outcomes), { disabled: 20n });
    assert.equal(h.requests.length, 0);
  });

  it('canary mode serves the set fraction of calls', async () => {
    const calls = 2000;
    const permille = 250;
    await handler('ktest', echo, { mode: 'canary', canaryPermille: permille });
    const res = await ledger.run({ subsys: 'ktest', op: OP_ECHO, calls, threads: 4, timeoutMs: 5000, context: 'normal', payload: Buffer.from('x'), flags: ECHO });
    const served = Number(res.outcomes.served ?? 0n);
    const skipped = Number(res.outcomes.canarySkip ?? 0n);
    assert.equal(served + skipped, calls);
    const p = permille / 1000;
    const sigma = Math.sqrt(calls * p * (1 - p));
    assert.ok(Math.abs(served - calls * p) < 5 * sigma, `served ${served} of ${calls}, expected ${calls * p} ± ${(5 * sigma).toFixed(0)}`);
  });

  it('changes mode through set-mode', async () => {
    const h = await handler('ktest', echo);
    await kclient.setMode(h.subsysId, 'off');
    let res = await ledger.run({ subsys: 'ktest', op: OP_ECHO, calls: 5, threads: 1, timeoutMs: 5000, context: 'normal', payload: Buffer.from('x'), flags: 0 });
    assert.deepEqual(nonZero(res.outcomes), { disabled: 5n });
    await kclient.setMode(h.subsysId, 'on');
    res = await ledger.run({ subsys: 'ktest', op: OP_ECHO, calls: 5, threads: 1, timeoutMs: 5000, context: 'normal', payload: Buffer.from('x'), flags: ECHO });
    assert.deepEqual(nonZero(res.outcomes), { served: 5n });
  });

  it('completes pending calls when the handler unbinds', async () => {
    const h = await handler('ktest', hang);
    const runId = await ktest.run({ subsys: 'ktest', op: OP_ECHO, calls: 4, threads: 4, timeoutMs: 20_000, context: 'normal', payload: Buffer.from('x'), flags: 0 });
    await waitFor('4 pending', async () => (await kclient.getSubsys('ktest')).pending === 4);
    await h.client.unbind(h.subsysId);
    const res = await ledger.finish('ktest', runId);
    assert.deepEqual(nonZero(res.outcomes), { handlerDied: 4n });
    assert.ok(ms(res.maxWaitNs) < 10_000);
  });

  // ------------------------------------------------------------------
  // The handler is a socket, not a port id (issue 6)

  it('takes the handler for its socket, never its port id, when another socket takes the port', async function () {
    if (!target().children) skipBecause(this, 'the race needs a second process taking the port while the handler closes');
    const bin = probeBinary();
    if (!bin) skipBecause(this, 'no nl-probe binary and no C compiler to build it');
    const rounds = 40;
    const tally = { taken: 0, forgedServed: 0n, replyAccepted: 0, publishAccepted: 0, bindLied: 0, bindTaken: 0, leaked: 0 };
    for (let round = 0; round < rounds; round++) {
      const port = 0x6b000000 + ((process.pid * 64 + round) % 0xffff);
      const sock = openGenlSocket({ localPort: port });
      const h = await Handler.bind('ktest', hang, {}, { ...target().koffload(), socket: sock });
      const runId = await ktest.run({ subsys: 'ktest', op: OP_ECHO, calls: 2, threads: 2, timeoutMs: 10_000, context: 'normal', payload: Buffer.from('x'), flags: ECHO });
      await waitFor('2 requests held', () => h.held.length === 2);
      const ids = h.held.map((r) => r.reqId.toString());
      const hij = spawn(bin!, ['hijack', String(familyPort()), String(port), String(h.client.familyId), String(h.subsysId), '5000', ...ids], { stdio: ['pipe', 'pipe', 'inherit'] });
      const line = new Promise<string>((resolve, reject) => {
        let out = '';
        hij.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('\n')) resolve(out.split('\n')[0]!);
        });
        hij.once('exit', (code) => reject(new Error(`nl-probe exited (${code}) before it answered`)));
      });
      await sleep(15); // the attacker spins on the port
      h.close();
      const r = JSON.parse(await line) as { taken: boolean; reply: number[]; publish: number; bind: number; requests: number };
      const info = await kclient.getSubsys('ktest');
      const gone = new Promise((resolve) => hij.once('exit', resolve));
      hij.stdin!.end();
      await gone;
      const res = await ledger.finish('ktest', runId);
      // the handler never answered: whatever was served came from the attacker
      tally.forgedServed += res.outcomes.served;
      if (!r.taken) continue;
      tally.taken++;
      tally.replyAccepted += r.reply.filter((e) => e === 0).length;
      if (r.publish === 0) tally.publishAccepted++;
      if (r.bind === 0) {
        tally.bindTaken++;
        // a BIND that succeeded must have bound the attacker's socket (root sees the port)
        if (info.portid !== port) tally.bindLied++;
      }
      tally.leaked += r.requests;
      await waitFor('ktest released', async () => !(await kclient.getSubsys('ktest')).bound);
    }
    console.log(`      port reuse: ${tally.taken}/${rounds} rounds took the port; forged replies accepted ${tally.replyAccepted}, served ${tally.forgedServed}; publishes accepted ${tally.publishAccepted}; binds won ${tally.bindTaken} (${tally.bindLied} left nothing bound); REQUESTs reaching the newcomer ${tally.leaked}`);
    assert.ok(tally.taken >= rounds / 2, `the attacker took the port in only ${tally.taken} of ${rounds} rounds`);
    assert.deepEqual(
      { replyAccepted: tally.replyAccepted, forgedServed: tally.forgedServed, publishAccepted: tally.publishAccepted, bindLied: tally.bindLied },
      { replyAccepted: 0, forgedServed: 0n, publishAccepted: 0, bindLied: 0 },
    );
  });

  it('sees a handler dead when its process exits, though its socket lives on in another', async function () {
    if (!target().children) skipBecause(this, 'needs a handler process that can exit');
    const child = await ChildHandler.start('ktest', undefined, 'orphan');
    children.push(child);
    const holder = new Promise<number>((resolve) => {
      let out = '';
      child.proc.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /HOLDER (\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
    });
    const runId = await ktest.run({ subsys: 'ktest', op: OP_ECHO, calls: 4, threads: 4, timeoutMs: 20_000, context: 'normal', payload: Buffer.from('x'), flags: 0 });
    await waitFor('4 calls pending', async () => (await kclient.getSubsys('ktest')).pending === 4);
    const gone = new Promise((resolve) => child.proc.once('exit', resolve));
    child.proc.kill('SIGUSR2');
    const holderPid = await within('the child to hand its socket to a holder', holder);
    await within('the child to exit', gone);
    try {
      const res = await within('the run to end', ledger.finish('ktest', runId), 30_000);
      assert.deepEqual(nonZero(res.outcomes), { handlerDied: 4n });
      assert.ok(ms(res.maxWaitNs) < 5000, `waited ${ms(res.maxWaitNs)} ms of a 20 s deadline`);
      const d = await ledger.delta('ktest');
      assert.equal(d.now.bound, false, 'binding cleared while the socket lives on');
      assert.equal(d.counters.releases, 1n);
      // and a new handler may bind at once
      const h = await handler('ktest', echo);
      const served = await ledger.run({ subsys: 'ktest', op: OP_ECHO, calls: 3, threads: 1, timeoutMs: 5000, context: 'normal', payload: Buffer.from('y'), flags: ECHO });
      assert.deepEqual(nonZero(served.outcomes), { served: 3n });
      h.close();
    } finally {
      process.kill(holderPid, 'SIGKILL');
    }
  });

  it('serves the advisory cache only for the bound handler, in mode on', async () => {
    const lookup = async (key: string, calls = 1): Promise<bigint> =>
      (await ledger.run({ subsys: 'ktest', op: OP_ECHO, calls, threads: 1, timeoutMs: 1000, context: 'cache', payload: Buffer.alloc(0), flags: 0, cacheKey: Buffer.from(key) })).intact;
    let h = await handler('ktest', echo);
    await h.client.publish(h.subsysId, Buffer.from('k'), Buffer.from('v1'), 60_000);
    assert.equal(await lookup('k'), 1n, 'hit in mode on');
    // shadow: no hit, and the entry is gone for good
    await kclient.setMode(h.subsysId, 'shadow');
    assert.equal(await lookup('k'), 0n, 'no hit in mode shadow');
    await kclient.setMode(h.subsysId, 'on');
    assert.equal(await lookup('k'), 0n, 'a rollback to shadow flushed the cache');
    // off: the same
    await h.client.publish(h.subsysId, Buffer.from('k'), Buffer.from('v2'), 60_000);
    await kclient.setMode(h.subsysId, 'off');
    assert.equal(await lookup('k'), 0n, 'no hit in mode off');
    await kclient.setMode(h.subsysId, 'on');
    assert.equal(await lookup('k'), 0n, 'SET-MODE off rolled back');
    // a new handler never inherits the old one's decisions
    await h.client.publish(h.subsysId, Buffer.from('k'), Buffer.from('v3'), 60_000);
    assert.equal(await lookup('k'), 1n);
    h.close();
    await waitFor('ktest unbound', async () => !(await kclient.getSubsys('ktest')).bound);
    assert.equal(await lookup('k'), 0n, 'no hit while nothing is bound');
    h = await handler('ktest', echo);
    assert.equal(await lookup('k'), 0n, "the new handler does not see the old one's entry");
    const d = await ledger.delta('ktest');
    assert.equal(d.counters.cacheHits, 2n);
    assert.equal(d.counters.cacheMisses, 6n);
  });

  // ------------------------------------------------------------------
  // Deadlines shorter than a jiffy (issue 6)

  it('keeps deadlines under a jiffy: fast answers are served, a hung handler costs the deadline', async () => {
    // the fast handler: C where a process can be started (a Node.js handler
    // takes milliseconds per answer under software emulation), else in process
    const bin = target().children ? probeBinary() : undefined;
    let fast: ReturnType<typeof spawn> | undefined;
    if (bin) {
      fast = spawn(bin, ['echo', String(familyPort()), String(kclient.familyId)], { stdio: ['pipe', 'pipe', 'inherit'] });
      const proc = fast;
      handlers.push({ close: () => proc.stdin!.end() });
      await new Promise<void>((resolve, reject) => {
        proc.stdout!.on('data', (d: Buffer) => d.toString().includes('BOUND') && resolve());
        proc.once('exit', (code) => reject(new Error(`nl-probe echo exited (${code})`)));
      });
      await waitFor('the C handler bound', async () => (await kclient.getSubsys('ktest')).bound);
    } else {
      await handler('ktest', echo);
    }
    // warm the path (JIT, page cache), and learn how long a round trip takes here
    const warm = await ledger.run({ subsys: 'ktest', op: OP_ECHO, calls: 100, threads: 1, timeoutMs: 1000, context: 'normal', payload: Buffer.from('w'), flags: ECHO });
    const rttUs = Number(warm.totalWaitNs) / 1e3 / 100;
    const lines: string[] = [`${bin ? 'C' : 'Node.js'} handler, round trip here: mean ${rttUs.toFixed(0)} us, longest ${(Number(warm.maxWaitNs) / 1e3).toFixed(0)} us`];
    // all under a jiffy (4 ms at HZ=250), which the old wait rounded down to no wait at all
    for (const us of [3500, 2000, 500]) {
      // misses open the circuit (5 in a row): each run starts it closed, or cooled down
      if ((await kclient.getSubsys('ktest')).circuit !== 'closed') await sleep(1100);
      const calls = 200;
      const res = await ledger.run({ subsys: 'ktest', op: OP_ECHO, calls, threads: 1, timeoutUs: us, context: 'normal', payload: Buffer.from('fast'), flags: ECHO });
      const d = await ledger.delta('ktest');
      lines.push(`${us} us: served ${res.outcomes.served}/${calls}, deadline ${res.outcomes.deadline}, circuit-open ${res.outcomes.circuitOpen}, late replies ${d.counters.lateReplies}`);
      assert.equal(res.intact, res.outcomes.served);
      // every late reply belongs to a call that ended at its deadline
      assert.ok(d.counters.lateReplies <= res.outcomes.deadline, `late replies ${d.counters.lateReplies} > deadlines ${res.outcomes.deadline}`);
      // of the calls that reached the handler (five misses in a row open the
      // circuit), a deadline well above the round trip serves most; one near
      // it is only reported: under software emulation on a shared host the
      // round trip's mean is ~90 us but five slow ones in a row at 500 us
      // (6x the mean) open the circuit in about half the runs, so the bar
      // is 8x the mean (2 ms and 3.5 ms here; 500 us where a round trip
      // takes under 62 us)
      const asked = res.outcomes.served + res.outcomes.deadline;
      if (us >= 8 * rttUs) assert.ok(res.outcomes.served * 2n >= asked && asked > 0n, `only ${res.outcomes.served} of ${asked} calls that reached the handler served with a ${us} us deadline (round trip ${rttUs.toFixed(0)} us)`);
      await ledger.checkpoint();
    }
    for (const hh of handlers.splice(0)) hh.close();
    if (fast) await new Promise((resolve) => (fast!.exitCode !== null ? resolve(null) : fast!.once('exit', resolve)));
    await waitFor('ktest unbound', async () => !(await kclient.getSubsys('ktest')).bound);
    await ledger.checkpoint();
    await handler('ktest', hang);
    // how late this machine wakes any task meanwhile: the vCPUs of a
    // software-emulated guest on a shared host lose the host CPU for
    // milliseconds at a time (CI saw a caller wake 8.6 ms after a 2 ms deadline)
    const meters = await stallMeters();
    let stall: StallReading | undefined;
    let res: RunResult;
    try {
      // one call per thread, all admitted before the first deadline opens the circuit
      res = await ledger.run({ subsys: 'ktest', op: OP_ECHO, calls: 4, threads: 4, timeoutUs: 2000, context: 'normal', payload: Buffer.from('h'), flags: 0 });
    } finally {
      stall = await meters?.stop();
    }
    assert.deepEqual(nonZero(res.outcomes), { deadline: 4n });
    // the module: the caller waking after its hrtimer, under emulation (seen
    // 0.5 ms); the simulator: Node timers on a busy event loop (seen 2-13 ms);
    // and on either, up to the longest wake-up delay of an ordinary task
    // meanwhile (a stall meter on each CPU), never more
    const slackMs = (target().kind === 'kernel' ? 5 : 50) + (stall?.maxMs ?? 0);
    const meanMs = ms(res.totalWaitNs) / 4;
    const stallText = stall ? `longest wake-up delay of an ordinary task ${stall.maxMs.toFixed(3)} ms (per CPU ${stall.perCpuMaxMs.map((x) => x.toFixed(3)).join(', ')})` : 'no stall meter';
    lines.push(`hung handler, 2 ms deadline: mean wait ${meanMs.toFixed(3)} ms, longest ${ms(res.maxWaitNs).toFixed(3)} ms; ${stallText}`);
    console.log(`      ${lines.join('\n      ')}`);
    assert.ok(meanMs >= 2, `calls ended before their 2 ms deadline (mean ${meanMs} ms)`);
    assert.ok(ms(res.maxWaitNs) <= 2 + slackMs, `longest wait ${ms(res.maxWaitNs)} ms for a 2 ms deadline; ${stallText}`);
  });

  // ------------------------------------------------------------------
  // Contexts that must never send or wait (issue 6)

  it('never sends with IRQs off or in hardirq, never waits in any atomic or reclaim context, with a netlink tap up', async () => {
    const tap = target().kind === 'kernel' ? nlmonUp() : undefined;
    const taint0 = target().kind === 'kernel' ? taint() : 0;
    try {
      const h = await handler('ktest', hang);
      const contexts = ['irqsoff', 'hardirq', 'softirq', 'rcu', 'noio', 'kswapd'] as const;
      // mode on: every one falls back at once
      const onWant = { irqsoff: 'atomic', hardirq: 'atomic', softirq: 'atomic', rcu: 'atomic', noio: 'reclaim', kswapd: 'reclaim' } as const;
      for (const context of contexts) {
        const res = await ledger.run({ subsys: 'ktest', op: OP_ECHO, calls: 20, threads: 2, timeoutMs: 5000, context, payload: Buffer.from('c'), flags: 0 });
        assert.deepEqual(nonZero(res.outcomes), { [onWant[context]]: 20n }, context);
        assert.ok(ms(res.maxWaitNs) < 50, `${context}: waited ${ms(res.maxWaitNs)} ms`);
      }
      assert.equal((await ledger.delta('ktest')).counters.requestsSent, 0n, 'nothing sent in mode on');
      // mode shadow: a send without waiting, but none with IRQs off or in hardirq, none from reclaim
      await kclient.setMode(h.subsysId, 'shadow');
      const shadowWant = { irqsoff: 'atomic', hardirq: 'atomic', softirq: 'shadow', rcu: 'shadow', noio: 'shadow', kswapd: 'reclaim' } as const;
      let sent = 0n;
      for (const context of contexts) {
        const res = await ledger.run({ subsys: 'ktest', op: OP_ECHO, calls: 20, threads: 2, timeoutMs: 5000, context, payload: Buffer.from('c'), flags: 0 });
        assert.deepEqual(nonZero(res.outcomes), { [shadowWant[context]]: 20n }, `shadow, ${context}`);
        if (shadowWant[context] === 'shadow') sent += 20n;
      }
      // advice: sent from anywhere but IRQs off and hardirq
      await kclient.setMode(h.subsysId, 'on');
      let advised = 0n;
      for (const context of contexts) {
        const res = await ledger.run({ subsys: 'ktest', op: OP_ECHO, calls: 10, threads: 1, timeoutMs: 5000, context, payload: Buffer.from('a'), flags: KOFFLOAD_TEST.runFlag.advise });
        const want = context === 'irqsoff' || context === 'hardirq' ? 0n : 10n;
        assert.equal(res.intact, want, `advice from ${context}`);
        advised += want;
      }
      const d = await ledger.delta('ktest');
      assert.equal(d.counters.requestsSent, sent);
      assert.equal(d.counters.advisories, advised);
      assert.equal(d.counters.advisoriesDropped, 20n);
      await waitFor('every shadow request and advice delivered', () => BigInt(h.requests.length) === sent + advised);
      if (tap) assert.ok(tap.packets() > 0, 'the nlmon tap saw the sends');
      if (target().kind === 'kernel') assert.equal(taint() & 512, taint0 & 512, 'the kernel warned (taint W)');
    } finally {
      tap?.down();
    }
  });

  it('answers a late reply without an echo unless the handler asked for an ack', async () => {
    const opts = target().koffload();
    const sock = opts.socket ?? openGenlSocket();
    const h = await handler('ktest', hang, {}, { ...opts, socket: sock });
    const familyId = h.client.familyId;
    const got: Buffer[] = [];
    sock.on('datagram', (b: Buffer) => got.push(Buffer.from(b)));
    const A = KOFFLOAD.attr;
    // a REPLY nobody waits for, as a handler in a timeout storm sends them: no NLM_F_ACK
    const m = encodeGenlMsg({ type: familyId, flags: NLM_F.REQUEST, seq: 77, pid: h.client.portId, cmd: KOFFLOAD.cmd.reply, version: 1 }, [
      putU64(A.reqId, (BigInt(h.subsysId) << 48n) | 0xfffffn),
      putU32(A.status, KOFFLOAD.status.ok),
      putAttr(A.payload, Buffer.alloc(2048, 1)),
    ]);
    await sock.send([m], { port: opts.peerPort ?? 0 });
    await sleep(300);
    const errors = got.flatMap((d) => decodeNlMessages(d)).filter((x) => x.header.type === 2 && x.header.seq === 77);
    assert.equal(errors.length, 0, 'no error echo for a late reply sent without NLM_F_ACK');
    await waitFor('counted late', async () => (await ledger.delta('ktest')).counters.lateReplies === 1n);
    // asked for an ack: the errno comes back
    await assert.rejects(h.client.replyAck((BigInt(h.subsysId) << 48n) | 0xffffen, KOFFLOAD.status.ok, Buffer.alloc(1)), (e: { errnoCode?: string }) => e.errnoCode === 'ENOENT');
    assert.equal((await ledger.delta('ktest')).counters.lateReplies, 2n);
  });

  it('undoes a BIND whose reply cannot reach the binder', async function () {
    if (target().transport === 'inproc') {
      // a paused in-memory socket whose buffer another one filled
      const opts = target().koffload({ recvBufferSize: 4096 });
      const sock = opts.socket as InprocSocket;
      sock.pause();
      const filler = target().koffload().socket!;
      for (let i = 0; i < 16; i++) await filler.send([Buffer.alloc(1024, 1)], { port: sock.portId }).catch(() => undefined);
      const c = await KoffloadClient.open(opts).catch(() => undefined);
      // opening resolves the family through a request of its own: the
      // simulator takes the family id from the options, so none is sent
      assert.ok(c, 'the client opened');
      handlers.push(c!);
      const bind = c!.bind({ name: 'ktest' }).catch(() => undefined);
      await sleep(100); // in this process: the BIND and its failed reply are done
      assert.equal((await kclient.getSubsys('ktest')).bound, false, 'a BIND whose reply failed left a binding behind');
      sock.resume();
      await Promise.race([bind, sleep(200)]);
      filler.close();
    } else {
      const bin = probeBinary();
      if (!bin) skipBecause(this, 'no nl-probe binary and no C compiler to build it');
      const familyId = kclient.familyId;
      const p = spawn(bin!, ['bindfull', String(familyPort()), String(familyId)], { stdio: ['pipe', 'pipe', 'inherit'] });
      const line = await new Promise<string>((resolve, reject) => {
        let out = '';
        p.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('\n')) resolve(out.split('\n')[0]!);
        });
        p.once('exit', (code) => reject(new Error(`nl-probe exited (${code}) before it answered`)));
      });
      const r = JSON.parse(line) as { port: number; filled: number; bind: number };
      const info = await kclient.getSubsys('ktest');
      const gone = new Promise((resolve) => p.once('exit', resolve));
      p.stdin!.end();
      await gone;
      assert.ok(r.filled > 0, 'the probe filled its queue');
      assert.notEqual(r.bind, 0, 'the BIND reply was delivered after all');
      assert.equal(info.bound, false, `a BIND whose reply failed left a binding behind (port ${info.portid}, probe ${r.port})`);
    }
    assert.equal((await ledger.delta('ktest')).counters.binds, 0n);
  });

  it('lets context self make its calls outside the RUN command', async function () {
    if (target().kind !== 'kernel') skipBecause(this, 'koffload.ko only: the simulator holds no genl lock to leave');
    const h = await handler('ktest', echo);
    const id = await ktest.run({ subsys: 'ktest', op: OP_ECHO, calls: 5, threads: 1, timeoutMs: 5000, context: 'self', payload: Buffer.from('x'), flags: 0, trigger: false });
    let res = await ktest.result(id);
    assert.equal(res.done, false, 'RUN made no call: they wait for the trigger');
    assert.equal(OUTCOME_KEYS.reduce((n, k) => n + res.outcomes[k], 0n), 0n);
    ktest.triggerSelf(id);
    res = await ledger.finish('ktest', id);
    assert.deepEqual(nonZero(res.outcomes), { recursion: 5n });
    assert.equal(h.requests.length, 0);
  });

  it('drains both of two concurrent unregisters, and hands out a new subsystem id', async function () {
    if (target().kind !== 'kernel') skipBecause(this, 'koffload.ko only; the simulator counterpart is a unit test of SimCore.unregister()');
    await handler('ktest', hang);
    const before = await kclient.getSubsys('ktest');
    const runId = await ktest.run({ subsys: 'ktest', op: OP_ECHO, calls: 64, threads: 64, timeoutMs: 30_000, context: 'normal', payload: Buffer.from('x'), flags: 0 });
    await waitFor('64 pending', async () => (await kclient.getSubsys('ktest')).pending === 64);
    const r = reregister('ktest');
    const res = await ktest.waitResult(runId, { pollMs: 20, timeoutMs: 60_000 });
    assert.deepEqual(nonZero(res.outcomes), { shutdown: 64n });
    assert.deepEqual([r.usersAfterFirst, r.usersAfterSecond], [0, 0], 'an unregister returned while calls were still inside koffload_call()');
    const after = await kclient.getSubsys('ktest');
    assert.notEqual(after.subsysId, before.subsysId, 'a re-registered subsystem got its old id back at once');
    assert.equal(r.newId, after.subsysId);
    // the counters started afresh with the registration
    await ledger.checkpoint();
  });

  it('charges advisory cache entries to the publisher', async function () {
    if (target().kind !== 'kernel') skipBecause(this, 'koffload.ko only: memory cgroups are the kernel\'s');
    let before: number | undefined;
    try {
      before = slabObjects('kmalloc-cg-8k');
    } catch {
      skipBecause(this, '/proc/slabinfo is not readable');
    }
    const h = await handler('ktest', echo);
    for (let i = 0; i < 200; i++) await h.client.publish(h.subsysId, Buffer.from(`acct-${i}`), Buffer.alloc(4000, i & 0xff), 60_000);
    const grew = slabObjects('kmalloc-cg-8k') - before!;
    assert.ok(grew >= 150, `kmalloc-cg-8k grew by ${grew} objects for 200 entries of 4 KB`);
  });

  it('leaves no waiting caller when the modules are unloaded with calls pending', async function () {
    // the simulator's counterpart is the next test
    const dir = process.env.KOFFLOAD_KMOD_DIR;
    if (target().kind !== 'kernel') skipBecause(this, 'koffload.ko only; the simulator has the close counterpart below');
    if (!dir) skipBecause(this, 'KOFFLOAD_KMOD_DIR unset: no modules to load back');
    const h = await handler('ktest', hang);
    await ktest.run({ subsys: 'ktest', op: OP_ECHO, calls: 16, threads: 16, timeoutMs: 30_000, context: 'normal', payload: Buffer.from('x'), flags: 0 });
    await waitFor('16 pending', async () => (await kclient.getSubsys('ktest')).pending === 16);
    const t0 = process.hrtime.bigint();
    execFileSync('rmmod', ['koffload_test']);
    const rmmodMs = ms(process.hrtime.bigint() - t0);
    assert.ok(rmmodMs < 10_000, `rmmod took ${rmmodMs} ms`);
    const kmsg = execFileSync('dmesg', { encoding: 'utf8' });
    const summary = kmsg.split('\n').filter((l) => l.includes('koffload_test: run') && l.includes('interrupted at unload')).pop();
    assert.ok(summary, 'koffload_test printed the unfinished run');
    // every call that started ended, all of them with outcome shutdown
    assert.match(summary!, /started=16 ended=16 /);
    assert.match(summary!, new RegExp(`outcomes: ${KOFFLOAD.outcome.shutdown}=16$`));
    ktest.close();
    h.close();
    kclient.close();
    execFileSync('rmmod', ['koffload']);
    assert.doesNotMatch(readFileSync('/proc/modules', 'utf8'), /^koffload/m);
    // bring both back for whatever runs after
    execFileSync('insmod', [join(dir!, 'koffload.ko')]);
    execFileSync('insmod', [join(dir!, 'koffload_test.ko')]);
    kclient = await KoffloadClient.open();
    ktest = await KtestClient.open();
    ledger = new Ledger(kclient, ktest);
    await ledger.checkpoint();
  });

  it('leaves no waiting caller when the simulator closes with calls pending', async function () {
    // koffload.ko's counterpart is the rmmod test above
    const sim = target().sim;
    if (!sim) skipBecause(this, 'simulator only; koffload.ko has the rmmod counterpart above');
    const h = await handler('ktest', hang);
    await ktest.run({ subsys: 'ktest', op: OP_ECHO, calls: 16, threads: 16, timeoutMs: 30_000, context: 'normal', payload: Buffer.from('x'), flags: 0 });
    // and four callers of the simulator's own API
    const direct = [1, 2, 3, 4].map((i) => sim!.call('ktest', OP_ECHO, Buffer.from([i]), { timeoutMs: 30_000 }));
    await waitFor('20 pending', async () => (await kclient.getSubsys('ktest')).pending === 20);
    const t0 = process.hrtime.bigint();
    await target().close();
    const closeMs = ms(process.hrtime.bigint() - t0);
    assert.ok(closeMs < 10_000, `close took ${closeMs} ms`);
    const summary = target().log.filter((l) => l.includes('koffload_test: run') && l.includes('interrupted at unload')).pop();
    assert.ok(summary, 'the simulator reported the unfinished run');
    assert.match(summary!, /started=16 ended=16 /);
    assert.match(summary!, new RegExp(`outcomes: ${KOFFLOAD.outcome.shutdown}=16$`));
    for (const r of await Promise.all(direct)) assert.equal(r.outcome, 'shutdown');
    // a call after close still ends, with shutdown
    assert.equal((await sim!.call('ktest', OP_ECHO, Buffer.from('late'))).outcome, 'shutdown');
    ktest.close();
    h.close();
    kclient.close();
    // a fresh simulator for whatever runs after
    await openClients();
    await ledger.checkpoint();
  });

  it('keeps exactly one outcome per call through bind/unbind races', async () => {
    const calls = 2000;
    const client = await KoffloadClient.open(target().koffload());
    handlers.push(client);
    let n = 0;
    client.on('request', (req) => {
      // answer two of three, leave the rest hanging until the next unbind
      if (n++ % 3 === 2 || req.flags & KOFFLOAD.reqFlag.shadow) return;
      const msg = EchoRequest.decode(req.payload) as unknown as { data: Uint8Array; seq: unknown };
      client.reply(req.reqId, KOFFLOAD.status.ok, Buffer.from(EchoResponse.encode(EchoResponse.fromObject({ data: msg.data, seq: msg.seq })).finish()));
    });
    // bind, answer for 0-3 ms, unbind, rebind: in a tight loop, from before
    // the first call to after the last
    let stop = false;
    let cycles = 0;
    let firstBind!: () => void;
    const bound = new Promise<void>((r) => (firstBind = r));
    let started!: () => void;
    const runStarted = new Promise<void>((r) => (started = r));
    const binder = (async (): Promise<void> => {
      while (!stop) {
        const b = await client.bind({ name: 'ktest' });
        firstBind();
        // the first unbind only once the calls have begun: kernel threads
        // could otherwise make all of them in one unbound window
        await runStarted;
        await sleep(cycles === 0 ? 20 : 1 + (cycles % 4));
        await client.unbind(b.subsysId);
        cycles++;
      }
    })();
    await bound;
    let res: Awaited<ReturnType<Ledger['finish']>>;
    try {
      const runId = await ktest.run({ subsys: 'ktest', op: OP_ECHO, calls, threads: 8, timeoutMs: 200, context: 'normal', payload: Buffer.from('race'), flags: ECHO });
      started();
      res = await ledger.finish('ktest', runId);
    } finally {
      stop = true;
      started();
      await binder;
    }
    const sum = OUTCOME_KEYS.reduce((a, k) => a + res.outcomes[k], 0n);
    assert.equal(sum, BigInt(calls), 'every call ended in exactly one outcome');
    const allowed = new Set(['served', 'noHandler', 'deadline', 'handlerDied', 'circuitOpen', 'overload']);
    for (const [k, v] of Object.entries(nonZero(res.outcomes))) assert.ok(allowed.has(k), `unexpected outcome ${k} x${v}`);
    assert.equal(res.intact, res.outcomes.served, 'every served reply was the echo of its own request');
    const seen = JSON.stringify(nonZero(res.outcomes), (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v));
    assert.ok(res.outcomes.served > 0n && res.outcomes.handlerDied > 0n, `no race happened: ${seen}`);
    // the kernel's threads may finish every call left as no-handler in the
    // first unbound window: one full cycle is all that can be required
    assert.ok(cycles >= 1, 'no bind/unbind cycle');
    const d = await ledger.delta('ktest');
    assert.equal(d.now.pending, 0);
    assert.equal(d.now.portid, 0);
    assert.equal(d.counters.binds, BigInt(cycles));
  });

  it('sends advice from reclaim without waiting, and counts what it could not send', async () => {
    // unbound: nothing to send
    let res = await ledger.run({ subsys: 'ktest', op: OP_ECHO, calls: 5, threads: 1, timeoutMs: 1000, context: 'advise', payload: Buffer.from('a'), flags: 0 });
    assert.equal(res.intact, 0n);
    assert.deepEqual(nonZero(res.outcomes), {}, 'advice is not a call');
    const h = await handler('ktest', hang);
    res = await ledger.run({ subsys: 'ktest', op: OP_ECHO, calls: 10, threads: 2, timeoutMs: 1000, context: 'advise', payload: Buffer.from('a'), flags: 0 });
    assert.equal(res.intact, 10n);
    await waitFor('10 advisories', () => h.held.length === 10);
    assert.ok(h.held.every((r) => r.reqId === 0n && (r.flags & KOFFLOAD.reqFlag.advisory) !== 0 && r.op === OP_ECHO));
    await kclient.setMode(h.subsysId, 'off');
    res = await ledger.run({ subsys: 'ktest', op: OP_ECHO, calls: 3, threads: 1, timeoutMs: 1000, context: 'advise', payload: Buffer.from('a'), flags: 0 });
    assert.equal(res.intact, 0n);
    const d = await ledger.delta('ktest');
    assert.equal(d.counters.advisories, 10n);
    assert.equal(d.counters.advisoriesDropped, 8n);
    assert.equal(d.counters.requestsSent, 0n);
  });

  it('flags advice sent in shadow mode as shadow too, so a live policy only records it', async () => {
    const h = await handler('ktest', hang, { mode: 'shadow' });
    const res = await ledger.run({ subsys: 'ktest', op: OP_ECHO, calls: 5, threads: 1, timeoutMs: 1000, context: 'advise', payload: Buffer.from('a'), flags: 0 });
    assert.equal(res.intact, 5n);
    await waitFor('5 advisories', () => h.requests.length === 5);
    const both = KOFFLOAD.reqFlag.advisory | KOFFLOAD.reqFlag.shadow;
    assert.ok(h.requests.every((r) => r.reqId === 0n && (r.flags & both) === both), JSON.stringify(h.requests.map((r) => r.flags)));
  });

  it('describes the test subsystems the same way', async () => {
    const all = await kclient.dumpSubsys();
    const mine = all.filter((x) => x.name === 'ktest' || x.name === 'ktest2');
    assert.deepEqual(mine.map((x) => x.name), ['ktest', 'ktest2']);
    // inflight-max is the kernel's limit a handler may ask for, max-inflight the subsystem's cap
    for (const x of mine) {
      assert.deepEqual(
        [x.bound, x.portid, x.boundPid, x.mode, x.deadlineMs, x.maxInflight, x.pending, x.nrOps, x.payloadMax, x.inflightMax, x.deadlineMaxMs],
        [false, 0, 0, 'on', 200, 64, 0, 2, 4096, 4096, 60000],
        x.name,
      );
    }
    const h = await handler('ktest', echo, { mode: 'canary', canaryPermille: 10, deadlineMs: 150, maxInflight: 8 });
    let b = await kclient.getSubsys(h.subsysId);
    assert.deepEqual(
      [b.bound, b.portid, b.boundPid, b.mode, b.canaryPermille, b.deadlineMs, b.maxInflight, b.inflightMax, b.circuit],
      [true, h.client.portId, process.pid, 'canary', 10, 150, 8, 4096, 'closed'],
    );
    // the admin turns it off; a rebind without a mode keeps that, and
    // states the handler's caps anew (none given: none)
    await kclient.setMode(h.subsysId, 'off');
    const again = await h.client.bind({ name: 'ktest' });
    assert.equal(again.subsysId, h.subsysId);
    b = await kclient.getSubsys(h.subsysId);
    assert.deepEqual([b.portid, b.mode, b.canaryPermille, b.deadlineMs, b.maxInflight], [h.client.portId, 'off', 10, 200, 64]);
    // a rebind that gives a mode sets it
    await h.client.bind({ name: 'ktest', mode: 'on', canaryPermille: 1000 });
    b = await kclient.getSubsys(h.subsysId);
    assert.deepEqual([b.mode, b.canaryPermille], ['on', 1000]);
    assert.equal((await ledger.delta('ktest')).counters.binds, 1n, 'a rebind is not a bind');
  });

  it('frames a REQUEST as the module does', async () => {
    const opts = target().koffload();
    const sock = opts.socket ?? openGenlSocket();
    const raw: Buffer[] = [];
    sock.on('datagram', (d) => raw.push(Buffer.from(d)));
    const h = await handler('ktest', decline, {}, { ...opts, socket: sock });
    await ledger.run({ subsys: 'ktest', op: 2, calls: 1, threads: 1, timeoutMs: 5000, context: 'normal', payload: Buffer.from('abc'), flags: KOFFLOAD_TEST.runFlag.sendDefault });
    const reqs = raw.flatMap((d) => decodeNlMessages(d)).filter((m) => m.header.type === h.client.familyId && m.payload[0] === KOFFLOAD.cmd.request);
    assert.equal(reqs.length, 1);
    const m = reqs[0]!;
    assert.deepEqual([m.header.flags, m.header.seq, m.header.pid], [0, 0, 0]);
    assert.deepEqual([...m.payload.subarray(0, 4)], [KOFFLOAD.cmd.request, 1, 0, 0]);
    const attrs = decodeRawAttrs(m.payload.subarray(4));
    const A = KOFFLOAD.attr;
    // u64s without pad attributes (x86-64), the default last
    assert.deepEqual(attrs.map((a) => [a.type, a.data.length]), [
      [A.reqId, 8], [A.subsysId, 4], [A.op, 4], [A.deadlineNs, 8], [A.flags, 4], [A.payload, 7], [A.default, 7],
    ]);
    const reqId = attrs[0]!.data.readBigUInt64LE(0);
    assert.equal(reqId >> 48n, BigInt(h.subsysId));
    assert.equal(attrs[2]!.data.readUInt32LE(0), 2);
    assert.equal(attrs[4]!.data.readUInt32LE(0), KOFFLOAD.reqFlag.hasDefault);
    assert.deepEqual(attrs[5]!.data, attrs[6]!.data);
    assert.equal(EchoRequest.decode(attrs[5]!.data).toJSON().data, Buffer.from('abc').toString('base64'));
  });

  it('rejects malformed commands with the same errno and extended ack', async () => {
    const { genl, familyId } = await openFamily(KOFFLOAD.familyName, target().koffload());
    const A = KOFFLOAD.attr;
    const C = KOFFLOAD.cmd;
    const got: Buffer[] = [];
    genl.socket.on('datagram', (b) => got.push(Buffer.from(b)));
    let seq = 0x10000;
    type Case = [what: string, cmd: number, attrs: Buffer[], errno: string, msg: string | undefined, tlvs: number[], offset?: number, miss?: number];
    const nameNoNul = putAttr(A.subsysName, Buffer.from('ktest'));
    const cases: Case[] = [
      ['unknown attribute', C.getSubsys, [putU32(99, 1)], 'EINVAL', 'Unknown attribute type', [1, 2], 20],
      ['u32 of 8 bytes', C.getSubsys, [putU64(A.subsysId, 1)], 'EINVAL', 'invalid attribute length', [1, 2, 4], 20],
      ['string without NUL', C.bind, [nameNoNul, putU32(A.version, 1)], 'EINVAL', 'Attribute failed policy validation', [1, 2, 4], 20],
      ['mode out of range', C.setMode, [putU32(A.subsysId, 1), putU32(A.mode, 7)], 'ERANGE', 'integer out of range', [1, 2, 4], 28],
      ['bind without version', C.bind, [putString(A.subsysName, 'ktest')], 'EINVAL', undefined, [5], undefined, A.version],
      ['bind version 2', C.bind, [putString(A.subsysName, 'ktest'), putU32(A.version, 2)], 'EPROTO', 'unsupported koffload protocol version', [1, 2], 32],
      ['reserved flag bit', C.reply, [putU64(A.reqId, 1), putU32(A.flags, 8)], 'EINVAL', 'reserved bit set', [1, 2], 32],
      ['payload too long', C.publish, [putAttr(A.payload, Buffer.alloc(4097))], 'ERANGE', 'Attribute failed policy validation', [1, 2, 4], 20],
      ['trailing bytes', C.getSubsys, [putU32(A.subsysId, 1), Buffer.from([0xff, 0xff])], 'EINVAL', 'bytes leftover after parsing attributes', [1]],
      ['pad attribute', C.getSubsys, [putU64(A.pad, 0)], 'EINVAL', 'Unsupported attribute', [1, 2], 20],
      ['unknown command', 42, [], 'EOPNOTSUPP', undefined, []],
      ['unbind without id', C.unbind, [], 'EINVAL', undefined, [5], undefined, A.subsysId],
      ['get of an unknown id', C.getSubsys, [putU32(A.subsysId, 0x7fff)], 'ENOENT', undefined, []],
      ['get of nothing', C.getSubsys, [], 'ENOENT', 'need subsys-id or subsys-name', [1]],
      ['reply to no subsystem', C.reply, [putU64(A.reqId, 0x7fffn << 48n), putU32(A.status, 0)], 'ENOENT', 'no such pending request', [1]],
      // op ids are 1..63 (KOFFLOAD_OPS_MAX is one past the last)
      ['op 64', C.getSubsys, [putU32(A.op, 64)], 'ERANGE', 'integer out of range', [1, 2, 4], 20],
    ];
    try {
      for (const [what, cmd, attrs, errno, msg, tlvs, offset, miss] of cases) {
        const m = encodeGenlMsg({ type: familyId, flags: NLM_F.REQUEST | NLM_F.ACK, seq: seq++, pid: genl.portId, cmd, version: 1 }, attrs);
        await genl.socket.send([m], { port: genl.peerPort });
        await waitFor(`answer to ${what}`, () => got.length > 0);
        const [e] = decodeNlMessages(got.shift()!);
        const info = decodeNlError(e!);
        assert.equal(info.errno, osConstants.errno[errno as keyof typeof osConstants.errno], `${what}: ${errnoName(info.errno)}`);
        assert.equal(info.message, msg, what);
        assert.deepEqual(info.requestPayload, m.subarray(16, m.readUInt32LE(0)), `${what}: request echoed`);
        const rest = e!.payload.subarray(4 + align4(m.readUInt32LE(0)));
        assert.deepEqual(rest.length ? decodeRawAttrs(rest).map((a) => a.type) : [], tlvs, `${what}: ext ack TLVs`);
        assert.equal(info.offset, offset, `${what}: offset`);
        assert.equal(info.missingType, miss, `${what}: missing type`);
        assert.equal(e!.header.pid, genl.portId, `${what}: pid`);
      }
      // a reserved field in the genl header, and an unknown family
      const bad = encodeGenlMsg({ type: familyId, flags: NLM_F.REQUEST, seq: seq++, pid: genl.portId, cmd: C.getSubsys, version: 1 }, [putU32(A.subsysId, 1)]);
      bad.writeUInt16LE(1, 18);
      await genl.socket.send([bad], { port: genl.peerPort });
      await waitFor('answer to the reserved field', () => got.length > 0);
      assert.equal(decodeNlError(decodeNlMessages(got.shift()!)[0]!).errno, osConstants.errno.EINVAL);
    } finally {
      genl.close();
    }
  });
});
