// Keeping koffloadd resident and small: what is locked (and what is not:
// V8's own mappings), the coded error when RLIMIT_MEMLOCK is too low (with
// injected ops, and for real in a child without CAP_IPC_LOCK), the daemon's
// mlock config, and the execve restart with V8 heap limits.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Daemon, validateConfig } from '../../src/runtime/daemon.js';
import { type LockOps, HEAP_EXEC_ENV, heapExecPlan, lockResident, lockableMappings, parseMaps } from '../../src/runtime/memory.js';
import { silentLogger } from '../../src/runtime/index.js';
import { koffloadNlAvailable } from '../../src/native/koffload-nl.js';
import { startSimulator, type Simulator } from '../../src/sim/index.js';
import { IS_ROOT, findTool, skipBecause } from '../skip.js';

const MAPS = `55d0c3a00000-55d0c3c00000 r--p 00000000 fd:01 1234                       /usr/bin/node
55d0c3c00000-55d0c5c00000 r-xp 00200000 fd:01 1234                       /usr/bin/node
55d0c7000000-55d0c7100000 rw-p 00000000 00:00 0                          [heap]
3a1b00000000-3a1b00040000 rw-p 00000000 00:00 0
3a1b00040000-3a1b08000000 ---p 00000000 00:00 0
7f0000000000-7f0000001000 ---p 00000000 00:00 0
7f0000001000-7f0000201000 rw-p 00000000 00:00 0
7f1000000000-7f1000020000 r-xp 00000000 fd:01 99 /work/dist/native/koffload_nl.node
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]
7ffd000fe000-7ffd00100000 r--p 00000000 00:00 0                          [vvar]
7ffd00100000-7ffd00102000 r-xp 00000000 00:00 0                          [vdso]
`;

const here = fileURLToPath(new URL('.', import.meta.url));
const MEMORY_JS = join(here, '..', '..', 'src', 'runtime', 'memory.js');
const KOFFLOADD = join(here, '..', '..', 'src', 'cli', 'koffloadd.js');
const EXAMPLE = join(here, '..', '..', '..', 'examples', 'ktest-policy.ts');

function fakeOps(failAt: string | undefined, errno = 12): LockOps & { calls: [number, number, boolean][]; buffers: number } {
  const o = {
    calls: [] as [number, number, boolean][],
    buffers: 0,
    readMaps: () => MAPS,
    mlockRange(start: number, len: number, onfault: boolean): number {
      o.calls.push([start, len, onfault]);
      const m = parseMaps(MAPS).find((x) => x.start === start);
      return failAt !== undefined && m?.path === failAt ? errno : 0;
    },
    memlockLimit: (): [number, number] => [65536, 65536],
    lockBuffers: () => (o.buffers++, 0),
  };
  return o;
}

