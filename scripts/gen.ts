/**
 * Code generator for the koffload wire contract.
 *
 * Sources (the only ones):
 *   proto/koffload.genl.yaml  genl families: commands, attributes, enums, limits
 *   proto/*.proto             payload schemas of the subsystems' ops
 *
 * Outputs (committed, never edited by hand):
 *   kernel-shim/include/uapi/linux/koffload.h     uapi header
 *   kernel-shim/koffload_nl_gen.h, test/koffload_test_nl_gen.h  nla_policy tables (6.1+)
 *   src/generated/wire.ts                         TypeScript constants
 *   kernel-shim/include/generated/<name>_pb.h     protobuf field numbers
 *   src/generated/proto/<name>.ts                 typed payload codecs and ops
 *
 *   tsx scripts/gen.ts           write the outputs, delete stale ones
 *   tsx scripts/gen.ts --check   exit 1 and list files that differ from what
 *                                the sources generate (changed, missing, stale)
 *
 * Output is a pure function of the sources: no dates, no host data, sources
 * read in sorted order.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import protobuf from 'protobufjs';
import { parse as parseYaml } from 'yaml';

export const SPEC_PATH = 'proto/koffload.genl.yaml';
export const UAPI_PATH = 'kernel-shim/include/uapi/linux/koffload.h';
/** Where each family's policy header goes, and how it reaches the uapi header. */
export const POLICY_PATHS: Readonly<Record<string, { path: string; guard: string; uapi: string }>> = {
  koffload: { path: 'kernel-shim/koffload_nl_gen.h', guard: '_KOFFLOAD_NL_GEN_H', uapi: 'include/uapi/linux/koffload.h' },
  koffload_test: { path: 'kernel-shim/test/koffload_test_nl_gen.h', guard: '_KOFFLOAD_TEST_NL_GEN_H', uapi: '../include/uapi/linux/koffload.h' },
};
export const WIRE_TS_PATH = 'src/generated/wire.ts';
export const WIRE_CODEC_TS_PATH = 'src/generated/wire-codec.ts';
export const PB_DIR = 'kernel-shim/include/generated';
export const PROTO_TS_DIR = 'src/generated/proto';
const PROTO_DIR = 'proto';

/** Marker present in the header of every generated file. */
export const GENERATED_MARKER = 'by `npm run gen`';

// ---------------------------------------------------------------------------
// Spec model and strict loader

/** `pad`: the padattr of nla_put_u64_64bit(); never sent by userspace. */
type AttrType = 'u8' | 'u16' | 'u32' | 'u64' | 'string' | 'binary' | 'nest' | 'pad';
const ATTR_TYPES: readonly AttrType[] = ['u8', 'u16', 'u32', 'u64', 'string', 'binary', 'nest', 'pad'];
const INT_TYPES: readonly AttrType[] = ['u8', 'u16', 'u32', 'u64'];

/** A number given literally or by the name of one of the family's limits. */
interface LimitRef {
  value: number;
  limit?: string;
}

interface Limit {
  name: string;
  value: number;
  doc?: string;
}

interface EnumEntry {
  name: string;
  doc?: string;
}

interface EnumDef {
  name: string;
  doc?: string;
  flags: boolean;
  entries: EnumEntry[];
}

interface AttrDef {
  name: string;
  type: AttrType;
  doc?: string;
  maxLen?: LimitRef;
  max?: LimitRef;
  enumName?: string;
  nested?: string;
}

interface AttrSet {
  name: string;
  doc?: string;
  attributes: AttrDef[];
}

interface OpDef {
  name: string;
  doc?: string;
  admin: boolean;
  dump: boolean;
  /** the attributes its message carries, in the order they are encoded (generated codec) */
  attributes?: string[];
  /** those of them a message must carry */
  required?: string[];
}

interface Family {
  name: string;
  cPrefix: string;
  version: number;
  doc?: string;
  limits: Limit[];
  enums: EnumDef[];
  attrSets: AttrSet[];
  ops: OpDef[];
}

export class SpecError extends Error {
  constructor(where: string, message: string) {
    super(`${SPEC_PATH}: ${where}: ${message}`);
    this.name = 'SpecError';
  }
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function expectObj(v: unknown, where: string, allowed: readonly string[]): Obj {
  if (!isObj(v)) throw new SpecError(where, 'expected a mapping');
  for (const k of Object.keys(v)) {
    if (!allowed.includes(k)) throw new SpecError(where, `unknown key '${k}' (allowed: ${allowed.join(', ')})`);
  }
  return v;
}

function expectList(v: unknown, where: string, optional = false): unknown[] {
  if (v === undefined && optional) return [];
  if (!Array.isArray(v)) throw new SpecError(where, 'expected a list');
  return v;
}

function expectName(v: unknown, where: string): string {
  if (typeof v !== 'string' || !/^[a-z][a-z0-9]*([-_][a-z0-9]+)*$/.test(v)) {
    throw new SpecError(where, `name must be lower-case words joined by '-' or '_', got ${JSON.stringify(v)}`);
  }
  return v;
}

function optString(v: unknown, where: string): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new SpecError(where, 'expected a string');
  return v.trim();
}

function optBool(v: unknown, where: string): boolean {
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw new SpecError(where, 'expected true or false');
  return v;
}

function expectUint(v: unknown, where: string, max = 0xffffffff): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) {
    throw new SpecError(where, `expected an integer in 0..${max}, got ${JSON.stringify(v)}`);
  }
  return v;
}

function uniqueNames(items: readonly { name: string }[], where: string): void {
  const seen = new Set<string>();
  for (const it of items) {
    if (seen.has(it.name)) throw new SpecError(where, `duplicate name '${it.name}'`);
    seen.add(it.name);
  }
}

function parseFamily(raw: unknown, where: string): Family {
  const f = expectObj(raw, where, ['name', 'c-prefix', 'version', 'doc', 'limits', 'enums', 'attribute-sets', 'operations']);
  const name = expectName(f['name'], `${where}.name`);
  const cPrefix = f['c-prefix'];
  if (typeof cPrefix !== 'string' || !/^[A-Z][A-Z0-9_]*$/.test(cPrefix)) {
    throw new SpecError(`${where}.c-prefix`, 'expected an upper-case C identifier');
  }
  const fw = `family ${name}`;
  const limits: Limit[] = expectList(f['limits'], `${fw}.limits`, true).map((r, i) => {
    const o = expectObj(r, `${fw}.limits[${i}]`, ['name', 'value', 'doc']);
    return {
      name: expectName(o['name'], `${fw}.limits[${i}].name`),
      value: expectUint(o['value'], `${fw}.limits[${i}].value`),
      doc: optString(o['doc'], `${fw}.limits[${i}].doc`),
    };
  });
  uniqueNames(limits, `${fw}.limits`);

  const enums: EnumDef[] = expectList(f['enums'], `${fw}.enums`, true).map((r, i) => {
    const w = `${fw}.enums[${i}]`;
    const o = expectObj(r, w, ['name', 'doc', 'flags', 'entries']);
    const entries = expectList(o['entries'], `${w}.entries`).map((e, j) => {
      const eo = expectObj(e, `${w}.entries[${j}]`, ['name', 'doc']);
      return { name: expectName(eo['name'], `${w}.entries[${j}].name`), doc: optString(eo['doc'], `${w}.entries[${j}].doc`) };
    });
    if (entries.length === 0) throw new SpecError(w, 'an enum needs entries');
    uniqueNames(entries, `${w}.entries`);
    const flags = optBool(o['flags'], `${w}.flags`);
    if (flags && entries.length > 32) throw new SpecError(w, 'a flags enum has at most 32 entries');
    return { name: expectName(o['name'], `${w}.name`), doc: optString(o['doc'], `${w}.doc`), flags, entries };
  });
  uniqueNames(enums, `${fw}.enums`);

  const limitRef = (v: unknown, w: string): LimitRef => {
    if (typeof v === 'string') {
      const l = limits.find((x) => x.name === v);
      if (!l) throw new SpecError(w, `unknown limit '${v}'`);
      return { value: l.value, limit: l.name };
    }
    return { value: expectUint(v, w) };
  };

  const attrSets: AttrSet[] = expectList(f['attribute-sets'], `${fw}.attribute-sets`).map((r, i) => {
    const w = `${fw}.attribute-sets[${i}]`;
    const o = expectObj(r, w, ['name', 'doc', 'attributes']);
    const attributes = expectList(o['attributes'], `${w}.attributes`).map((a, j): AttrDef => {
      const aw = `${w}.attributes[${j}]`;
      const ao = expectObj(a, aw, ['name', 'type', 'doc', 'max-len', 'max', 'enum', 'nested']);
      const type = ao['type'];
      if (typeof type !== 'string' || !(ATTR_TYPES as readonly string[]).includes(type)) {
        throw new SpecError(`${aw}.type`, `expected one of ${ATTR_TYPES.join(', ')}`);
      }
      const t = type as AttrType;
      const def: AttrDef = { name: expectName(ao['name'], `${aw}.name`), type: t, doc: optString(ao['doc'], `${aw}.doc`) };
      if (ao['max-len'] !== undefined) {
        if (t !== 'string' && t !== 'binary') throw new SpecError(aw, 'max-len applies to string and binary only');
        def.maxLen = limitRef(ao['max-len'], `${aw}.max-len`);
        if (t === 'string' && def.maxLen.value < 1) throw new SpecError(aw, 'a string max-len counts the NUL, so it is at least 1');
      }
      if (ao['max'] !== undefined) {
        if (!INT_TYPES.includes(t)) throw new SpecError(aw, 'max applies to integer types only');
        def.max = limitRef(ao['max'], `${aw}.max`);
      }
      if (ao['enum'] !== undefined) {
        if (!INT_TYPES.includes(t)) throw new SpecError(aw, 'enum applies to integer types only');
        if (def.max) throw new SpecError(aw, 'use either max or enum');
        const en = expectName(ao['enum'], `${aw}.enum`);
        if (!enums.some((e) => e.name === en)) throw new SpecError(aw, `unknown enum '${en}'`);
        def.enumName = en;
      }
      if (ao['nested'] !== undefined) {
        if (t !== 'nest') throw new SpecError(aw, 'nested applies to nest only');
        def.nested = expectName(ao['nested'], `${aw}.nested`);
      }
      return def;
    });
    uniqueNames(attributes, `${w}.attributes`);
    return { name: expectName(o['name'], `${w}.name`), doc: optString(o['doc'], `${w}.doc`), attributes };
  });
  uniqueNames(attrSets, `${fw}.attribute-sets`);

  const ops: OpDef[] = expectList(f['operations'], `${fw}.operations`).map((r, i) => {
    const w = `${fw}.operations[${i}]`;
    const o = expectObj(r, w, ['name', 'doc', 'admin', 'dump', 'attributes', 'required']);
    const op: OpDef = {
      name: expectName(o['name'], `${w}.name`),
      doc: optString(o['doc'], `${w}.doc`),
      admin: optBool(o['admin'], `${w}.admin`),
      dump: optBool(o['dump'], `${w}.dump`),
    };
    const names = (k: 'attributes' | 'required'): string[] | undefined => {
      if (o[k] === undefined) return undefined;
      const list = expectList(o[k], `${w}.${k}`).map((a, j) => expectName(a, `${w}.${k}[${j}]`));
      const set = attrSets[0];
      for (const a of list) {
        const def = set?.attributes.find((x) => x.name === a);
        if (!def) throw new SpecError(`${w}.${k}`, `unknown attribute '${a}'`);
        if (def.type === 'nest' || def.type === 'pad') throw new SpecError(`${w}.${k}`, `attribute '${a}' is a ${def.type}: not supported in a generated message codec`);
      }
      if (new Set(list).size !== list.length) throw new SpecError(`${w}.${k}`, 'an attribute is listed twice');
      return list;
    };
    const attributes = names('attributes');
    const required = names('required');
    if (required && (!attributes || required.some((a) => !attributes.includes(a)))) throw new SpecError(`${w}.required`, 'every required attribute must be in attributes');
    if (attributes) op.attributes = attributes;
    if (required) op.required = required;
    return op;
  });
  uniqueNames(ops, `${fw}.operations`);
  if (ops.length > 255) throw new SpecError(fw, 'genl commands are u8');

  return {
    name,
    cPrefix,
    version: expectUint(f['version'], `${fw}.version`, 255),
    doc: optString(f['doc'], `${fw}.doc`),
    limits,
    enums,
    attrSets,
    ops,
  };
}

