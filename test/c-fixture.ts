// The C fixtures of the suites (test/<suite>/fixtures/<name>.c): programs
// a Node.js process cannot play (a netlink probe, an AF_UNIX datagram
// listener).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** dist/test, where this file runs from */
const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const built = new Map<string, string>();

/**
 * The fixture's binary: prebuilt next to its compiled JS (scripts/kernel-test.sh
 * does so in the guest image), else built once per process with the
 * system's C compiler; undefined when neither is possible.
 */
export function cFixture(suite: 'unit' | 'conformance', name: string): string | undefined {
  const prebuilt = join(here, suite, 'fixtures', name);
  if (existsSync(prebuilt)) return prebuilt;
  const key = `${suite}/${name}`;
  const have = built.get(key);
  if (have) return have;
  const src = join(root, 'test', suite, 'fixtures', `${name}.c`);
  const out = join(mkdtempSync(join(tmpdir(), `koffload-${name}-`)), name);
  try {
    execFileSync('cc', ['-O2', '-Wall', '-I', join(root, 'kernel-shim', 'include'), '-o', out, src], { stdio: 'ignore' });
  } catch {
    return undefined;
  }
  built.set(key, out);
  return out;
}
