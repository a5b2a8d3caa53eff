#!/usr/bin/env node
// Builds koffload's native addon, src/native/koffload_nl.c, into
// dist/native/koffload_nl.node: the first step of `npm run build`.
//
// One gcc call against the Node-API headers of the node-api-headers
// package (a devDependency, pinned in the lock file): no node-gyp, no
// Python, no make, nothing downloaded, and the same result whether or not
// this Node.js came with its own headers. The addon is pure Node-API, so it
// needs no per-version rebuild; it is rebuilt when the source, the headers
// or this script are newer than it, or when --force is given.
//
//   node scripts/build-native.mjs [--force]
//   CC=clang node scripts/build-native.mjs     (any gcc-compatible compiler)
//
// Plain Node on purpose, like ensure-deps.mjs: it runs before tsc.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const script = fileURLToPath(import.meta.url);
const root = join(dirname(script), '..');
const source = join(root, 'src', 'native', 'koffload_nl.c');
const output = join(root, 'dist', 'native', 'koffload_nl.node');
const cc = process.env.CC || 'gcc';
const DEBIAN_HINT = 'on Debian or Ubuntu: apt-get install gcc libc6-dev (or build-essential)';

function fail(message) {
  console.error(`koffload: ${message}`);
  process.exit(1);
}

let includeDir;
try {
  includeDir = createRequire(import.meta.url)('node-api-headers').include_dir;
} catch {
  fail("cannot find the node-api-headers package (a devDependency): run 'npm ci'");
}
const headers = ['node_api.h', 'node_api_types.h', 'js_native_api.h', 'js_native_api_types.h'].map((h) => join(includeDir, h));

const mtime = (p) => statSync(p).mtimeMs;
if (!process.argv.includes('--force') && existsSync(output)) {
  const built = mtime(output);
  if ([source, script, ...headers].every((p) => mtime(p) <= built)) process.exit(0);
}

const probe = spawnSync(cc, ['--version'], { encoding: 'utf8' });
if (probe.error) {
  const why = probe.error.code === 'ENOENT' ? 'was not found' : `cannot run (${probe.error.message})`;
  fail(`building the native addon (${relative(root, source)}) needs a C compiler, and ${cc} ${why}; ${DEBIAN_HINT}`);
}

mkdirSync(dirname(output), { recursive: true });
// Built beside the target and renamed over it: a process that has the old
// addon mapped keeps a valid file.
const tmp = `${output}.${process.pid}.tmp`;
const args = [
  '-std=gnu11', '-O2', '-g', '-fPIC', '-shared', '-fvisibility=hidden',
  '-Wall', '-Wextra', '-Wno-unused-parameter',
  '-I', includeDir,
  '-o', tmp, source,
];
const r = spawnSync(cc, args, { stdio: 'inherit' });
if (r.status !== 0) {
  rmSync(tmp, { force: true });
  fail(`${cc} failed to build ${relative(root, source)} (status ${r.status ?? r.signal}); it needs a C compiler and the C library headers, ${DEBIAN_HINT}`);
}
renameSync(tmp, output);
console.error(`koffload: built ${relative(root, output)} with ${cc}`);
