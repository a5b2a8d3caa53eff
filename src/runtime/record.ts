/**
 * Record files: one JSON object per line (format version 1, documented in
 * docs/policy-guide.md), one line per request the daemon handled, live or
 * shadow. Written by `koffloadd --record FILE`, read by
 * `koffloadctl replay`.
 */
import { closeSync, createReadStream, fstatSync, openSync, readSync, write, writeSync } from 'node:fs';
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
  /** after a write error, reopen the file this long later, ms. @default 1000 */
  reopenDelayMs?: number;
}

/**
 * Appends record lines to a file through its own small write queue (one
 * write() in flight), so it can always be flushed synchronously on exit.
 *
 * - The file is opened synchronously in the constructor, so a path that
 *   cannot be written fails at once (KOFFLOAD_ERR_BAD_CONFIG). If it does
 *   not end in a newline (a torn last line: SIGKILL, a full disk), one is
 *   written first, so the next line starts on its own.
 * - A write error (ENOSPC, EIO) is counted per line lost, the first one
 *   logged, never thrown into serving; the file is closed and reopened
 *   (appending) reopenDelayMs later, and writing goes on.
 * - reopen() (SIGHUP) finishes the write in flight and opens the path
 *   anew: rename-then-HUP rotation works.
 * - Lines are dropped and counted while more than maxBuffered bytes wait.
 * - flushSync() writes everything queued before the process exits.
 */
export class Recorder {
  private fd: number | undefined;
  private readonly logger: Logger;
  private readonly maxBuffered: number;
  private readonly reopenDelayMs: number;
  private loggedError = false;
  private queue: string[] = [];
  /** bytes queued or in flight */
  private buffered = 0;
  private writing = false;
  private wantReopen = false;
  private reopenTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private idle: (() => void)[] = [];
  /** lines handed to the writer */
  lines = 0;
  /** lines that failed to write */
  errors = 0;
  /** lines dropped because too much was waiting to be written */
  dropped = 0;
  /** times the file was reopened (after an error, or by reopen()) */
  reopens = 0;

