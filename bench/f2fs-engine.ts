// The learned F2FS policy's cost per request as koffloadd runs it:
// examples/f2fs/engine.ts's LearnedEngine with host.ts's ProcObserver
// reading segment_info, iostat_info, min_hot_blocks and uptime from files
// (under a temporary KOFFLOAD_F2FS_ROOT, as the kernel's procfs and sysfs
// would show them), fed the MOVED and VICTIM requests the LFS model's
// kernel side sent (src/sim/lfs/koffload.ts), at the guest's geometry.
//
// The first run records the requests, and the files' contents at each GC
// call, to a trace file (the model driven by the engine of this build);
// later runs replay that same trace, so two builds are compared on the
// same input. Prints CPU time per request (MOVED parts, the MOVED parts
// that complete a victim, advisory VICTIM), what the engine published per
// request (entries, bytes) and a digest of every change to the advisory
// cache: equal digests mean the same decisions at every request.
// Asserts nothing.
//
//   npm run build && node dist/bench/f2fs-engine.js [--trace FILE] [--record] [--warmup N] [--measure N] [--repeat N]
//   (default trace /tmp/koffload-f2fs-engine.trace, hot/cold 90/10 80% seed 1, warm-up 1M, measured 1M)
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { LearnedEngine } from '../examples/f2fs/engine.js';
import { ProcObserver, type SegmentInfo, packSegmentInfo, unpackSegmentInfo } from '../examples/f2fs/host.js';
import { LEARNED_MODEL } from '../examples/f2fs/learned-model.js';
import { MovedRequest, Op, VictimRequest } from '../src/generated/proto/f2fs.js';
import { runExperiment } from '../src/sim/lfs/experiment.js';
import { GEOMETRY_1G } from '../src/sim/lfs/geometry.js';
import { DIRECT_DEV, DirectBackend, ProcFiles, formatIostat, formatSegmentInfo, iostatOf, segmentInfoOf } from '../src/sim/lfs/koffload.js';
import type { LfsModel } from '../src/sim/lfs/model.js';
import { policyByName } from '../src/sim/lfs/policies.js';
import { workloadByName } from '../src/sim/lfs/workload.js';

const { values: o } = parseArgs({
  options: {
    trace: { type: 'string', default: join(tmpdir(), 'koffload-f2fs-engine.trace') },
    record: { type: 'boolean' },
    warmup: { type: 'string', default: '1000000' },
    measure: { type: 'string', default: '1000000' },
    repeat: { type: 'string', default: '1' },
  },
});

/** One f2fs_gc() call's requests, and what the files showed when the policy handled them. */
interface Batch {
  /** packSegmentInfo() */
  seg: string;
  /** iostat counters in blocks: fsData, fsNode, gcData, gcNode */
  io: [number, number, number, number];
  nowSec: number;
  uptime: string;
  reqs: Array<[number, string]>;
}

function record(file: string): void {
  const batches: Batch[] = [];
  const afterGcCall = DirectBackend.prototype.afterGcCall;
  DirectBackend.prototype.afterGcCall = function (this: DirectBackend, m: LfsModel): void {
    const q = (this as unknown as { queue: Array<[number, Buffer]> }).queue;
    const io = iostatOf(m);
    batches.push({
      seg: packSegmentInfo(segmentInfoOf(m)).toString('base64'),
      io: [io.fsData, io.fsNode, io.gcData, io.gcNode],
      nowSec: m.nowSec(),
      uptime: `${(m.blockWrites / m.blocksPerSec).toFixed(2)} 0.00\n`,
      reqs: q.map(([op, p]) => [op, p.toString('base64')]),
    });
    afterGcCall.call(this, m);
  };
  const r = runExperiment({
    geometry: GEOMETRY_1G,
    workload: workloadByName('hotcold:90/10')!,
    fillPct: 80,
    seed: 1,
    warmupOps: Number(o.warmup),
    measureOps: Number(o.measure),
    minHotBlocks: 0,
    policy: policyByName('koffload-learned:trained=1')!,
  });
  DirectBackend.prototype.afterGcCall = afterGcCall;
  writeFileSync(file, batches.map((b) => JSON.stringify(b)).join('\n') + '\n');
  console.log(`recorded ${batches.length} GC calls to ${file}: model gc_data_waf=${r.gcDataWaf.toFixed(4)}`);
}

