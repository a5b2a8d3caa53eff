// A GenlSocket in memory for client tests that need no netlink at all:
// the test pushes datagrams in and sees every send; a send can be made to fail.
// Like the addon's socket it hands datagrams to a datagram sink when one is
// set (GenlClient sets one), at an offset inside a larger arena that is
// scribbled over once the sink returns, as the next crossing would: a
// reader that assumes offset 0 or keeps a view of the arena fails here.
import { EventEmitter } from 'node:events';
import type { DatagramSink, GenlSocket, GenlSocketEvents, GenlSocketStats, SendOptions } from '../../src/netlink/socket.js';

const ARENA_PAD = 48;

export class StubSocket extends EventEmitter<GenlSocketEvents> implements GenlSocket {
  readonly portId = 4242;
  readonly stats: GenlSocketStats = { drops: 0, enobufs: 0, recvErrors: 0, truncated: 0, datagrams: 0, batches: 0, sends: 0 };
  /** no receive crossings here: replies flush at setImmediate */
  readonly receiving = false;
  readonly sent: Buffer[] = [];
  closed = false;
  /** called per send with its index (0-based); an Error rejects that send */
  failSend: (n: number) => Error | undefined = () => undefined;
  private sink: DatagramSink | undefined;

  setDatagramSink(sink: DatagramSink | undefined): void {
    this.sink = sink;
  }

  send(buffers: readonly Uint8Array[], _options?: SendOptions): Promise<void> {
    const n = this.stats.sends++;
    const err = this.failSend(n);
    if (err) return Promise.reject(err);
    this.sent.push(Buffer.concat(buffers.map((b) => Buffer.from(b))));
    return Promise.resolve();
  }

  /** Delivers one datagram as if from port `from` (0: the kernel). */
  deliver(buf: Buffer, from = 0): void {
    this.stats.datagrams++;
    const sink = this.sink;
    if (sink) {
      const arena = Buffer.alloc(ARENA_PAD + buf.length + ARENA_PAD, 0xa5);
      buf.copy(arena, ARENA_PAD);
      sink(arena, ARENA_PAD, ARENA_PAD + buf.length, from);
      arena.fill(0x5a);
      if (this.closed || this.listenerCount('datagram') === 0) return;
    }
    this.emit('datagram', buf, from);
  }

  recvBufferSize(): number {
    return 1 << 20;
  }

  checkDrops(): number {
    return 0;
  }

  setRef(): void {}

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.emit('close');
  }
}
