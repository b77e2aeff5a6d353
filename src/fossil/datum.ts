// The values fossil's query language computes with: a datum's bytes decoded by its topic's
// schema, and computed values encoded back into a datum with the schema text fossil gives them.

import { FIXED_TYPE_SIZES as SIZE, type FixedType } from '../store';

export type { FixedType };

export type Schema =
  | { kind: 'string' | 'binary' }
  | { kind: 'fixed'; type: FixedType }
  | { kind: 'array'; length: number; type: FixedType }
  | { kind: 'composite'; fields: Array<{ key: string; type: Schema }> };

const FIXED = new Set(Object.keys(SIZE));

/** Parses schema text ("string", "int32", "[4]float64", '{"a": int32, "b": string}'); throws
 *  an Error with the reason when it is not one. Empty text is string. "float" is float64. */
export function parseSchema(text: string): Schema {
  const t = text.trim();
  if (t === '' || t === 'string') return { kind: 'string' };
  if (t === 'binary') return { kind: 'binary' };
  if (t === 'float') return { kind: 'fixed', type: 'float64' };
  if (FIXED.has(t)) return { kind: 'fixed', type: t as FixedType };
  const arr = /^\[\s*(\d{1,6})\s*\]\s*([a-z0-9]+)$/.exec(t);
  if (arr !== null) {
    const type = arr[2] === 'float' ? 'float64' : arr[2]!;
    if (!FIXED.has(type)) throw new Error(`array element type ${JSON.stringify(arr[2])} is not a fixed-size type`);
    const length = Number(arr[1]);
    if (length < 1) throw new Error('array length must be at least 1');
    return { kind: 'array', length, type: type as FixedType };
  }
  if (t.startsWith('{') && t.endsWith('}')) {
    const body = t.slice(1, -1).trim();
    const fields: Array<{ key: string; type: Schema }> = [];
    const re = /\s*"([A-Za-z0-9_-]+)"\s*:\s*(\[\s*\d+\s*\]\s*[a-z0-9]+|[a-z0-9]+)\s*(,|$)/y;
    let p = 0;
    while (p < body.length) {
      re.lastIndex = p;
      const m = re.exec(body);
      if (m === null) throw new Error(`composite schema is not {"key": type, ...} at ${JSON.stringify(body.slice(p, p + 20))}`);
      const inner = parseSchema(m[2]!);
      if (inner.kind === 'composite') throw new Error('a composite cannot hold a composite');
      fields.push({ key: m[1]!, type: inner });
      p = re.lastIndex;
    }
    if (fields.length === 0) throw new Error('a composite needs at least one key');
    return { kind: 'composite', fields };
  }
  throw new Error(`unknown type ${JSON.stringify(t)}`);
}

/** The schema's text as fossil writes it. */
export function schemaText(s: Schema): string {
  switch (s.kind) {
    case 'string':
    case 'binary':
      return s.kind;
    case 'fixed':
      return s.type;
    case 'array':
      return `[${s.length}]${s.type}`;
    case 'composite':
      return `{${s.fields.map((f) => `"${f.key}":${schemaText(f.type)}`).join(',')}}`;
  }
}

// ---- values of the query language ----

export type Value =
  | { k: 'int'; v: bigint }
  | { k: 'float'; v: number }
  | { k: 'bool'; v: boolean }
  | { k: 'string'; v: string }
  | { k: 'tuple'; v: Value[] }
  | { k: 'composite'; v: Map<string, Value> };

function readFixed(b: Buffer, p: number, t: FixedType): Value {
  switch (t) {
    case 'boolean':
      return { k: 'bool', v: b[p] !== 0 };
    case 'int8':
      return { k: 'int', v: BigInt(b.readInt8(p)) };
    case 'int16':
      return { k: 'int', v: BigInt(b.readInt16LE(p)) };
    case 'int32':
      return { k: 'int', v: BigInt(b.readInt32LE(p)) };
    case 'int64':
      return { k: 'int', v: b.readBigInt64LE(p) };
    case 'uint8':
      return { k: 'int', v: BigInt(b.readUInt8(p)) };
    case 'uint16':
      return { k: 'int', v: BigInt(b.readUInt16LE(p)) };
    case 'uint32':
      return { k: 'int', v: BigInt(b.readUInt32LE(p)) };
    case 'uint64':
      return { k: 'int', v: b.readBigUInt64LE(p) };
    case 'float32':
      return { k: 'float', v: b.readFloatLE(p) };
    case 'float64':
      return { k: 'float', v: b.readDoubleLE(p) };
  }
}

