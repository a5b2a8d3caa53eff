/**
 * A small line logger: `<ISO time> <level> <message> key=value ...`.
 * Injected everywhere; nothing logs through a global.
 */
import type { Logger } from './policy.js';

export const LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type Level = (typeof LEVELS)[number];

function fmt(v: unknown): string {
  if (typeof v === 'string') return /[\s"=]/.test(v) ? JSON.stringify(v) : v;
  if (typeof v === 'bigint') return v.toString();
  try {
    return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x)) ?? String(v);
  } catch {
    return String(v);
  }
}

export function createLogger(opts: { level?: Level; write?: (line: string) => void; prefix?: string } = {}): Logger {
  const min = LEVELS.indexOf(opts.level ?? 'info');
  const write = opts.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  const make =
    (level: Exclude<Level, 'silent'>) =>
    (msg: string, fields?: Record<string, unknown>): void => {
      if (LEVELS.indexOf(level) < min) return;
      const kv = fields ? Object.entries(fields).filter(([, v]) => v !== undefined).map(([k, v]) => ` ${k}=${fmt(v)}`).join('') : '';
      write(`${new Date().toISOString()} ${level}${opts.prefix ? ` ${opts.prefix}` : ''} ${msg}${kv}`);
    };
  return { debug: make('debug'), info: make('info'), warn: make('warn'), error: make('error') };
}
