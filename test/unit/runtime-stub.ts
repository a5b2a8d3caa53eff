// An in-memory Transport for runtime tests: requests are pushed in by the
// test, replies and publishes are collected.
import { EventEmitter } from 'node:events';
import type { Status } from '../../src/generated/wire.js';
import type { KernelRequest } from '../../src/kernel/client.js';
import type { Transport } from '../../src/runtime/server.js';

export interface SentReply {
  reqId: bigint;
  status: Status;
  payload: Uint8Array | undefined;
}

export class StubTransport extends EventEmitter implements Transport {
  readonly replies: SentReply[] = [];
  readonly published: { subsysId: number; key: Buffer; payload: Buffer; ttlMs: number }[] = [];

  reply(reqId: bigint, status: Status, payload?: Uint8Array): boolean {
    this.replies.push({ reqId, status, payload });
    return true;
  }

  async publish(subsysId: number, key: Uint8Array, payload: Uint8Array, ttlMs: number): Promise<void> {
    this.published.push({ subsysId, key: Buffer.from(key), payload: Buffer.from(payload), ttlMs });
  }

  request(req: KernelRequest): void {
    this.emit('request', req);
  }
}

/** A clock the test moves by hand. */
export class ManualClock {
  now = 1_000_000_000n;
  readonly read = (): bigint => this.now;
  advanceMs(ms: number): void {
    this.now += BigInt(Math.round(ms * 1e6));
  }
}

/** A promise with its resolve exposed. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}
