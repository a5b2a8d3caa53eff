/**
 * Record files: one JSON object per line (format version 1, documented in
 * docs/policy-guide.md), one line per request the daemon handled, live or
 * shadow. Written by `koffloadd --record FILE`, read by
 * `koffloadctl replay`.
 */
import { closeSync, createReadStream, createWriteStream, openSync, type WriteStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { KoffloadError } from '../errors.js';
import type { Status } from '../generated/wire.js';
import { type Logger, silentLogger } from './policy.js';
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

/** Bytes a Recorder lets pile up unwritten before it drops lines (a stalled disk must not grow the heap). */
export const RECORD_BUFFER_MAX = 8 * 1024 * 1024;

export interface RecorderOptions {
  logger?: Logger;
  /** drop lines while more than this many bytes wait to be written. @default RECORD_BUFFER_MAX */
  maxBuffered?: number;
}

/**
 * Appends record lines to a file. The file is opened synchronously in the
 * constructor, so a path that cannot be written fails at once
 * (KOFFLOAD_ERR_BAD_CONFIG). Later write errors are counted (the first is
 * logged), never thrown into serving; lines are dropped and counted while
 * the stream is backed up past maxBuffered.
 */
export class Recorder {
  private readonly out: WriteStream;
  private readonly logger: Logger;
  private readonly maxBuffered: number;
  private loggedError = false;
  /** lines handed to the stream */
  lines = 0;
  /** lines that failed to write */
  errors = 0;
  /** lines dropped because too much was waiting to be written */
  dropped = 0;

  constructor(
    readonly path: string,
    opts: RecorderOptions = {},
  ) {
    this.logger = opts.logger ?? silentLogger;
    this.maxBuffered = opts.maxBuffered ?? RECORD_BUFFER_MAX;
    let fd: number;
    try {
      fd = openSync(path, 'a');
    } catch (err) {
      throw new KoffloadError('KOFFLOAD_ERR_BAD_CONFIG', `cannot open record file ${path}: ${(err as Error).message}`, { cause: err });
    }
    try {
      this.out = createWriteStream(path, { fd, flags: 'a' });
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    // errors of individual writes are counted in write(); this only keeps one from crashing the process
    this.out.on('error', (err) => this.logError(err));
  }

  private logError(err: unknown): void {
    if (this.loggedError) return;
    this.loggedError = true;
    this.logger.error('cannot write the record file; lines are lost (koffload_record_errors_total)', { path: this.path, err: String(err) });
  }

  write(ev: DecisionEvent): void {
    if (this.out.destroyed || this.out.writableEnded) {
      this.errors++;
      return;
    }
    if (this.out.writableLength > this.maxBuffered) {
      this.dropped++;
      return;
    }
    this.out.write(`${JSON.stringify(toRecordLine(ev))}\n`, (err) => {
      if (!err) return;
      this.errors++;
      this.logError(err);
    });
    this.lines++;
  }

  /** Flushes and closes; never rejects. */
  close(): Promise<void> {
    if (this.out.closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.out.once('close', () => resolve());
      if (this.out.destroyed) return;
      if (this.out.writableEnded) return;
      this.out.end();
    });
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
