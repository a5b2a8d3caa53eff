// The generated protobuf codecs (scripts/gen.ts, src/runtime/pb.ts) against
// the protobufjs reflection codec they replace: the same bytes, the same
// decoded objects and the same coded errors, over random messages of every
// field kind (test/unit/fixtures/allkinds.proto) and the project's own
// ktest.proto.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';
import { renderProtoTs } from '../../scripts/gen.js';
import { descriptor as ktestDescriptor, ktest } from '../../src/generated/proto/ktest.js';
import { type MessageCodec, type Schema, defineSchema } from '../../src/runtime/schema.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..', '..');
// the generated module imports ../../runtime/*.js: it is compiled next to dist/src/generated/proto/
const outDir = join(root, 'dist', 'src', 'generated', 'pb-test');

/** A deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Gen = () => number;
const pick = <T>(r: Gen, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const int = (r: Gen, lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));
const big = (r: Gen, bits: number, signed: boolean): bigint => {
  let v = 0n;
  for (let i = 0; i < bits; i += 16) v = (v << 16n) | BigInt(int(r, 0, 0xffff));
  v &= (1n << BigInt(bits)) - 1n;
  if (pick(r, [0, 1, 2]) === 0) v &= 0xffn; // small values too
  return signed ? BigInt.asIntN(bits, v) : v;
};
const bytes = (r: Gen): Buffer => Buffer.from(Array.from({ length: int(r, 0, 40) }, () => int(r, 0, 255)));
const text = (r: Gen): string => Array.from({ length: int(r, 0, 12) }, () => pick(r, ['a', 'Z', '0', ' ', 'é', '€', '😀'])).join('');
const maybe = <T>(r: Gen, f: () => T): T | undefined => (r() < 0.3 ? undefined : f());

function inner(r: Gen): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  const id = maybe(r, () => int(r, 0, 0xffffffff));
  if (id !== undefined) o['id'] = id;
  const d = maybe(r, () => big(r, 64, true));
  if (d !== undefined) o['delta'] = d;
  const tags = maybe(r, () => Array.from({ length: int(r, 0, 3) }, () => text(r)));
  if (tags !== undefined) o['tags'] = tags;
  return o;
}

function all(r: Gen): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  const set = (k: string, f: () => unknown): void => {
    const v = maybe(r, f);
    if (v !== undefined) o[k] = v;
  };
  set('d', () => pick(r, [0, -1.5, 3.25e100, Number.MIN_VALUE]));
  set('f', () => pick(r, [0, 1.5, -2.25]));
  set('i32', () => int(r, -(2 ** 31), 2 ** 31 - 1));
  set('i64', () => (r() < 0.5 ? big(r, 64, true) : int(r, -1000, 1000)));
  set('u32', () => int(r, 0, 0xffffffff));
  set('u64', () => big(r, 64, false));
  set('s32', () => int(r, -(2 ** 31), 2 ** 31 - 1));
  set('s64', () => big(r, 64, true));
  set('fx32', () => int(r, 0, 0xffffffff));
  set('fx64', () => big(r, 64, false));
  set('sfx32', () => int(r, -(2 ** 31), 2 ** 31 - 1));
  set('sfx64', () => big(r, 64, true));
  set('flag', () => r() < 0.5);
  set('name', () => text(r));
  set('blob', () => bytes(r));
  set('color', () => pick(r, [0, 1, 5]));
  set('inner', () => inner(r));
  set('ri32', () => Array.from({ length: int(r, 0, 4) }, () => int(r, -(2 ** 31), 2 ** 31 - 1)));
  set('ru64', () => Array.from({ length: int(r, 0, 4) }, () => big(r, 64, false)));
  set('inners', () => Array.from({ length: int(r, 0, 3) }, () => inner(r)));
  set('blobs', () => Array.from({ length: int(r, 0, 3) }, () => bytes(r)));
  set('colors', () => Array.from({ length: int(r, 0, 3) }, () => pick(r, [0, 1, 5])));
  set('rs32', () => Array.from({ length: int(r, 0, 4) }, () => int(r, -(2 ** 31), 2 ** 31 - 1)));
  set('big_id', () => int(r, 0, 0xffffffff));
  return o;
}

/** What a decode threw, as a comparable shape. */
function outcome(f: () => unknown): unknown {
  try {
    return { ok: f() };
  } catch (err) {
    return { code: (err as { code?: string }).code };
  }
}

