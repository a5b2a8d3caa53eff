/**
 * `import ... from 'koffload'`: the policy API (definePolicy(), decline(),
 * deadlines, the advisory cache helpers, the handler context's types) and
 * koffload's coded error. Each subsystem's payload types and codecs are
 * `koffload/proto/<subsystem>` (ktest, f2fs). docs/policy-guide.md is the
 * guide.
 */
export * from './runtime/index.js';
export { KoffloadError } from './errors.js';