  constructor(
    readonly path: string,
    opts: RecorderOptions = {},
  ) {
    this.logger = opts.logger ?? silentLogger;
    this.maxBuffered = opts.maxBuffered ?? RECORD_BUFFER_MAX;
    this.reopenDelayMs = opts.reopenDelayMs ?? 1000;
    try {
      this.fd = Recorder.open(path);
    } catch (err) {
      throw new KoffloadError('KOFFLOAD_ERR_BAD_CONFIG', `cannot open record file ${path}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Opens for appending and ends a torn last line. */
  private static open(path: string): number {
    const fd = openSync(path, 'a');
    try {
      const st = fstatSync(fd);
      if (st.isFile() && st.size > 0) {
        const last = Buffer.alloc(1);
        const rfd = openSync(path, 'r');
        try {
          readSync(rfd, last, 0, 1, st.size - 1);
        } finally {
          closeSync(rfd);
        }
        if (last[0] !== 0x0a) writeSync(fd, '\n');
      }
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    return fd;
  }

  private logError(err: unknown): void {
    if (this.loggedError) return;
    this.loggedError = true;
    this.logger.error('cannot write the record file; lines are lost (koffload_record_errors_total); reopening it', { path: this.path, err: String(err) });
  }

  write(ev: DecisionEvent): void {
    if (this.closed) {
      this.errors++;
      return;
    }
    if (this.buffered > this.maxBuffered) {
      this.dropped++;
      return;
    }
    const line = `${JSON.stringify(toRecordLine(ev))}\n`;
    this.queue.push(line);
    this.buffered += Buffer.byteLength(line);
    this.lines++;
    this.pump();
  }

  private pump(): void {
    if (this.writing) return;
    if (this.wantReopen) {
      this.wantReopen = false;
      this.reopenNow();
    }
    if (this.queue.length === 0 || this.fd === undefined) {
      // close() waits for this; with no file open (an error while closing) nothing more can be written
      if (this.queue.length === 0 || this.closed) for (const f of this.idle.splice(0)) f();
      return;
    }
    const lines = this.queue;
    this.queue = [];
    const buf = Buffer.from(lines.join(''));
    const fd = this.fd;
    this.writing = true;
    const done = (err: Error | null, off: number): void => {
      if (err) {
        this.writing = false;
        this.buffered -= buf.length;
        this.errors += lines.length;
        this.logError(err);
        this.dropFd();
        this.scheduleReopen();
        this.pump();
        return;
      }
      if (off < buf.length) {
        write(fd, buf, off, buf.length - off, null, (e, n) => done(e, off + n));
        return;
      }
      this.writing = false;
      this.buffered -= buf.length;
      this.pump();
    };
    write(fd, buf, 0, buf.length, null, (e, n) => done(e, n));
  }

  private dropFd(): void {
    if (this.fd === undefined) return;
    try {
      closeSync(this.fd);
    } catch {
      // already broken
    }
    this.fd = undefined;
  }

  private scheduleReopen(): void {
    if (this.reopenTimer || this.closed) return;
    this.reopenTimer = setTimeout(() => {
      this.reopenTimer = undefined;
      this.reopen();
    }, this.reopenDelayMs);
    this.reopenTimer.unref();
  }

  private reopenNow(): void {
    this.dropFd();
    try {
      this.fd = Recorder.open(this.path);
      this.reopens++;
    } catch (err) {
      this.logError(err);
      this.scheduleReopen();
    }
  }

  /** Opens the path anew once the write in flight is done (SIGHUP, rotation). */
  reopen(): void {
    if (this.closed) return;
    this.wantReopen = true;
    this.pump();
  }

  /**
   * Writes everything queued now, synchronously (for exit paths, where the
   * event loop will not run again); never throws. A write already in
   * flight is not repeated (it may land after these lines).
   */
  flushSync(): void {
    if (this.fd === undefined || this.queue.length === 0) return;
    const lines = this.queue;
    this.queue = [];
    const buf = Buffer.from(lines.join(''));
    this.buffered -= buf.length;
    try {
      for (let off = 0; off < buf.length; ) off += writeSync(this.fd, buf, off);
    } catch (err) {
      this.errors += lines.length;
      this.logError(err);
    }
  }

  /** Flushes and closes; never rejects. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.reopenTimer);
    this.reopenTimer = undefined;
    if (this.writing || (this.queue.length > 0 && this.fd !== undefined)) await new Promise<void>((resolve) => this.idle.push(resolve));
    this.dropFd();
    // whatever could not be written (no file open) is lost
    this.errors += this.queue.length;
    this.queue = [];
  }
}

/** Counts of what readRecords() skipped. */
export interface ReadStats {
  /** lines cut short (a crash or a full disk while writing), skipped */
  torn: number;
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

/** The record in a line, or undefined when it is not JSON. */
function parseLine(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * Reads a record file; KOFFLOAD_ERR_BAD_RECORD names the first bad line. A
 * torn line (a record cut short by a crash or a full disk: it starts like
 * one and is not JSON) is skipped and counted in `stats.torn`; when a later
 * writer appended right after it on the same line, the record it appended
 * is read.
 */
export async function* readRecords(path: string, stats: ReadStats = { torn: 0 }): AsyncGenerator<{ line: number; rec: RecordLine }> {
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
    let x = parseLine(text);
    if (x === undefined) {
      if (!text.startsWith('{"v":')) throw new KoffloadError('KOFFLOAD_ERR_BAD_RECORD', `${path}:${n}: not JSON`);
      stats.torn++;
      const next = text.indexOf('{"v":', 1);
      if (next < 0) continue;
      x = parseLine(text.slice(next));
      if (x === undefined) continue;
    }
    if (!validLine(x)) throw new KoffloadError('KOFFLOAD_ERR_BAD_RECORD', `${path}:${n}: not a version ${RECORD_VERSION} record line`);
    yield { line: n, rec: x };
  }
}
