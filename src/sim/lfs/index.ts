/**
 * The LFS model of F2FS garbage collection (issue 7): a host-only
 * simulator of F2FS 6.1 in lfs mode, its write traces, GC policies and
 * future-knowledge bounds. docs/poc-gc-model.md has the method and the
 * results; bench/lfs-model.ts runs experiments.
 */
export { type Comparison, type ComparisonOptions, lfsComparison } from './compare.js';
export { type ExperimentResult, type ExperimentSpec, type PolicyDef, runExperiment } from './experiment.js';
export { GEOMETRY_1G, MKFS_1_15, type Geometry, mkfsGeometry, scaledGeometry, userBlockCount } from './geometry.js';
export { type Counters, GC_CB, GC_GREEDY, type GcHook, LOG, LfsModel, type ModelOptions } from './model.js';
export { NAMED, POLICIES, policyByName } from './policies.js';
export { TraceGen, WORKLOADS, type WorkloadSpec, layoutFor, workloadByName } from './workload.js';