export function parseSpec(text: string): Family[] {
  const doc = expectObj(parseYaml(text), 'top level', ['families']);
  const families = expectList(doc['families'], 'families').map((f, i) => parseFamily(f, `families[${i}]`));
  if (families.length === 0) throw new SpecError('families', 'no family');
  uniqueNames(families, 'families');
  return families;
}

// ---------------------------------------------------------------------------
// Naming

const words = (name: string): string[] => name.split(/[-_]/).filter((w) => w.length > 0);
const upperSnake = (name: string): string => words(name).join('_').toUpperCase();
const lowerSnake = (name: string): string => words(name).join('_').toLowerCase();
const camel = (name: string): string =>
  words(name)
    .map((w, i) => (i === 0 ? w.toLowerCase() : w[0]!.toUpperCase() + w.slice(1).toLowerCase()))
    .join('');
const pascal = (name: string): string => {
  const c = camel(name);
  return c[0]!.toUpperCase() + c.slice(1);
};

/** C names of one family. */
function cNames(f: Family) {
  const p = f.cPrefix;
  const attrPrefix = (set: AttrSet): string => (set.name === 'attr' ? `${p}_A` : `${p}_${upperSnake(set.name)}_A`);
  return {
    familyName: `${p}_FAMILY_NAME`,
    familyVersion: `${p}_FAMILY_VERSION`,
    limit: (l: Limit | string): string => `${p}_${upperSnake(typeof l === 'string' ? l : l.name)}`,
    enumTag: (e: EnumDef): string => `${lowerSnake(p)}_${lowerSnake(e.name)}`,
    enumEntry: (e: EnumDef, x: EnumEntry): string => `${p}_${upperSnake(e.name)}_${upperSnake(x.name)}`,
    enumMax: (e: EnumDef): string => `${p}_${upperSnake(e.name)}_MAX`,
    enumAll: (e: EnumDef): string => `${p}_${upperSnake(e.name)}_ALL`,
    attrPrefix,
    attr: (set: AttrSet, a: AttrDef): string => `${attrPrefix(set)}_${upperSnake(a.name)}`,
    attrMax: (set: AttrSet): string => `${attrPrefix(set)}_MAX`,
    cmd: (o: OpDef | string): string => `${p}_CMD_${upperSnake(typeof o === 'string' ? o : o.name)}`,
    cmdMax: `${p}_CMD_MAX`,
    policy: (set: AttrSet): string =>
      set.name === 'attr' ? `${lowerSnake(p)}_nl_policy` : `${lowerSnake(p)}_${lowerSnake(set.name)}_nl_policy`,
    /** One range per limit or enum it is taken from, else per attribute. */
    range: (set: AttrSet, a: AttrDef): string => {
      if (a.enumName) return `${lowerSnake(p)}_${lowerSnake(a.enumName)}_range`;
      if (a.max?.limit) return `${lowerSnake(p)}_${lowerSnake(a.max.limit)}_range`;
      return set.name === 'attr'
        ? `${lowerSnake(p)}_${lowerSnake(a.name)}_range`
        : `${lowerSnake(p)}_${lowerSnake(set.name)}_${lowerSnake(a.name)}_range`;
    },
  };
}

