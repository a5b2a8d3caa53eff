// How a test that cannot run here says so: it is skipped with the reason in
// its title, so `npm test` as an ordinary user shows what it did not cover.
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';

export const IS_ROOT = process.geteuid?.() === 0;

/** Why a test that unicasts between two userspace netlink ports needs root. */
export const UNICAST_NEEDS_ROOT = 'needs root: only CAP_NET_ADMIN may unicast to another userspace netlink port';

/** Skips the running test and says why in its title. */
export function skipBecause(ctx: Mocha.Context, why: string): never {
  if (ctx.test) ctx.test.title += ` (skipped: ${why})`;
  ctx.skip();
}

/** The path of `tool` on the PATH (or in /usr/bin, /usr/sbin), or undefined. */
export function findTool(tool: string): string | undefined {
  const dirs = [...(process.env['PATH'] ?? '').split(':').filter(Boolean), '/usr/bin', '/usr/sbin'];
  for (const d of dirs) {
    const p = join(d, tool);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * The path of a tool from a Debian package the test needs. Missing: an
 * ordinary user cannot install it, so the test is skipped with the reason;
 * root's `npm test` installs it first (scripts/ensure-deps.mjs --test), so
 * there it is a failure, never a silent skip.
 */
export function needTool(ctx: Mocha.Context, tool: string, pkg: string): string {
  const p = findTool(tool);
  if (p) return p;
  const how = `bash scripts/install-kernel-deps.sh --test installs Debian's ${pkg}`;
  if (IS_ROOT) throw new Error(`${tool} is not installed (${how})`);
  skipBecause(ctx, `needs ${tool}, not installed, and only root can install it (${how})`);
}
