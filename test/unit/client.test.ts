// KoffloadClient and KtestClient: against this host (no module: NO_FAMILY)
// and against a fake kernel on another netlink port, for the behaviour that
// needs no module: typed REQUEST events, dropping malformed ones, reply
// batching, error accounting, and the request/answer commands. The fake
// kernel is another userspace port: those tests need root.
import assert from 'node:assert/strict';
import { KoffloadError, NetlinkError } from '../../src/errors.js';
import { KOFFLOAD, KOFFLOAD_TEST } from '../../src/generated/wire.js';
import { type KernelRequest, KoffloadClient } from '../../src/kernel/client.js';
import { KtestClient } from '../../src/kernel/test-client.js';
import { decodeAttrs, decodeGenl, decodeNlMessages, encodeAttrs, encodeGenlMsg, encodeU64Nest, putU32 } from '../../src/netlink/codec.js';
import { openGenlSocket } from '../../src/netlink/socket.js';
import { FAMILY_ID, FakePeer } from './fake-peer.js';
import { IS_ROOT, UNICAST_NEEDS_ROOT, skipBecause } from '../skip.js';
import { StubSocket } from './stub-socket.js';

const SPEC = KOFFLOAD.attrSpec;
const ENOENT = 2;

const requestMsg = (reqId: bigint, over: Record<string, unknown> = {}): Buffer =>
  encodeGenlMsg(
    { type: FAMILY_ID, flags: 0, seq: 0, cmd: KOFFLOAD.cmd.request, version: 1 },
    encodeAttrs(SPEC, { reqId, subsysId: 1, op: 1, deadlineNs: 5_000_000_000n, flags: 0, payload: Buffer.from('req'), ...over }),
  );

const subsysAttrs = (id: number, name: string): Buffer[] => [
  ...encodeAttrs(SPEC, {
    subsysId: id,
    subsysName: name,
    portid: 99,
    boundPid: 1234,
    mode: KOFFLOAD.mode.on,
    canaryPermille: 1000,
    deadlineMs: 100,
    maxInflight: 64,
    pending: 0,
    circuit: KOFFLOAD.circuit.closed,
    nrOps: 2,
    payloadMax: KOFFLOAD.limits.payloadMax,
    inflightMax: 64,
    deadlineMaxMs: KOFFLOAD.limits.deadlineMaxMs,
  }),
  encodeU64Nest(KOFFLOAD.attr.outcomes, [10n, 2n, 1n]),
  encodeU64Nest(KOFFLOAD.attr.counters, [13n]),
];

describe('KoffloadClient / KtestClient on this host', () => {
  it('KoffloadClient.open() fails with KOFFLOAD_ERR_NO_FAMILY (no module loaded)', async () => {
    await assert.rejects(KoffloadClient.open(), (e: unknown) => e instanceof KoffloadError && e.code === 'KOFFLOAD_ERR_NO_FAMILY' && e.errnoCode === 'ENOENT');
  });

  it('refreshFamily() asks nlctrl again also when the kernel family id came from the options (as resolveTarget() gives it)', async () => {
    const c = await KoffloadClient.open({ familyId: 0x3ff });
    try {
      // no koffload family on this host: the kernel's answer, not the id it was given
      await assert.rejects(c.refreshFamily(), (e: unknown) => e instanceof NetlinkError && e.code === 'ENOENT');
    } finally {
      c.close();
    }
  });

  it('KtestClient.open() fails with KOFFLOAD_ERR_NO_FAMILY', async () => {
    await assert.rejects(KtestClient.open(), { code: 'KOFFLOAD_ERR_NO_FAMILY' });
  });
});

