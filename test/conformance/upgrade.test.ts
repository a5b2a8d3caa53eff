// Upgrading koffload.ko under a running koffloadd, in the QEMU guest
// (`npm run test:kernel`): the procedure of docs/operations.md "Upgrading
// the module". koffloadd (the real CLI) serves ktest; a run of calls is in
// flight when the client module goes (rmmod koffload_test: they end at once
// with outcome shutdown, and their callers run their defaults), then
// koffload.ko goes too (the genl family with it) and both are loaded again
// with the parameters they had. koffloadd must live through it, find the new
// family and bind ktest again by itself (its binding check), and serve.
//
// On the simulator the subsystem's re-registration is covered by
// test/unit/runtime-daemon.test.ts; a family that goes and comes back only
// exists with the real module.
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

import { KoffloadClient } from '../../src/kernel/client.js';
import { KtestClient } from '../../src/kernel/test-client.js';
import { KOFFLOAD } from '../../src/generated/wire.js';
import { FAULTS_POLICY } from '../prometheus-server.js';
import { skipBecause } from '../skip.js';
import { KOFFLOADD, TARGET_KIND, dmesg, koffloaddServing, nonZero, root, sleep, waitFor } from './env.js';

const OP_ECHO = 1;
const MODULES = ['koffload', 'koffload_test'] as const;
/** deadline of the calls in flight at unload, ms: far longer than the unload may take */
const INFLIGHT_DEADLINE_MS = 15_000;
const INFLIGHT = 4;

const loaded = (m: string): boolean => readFileSync('/proc/modules', 'utf8').split('\n').some((l) => l.startsWith(`${m} `));
/** The modules using `m` (the used-by column of /proc/modules). */
const users = (m: string): string[] => {
  const line = readFileSync('/proc/modules', 'utf8').split('\n').find((l) => l.startsWith(`${m} `));
  return (line?.split(' ')[3] ?? '-').split(',').filter((u) => u !== '' && u !== '-');
};
/** A loaded module's parameters as insmod arguments (name=value), to load it again as it was. */
const params = (m: string): string[] => {
  const dir = `/sys/module/${m}/parameters`;
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((p) => {
    try {
      return [`${p}=${readFileSync(join(dir, p), 'utf8').trim()}`];
    } catch {
      return []; // write-only
    }
  });
};

describe('upgrading koffload.ko under a running koffloadd (koffload.ko in the guest)', function () {
  this.timeout(300_000);
  const kmodDir = process.env.KOFFLOAD_KMOD_DIR ?? join(root, 'kernel-shim');
  const saved = new Map<string, string[]>();
  let proc: ChildProcess | undefined;


  after(async () => {
    if (proc && proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    // whatever failed: the modules are back for the guest's own unload check
    for (const m of MODULES) if (saved.has(m) && !loaded(m)) execFileSync('insmod', [join(kmodDir, `${m}.ko`), ...saved.get(m)!]);
  });

  it('koffloadd lives through rmmod and insmod of koffload_test.ko and koffload.ko, binds again by itself and serves; calls in flight fall back at once', async function () {
    if (TARGET_KIND !== 'kernel') skipBecause(this, 'needs koffload.ko to unload and load (on the simulator, test/unit/runtime-daemon.test.ts re-registers the subsystem under a running daemon)');
    const others = users('koffload').filter((u) => u !== 'koffload_test');
    if (others.length > 0) skipBecause(this, `koffload.ko is also used by ${others.join(', ')}, which this test would have to unload`);
    for (const m of MODULES) saved.set(m, params(m));
    proc = spawn(process.execPath, [KOFFLOADD, '--policy', FAULTS_POLICY, '--metrics-port', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
    const p = proc;
    const alive = (): boolean => p.exitCode === null && p.signalCode === null;
    const { log, metricsUrl } = await koffloaddServing(p);

    // serving before the upgrade
    const serve = async (calls: number): Promise<void> => {
      const ktest = await KtestClient.open();
      try {
        const r = await ktest.waitResult(await ktest.run({ subsys: 'ktest', op: OP_ECHO, calls, threads: 2, timeoutMs: 5_000, payload: Buffer.from('ok') }), { timeoutMs: 60_000 });
        assert.deepEqual(nonZero(r.outcomes), { served: BigInt(calls) }, log.join('\n'));
      } finally {
        ktest.close();
      }
    };
    await serve(10);

    // calls in flight when the client module goes: the handler holds them far past the unload
    const kclient = await KoffloadClient.open();
    const ktest = await KtestClient.open();
    const familyBefore = kclient.familyId;
    const runId = await ktest.run({ subsys: 'ktest', op: OP_ECHO, calls: INFLIGHT, threads: INFLIGHT, timeoutMs: INFLIGHT_DEADLINE_MS, payload: Buffer.from('hang:30000') });
    await waitFor('the calls pending in the kernel', async () => (await kclient.getSubsys('ktest')).pending === INFLIGHT, 30_000);
    kclient.close();
    ktest.close();
    const dmesgFrom = dmesg().length;
    const t0 = Date.now();
    execFileSync('rmmod', ['koffload_test']);
    const unloadMs = Date.now() - t0;
    execFileSync('rmmod', ['koffload']);
    // the run's outcomes, as the module reported them at unload: every call ended with shutdown
    const report = dmesg()
      .slice(dmesgFrom)
      .find((l) => new RegExp(`run ${runId} ktest context normal \\w+ at unload`).test(l));
    assert.ok(report, `no report of run ${runId} in dmesg`);
    assert.match(report, new RegExp(`started=${INFLIGHT} ended=${INFLIGHT} outcomes: ${KOFFLOAD.outcome.shutdown}=${INFLIGHT}$`));
    assert.ok(unloadMs < INFLIGHT_DEADLINE_MS / 2, `rmmod koffload_test took ${unloadMs} ms with calls in flight`);

    // no module: koffloadd keeps running and answering /metrics, without kernel series
    await sleep(1_500);
    assert.ok(alive(), `koffloadd exited when the module went:\n${log.join('\n')}`);
    const gone = await (await fetch(metricsUrl)).text();
    assert.doesNotMatch(gone, /^koffload_kernel_bound\{/m);

    // the new module (here: the same build), with the parameters the old ones had
    for (const m of MODULES) execFileSync('insmod', [join(kmodDir, `${m}.ko`), ...saved.get(m)!]);
    const fresh = await KoffloadClient.open();
    const familyAfter = fresh.familyId;
    try {
      await waitFor('koffloadd to bind ktest again', async () => {
        const info = await fresh.getSubsys('ktest');
        return info.bound && info.boundPid === p.pid;
      }, 30_000).catch((err: unknown) => assert.fail(`${String(err)}\nkoffloadd's log:\n${log.join('\n')}`));
    } finally {
      fresh.close();
    }
    await serve(10);
    assert.match(await (await fetch(metricsUrl)).text(), /^koffload_kernel_bound\{subsystem="ktest"\} 1$/m);
    assert.ok(log.some((l) => /lost the binding/.test(l)) && log.some((l) => /bound again/.test(l)), log.join('\n'));

    // and it still stops cleanly
    const exited = new Promise<number | null>((r) => p.once('exit', (code) => r(code)));
    p.kill('SIGTERM');
    assert.equal(await exited, 0, log.join('\n'));
    console.log(`upgrade: family id ${familyBefore} -> ${familyAfter}; rmmod koffload_test with ${INFLIGHT} calls in flight took ${unloadMs} ms; koffloadd: ${log.filter((l) => /lost the binding|bound again/.test(l)).join(' | ')}`);
  });
});
