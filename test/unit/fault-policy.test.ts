// The policy the fault suite (test/faults/run.ts) serves with koffloadd in
// the debug guest misbehaves as a request's data says. Checked here against
// the in-process simulator, so a broken fixture shows on any machine, not
// only as a wrong fault matrix after a QEMU run.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EchoRequest, EchoResponse } from '../../src/generated/proto/ktest.js';
import { Daemon } from '../../src/runtime/daemon.js';
import { silentLogger } from '../../src/runtime/policy.js';
import { type Simulator, startSimulator } from '../../src/sim/index.js';

const DIST = fileURLToPath(new URL('../../', import.meta.url));
const POLICY = join(DIST, 'test/faults/fixtures/fault-policy.js');

describe('fault suite: the misbehaving policy', function () {
  this.timeout(20_000);
  let sim: Simulator;
  let daemon: Daemon;

  before(async () => {
    sim = await startSimulator({ transport: 'inproc', stateFile: null });
    daemon = await Daemon.start({
      config: { policies: [POLICY], metricsPort: 0 },
      target: { kind: 'sim', koffload: sim.clientOptions() },
      logger: silentLogger,
    });
  });
  after(async () => {
    await daemon.stop();
    await sim.close();
  });

  const call = (tag: string, timeoutMs = 1000) =>
    sim.call('ktest', 1, EchoRequest.encode({ data: Buffer.from(tag), seq: 7n }), { timeoutMs });

  it('echoes, sleeps, declines as told', async () => {
    const e = await call('echo');
    assert.equal(e.outcome, 'served');
    assert.equal(Buffer.from(EchoResponse.decode(e.payload!).data).toString(), 'echo');
    const slow = await call('slow:20');
    assert.equal(slow.outcome, 'served');
    // setTimeout counts from libuv's cached loop time, which can be up to a
    // millisecond older than the moment the handler ran: 20 ms can end
    // 19.6 ms after the call began (seen in CI: 19577930 ns)
    assert.ok(slow.waitNs >= 19_000_000n, `slow:20 answered after ${slow.waitNs} ns`);
    assert.equal((await call('decline')).outcome, 'declined');
  });

  it('throws, answers the wrong type or too much: each an ERROR reply', async () => {
    for (const tag of ['throw', 'wrongtype', 'oversize']) assert.equal((await call(tag)).outcome, 'handlerError', tag);
    const text = await (await fetch(`http://127.0.0.1:${daemon.metricsPort}/metrics`)).text();
    const count = (o: string): number => Number(new RegExp(`^koffload_requests_total\\{[^}]*outcome="${o}"\\} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
    assert.equal(count('error'), 1);
    assert.equal(count('bad_response'), 2);
  });

  it('hangs until the deadline', async () => {
    const r = await call('hang', 100);
    assert.equal(r.outcome, 'deadline');
  });
});
