/**
 * Where the daemon and koffloadctl talk to: the kernel module when it is
 * loaded, else a running simulator (src/sim's resolveTarget(), which reads
 * the koffload-sim state file). Without the simulator module this falls
 * back to the kernel alone.
 */
import type { FamilyClientOptions } from '../kernel/family.js';

export interface Target {
  kind: 'kernel' | 'sim';
  koffload: FamilyClientOptions;
  koffloadTest?: FamilyClientOptions;
}

interface SimModule {
  resolveTarget(opts?: { stateFile?: string }): Promise<Target>;
}

// a variable specifier: the simulator is optional at build time
const SIM_MODULE = '../sim/index.js';

/** Loads src/sim if present (undefined otherwise). */
export async function loadSimModule<T = SimModule>(): Promise<T | undefined> {
  try {
    return (await import(SIM_MODULE)) as T;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'ERR_MODULE_NOT_FOUND') return undefined;
    throw err;
  }
}

/**
 * The kernel if koffload.ko is loaded, else a running simulator; rejects
 * with KOFFLOAD_ERR_NO_FAMILY when there is neither.
 */
export async function resolveTarget(opts: { stateFile?: string } = {}): Promise<Target> {
  const sim = await loadSimModule();
  if (sim) return sim.resolveTarget(opts);
  return { kind: 'kernel', koffload: {} };
}
