#!/usr/bin/env node
// Installs the npm dependencies when node_modules is missing or older than
// the lock file, so `npm test` and `npm start` work on a fresh clone.
// With --test (npm's pretest), as root, also the Debian packages the tests
// use beyond npm (prometheus: promtool and the server), through
// scripts/install-kernel-deps.sh --test; as another user the tests that
// need them skip and say so. Plain Node on purpose: it runs before any
// dependency exists.
import { existsSync, statSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const marker = join(root, 'node_modules', '.package-lock.json');
const lock = join(root, 'package-lock.json');

if (!existsSync(marker) || statSync(marker).mtimeMs < statSync(lock).mtimeMs) {
  console.error('koffload: installing npm dependencies (npm ci)');
  execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
}

if (process.argv.includes('--test') && process.geteuid?.() === 0) {
  try {
    execFileSync('bash', [join(root, 'scripts', 'install-kernel-deps.sh'), '--test'], { stdio: 'inherit' });
  } catch {
    // the tests that need the packages fail and say how to install them
    console.error('koffload: could not install the test packages (bash scripts/install-kernel-deps.sh --test)');
  }
}
