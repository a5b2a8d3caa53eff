/**
 * The benchmark's policy (npm run bench): ECHO on subsystems bench0 ..
 * bench<N-1> (N from KOFFLOAD_BENCH_SUBSYSTEMS, default 1), each decoding
 * its EchoRequest and answering data unchanged and seq + 1, which is what
 * bench/responder.c does in C and what bench/loadgen.c checks on every
 * reply. Default limits, as a policy author would leave them.
 *
 * bench/kernel-bench.ts serves koffload_test's `ktest` with it instead:
 * KOFFLOAD_BENCH_NAMES=ktest names the subsystems, KOFFLOAD_BENCH_ANSWER=echo
 * answers seq unchanged (the module counts an echo as intact).
 */
import { ktest } from '../src/generated/proto/ktest.js';
import { definePolicy } from '../src/runtime/index.js';

const count = Number(process.env['KOFFLOAD_BENCH_SUBSYSTEMS'] ?? '1');
if (!Number.isInteger(count) || count < 1 || count > 64) throw new Error(`KOFFLOAD_BENCH_SUBSYSTEMS must be 1..64, got ${count}`);
const names = process.env['KOFFLOAD_BENCH_NAMES']?.split(',') ?? Array.from({ length: count }, (_, i) => `bench${i}`);
const step = process.env['KOFFLOAD_BENCH_ANSWER'] === 'echo' ? 0n : 1n;

export default names.map((subsystem) =>
  definePolicy({
    subsystem,
    schema: ktest,
    name: 'bench-echo',
    ops: {
      echo: { handler: (req) => ({ data: req.data, seq: req.seq + step }) },
    },
  }),
);
