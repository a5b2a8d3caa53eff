// Loading policy modules: no shared disk cache, files only root or the
// daemon's user may change, a fresh compile of the whole local module graph
// on every load, and old generations that can be garbage-collected.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, rmSync, type Stats, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';
import { loadPolicyModule } from '../../src/runtime/loader.js';
import { definePolicy } from '../../src/runtime/index.js';
import { assertTrustedFile } from '../../src/runtime/trust.js';
import { writePolicy } from './runtime-daemon.test.js';
import { IS_ROOT, skipBecause } from '../skip.js';

const DIST = fileURLToPath(new URL('../../', import.meta.url));
const ROOT = join(DIST, '..');

const seqPolicy = (expr: string): string =>
  `export default definePolicy({ subsystem: 'ktest', schema: ktest, name: String(${expr}), ops: { echo: { handler: (r) => r } } });`;

describe('runtime: policy loader', function () {
  this.timeout(30_000);
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'koffload-loader-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('compiles a TypeScript policy without writing anything to TMPDIR (no tsx disk cache)', () => {
    const tmp = join(dir, 'tmp');
    mkdirSync(tmp);
    const script = `import { loadPolicyModule } from ${JSON.stringify(join(DIST, 'src/runtime/loader.js'))};
      const p = await loadPolicyModule(${JSON.stringify(join(ROOT, 'examples/ktest-policy.ts'))}, '/');
      process.stdout.write(p.map((x) => x.name).join(','));`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, TMPDIR: tmp }, encoding: 'utf8' });
    assert.equal(out, 'ktest-example');
    assert.deepEqual(readdirSync(tmp), []);
  });

  it('reloads the local helpers a policy imports, .js and .ts alike', async () => {
    writeFileSync(join(dir, 'helper.mjs'), 'export const v = 1;\n');
    writeFileSync(join(dir, 'other.ts'), 'export const w: number = 10;\n');
    const p = writePolicy(dir, 'p.mjs', `import { v } from './helper.mjs';\nimport { w } from './other.js';\n${seqPolicy('v + w')}`);
    assert.equal((await loadPolicyModule(p, dir))[0]!.name, '11');
    writeFileSync(join(dir, 'helper.mjs'), 'export const v = 2;\n');
    writeFileSync(join(dir, 'other.ts'), 'export const w: number = 20;\n');
    assert.equal((await loadPolicyModule(p, dir))[0]!.name, '22');
  });

  it("gives the policy koffload's own module instances, its own import.meta, and top-level await", async () => {
    const p = writePolicy(
      dir,
      'p.mjs',
      `globalThis.__koffloadProbe = { definePolicy, url: import.meta.url };\nawait new Promise((r) => setTimeout(r, 5));\n${seqPolicy("'tla'")}`,
    );
    const g = globalThis as Record<string, unknown>;
    assert.equal((await loadPolicyModule(p, dir))[0]!.name, 'tla');
    const probe = g['__koffloadProbe'] as { definePolicy: unknown; url: string };
    delete g['__koffloadProbe'];
    assert.equal(probe.definePolicy, definePolicy);
    assert.equal(probe.url, `file://${p}`);
  });

  it('lets a reloaded generation be garbage-collected', async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const p = writePolicy(dir, 'p.mjs', `globalThis.__koffloadGen = (globalThis.__koffloadGen ?? 0) + 1;\nconst big = new Array(1e5).fill(globalThis.__koffloadGen);\n${seqPolicy('big.length')}`);
    let refs: WeakRef<object>[] = [];
    for (let i = 0; i < 3; i++) refs.push(new WeakRef((await loadPolicyModule(p, dir))[0]!));
    for (let i = 0; i < 10 && refs.some((r) => r.deref() !== undefined); i++) {
      await new Promise((r) => setImmediate(r));
      gc();
    }
    assert.deepEqual(
      refs.map((r) => r.deref() === undefined),
      [true, true, true],
    );
    refs = [];
    delete (globalThis as Record<string, unknown>)['__koffloadGen'];
  });

  it('refuses a policy, a helper, or a directory that others may write: KOFFLOAD_ERR_UNSAFE_FILE', async () => {
    const p = writePolicy(dir, 'p.mjs', `import { v } from './sub/helper.mjs';\n${seqPolicy('v')}`);
    mkdirSync(join(dir, 'sub'));
    writeFileSync(join(dir, 'sub/helper.mjs'), 'export const v = 1;\n');
    assert.equal((await loadPolicyModule(p, dir))[0]!.name, '1');
    chmodSync(p, 0o666);
    await assert.rejects(loadPolicyModule(p, dir), { code: 'KOFFLOAD_ERR_UNSAFE_FILE', message: /p\.mjs is writable by group or others/ });
    chmodSync(p, 0o644);
    chmodSync(join(dir, 'sub/helper.mjs'), 0o664);
    await assert.rejects(loadPolicyModule(p, dir), { code: 'KOFFLOAD_ERR_UNSAFE_FILE', message: /helper\.mjs is writable/ });
    chmodSync(join(dir, 'sub/helper.mjs'), 0o644);
    chmodSync(join(dir, 'sub'), 0o777);
    await assert.rejects(loadPolicyModule(p, dir), { code: 'KOFFLOAD_ERR_UNSAFE_FILE', message: /sub is writable by group or others and not sticky/ });
    // sticky, like /tmp: entries owned by this user stay trusted
    chmodSync(join(dir, 'sub'), 0o1777);
    assert.equal((await loadPolicyModule(p, dir))[0]!.name, '1');
  });

  it('refuses a policy owned by another user (root only: chown)', async function () {
    if (!IS_ROOT) skipBecause(this, 'needs root: chown to another user');
    const p = writePolicy(dir, 'p.mjs', seqPolicy('1'));
    chownSync(p, 65534, 65534);
    await assert.rejects(loadPolicyModule(p, dir), { code: 'KOFFLOAD_ERR_UNSAFE_FILE', message: /owned by uid 65534/ });
  });

  it('assertTrustedFile: owners other than root and this user are refused along the whole path', () => {
    const p = join(dir, 'f');
    writeFileSync(p, '');
    const real = statSync(p);
    const as = (over: Partial<Stats>): Stats => Object.assign(Object.create(Object.getPrototypeOf(real) as object) as Stats, real, over);
    const uid = 1000;
    // every entry owned by uid 1000: fine for uid 1000, refused for uid 1001
    const lstat = (path: string): Stats => as({ uid, mode: path === p ? 0o100644 : 0o40755 });
    assert.doesNotThrow(() => assertTrustedFile(p, 'x', { uid, lstat }));
    assert.throws(() => assertTrustedFile(p, 'x', { uid: 1001, lstat }), { code: 'KOFFLOAD_ERR_UNSAFE_FILE', message: /owned by uid 1000/ });
    // an ancestor owned by someone else
    const parent = join(dir, '..');
    const lstat2 = (path: string): Stats => as({ uid: path === parent ? 4242 : 0, mode: path === p ? 0o100644 : 0o40755 });
    assert.throws(() => assertTrustedFile(p, 'x', { uid, lstat: lstat2 }), { code: 'KOFFLOAD_ERR_UNSAFE_FILE', message: /owned by uid 4242/ });
  });
});
