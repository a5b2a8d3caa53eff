// koffloadd's start-up check of its protection from the rest of the
// machine: one warning line per protection missing, never a failure.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Daemon } from '../../src/runtime/daemon.js';
import { createLogger } from '../../src/runtime/logger.js';
import { OOM_SCORE_ADJ_PROTECTED, protectionWarnings, readProtection } from '../../src/runtime/protection.js';
import { findTool, skipBecause } from '../skip.js';
import { startSimulator } from '../../src/sim/index.js';

const EXAMPLE = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', 'examples', 'ktest-policy.js');

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'koffload-prot-'));
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(join(root, p, '..'), { recursive: true });
    writeFileSync(join(root, p), text);
  }
  return root;
}

describe('runtime: protection check at start', () => {
  it('reads oom_score_adj, its cgroup v2 memory.min/low and VmLck', () => {
    const root = tree({
      'proc/self/oom_score_adj': '-900\n',
      'proc/self/cgroup': '0::/system.slice/koffloadd.service\n',
      'proc/self/status': 'Name:\tnode\nVmLck:\t   94220 kB\n',
      'cg/system.slice/koffloadd.service/memory.min': '134217728\n',
      'cg/system.slice/koffloadd.service/memory.low': 'max\n',
    });
    try {
      const f = readProtection({ procRoot: join(root, 'proc'), cgroupRoot: join(root, 'cg') });
      assert.deepEqual(f, { oomScoreAdj: -900, cgroupDir: join(root, 'cg/system.slice/koffloadd.service'), memoryMin: 134217728, memoryLow: Infinity, lockedBytes: 94220 * 1024 });
      assert.deepEqual(protectionWarnings(f), []);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('says once per missing protection what is missing and how to set it', () => {
    const w = protectionWarnings({ oomScoreAdj: 0, cgroupDir: undefined, memoryMin: undefined, memoryLow: undefined, lockedBytes: 0 });
    assert.equal(w.length, 3);
    assert.match(w[0]!, /oom_score_adj is 0 .*OOMScoreAdjust=-900/);
    assert.match(w[1]!, /no cgroup v2 of its own.*MemoryMin= and MemoryLow=/);
    assert.match(w[2]!, /no memory is locked.*--mlock/);
    // memory.low alone protects; -500 is the threshold; one protection missing, one line
    assert.deepEqual(protectionWarnings({ oomScoreAdj: -500, cgroupDir: '/x', memoryMin: 0, memoryLow: 1 << 20, lockedBytes: 4096 }), []);
    const cg = protectionWarnings({ oomScoreAdj: -499, cgroupDir: '/x', memoryMin: 0, memoryLow: 0, lockedBytes: 4096 });
    assert.equal(cg.length, 2);
    assert.match(cg[1]!, /its cgroup \/x has memory.min 0 and memory.low 0/);
  });

  it('koffloadd logs the warnings and serves anyway', async () => {
    const sim = await startSimulator({ transport: 'inproc', stateFile: null });
    const lines: string[] = [];
    try {
      const d = await Daemon.start({
        config: { policies: [EXAMPLE] },
        target: { kind: 'sim', koffload: sim.clientOptions() },
        logger: createLogger({ write: (l) => lines.push(l) }),
        protection: () => ({ oomScoreAdj: 1000, cgroupDir: undefined, memoryMin: undefined, memoryLow: undefined, lockedBytes: 0 }),
      });
      assert.ok(d.subsystems().length > 0);
      await d.stop();
    } finally {
      await sim.close();
    }
    const warns = lines.filter((l) => / warn unprotected: /.test(l));
    assert.equal(warns.length, 3, lines.join('\n'));
    assert.match(warns[0]!, /oom_score_adj is 1000/);
  });
});

describe('deploy/systemd/koffloadd.service', () => {
  const unit = readFileSync(join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..', 'deploy', 'systemd', 'koffloadd.service'), 'utf8');
  const keys = new Map<string, string>();
  for (const l of unit.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(l);
    if (m) keys.set(m[1]!, m[2]!);
  }

  it('sets every protection the start-up check looks for', () => {
    assert.ok(Number(keys.get('OOMScoreAdjust')) <= OOM_SCORE_ADJ_PROTECTED, `OOMScoreAdjust=${keys.get('OOMScoreAdjust')}`);
    assert.match(keys.get('MemoryMin') ?? '', /^\d+[KMG]$/);
    assert.match(keys.get('MemoryLow') ?? '', /^\d+[KMG]$/);
    assert.equal(keys.get('MemorySwapMax'), '0');
    assert.equal(keys.get('LimitMEMLOCK'), 'infinity');
    assert.match(keys.get('ExecStart') ?? '', / --mlock\b/);
    for (const cap of ['CAP_NET_ADMIN', 'CAP_IPC_LOCK', 'CAP_SYS_RESOURCE']) assert.ok(keys.get('CapabilityBoundingSet')?.split(' ').includes(cap), cap);
  });

  it('passes systemd-analyze verify', function () {
    const tool = findTool('systemd-analyze');
    if (!tool) skipBecause(this, 'systemd-analyze is not installed (Debian package systemd)');
    const r = spawnSync(tool, ['verify', '--man=no', join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..', 'deploy', 'systemd', 'koffloadd.service')], { encoding: 'utf8' });
    // /opt/koffload is where the unit expects the project; a missing ExecStart binary is the only complaint allowed here
    const complaints = `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.trim() && !/is not executable|No such file or directory|Command .* is not executable/.test(l));
    assert.deepEqual(complaints, []);
  });
});