describe('runtime: memory locking and heap limits', () => {
  it("locks file mappings (on fault), [stack] and [heap], never V8's anonymous mappings or the kernel's", () => {
    const picked = lockableMappings(parseMaps(MAPS)).map((m) => m.path);
    assert.deepEqual(picked, ['/usr/bin/node', '/usr/bin/node', '[heap]', '/work/dist/native/koffload_nl.node', '[stack]']);
    const ops = fakeOps(undefined);
    const r = lockResident(ops);
    assert.equal(r.mappings, 5);
    assert.equal(ops.buffers, 1, "the transport's buffers are locked too");
    // file mappings on fault; the stack and the malloc heap populated
    assert.deepEqual(
      ops.calls.map(([, , onfault]) => onfault),
      [true, true, false, true, false],
    );
    assert.equal(r.lockedBytes, ops.calls.reduce((n, [, len]) => n + len, 0));
  });

  it('fails with KOFFLOAD_ERR_MEMLOCK naming RLIMIT_MEMLOCK, its value and how to raise it', () => {
    assert.throws(
      () => lockResident(fakeOps('[heap]')),
      (e: { code?: string; message: string }) =>
        e.code === 'KOFFLOAD_ERR_MEMLOCK' && /RLIMIT_MEMLOCK is 64 KiB \(hard 64 KiB\)/.test(e.message) && /LimitMEMLOCK=infinity/.test(e.message) && /\[heap\]/.test(e.message) && /ENOMEM/.test(e.message),
    );
    const bufFail = { ...fakeOps(undefined), lockBuffers: () => 1 };
    assert.throws(() => lockResident(bufFail), (e: { code?: string; message: string }) => e.code === 'KOFFLOAD_ERR_MEMLOCK' && /EPERM/.test(e.message) && /transport's buffers/.test(e.message));
  });

  it('really refuses, with that error, in a process limited to 64 KiB without CAP_IPC_LOCK', function () {
    if (!koffloadNlAvailable()) skipBecause(this, 'the native addon is not built');
    if (!IS_ROOT) skipBecause(this, 'needs root to drop CAP_IPC_LOCK with setpriv (an ordinary user has no CAP_IPC_LOCK: the same refusal applies)');
    const prlimit = findTool('prlimit');
    const setpriv = findTool('setpriv');
    if (!prlimit || !setpriv) skipBecause(this, 'needs prlimit and setpriv (util-linux)');
    const script = `import('${MEMORY_JS}').then((m) => { try { const r = m.lockResident(m.addonLockOps(() => 0)); console.log('locked', r.lockedBytes); } catch (e) { console.log(e.code); console.log(e.message); } })`;
    const run = (limit: string, dropCap = true): string => {
      const drop = dropCap ? [setpriv!, '--inh-caps=-ipc_lock', '--bounding-set=-ipc_lock'] : [];
      const r = spawnSync(prlimit!, [`--memlock=${limit}`, ...drop, process.execPath, '-e', script], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      return r.stdout;
    };
    const low = run('65536:65536');
    assert.match(low, /^KOFFLOAD_ERR_MEMLOCK\n/);
    assert.match(low, /RLIMIT_MEMLOCK is 64 KiB \(hard 64 KiB\)/);
    // the same limit with CAP_IPC_LOCK: the limit does not apply
    assert.match(run('65536:65536', false), /^locked \d+/);
  });

  it('locks at start with config mlock, before binding, and refuses to start when it cannot', async () => {
    let sim: Simulator | undefined = await startSimulator({ transport: 'inproc', stateFile: null });
    try {
      const ok = fakeOps(undefined);
      const d = await Daemon.start({ config: { policies: [EXAMPLE], mlock: true }, target: { kind: 'sim', koffload: sim.clientOptions() }, logger: silentLogger, lockOps: ok });
      assert.equal(d.locked?.mappings, 5);
      await d.stop();
      await assert.rejects(
        Daemon.start({ config: { policies: [EXAMPLE], mlock: true }, target: { kind: 'sim', koffload: sim.clientOptions() }, logger: silentLogger, lockOps: fakeOps('/usr/bin/node') }),
        { code: 'KOFFLOAD_ERR_MEMLOCK' },
      );
      // nothing stayed bound
      const probe = await Daemon.start({ config: { policies: [EXAMPLE] }, target: { kind: 'sim', koffload: sim.clientOptions() }, logger: silentLogger });
      assert.equal(probe.locked, undefined);
      await probe.stop();
    } finally {
      await sim?.close();
      sim = undefined;
    }
  });

  it('validates mlock and heap in the config', () => {
    const base = { policies: ['p.ts'] };
    assert.equal(validateConfig(base).mlock, false);
    assert.deepEqual(validateConfig({ ...base, mlock: true, heap: { maxOldSpaceMb: 128 } }).heap, { maxOldSpaceMb: 128 });
    for (const bad of [{ mlock: 'yes' }, { heap: { maxOldSpaceMb: 1 } }, { heap: { maxSemiSpaceMb: 1.5 } }, { heap: { young: 1 } }, { heap: 64 }]) {
      assert.throws(() => validateConfig({ ...base, ...bad }), { code: 'KOFFLOAD_ERR_BAD_CONFIG' }, JSON.stringify(bad));
    }
  });

  it('plans one execve with the heap flags, replacing flags of the same name, and none once they are in effect', () => {
    const proc = { execPath: '/usr/bin/node', execArgv: ['--enable-source-maps', '--max-old-space-size=4096'], argv: ['/usr/bin/node', '/x/koffloadd.js', '--config', 'c.json'], env: { PATH: '/bin' } };
    const plan = heapExecPlan({ maxOldSpaceMb: 96, maxSemiSpaceMb: 4 }, proc)!;
    assert.deepEqual(plan.argv, ['/usr/bin/node', '--enable-source-maps', '--max-old-space-size=96', '--max-semi-space-size=4', '/x/koffloadd.js', '--config', 'c.json']);
    assert.ok(plan.env.includes(`${HEAP_EXEC_ENV}=1`) && plan.env.includes('PATH=/bin'));
    assert.equal(heapExecPlan({}, proc), undefined);
    assert.equal(heapExecPlan({ maxOldSpaceMb: 96 }, { ...proc, env: { [HEAP_EXEC_ENV]: '1' } }), undefined, 'the restarted process never loops');
    assert.equal(heapExecPlan({ maxOldSpaceMb: 4096 }, proc), undefined, 'already given on the command line');
  });

  it('koffloadd restarts itself (same pid) with the V8 heap limits of its config', function () {
    if (!koffloadNlAvailable()) skipBecause(this, 'the native addon is not built');
    const dir = mkdtempSync(join(tmpdir(), 'koffload-heap-'));
    try {
      const cfg = join(dir, 'c.json');
      writeFileSync(cfg, JSON.stringify({ policies: [EXAMPLE], heap: { maxOldSpaceMb: 64, maxSemiSpaceMb: 2 } }));
      // no kernel module and no simulator: it restarts, logs the limit, then exits 3
      const r = spawnSync(process.execPath, [KOFFLOADD, '--config', cfg], { encoding: 'utf8', env: { ...process.env, KOFFLOAD_SIM_STATE: join(dir, 'none.json'), [HEAP_EXEC_ENV]: '' } });
      assert.match(r.stderr, /restarting with V8 heap limits flags="--max-old-space-size=64 --max-semi-space-size=2"/);
      const m = /V8 heap limit heapLimitMiB=(\d+)/.exec(r.stderr);
      assert.ok(m, r.stderr);
      // old space plus the young generation (three semi-spaces)
      assert.ok(Number(m[1]) >= 64 && Number(m[1]) <= 64 + 3 * 2 + 2, `limit ${m[1]} MiB`);
      assert.equal(r.status, 3, r.stderr);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
