// SubsystemServer and Dispatcher: answers, queue cap, deadline-aware
// dequeue, abandonment, advisory lane, shadow handling, drain. Driven
// in-process through a stub transport with a manual clock.
import assert from 'node:assert/strict';
import { KOFFLOAD } from '../../src/generated/wire.js';
import { EchoRequest, PickRequest, PickResponse, ktest } from '../../src/generated/proto/ktest.js';
import type { KernelRequest } from '../../src/kernel/client.js';
import { type DecisionEvent, Dispatcher, PolicyRegistry, ServerDrainingError, SubsystemServer, decline, definePolicy, type PolicyLimits, type HandlerContext, silentLogger } from '../../src/runtime/index.js';
import { ManualClock, StubTransport, deferred } from './runtime-stub.js';

let nextId = 1n;
function req(clock: ManualClock, over: Partial<KernelRequest> = {}): KernelRequest {
  return {
    reqId: nextId++,
    subsysId: 7,
    op: 1,
    deadlineNs: clock.now + 100_000_000n,
    flags: 0,
    payload: EchoRequest.encode({ data: Buffer.from('hi'), seq: 5n }),
    ...over,
  };
}

type Handlers = Parameters<typeof definePolicy<typeof ktest>>[0]['ops'];

function setup(ops: Handlers, limits: PolicyLimits = {}, role: 'live' | 'shadow' = 'live') {
  const clock = new ManualClock();
  const transport = new StubTransport();
  const events: DecisionEvent[] = [];
  const policy = new PolicyRegistry().add(definePolicy({ subsystem: 'ktest', schema: ktest, limits, ops })).get('ktest')!;
  const server = new SubsystemServer({ policy, subsysId: 7, transport, clock: clock.read, role, onDecision: (e) => events.push(e) });
  return { clock, transport, server, events };
}

const echo = { handler: (r: { data: Uint8Array; seq: bigint }) => ({ data: r.data, seq: r.seq }) };

