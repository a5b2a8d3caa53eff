// Round trip of koffload's userspace path against a C baseline, over two
// real NETLINK_GENERIC sockets on this host (root: unicast between user
// ports). The requester plays the kernel: it sends REQUEST messages in the
// koffload wire format; the responder is a KoffloadClient in another
// process that answers each with a batched REPLY, as a handler does.
//
//   node dist/bench/echo-rtt.js [--rounds N] [--inflight K] [--total M]
//
// Prints the mean round trip at one in flight and the throughput at K in
// flight. bench/run.sh runs it next to bench/genl-pingpong.c (the same
// pattern in C) and prints the ratios; compare ratios, not absolute numbers.
import { fork } from 'node:child_process';
import { parseArgs } from 'node:util';
import { KOFFLOAD } from '../src/generated/wire.js';
import { KoffloadClient } from '../src/kernel/client.js';
import { NLM_F, decodeAttrs, decodeGenl, decodeNlMessages, encodeAttrs, encodeGenlMsg } from '../src/netlink/codec.js';
import { openGenlSocket } from '../src/netlink/socket.js';

const FAMILY = 0x4b4f; // any genl id: both ends are ours
const PAYLOAD = Buffer.alloc(64, 0x5a);

async function responder(peerPort: number): Promise<void> {
  const client = await KoffloadClient.open({ familyId: FAMILY, peerPort });
  client.on('request', (req) => {
    client.reply(req.reqId, KOFFLOAD.status.ok, req.payload);
  });
  process.send?.({ port: client.portId });
  process.on('disconnect', () => {
    client.close();
    process.exit(0);
  });
}

async function requester(rounds: number, inflight: number, total: number): Promise<void> {
  const sock = openGenlSocket();
  const child = fork(new URL(import.meta.url), ['--responder', String(sock.portId)]);
  const port = await new Promise<number>((resolve) => child.once('message', (m: { port: number }) => resolve(m.port)));

  let seq = 0;
  const waiters = new Map<bigint, () => void>();
  sock.on('datagram', (buf) => {
    for (const m of decodeNlMessages(buf)) {
      const g = decodeGenl(m);
      if (g.cmd !== KOFFLOAD.cmd.reply) continue;
      const id = decodeAttrs(g.attrs, KOFFLOAD.attrSpec).values.reqId;
      if (id === undefined) continue;
      waiters.get(id)?.();
      waiters.delete(id);
    }
  });
  const call = (): Promise<void> => {
    const reqId = BigInt(++seq);
    const msg = encodeGenlMsg(
      { type: FAMILY, flags: NLM_F.REQUEST, seq, pid: sock.portId, cmd: KOFFLOAD.cmd.request, version: KOFFLOAD.version },
      encodeAttrs(KOFFLOAD.attrSpec, { reqId, subsysId: 1, op: 1, deadlineNs: process.hrtime.bigint() + 1_000_000_000n, flags: 0, payload: PAYLOAD }),
    );
    const done = new Promise<void>((resolve) => waiters.set(reqId, resolve));
    void sock.send([msg], { port });
    return done;
  };

  for (let i = 0; i < 200; i++) await call(); // warm up
  let t0 = process.hrtime.bigint();
  for (let i = 0; i < rounds; i++) await call();
  const rttUs = Number(process.hrtime.bigint() - t0) / rounds / 1000;

  t0 = process.hrtime.bigint();
  let sent = 0;
  const lane = async (): Promise<void> => {
    while (sent < total) {
      sent++;
      await call();
    }
  };
  await Promise.all(Array.from({ length: inflight }, lane));
  const perSec = total / (Number(process.hrtime.bigint() - t0) / 1e9);

  console.log(`node rtt_us=${rttUs.toFixed(1)} msg_per_s=${Math.round(perSec)} inflight=${inflight}`);
  child.disconnect();
  sock.close();
}

const { values } = parseArgs({
  options: {
    responder: { type: 'string' },
    rounds: { type: 'string', default: '5000' },
    inflight: { type: 'string', default: '32' },
    total: { type: 'string', default: '50000' },
  },
});
if (values.responder) await responder(Number(values.responder));
else await requester(Number(values.rounds), Number(values.inflight), Number(values.total));
