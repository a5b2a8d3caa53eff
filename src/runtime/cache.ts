/**
 * The advisory cache from userspace: decisions pushed into the kernel ahead
 * of time, for callers that may not wait (atomic context, reclaim, NOFS)
 * and read the cache without a round trip.
 */
import { KoffloadError } from '../errors.js';
import { KOFFLOAD } from '../generated/wire.js';
import { MAX_TIMER_MS } from './deadline.js';
import type { Logger } from './policy.js';
import { silentLogger } from './policy.js';
import type { MessageCodec } from './schema.js';
import type { Transport } from './server.js';

function keyBytes(key: Uint8Array | string): Uint8Array {
  const k = typeof key === 'string' ? Buffer.from(key) : key;
  if (k.length === 0 || k.length > KOFFLOAD.limits.keyMax) {
    throw new KoffloadError('KOFFLOAD_ERR_INVALID_ARG', `cache key must be 1..${KOFFLOAD.limits.keyMax} bytes, got ${k.length}`);
  }
  return k;
}

function checkTtl(ttlMs: number): void {
  if (!Number.isInteger(ttlMs) || ttlMs < 0 || ttlMs > KOFFLOAD.limits.cacheTtlMaxMs) {
    throw new KoffloadError('KOFFLOAD_ERR_INVALID_ARG', `ttlMs must be an integer in 0..${KOFFLOAD.limits.cacheTtlMaxMs}, got ${ttlMs}`);
  }
}

/** Typed publishing into one bound subsystem's advisory cache. */
export class AdvisoryCache<I> {
  constructor(
    private readonly transport: Pick<Transport, 'publish'>,
    readonly subsysId: number,
    private readonly codec: MessageCodec<unknown, I>,
  ) {}

  /**
   * Puts `value` (encoded as the op's response type) under `key` for
   * `ttlMs` (1..3600000). Rejects with KOFFLOAD_ERR_INVALID_ARG,
   * KOFFLOAD_ERR_BAD_RESPONSE, or the kernel's NetlinkError (ENOSPC: the
   * cache is full).
   */
  async publish(key: Uint8Array | string, value: I, ttlMs: number): Promise<void> {
    checkTtl(ttlMs);
    if (ttlMs === 0) throw new KoffloadError('KOFFLOAD_ERR_INVALID_ARG', 'ttlMs 0 deletes; use delete()');
    await this.transport.publish(this.subsysId, keyBytes(key), this.codec.encode(value), ttlMs);
  }

  /**
   * Puts `payload` under `key` as it is, for entries whose format the
   * subsystem defines as something other than the op's response type (a
   * message of another type, encoded by its codec, or raw bytes such as a
   * bitmap). Same checks as publish(); a payload over KOFFLOAD.limits.payloadMax
   * bytes rejects with KOFFLOAD_ERR_INVALID_ARG.
   */
  async publishBytes(key: Uint8Array | string, payload: Uint8Array, ttlMs: number): Promise<void> {
    checkTtl(ttlMs);
    if (ttlMs === 0) throw new KoffloadError('KOFFLOAD_ERR_INVALID_ARG', 'ttlMs 0 deletes; use delete()');
    if (!(payload instanceof Uint8Array) || payload.length > KOFFLOAD.limits.payloadMax) {
      throw new KoffloadError('KOFFLOAD_ERR_INVALID_ARG', `payload must be a Uint8Array of at most ${KOFFLOAD.limits.payloadMax} bytes`);
    }
    await this.transport.publish(this.subsysId, keyBytes(key), payload, ttlMs);
  }

  /** Removes `key` from the cache. */
  async delete(key: Uint8Array | string): Promise<void> {
    await this.transport.publish(this.subsysId, keyBytes(key), Buffer.alloc(0), 0);
  }
}

export interface RefreshOptions<I> {
  /** where to publish (an AdvisoryCache, or ctx-like publish function) */
  cache: Pick<AdvisoryCache<I>, 'publish'>;
  /** computes the current decisions; called once at start, then every refreshMs */
  compute: () => Iterable<readonly [Uint8Array | string, I]> | Promise<Iterable<readonly [Uint8Array | string, I]>>;
  /** lifetime of each published entry, ms, 1..3600000 */
  ttlMs: number;
  /** how often to recompute, ms; must be below ttlMs so entries never lapse. @default ttlMs / 2 */
  refreshMs?: number;
  logger?: Logger;
}

export interface Refresher {
  /** recompute and republish now; resolves when done */
  refresh(): Promise<void>;
  /** stops the timer; published entries expire on their own */
  stop(): void;
  /** rounds completed and failed */
  readonly stats: { rounds: number; published: number; failures: number };
}

/**
 * Keeps decisions alive in the kernel's advisory cache: recomputes and
 * republishes every refreshMs, before the entries' TTL runs out. A failing
 * round is counted and logged; the next round tries again. Rounds never
 * overlap.
 */
export function refreshEvery<I>(opts: RefreshOptions<I>): Refresher {
  checkTtl(opts.ttlMs);
  const refreshMs = opts.refreshMs ?? Math.max(1, Math.floor(opts.ttlMs / 2));
  if (!Number.isFinite(refreshMs) || refreshMs < 1 || refreshMs >= opts.ttlMs || refreshMs > MAX_TIMER_MS) {
    throw new KoffloadError('KOFFLOAD_ERR_INVALID_ARG', `refreshMs must be 1..ttlMs-1 (${opts.ttlMs - 1}), got ${refreshMs}`);
  }
  const logger = opts.logger ?? silentLogger;
  const stats = { rounds: 0, published: 0, failures: 0 };
  let running: Promise<void> | undefined;
  let stopped = false;
  const round = async (): Promise<void> => {
    try {
      const entries = await opts.compute();
      for (const [k, v] of entries) {
        await opts.cache.publish(k, v, opts.ttlMs);
        stats.published++;
      }
      stats.rounds++;
    } catch (err) {
      stats.failures++;
      logger.warn('advisory refresh failed', { err: String(err) });
    }
  };
  const refresh = (): Promise<void> => {
    if (!running) running = round().finally(() => (running = undefined));
    return running;
  };
  const timer = setInterval(() => {
    if (!stopped) void refresh();
  }, refreshMs);
  timer.unref();
  void refresh();
  return {
    refresh,
    stop(): void {
      stopped = true;
      clearInterval(timer);
    },
    stats,
  };
}
