// A real Prometheus server (Debian's prometheus) for the end-to-end tests:
// test/unit/prometheus.test.ts on the simulator and
// test/conformance/prometheus.test.ts on koffload.ko in the QEMU guest.
// It runs on loopback with a scrape config written here, stores its data in
// the test's directory, and is asked through its HTTP API only.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The policy both tests serve (test/fixtures/faults-policy.ts, compiled). */
export const FAULTS_POLICY = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'faults-policy.js');

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A free loopback TCP port (bound, noted, released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** Waits, bounded, for `cond` (a throw counts as not yet); fails with `what` when it does not come. */
export async function until(what: string, cond: () => Promise<boolean>, ms = 30_000, pollMs = 100): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      if (await cond()) return;
    } catch {
      // not up yet
    }
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(pollMs);
  }
}

export interface Sample {
  metric: Record<string, string>;
  value: number;
}

export interface ScrapeTarget {
  health: string;
  /** when the last completed scrape started: the timestamp of its samples */
  lastScrape: string;
  lastError: string;
}

export interface PrometheusOptions {
  /** the prometheus binary */
  bin: string;
  /** scratch directory: the config and the TSDB go here */
  dir: string;
  /** host:port of the one target, scraped as job koffloadd */
  target: string;
  /** rule files to load. @default none */
  ruleFiles?: string[];
  /** scrape and rule evaluation interval, s. @default 1 */
  intervalS?: number;
}

/** A running Prometheus; stop() ends it. */
export class PrometheusServer {
  private log = '';
  /** rejects when the server exits: race it against every wait */
  readonly exited: Promise<never>;

  private constructor(
    readonly proc: ChildProcess,
    /** http://127.0.0.1:PORT */
    readonly base: string,
  ) {
    proc.stderr!.on('data', (b: Buffer) => {
      this.log = (this.log + b.toString()).slice(-4000);
    });
    this.exited = new Promise<never>((_, reject) => proc.once('exit', (code, sig) => reject(new Error(`prometheus exited (${code ?? sig}): ${this.log}`))));
    this.exited.catch(() => {});
  }

  /** Writes the scrape config and starts the server on a free loopback port. */
  static async start(o: PrometheusOptions): Promise<PrometheusServer> {
    const port = await freePort();
    const s = o.intervalS ?? 1;
    const config = join(o.dir, 'prometheus.yml');
    writeFileSync(
      config,
      [
        `global: {scrape_interval: ${s}s, scrape_timeout: ${s}s, evaluation_interval: ${s}s}`,
        `rule_files: ${JSON.stringify(o.ruleFiles ?? [])}`,
        'scrape_configs:',
        '  - job_name: koffloadd',
        `    static_configs: [{targets: [${JSON.stringify(o.target)}]}]`,
        '',
      ].join('\n'),
    );
    const proc = spawn(o.bin, [`--config.file=${config}`, `--storage.tsdb.path=${join(o.dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    return new PrometheusServer(proc, `http://127.0.0.1:${port}`);
  }

  /** Races `p` against the server's exit. */
  alive<T>(p: Promise<T>): Promise<T> {
    return Promise.race([this.exited, p]);
  }

  /** The API's answer at `path` (its data), asserting success. */
  async get<T>(path: string): Promise<T> {
    const j = (await (await fetch(`${this.base}${path}`)).json()) as { status: string; data: T; error?: string };
    assert.equal(j.status, 'success', `${path}: ${j.error}`);
    return j.data;
  }

  /**
   * An instant query, as label sets and values; at `atMs` (a sample's
   * timestamp, ms, from scrapeAfter()) it sees that scrape's samples and
   * nothing later.
   */
  async query(q: string, atMs?: number): Promise<Sample[]> {
    const params = new URLSearchParams({ query: q });
    if (atMs !== undefined) params.set('time', (atMs / 1000).toFixed(3));
    const d = await this.get<{ resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] }>(`/api/v1/query?${params}`);
    assert.equal(d.resultType, 'vector', q);
    return d.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
  }

  /** The one scrape target, as the API reports it (undefined before the first scrape). */
  async scrapeTarget(): Promise<ScrapeTarget | undefined> {
    return (await this.get<{ activeTargets: ScrapeTarget[] }>('/api/v1/targets')).activeTargets[0];
  }

  /**
   * Waits, bounded, for a scrape that started after `afterMs` and
   * succeeded, and for its samples to be queryable; resolves with their
   * timestamp (ms). That is the scrape's start as Prometheus stored it,
   * which may differ by a few ms from the start the targets API reports
   * (Prometheus aligns timestamps to the interval), so it is read back
   * from the stored samples of `up`.
   */
  async scrapeAfter(afterMs: number, what: string, ms = 30_000): Promise<number> {
    let at = 0;
    await this.alive(
      until(
        what,
        async () => {
          const t = await this.scrapeTarget();
          const started = t?.health === 'up' ? Date.parse(t.lastScrape) : 0;
          if (started <= afterMs) return false;
          const d = await this.get<{ result: { values: [number, string][] }[] }>(`/api/v1/query?${new URLSearchParams({ query: 'up{job="koffloadd"}[1m]' })}`);
          // neighbouring scrapes are an interval apart
          const mine = d.result.flatMap((r) => r.values.map(([ts]) => Math.round(ts * 1000))).find((ts) => Math.abs(ts - started) <= 50);
          if (mine === undefined) return false;
          at = mine;
          return true;
        },
        ms,
      ),
    );
    return at;
  }

  /** SIGTERM, then SIGKILL after 5 s. */
  async stop(): Promise<void> {
    const p = this.proc;
    if (p.exitCode !== null || p.signalCode !== null) return;
    const gone = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    await Promise.race([gone, sleep(5_000)]);
    if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  }
}
