/**
 * Offline replay: runs a policy over a record file, one request at a time,
 * and reports where its decisions differ from the recorded ones (and from
 * the kernel's defaults, where recorded).
 */
import { KoffloadError } from '../errors.js';
import type { Status } from '../generated/wire.js';
import type { KernelRequest } from '../kernel/client.js';
import { monotonicNs } from './deadline.js';
import { type Logger, PolicyRegistry, silentLogger } from './policy.js';
import { readRecords } from './record.js';
import { jsonSafe } from './schema.js';
import { SubsystemServer, type Transport } from './server.js';

export interface ReplayOptions {
  /** differences listed in full. @default 10 */
  maxDiffs?: number;
  /** deadline given to each replayed request, ms, >= 1 (KOFFLOAD_ERR_INVALID_ARG otherwise). @default the recorded budget */
  deadlineMs?: number;
  /** also replay lines recorded by shadow policies. @default false */
  includeShadow?: boolean;
  logger?: Logger;
}

type Decision = { status: Status | 'none'; b64: string | null; json: unknown };

export interface ReplayDiff {
  line: number;
  subsys: string;
  op: string;
  reqId: string;
  request: unknown;
  default: unknown;
  recorded: Decision;
  replayed: Decision;
}

export interface ReplayReport {
  /** lines read */
  lines: number;
  /** torn lines (cut short by a crash or a full disk) skipped */
  torn: number;
  /** lines replayed and compared */
  compared: number;
  same: number;
  different: number;
  /** lines skipped: shadow lines, or subsystems and ops the policy does not serve */
  skipped: number;
  /**
   * lines not replayed because the recorded outcome says nothing about the
   * policy's decision (shed, expired, shutdown, abandoned, unimplemented,
   * bad_request): their count, and by recorded outcome
   */
  notComparable: number;
  notComparableOutcomes: Record<string, number>;
  /** "recorded -> replayed" status pairs with their counts */
  transitions: Record<string, number>;
  /** where the kernel sent its default: how often the replayed decision equals it */
  vsDefault: { withDefault: number; sameAsDefault: number };
  /** replayed outcomes (ok, declined, error, ...) */
  outcomes: Record<string, number>;
  diffs: ReplayDiff[];
}

/** Recorded outcomes that carry the policy's own decision: only these are replayed and compared. */
export const COMPARABLE_OUTCOMES: readonly string[] = ['ok', 'declined', 'error', 'bad_response'];

const sameDecision = (a: Decision, b: Decision): boolean => a.status === b.status && (a.status !== 'ok' || a.b64 === b.b64);