describe('KoffloadClient against a fake kernel', () => {
  let peer: FakePeer;
  let client: KoffloadClient;
  beforeEach(async () => {
    peer = new FakePeer();
    client = await KoffloadClient.open({ peerPort: peer.portId, familyId: FAMILY_ID });
  });
  afterEach(() => {
    client.close();
    peer.close();
  });

  const nextRequest = (): Promise<KernelRequest> => new Promise((resolve) => client.once('request', resolve));

  it('emits typed REQUESTs', async function () {
    if (!IS_ROOT) skipBecause(this, UNICAST_NEEDS_ROOT);
    const got = nextRequest();
    await peer.send(client.portId, [requestMsg(0x1_0000_0001n, { flags: KOFFLOAD.reqFlag.hasDefault, default: Buffer.from('dflt') })]);
    const r = await got;
    assert.equal(r.reqId, 0x1_0000_0001n);
    assert.equal(r.subsysId, 1);
    assert.equal(r.op, 1);
    assert.equal(r.deadlineNs, 5_000_000_000n);
    assert.equal(r.payload.toString(), 'req');
    assert.equal(r.default?.toString(), 'dflt');
    assert.equal(client.stats.requests, 1);
  });

  it('counts and drops malformed REQUESTs and keeps serving', async function () {
    if (!IS_ROOT) skipBecause(this, UNICAST_NEEDS_ROOT);
    const decodeErrors: Error[] = [];
    client.on('decodeError', (e) => decodeErrors.push(e));
    const got = nextRequest();
    const noPayload = encodeGenlMsg(
      { type: FAMILY_ID, flags: 0, seq: 0, cmd: KOFFLOAD.cmd.request, version: 1 },
      encodeAttrs(SPEC, { reqId: 1n, subsysId: 1, op: 1, deadlineNs: 1n, flags: 0 }),
    );
    const badOp = requestMsg(2n);
    badOp.writeUInt32LE(KOFFLOAD.limits.opsMax + 1, badOp.indexOf(Buffer.from([8, 0, KOFFLOAD.attr.op, 0])) + 4);
    await peer.send(client.portId, [noPayload, badOp]); // one datagram, two bad messages
    await peer.send(client.portId, [Buffer.from([1, 2, 3])]); // not even a header
    await peer.send(client.portId, [requestMsg(3n)]);
    assert.equal((await got).reqId, 3n);
    assert.equal(client.stats.malformedRequests, 2);
    assert.equal(client.stats.decodeErrors, 3);
    assert.equal(decodeErrors.length, 3);
    assert.ok(decodeErrors.every((e) => (e as KoffloadError).code === 'KOFFLOAD_ERR_MALFORMED'));
    assert.equal(client.stats.requests, 1);
  });

  it('ignores datagrams from ports other than the kernel peer', async function () {
    if (!IS_ROOT) skipBecause(this, UNICAST_NEEDS_ROOT);
    const intruder = openGenlSocket();
    try {
      const got = nextRequest();
      await intruder.send([requestMsg(66n)], { port: client.portId });
      await peer.send(client.portId, [requestMsg(7n)]);
      assert.equal((await got).reqId, 7n);
      assert.equal(client.transportStats.foreignDatagrams, 1);
      assert.equal(client.stats.requests, 1);
    } finally {
      intruder.close();
    }
  });

  it('sends all replies of one event-loop turn in one datagram', async function () {
    if (!IS_ROOT) skipBecause(this, UNICAST_NEEDS_ROOT);
    peer.responder = (req) => (req.header.flags & 0x4 ? { errno: ENOENT } : { replies: [] });
    assert.equal(client.reply(1n, KOFFLOAD.status.ok, Buffer.from('a')), true);
    client.reply(2n, 'decline');
    client.reply(3n, KOFFLOAD.status.error, Buffer.alloc(0));
    // a later request is the next datagram: everything before it was one send
    await assert.rejects(client.replyAck(4n, 'ok'), (e: unknown) => e instanceof NetlinkError && e.errno === ENOENT && e.errnoCode === 'ENOENT');
    assert.equal(peer.datagrams.length, 2);
    const batch = peer.datagrams[0]!.messages.map((m) => decodeGenl(m));
    assert.deepEqual(
      batch.map((g) => g.cmd),
      [KOFFLOAD.cmd.reply, KOFFLOAD.cmd.reply, KOFFLOAD.cmd.reply],
    );
    const vals = batch.map((g) => decodeAttrs(g.attrs, SPEC).values);
    assert.deepEqual(
      vals.map((v) => [v.reqId, v.status, v.payload?.toString()]),
      [
        [1n, 0, 'a'],
        [2n, 1, undefined],
        [3n, 2, ''],
      ],
    );
    assert.ok(peer.datagrams[0]!.messages.every((m) => (m.header.flags & 0x4) === 0), 'replies ask for no ACK');
    assert.equal(client.stats.replyBatches, 1);
    assert.equal(client.stats.replies, 3);
  });

  it('counts replies the kernel rejects, late ones (ENOENT) apart', async function () {
    if (!IS_ROOT) skipBecause(this, UNICAST_NEEDS_ROOT);
    peer.responder = (req) => {
      const reqId = decodeAttrs(req.attrs, SPEC).values.reqId;
      return reqId === 10n ? { errno: ENOENT, extack: 'no such pending request' } : { errno: 1 };
    };
    const events: { reqId?: bigint; code: string; extack?: string }[] = [];
    const two = new Promise<void>((resolve) =>
      client.on('replyError', (ev) => {
        events.push(ev);
        if (events.length === 2) resolve();
      }),
    );
    client.reply(10n, 'ok');
    client.reply(11n, 'ok');
    await two;
    assert.deepEqual(events, [
      { reqId: 10n, errno: ENOENT, code: 'ENOENT', extack: 'no such pending request' },
      { reqId: 11n, errno: 1, code: 'EPERM' },
    ]);
    assert.equal(client.stats.lateReplies, 1);
    assert.deepEqual(client.stats.replyErrors, { ENOENT: 1, EPERM: 1 });
  });

  it('rejects bad reply arguments at once and drops replies after close', () => {
    assert.throws(() => client.reply(1n, 3), { code: 'KOFFLOAD_ERR_INVALID_ARG' });
    assert.throws(() => client.reply(-1n, 'ok'), { code: 'KOFFLOAD_ERR_INVALID_ARG' });
    assert.throws(() => client.reply(1n, 'ok', Buffer.alloc(KOFFLOAD.limits.payloadMax + 1)), { code: 'KOFFLOAD_ERR_INVALID_ARG' });
    client.close();
    assert.equal(client.reply(1n, 'ok'), false);
    assert.equal(client.stats.repliesDropped, 1);
  });

  it('binds with the protocol version and returns the kernel limits', async function () {
    if (!IS_ROOT) skipBecause(this, UNICAST_NEEDS_ROOT);
    let sent: ReturnType<typeof decodeAttrs<typeof SPEC>>['values'] | undefined;
    peer.responder = (req) => {
      sent = decodeAttrs(req.attrs, SPEC).values;
      return { replies: [subsysAttrs(5, 'ktest')] };
    };
    const b = await client.bind({ name: 'ktest', mode: 'canary', canaryPermille: 250 });
    assert.equal(sent?.subsysName, 'ktest');
    assert.equal(sent?.version, KOFFLOAD.version);
    assert.equal(sent?.mode, KOFFLOAD.mode.canary);
    assert.equal(sent?.canaryPermille, 250);
    assert.equal(sent?.deadlineMs, undefined);
    assert.deepEqual([b.subsysId, b.payloadMax, b.inflightMax, b.deadlineMaxMs], [5, 4096, 64, 60000]);
  });

  it('maps a version refusal to KOFFLOAD_ERR_VERSION and validates bind options', async function () {
    if (!IS_ROOT) skipBecause(this, UNICAST_NEEDS_ROOT);
    peer.responder = () => ({ errno: 71 });
    await assert.rejects(client.bind({ name: 'ktest' }), { code: 'KOFFLOAD_ERR_VERSION' });
    await assert.rejects(client.bind({ name: 'x'.repeat(KOFFLOAD.limits.nameMax) }), { code: 'KOFFLOAD_ERR_INVALID_ARG' });
    await assert.rejects(client.bind({ name: 'ktest', canaryPermille: 1001 }), { code: 'KOFFLOAD_ERR_INVALID_ARG' });
  });

  it('reads one subsystem and dumps all', async function () {
    if (!IS_ROOT) skipBecause(this, UNICAST_NEEDS_ROOT);
    peer.responder = (req) => {
      const v = decodeAttrs(req.attrs, SPEC).values;
      if (v.subsysName === 'nope') return { errno: ENOENT };
      return { replies: v.subsysName || v.subsysId ? [subsysAttrs(1, 'ktest')] : [subsysAttrs(1, 'ktest'), subsysAttrs(2, 'ktest2')] };
    };
    const one = await client.getSubsys('ktest');
    assert.equal(one.name, 'ktest');
    assert.equal(one.mode, 'on');
    assert.equal(one.boundPid, 1234);
    assert.equal(one.outcomes.served, 10n);
    assert.equal(one.outcomes.noHandler, 1n);
    assert.equal(one.outcomes.invalid, 0n);
    assert.equal(one.counters.requestsSent, 13n);
    const all = await client.dumpSubsys();
    assert.deepEqual(
      all.map((s) => s.name),
      ['ktest', 'ktest2'],
    );
    await assert.rejects(client.getSubsys('nope'), { code: 'ENOENT' });
  });

  it('publishes, sets modes and unbinds with ACKs', async function () {
    if (!IS_ROOT) skipBecause(this, UNICAST_NEEDS_ROOT);
    const cmds: number[] = [];
    peer.responder = (req) => {
      cmds.push(req.cmd);
      return { replies: [] };
    };
    await client.publish(1, Buffer.from('key'), Buffer.from('val'), 1000);
    await client.setMode(1, 'shadow');
    await client.unbind(1);
    assert.deepEqual(cmds, [KOFFLOAD.cmd.publish, KOFFLOAD.cmd.setMode, KOFFLOAD.cmd.unbind]);
    await assert.rejects(client.publish(1, Buffer.alloc(KOFFLOAD.limits.keyMax + 1), Buffer.alloc(0), 1), { code: 'KOFFLOAD_ERR_INVALID_ARG' });
  });
});