describe('protobuf: generated codecs against reflection', () => {
  let gen: Schema;
  let refl: Schema;
  before(async () => {
    const src = readFileSync(join(here, '..', '..', '..', 'test', 'unit', 'fixtures', 'allkinds.proto'), 'utf8');
    const ts = renderProtoTs('test/unit/fixtures/allkinds.proto', src);
    const js = esbuild.transformSync(ts, { loader: 'ts', format: 'esm' }).code;
    mkdirSync(outDir, { recursive: true });
    const file = join(outDir, 'allkinds.mjs');
    writeFileSync(file, js.replaceAll("'../../runtime/", `'${pathToFileURL(join(root, 'dist', 'src', 'runtime')).href}/`));
    const mod = (await import(pathToFileURL(file).href)) as { allkinds: Schema; descriptor: unknown };
    gen = mod.allkinds;
    refl = defineSchema({ name: 'allkinds', package: 'koffload.allkinds', descriptor: mod.descriptor as never, ops: {} });
  });
  after(() => rmSync(outDir, { recursive: true, force: true }));

  const codecs = (s: Schema, name: string): MessageCodec<unknown, unknown> => s.messages.get(name)!;

  it('the generated schema uses generated codecs (not reflection) for every message', () => {
    for (const name of ['All', 'Inner']) assert.notEqual(codecs(gen, name).encode, codecs(refl, name).encode);
    assert.notEqual(ktest.messages.get('EchoRequest')!.decode, defineSchema({ name: 'k', package: 'koffload.ktest', descriptor: ktestDescriptor as never, ops: {} }).messages.get('EchoRequest')!.decode);
  });

  it('encodes the same bytes and decodes the same objects, 2000 random messages', () => {
    const r = rng(9);
    for (let i = 0; i < 2000; i++) {
      const v = all(r);
      const a = codecs(gen, 'All').encode(v);
      const b = codecs(refl, 'All').encode(v);
      assert.equal(a.toString('hex'), b.toString('hex'), `message ${i}: ${JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x))}`);
      assert.deepEqual(codecs(gen, 'All').decode(a), codecs(refl, 'All').decode(a), `message ${i}`);
    }
  });

  it('decodes what another encoder may send: unknown fields, unpacked repeated scalars, a field twice', () => {
    // field 999 (varint), ri32 unpacked (18, varint), u32 twice (last wins), inner twice (last wins)
    const bytes = Buffer.from([0xb8, 0x3e, 0x07, 0x90, 0x01, 0x05, 0x90, 0x01, 0x06, 0x28, 0x01, 0x28, 0x02, 0x8a, 0x01, 0x02, 0x08, 0x01, 0x8a, 0x01, 0x02, 0x08, 0x02]);
    assert.deepEqual(codecs(gen, 'All').decode(bytes), codecs(refl, 'All').decode(bytes));
    assert.deepEqual((codecs(gen, 'All').decode(bytes) as { ri32: number[] }).ri32, [5, 6]);
  });

  it('refuses what reflection refuses, with the same codes', () => {
    const bad: unknown[] = [
      null,
      [],
      { nope: 1 },
      { u32: -1 },
      { u32: 2 ** 32 },
      { i32: 1.5 },
      { u64: -1n },
      { u64: 2n ** 64n },
      { i64: 2n ** 63n },
      { s64: 'x' },
      { blob: 'base64?' },
      { name: 5 },
      { flag: 1 },
      { color: 3 },
      { inner: { id: -2 } },
      { inner: 'x' },
      { inners: [{ bogus: 1 }] },
      { ri32: 'x' },
      { ri32: [1, 2 ** 40] },
    ];
    for (const v of bad) {
      assert.deepEqual(outcome(() => codecs(gen, 'All').encode(v)), outcome(() => codecs(refl, 'All').encode(v)), JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x)));
      assert.deepEqual(outcome(() => codecs(gen, 'All').encode(v)), { code: 'KOFFLOAD_ERR_BAD_RESPONSE' });
    }
    // an enum by name is refused by both (verify wants the number)
    assert.deepEqual(outcome(() => codecs(gen, 'All').encode({ color: 'COLOR_BLUE' })), { code: 'KOFFLOAD_ERR_BAD_RESPONSE' });
    assert.deepEqual(outcome(() => codecs(refl, 'All').encode({ color: 'COLOR_BLUE' })), { code: 'KOFFLOAD_ERR_BAD_RESPONSE' });
  });

  it('refuses truncated and malformed bytes with KOFFLOAD_ERR_BAD_PAYLOAD', () => {
    const good = codecs(gen, 'All').encode(all(rng(3)));
    const cases: Buffer[] = [Buffer.from([0x0a, 0xff]), Buffer.from([0x28]), Buffer.from([0x28, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), Buffer.from([0x8a, 0x01, 0x05, 0x08]), Buffer.from([0x0f])];
    for (let n = 1; n < good.length; n += 7) cases.push(Buffer.from(good.subarray(0, n)));
    for (const c of cases) {
      const g = outcome(() => codecs(gen, 'All').decode(c));
      const f = outcome(() => codecs(refl, 'All').decode(c));
      if ('code' in (f as object)) assert.deepEqual(g, { code: 'KOFFLOAD_ERR_BAD_PAYLOAD' }, c.toString('hex'));
      else if (!('code' in (g as object))) assert.deepEqual(g, f, c.toString('hex'));
    }
    // a wire type that does not fit the field is refused (reflection would misread it)
    assert.deepEqual(outcome(() => codecs(gen, 'All').decode(Buffer.from([0x2a, 0x00]))), { code: 'KOFFLOAD_ERR_BAD_PAYLOAD' });
  });

  it('a message with no fields encodes nothing and refuses what reflection refuses', () => {
    assert.equal(codecs(gen, 'Empty').encode({}).length, 0);
    assert.deepEqual(codecs(gen, 'Empty').decode(Buffer.alloc(0)), codecs(refl, 'Empty').decode(Buffer.alloc(0)));
    // unknown fields are skipped, as by reflection
    const unknown = codecs(refl, 'All').encode({ u32: 7 });
    assert.deepEqual(codecs(gen, 'Empty').decode(unknown), codecs(refl, 'Empty').decode(unknown));
    assert.deepEqual(outcome(() => codecs(gen, 'Empty').encode({ u32: 7 })), outcome(() => codecs(refl, 'Empty').encode({ u32: 7 })));
  });

  it('ktest: EchoRequest and PickRequest agree with reflection, bigints and all', () => {
    const k = defineSchema({ name: 'ktest', package: 'koffload.ktest', descriptor: ktestDescriptor as never, ops: {} });
    const r = rng(5);
    for (let i = 0; i < 500; i++) {
      const echo = { data: bytes(r), seq: big(r, 64, false) };
      const pickReq = { candidates: Array.from({ length: int(r, 0, 4) }, () => ({ id: int(r, 0, 100), valid_blocks: int(r, 0, 512), age_ms: big(r, 64, false) })) };
      for (const [name, v] of [['EchoRequest', echo], ['EchoResponse', echo], ['PickRequest', pickReq]] as const) {
        const a = ktest.messages.get(name)!.encode(v);
        assert.equal(a.toString('hex'), k.messages.get(name)!.encode(v).toString('hex'));
        assert.deepEqual(ktest.messages.get(name)!.decode(a), k.messages.get(name)!.decode(a));
      }
    }
  });
});