/** Replays `file` against the policies in `registry`. */
export async function replayRecording(file: string, registry: PolicyRegistry, opts: ReplayOptions = {}): Promise<ReplayReport> {
  const maxDiffs = opts.maxDiffs ?? 10;
  if (opts.deadlineMs !== undefined && !(Number.isFinite(opts.deadlineMs) && opts.deadlineMs >= 1)) {
    throw new KoffloadError('KOFFLOAD_ERR_INVALID_ARG', `--deadline-ms must be at least 1, got ${opts.deadlineMs}`);
  }
  const report: ReplayReport = {
    lines: 0,
    torn: 0,
    compared: 0,
    same: 0,
    different: 0,
    skipped: 0,
    notComparable: 0,
    notComparableOutcomes: {},
    transitions: {},
    vsDefault: { withDefault: 0, sameAsDefault: 0 },
    outcomes: {},
    diffs: [],
  };
  const transport: Transport = {
    on() {},
    off() {},
    reply: () => true,
    publish: async () => {},
  };
  const servers = new Map<string, SubsystemServer>();
  for (const p of registry.subsystems()) {
    // replay is sequential: shedding (or refusing after abandoned handlers) would be noise, not the policy's decision
    const unlimited = Number.MAX_SAFE_INTEGER;
    const policy = { ...p, limits: { ...p.limits, queueMax: unlimited, advisoryQueueMax: unlimited, abandonedMax: unlimited } };
    servers.set(p.subsystem, new SubsystemServer({ policy, subsysId: 0, transport, role: 'shadow', logger: opts.logger ?? silentLogger }));
  }
  let reqId = 1n;
  const readStats = { torn: 0 };
  for await (const { line, rec } of readRecords(file, readStats)) {
    report.torn = readStats.torn;
    report.lines++;
    const server = servers.get(rec.subsys);
    if (!server || !server.policy.ops.has(rec.op) || (rec.role === 'shadow' && !opts.includeShadow)) {
      report.skipped++;
      continue;
    }
    if (!COMPARABLE_OUTCOMES.includes(rec.outcome)) {
      // shed, expired, shutdown, ...: the recorded answer was not the policy's decision
      report.notComparable++;
      report.notComparableOutcomes[String(rec.outcome)] = (report.notComparableOutcomes[String(rec.outcome)] ?? 0) + 1;
      continue;
    }
    const now = monotonicNs();
    // the recorded budget as is: a request recorded with 0 µs left replays with 0 µs left
    const budgetNs = BigInt(Math.round((opts.deadlineMs !== undefined ? opts.deadlineMs * 1000 : rec.budgetUs) * 1000));
    const req: KernelRequest = {
      reqId: reqId++,
      subsysId: 0,
      op: rec.op,
      deadlineNs: now + budgetNs,
      flags: rec.flags,
      payload: Buffer.from(rec.request.b64, 'base64'),
    };
    if (rec.default) req.default = Buffer.from(rec.default.b64, 'base64');
    const ev = await server.handle(req);
    const replayed: Decision = {
      status: ev.status ?? 'none',
      b64: ev.payload ? ev.payload.toString('base64') : null,
      json: ev.status === 'ok' ? jsonSafe(ev.response) : null,
    };
    const recorded: Decision = rec.reply ? { status: rec.reply.status, b64: rec.reply.b64, json: rec.reply.json } : { status: 'none', b64: null, json: null };
    report.compared++;
    report.outcomes[ev.outcome] = (report.outcomes[ev.outcome] ?? 0) + 1;
    const t = `${recorded.status} -> ${replayed.status}`;
    report.transitions[t] = (report.transitions[t] ?? 0) + 1;
    if (rec.default) {
      report.vsDefault.withDefault++;
      if (replayed.status === 'ok' && replayed.b64 === rec.default.b64) report.vsDefault.sameAsDefault++;
    }
    if (sameDecision(recorded, replayed)) report.same++;
    else {
      report.different++;
      if (report.diffs.length < maxDiffs) {
        report.diffs.push({
          line,
          subsys: rec.subsys,
          op: rec.opName ?? String(rec.op),
          reqId: rec.reqId,
          request: rec.request.json,
          default: rec.default?.json ?? null,
          recorded,
          replayed,
        });
      }
    }
  }
  report.torn = readStats.torn;
  return report;
}

/** Human-readable report. */
export function formatReplayReport(r: ReplayReport): string {
  const out: string[] = [];
  out.push(`replayed ${r.compared} of ${r.lines} requests (${r.skipped} skipped)`);
  if (r.torn > 0) out.push(`torn lines skipped (a crash or a full disk while recording): ${r.torn}`);
  if (r.notComparable > 0) {
    const by = Object.entries(r.notComparableOutcomes)
      .sort()
      .map(([o, n]) => `${o} ${n}`)
      .join(', ');
    out.push(`not compared (recorded outcome was not the policy's decision): ${r.notComparable} (${by})`);
  }
  out.push(`same decision: ${r.same}   different: ${r.different}`);
  if (r.vsDefault.withDefault > 0) out.push(`equal to the kernel's default: ${r.vsDefault.sameAsDefault} of ${r.vsDefault.withDefault}`);
  out.push('recorded -> replayed:');
  for (const [t, n] of Object.entries(r.transitions).sort()) out.push(`  ${t.padEnd(20)} ${n}`);
  if (r.diffs.length > 0) {
    out.push(`first ${r.diffs.length} differences:`);
    for (const d of r.diffs) {
      const show = (x: Decision): string => (x.status === 'ok' ? `ok ${JSON.stringify(x.json)}` : x.status);
      out.push(`  line ${d.line} ${d.subsys}/${d.op} req ${d.reqId}: recorded ${show(d.recorded)}, replayed ${show(d.replayed)}`);
      out.push(`    request ${JSON.stringify(d.request)}${d.default !== null ? ` default ${JSON.stringify(d.default)}` : ''}`);
    }
  }
  return out.join('\n');
}
