/**
 * Record files: one JSON object per line (format version 1, documented in
 * docs/policy-guide.md), one line per request the daemon handled, live or
 * shadow. Written by `koffloadd --record FILE`, read by
 * `koffloadctl replay`.
 */
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { KoffloadError } from '../errors.js';
import type { Status } from '../generated/wire.js';
import { jsonSafe } from './schema.js';
import type { DecisionEvent, RequestOutcome, Role } from './server.js';

export const RECORD_VERSION = 1;

export interface RecordedPayload {
  /** the bytes, base64 */
  b64: string;
  /** decoded with the op's message type; null when it did not decode */
  json: unknown;
}

export interface RecordLine {
  v: 1;
  /** wall-clock time of the answer, ISO 8601 */
  time: string;
  role: Role;
  subsys: string;
  op: number;
  /** the op's schema name; null when the policy does not serve the op */
  opName: string | null;
  /** decimal u64; "0" for shadow requests */
  reqId: string;
  /** KOFFLOAD.reqFlag bits of the REQUEST */
  flags: number;
  /** time from arrival to the deadline, µs */
  budgetUs: number;
  request: RecordedPayload;
  /** the kernel's own choice (decoded as the response type), when sent */
  default: RecordedPayload | null;
  /** the answer decided: status, and the response with status ok; null when none was (abandoned, expired) */
  reply: { status: Status; b64: string | null; json: unknown } | null;
  /** whether the answer was sent to the kernel */
  replied: boolean;
  outcome: RequestOutcome;
  /** handler run time, µs (0 when it did not run) */
  handlerUs: number;
  /** arrival to answer, µs */
  latencyUs: number;
}

const us = (ns: bigint): number => Number(ns / 1000n) + Number(ns % 1000n) / 1000;

export function toRecordLine(ev: DecisionEvent, now: Date = new Date()): RecordLine {
  const b64 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
  return {
    v: RECORD_VERSION,
    time: now.toISOString(),
    role: ev.role,
    subsys: ev.subsystem,
    op: ev.req.op,
    opName: ev.opName ?? null,
    reqId: ev.req.reqId.toString(),
    flags: ev.req.flags,
    budgetUs: Math.max(0, us(ev.req.deadlineNs - ev.arrivedNs)),
    request: { b64: b64(ev.req.payload), json: ev.request === undefined ? null : jsonSafe(ev.request) },
    default: ev.req.default === undefined ? null : { b64: b64(ev.req.default), json: ev.default === undefined ? null : jsonSafe(ev.default) },
    reply:
      ev.status === undefined
        ? null
        : { status: ev.status, b64: ev.payload ? b64(ev.payload) : null, json: ev.status === 'ok' ? jsonSafe(ev.response) : null },
    replied: ev.replied,
    outcome: ev.outcome,
    handlerUs: us(ev.handlerNs),
    latencyUs: us(ev.totalNs),
  };
}

/** Appends record lines to a file; write errors are counted, never thrown into serving. */
export class Recorder {
  private readonly out: WriteStream;
  lines = 0;
  errors = 0;

  constructor(readonly path: string) {
    this.out = createWriteStream(path, { flags: 'a' });
    this.out.on('error', () => this.errors++);
  }

  write(ev: DecisionEvent): void {
    this.out.write(`${JSON.stringify(toRecordLine(ev))}\n`);
    this.lines++;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.out.end(resolve));
  }
}

function validLine(x: unknown): x is RecordLine {
  if (typeof x !== 'object' || x === null) return false;
  const o = x as Partial<RecordLine>;
  return (
    o.v === RECORD_VERSION &&
    typeof o.subsys === 'string' &&
    typeof o.op === 'number' &&
    typeof o.request?.b64 === 'string' &&
    (o.role === 'live' || o.role === 'shadow') &&
    typeof o.budgetUs === 'number'
  );
}

/** Reads a record file; KOFFLOAD_ERR_BAD_RECORD names the first bad line. */
export async function* readRecords(path: string): AsyncGenerator<{ line: number; rec: RecordLine }> {
  const input = createReadStream(path);
  const opened = new Promise<void>((resolve, reject) => {
    input.once('open', () => resolve());
    input.once('error', reject);
  });
  try {
    await opened;
  } catch (err) {
    throw new KoffloadError('KOFFLOAD_ERR_BAD_RECORD', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  const rl = createInterface({ input, crlfDelay: Infinity });
  let n = 0;
  for await (const text of rl) {
    n++;
    if (text.trim() === '') continue;
    let x: unknown;
    try {
      x = JSON.parse(text);
    } catch (err) {
      throw new KoffloadError('KOFFLOAD_ERR_BAD_RECORD', `${path}:${n}: not JSON`, { cause: err });
    }
    if (!validLine(x)) throw new KoffloadError('KOFFLOAD_ERR_BAD_RECORD', `${path}:${n}: not a version ${RECORD_VERSION} record line`);
    yield { line: n, rec: x };
  }
}
