/**
 * Time namespaces: inside one, CLOCK_MONOTONIC (process.hrtime.bigint())
 * reads the namespace's clock, the host's plus an offset, while the kernel
 * stamps a REQUEST's deadline-ns with the host's clock. Without a
 * correction every deadline looks `offset` ns early or late: under
 * `unshare --time --monotonic 10` every request was declined as expired
 * and its caller fell back, without a word.
 *
 * The offsets of this process's namespace are in /proc/self/timens_offsets
 * (Linux 5.6+; absent before, where there are no time namespaces):
 *
 *     monotonic   <seconds> <nanoseconds>
 *     boottime    <seconds> <nanoseconds>
 *
 * local CLOCK_MONOTONIC = kernel CLOCK_MONOTONIC + monotonic offset.
 */
import { readFileSync } from 'node:fs';
import { KoffloadError } from '../errors.js';

export const TIMENS_OFFSETS = '/proc/self/timens_offsets';

/** The monotonic offset in a timens_offsets text, ns; KOFFLOAD_ERR_CLOCK when it is not there. */
export function parseMonotonicOffsetNs(text: string): bigint {
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    // the kernel writes the clock by name; older util-linux docs show its id (1 = CLOCK_MONOTONIC)
    if (f[0] !== 'monotonic' && f[0] !== '1') continue;
    if (f.length !== 3 || !/^-?\d+$/.test(f[1]!) || !/^\d+$/.test(f[2]!)) break;
    const ns = BigInt(f[2]!);
    if (ns >= 1_000_000_000n) break;
    return BigInt(f[1]!) * 1_000_000_000n + ns;
  }
  throw new KoffloadError('KOFFLOAD_ERR_CLOCK', `no monotonic offset in ${JSON.stringify(text.slice(0, 200))}`);
}

let cached: bigint | undefined;

/**
 * This process's monotonic time-namespace offset, ns (read once): 0n
 * where the kernel has no time namespaces. KOFFLOAD_ERR_CLOCK when the
 * file exists but cannot be read or understood: deadlines would be wrong.
 */
export function monotonicOffsetNs(path = TIMENS_OFFSETS): bigint {
  if (path === TIMENS_OFFSETS && cached !== undefined) return cached;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0n;
    throw new KoffloadError('KOFFLOAD_ERR_CLOCK', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  const off = parseMonotonicOffsetNs(text);
  if (path === TIMENS_OFFSETS) cached = off;
  return off;
}
