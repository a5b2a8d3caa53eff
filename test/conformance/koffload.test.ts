// The koffload conformance suite against a kernel: in-kernel callers of
// koffload_test.ko call koffload_call() in chosen contexts, this process
// (or a child) plays the handler, and after every test the kernel's own
// counters must agree exactly with what the runs reported, with nothing
// left pending. Runs inside the QEMU guest (`npm run test:kernel`).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { KoffloadClient } from '../../src/kernel/client.js';
import { KtestClient } from '../../src/kernel/test-client.js';
import { KOFFLOAD, KOFFLOAD_TEST } from '../../src/generated/wire.js';
import {
  ChildHandler, EchoResponse, Handler, Ledger, decline, echo, fail, hang, longestWaitNs, ms, nonZero,
  runUnprivileged, sleep, totals, waitFor, OUTCOME_KEYS,
} from './env.js';

const onKernel = process.env.KOFFLOAD_TARGET === 'kernel';
const OP_ECHO = 1;
const ECHO = KOFFLOAD_TEST.runFlag.checkEcho;

(onKernel ? describe : describe.skip)('koffload.ko', function () {
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

  before(async () => {
    kclient = await KoffloadClient.open();
    ktest = await KtestClient.open();
    ledger = new Ledger(kclient, ktest);
  });

  beforeEach(async () => {
    await ledger.checkpoint();
  });

  afterEach(async () => {
    for (const c of children.splice(0)) await c.kill();
    for (const h of handlers.splice(0)) h.close();
    // closing the handler sockets released every binding
    for (const name of ['ktest', 'ktest2'] as const) {
      await waitFor(`${name} unbound`, async () => (await kclient.getSubsys(name)).portid === 0);
    }
    await ledger.verify();
  });

  after(() => {
    const lines = OUTCOME_KEYS.filter((k) => totals[k] > 0n).map((k) => {
      const w = longestWaitNs.get(k);
      return `  ${k.padEnd(14)} ${String(totals[k]).padStart(7)} calls   longest wait ${w === undefined ? '-' : `${ms(w).toFixed(2)} ms`}`;
    });
    console.log(`\nper-outcome counts over the suite, with the longest wait of one call:\n${lines.join('\n')}\n`);
    kclient?.close();
    ktest?.close();
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
    const child = await ChildHandler.start('ktest');
    children.push(child);
    const runId = await ktest.run({ subsys: 'ktest', op: OP_ECHO, calls: 8, threads: 8, timeoutMs: 20_000, context: 'normal', payload: Buffer.from('x'), flags: 0 });
    await waitFor('8 calls pending', async () => (await kclient.getSubsys('ktest')).pending === 8);
    await child.kill('SIGKILL');
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
    const child = await ChildHandler.start('ktest', 4096);
    children.push(child);
    child.proc.kill('SIGSTOP');
    try {
      const res = await ledger.run({ subsys: 'ktest', op: OP_ECHO, calls: 256, threads: 32, timeoutMs: 1000, context: 'normal', payload: Buffer.alloc(512, 1), flags: 0 });
      const d = await ledger.delta('ktest');
      // calls that fitted in the buffer time out, and enough of those open the circuit
      assert.equal(res.outcomes.overload + res.outcomes.deadline + res.outcomes.circuitOpen, 256n);
      assert.ok(res.outcomes.overload >= 128n, `overload ${res.outcomes.overload}`);
      // only what fitted in the buffer was sent, and those waited out their deadline
      assert.equal(d.counters.requestsSent, res.outcomes.deadline);
    } finally {
      child.proc.kill('SIGCONT');
    }
  });

  it('rejects and counts forged, unknown and finished replies', async () => {
    const h = await handler('ktest', hang);
    const runId = await ktest.run({ subsys: 'ktest', op: OP_ECHO, calls: 1, threads: 1, timeoutMs: 20_000, context: 'normal', payload: Buffer.from('x'), flags: 0 });
    await waitFor('request seen', () => h.held.length === 1);
    const req = h.held[0]!;
    const forger = await KoffloadClient.open();
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

  it('treats a reply too large for the caller buffer as malformed', async () => {
    await handler('ktest', () => ({ status: KOFFLOAD.status.ok, payload: Buffer.alloc(65, 7) }));
    const res = await ledger.run({ subsys: 'ktest', op: OP_ECHO, calls: 2, threads: 1, timeoutMs: 5000, context: 'normal', payload: Buffer.from('x'), flags: 0, respSize: 64 });
    assert.deepEqual(nonZero(res.outcomes), { malformed: 2n });
    assert.equal((await ledger.delta('ktest')).counters.badReplies, 2n);
  });

  it('refuses bind, reply, publish and mode changes from an unprivileged process', async () => {
    const h = await handler('ktest', echo);
    const r = runUnprivileged('ktest');
    assert.deepEqual(r, { get: 'OK', bind: 'EPERM', reply: 'EPERM', publish: 'EPERM', setMode: 'EPERM', unbind: 'EPERM' });
    assert.equal((await kclient.getSubsys('ktest')).portid, h.client.portId, 'binding untouched');
  });

  it('refuses a second handler for a bound subsystem', async () => {
    const h = await handler('ktest', echo);
    const other = await KoffloadClient.open();
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

  it('leaves no waiting caller when the modules are unloaded with calls pending', async function () {
    const dir = process.env.KOFFLOAD_KMOD_DIR;
    if (!dir) this.skip();
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
});
