/**
 * Loading policy modules by path. A module default-exports a policy (or an
 * array of policies), or exports `policy` / `policies`. TypeScript modules
 * (.ts, .mts) load through tsx; plain JavaScript through import().
 */
import { existsSync, statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { KoffloadError } from '../errors.js';
import { type Policy, isPolicy } from './policy.js';

let generation = 0;

async function importModule(abs: string, fresh: boolean): Promise<Record<string, unknown>> {
  const url = pathToFileURL(abs);
  // a query makes a reload import a new copy of the module (SIGHUP)
  if (fresh) url.searchParams.set('koffload-reload', String(++generation));
  if (/\.[cm]?ts$/.test(abs)) {
    let api: { tsImport: (specifier: string, parent: string) => Promise<unknown> };
    try {
      api = (await import('tsx/esm/api')) as typeof api;
    } catch (err) {
      throw new KoffloadError('KOFFLOAD_ERR_BAD_CONFIG', `${abs}: TypeScript policies need the tsx package; compile the policy to .js or install tsx`, { cause: err });
    }
    return (await api.tsImport(url.href, import.meta.url)) as Record<string, unknown>;
  }
  return (await import(url.href)) as Record<string, unknown>;
}

/** The policies a module exports. */
export function policiesOf(mod: Record<string, unknown>, where: string): Policy[] {
  const candidates = [mod['default'], mod['policy'], mod['policies']].filter((x) => x !== undefined);
  // a CommonJS/tsx interop layer may wrap the default export once more
  const flat: unknown[] = [];
  for (const c of candidates) {
    if (Array.isArray(c)) flat.push(...c);
    else if (!isPolicy(c) && typeof c === 'object' && c !== null && 'default' in c) flat.push((c as { default: unknown }).default);
    else flat.push(c);
  }
  const policies = flat.flatMap((x) => (Array.isArray(x) ? x : [x]));
  if (policies.length === 0 || !policies.every(isPolicy)) {
    throw new KoffloadError('KOFFLOAD_ERR_BAD_POLICY', `${where} does not export definePolicy() results (default export, 'policy' or 'policies')`);
  }
  return policies as Policy[];
}

/**
 * Loads the policy module at `path` (relative to `baseDir`). Errors:
 * KOFFLOAD_ERR_POLICY_NOT_FOUND, KOFFLOAD_ERR_BAD_POLICY, and the coded
 * errors of definePolicy() thrown while the module loads.
 */
export async function loadPolicyModule(path: string, baseDir: string, opts: { fresh?: boolean } = {}): Promise<Policy[]> {
  const abs = isAbsolute(path) ? path : resolve(baseDir, path);
  if (!existsSync(abs) || !statSync(abs).isFile()) throw new KoffloadError('KOFFLOAD_ERR_POLICY_NOT_FOUND', abs);
  let mod: Record<string, unknown>;
  try {
    mod = await importModule(abs, opts.fresh ?? false);
  } catch (err) {
    if (err instanceof KoffloadError) throw err;
    if (typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string' && String((err as { code: string }).code).startsWith('KOFFLOAD_ERR_')) throw err;
    throw new KoffloadError('KOFFLOAD_ERR_BAD_POLICY', `${abs} failed to load: ${(err as Error)?.message ?? String(err)}`, { cause: err });
  }
  return policiesOf(mod, abs);
}
