/**
 * Typed payload codecs built from the protobuf schemas in proto/.
 *
 * `npm run gen` writes one module per .proto file into src/generated/proto/:
 * TypeScript interfaces of its messages and a `Schema` whose codecs use
 * protobufjs reflection over the file's JSON descriptor. Decoded messages
 * are plain objects: 64-bit integers are `bigint`, bytes are `Uint8Array`
 * (Buffer), enums are numbers, absent sub-messages are `undefined`.
 *
 * A schema's ops come from its `enum Op`: entry OP_<NAME> = n declares op n,
 * named camel-case <name>, with request <Name>Request and response
 * <Name>Response.
 */
import protobuf from 'protobufjs';
import { KoffloadError } from '../errors.js';

/** Encodes and decodes one message type. `T` is the decoded shape, `I` what encode() accepts. */
export interface MessageCodec<T, I = T> {
  /** fully qualified protobuf name, without the leading dot ('koffload.ktest.EchoRequest') */
  readonly typeName: string;
  /** KOFFLOAD_ERR_BAD_PAYLOAD when the bytes are not this message */
  decode(bytes: Uint8Array): T;
  /** KOFFLOAD_ERR_BAD_RESPONSE when `value` does not fit the message type */
  encode(value: I): Buffer;
  /** a JSON-safe copy (bigint as decimal string, bytes as base64) for logs and records */
  toJSON(value: T | I): unknown;
  /** the inverse of toJSON, for replay */
  fromJSON(json: unknown): T;
  /** type-level only: the decoded shape */
  readonly __type?: T;
  /** type-level only: the encodable shape */
  readonly __init?: I;
}

/** The codec types of one op, as generated. */
export interface OpTypes {
  op: number;
  request: unknown;
  requestInit: unknown;
  response: unknown;
  responseInit: unknown;
}

export interface SchemaOp<O extends OpTypes = OpTypes> {
  readonly op: O['op'];
  readonly name: string;
  readonly request: MessageCodec<O['request'], O['requestInit']>;
  readonly response: MessageCodec<O['response'], O['responseInit']>;
}

/** One .proto file: its messages and ops. */
export interface Schema<Ops extends { [K in keyof Ops]: OpTypes } = Record<string, OpTypes>> {
  /** the .proto file's base name ('ktest') */
  readonly name: string;
  /** protobuf package ('koffload.ktest') */
  readonly package: string;
  readonly ops: { readonly [K in keyof Ops]: SchemaOp<Ops[K]> };
  /** codecs by message name (short and fully qualified) */
  readonly messages: ReadonlyMap<string, MessageCodec<unknown, unknown>>;
}

/** A message's generated codec (src/runtime/pb.ts): the same results as the reflection one, faster. */
export interface GeneratedCodec {
  decode(bytes: Uint8Array): unknown;
  encode(value: never): Buffer;
}

export interface SchemaDef {
  name: string;
  package: string;
  /** protobufjs JSON descriptor (Root#toJSON()) */
  descriptor: protobuf.INamespace;
  /** generated codecs by fully qualified message name; the others use reflection */
  codecs?: Record<string, GeneratedCodec>;
  /** op name -> op id and message names */
  ops: Record<string, { op: number; request: string; response: string }>;
}