function decodeComposite(b: Buffer, s: Extract<Schema, { kind: 'composite' }>): Value | undefined {
  // the store's composite encoding: fields in schema order, fixed ones in place, strings with a u32 LE length
  const m = new Map<string, Value>();
  let p = 0;
  for (const f of s.fields) {
    const t = f.type;
    if (t.kind === 'fixed') {
      if (p + SIZE[t.type] > b.length) return undefined;
      m.set(f.key, readFixed(b, p, t.type));
      p += SIZE[t.type];
    } else if (t.kind === 'array') {
      const n = SIZE[t.type] * t.length;
      if (p + n > b.length) return undefined;
      m.set(f.key, decodeDatum(b.subarray(p, p + n), t));
      p += n;
    } else {
      if (p + 4 > b.length) return undefined;
      const n = b.readUInt32LE(p);
      if (p + 4 + n > b.length) return undefined;
      m.set(f.key, { k: 'string', v: b.toString(t.kind === 'binary' ? 'latin1' : 'utf8', p + 4, p + 4 + n) });
      p += 4 + n;
    }
  }
  return p === b.length ? { k: 'composite', v: m } : undefined;
}

/** The value a datum holds under its topic's schema (a datum that does not conform is read as a
 *  string). */
export function decodeDatum(b: Buffer, s: Schema): Value {
  switch (s.kind) {
    case 'string':
      return { k: 'string', v: b.toString('utf8') };
    case 'binary':
      return { k: 'string', v: b.toString('latin1') };
    case 'fixed':
      return b.length === SIZE[s.type] ? readFixed(b, 0, s.type) : { k: 'string', v: b.toString('utf8') };
    case 'array': {
      if (b.length !== SIZE[s.type] * s.length) return { k: 'string', v: b.toString('utf8') };
      const out: Value[] = [];
      for (let i = 0; i < s.length; i++) out.push(readFixed(b, i * SIZE[s.type], s.type));
      return { k: 'tuple', v: out };
    }
    case 'composite':
      return decodeComposite(b, s) ?? { k: 'string', v: b.toString('utf8') };
  }
}

function scalarBytes(v: Value): { bytes: Buffer; type: string } | undefined {
  switch (v.k) {
    case 'int': {
      const b = Buffer.alloc(8);
      b.writeBigInt64LE(BigInt.asIntN(64, v.v));
      return { bytes: b, type: 'int64' };
    }
    case 'float': {
      const b = Buffer.alloc(8);
      b.writeDoubleLE(v.v);
      return { bytes: b, type: 'float64' };
    }
    case 'bool':
      return { bytes: Buffer.from([v.v ? 1 : 0]), type: 'boolean' };
    default:
      return undefined;
  }
}

/** A computed value as a datum: int → int64 LE, float → float64 LE, boolean → 1 byte, string →
 *  its UTF-8 bytes, a tuple of one scalar kind → an array, a composite → its fields in order
 *  (strings with a u32 LE length). A tuple of mixed kinds is refused (fossil's rule). */
export function encodeValue(v: Value): { bytes: Buffer; schema: string } {
  if (v.k === 'string') return { bytes: Buffer.from(v.v, 'utf8'), schema: 'string' };
  const s = scalarBytes(v);
  if (s !== undefined) return { bytes: s.bytes, schema: s.type };
  if (v.k === 'tuple') {
    const parts = v.v.map(scalarBytes);
    const type = parts[0]?.type;
    if (type === undefined || parts.some((p) => p === undefined || p.type !== type))
      throw new Error('a tuple must hold values of one numeric or boolean type to be returned');
    return { bytes: Buffer.concat(parts.map((p) => p!.bytes)), schema: `[${parts.length}]${type}` };
  }
  if (v.k === 'composite') {
    const chunks: Buffer[] = [];
    const fields: string[] = [];
    for (const [key, x] of v.v) {
      if (x.k === 'string') {
        const s2 = Buffer.from(x.v, 'utf8');
        const len = Buffer.alloc(4);
        len.writeUInt32LE(s2.length);
        chunks.push(len, s2);
        fields.push(`"${key}":string`);
      } else {
        const e = encodeValue(x);
        chunks.push(e.bytes);
        fields.push(`"${key}":${e.schema}`);
      }
    }
    return { bytes: Buffer.concat(chunks), schema: `{${fields.join(',')}}` };
  }
  throw new Error('value cannot be returned');
}