interface Acc {
  n: number;
  us: number;
  pubs: number;
  bytes: number;
}
const acc = (): Acc => ({ n: 0, us: 0, pubs: 0, bytes: 0 });

function replay(batches: Batch[]): void {
  const root = mkdtempSync(join(tmpdir(), 'koffload-f2fs-engine-'));
  try {
    const proc = new ProcFiles(root, DIRECT_DEV, 'nullb0', 0);
    const dir = join(root, 'proc/fs/f2fs/nullb0');
    let nowMs = 0;
    const engine = new LearnedEngine({ observer: new ProcObserver(root), model: LEARNED_MODEL, nowMs: () => nowMs });
    const moved = acc();
    const movedLast = acc();
    const victim = acc();
    const decode = acc();
    const cache = new Map<string, Buffer>();
    const digest = createHash('sha256');
    let changes = 0;
    let segBytes = 0;
    for (let bi = 0; bi < batches.length; bi++) {
      const b = batches[bi]!;
      // what procfs shows when the policy reads it (not timed: the kernel writes these)
      const info: SegmentInfo = unpackSegmentInfo(Buffer.from(b.seg, 'base64'));
      const text = formatSegmentInfo(info);
      segBytes = text.length;
      writeFileSync(join(dir, 'segment_info'), text);
      writeFileSync(join(dir, 'iostat_info'), formatIostat({ fsData: b.io[0], fsNode: b.io[1], fsMeta: 0, gcData: b.io[2], gcNode: b.io[3], cpData: 0, cpNode: 0, cpMeta: 0 }, b.nowSec));
      writeFileSync(join(root, 'proc/uptime'), b.uptime);
      nowMs = Number.parseFloat(b.uptime) * 1000;
      for (let ri = 0; ri < b.reqs.length; ri++) {
        const [op, p64] = b.reqs[ri]!;
        const payload = Buffer.from(p64, 'base64');
        let t0 = performance.now();
        const req = op === Op.OP_MOVED ? MovedRequest.decode(payload) : VictimRequest.decode(payload);
        decode.us += (performance.now() - t0) * 1000;
        decode.n++;
        t0 = performance.now();
        const pubs = op === Op.OP_MOVED ? engine.moved(req as MovedRequest).publish : engine.victimAdvice(req as VictimRequest);
        const us = (performance.now() - t0) * 1000;
        const a = op === Op.OP_VICTIM ? victim : (req as MovedRequest).last ? movedLast : moved;
        a.n++;
        a.us += us;
        a.pubs += pubs.length;
        for (const x of pubs) {
          a.bytes += x.payload.length;
          const k = x.key.toString('hex');
          const old = cache.get(k);
          if (old && old.equals(x.payload)) continue;
          cache.set(k, x.payload);
          digest.update(`${bi}.${ri}.${k}.`).update(x.payload);
          changes++;
        }
      }
    }
    void proc;
    const line = (name: string, a: Acc): string =>
      `${name.padEnd(16)} n=${String(a.n).padEnd(6)} us_per=${(a.us / Math.max(1, a.n)).toFixed(1).padStart(8)} pubs_per=${(a.pubs / Math.max(1, a.n)).toFixed(2).padStart(6)} pubs=${a.pubs} bytes_per=${Math.round(a.bytes / Math.max(1, a.n))}`;
    const all: Acc = { n: moved.n + movedLast.n, us: moved.us + movedLast.us, pubs: moved.pubs + movedLast.pubs, bytes: moved.bytes + movedLast.bytes };
    console.log(line('moved (all)', all));
    console.log(line('  not last', moved));
    console.log(line('  last part', movedLast));
    console.log(line('victim advisory', victim));
    console.log(line('decode (any)', decode));
    const st = engine.daemonOf(DIRECT_DEV).stats;
    console.log(`segment_info ${segBytes} bytes (${GEOMETRY_1G.mainSegs} segments); polls=${st.polls} victims=${st.notifications} cache_changes=${changes} digest=${digest.digest('hex').slice(0, 16)}`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

if (o.record || !existsSync(o.trace)) record(o.trace);
const batches = readFileSync(o.trace, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Batch);
for (let i = 0; i < Number(o.repeat); i++) replay(batches);
