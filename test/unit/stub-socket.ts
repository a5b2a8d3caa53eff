// A GenlSocket in memory for client tests that need no netlink at all:
// the test pushes datagrams in and sees every send; a send can be made to fail.
import { EventEmitter } from 'node:events';
import type { GenlSocket, GenlSocketEvents, GenlSocketStats, SendOptions } from '../../src/netlink/socket.js';

export class StubSocket extends EventEmitter<GenlSocketEvents> implements GenlSocket {
  readonly portId = 4242;
  readonly stats: GenlSocketStats = { drops: 0, enobufs: 0, recvErrors: 0, truncated: 0, datagrams: 0, batches: 0, sends: 0 };
  /** no receive crossings here: replies flush at setImmediate */
  readonly receiving = false;
  readonly sent: Buffer[] = [];
  closed = false;
  /** called per send with its index (0-based); an Error rejects that send */
  failSend: (n: number) => Error | undefined = () => undefined;

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
