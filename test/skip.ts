// How a test that cannot run here says so: it is skipped with the reason in
// its title, so `npm test` as an ordinary user shows what it did not cover.

export const IS_ROOT = process.geteuid?.() === 0;

/** Why a test that unicasts between two userspace netlink ports needs root. */
export const UNICAST_NEEDS_ROOT = 'needs root: only CAP_NET_ADMIN may unicast to another userspace netlink port';

/** Skips the running test and says why in its title. */
export function skipBecause(ctx: Mocha.Context, why: string): never {
  if (ctx.test) ctx.test.title += ` (skipped: ${why})`;
  ctx.skip();
}
