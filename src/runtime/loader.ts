/**
 * Loading policy modules by path. A module default-exports a policy (or an
 * array of policies), or exports `policy` / `policies`.
 *
 * How a policy is loaded (the same for .ts, .mts, .js and .mjs, at start,
 * on every SIGHUP reload and in `koffloadctl replay`):
 *
 * 1. esbuild (a dependency; its compiler runs as a child process and reads
 *    the sources itself) bundles the module and every local file it
 *    imports, TypeScript stripped of its types, into one piece of code in
 *    memory. Nothing is written to disk and no cache is read: the tsx disk
 *    cache ($TMPDIR/tsx-<euid>, which any local user could create first
 *    and fill) is gone from the daemon's path.
 * 2. Every file the policy makes the daemon run (the module, its local
 *    imports, the npm packages it imports) must be writable only by root
 *    or the daemon's own user, and so must every directory above it
 *    (assertTrustedFile(); KOFFLOAD_ERR_UNSAFE_FILE otherwise). This is
 *    checked while resolving, before any of it is read or run.
 * 3. koffload's own modules (this package's src/, which a policy imports
 *    as ../src/runtime/index.js or through dist/) are not bundled: the
 *    policy gets the daemon's already loaded instances. npm packages and
 *    Node built-ins are imported by Node as usual (once per process).
 * 4. The bundle runs as the body of an async function in this context
 *    (vm.Script), so top-level await works and, unlike an ES module, a
 *    generation of policy code nobody references any more (after a reload)
 *    is garbage-collected with everything its top level allocated.
 *
 * So a reload picks up every change to the policy and its local helpers
 * (.ts or .js), and none to npm packages or to koffload itself (restart
 * the daemon for those). Limits: `import.meta.url`, `.dirname` and
 * `.filename` are replaced by the file's own values, other `import.meta`
 * uses and dynamic import() of a computed specifier are not supported.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, extname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import vm from 'node:vm';
import type * as Esbuild from 'esbuild';
import { KoffloadError } from '../errors.js';
import { type Policy, isPolicy } from './policy.js';
import { assertTrustedFile } from './trust.js';

/** The policies a module exports. */
export function policiesOf(mod: Record<string, unknown>, where: string): Policy[] {
  const candidates = [mod['default'], mod['policy'], mod['policies']].filter((x) => x !== undefined);
  // a CommonJS interop layer may wrap the default export once more
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

/** dist/src (or src, when run from source): koffload's own modules. */
const OWN_SRC = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** The TypeScript sources of OWN_SRC, when this runs from dist/. */
const SOURCE_SRC = basename(dirname(OWN_SRC)) === 'dist' ? join(dirname(dirname(OWN_SRC)), 'src') : undefined;

const inside = (path: string, dir: string): boolean => path === dir || path.startsWith(dir + sep);

/** The daemon's own module a path resolves to, when it is one of koffload's. */
function ownModule(path: string): string | undefined {
  if (inside(path, OWN_SRC)) return path;
  if (SOURCE_SRC && inside(path, SOURCE_SRC)) {
    const built = join(OWN_SRC, relative(SOURCE_SRC, path)).replace(/\.([cm]?)ts$/, '.$1js');
    return existsSync(built) ? built : undefined;
  }
  return undefined;
}

const EXT = 'koffload-external';
const INNER = Symbol('koffload-inner-resolve');

/** Builds of policies under way; the esbuild service stops when none is. */
let building = 0;

interface Bundle {
  code: string;
  externals: unknown[];
}

async function bundle(abs: string): Promise<Bundle> {
  // imported here: code that never loads a policy (the kernel test guest) needs no esbuild
  const esbuild = await import('esbuild');
  const externals: unknown[] = [];
  let refused: KoffloadError | undefined;
  const plugin: Esbuild.Plugin = {
    name: 'koffload-policy',
    setup(build) {
      build.onResolve({ filter: /.*/ }, async (args) => {
        if (args.pluginData === INNER) return undefined;
        const r = await build.resolve(args.path, { kind: args.kind, importer: args.importer, resolveDir: args.resolveDir, pluginData: INNER });
        if (r.errors.length > 0) return { errors: r.errors };
        // Node built-ins: imported by name
        if (r.external) return { path: r.path, namespace: EXT, pluginData: { specifier: r.path } };
        const own = ownModule(r.path);
        if (own) return { path: own, namespace: EXT, pluginData: { specifier: pathToFileURL(own).href } };
        try {
          assertTrustedFile(r.path, `policy ${abs} imports ${r.path}`);
        } catch (err) {
          refused ??= err as KoffloadError;
          return { errors: [{ text: (err as Error).message }] };
        }
        if (r.path.split(sep).includes('node_modules')) return { path: r.path, namespace: EXT, pluginData: { specifier: pathToFileURL(r.path).href } };
        return { path: r.path };
      });
      // an external module: its live namespace, re-exported by name
      build.onLoad({ filter: /.*/, namespace: EXT }, async (args) => {
        const ns = (await import((args.pluginData as { specifier: string }).specifier)) as Record<string, unknown>;
        const id = externals.push(ns) - 1;
        const lines = [`const ns = __koffload_external(${id});`];
        Object.keys(ns).forEach((name, i) => {
          lines.push(name === 'default' ? 'export default ns.default;' : `const e${i} = ns[${JSON.stringify(name)}];\nexport { e${i} as ${JSON.stringify(name)} };`);
        });
        return { contents: lines.join('\n'), loader: 'js' };
      });
      // import.meta of a bundled file: its own location
      build.onLoad({ filter: /\.[cm]?[jt]sx?$/ }, async (args) => {
        const text = readFileSync(args.path, 'utf8');
        const ext = extname(args.path);
        const loader = /^\.[cm]?ts$/.test(ext) ? 'ts' : ext === '.tsx' ? 'tsx' : ext === '.jsx' ? 'jsx' : 'js';
        if (!text.includes('import.meta')) return { contents: text, loader };
        const out = await esbuild.transform(text, {
          loader,
          format: 'esm',
          target: 'node20',
          sourcefile: args.path,
          define: {
            'import.meta.url': JSON.stringify(pathToFileURL(args.path).href),
            'import.meta.dirname': JSON.stringify(dirname(args.path)),
            'import.meta.filename': JSON.stringify(args.path),
          },
        });
        return { contents: out.code, loader: 'js' };
      });
    },
  };
  building++;
  try {
    const out = await esbuild.build({
      stdin: { contents: `import * as m from ${JSON.stringify(abs)};\n__koffload_done(m);\n`, resolveDir: dirname(abs), sourcefile: '<koffload policy entry>', loader: 'js' },
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      logLevel: 'silent',
      plugins: [plugin],
    });
    return { code: out.outputFiles[0]!.text, externals };
  } catch (err) {
    if (refused) throw refused;
    const errors = (err as { errors?: { text: string; location?: { file: string; line: number } | null }[] }).errors;
    const first = errors?.[0];
    const detail = first ? `${first.location ? `${first.location.file}:${first.location.line}: ` : ''}${first.text}` : (err as Error).message;
    throw new KoffloadError('KOFFLOAD_ERR_BAD_POLICY', `${abs} failed to compile: ${detail}`, { cause: err });
  } finally {
    if (--building === 0) await esbuild.stop();
  }
}

/** Runs a bundle; resolves with the entry module's namespace. */
async function evaluate(abs: string, b: Bundle): Promise<Record<string, unknown>> {
  const script = new vm.Script(`(async function (__koffload_external, __koffload_done) {"use strict";\n${b.code}\n})`, { filename: `${abs} (bundled)` });
  const fn = script.runInThisContext() as (ext: (id: number) => unknown, done: (m: Record<string, unknown>) => void) => Promise<void>;
  let mod: Record<string, unknown> | undefined;
  await fn(
    (id) => b.externals[id],
    (m) => (mod = m),
  );
  if (!mod) throw new KoffloadError('KOFFLOAD_ERR_BAD_POLICY', `${abs} did not finish loading`);
  return mod;
}

/**
 * Loads the policy module at `path` (relative to `baseDir`), afresh on
 * every call (see the module comment). Errors: KOFFLOAD_ERR_POLICY_NOT_FOUND,
 * KOFFLOAD_ERR_UNSAFE_FILE, KOFFLOAD_ERR_BAD_POLICY, and the coded errors
 * of definePolicy() thrown while the module loads.
 */
export async function loadPolicyModule(path: string, baseDir: string): Promise<Policy[]> {
  const abs = isAbsolute(path) ? path : resolve(baseDir, path);
  if (!existsSync(abs) || !statSync(abs).isFile()) throw new KoffloadError('KOFFLOAD_ERR_POLICY_NOT_FOUND', abs);
  assertTrustedFile(abs, 'policy module');
  const b = await bundle(abs);
  let mod: Record<string, unknown>;
  try {
    mod = await evaluate(abs, b);
  } catch (err) {
    if (err instanceof KoffloadError) throw err;
    if (typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string' && String((err as { code: string }).code).startsWith('KOFFLOAD_ERR_')) throw err;
    throw new KoffloadError('KOFFLOAD_ERR_BAD_POLICY', `${abs} failed to load: ${(err as Error)?.message ?? String(err)}`, { cause: err });
  }
  return policiesOf(mod, abs);
}
