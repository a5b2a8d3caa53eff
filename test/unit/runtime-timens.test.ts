// Time namespaces: the kernel stamps deadlines with the host's
// CLOCK_MONOTONIC; a daemon in a time namespace reads its own.
import assert from 'node:assert/strict';
import { KOFFLOAD } from '../../src/generated/wire.js';
import { type KernelRequest, KoffloadClient } from '../../src/kernel/client.js';
import { encodeAttrs, encodeGenlMsg } from '../../src/netlink/codec.js';
import { monotonicOffsetNs, parseMonotonicOffsetNs } from '../../src/runtime/timens.js';
import { StubSocket } from './stub-socket.js';

describe('runtime: time namespace offset', () => {
  it('parses the monotonic offset of /proc/self/timens_offsets', () => {
    assert.equal(parseMonotonicOffsetNs('monotonic           0         0\nboottime            0         0\n'), 0n);
    assert.equal(parseMonotonicOffsetNs('monotonic          10         0\nboottime            0         0\n'), 10_000_000_000n);
    assert.equal(parseMonotonicOffsetNs('boottime 5 0\nmonotonic -3 250000000\n'), -2_750_000_000n);
    for (const bad of ['', 'boottime 1 0\n', 'monotonic x 0\n', 'monotonic 1 1000000000\n']) {
      assert.throws(() => parseMonotonicOffsetNs(bad), { code: 'KOFFLOAD_ERR_CLOCK' }, JSON.stringify(bad));
    }
  });

  it('reads 0 where the kernel has no time namespaces (no such file)', () => {
    assert.equal(monotonicOffsetNs('/nonexistent/timens_offsets'), 0n);
  });

  it("moves a REQUEST's deadline to this process's clock", async () => {
    const sock = new StubSocket();
    const client = await KoffloadClient.open({ socket: sock, familyId: 0x7f0, monotonicOffsetNs: 10_000_000_000n });
    try {
      const got = new Promise<KernelRequest>((resolve) => client.once('request', resolve));
      sock.deliver(
        encodeGenlMsg(
          { type: 0x7f0, flags: 0, seq: 0, cmd: KOFFLOAD.cmd.request, version: 1 },
          encodeAttrs(KOFFLOAD.attrSpec, { reqId: 1n, subsysId: 1, op: 1, deadlineNs: 5_000_000_000n, flags: 0, payload: Buffer.from('x') }),
        ),
      );
      assert.equal((await got).deadlineNs, 15_000_000_000n);
    } finally {
      client.close();
    }
  });
});