describe('KtestClient against a fake kernel', () => {
  let peer: FakePeer;
  let ktest: KtestClient;
  const TSPEC = KOFFLOAD_TEST.attrSpec;
  beforeEach(async () => {
    peer = new FakePeer();
    ktest = await KtestClient.open({ peerPort: peer.portId, familyId: FAMILY_ID });
  });
  afterEach(() => {
    ktest.close();
    peer.close();
  });

  it('starts a run and polls its result until done', async function () {
    if (!IS_ROOT) skipBecause(this, UNICAST_NEEDS_ROOT);
    let runAttrs: ReturnType<typeof decodeAttrs<typeof TSPEC>>['values'] | undefined;
    let polls = 0;
    peer.responder = (req) => {
      const v = decodeAttrs(req.attrs, TSPEC).values;
      if (req.cmd === KOFFLOAD_TEST.cmd.run) {
        runAttrs = v;
        return { replies: [encodeAttrs(TSPEC, { runId: 9 })] };
      }
      polls++;
      const done = polls >= 3 ? 1 : 0;
      return {
        replies: [
          [
            ...encodeAttrs(TSPEC, { runId: v.runId, done, maxWaitNs: 5n, totalWaitNs: 7n, intact: 2n, lastPayload: Buffer.from('echo') }),
            encodeU64Nest(KOFFLOAD_TEST.attr.outcomes, [2n, 1n]),
          ],
        ],
      };
    };
    const id = await ktest.run({ subsys: 'ktest', op: 1, calls: 3, threads: 2, timeoutMs: 500, context: 'nofs', payload: Buffer.from('x'), flags: ['checkEcho', 'sendDefault'] });
    assert.equal(id, 9);
    assert.equal(runAttrs?.context, KOFFLOAD_TEST.context.nofs);
    assert.equal(runAttrs?.flags, KOFFLOAD_TEST.runFlag.checkEcho | KOFFLOAD_TEST.runFlag.sendDefault);
    assert.equal(runAttrs?.cacheKey, undefined);
    const res = await ktest.waitResult(id, { pollMs: 1, timeoutMs: 10_000 });
    assert.equal(polls, 3);
    assert.equal(res.done, true);
    assert.equal(res.outcomes.served, 2n);
    assert.equal(res.outcomes.declined, 1n);
    assert.equal(res.intact, 2n);
    assert.equal(res.lastPayload?.toString(), 'echo');
  });

  it('validates run options before sending', async () => {
    await assert.rejects(ktest.run({ subsys: 'ktest', op: 1, calls: 1, threads: KOFFLOAD_TEST.limits.threadsMax + 1 }), { code: 'KOFFLOAD_ERR_INVALID_ARG' });
    assert.equal(peer.datagrams.length, 0);
  });
});

