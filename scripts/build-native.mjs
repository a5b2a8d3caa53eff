#!/usr/bin/env node
// Builds koffload's native addon, src/native/koffload_nl.c, into
// dist/native/koffload_nl.node: the first step of `npm run build`.
//
// One gcc call against the Node-API headers of the node-api-headers
// package (a devDependency, pinned in the lock file) and libuv's uv.h from
// the headers this Node.js installed next to itself (<prefix>/include/node,
// prefix = the directory above process.execPath's; Debian's nodejs package
// ships them): no node-gyp, no Python, no make, nothing downloaded. The
// addon uses Node-API and libuv's uv_poll (libuv's ABI is stable within
// 1.x), so one build serves any Node.js 20 or later; it is rebuilt when the
// source, the headers or this script are newer than it, or with --force.
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

// libuv's headers come with Node.js itself, not with node-api-headers
const nodeInclude = process.env.KOFFLOAD_NODE_INCLUDE || join(dirname(dirname(process.execPath)), 'include', 'node');
if (!existsSync(join(nodeInclude, 'uv.h'))) {
  fail(
    `building the native addon needs libuv's uv.h from this Node.js's own headers, and ${join(nodeInclude, 'uv.h')} does not exist ` +
      `(Node.js at ${process.execPath}); install the headers that match it (Debian: the nodejs package ships /usr/include/node; ` +
      `an official tarball has include/node), or point KOFFLOAD_NODE_INCLUDE at the directory holding uv.h`,
  );
}
headers.push(join(nodeInclude, 'uv.h'));

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
  '-idirafter', nodeInclude,
  '-o', tmp, source,
];
const r = spawnSync(cc, args, { stdio: 'inherit' });
if (r.status !== 0) {
  rmSync(tmp, { force: true });
  fail(`${cc} failed to build ${relative(root, source)} (status ${r.status ?? r.signal}); it needs a C compiler and the C library headers, ${DEBIAN_HINT}`);
}
renameSync(tmp, output);
console.error(`koffload: built ${relative(root, output)} with ${cc}`);
