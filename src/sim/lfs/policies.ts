/**
 * GC policies for the LFS model, each a plain function of what it may know.
 */
import type { PolicyDef } from './experiment.js';
import { GC_CB, GC_GREEDY } from './model.js';

export const kernelGreedy: PolicyDef = {
  name: 'kernel-greedy',
  about: "F2FS's greedy (gc_idle=2): fewest valid blocks; moved data to the cold log",
  make: () => ({ kernelGc: GC_GREEDY }),
};

export const kernelCb: PolicyDef = {
  name: 'kernel-cb',
  about: "F2FS's cost-benefit (gc_idle=1): get_cb_cost() on SIT mtime; moved data to the cold log",
  make: () => ({ kernelGc: GC_CB }),
};

export const POLICIES: PolicyDef[] = [kernelGreedy, kernelCb];

export function policyByName(name: string): PolicyDef | undefined {
  return POLICIES.find((p) => p.name === name);
}