describe('KoffloadClient over an in-memory socket', () => {
  let sock: StubSocket;
  let client: KoffloadClient;
  beforeEach(async () => {
    sock = new StubSocket();
    client = await KoffloadClient.open({ socket: sock, familyId: FAMILY_ID, maxDatagramBytes: 1024 });
  });
  afterEach(() => client.close());

  const turn = (): Promise<void> => new Promise((r) => setImmediate(r));
  /** The REPLYs the client sent: [reqId, status]. */
  const replies = (): [bigint, number][] =>
    sock.sent.flatMap((d) => decodeNlMessages(d).map((m) => decodeAttrs(decodeGenl(m).attrs, SPEC).values)).map((v) => [v.reqId!, v.status!]);

  it('DECLINEs at once a malformed REQUEST whose req-id decodes; drops one without', async () => {
    const noPayload = encodeGenlMsg(
      { type: FAMILY_ID, flags: 0, seq: 0, cmd: KOFFLOAD.cmd.request, version: 1 },
      encodeAttrs(SPEC, { reqId: 7n, subsysId: 1, op: 1, deadlineNs: 1n, flags: 0 }),
    );
    const noId = encodeGenlMsg(
      { type: FAMILY_ID, flags: 0, seq: 0, cmd: KOFFLOAD.cmd.request, version: 1 },
      encodeAttrs(SPEC, { subsysId: 1, op: 1, deadlineNs: 1n, flags: 0, payload: Buffer.from('x') }),
    );
    sock.deliver(Buffer.concat([noPayload, noId]));
    await turn();
    assert.deepEqual(replies(), [[7n, KOFFLOAD.status.decline]]);
    assert.equal(client.stats.malformedRequests, 2);
    assert.equal(client.stats.malformedDeclined, 1);
  });

  it('sends the replies of one receive crossing in one sendmsg() when the crossing ends, before any other turn', () => {
    const req = (id: bigint): Buffer =>
      encodeGenlMsg({ type: FAMILY_ID, flags: 0, seq: 0, cmd: KOFFLOAD.cmd.request, version: 1 }, encodeAttrs(SPEC, { reqId: id, subsysId: 1, op: 1, deadlineNs: 1n, flags: 0, payload: Buffer.from('x') }));
    client.on('request', (r) => client.reply(r.reqId, 'ok', r.payload));
    for (const id of [1n, 2n, 3n]) sock.deliver(req(id));
    assert.equal(sock.sent.length, 0, 'nothing sent while the crossing is being read');
    sock.emit('batch');
    assert.equal(sock.sent.length, 1, 'one datagram as soon as the crossing ends');
    assert.deepEqual(replies(), [[1n, 0], [2n, 0], [3n, 0]]);
  });

  it('gives every handler its own copy of the payload: the receive buffer is reused', () => {
    const got: KernelRequest[] = [];
    client.on('request', (r) => got.push(r));
    const shared = encodeGenlMsg({ type: FAMILY_ID, flags: 0, seq: 0, cmd: KOFFLOAD.cmd.request, version: 1 }, encodeAttrs(SPEC, { reqId: 9n, subsysId: 1, op: 1, deadlineNs: 1n, flags: 4, payload: Buffer.from('payload'), default: Buffer.from('dflt') }));
    sock.deliver(shared);
    shared.fill(0);
    assert.equal(got[0]!.payload.toString(), 'payload');
    assert.equal(got[0]!.default?.toString(), 'dflt');
  });

  it('ignores REQUEST flag bits it does not know (a newer module)', async () => {
    const got = new Promise<KernelRequest>((resolve) => client.once('request', resolve));
    const unknownBit = 0x100;
    const msg = encodeGenlMsg(
      { type: FAMILY_ID, flags: 0, seq: 0, cmd: KOFFLOAD.cmd.request, version: 1 },
      [...encodeAttrs(SPEC, { reqId: 9n, subsysId: 1, op: 1, deadlineNs: 1n, payload: Buffer.from('x') }), putU32(KOFFLOAD.attr.flags, KOFFLOAD.reqFlag.advisory | unknownBit)],
    );
    sock.deliver(msg);
    const r = await got;
    assert.equal(r.flags, KOFFLOAD.reqFlag.advisory);
    assert.equal(client.stats.malformedRequests, 0);
  });

  it('keeps the good messages of a datagram before a bad nlmsg_len, and counts the bad one', async () => {
    const seen: bigint[] = [];
    client.on('request', (r) => seen.push(r.reqId));
    const bad = requestMsg(3n);
    bad.writeUInt32LE(bad.length + 1000, 0);
    sock.deliver(Buffer.concat([requestMsg(1n), requestMsg(2n), bad]));
    await turn();
    assert.deepEqual(seen, [1n, 2n]);
    assert.equal(client.stats.decodeErrors, 1);
  });

  it('counts as failed only the replies of the sendmsg() that failed, when a batch is split', async () => {
    sock.failSend = (n) => (n === 1 ? Object.assign(new Error('EAGAIN'), { code: 'EAGAIN' }) : undefined);
    const payload = Buffer.alloc(300, 1);
    for (let i = 1; i <= 6; i++) client.reply(BigInt(i), 'ok', payload);
    await turn();
    await turn();
    assert.ok(client.stats.replyBatches >= 3, `${client.stats.replyBatches} batches`);
    const delivered = replies().length;
    assert.equal(client.stats.replyErrors['EAGAIN'], 6 - delivered);
    assert.ok(delivered > 0 && delivered < 6);
  });
});

describe('GenlSocket', () => {
  it('settles a send before send() returns, so a close right after it leaves nothing pending', async () => {
    const s = openGenlSocket({ dropCheckMs: 0 });
    const msg = encodeGenlMsg({ type: 16, flags: 1, seq: 1, cmd: 3, version: 1 }, []);
    const sent = s.send([msg], { port: 0 });
    s.close();
    const settled = await Promise.race([sent.then(() => 'resolved', (e: unknown) => (e as { code?: string }).code), new Promise((r) => setTimeout(() => r('never settled'), 1000))]);
    assert.equal(settled, 'resolved');
    await assert.rejects(s.send([msg], { port: 0 }), { code: 'KOFFLOAD_ERR_SOCKET_CLOSED' });
  });
});