describe('runtime: lanes and answers', () => {
  it('replies OK with the encoded response', async () => {
    const { clock, transport, server } = setup({ echo });
    const r = req(clock);
    const ev = await server.handle(r);
    assert.equal(ev.outcome, 'ok');
    assert.equal(transport.replies.length, 1);
    assert.equal(transport.replies[0]!.status, 'ok');
    assert.equal(transport.replies[0]!.reqId, r.reqId);
    assert.equal(EchoRequest.decode(transport.replies[0]!.payload!).seq, 5n);
  });

  it('DECLINE for decline() returned or thrown, ERROR for a throw', async () => {
    let mode = 0;
    const { clock, transport, server } = setup({
      echo: {
        handler: () => {
          if (mode === 0) return decline();
          if (mode === 1) throw decline('no');
          throw new Error('boom');
        },
      },
    });
    const outcomes: string[] = [];
    for (mode = 0; mode < 3; mode++) outcomes.push((await server.handle(req(clock))).outcome);
    assert.deepEqual(outcomes, ['declined', 'declined', 'error']);
    assert.deepEqual(transport.replies.map((r) => r.status), ['decline', 'decline', 'error']);
  });

  it('ERROR (bad_response) for a response that does not fit its type', async () => {
    const { clock, transport, server } = setup({ pick: { handler: () => ({ victim_id: -3 }) } });
    const ev = await server.handle(req(clock, { op: 2, payload: PickRequest.encode({}) }));
    assert.equal(ev.outcome, 'bad_response');
    assert.deepEqual(transport.replies.map((r) => r.status), ['error']);
  });

  it('DECLINE for an op the policy does not serve and for an undecodable payload', async () => {
    const { clock, transport, server } = setup({ echo });
    assert.equal((await server.handle(req(clock, { op: 2 }))).outcome, 'unimplemented');
    assert.equal((await server.handle(req(clock, { payload: Buffer.from([0x0a, 0xff]) }))).outcome, 'bad_request');
    assert.deepEqual(transport.replies.map((r) => r.status), ['decline', 'decline']);
  });

  it('passes the deadline, a signal and the decoded kernel default in the context', async () => {
    let seen: HandlerContext<unknown, unknown> | undefined;
    const { clock, server } = setup({
      pick: {
        handler: (_r, ctx) => {
          seen = ctx as HandlerContext<unknown, unknown>;
          return { victim_id: 1 };
        },
      },
    });
    const r = req(clock, { op: 2, payload: PickRequest.encode({}), flags: KOFFLOAD.reqFlag.hasDefault, default: PickResponse.encode({ victim_id: 9 }) });
    await server.handle(r);
    assert.equal(seen?.deadlineNs, r.deadlineNs);
    assert.equal(seen?.signal.aborted, false);
    assert.deepEqual(seen?.default, { victim_id: 9 });
    assert.equal(seen?.shadow, false);
  });

  it('declines at once past the queue cap', async () => {
    const gate = deferred();
    let calls = 0;
    const { clock, transport, server } = setup(
      { echo: { handler: async (r) => { calls++; await gate.promise; return { data: r.data, seq: r.seq }; } } },
      { concurrency: 1, queueMax: 1 },
    );
    const a = server.handle(req(clock));
    const b = server.handle(req(clock));
    const c = await server.handle(req(clock));
    assert.equal(c.outcome, 'shed');
    assert.deepEqual(transport.replies.map((r) => r.status), ['decline']);
    gate.resolve();
    assert.deepEqual([(await a).outcome, (await b).outcome], ['ok', 'ok']);
    assert.equal(calls, 2);
  });

  it('queueMax 0 serves requests while a handler slot is free, and sheds only when none is', async () => {
    const gate = deferred();
    const { clock, transport, server } = setup(
      { echo: { handler: async (r) => { await gate.promise; return { data: r.data, seq: r.seq }; } } },
      { concurrency: 2, queueMax: 0 },
    );
    const a = server.handle(req(clock));
    const b = server.handle(req(clock));
    assert.equal((await server.handle(req(clock))).outcome, 'shed');
    gate.resolve();
    assert.deepEqual([(await a).outcome, (await b).outcome], ['ok', 'ok']);
    await new Promise((r) => setImmediate(r));
    assert.equal((await server.handle(req(clock))).outcome, 'ok');
    assert.deepEqual(transport.replies.map((r) => r.status), ['decline', 'ok', 'ok', 'ok']);
  });

  it('stops admitting work past abandonedMax abandoned handlers still running: ERROR (stalled) so the circuit opens', async () => {
    const hung: (() => void)[] = [];
    const { clock, transport, server } = setup(
      { echo: { handler: () => new Promise((resolve) => hung.push(() => resolve({ seq: 1n }))) } },
      { concurrency: 1, abandonedMax: 2 },
    );
    for (let i = 0; i < 2; i++) {
      const p = server.handle(req(clock, { deadlineNs: clock.now + 1_000_000n }));
      await new Promise((r) => setImmediate(r));
      clock.advanceMs(2);
      assert.equal((await p).outcome, 'abandoned');
    }
    assert.equal(server.abandonedRunning, 2);
    const ev = await server.handle(req(clock));
    assert.equal(ev.outcome, 'stalled');
    assert.deepEqual(transport.replies.map((r) => r.status), ['error']);
    assert.equal(hung.length, 2);
    // one settles: admitted again
    hung[0]!();
    await new Promise((r) => setImmediate(r));
    assert.equal(server.abandonedRunning, 1);
    const next = server.handle(req(clock, { deadlineNs: clock.now + 1_000_000n }));
    await new Promise((r) => setImmediate(r));
    assert.equal(hung.length, 3);
    clock.advanceMs(2);
    assert.equal((await next).outcome, 'abandoned');
  });

  it('never starts queued work whose deadline can no longer be met', async () => {
    const gate = deferred();
    let calls = 0;
    const { clock, transport, server } = setup(
      { echo: { handler: async (r) => { calls++; await gate.promise; return { data: r.data, seq: r.seq }; } } },
      { concurrency: 1, minBudgetUs: 1000 },
    );
    const a = server.handle(req(clock, { deadlineNs: clock.now + 1_000_000_000n }));
    const b = server.handle(req(clock, { deadlineNs: clock.now + 50_000_000n }));
    clock.advanceMs(49.5);
    gate.resolve();
    assert.equal((await a).outcome, 'ok');
    const eb = await b;
    assert.equal(eb.outcome, 'expired');
    assert.equal(calls, 1);
    // still 0.5 ms before the deadline: declined so the caller stops waiting
    assert.deepEqual(transport.replies.map((r) => r.status), ['ok', 'decline']);
  });

  it('abandons a handler at its deadline: no reply, signal aborted, slot freed', async () => {
    let signal: AbortSignal | undefined;
    let hang = true;
    const { clock, transport, server } = setup(
      {
        echo: {
          handler: async (r, ctx) => {
            if (hang) {
              hang = false;
              signal = ctx.signal;
              await new Promise(() => {});
            }
            return { data: r.data, seq: r.seq };
          },
        },
      },
      { concurrency: 1 },
    );
    const a = server.handle(req(clock, { deadlineNs: clock.now + 1_000_000n }));
    await new Promise((r) => setImmediate(r));
    clock.advanceMs(2);
    const ea = await a;
    assert.equal(ea.outcome, 'abandoned');
    assert.equal(signal?.aborted, true);
    assert.equal(server.abandonedRunning, 1);
    assert.equal(transport.replies.length, 0);
    assert.equal((await server.handle(req(clock))).outcome, 'ok');
  });

  it('serves advisory requests on their own lane, never behind blocking work', async () => {
    const gate = deferred();
    const { clock, server } = setup(
      { echo: { handler: async (r, ctx) => { if (!ctx.advisory) await gate.promise; return { data: r.data, seq: r.seq }; } } },
      { concurrency: 1, queueMax: 4 },
    );
    const blocked = [server.handle(req(clock)), server.handle(req(clock))];
    const adv = await server.handle(req(clock, { flags: KOFFLOAD.reqFlag.advisory }));
    assert.equal(adv.outcome, 'ok');
    assert.equal(adv.lane, 'advisory');
    assert.equal(server.laneStats('blocking').queued, 1);
    gate.resolve();
    await Promise.all(blocked);
  });

  it('answers an advisory request (koffload_advise, id 0) only through publish', async () => {
    const { clock, transport, server } = setup({
      echo: { handler: async (r, ctx) => { await ctx.publish('k', { seq: r.seq }, 1000); return { data: r.data, seq: r.seq }; } },
    });
    const ev = await server.handle(req(clock, { reqId: 0n, flags: KOFFLOAD.reqFlag.advisory }));
    assert.equal(ev.outcome, 'ok');
    assert.equal(ev.replied, false);
    assert.equal(transport.replies.length, 0);
    assert.deepEqual(transport.published.map((p) => [p.subsysId, p.key.toString(), p.ttlMs]), [[7, 'k', 1000]]);
  });

  it('limits.advisoryLateMs runs an advisory request past its deadline, and only advisory ones', async () => {
    const seen: bigint[] = [];
    const handler = (r: { data: Uint8Array; seq: bigint }) => (seen.push(r.seq), { data: r.data, seq: r.seq });
    const late = (clock: ManualClock, advisory: boolean): KernelRequest =>
      req(clock, { deadlineNs: clock.now - 5_000_000n, ...(advisory ? { reqId: 0n, flags: KOFFLOAD.reqFlag.advisory } : {}) });
    // the default: an advisory request 5 ms past its deadline expires unrun
    const d = setup({ echo: { handler } });
    assert.equal((await d.server.handle(late(d.clock, true))).outcome, 'expired');
    assert.equal(seen.length, 0);
    const { clock, transport, server } = setup({ echo: { handler } }, { advisoryLateMs: 10 });
    assert.equal((await server.handle(late(clock, true))).outcome, 'ok');
    assert.equal(seen.length, 1);
    assert.equal(transport.replies.length, 0);
    // a blocking request keeps its deadline
    assert.equal((await server.handle(late(clock, false))).outcome, 'expired');
    // and an advisory one past the added time expires too
    assert.equal((await server.handle(req(clock, { deadlineNs: clock.now - 11_000_000n, reqId: 0n, flags: KOFFLOAD.reqFlag.advisory }))).outcome, 'expired');
    assert.equal(seen.length, 1);
  });

  it('ctx.publish checks key and TTL like AdvisoryCache.publish: ttl 0 and bad keys are coded errors', async () => {
    const errors: unknown[] = [];
    const tries: [string, number][] = [['k', 0], ['', 1000], ['x'.repeat(KOFFLOAD.limits.keyMax + 1), 1000], ['k', KOFFLOAD.limits.cacheTtlMaxMs + 1], ['k', 1.5]];
    for (const role of ['live', 'shadow'] as const) {
      const { clock, transport, server } = setup(
        {
          echo: {
            handler: async (r, ctx) => {
              for (const [k, ttl] of tries) await ctx.publish(k, { seq: r.seq }, ttl).catch((e: unknown) => errors.push(e));
              return { data: r.data, seq: r.seq };
            },
          },
        },
        {},
        role,
      );
      assert.equal((await server.handle(req(clock, { reqId: 0n, flags: KOFFLOAD.reqFlag.advisory }))).outcome, 'ok');
      assert.equal(transport.published.length, 0);
    }
    assert.equal(errors.length, tries.length * 2);
    for (const e of errors) assert.equal((e as { code?: string }).code, 'KOFFLOAD_ERR_INVALID_ARG');
  });

  it('ctx.publishBytes() publishes bytes as they are, with the same checks, and nothing for shadow requests', async () => {
    const errors: unknown[] = [];
    const raw = Uint8Array.from({ length: KOFFLOAD.limits.payloadMax }, (_, i) => i & 0xff);
    const { clock, transport, server } = setup({
      echo: {
        handler: async (r, ctx) => {
          await ctx.publishBytes('c', raw, 1000);
          for (const [k, p, ttl] of [['k', raw, 0], ['', raw, 1000], ['k', new Uint8Array(KOFFLOAD.limits.payloadMax + 1), 1000]] as const) {
            await ctx.publishBytes(k, p, ttl).catch((e: unknown) => errors.push(e));
          }
          return { data: r.data, seq: r.seq };
        },
      },
    });
    assert.equal((await server.handle(req(clock, { reqId: 0n, flags: KOFFLOAD.reqFlag.advisory }))).outcome, 'ok');
    assert.equal(transport.published.length, 1);
    assert.deepEqual([...transport.published[0]!.payload], [...raw]);
    assert.deepEqual(errors.map((e) => (e as { code?: string }).code), ['KOFFLOAD_ERR_INVALID_ARG', 'KOFFLOAD_ERR_INVALID_ARG', 'KOFFLOAD_ERR_INVALID_ARG']);
    assert.equal((await server.handle(req(clock, { reqId: 0n, flags: KOFFLOAD.reqFlag.shadow | KOFFLOAD.reqFlag.advisory }))).outcome, 'ok');
    assert.equal(transport.published.length, 1);
  });

  it('ctx.publish() sends nothing for a request with the kernel shadow flag (also advisory ones), served by a live policy', async () => {
    const seen: boolean[] = [];
    const { clock, transport, server } = setup({
      echo: { handler: async (r, ctx) => { seen.push(ctx.shadow); await ctx.publish('k', { seq: r.seq }, 1000); return { data: r.data, seq: r.seq }; } },
    });
    assert.equal((await server.handle(req(clock, { reqId: 0n, flags: KOFFLOAD.reqFlag.shadow }))).outcome, 'ok');
    assert.equal((await server.handle(req(clock, { reqId: 0n, flags: KOFFLOAD.reqFlag.shadow | KOFFLOAD.reqFlag.advisory }))).outcome, 'ok');
    assert.deepEqual(seen, [true, true]);
    assert.equal(transport.published.length, 0);
    assert.equal((await server.handle(req(clock, { reqId: 0n, flags: KOFFLOAD.reqFlag.advisory }))).outcome, 'ok');
    assert.equal(transport.published.length, 1);
  });

  it('a ctx.publish() that rejects without being awaited is logged and counted, not an unhandled rejection', async () => {
    const warned: string[] = [];
    const clock = new ManualClock();
    const transport = new StubTransport();
    transport.publish = () => Promise.reject(Object.assign(new Error('cache full'), { code: 'ENOSPC' }));
    const policy = new PolicyRegistry()
      .add(definePolicy({ subsystem: 'ktest', schema: ktest, ops: { echo: { handler: (r, ctx) => { void ctx.publish('k', { seq: r.seq }, 1000); return { data: r.data, seq: r.seq }; } } } }))
      .get('ktest')!;
    const server = new SubsystemServer({ policy, subsysId: 7, transport, clock: clock.read, logger: { ...silentLogger, warn: (m: string) => warned.push(m) } });
    const unhandled: unknown[] = [];
    const onUnhandled = (r: unknown): void => void unhandled.push(r);
    const mochaListeners = process.listeners('unhandledRejection');
    process.removeAllListeners('unhandledRejection');
    process.on('unhandledRejection', onUnhandled);
    try {
      assert.equal((await server.handle(req(clock))).outcome, 'ok');
      await new Promise((r) => setTimeout(r, 10));
    } finally {
      process.off('unhandledRejection', onUnhandled);
      for (const l of mochaListeners) process.on('unhandledRejection', l);
    }
    assert.deepEqual(unhandled, []);
    assert.equal(server.publishErrors, 1);
    assert.deepEqual(warned, ['ctx.publish() failed']);
  });

  it('computes shadow requests without replying', async () => {
    let calls = 0;
    const { clock, transport, server, events } = setup({ echo: { handler: (r, ctx) => { calls++; assert.equal(ctx.shadow, true); return { data: r.data, seq: r.seq }; } } });
    const ev = await server.handle(req(clock, { reqId: 0n, flags: KOFFLOAD.reqFlag.shadow }));
    assert.equal(ev.outcome, 'ok');
    assert.equal(ev.replied, false);
    assert.equal(calls, 1);
    assert.equal(transport.replies.length, 0);
    assert.equal(events.length, 1);
  });

  it('a shadow policy never replies nor publishes', async () => {
    const { clock, transport, server } = setup(
      { echo: { handler: async (r, ctx) => { await ctx.publish('k', { data: r.data }, 1000); return { data: r.data, seq: r.seq }; } } },
      {},
      'shadow',
    );
    const ev = await server.handle(req(clock));
    assert.equal(ev.outcome, 'ok');
    assert.equal(transport.replies.length + transport.published.length, 0);
  });

  it('drain declines queued and new requests at once and waits for running ones', async () => {
    const gate = deferred();
    const { clock, transport, server } = setup(
      { echo: { handler: async (r) => { await gate.promise; return { data: r.data, seq: r.seq }; } } },
      { concurrency: 1 },
    );
    const a = server.handle(req(clock));
    const rb = req(clock);
    const b = server.handle(rb);
    await new Promise((r) => setImmediate(r));
    const drained = server.drain();
    // the queued request is answered before the running handler finishes
    assert.equal((await b).outcome, 'shutdown');
    assert.deepEqual(transport.replies.map((r) => [r.reqId, r.status]), [[rb.reqId, 'decline']]);
    assert.equal(server.laneStats('blocking').queued, 0);
    assert.equal((await server.handle(req(clock))).outcome, 'shutdown');
    gate.resolve();
    await drained;
    assert.equal((await a).outcome, 'ok');
    assert.deepEqual(transport.replies.map((r) => r.status).sort(), ['decline', 'decline', 'ok']);
  });

  it('drain aborts the running handlers\' ctx.signal (ServerDrainingError) and still sends their answers', async () => {
    let reason: unknown;
    const { clock, transport, server } = setup({
      echo: {
        handler: async (r, ctx) => {
          await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }));
          reason = ctx.signal.reason;
          return { data: r.data, seq: r.seq };
        },
      },
    });
    const a = server.handle(req(clock));
    await new Promise((r) => setImmediate(r));
    await server.drain();
    assert.ok(reason instanceof ServerDrainingError);
    assert.equal((reason as ServerDrainingError).code, 'ESHUTDOWN');
    assert.equal((await a).outcome, 'ok');
    assert.deepEqual(transport.replies.map((r) => r.status), ['ok']);
  });

  it('drain sends no reply for queued requests whose deadline has passed', async () => {
    const gate = deferred();
    const { clock, transport, server, events } = setup(
      { echo: { handler: async (r) => { await gate.promise; return { data: r.data, seq: r.seq }; } } },
      { concurrency: 1 },
    );
    const a = server.handle(req(clock, { deadlineNs: clock.now + 1_000_000_000n }));
    const b = server.handle(req(clock, { deadlineNs: clock.now + 1_000_000n }));
    await new Promise((r) => setImmediate(r));
    clock.advanceMs(2);
    const drained = server.drain();
    const eb = await b;
    assert.equal(eb.outcome, 'shutdown');
    assert.equal(eb.replied, false);
    assert.equal(eb.status, undefined);
    assert.equal(transport.replies.length, 0);
    gate.resolve();
    await drained;
    assert.equal((await a).outcome, 'ok');
    assert.deepEqual(transport.replies.map((r) => r.status), ['ok']);
    assert.equal(events.filter((e) => e.outcome === 'shutdown').length, 1);
  });
});

describe('runtime: Dispatcher', () => {
  it('routes by subsystem id to the live and the shadow server; declines unrouted requests', async () => {
    const clock = new ManualClock();
    const transport = new StubTransport();
    const policy = new PolicyRegistry().add(definePolicy({ subsystem: 'ktest', schema: ktest, ops: { echo } })).get('ktest')!;
    const seen: string[] = [];
    const d = new Dispatcher(transport);
    d.add(new SubsystemServer({ policy, subsysId: 7, transport, clock: clock.read, onDecision: (e) => seen.push(e.role) }));
    d.add(new SubsystemServer({ policy, subsysId: 7, transport, clock: clock.read, role: 'shadow', onDecision: (e) => seen.push(e.role) }));
    transport.request(req(clock));
    transport.request(req(clock, { subsysId: 8 }));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(seen.sort(), ['live', 'shadow']);
    assert.equal(d.unrouted, 1);
    assert.deepEqual(transport.replies.map((r) => r.status).sort(), ['decline', 'ok']);
    d.detach();
    transport.request(req(clock));
    assert.equal(transport.listenerCount('request'), 0);
  });
});