interface LongStatic {
  fromString(s: string, unsigned: boolean): unknown;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function badPayload(typeName: string, detail: string, cause?: unknown): KoffloadError {
  return new KoffloadError('KOFFLOAD_ERR_BAD_PAYLOAD', `${typeName}: ${detail}`, { cause });
}

function badResponse(typeName: string, detail: string): KoffloadError {
  return new KoffloadError('KOFFLOAD_ERR_BAD_RESPONSE', `${typeName}: ${detail}`);
}

const isLong = (f: protobuf.Field): boolean => f.long;
const isBytes = (f: protobuf.Field): boolean => f.type === 'bytes';

/** Decoded protobufjs object (toObject with longs as String) -> the public shape. */
function fromWire(type: protobuf.Type, obj: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of type.fieldsArray) {
    const v = obj[f.name];
    const one = (x: unknown): unknown => {
      if (x === null || x === undefined) return undefined;
      if (f.resolvedType instanceof protobuf.Type) return fromWire(f.resolvedType, x as Record<string, unknown>);
      if (isLong(f)) return BigInt(x as string);
      return x;
    };
    if (f instanceof protobuf.MapField) {
      const m: Record<string, unknown> = {};
      for (const [k, x] of Object.entries((v ?? {}) as Record<string, unknown>)) m[k] = one(x);
      out[f.name] = m;
    } else if (f.repeated) {
      out[f.name] = ((v ?? []) as unknown[]).map(one);
    } else {
      const x = one(v);
      if (x !== undefined) out[f.name] = x;
    }
  }
  return out;
}

/** Public shape -> what Type.verify/fromObject accept; throws on unknown fields and bad integers. */
function toWire(type: protobuf.Type, value: unknown, path: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw badResponse(type.fullName.slice(1), `${path || 'value'} must be an object`);
  }
  const obj = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(obj)) {
    if (!type.fields[k]) throw badResponse(type.fullName.slice(1), `unknown field '${path}${k}'`);
  }
  for (const f of type.fieldsArray) {
    const v = obj[f.name];
    if (v === undefined || v === null) continue;
    const where = `${path}${f.name}`;
    const one = (x: unknown, w: string): unknown => {
      if (f.resolvedType instanceof protobuf.Type) return toWire(f.resolvedType, x, `${w}.`);
      if (isLong(f) && (typeof x === 'bigint' || typeof x === 'number')) {
        const unsigned = f.type.startsWith('u') || f.type === 'fixed64';
        const b = BigInt(x);
        const [lo, hi] = unsigned ? [0n, 0xffffffffffffffffn] : [-(1n << 63n), (1n << 63n) - 1n];
        if (b < lo || b > hi) throw badResponse(type.fullName.slice(1), `${w} out of range for ${f.type}`);
        return (protobuf.util.Long as unknown as LongStatic).fromString(b.toString(), unsigned);
      }
      if (typeof x === 'number' && ['uint32', 'fixed32'].includes(f.type) && (x < 0 || x > 0xffffffff)) {
        throw badResponse(type.fullName.slice(1), `${w} out of range for ${f.type}`);
      }
      if (typeof x === 'number' && ['int32', 'sint32', 'sfixed32'].includes(f.type) && (x < -(2 ** 31) || x >= 2 ** 31)) {
        throw badResponse(type.fullName.slice(1), `${w} out of range for ${f.type}`);
      }
      if (isBytes(f) && typeof x === 'string') throw badResponse(type.fullName.slice(1), `${w} must be a Uint8Array`);
      return x;
    };
    if (f instanceof protobuf.MapField) {
      const m: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) m[k] = one(x, `${where}[${k}]`);
      out[f.name] = m;
    } else if (f.repeated) {
      if (!Array.isArray(v)) throw badResponse(type.fullName.slice(1), `${where} must be an array`);
      out[f.name] = v.map((x, i) => one(x, `${where}[${i}]`));
    } else {
      out[f.name] = one(v, where);
    }
  }
  return out;
}

/** JSON-safe copy: bigint -> decimal string, bytes -> base64. */
export function jsonSafe(value: unknown): Json {
  if (value === undefined || value === null) return null;
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64');
  if (Array.isArray(value)) return value.map(jsonSafe);
  if (typeof value === 'object') {
    const out: Record<string, Json> = {};
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = jsonSafe(v);
    return out;
  }
  if (typeof value === 'number' || typeof value === 'string' || typeof value === 'boolean') return value;
  return String(value);
}

