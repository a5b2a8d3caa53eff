// The daemon's per-request JavaScript, without sockets: REQUEST bytes go
// into the client as the addon's socket delivers them (offsets into one
// arena, a microtask turn after each crossing), through the
// dispatcher, a SubsystemServer with metrics on, the bench policy's handler
// and the reply encoder, into a socket that only counts what it is given.
// Prints ns per request (wall and CPU) and V8 heap bytes allocated per
// request (HeapAllocationMeter) at 1 and 32 requests per crossing, for the
// whole pipeline and for the transport alone (a listener that replies a
// fixed payload: what is allocated below the handler); asserts nothing.
//
//   node dist/bench/pipeline.js [--count N] [--subsystems 1..64]
import { EventEmitter } from 'node:events';
import { parseArgs } from 'node:util';
import { EchoRequest, ktest } from '../src/generated/proto/ktest.js';
import { KOFFLOAD } from '../src/generated/wire.js';
import { encodeRequest, sizeRequest } from '../src/generated/wire-codec.js';
import { KoffloadClient } from '../src/kernel/client.js';
import { GENL_HDRLEN, NLMSG_HDRLEN } from '../src/netlink/codec.js';
import type { DatagramSink, GenlSocket, GenlSocketEvents, GenlSocketStats } from '../src/netlink/socket.js';
import { HeapAllocationMeter } from '../src/runtime/memory.js';
import { DaemonMetrics } from '../src/runtime/metrics.js';
import { PolicyRegistry, definePolicy } from '../src/runtime/policy.js';
import { Dispatcher, SubsystemServer } from '../src/runtime/server.js';

class CountingSocket extends EventEmitter<GenlSocketEvents> implements GenlSocket {
  readonly portId = 77;
  readonly closed = false;
  readonly stats: GenlSocketStats = { drops: 0, enobufs: 0, recvErrors: 0, truncated: 0, datagrams: 0, batches: 0, sends: 0 };
  /** no receive crossings here: replies flush at setImmediate */
  readonly receiving = false;
  bytes = 0;
  private sink: DatagramSink | undefined;
  setDatagramSink(sink: DatagramSink | undefined): void {
    this.sink = sink;
  }
  /** One datagram, as the addon's socket hands it over: the arena, an offset and an end. */
  deliver(arena: Buffer, start: number, end: number): void {
    if (this.sink) this.sink(arena, start, end, 0);
    else this.emit('datagram', arena.subarray(start, end), 0);
  }
  send(buffers: readonly Uint8Array[]): Promise<void> {
    this.stats.sends++;
    for (const b of buffers) this.bytes += b.byteLength;
    return Promise.resolve();
  }
  recvBufferSize(): number {
    return 1 << 20;
  }
  checkDrops(): number {
    return 0;
  }
  setRef(): void {}
  close(): void {}
}

function request(reqId: bigint, seq: bigint, subsysId: number): Buffer {
  const payload = EchoRequest.encode({ data: Buffer.alloc(52, 7), seq });
  const v = { reqId, subsysId, op: 1, deadlineNs: process.hrtime.bigint() + 10_000_000_000n, flags: 0, payload };
  const b = Buffer.alloc(NLMSG_HDRLEN + GENL_HDRLEN + sizeRequest(v));
  const end = encodeRequest(b, NLMSG_HDRLEN + GENL_HDRLEN, v);
  b.writeUInt32LE(end, 0);
  b.writeUInt16LE(0x4b4f, 4);
  b[16] = KOFFLOAD.cmd.request;
  b[17] = 1;
  return b;
}

const { values } = parseArgs({ options: { count: { type: 'string', default: '300000' }, subsystems: { type: 'string', default: '1' } } });
const count = Number(values.count);
const nsub = Number(values.subsystems);
const sock = new CountingSocket();
const client = await KoffloadClient.open({ socket: sock, familyId: 0x4b4f, peerPort: 0, monotonicOffsetNs: 0n });
const metrics = new DaemonMetrics();
// as bench/policy.ts does: one policy (and handler closure) per subsystem
const reg = new PolicyRegistry();
for (let i = 0; i < nsub; i++) reg.add(definePolicy({ subsystem: `bench${i}`, schema: ktest, ops: { echo: { handler: (req) => ({ data: req.data, seq: req.seq + 1n }) } } }));
const dispatcher = new Dispatcher(client);
reg.subsystems().forEach((policy, i) => dispatcher.add(new SubsystemServer({ policy, subsysId: i + 1, transport: client, onDecision: (ev) => metrics.observe(ev) })));
// subsystems taken in turn, as bench/loadgen.c does
// in one arena at the addon's slot size (one ArrayBuffer, as the receive path reads them)
const SLOT = 65536;
const arena = Buffer.alloc(64 * SLOT);
const reqLens = Array.from({ length: 64 }, (_, i) => request(BigInt(((i % nsub) + 1) * 2 ** 48 + i + 1), BigInt(i), (i % nsub) + 1).copy(arena, i * SLOT));
const meter = new HeapAllocationMeter();
/** Feeds `count` requests through `s`; wall and CPU ns and heap bytes per request. */
async function drive(s: CountingSocket, perBatch: number): Promise<{ ns: number; cpuNs: number; bytes: number }> {
  meter.start();
  const a0 = meter.allocatedBytes();
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  for (let i = 0; i < count; i += perBatch) {
    for (let j = 0; j < perBatch; j++) s.deliver(arena, j * SLOT, j * SLOT + reqLens[j]!);
    s.emit('batch');
    // the daemon returns to the event loop after every crossing: the
    // microtasks a crossing queued (a reply flush's promise) run here, not
    // all at the end, where the young generation would hold them alive
    await undefined;
  }
  const c = process.cpuUsage(c0);
  const ns = Number(process.hrtime.bigint() - t0) / count;
  const bytes = (meter.allocatedBytes() - a0) / count;
  meter.stop();
  return { ns, cpuNs: ((c.user + c.system) * 1000) / count, bytes };
}
for (const perBatch of [1, 32, 1, 32]) {
  const r = await drive(sock, perBatch);
  console.log(`pipeline: ${perBatch} request(s) per crossing: ${r.ns.toFixed(0)} ns per request wall, ${r.cpuNs.toFixed(0)} ns CPU (all threads), ${r.bytes.toFixed(0)} B of V8 heap allocated`);
}
// the transport alone: decode, payload copy, the KernelRequest, the REPLY written into the client's buffer
const tsock = new CountingSocket();
const tclient = await KoffloadClient.open({ socket: tsock, familyId: 0x4b4f, peerPort: 0, monotonicOffsetNs: 0n });
const fixed = Buffer.alloc(56, 1);
tclient.on('request', (req) => tclient.reply(req.reqId, 'ok', fixed));
for (const perBatch of [1, 32]) {
  const r = await drive(tsock, perBatch);
  console.log(`transport only: ${perBatch} request(s) per crossing: ${r.ns.toFixed(0)} ns per request wall, ${r.bytes.toFixed(0)} B of V8 heap allocated`);
}
tclient.close();
client.close();