/** Fails when two generated C identifiers would collide. */
function checkCollisions(families: readonly Family[]): void {
  const seen = new Map<string, string>();
  const add = (id: string, what: string): void => {
    const prev = seen.get(id);
    if (prev !== undefined) throw new SpecError('names', `C identifier ${id} comes from both ${prev} and ${what}`);
    seen.set(id, what);
  };
  for (const f of families) {
    const n = cNames(f);
    add(n.familyName, `${f.name} family name`);
    add(n.familyVersion, `${f.name} family version`);
    for (const l of f.limits) add(n.limit(l), `${f.name} limit ${l.name}`);
    for (const e of f.enums) {
      for (const x of e.entries) add(n.enumEntry(e, x), `${f.name} enum ${e.name} entry ${x.name}`);
      add(e.flags ? n.enumAll(e) : n.enumMax(e), `${f.name} enum ${e.name} bound`);
      if (!e.flags) add(`__${n.enumMax(e)}`, `${f.name} enum ${e.name} bound`);
    }
    for (const s of f.attrSets) {
      add(`${n.attrPrefix(s)}_UNSPEC`, `${f.name} set ${s.name}`);
      for (const a of s.attributes) add(n.attr(s, a), `${f.name} attribute ${a.name}`);
      add(n.attrMax(s), `${f.name} set ${s.name} bound`);
      add(`__${n.attrMax(s)}`, `${f.name} set ${s.name} bound`);
    }
    add(n.cmd('unspec'), `${f.name} commands`);
    for (const o of f.ops) add(n.cmd(o), `${f.name} operation ${o.name}`);
    add(n.cmdMax, `${f.name} commands bound`);
    add(`__${n.cmdMax}`, `${f.name} commands bound`);
  }
  // TypeScript keys inside one family object
  for (const f of families) {
    const keys = new Set(['familyName', 'version', 'limits', 'cmd']);
    for (const s of f.attrSets) {
      for (const k of [camel(s.name), `${camel(s.name)}Spec`]) {
        if (keys.has(k)) throw new SpecError('names', `TS key ${f.cPrefix}.${k} is used twice`);
        keys.add(k);
      }
    }
    for (const e of f.enums) {
      const ks = [camel(e.name), `${camel(e.name)}Names`, `${camel(e.name)}Keys`];
      if (e.flags) ks.push(`${camel(e.name)}All`);
      for (const k of ks) {
        if (keys.has(k)) throw new SpecError('names', `TS key ${f.cPrefix}.${k} is used twice`);
        keys.add(k);
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Text helpers

/** Wraps prose into lines of at most `width` characters. */
function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  let line = '';
  for (const w of text.split(/\s+/).filter((x) => x.length > 0)) {
    if (line.length > 0 && line.length + 1 + w.length > width) {
      out.push(line);
      line = w;
    } else {
      line = line.length > 0 ? `${line} ${w}` : w;
    }
  }
  if (line.length > 0) out.push(line);
  return out;
}

const cSafe = (s: string): string => s.replace(/\*\//g, '* /');

/** A C comment at `indent` tabs: one line when it fits in 80 columns. */
function cComment(text: string, indent: number): string[] {
  const tabs = '\t'.repeat(indent);
  const safe = cSafe(text);
  if (indent * 8 + safe.length + 6 <= 80 && !safe.includes('\n')) return [`${tabs}/* ${safe} */`];
  return [`${tabs}/*`, ...wrap(safe, 80 - indent * 8 - 3).map((l) => `${tabs} * ${l}`), `${tabs} */`];
}

/** Display width of a line with tabs expanded to 8 columns. */
function columns(s: string): number {
  let col = 0;
  for (const ch of s) col = ch === '\t' ? (Math.floor(col / 8) + 1) * 8 : col + 1;
  return col;
}

/** `head` followed by tabs up to column `target` (a multiple of 8). */
function tabTo(head: string, target: number): string {
  let s = head;
  do s += '\t';
  while (columns(s) < target);
  return s;
}

/** Column (multiple of 8) just past the widest of `heads`. */
function alignColumn(heads: readonly string[]): number {
  return Math.max(...heads.map((h) => (Math.floor(columns(h) / 8) + 1) * 8));
}

function genHeader(style: 'c' | 'ts', spdx: string | undefined, source: string, about: string): string {
  const gen = [`Generated from ${source} ${GENERATED_MARKER} (scripts/gen.ts).`, 'Do not edit: change the source and regenerate.'];
  if (style === 'ts') return [...gen, '', ...wrap(about, 76)].map((l) => (l ? `// ${l}` : '//')).join('\n') + '\n';
  const lines = spdx ? [spdx] : [];
  lines.push('/*', ...gen.map((l) => ` * ${l}`), ' *', ...wrap(about, 74).map((l) => ` * ${l}`), ' */');
  return lines.join('\n') + '\n';
}

// ---------------------------------------------------------------------------
// uapi header

function attrTypeNote(f: Family, a: AttrDef): string {
  const n = cNames(f);
  const ref = (r: LimitRef): string => (r.limit ? n.limit(r.limit) : String(r.value));
  const parts: string[] = [a.type];
  if (a.maxLen) parts.push(a.type === 'string' ? `max ${ref(a.maxLen)} bytes with NUL` : `max ${ref(a.maxLen)} bytes`);
  if (a.max) parts.push(`max ${ref(a.max)}`);
  if (a.enumName) {
    const e = f.enums.find((x) => x.name === a.enumName)!;
    parts.push(`enum ${n.enumTag(e)}`);
  }
  if (a.nested) parts.push(`of ${a.nested}`);
  return parts.join(', ');
}

function renderUapi(families: readonly Family[]): string {
  const out: string[] = [];
  out.push(
    genHeader(
      'c',
      '/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */',
      SPEC_PATH,
      'Generic netlink families of koffload: names, versions, limits, enums, attributes and commands. Numbering is ABI: append only.',
    ).trimEnd(),
  );
  out.push('#ifndef _UAPI_LINUX_KOFFLOAD_H', '#define _UAPI_LINUX_KOFFLOAD_H');

  for (const f of families) {
    const n = cNames(f);
    out.push('');
    out.push(...cComment(`Family ${f.name}${f.doc ? `: ${f.doc}` : ''}`, 0));
    const defs: [string, string, string | undefined][] = [
      [n.familyName, JSON.stringify(f.name), undefined],
      [n.familyVersion, String(f.version), undefined],
    ];
    for (const l of f.limits) defs.push([n.limit(l), String(l.value), l.doc]);
    const col = alignColumn(defs.map(([k]) => `#define ${k}`));
    for (const [k, v, doc] of defs) {
      if (doc) out.push(...cComment(doc, 0));
      out.push(`${tabTo(`#define ${k}`, col)}${v}`);
    }

    for (const e of f.enums) {
      out.push('');
      const tag = n.enumTag(e);
      out.push('/**');
      wrap(`enum ${tag} - ${cSafe(e.doc ?? e.name)}`, 77).forEach((l) => out.push(` * ${l}`));
      for (const x of e.entries) {
        const text = `@${n.enumEntry(e, x)}: ${cSafe(x.doc ?? x.name.replace(/-/g, ' '))}`;
        wrap(text, 76).forEach((l, i) => out.push(i === 0 ? ` * ${l}` : ` *\t${l}`));
      }
      if (!e.flags) {
        out.push(` * @__${n.enumMax(e)}: one past the last value`);
        out.push(` * @${n.enumMax(e)}: the highest value`);
      }
      out.push(' */');
      out.push(`enum ${tag} {`);
      e.entries.forEach((x, i) => {
        out.push(e.flags ? `\t${n.enumEntry(e, x)} = ${2 ** i},` : `\t${n.enumEntry(e, x)},`);
      });
      if (!e.flags) {
        out.push('');
        out.push(`\t__${n.enumMax(e)},`);
        out.push(`\t${n.enumMax(e)} = (__${n.enumMax(e)} - 1)`);
      }
      out.push('};');
      if (e.flags) {
        const all = 2 ** e.entries.length - 1;
        out.push('');
        out.push(`#define ${n.enumAll(e)}\t0x${all.toString(16)}`);
      }
    }

    for (const s of f.attrSets) {
      out.push('');
      out.push(...cComment(`Attributes of ${f.name} (set ${s.name})${s.doc ? `: ${s.doc}` : ''}`, 0));
      out.push('enum {');
      out.push(`\t${n.attrPrefix(s)}_UNSPEC,`);
      const col = alignColumn(s.attributes.map((a) => `\t${n.attr(s, a)},`));
      for (const a of s.attributes) {
        if (a.doc) out.push(...cComment(a.doc, 1));
        out.push(`${tabTo(`\t${n.attr(s, a)},`, col)}/* ${cSafe(attrTypeNote(f, a))} */`);
      }
      out.push('');
      out.push(`\t__${n.attrMax(s)},`);
      out.push(`\t${n.attrMax(s)} = (__${n.attrMax(s)} - 1)`);
      out.push('};');
    }

    out.push('');
    out.push(...cComment(`Commands of ${f.name}`, 0));
    out.push('enum {');
    out.push(`\t${n.cmd('unspec')},`);
    for (const o of f.ops) {
      const notes = [o.admin ? 'needs CAP_NET_ADMIN' : '', o.dump ? 'dumpable' : ''].filter((x) => x).join(', ');
      const doc = [o.doc ?? '', notes ? `[${notes}]` : ''].filter((x) => x).join(' ');
      if (doc) out.push(...cComment(doc, 1));
      out.push(`\t${n.cmd(o)},`);
    }
    out.push('');
    out.push(`\t__${n.cmdMax},`);
    out.push(`\t${n.cmdMax} = (__${n.cmdMax} - 1)`);
    out.push('};');
  }
  out.push('', '#endif /* _UAPI_LINUX_KOFFLOAD_H */', '');
  return out.join('\n');
}

// ---------------------------------------------------------------------------
// nla_policy tables

function policyEntry(f: Family, s: AttrSet, a: AttrDef): string {
  const n = cNames(f);
  const ref = (r: LimitRef): string => (r.limit ? n.limit(r.limit) : String(r.value));
  const nlaInt = `NLA_${a.type.toUpperCase()}`;
  switch (a.type) {
    case 'string':
      return a.maxLen ? `{ .type = NLA_NUL_STRING, .len = ${ref(a.maxLen)} - 1 }` : '{ .type = NLA_NUL_STRING }';
    case 'binary':
      return a.maxLen ? `{ .type = NLA_BINARY, .len = ${ref(a.maxLen)} }` : '{ .type = NLA_BINARY }';
    case 'nest':
      return '{ .type = NLA_NESTED }';
    default: {
      const e = a.enumName ? f.enums.find((x) => x.name === a.enumName) : undefined;
      if (e?.flags) return `NLA_POLICY_MASK(${nlaInt}, ${n.enumAll(e)})`;
      if (e || a.max) return `NLA_POLICY_FULL_RANGE(${nlaInt}, &${n.range(s, a)})`;
      return `{ .type = ${nlaInt} }`;
    }
  }
}

/**
 * One header per family with its policy tables as statics, included by the
 * one .c file that registers the family: koffload.ko and koffload_test.ko
 * each carry only their own tables, and nothing needs exporting.
 */
function renderPolicyH(f: Family, guard: string, uapiInclude: string): string {
  const out: string[] = [];
  out.push(
    genHeader(
      'c',
      '/* SPDX-License-Identifier: GPL-2.0-only */',
      SPEC_PATH,
      `Attribute policies of the ${f.name} genl family, for kernel 6.1 and later. Include from one .c file only. Ranges use NLA_POLICY_FULL_RANGE throughout: the inline .min/.max of struct nla_policy are s16 in 6.1 and too small for some limits. The range structs are not const because 6.1 points at them through a non-const pointer.`,
    ).trimEnd(),
  );
  out.push(`#ifndef ${guard}`, `#define ${guard}`, '', '#include <net/netlink.h>', '', `#include "${uapiInclude}"`);
  const n = cNames(f);
  for (const s of f.attrSets) {
    out.push('');
    const ranges = new Set<string>();
    for (const a of s.attributes) {
      const e = a.enumName ? f.enums.find((x) => x.name === a.enumName) : undefined;
      if (e?.flags || (!e && !a.max) || ranges.has(n.range(s, a))) continue;
      ranges.add(n.range(s, a));
      const max = e ? n.enumMax(e) : a.max!.limit ? n.limit(a.max!.limit) : String(a.max!.value);
      out.push(`static struct netlink_range_validation ${n.range(s, a)} = {`, `\t.min\t= 0,`, `\t.max\t= ${max},`, '};', '');
    }
    out.push(`static const struct nla_policy ${n.policy(s)}[${n.attrMax(s)} + 1] = {`);
    const col = alignColumn(s.attributes.filter((a) => a.type !== 'pad').map((a) => `\t[${n.attr(s, a)}]`));
    for (const a of s.attributes) {
      // no entry for pad: NLA_UNSPEC, which strict validation rejects from userspace
      if (a.type === 'pad') continue;
      const head = tabTo(`\t[${n.attr(s, a)}]`, col);
      const line = `${head}= ${policyEntry(f, s, a)},`;
      if (columns(line) <= 100) out.push(line);
      else out.push(`${head}=`, `\t\t${policyEntry(f, s, a)},`);
    }
    out.push('};');
  }
  out.push('', `#endif /* ${guard} */`, '');
  return out.join('\n');
}

// ---------------------------------------------------------------------------
// TypeScript constants

const tsDoc = (doc: string | undefined, indent: string): string[] => {
  if (!doc) return [];
  const safe = doc.replace(/\*\//g, '* /');
  const lines = wrap(safe, 76 - indent.length);
  if (lines.length === 1) return [`${indent}/** ${lines[0]} */`];
  return [`${indent}/**`, ...lines.map((l) => `${indent} * ${l}`), `${indent} */`];
};

const tsStr = (s: string): string => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

function renderWireTs(families: readonly Family[]): string {
  const out: string[] = [];
  out.push(
    genHeader(
      'ts',
      undefined,
      SPEC_PATH,
      'Wire constants of the koffload genl families. Keys are the spec names camel-cased; `<enum>Names` hold the spec names indexed by value, `<enum>Keys` the keys. Attribute specs drive the codec in src/netlink/codec.ts.',
    ).trimEnd(),
  );
  const typeLines: string[] = [];
  families.forEach((f, fi) => {
    const tp = fi === 0 ? '' : pascal(f.name);
    out.push('');
    out.push(...tsDoc(f.doc, ''));
    out.push(`export const ${f.cPrefix} = {`);
    out.push(`  familyName: ${tsStr(f.name)},`);
    out.push(`  version: ${f.version},`);
    out.push('  limits: {');
    for (const l of f.limits) {
      out.push(...tsDoc(l.doc, '    '));
      out.push(`    ${camel(l.name)}: ${l.value},`);
    }
    out.push('  },');
    out.push('  cmd: {');
    f.ops.forEach((o, i) => {
      out.push(...tsDoc(o.doc, '    '));
      out.push(`    ${camel(o.name)}: ${i + 1},`);
    });
    out.push('  },');
    for (const s of f.attrSets) {
      out.push(`  ${camel(s.name)}: {`);
      s.attributes.forEach((a, i) => {
        out.push(...tsDoc(a.doc, '    '));
        out.push(`    ${camel(a.name)}: ${i + 1},`);
      });
      out.push('  },');
      out.push(`  ${camel(s.name)}Spec: {`);
      s.attributes.forEach((a, i) => {
        const parts = [`id: ${i + 1}`, `type: ${tsStr(a.type)}`];
        if (a.maxLen) parts.push(`maxLen: ${a.maxLen.value}`);
        const e = a.enumName ? f.enums.find((x) => x.name === a.enumName) : undefined;
        if (e) parts.push(`enum: ${tsStr(camel(e.name))}`);
        if (e?.flags) parts.push(`mask: ${2 ** e.entries.length - 1}`);
        else if (e) parts.push(`max: ${e.entries.length - 1}`);
        if (a.max) parts.push(`max: ${a.max.value}`);
        if (a.nested) parts.push(`nested: ${tsStr(a.nested)}`);
        out.push(`    ${camel(a.name)}: { ${parts.join(', ')} },`);
      });
      out.push('  },');
    }
    for (const e of f.enums) {
      const k = camel(e.name);
      out.push(...tsDoc(e.doc, '  '));
      out.push(`  ${k}: {`);
      e.entries.forEach((x, i) => {
        out.push(...tsDoc(x.doc, '    '));
        out.push(`    ${camel(x.name)}: ${e.flags ? 2 ** i : i},`);
      });
      out.push('  },');
      const list = (xs: string[]): string => {
        const one = `  ${k}X: [${xs.join(', ')}],`;
        if (one.length <= 100) return one;
        return `  ${k}X: [\n${xs.map((x) => `    ${x},`).join('\n')}\n  ],`;
      };
      out.push(list(e.entries.map((x) => tsStr(x.name))).replace(`${k}X`, `${k}Names`));
      out.push(list(e.entries.map((x) => tsStr(camel(x.name)))).replace(`${k}X`, `${k}Keys`));
      if (e.flags) out.push(`  ${k}All: ${2 ** e.entries.length - 1},`);
      typeLines.push(`export type ${tp}${pascal(e.name)} = keyof typeof ${f.cPrefix}.${k};`);
      typeLines.push(`export type ${tp}${pascal(e.name)}Name = (typeof ${f.cPrefix}.${k}Names)[number];`);
    }
    out.push('} as const;');
    typeLines.push(`export type ${tp}Cmd = keyof typeof ${f.cPrefix}.cmd;`);
    for (const s of f.attrSets) typeLines.push(`export type ${tp}${pascal(s.name)} = keyof typeof ${f.cPrefix}.${camel(s.name)};`);
    typeLines.push(`export type ${tp}Limit = keyof typeof ${f.cPrefix}.limits;`);
  });
  out.push('', ...typeLines, '');
  return out.join('\n');
}

// ---------------------------------------------------------------------------
// Per-message envelope codecs

/**
 * For each operation that lists its attributes: a decoder that walks one
 * message's attribute area once with a switch on the type (no spec table,
 * no object per attribute; binaries come back as offset and length into the
 * buffer, so nothing is copied that the caller does not keep) and an
 * encoder that writes the attributes straight into a buffer. Both follow
 * the validation rules of src/netlink/codec.ts's decodeAttrs/encodeAttrs,
 * but a flags enum's unknown bits are left to the caller (a newer module's
 * flags are ignored, not rejected).
 */
function renderWireCodecTs(families: readonly Family[]): string {
  const out: string[] = [];
  out.push(
    genHeader(
      'ts',
      undefined,
      SPEC_PATH,
      "Per-message codecs of the operations whose attributes the spec lists: decode<Op>() walks one message's attribute area once (binaries as offset and length into the buffer) and encode<Op>() writes them into a buffer, with the validation rules of src/netlink/codec.ts. The fast path of src/kernel/client.ts uses them.",
    ).trimEnd(),
  );
  out.push('', "import { WireError, KoffloadError } from '../errors.js';", "import { checkAttr, rd16, rd32, rd64, wr16, wr32, wr64 } from '../netlink/codec.js';", `import { ${families.filter((f) => f.ops.some((o) => o.attributes)).map((f) => f.cPrefix).join(', ')} } from './wire.js';`);
  out.push(
    '',
    'const bad = (what: string): WireError => new WireError(what);',
    "const invalid = (name: string, why: string): KoffloadError => new KoffloadError('KOFFLOAD_ERR_INVALID_ARG', `${name}: ${why}`);",
  );
  const INT_BYTES: Partial<Record<AttrType, number>> = { u8: 1, u16: 2, u32: 4, u64: 8 };
  for (const f of families) {
    const set = f.attrSets[0]!;
    const idOf = (a: AttrDef): number => set.attributes.indexOf(a) + 1;
    const limitOf = (a: AttrDef): { max?: number; mask?: number } => {
      const e = a.enumName ? f.enums.find((x) => x.name === a.enumName) : undefined;
      if (e?.flags) return { mask: 2 ** e.entries.length - 1 };
      if (e) return { max: e.entries.length - 1 };
      return a.max ? { max: a.max.value } : {};
    };
    const pad = set.attributes.find((a) => a.type === 'pad');
    for (const op of f.ops) {
      if (!op.attributes) continue;
      const P = `${f.name === families[0]!.name ? '' : pascal(f.name)}${pascal(op.name)}`;
      const attrs = op.attributes.map((n) => set.attributes.find((a) => a.name === n)!);
      const req = new Set(op.required ?? []);
      const otherList = set.attributes.filter((a) => a.type !== 'pad' && !attrs.includes(a));
      if (otherList.length > 0) {
        out.push('', `/** Names of the ${f.name} attributes a ${op.name.toUpperCase()} does not carry, by id (validated when present). */`);
        out.push(`const OTHER_${P}: Record<number, string> = { ${otherList.map((a) => `${idOf(a)}: ${tsStr(camel(a.name))}`).join(', ')} };`);
      }
      // decoded shape
      out.push('', `/** The attributes of one ${f.name} ${op.name.toUpperCase()} message (binaries: offset and length into the decoded buffer; -1 when absent). */`);
      out.push(`export interface ${P}Attrs {`);
      for (const a of attrs) {
        const k = camel(a.name);
        const opt = req.has(a.name) ? '' : ' | undefined';
        if (a.type === 'binary') out.push(`  ${k}Off: number;`, `  ${k}Len: number;`);
        else if (a.type === 'string') out.push(`  ${k}: string${opt};`);
        else out.push(`  ${k}: ${a.type === 'u64' ? 'bigint' : 'number'}${opt};`);
      }
      out.push('}');
      // decoder
      out.push(
        '',
        `/**`,
        ` * Decodes the attribute area b[off, end) of a ${op.name.toUpperCase()}: strict sizes, ranges and`,
        ` * lengths; a repeated attribute, type 0 or stray flag bits are malformed${req.size ? ', and so is a missing' : ''}`,
        ...(req.size ? [` * ${[...req].join(', ')}`] : []),
        ` * (WireError); unknown types and pads are skipped.`,
        ` */`,
        `export function decode${P}(b: Buffer, off: number, end: number): ${P}Attrs {`,
      );
      const othersAll = set.attributes.filter((a) => a.type !== 'pad' && !attrs.includes(a));
      if (othersAll.some((a) => idOf(a) > 31)) throw new Error(`${SPEC_PATH}: ${f.name} attribute ids above 31 need a wider seen-mask in the generated codec`);
      if (othersAll.length > 0) out.push('  let seen = 0;');
      for (const a of attrs) {
        const k = camel(a.name);
        if (a.type === 'binary') out.push(`  let ${k}Off = -1;`, `  let ${k}Len = 0;`);
        else out.push(`  let ${k}: ${a.type === 'u64' ? 'bigint' : a.type === 'string' ? 'string' : 'number'} | undefined;`);
      }
      out.push(
        '  while (off < end) {',
        "    if (end - off < 4) throw bad(`${end - off} trailing bytes after the attributes at offset ${off}`);",
        '    const len = rd16(b, off);',
        '    const raw = rd16(b, off + 2);',
        '    const type = raw & 0x3fff;',
        '    if (len < 4) throw bad(`nla_len ${len} of attribute ${type} at offset ${off} is shorter than its header`);',
        '    if (len > end - off) throw bad(`nla_len ${len} of attribute ${type} at offset ${off} exceeds the ${end - off} bytes left`);',
        '    const d = off + 4;',
        '    const n = len - 4;',
        '    switch (type) {',
        "      case 0:\n        throw bad('attribute type 0 (UNSPEC)');",
      );
      for (const a of attrs) {
        const k = camel(a.name);
        const id = idOf(a);
        const what = `attribute ${k} (${id})`;
        out.push(`      case ${id}:`);
        out.push(`        if ((raw & 0xc000) !== 0) throw bad('${what} has NLA_F_NESTED or NLA_F_NET_BYTEORDER');`);
        if (a.type === 'binary') {
          out.push(`        if (${k}Off >= 0) throw bad('${what} appears twice');`);
          if (a.maxLen) out.push(`        if (n > ${a.maxLen.value}) throw bad(\`${what} is \${n} bytes, above ${a.maxLen.value}\`);`);
          out.push(`        ${k}Off = d;`, `        ${k}Len = n;`);
        } else if (a.type === 'string') {
          out.push(`        if (${k} !== undefined) throw bad('${what} appears twice');`);
          out.push(`        if (n === 0 || b[d + n - 1] !== 0) throw bad('${what} is not NUL-terminated');`);
          if (a.maxLen) out.push(`        if (n > ${a.maxLen.value}) throw bad(\`${what} is \${n} bytes with its NUL, above ${a.maxLen.value}\`);`);
          out.push(`        if (b.indexOf(0, d) !== d + n - 1) throw bad('${what} has a NUL inside');`);
          out.push(`        ${k} = utf8(b, d, d + n - 1, '${what}');`);
        } else {
          const size = INT_BYTES[a.type]!;
          const rd = size === 1 ? 'b[d]!' : size === 2 ? 'rd16(b, d)' : size === 4 ? 'rd32(b, d)' : 'rd64(b, d)';
          out.push(`        if (${k} !== undefined) throw bad('${what} appears twice');`);
          out.push(`        if (n !== ${size}) throw bad(\`${what} is \${n} bytes, a ${a.type} is ${size}\`);`);
          out.push(`        ${k} = ${rd};`);
          const lim = limitOf(a);
          if (lim.max !== undefined) out.push(`        if (${k} > ${lim.max}${a.type === 'u64' ? 'n' : ''}) throw bad(\`${what} is \${${k}}, above its max ${lim.max}\`);`);
        }
        out.push('        break;');
      }
      if (pad) out.push(`      case ${idOf(pad)}:`, '        break; // pad');
      // the family's other attributes are validated as decodeAttrs would, and refused when repeated
      const others = set.attributes.filter((a) => a.type !== 'pad' && !attrs.includes(a));
      if (others.length > 0) {
        out.push(`      case ${others.map(idOf).join(':\n      case ')}:`);
        out.push(`        if ((seen & (1 << type)) !== 0) throw bad(\`attribute \${type} appears twice\`);`);
        out.push(`        seen |= 1 << type;`);
        out.push(`        checkAttr(OTHER_${P}[type]!, ${f.cPrefix}.${camel(set.name)}Spec[OTHER_${P}[type]! as keyof typeof ${f.cPrefix}.${camel(set.name)}Spec], b, d, n, raw);`);
        out.push('        break;');
      }
      out.push('      default:', '        break; // a type this build does not know (a newer module): skipped', '    }', '    off += (len + 3) & ~3;', '  }');
      for (const r of req) {
        const a = attrs.find((x) => x.name === r)!;
        const k = camel(a.name);
        out.push(`  if (${a.type === 'binary' ? `${k}Off < 0` : `${k} === undefined`}) throw bad('missing attribute ${a.name}');`);
      }
      out.push(`  return { ${attrs.map((a) => (a.type === 'binary' ? `${camel(a.name)}Off, ${camel(a.name)}Len` : camel(a.name))).join(', ')} };`, '}');
      // encoder
      out.push('', `/** What encode${P}() writes (binaries as bytes; undefined attributes are left out). */`, `export interface ${P}Values {`);
      for (const a of attrs) {
        const k = camel(a.name);
        const opt = req.has(a.name) ? '' : '?';
        const t = a.type === 'binary' ? 'Uint8Array' : a.type === 'string' ? 'string' : a.type === 'u64' ? 'bigint' : 'number';
        out.push(`  ${k}${opt}: ${t}${opt ? ' | undefined' : ''};`);
      }
      out.push('}');
      out.push(
        '',
        `/** Bytes encode${P}() writes for \`v\` at most (exact unless a string is multi-byte UTF-8). */`,
        `export function size${P}(v: ${P}Values): number {`,
        `  let n = 0;`,
      );
      // binaries are Uint8Arrays: .length is their byteLength, and V8
      // (Node 20) inlines the one and calls out for the other
      for (const a of attrs) {
        const k = camel(a.name);
        const sz = a.type === 'binary' ? `((4 + v.${k}.length + 3) & ~3)` : a.type === 'string' ? `((4 + 3 * v.${k}.length + 1 + 3) & ~3)` : `${(4 + INT_BYTES[a.type]! + 3) & ~3}`;
        out.push(req.has(a.name) ? `  n += ${sz};` : `  if (v.${k} !== undefined) n += ${sz};`);
      }
      out.push('  return n;', '}');
      out.push(
        '',
        `/**`,
        ` * Writes the attributes of a ${op.name.toUpperCase()} into b at off (room: size${P}(v));`,
        ` * returns the offset after them. KOFFLOAD_ERR_INVALID_ARG for a value`,
        ` * outside its type or range, before anything is written.`,
        ` */`,
        `export function encode${P}(b: Buffer, off: number, v: ${P}Values): number {`,
      );
      for (const a of attrs) {
        const k = camel(a.name);
        const guard = req.has(a.name) ? '' : `v.${k} !== undefined && `;
        if (a.type === 'binary') {
          out.push(`  if (${guard}!(v.${k} instanceof Uint8Array)) throw invalid('${k}', 'must be a Buffer or Uint8Array');`);
          if (a.maxLen) out.push(`  if (${guard}v.${k}.length > ${a.maxLen.value}) throw invalid('${k}', \`\${v.${k}.length} bytes, above ${a.maxLen.value}\`);`);
        } else if (a.type === 'string') {
          out.push(`  if (${guard}(typeof v.${k} !== 'string' || v.${k}.includes('\\0'))) throw invalid('${k}', 'must be a string without NUL');`);
          if (a.maxLen) out.push(`  if (${guard}Buffer.byteLength(v.${k}) + 1 > ${a.maxLen.value}) throw invalid('${k}', 'longer than ${a.maxLen.value - 1} bytes');`);
        } else if (a.type === 'u64') {
          out.push(`  if (${guard}(typeof v.${k} !== 'bigint' || v.${k} < 0n || v.${k} > 0xffffffffffffffffn)) throw invalid('${k}', \`must be a u64 bigint, got \${String(v.${k})}\`);`);
        } else {
          const lim = limitOf(a);
          const hi = lim.max ?? 2 ** (INT_BYTES[a.type]! * 8) - 1;
          out.push(`  if (${guard}(typeof v.${k} !== 'number' || !Number.isInteger(v.${k}) || v.${k} < 0 || v.${k} > ${hi})) throw invalid('${k}', \`must be an integer in 0..${hi}, got \${String(v.${k})}\`);`);
          if (lim.mask !== undefined) out.push(`  if (${guard}(v.${k} & ~${lim.mask}) !== 0) throw invalid('${k}', \`0x\${v.${k}.toString(16)} has bits outside 0x${lim.mask.toString(16)}\`);`);
        }
      }
      for (const a of attrs) {
        const k = camel(a.name);
        const id = idOf(a);
        const body: string[] = [];
        if (a.type === 'binary') {
          body.push(`const n = v.${k}.length;`, `wr16(b, 4 + n, off);`, `wr16(b, ${id}, off + 2);`, `b.set(v.${k}, off + 4);`, `b.fill(0, off + 4 + n, off + ((4 + n + 3) & ~3));`, `off += (4 + n + 3) & ~3;`);
        } else if (a.type === 'string') {
          body.push(`const n = b.write(v.${k}, off + 4, 'utf8') + 1;`, `b[off + 3 + n] = 0;`, `wr16(b, 4 + n, off);`, `wr16(b, ${id}, off + 2);`, `b.fill(0, off + 4 + n, off + ((4 + n + 3) & ~3));`, `off += (4 + n + 3) & ~3;`);
        } else {
          const size = INT_BYTES[a.type]!;
          const wr = size === 1 ? `b[off + 4] = v.${k};` : size === 2 ? `wr16(b, v.${k}, off + 4);` : size === 4 ? `wr32(b, v.${k}, off + 4);` : `wr64(b, v.${k}, off + 4);`;
          body.push(`wr16(b, ${4 + size}, off);`, `wr16(b, ${id}, off + 2);`, wr);
          if (size < 4) body.push(`b.fill(0, off + ${4 + size}, off + 8);`);
          body.push(`off += ${(4 + size + 3) & ~3};`);
        }
        if (req.has(a.name)) out.push(`  {`, ...body.map((l) => `    ${l}`), `  }`);
        else out.push(`  if (v.${k} !== undefined) {`, ...body.map((l) => `    ${l}`), `  }`);
      }
      out.push('  return off;', '}');
    }
  }
  if (out.some((l) => l.includes('utf8(b,'))) out.push(
    '',
    "const utf8Decoder = new TextDecoder('utf-8', { fatal: true });",
    '',
    'function utf8(b: Buffer, start: number, end: number, what: string): string {',
    '  try {',
    '    return utf8Decoder.decode(b.subarray(start, end));',
    '  } catch {',
    '    throw bad(`${what} is not valid UTF-8`);',
    '  }',
    '}',
  );
  out.push('');
  return out.join('\n');
}

// ---------------------------------------------------------------------------
// protobuf field numbers

/** EchoRequest -> ECHO_REQUEST, HTTPProxy -> HTTP_PROXY, data_len -> DATA_LEN. */
export function protoUpperSnake(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2')
    .replace(/[^A-Za-z0-9]+/g, '_')
    .toUpperCase();
}

function renderProto(relPath: string, source: string): string {
  let parsed: protobuf.IParserResult;
  try {
    parsed = protobuf.parse(source, { keepCase: true });
  } catch (err) {
    throw new Error(`${relPath}: ${(err as Error).message}`);
  }
  const pkg = parsed.package ?? '';
  const pkgParts = pkg ? pkg.split('.') : [];
  const pkgLast = protoUpperSnake(pkgParts[pkgParts.length - 1] ?? basename(relPath, '.proto'));
  const guard = `_KOFFLOAD_GENERATED_${protoUpperSnake(basename(relPath, '.proto'))}_PB_H`;

  const body: string[] = [];
  const defined = new Map<string, string>();
  const define = (name: string, value: number, note: string, what: string): [string, string, string] => {
    const prev = defined.get(name);
    if (prev !== undefined) throw new Error(`${relPath}: ${name} comes from both ${prev} and ${what}`);
    defined.set(name, what);
    return [name, String(value), note];
  };
  const emitGroup = (title: string, defs: [string, string, string][]): void => {
    if (defs.length === 0) return;
    body.push('', `/* ${cSafe(title)} */`);
    const col = alignColumn(defs.map(([k]) => `#define ${k}`));
    for (const [k, v, note] of defs) body.push(`${tabTo(`#define ${k}`, col)}${v}${note ? `\t/* ${cSafe(note)} */` : ''}`);
  };

  const visit = (obj: protobuf.ReflectionObject, path: string[]): void => {
    if (obj instanceof protobuf.Type) {
      const p = [...path, protoUpperSnake(obj.name)];
      const defs = obj.fieldsArray
        .filter((fl) => !fl.extend)
        .map((fl) => {
          const type =
            fl instanceof protobuf.MapField ? `map<${fl.keyType}, ${fl.type}>` : `${fl.repeated ? 'repeated ' : ''}${fl.type}`;
          return define(`${p.join('_')}_${protoUpperSnake(fl.name)}_FIELD`, fl.id, type, `${obj.fullName}.${fl.name}`);
        });
      emitGroup(`message ${obj.fullName.replace(/^\./, '')}`, defs);
      for (const nested of obj.nestedArray) visit(nested, p);
    } else if (obj instanceof protobuf.Enum) {
      const p = [...path, protoUpperSnake(obj.name)];
      const defs = Object.entries(obj.values).map(([k, v]) =>
        define(`${p.join('_')}_${protoUpperSnake(k)}`, v, '', `${obj.fullName}.${k}`),
      );
      emitGroup(`enum ${obj.fullName.replace(/^\./, '')}`, defs);
    } else if (obj instanceof protobuf.Namespace) {
      // package components: not part of the C names, PKGLAST stands for them
      for (const nested of obj.nestedArray) visit(nested, path);
    }
  };
  for (const nested of parsed.root.nestedArray) visit(nested, [pkgLast]);

  const out: string[] = [];
  out.push(
    genHeader(
      'c',
      '/* SPDX-License-Identifier: GPL-2.0-only */',
      relPath,
      `Field numbers (<PKG>_<MESSAGE>_<FIELD>_FIELD) and enum values (<PKG>_<ENUM>_<VALUE>) of ${pkg || basename(relPath)}, for the kernel's protobuf wire helper.`,
    ).trimEnd(),
  );
  out.push(`#ifndef ${guard}`, `#define ${guard}`, ...body, '', `#endif /* ${guard} */`, '');
  return out.join('\n');
}

// ---------------------------------------------------------------------------
// protobuf TypeScript types and codecs

const PB_NUMBER = new Set(['double', 'float', 'int32', 'uint32', 'sint32', 'fixed32', 'sfixed32']);
const PB_LONG = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);


const PB_WIRE: Record<string, number> = {
  int32: 0, uint32: 0, sint32: 0, int64: 0, uint64: 0, sint64: 0, bool: 0,
  fixed64: 1, sfixed64: 1, double: 1,
  string: 2, bytes: 2,
  fixed32: 5, sfixed32: 5, float: 5,
};
const PB_READ: Record<string, string> = {
  int32: 'r.int32()', uint32: 'r.u32()', sint32: 'r.sint32()', int64: 'r.int64()', uint64: 'r.uint64()', sint64: 'r.sint64()', bool: 'r.bool()',
  fixed64: 'r.fixed64()', sfixed64: 'r.sfixed64()', double: 'r.double()', string: 'r.string()', bytes: 'r.bytes()',
  fixed32: 'r.fixed32()', sfixed32: 'r.sfixed32()', float: 'r.float()',
};
const PB_PACKABLE = new Set(['int32', 'uint32', 'sint32', 'int64', 'uint64', 'sint64', 'bool', 'fixed64', 'sfixed64', 'double', 'fixed32', 'sfixed32', 'float']);

/** Whether a message gets a generated codec: no maps, no oneofs (proto3 optional included), nor any inside. */
function fastEligible(t: protobuf.Type, seen: Set<protobuf.Type>): boolean {
  if (seen.has(t)) return true;
  seen.add(t);
  if (t.oneofsArray.length > 0) return false;
  for (const f of t.fieldsArray) {
    if (f instanceof protobuf.MapField) return false;
    if (f.resolvedType instanceof protobuf.Type) {
      if (!fastEligible(f.resolvedType, seen)) return false;
    } else if (!(f.resolvedType instanceof protobuf.Enum) && PB_WIRE[f.type] === undefined) return false;
  }
  return true;
}

function varintLen(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

/**
 * decode_X(bytes) and encode_X(value) for every eligible message X:
 * the protobufjs reflection codec's results without its object passes
 * (toObject, fromObject, verify) and without Long: see src/runtime/pb.ts.
 */
function fastCodecs(types: protobuf.Type[], tsName: (o: protobuf.ReflectionObject) => string, relPath: string): { lines: string[]; names: { ts: string; full: string }[] } {
  const lines: string[] = [];
  const names: { ts: string; full: string }[] = [];
  for (const t of types) {
    if (!fastEligible(t, new Set())) continue;
    const n = tsName(t);
    const full = t.fullName.replace(/^\./, '');
    names.push({ ts: n, full });
    const T = `T_${n}`;
    const fields = t.fieldsArray;
    const kind = (f: protobuf.Field): 'msg' | 'enum' | 'scalar' => (f.resolvedType instanceof protobuf.Type ? 'msg' : f.resolvedType instanceof protobuf.Enum ? 'enum' : 'scalar');
    const ftype = (f: protobuf.Field): string => (kind(f) === 'enum' ? 'int32' : f.type);
    const wire = (f: protobuf.Field): number => (kind(f) === 'msg' ? 2 : PB_WIRE[ftype(f)]!);
    const packed = (f: protobuf.Field): boolean => f.repeated && kind(f) !== 'msg' && PB_PACKABLE.has(ftype(f)) && f.packed;
    const isLongT = (ty: string): boolean => PB_LONG.has(ty);
    const dflt = (f: protobuf.Field): string => {
      if (f.repeated) return '[]';
      if (kind(f) === 'enum') {
        const e = f.resolvedType as protobuf.Enum;
        const td = typeof f.typeDefault === 'number' ? f.typeDefault : (Object.values(e.values)[0] ?? 0);
        return String(td);
      }
      const ty = f.type;
      if (isLongT(ty)) {
        const d = f.typeDefault as unknown;
        const v = d && typeof d === 'object' && 'low' in (d as object) ? BigInt((d as { toString(): string }).toString()) : BigInt((d as number | undefined) ?? 0);
        return `${v}n`;
      }
      if (ty === 'bool') return String(Boolean(f.typeDefault));
      if (ty === 'string') return JSON.stringify(typeof f.typeDefault === 'string' ? f.typeDefault : '');
      if (ty === 'bytes') return 'Buffer.alloc(0)';
      return String(typeof f.typeDefault === 'number' ? f.typeDefault : 0);
    };
    const enumValues = (f: protobuf.Field): string => `E_${tsName(f.resolvedType!)}`;
    if (lines.length > 0) lines.push('');
    lines.push(`const ${T} = ${tsStr(full)};`);
    for (const f of fields) {
      if (kind(f) === 'enum' && !lines.includes(`const ${enumValues(f)} = ${JSON.stringify((f.resolvedType as protobuf.Enum).values)};`)) {
        lines.push(`const ${enumValues(f)} = ${JSON.stringify((f.resolvedType as protobuf.Enum).values)};`);
      }
    }
    // ---- reading
    lines.push('', `function read_${n}(r: pb.PbReader): ${n} {`);
    for (const f of fields) {
      const k = kind(f);
      const ty = k === 'msg' ? tsName(f.resolvedType!) : k === 'enum' ? 'number' : isLongT(f.type) ? 'bigint' : f.type === 'bool' ? 'boolean' : f.type === 'string' ? 'string' : f.type === 'bytes' ? 'Buffer' : 'number';
      if (f.repeated) lines.push(`  const f_${f.id}: ${ty}[] = [];`);
      else lines.push(`  let f_${f.id}: ${ty} | undefined;`);
    }
    lines.push('  while (r.pos < r.end) {', '    const t = r.u32();', '    const wt = t & 7;', '    switch (t >>> 3) {');
    for (const f of fields) {
      const k = kind(f);
      const read = k === 'msg' ? `read_${tsName(f.resolvedType!)}(r)` : PB_READ[ftype(f)]!;
      lines.push(`      case ${f.id}:`);
      if (k === 'msg') {
        lines.push(`        if (wt !== 2) throw pb.wrongWireType(${tsStr(f.name)}, wt);`, `        {`, `          const outer = r.enter();`, `          const v = ${read};`, `          r.pos = r.end;`, `          r.end = outer;`);
        lines.push(f.repeated ? `          f_${f.id}.push(v);` : `          f_${f.id} = v;`, `        }`);
      } else if (f.repeated && PB_PACKABLE.has(ftype(f))) {
        lines.push(
          `        if (wt === 2) {`,
          `          const outer = r.enter();`,
          `          while (r.pos < r.end) f_${f.id}.push(${read});`,
          `          r.end = outer;`,
          `        } else if (wt === ${wire(f)}) f_${f.id}.push(${read});`,
          `        else throw pb.wrongWireType(${tsStr(f.name)}, wt);`,
        );
      } else {
        lines.push(`        if (wt !== ${wire(f)}) throw pb.wrongWireType(${tsStr(f.name)}, wt);`);
        lines.push(f.repeated ? `        f_${f.id}.push(${read});` : `        f_${f.id} = ${read};`);
      }
      lines.push('        break;');
    }
    lines.push('      default:', '        r.skip(wt);', '    }', '  }');
    const hasMsg = fields.some((f) => kind(f) === 'msg' && !f.repeated);
    if (!hasMsg) {
      lines.push(`  return { ${fields.map((f) => `${f.name}: ${f.repeated ? `f_${f.id}` : `f_${f.id} ?? ${dflt(f)}`}`).join(', ')} };`);
    } else {
      lines.push(`  const o = {} as ${n};`);
      for (const f of fields) {
        if (kind(f) === 'msg' && !f.repeated) lines.push(`  if (f_${f.id} !== undefined) o.${f.name} = f_${f.id};`);
        else lines.push(`  o.${f.name} = ${f.repeated ? `f_${f.id}` : `f_${f.id} ?? ${dflt(f)}`};`);
      }
      lines.push('  return o;');
    }
    lines.push('}');
    lines.push(
      '',
      `function decode_${n}(bytes: Uint8Array): ${n} {`,
      '  const b = pb.asBuffer(bytes);',
      '  try {',
      `    return read_${n}(pb.reader.reset(b));`,
      '  } catch (err) {',
      `    throw pb.badPayload(${T}, err);`,
      '  }',
      '}',
    );
    // ---- size (and checks)
    const norm = (f: protobuf.Field, x: string, name: string): string => {
      const k = kind(f);
      if (k === 'enum') return `pb.enumOf(${T}, path, ${name}, ${x}, ${enumValues(f)})`;
      const ty = f.type;
      if (PB_LONG.has(ty)) return `pb.int64Of(${T}, path, ${name}, '${ty}', ${x})`;
      if (['int32', 'uint32', 'sint32', 'fixed32', 'sfixed32'].includes(ty)) return `pb.int32Of(${T}, path, ${name}, '${ty}', ${x})`;
      if (ty === 'bool') return `pb.boolOf(${T}, path, ${name}, ${x})`;
      if (ty === 'string') return `pb.stringOf(${T}, path, ${name}, ${x})`;
      if (ty === 'bytes') return `pb.bytesOf(${T}, path, ${name}, ${x})`;
      return `pb.numberOf(${T}, path, ${name}, ${x})`;
    };
    const valueSize = (f: protobuf.Field, y: string): string => {
      const ty = ftype(f);
      switch (ty) {
        case 'int32':
        case 'uint32':
          return `pb.varintSize(${y})`;
        case 'sint32':
          return `pb.varintSize(pb.zigzag32(${y}))`;
        case 'bool':
          return '1';
        case 'fixed32':
        case 'sfixed32':
        case 'float':
          return '4';
        case 'fixed64':
        case 'sfixed64':
        case 'double':
          return '8';
        case 'int64':
          return `pb.varint64Size(pb.u64of(${y}))`;
        case 'uint64':
          return `pb.varint64Size(${y})`;
        case 'sint64':
          return `pb.varint64Size(pb.zigzag64(${y}))`;
        case 'string':
          return `pb.stringSize(${y})`;
        case 'bytes':
          return `pb.varintSize(${y}.length) + ${y}.length`;
      }
      throw new Error(`${relPath}: no size for ${ty}`);
    };
    const writeValue = (f: protobuf.Field, y: string): string => {
      switch (ftype(f)) {
        case 'int32':
          return `w.int32(${y});`;
        case 'uint32':
          return `w.u32(${y});`;
        case 'sint32':
          return `w.u32(pb.zigzag32(${y}));`;
        case 'bool':
          return `w.u32(${y} ? 1 : 0);`;
        case 'fixed32':
          return `w.fixed32(${y});`;
        case 'sfixed32':
          return `w.sfixed32(${y});`;
        case 'float':
          return `w.float(${y});`;
        case 'fixed64':
        case 'sfixed64':
          return `w.fixed64(${y});`;
        case 'double':
          return `w.double(${y});`;
        case 'int64':
          return `w.u64(pb.u64of(${y}));`;
        case 'uint64':
          return `w.u64(${y});`;
        case 'sint64':
          return `w.u64(pb.zigzag64(${y}));`;
        case 'string':
          return `w.string(${y});`;
        case 'bytes':
          return `w.bytes(${y});`;
      }
      throw new Error(`${relPath}: no writer for ${f.type}`);
    };
    const sorted = [...fields].sort((a, b) => a.id - b.id);
    // a message with no fields still checks its value; it has nothing to write
    const none = sorted.length === 0;
    // the key check is a chain of comparisons in the message's own size_
    // function, with feedback of its own: a Set lookup shared by every
    // message type cost more than the whole check
    const unknown = none ? '' : `if (${sorted.map((f) => `k !== ${tsStr(f.name)}`).join(' && ')}) `;
    lines.push(
      '',
      `function size_${n}(v: unknown, path: string): number {`,
      `  const o = pb.asObject(${T}, v, path);`,
      `  for (const k in o) ${unknown}throw pb.unknownField(${T}, path, k);`,
      '  let n = 0;',
    );
    for (const f of sorted) {
      const k = kind(f);
      const nm = tsStr(f.name);
      const tag = varintLen((f.id << 3) | (packed(f) ? 2 : wire(f)));
      lines.push(`  {`, `    const x = o[${nm}];`, `    if (x !== undefined && x !== null) {`);
      if (f.repeated) {
        lines.push(`      const a = pb.arrayOf(${T}, path, ${nm}, x);`);
        if (k === 'msg') {
          lines.push(`      for (let i = 0; i < a.length; i++) {`, `        const s = size_${tsName(f.resolvedType!)}(a[i], \`\${path}${f.name}[\${i}].\`);`, `        n += ${tag} + pb.varintSize(s) + s;`, `      }`);
        } else if (packed(f)) {
          lines.push(`      let p = 0;`, `      for (let i = 0; i < a.length; i++) p += ${valueSize(f, `${norm(f, 'a[i]', `\`${f.name}[\${i}]\``)}`)};`, `      if (a.length > 0) n += ${tag} + pb.varintSize(p) + p;`);
        } else {
          lines.push(`      for (let i = 0; i < a.length; i++) n += ${tag} + ${valueSize(f, `${norm(f, 'a[i]', `\`${f.name}[\${i}]\``)}`)};`);
        }
      } else if (k === 'msg') {
        lines.push(`      const s = size_${tsName(f.resolvedType!)}(x, \`\${path}${f.name}.\`);`, `      n += ${tag} + pb.varintSize(s) + s;`);
      } else {
        // a fixed-size value (bool, fixed32, double...) is only checked, its size does not depend on it
        const vs = valueSize(f, 'y');
        if (/\by\b/.test(vs)) lines.push(`      const y = ${norm(f, 'x', nm)};`, `      n += ${tag} + ${vs};`);
        else lines.push(`      ${norm(f, 'x', nm)};`, `      n += ${tag} + ${vs};`);
      }
      lines.push(`    }`, `  }`);
    }
    lines.push('  return n;', '}');
    // ---- writing (after size_ checked everything)
    const normW = (f: protobuf.Field, x: string): string => {
      const k = kind(f);
      if (k === 'enum') return `(${x} as number)`;
      if (PB_LONG.has(f.type)) return `(typeof ${x} === 'bigint' ? ${x} : BigInt(${x} as number))`;
      return `(${x} as ${f.type === 'bytes' ? 'Uint8Array' : f.type === 'string' ? 'string' : f.type === 'bool' ? 'boolean' : 'number'})`;
    };
    lines.push('', none ? `function write_${n}(_w: pb.PbWriter, _o: Record<string, unknown>): void {` : `function write_${n}(w: pb.PbWriter, o: Record<string, unknown>): void {`);
    for (const f of sorted) {
      const k = kind(f);
      const nm = tsStr(f.name);
      const tagv = (f.id << 3) | (packed(f) ? 2 : wire(f));
      lines.push(`  {`, `    const x = o[${nm}];`, `    if (x !== undefined && x !== null) {`);
      if (f.repeated) {
        lines.push(`      const a = x as unknown[];`);
        if (k === 'msg') {
          const sub = tsName(f.resolvedType!);
          lines.push(`      for (let i = 0; i < a.length; i++) {`, `        w.u32(${tagv});`, `        w.u32(size_${sub}(a[i], ''));`, `        write_${sub}(w, a[i] as Record<string, unknown>);`, `      }`);
        } else if (packed(f)) {
          lines.push(
            `      if (a.length > 0) {`,
            `        let p = 0;`,
            `        for (let i = 0; i < a.length; i++) p += ${valueSize(f, normW(f, 'a[i]'))};`,
            `        w.u32(${tagv});`,
            `        w.u32(p);`,
            `        for (let i = 0; i < a.length; i++) ${writeValue(f, normW(f, 'a[i]'))}`,
            `      }`,
          );
        } else {
          lines.push(`      for (let i = 0; i < a.length; i++) {`, `        w.u32(${tagv});`, `        ${writeValue(f, normW(f, 'a[i]'))}`, `      }`);
        }
      } else if (k === 'msg') {
        const sub = tsName(f.resolvedType!);
        lines.push(`      w.u32(${tagv});`, `      w.u32(size_${sub}(x, ''));`, `      write_${sub}(w, x as Record<string, unknown>);`);
      } else {
        lines.push(`      w.u32(${tagv});`, `      ${writeValue(f, normW(f, 'x'))}`);
      }
      lines.push(`    }`, `  }`);
    }
    lines.push('}');
    lines.push(
      '',
      `function encode_${n}(value: ${n}Init): Buffer {`,
      `  const size = size_${n}(value, '');`,
      '  const b = Buffer.allocUnsafe(size);',
      `  write_${n}(pb.writer.reset(b), value as unknown as Record<string, unknown>);`,
      '  return b;',
      '}',
    );
  }
  return { lines, names };
}

/** OP_ECHO -> echo, OP_GET_VICTIM -> getVictim. */
function opKey(entry: string): string {
  return camel(entry.replace(/^OP_/, '').toLowerCase().replace(/_/g, '-'));
}

/**
 * One TypeScript module per .proto file: an interface per message in two
 * shapes (`X`, as decoded, and `XInit`, what encode() accepts), a codec
 * value named like the message, enums as const objects, and the schema
 * whose ops come from `enum Op` (OP_<NAME> -> <Name>Request/<Name>Response).
 */
export function renderProtoTs(relPath: string, source: string): string {
  const parsed = protobuf.parse(source, { keepCase: true, alternateCommentMode: true });
  const root = parsed.root;
  root.resolveAll();
  const pkg = parsed.package ?? '';
  const name = basename(relPath, '.proto');
  if (!/^[a-z][a-z0-9_]*$/.test(name)) throw new Error(`${relPath}: file name must be a lower-case identifier`);
  const tsName = (obj: protobuf.ReflectionObject): string => {
    const full = obj.fullName.replace(/^\./, '');
    const rel = pkg && full.startsWith(`${pkg}.`) ? full.slice(pkg.length + 1) : full;
    return rel.split('.').join('_');
  };
  const types: protobuf.Type[] = [];
  const enums: protobuf.Enum[] = [];
  const visit = (ns: protobuf.NamespaceBase): void => {
    for (const obj of ns.nestedArray) {
      if (obj instanceof protobuf.Type) types.push(obj);
      else if (obj instanceof protobuf.Enum) enums.push(obj);
      if (obj instanceof protobuf.Namespace || obj instanceof protobuf.Type) visit(obj);
    }
  };
  visit(root);

  const fieldType = (f: protobuf.Field, init: boolean): string => {
    if (f.resolvedType instanceof protobuf.Type) return `${tsName(f.resolvedType)}${init ? 'Init' : ''}`;
    if (f.resolvedType instanceof protobuf.Enum) return 'number';
    if (PB_NUMBER.has(f.type)) return 'number';
    if (PB_LONG.has(f.type)) return init ? 'bigint | number' : 'bigint';
    if (f.type === 'bool') return 'boolean';
    if (f.type === 'string') return 'string';
    if (f.type === 'bytes') return 'Uint8Array';
    throw new Error(`${relPath}: field ${f.fullName} has unsupported type ${f.type}`);
  };

  const out: string[] = [];
  out.push(
    genHeader(
      'ts',
      undefined,
      relPath,
      `Typed payloads of ${pkg || name}: for each message X an interface X (as decoded: 64-bit integers are bigint, bytes are Uint8Array, absent sub-messages undefined), an interface XInit (what encode() accepts: every field optional) and a codec value X; the schema \`${name}\` lists the ops of enum Op.`,
    ).trimEnd(),
  );
  const anyFast = types.some((t) => fastEligible(t, new Set()));
  // node:buffer's Buffer, not the global: globalThis.Buffer is an accessor
  // whose getter optimised code calls on every use
  out.push('');
  if (anyFast) out.push("import { Buffer } from 'node:buffer';");
  out.push("import { type MessageCodec, type Schema, defineSchema, messageCodec } from '../../runtime/schema.js';");
  if (anyFast) out.push("import * as pb from '../../runtime/pb.js';");
  for (const e of enums) {
    out.push('');
    out.push(...tsDoc(e.comment ?? `enum ${e.fullName.replace(/^\./, '')}`, ''));
    out.push(`export const ${tsName(e)} = {`);
    for (const [k, v] of Object.entries(e.values)) {
      out.push(...tsDoc(e.comments[k] ?? undefined, '  '));
      out.push(`  ${k}: ${v},`);
    }
    out.push('} as const;');
  }
  for (const t of types) {
    const n = tsName(t);
    for (const init of [false, true]) {
      out.push('');
      const doc = `${init ? 'What encode() accepts for' : 'Decoded'} ${t.fullName.replace(/^\./, '')}.${t.comment ? ` ${t.comment}` : ''}`;
      out.push(...tsDoc(doc, ''));
      out.push(`export interface ${n}${init ? 'Init' : ''} {`);
      for (const f of t.fieldsArray) {
        out.push(...tsDoc(f.comment ?? undefined, '  '));
        let ty = fieldType(f, init);
        if (f instanceof protobuf.MapField) ty = `Record<string, ${ty}>`;
        else if (f.repeated) ty = ty.includes('|') ? `Array<${ty}>` : `${ty}[]`;
        const optional = init || (!f.repeated && !(f instanceof protobuf.MapField) && (f.resolvedType instanceof protobuf.Type || f.partOf !== null));
        out.push(`  ${f.name}${optional ? '?' : ''}: ${ty};`);
      }
      out.push('}');
    }
  }

  const opEnum = enums.find((e) => tsName(e) === 'Op');
  const ops: { key: string; op: number; req: string; resp: string }[] = [];
  if (opEnum) {
    for (const [k, v] of Object.entries(opEnum.values)) {
      if (v === 0) continue;
      const key = opKey(k);
      const base = pascal(k.replace(/^OP_/, '').toLowerCase().replace(/_/g, '-'));
      const req = `${base}Request`;
      const resp = `${base}Response`;
      for (const m of [req, resp]) {
        if (!types.some((t) => tsName(t) === m)) throw new Error(`${relPath}: Op.${k} needs message ${m}`);
      }
      ops.push({ key, op: v, req, resp });
    }
  }
  // per-message codecs (src/runtime/pb.ts): every message without maps or oneofs
  const fast = fastCodecs(types, tsName, relPath);
  if (fast.lines.length > 0) {
    out.push('', ...fast.lines);
  }
  const descriptor = JSON.stringify(root.toJSON(), null, 2).replace(/"([A-Za-z_][A-Za-z0-9_]*)":/g, '$1:');
  out.push('', '/** The protobufjs JSON descriptor of the file (the reflection codecs are built from it). */', `export const descriptor = ${descriptor};`);
  out.push('', `/** Ops of ${pkg || name}, from enum Op. */`, `export interface ${pascal(name.replace(/_/g, '-'))}Ops {`);
  for (const o of ops) {
    out.push(
      `  ${o.key}: { op: ${o.op}; request: ${o.req}; requestInit: ${o.req}Init; response: ${o.resp}; responseInit: ${o.resp}Init };`,
    );
  }
  out.push('}');
  out.push('', `/** The schema of ${relPath}: pass it to definePolicy(). */`);
  out.push(`export const ${name}: Schema<${pascal(name.replace(/_/g, '-'))}Ops> = defineSchema<${pascal(name.replace(/_/g, '-'))}Ops>({`);
  out.push(`  name: ${tsStr(name)},`, `  package: ${tsStr(pkg)},`, '  descriptor,');
  if (fast.names.length > 0) {
    out.push('  codecs: {');
    for (const n of fast.names) out.push(`    ${tsStr(n.full)}: { decode: decode_${n.ts}, encode: encode_${n.ts} },`);
    out.push('  },');
  }
  out.push('  ops: {');
  for (const o of ops) out.push(`    ${o.key}: { op: ${o.op}, request: ${tsStr(o.req)}, response: ${tsStr(o.resp)} },`);
  out.push('  },', '});');
  out.push('');
  for (const t of types) {
    const n = tsName(t);
    out.push(`export const ${n}: MessageCodec<${n}, ${n}Init> = messageCodec(${name}, ${tsStr(n.replace(/_/g, '.'))});`);
  }
  out.push('');
  return out.join('\n');
}

// ---------------------------------------------------------------------------
// Driver

/** Finds the repository root from this file (scripts/ or dist/scripts/). */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, SPEC_PATH)) && existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find ${SPEC_PATH} above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

/** Every generated file, keyed by path relative to `root`, in sorted order. */
export function generate(root: string): Map<string, string> {
  const families = parseSpec(readFileSync(join(root, SPEC_PATH), 'utf8'));
  checkCollisions(families);
  const files = new Map<string, string>();
  files.set(UAPI_PATH, renderUapi(families));
  for (const f of families) {
    const policy = POLICY_PATHS[f.name];
    if (!policy) throw new Error(`${SPEC_PATH}: no policy header path for family ${f.name}`);
    files.set(policy.path, renderPolicyH(f, policy.guard, policy.uapi));
  }
  files.set(WIRE_TS_PATH, renderWireTs(families));
  files.set(WIRE_CODEC_TS_PATH, renderWireCodecTs(families));
  const protoDir = join(root, PROTO_DIR);
  const protos = existsSync(protoDir) ? readdirSync(protoDir).filter((x) => x.endsWith('.proto')).sort() : [];
  for (const p of protos) {
    const rel = `${PROTO_DIR}/${p}`;
    const src = readFileSync(join(root, rel), 'utf8');
    files.set(`${PB_DIR}/${basename(p, '.proto')}_pb.h`, renderProto(rel, src));
    files.set(`${PROTO_TS_DIR}/${basename(p, '.proto')}.ts`, renderProtoTs(rel, src));
  }
  return new Map([...files.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Generated files on disk whose source is gone (only files with the marker). */
function staleFiles(root: string, expected: ReadonlyMap<string, string>): string[] {
  const out: string[] = [];
  for (const [d, suffix] of [
    [PB_DIR, '_pb.h'],
    [PROTO_TS_DIR, '.ts'],
  ] as const) {
    const dir = join(root, d);
    if (!existsSync(dir)) continue;
    out.push(
      ...readdirSync(dir)
        .filter((x) => x.endsWith(suffix))
        .sort()
        .map((x) => `${d}/${x}`)
        .filter((rel) => !expected.has(rel) && readFileSync(join(root, rel), 'utf8').includes(GENERATED_MARKER)),
    );
  }
  return out.sort();
}

export interface Drift {
  path: string;
  reason: 'changed' | 'missing' | 'stale';
}

/** Compares the generated files on disk with what the sources generate. */
export function checkGenerated(root: string = repoRoot()): Drift[] {
  const files = generate(root);
  const drift: Drift[] = [];
  for (const [rel, content] of files) {
    const abs = join(root, rel);
    if (!existsSync(abs)) drift.push({ path: rel, reason: 'missing' });
    else if (!readFileSync(abs).equals(Buffer.from(content, 'utf8'))) drift.push({ path: rel, reason: 'changed' });
  }
  for (const rel of staleFiles(root, files)) drift.push({ path: rel, reason: 'stale' });
  return drift;
}

/** Writes the generated files (only those that differ) and deletes stale ones. */
export function writeGenerated(root: string = repoRoot()): { written: string[]; removed: string[] } {
  const files = generate(root);
  const written: string[] = [];
  for (const [rel, content] of files) {
    const abs = join(root, rel);
    if (existsSync(abs) && readFileSync(abs, 'utf8') === content) continue;
    mkdirSync(dirname(abs), { recursive: true });
    writeFileSync(abs, content);
    written.push(rel);
  }
  const removed = staleFiles(root, files);
  for (const rel of removed) unlinkSync(join(root, rel));
  return { written, removed };
}

function main(argv: readonly string[]): number {
  const check = argv.includes('--check');
  const unknown = argv.filter((a) => a !== '--check');
  if (unknown.length > 0) {
    console.error(`usage: tsx scripts/gen.ts [--check]   (unknown: ${unknown.join(' ')})`);
    return 2;
  }
  try {
    const root = repoRoot();
    if (check) {
      const drift = checkGenerated(root);
      if (drift.length === 0) return 0;
      console.error('gen: generated files differ from their sources; run `npm run gen`:');
      for (const d of drift) console.error(`  ${d.reason}: ${d.path}`);
      return 1;
    }
    const { written, removed } = writeGenerated(root);
    for (const w of written) console.log(`gen: wrote ${w}`);
    for (const r of removed) console.log(`gen: removed stale ${r}`);
    if (written.length === 0 && removed.length === 0) console.log('gen: up to date');
    return 0;
  } catch (err) {
    console.error(`gen: ${(err as Error).message}`);
    return 2;
  }
}

const invoked = process.argv[1];
if (invoked !== undefined && import.meta.url === pathToFileURL(resolve(invoked)).href) {
  process.exitCode = main(process.argv.slice(2));
}