/** Inverse of jsonSafe guided by the message type. */
function fromJsonSafe(type: protobuf.Type, json: unknown): Record<string, unknown> {
  const obj = (json ?? {}) as Record<string, unknown>;
  const wire: Record<string, unknown> = {};
  for (const f of type.fieldsArray) {
    const v = obj[f.name];
    if (v === undefined || v === null) continue;
    const one = (x: unknown): unknown => {
      if (f.resolvedType instanceof protobuf.Type) return fromJsonSafe(f.resolvedType, x);
      if (isBytes(f) && typeof x === 'string') return Buffer.from(x, 'base64');
      if (isLong(f)) return BigInt(x as string);
      return x;
    };
    if (f instanceof protobuf.MapField) {
      wire[f.name] = Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, one(x)]));
    } else if (f.repeated) wire[f.name] = (v as unknown[]).map(one);
    else wire[f.name] = one(v);
  }
  return wire;
}

function makeCodec(type: protobuf.Type, generated?: GeneratedCodec): MessageCodec<unknown, unknown> {
  const typeName = type.fullName.replace(/^\./, '');
  const codec: MessageCodec<unknown, unknown> = {
    typeName,
    decode(bytes: Uint8Array): unknown {
      let msg: protobuf.Message;
      try {
        msg = type.decode(bytes);
      } catch (err) {
        throw badPayload(typeName, (err as Error).message, err);
      }
      const obj = type.toObject(msg, { longs: String, enums: Number, defaults: true, arrays: true, objects: true });
      return fromWire(type, obj);
    },
    encode(value: unknown): Buffer {
      const wire = toWire(type, value, '');
      const err = type.verify(wire);
      if (err) throw badResponse(typeName, err);
      const bytes = type.encode(type.fromObject(wire)).finish();
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    },
    toJSON(value: unknown): unknown {
      return jsonSafe(value);
    },
    fromJSON(json: unknown): unknown {
      // normalise through encode/decode so defaults are filled in like a decoded message
      return codec.decode(codec.encode(fromJsonSafe(type, json)));
    },
  };
  if (generated) {
    codec.decode = generated.decode;
    codec.encode = generated.encode as (value: unknown) => Buffer;
  }
  return codec;
}

/** Builds a schema from its generated definition; used by src/generated/proto/*.ts. */
export function defineSchema<Ops extends { [K in keyof Ops]: OpTypes }>(def: SchemaDef): Schema<Ops> {
  const root = protobuf.Root.fromJSON(def.descriptor);
  root.resolveAll();
  const messages = new Map<string, MessageCodec<unknown, unknown>>();
  const visit = (ns: protobuf.NamespaceBase): void => {
    for (const obj of ns.nestedArray) {
      if (obj instanceof protobuf.Type) {
        const c = makeCodec(obj, def.codecs?.[obj.fullName.replace(/^\./, '')]);
        messages.set(c.typeName, c);
        if (!messages.has(obj.name)) messages.set(obj.name, c);
      }
      if (obj instanceof protobuf.Namespace || obj instanceof protobuf.Type) visit(obj);
    }
  };
  visit(root);
  const ops: Record<string, SchemaOp> = {};
  for (const [name, o] of Object.entries(def.ops)) {
    const request = messages.get(`${def.package}.${o.request}`);
    const response = messages.get(`${def.package}.${o.response}`);
    if (!request || !response) throw new Error(`schema ${def.name}: op ${name} names unknown messages`);
    ops[name] = { op: o.op, name, request, response };
  }
  return { name: def.name, package: def.package, ops: ops as unknown as Schema<Ops>['ops'], messages };
}

/** The codec of one message type of a schema, typed by the generated interfaces. */
export function messageCodec<T, I>(schema: Schema, name: string): MessageCodec<T, I> {
  const c = schema.messages.get(`${schema.package}.${name}`);
  if (!c) throw new Error(`schema ${schema.name} has no message ${name}`);
  return c as MessageCodec<T, I>;
}
