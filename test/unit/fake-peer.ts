// A userspace socket that plays the kernel's side of a genl family for the
// host tests: root may unicast between NETLINK_GENERIC ports, so a client
// opened with { peerPort, familyId } talks to this instead of a module.
import {
  type GenlMessage,
  type NlMessage,
  NLM_F,
  decodeGenl,
  decodeNlMessages,
  encodeGenlMsg,
  encodeNlDone,
  encodeNlError,
} from '../../src/netlink/codec.js';
import { type GenlSocket, openGenlSocket } from '../../src/netlink/socket.js';

export const FAMILY_ID = 0x7f0;

export interface Datagram {
  from: number;
  messages: NlMessage[];
}

/** Answers one request: reply attribute sets, or an errno. */
export type Responder = (req: GenlMessage) => { replies: Buffer[][] } | { errno: number; extack?: string };

export class FakePeer {
  readonly socket: GenlSocket;
  readonly datagrams: Datagram[] = [];
  responder: Responder | undefined;
  private waiters: { n: number; resolve: () => void }[] = [];

  constructor() {
    this.socket = openGenlSocket({ recvBufferSize: 1 << 20, sendBufferSize: 1 << 20 });
    // the socket's buffer is reused by its next receive: keep a copy
    this.socket.on('datagram', (buf, from) => this.onDatagram(Buffer.from(buf), from));
  }

  get portId(): number {
    return this.socket.portId;
  }

  /** Resolves once `n` datagrams have arrived in total. */
  waitDatagrams(n: number): Promise<void> {
    if (this.datagrams.length >= n) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ n, resolve }));
  }

  private onDatagram(buf: Buffer, from: number): void {
    const messages = decodeNlMessages(buf);
    this.datagrams.push({ from, messages });
    for (const m of messages) this.answer(m, from);
    this.waiters = this.waiters.filter((w) => {
      if (this.datagrams.length < w.n) return true;
      w.resolve();
      return false;
    });
  }

  private answer(m: NlMessage, from: number): void {
    if (!this.responder) return;
    const g = decodeGenl(m);
    const r = this.responder(g);
    const out: Buffer[] = [];
    if ('errno' in r) {
      out.push(encodeNlError(m.header, { errno: r.errno, requestPayload: m.payload, ...(r.extack ? { extack: r.extack } : {}) }));
    } else {
      const dump = (m.header.flags & NLM_F.DUMP) === NLM_F.DUMP;
      for (const attrs of r.replies) {
        const flags = dump ? NLM_F.MULTI : 0;
        out.push(encodeGenlMsg({ type: m.header.type, flags, seq: m.header.seq, pid: from, cmd: g.cmd, version: 1 }, attrs));
      }
      if (dump) out.push(encodeNlDone(m.header.seq));
      else if (m.header.flags & NLM_F.ACK) out.push(encodeNlError(m.header, { errno: 0 }));
    }
    for (const b of out) void this.socket.send([b], { port: from });
  }

  /** Sends raw datagrams to `port` as the "kernel". */
  send(port: number, buffers: Buffer[]): Promise<void> {
    return this.socket.send(buffers, { port });
  }

  close(): void {
    this.socket.close();
  }
}
