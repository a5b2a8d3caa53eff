// koffload as a library for policy authors: `npm pack` gives a tarball;
// installed into an empty directory, a policy there imports 'koffload' and
// 'koffload/proto/ktest' (never ../src/...), type-checks against the
// package's declarations, and serves ktest calls on the simulator through
// the package's own koffloadd.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { IS_ROOT, UNICAST_NEEDS_ROOT, skipBecause } from '../skip.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

const POLICY = `import { decline, definePolicy } from 'koffload';
import { ktest } from 'koffload/proto/ktest';

// ECHO answers with the data reversed, so the test can tell this policy served it
export default definePolicy({
  subsystem: 'ktest',
  schema: ktest,
  name: 'outside-the-repo',
  ops: {
    echo: { handler: (req) => ({ seq: req.seq, data: Uint8Array.from(req.data).reverse() }) },
    pick: { handler: () => decline('not mine') },
  },
});
`;

describe('npm pack: koffload as a library', function () {
  this.timeout(240_000);

  it('installs from the tarball into an empty directory, where a policy imports koffload and serves the simulator', async function () {
    if (!IS_ROOT) skipBecause(this, UNICAST_NEEDS_ROOT);
    const dir = mkdtempSync(join(tmpdir(), 'koffload-pack-'));
    chmodSync(dir, 0o755);
    const kids: ChildProcess[] = [];
    try {
      // dist/ is built (pretest): pack it as it is
      const pack = spawnSync(NPM, ['pack', '--ignore-scripts', '--pack-destination', dir], { cwd: ROOT, encoding: 'utf8' });
      assert.equal(pack.status, 0, pack.stderr);
      const tgz = readdirSync(dir).find((f) => f.endsWith('.tgz'));
      assert.ok(tgz, `no tarball in ${dir}: ${pack.stdout}`);
      const app = join(dir, 'my-policy');
      spawnSync('mkdir', [app]);
      writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'my-policy', private: true, type: 'module' }));
      const inst = spawnSync(NPM, ['install', '--no-audit', '--no-fund', '--prefer-offline', join(dir, tgz)], { cwd: app, encoding: 'utf8' });
      assert.equal(inst.status, 0, inst.stderr);
      writeFileSync(join(app, 'policy.ts'), POLICY);
      // the package's declarations type-check the policy (tsc from this repo)
      writeFileSync(
        join(app, 'tsconfig.json'),
        JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, types: [], skipLibCheck: true }, files: ['policy.ts'] }),
      );
      const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', app], { encoding: 'utf8' });
      assert.equal(tsc.status, 0, `tsc: ${tsc.stdout}${tsc.stderr}`);
      // and the package's own binaries serve it
      const bin = (name: string): string => join(app, 'node_modules', '.bin', name);
      const state = join(dir, 'sim.json');
      const sim = spawn(bin('koffload-sim'), ['--state-file', state, '-q'], { stdio: 'ignore' });
      kids.push(sim);
      for (let i = 0; i < 100 && spawnSync('test', ['-s', state]).status !== 0; i++) await sleep(50);
      let log = '';
      const d = spawn(bin('koffloadd'), ['--policy', join(app, 'policy.ts'), '--state-file', state, '--log-level', 'info'], { cwd: app });
      kids.push(d);
      d.stdout!.on('data', (b: Buffer) => (log += b));
      d.stderr!.on('data', (b: Buffer) => (log += b));
      let bound = false;
      for (let i = 0; i < 200 && !bound; i++) {
        const st = spawnSync(bin('koffloadctl'), ['status', '--json', '--state-file', state], { encoding: 'utf8' });
        bound = st.status === 0 && (JSON.parse(st.stdout) as { subsystems: { name: string; bound: boolean }[] }).subsystems.some((s) => s.name === 'ktest' && s.bound);
        if (!bound) await sleep(100);
      }
      assert.ok(bound, `koffloadd never bound ktest: ${log}`);
      const calls = spawnSync(bin('koffloadctl'), ['calls', 'ktest', '--count', '20', '--json', '--state-file', state], { encoding: 'utf8' });
      assert.equal(calls.status, 0, calls.stderr);
      const res = JSON.parse(calls.stdout) as { outcomes: Record<string, string>; intact: string };
      assert.equal(res.outcomes.served, '20', calls.stdout);
      // reversed, not echoed: this policy answered
      assert.equal(String(res.intact), '0', calls.stdout);
    } finally {
      for (const k of kids.reverse()) k.kill('SIGTERM');
      await sleep(300);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
