// Event rings: a store's events.slab (a ring of variable-length records: native/rondo/events.h)
// and topics.json (the topics: hierarchical paths, each with an id and a schema in fossil's
// syntax). The encoding of typed data follows fossil's: little-endian fixed-size values, arrays
// of them back to back, and shallow maps (composites) as their fields in order, a string or
// binary field as a u32 length and its bytes. docs/events.md, "Event rings" and "Topics and
// typed data"; the file layouts in docs/storage-format.md.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { addon, type NativeEventRing, type NativeEventRecord } from './native';
import { ConfigError, CorruptFileError, InvalidValueError, nativeError } from '../errors';
import { readMetaFile, writeMetaFile } from './metafile';
import { JS_EVENT_APPEND, JsEventWriter } from './events-js';

export const EVENTS_FILE = 'events.slab';
export const TOPICS_FILE = 'topics.json';
/** Where a datum that does not conform to its topic's schema goes, as in fossil. */
export const NONCONFORMANT_TOPIC = '/nonconformant';
/** Size of a ring made with `events: true`. */
export const DEFAULT_EVENTS_SIZE = 16 * 1024 * 1024;
const MAX_TOPIC_BYTES = 255;
const MAX_TOPICS = 1 << 20;

// ---- types and schemas ----

/** The fixed-size types (what an array holds), then string and binary. */
export const FIXED_TYPES = ['boolean', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64', 'float32', 'float64'] as const;
export type FixedType = (typeof FIXED_TYPES)[number];
export type ScalarType = FixedType | 'string' | 'binary';

/** A record's type code (its header's type byte): how its payload is encoded. */
export const TYPE_CODES: Readonly<Record<ScalarType | 'array' | 'composite', number>> = Object.freeze({
  binary: 0,
  string: 1,
  boolean: 2,
  int8: 3,
  int16: 4,
  int32: 5,
  int64: 6,
  uint8: 7,
  uint16: 8,
  uint32: 9,
  uint64: 10,
  float32: 11,
  float64: 12,
  array: 13,
  composite: 14,
});
const CODE_NAMES: readonly string[] = Object.entries(TYPE_CODES)
  .sort((a, b) => a[1] - b[1])
  .map(([k]) => k);
const FLAG_NONCONFORMANT = 1;

/** The bytes of each fixed-size type, as a datum holds it. */
export const FIXED_TYPE_SIZES: Readonly<Record<FixedType, number>> = {
  boolean: 1,
  int8: 1,
  int16: 2,
  int32: 4,
  int64: 8,
  uint8: 1,
  uint16: 2,
  uint32: 4,
  uint64: 8,
  float32: 4,
  float64: 8,
};

export type Schema =
  | { kind: 'scalar'; type: ScalarType }
  | { kind: 'array'; length: number; type: FixedType }
  | { kind: 'composite'; fields: ReadonlyArray<{ key: string; schema: Exclude<Schema, { kind: 'composite' }> }> };

const isFixed = (t: string): t is FixedType => (FIXED_TYPES as readonly string[]).includes(t);

/**
 * Parses a schema in fossil's syntax: a type name (`string`, `binary`, `boolean`, `int8`..`int64`,
 * `uint8`..`uint64`, `float32`, `float64`, and `float` for float64), an array `[N]type` of a
 * fixed-size type, or a shallow map `{"key": type, ...}` (a trailing comma allowed) of types and
 * arrays. Throws ConfigError saying where it stopped.
 */
export function parseSchema(text: string): Schema {
  if (typeof text !== 'string') throw new ConfigError('a topic schema must be a string such as "int32", "[3]float64" or {"x": int32, "name": string}');
  let i = 0;
  const fail = (why: string): never => {
    throw new ConfigError(`schema ${JSON.stringify(text)}: ${why} at offset ${i}`);
  };
  const ws = () => {
    while (i < text.length && /\s/.test(text[i]!)) i++;
  };
  const word = (): string => {
    const m = /^[a-z0-9]+/.exec(text.slice(i));
    if (m === null) return fail('expected a type name');
    i += m[0].length;
    return m[0];
  };
  const typeOrArray = (): Exclude<Schema, { kind: 'composite' }> => {
    ws();
    if (text[i] === '[') {
      i++;
      const m = /^[0-9]+/.exec(text.slice(i));
      if (m === null) return fail('expected the array length');
      i += m[0].length;
      if (text[i] !== ']') fail('expected ]');
      i++;
      const length = Number(m[0]);
      if (!(length >= 1 && length <= 1 << 16)) fail('an array length must be from 1 to 65536');
      const t = word();
      const type = t === 'float' ? 'float64' : t;
      if (!isFixed(type)) return fail(`an array holds a fixed-size type (${FIXED_TYPES.join(', ')}), not ${t}`);
      return { kind: 'array', length, type };
    }
    const t = word();
    const type = t === 'float' ? 'float64' : t;
    if (isFixed(type) || type === 'string' || type === 'binary') return { kind: 'scalar', type };
    return fail(`unknown type ${t}`);
  };
  ws();
  let out: Schema;
  if (text[i] === '{') {
    i++;
    const fields: Array<{ key: string; schema: Exclude<Schema, { kind: 'composite' }> }> = [];
    for (;;) {
      ws();
      if (text[i] === '}') break;
      const m = /^"([A-Za-z0-9_-]+)"/.exec(text.slice(i));
      if (m === null) fail('expected a quoted key of letters, digits, _ or -');
      const key = m![1]!;
      if (fields.some((f) => f.key === key)) fail(`key ${key} twice`);
      i += m![0].length;
      ws();
      if (text[i] !== ':') fail('expected :');
      i++;
      fields.push({ key, schema: typeOrArray() });
      ws();
      if (text[i] === ',') i++;
      else if (text[i] !== '}') fail('expected , or }');
    }
    i++;
    if (fields.length === 0) fail('a map needs at least one key');
    out = { kind: 'composite', fields };
  } else {
    out = typeOrArray();
  }
  ws();
  if (i !== text.length) fail('unexpected text after the schema');
  return out;
}

/** The canonical text of a schema (fossil's: `{"k":type,...,}` for a map). */
export function schemaText(s: Schema): string {
  if (s.kind === 'scalar') return s.type;
  if (s.kind === 'array') return `[${s.length}]${s.type}`;
  return `{${s.fields.map((f) => `"${f.key}":${schemaText(f.schema)},`).join('')}}`;
}

function isNumericScalar(s: Schema): boolean {
  return s.kind === 'scalar' && s.type !== 'string' && s.type !== 'binary' && s.type !== 'boolean';
}

// ---- encoding ----

/** What append() takes as data. */
export type EventData = string | number | bigint | boolean | Uint8Array | readonly EventData[] | { readonly [k: string]: EventData };

const RANGES: Partial<Record<FixedType, [bigint, bigint]>> = {
  int8: [-128n, 127n],
  int16: [-32768n, 32767n],
  int32: [-2147483648n, 2147483647n],
  int64: [-(1n << 63n), (1n << 63n) - 1n],
  uint8: [0n, 255n],
  uint16: [0n, 65535n],
  uint32: [0n, 4294967295n],
  uint64: [0n, (1n << 64n) - 1n],
};

/** Writes a fixed-size value at b[o]; false if v does not conform to t. */
function putFixed(b: Buffer, o: number, t: FixedType, v: unknown): boolean {
  if (t === 'boolean') {
    if (typeof v !== 'boolean') return false;
    b[o] = v ? 1 : 0;
    return true;
  }
  if (t === 'float32' || t === 'float64') {
    if (typeof v !== 'number') return false;
    if (t === 'float32') b.writeFloatLE(v, o);
    else b.writeDoubleLE(v, o);
    return true;
  }
  let n: bigint;
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) return false;
    n = BigInt(v);
  } else if (typeof v === 'bigint') n = v;
  else return false;
  const [lo, hi] = RANGES[t]!;
  if (n < lo || n > hi) return false;
  switch (t) {
    case 'int8':
      b.writeInt8(Number(n), o);
      break;
    case 'uint8':
      b.writeUInt8(Number(n), o);
      break;
    case 'int16':
      b.writeInt16LE(Number(n), o);
      break;
    case 'uint16':
      b.writeUInt16LE(Number(n), o);
      break;
    case 'int32':
      b.writeInt32LE(Number(n), o);
      break;
    case 'uint32':
      b.writeUInt32LE(Number(n), o);
      break;
    case 'int64':
      b.writeBigInt64LE(n, o);
      break;
    default:
      b.writeBigUInt64LE(n, o);
  }
  return true;
}

function getFixed(b: Buffer, o: number, t: FixedType): number | bigint | boolean {
  switch (t) {
    case 'boolean':
      return b[o] !== 0;
    case 'int8':
      return b.readInt8(o);
    case 'uint8':
      return b.readUInt8(o);
    case 'int16':
      return b.readInt16LE(o);
    case 'uint16':
      return b.readUInt16LE(o);
    case 'int32':
      return b.readInt32LE(o);
    case 'uint32':
      return b.readUInt32LE(o);
    case 'int64':
      return b.readBigInt64LE(o);
    case 'uint64':
      return b.readBigUInt64LE(o);
    case 'float32':
      return b.readFloatLE(o);
    default:
      return b.readDoubleLE(o);
  }
}

const isBytes = (v: unknown): v is Uint8Array => v instanceof Uint8Array;
const asBuffer = (v: Uint8Array): Buffer => (Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength));
const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);

/** True when bytes are a valid encoding of a composite (its strings' lengths included). */
function compositeBytesConform(s: Extract<Schema, { kind: 'composite' }>, b: Uint8Array): boolean {
  let o = 0;
  for (const f of s.fields) {
    const fs_ = f.schema;
    if (fs_.kind === 'scalar' && (fs_.type === 'string' || fs_.type === 'binary')) {
      if (o + 4 > b.length) return false;
      const n = asBuffer(b).readUInt32LE(o);
      o += 4 + n;
    } else o += fs_.kind === 'array' ? fs_.length * FIXED_TYPE_SIZES[fs_.type] : FIXED_TYPE_SIZES[fs_.type as FixedType];
    if (o > b.length) return false;
  }
  return o === b.length;
}

/** The bytes of v as schema s, or undefined when v does not conform. Bytes given are taken as already encoded (checked for size). */
export function encodeFor(s: Schema, v: unknown): Buffer | undefined {
  if (s.kind === 'scalar') {
    if (s.type === 'string' || s.type === 'binary') {
      if (typeof v === 'string') return Buffer.from(v, 'utf8');
      if (isBytes(v)) return asBuffer(v);
      return undefined;
    }
    const size = FIXED_TYPE_SIZES[s.type];
    if (isBytes(v)) return v.length === size ? asBuffer(v) : undefined;
    const b = Buffer.alloc(size);
    return putFixed(b, 0, s.type, v) ? b : undefined;
  }
  if (s.kind === 'array') {
    const size = FIXED_TYPE_SIZES[s.type];
    if (isBytes(v)) return v.length === size * s.length ? asBuffer(v) : undefined;
    if (!Array.isArray(v) || v.length !== s.length) return undefined;
    const b = Buffer.alloc(size * s.length);
    for (let i = 0; i < s.length; i++) if (!putFixed(b, i * size, s.type, v[i])) return undefined;
    return b;
  }
  if (isBytes(v)) return compositeBytesConform(s, v) ? asBuffer(v) : undefined;
  if (!isPlainObject(v)) return undefined;
  const keys = Object.keys(v);
  if (keys.length !== s.fields.length) return undefined;
  const parts: Buffer[] = [];
  for (const f of s.fields) {
    if (!Object.prototype.hasOwnProperty.call(v, f.key)) return undefined;
    const fv = v[f.key];
    const fsch = f.schema;
    if (fsch.kind === 'scalar' && (fsch.type === 'string' || fsch.type === 'binary')) {
      const bytes = encodeFor(fsch, fv);
      if (bytes === undefined) return undefined;
      const len = Buffer.alloc(4);
      len.writeUInt32LE(bytes.length, 0);
      parts.push(len, bytes);
    } else {
      const bytes = encodeFor(fsch, fv);
      if (bytes === undefined) return undefined;
      parts.push(bytes);
    }
  }
  return Buffer.concat(parts);
}

/** Decodes bytes of schema s; undefined if they do not fit it (a record from a damaged or foreign writer). */
export function decodeAs(s: Schema, b: Buffer): EventData | undefined {
  if (s.kind === 'scalar') {
    if (s.type === 'string') return b.toString('utf8');
    if (s.type === 'binary') return b;
    if (b.length !== FIXED_TYPE_SIZES[s.type]) return undefined;
    return getFixed(b, 0, s.type);
  }
  if (s.kind === 'array') {
    const size = FIXED_TYPE_SIZES[s.type];
    if (b.length !== size * s.length) return undefined;
    const out: Array<number | bigint | boolean> = [];
    for (let i = 0; i < s.length; i++) out.push(getFixed(b, i * size, s.type));
    return out;
  }
  if (!compositeBytesConform(s, b)) return undefined;
  const out: Record<string, EventData> = {};
  let o = 0;
  for (const f of s.fields) {
    const fsch = f.schema;
    if (fsch.kind === 'scalar' && (fsch.type === 'string' || fsch.type === 'binary')) {
      const n = b.readUInt32LE(o);
      const bytes = b.subarray(o + 4, o + 4 + n);
      out[f.key] = fsch.type === 'string' ? bytes.toString('utf8') : Buffer.from(bytes);
      o += 4 + n;
    } else {
      const size = fsch.kind === 'array' ? fsch.length * FIXED_TYPE_SIZES[fsch.type] : FIXED_TYPE_SIZES[fsch.type as FixedType];
      out[f.key] = decodeAs(fsch, b.subarray(o, o + size))!;
      o += size;
    }
  }
  return out;
}

/** A value on a topic of the default schema (string): its own type, as the record's type says. */
function encodeUntyped(v: unknown): { type: number; bytes: Buffer } | undefined {
  if (typeof v === 'string') return { type: TYPE_CODES.string, bytes: Buffer.from(v, 'utf8') };
  if (isBytes(v)) return { type: TYPE_CODES.binary, bytes: asBuffer(v) };
  if (typeof v === 'boolean') return { type: TYPE_CODES.boolean, bytes: Buffer.from([v ? 1 : 0]) };
  if (typeof v === 'number') {
    const b = Buffer.alloc(8);
    b.writeDoubleLE(v, 0);
    return { type: TYPE_CODES.float64, bytes: b };
  }
  if (typeof v === 'bigint') {
    const b = Buffer.alloc(8);
    if (v >= -(1n << 63n) && v < 1n << 63n) b.writeBigInt64LE(v, 0);
    else return undefined;
    return { type: TYPE_CODES.int64, bytes: b };
  }
  return undefined;
}

function typeCodeOf(s: Schema): number {
  return s.kind === 'scalar' ? TYPE_CODES[s.type] : TYPE_CODES[s.kind];
}

// ---- topics ----

export interface TopicInfo {
  id: number;
  name: string;
  /** The schema in fossil's syntax (canonical form). */
  schema: string;
  /** Numeric topics recorded as a series too: that series' name and labels. */
  series?: { name: string; labels: Record<string, string> };
}

export interface CreateTopicOptions {
  /**
   * A topic of a numeric type (int8..uint64, float32, float64) whose values are also recorded
   * as a series: true for the series `rondo_topic{topic="<topic>"}`, or its name and labels.
   */
  series?: boolean | { name: string; labels?: Record<string, string> };
}

/** Checks a topic path: '/' or '/a/b' (no empty segment, no trailing '/', no control characters or spaces). */
export function validateTopic(topic: unknown): string {
  if (typeof topic !== 'string' || !topic.startsWith('/'))
    throw new InvalidValueError(`topic ${JSON.stringify(topic)} must be a path starting with /, such as /vm/42/console`);
  if (Buffer.byteLength(topic) > MAX_TOPIC_BYTES) throw new InvalidValueError(`topic ${topic.slice(0, 40)}… is longer than ${MAX_TOPIC_BYTES} bytes`);
  if (topic !== '/' && (topic.endsWith('/') || topic.includes('//')))
    throw new InvalidValueError(`topic ${JSON.stringify(topic)} has an empty segment (// or a trailing /)`);
  // eslint-disable-next-line no-control-regex
  if (/[\s\x00-\x1f\x7f]/.test(topic)) throw new InvalidValueError(`topic ${JSON.stringify(topic)} holds a space or control character`);
  return topic;
}

/** True when `topic` is `prefix` or below it. */
export function underTopic(topic: string, prefix: string): boolean {
  return prefix === '/' || topic === prefix || topic.startsWith(prefix + '/');
}

function ancestors(topic: string): string[] {
  const out: string[] = [];
  let t = topic;
  while (t !== '/' && t.length > 0) {
    t = t.slice(0, t.lastIndexOf('/')) || '/';
    out.push(t);
  }
  return out;
}

interface TopicState {
  info: TopicInfo;
  schema: Schema;
  code: number;
  /** Set by the store for a topic recorded as a series. */
  seriesHandle?: unknown;
}

export interface EventQuery {
  /** A topic: it and its sub-topics (unless subtopics: false). Default: every topic. */
  topic?: string;
  subtopics?: boolean;
  /** From this time (ns since the epoch as a bigint, or ms as a number), inclusive. */
  start?: bigint | number;
  /** Up to this time, exclusive. */
  end?: bigint | number;
  /** At most this many records (the oldest first). Default 100000. */
  limit?: number;
  /** Continue from a position (EventPage.next of an earlier call). */
  after?: number;
}

export interface EventRecord {
  tsNs: bigint;
  topic: string;
  /** The datum's type: a type name, or the topic's schema for arrays and maps. */
  type: string;
  data: EventData;
  /** The datum's bytes as stored (fossil's encoding). */
  raw: Buffer;
  /** On /nonconformant: the topic the datum was appended to. */
  origin?: string;
}

export interface EventPage {
  records: EventRecord[];
  /** Where to continue reading (after: next). */
  next: number;
}

/**
 * Records as columns (store.eventColumns()): what a query over many records reads, with no
 * object per record. Record i is at tsNs[i] on topics[topicIndex[i]], its bytes as stored are
 * data[start[i] .. end[i]) (on /nonconformant: after the id of the topic it was meant for), its
 * record type typeCode[i] (TYPE_CODES).
 */
export interface EventColumns {
  count: number;
  tsNs: BigInt64Array;
  /** Index into topics of each record's topic. */
  topicIndex: Uint32Array;
  /** The topics the records are on. */
  topics: readonly TopicInfo[];
  typeCode: Uint8Array;
  start: Uint32Array;
  end: Uint32Array;
  data: Buffer;
  /** Where to continue reading (after: next). */
  next: number;
}

export interface EventStats {
  /** The ring's size in bytes. */
  size: number;
  /** Bytes of the ring its records take (at most size). */
  bytesUsed: number;
  /** Records in the ring now. */
  records: number;
  /** Records ever appended, and of them overwritten by newer ones. */
  appended: number;
  overwritten: number;
  /** Time of the oldest and newest record in the ring (ns), null when empty. */
  oldestNs: bigint | null;
  newestNs: bigint | null;
  topics: number;
  /** Data that did not conform to its topic's schema (went to /nonconformant) since open. */
  nonconformant: number;
}

function toNs(v: bigint | number | undefined, what: string): bigint | null {
  if (v === undefined) return null;
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return BigInt(Math.trunc(v)) * 1_000_000n;
  throw new InvalidValueError(`${what} must be a bigint of ns or a number of ms since the epoch`);
}

/**
 * A store's events: its ring and its topics. The Store holds one when the store has a ring
 * (store.ts); readers (read-only) reload the topics when they meet one they do not know.
 */
export class EventLog {
  readonly ring: NativeEventRing;
  /** Appends written into the mapping from JavaScript (events-js.ts); undefined: the addon's append. */
  readonly writer: JsEventWriter | undefined;
  private readonly topics: TopicState[] = [];
  private readonly byName = new Map<string, TopicState>();
  /** The topic of the last append (appends come in runs to one topic). */
  private lastName = '';
  private lastTopic: TopicState | undefined = undefined;
  private readonly topicsFile: string;
  private topicsStamp = '';
  nonconformant = 0;

  private constructor(
    readonly dir: string,
    ring: NativeEventRing,
    private readonly readOnly: boolean,
    private readonly fileMode: number,
  ) {
    this.ring = ring;
    this.writer = readOnly ? undefined : jsWriter(ring);
    this.topicsFile = path.join(dir, TOPICS_FILE);
    try {
      this.loadTopics();
    } catch (e) {
      ring.close();
      throw e;
    }
  }

  static exists(dir: string): boolean {
    return fs.existsSync(path.join(dir, EVENTS_FILE));
  }

  /** Opens the ring of the store in dir: creating it (size given and no ring), or the one there. */
  static open(dir: string, opts: { size?: number; readOnly: boolean; createdMs: number; fileMode: number }): EventLog {
    const file = path.join(dir, EVENTS_FILE);
    let ring: NativeEventRing;
    try {
      if (!fs.existsSync(file) && opts.size !== undefined && !opts.readOnly)
        ring = new addon.EventRing(file, 'create', { size: opts.size, createdMs: opts.createdMs, fileMode: opts.fileMode });
      else ring = new addon.EventRing(file, opts.readOnly ? 'ro' : 'rw');
    } catch (e) {
      throw nativeError(e, file);
    }
    if (opts.size !== undefined && ring.params().size !== opts.size) {
      const had = ring.params().size;
      ring.close();
      throw new ConfigError(`the event ring of ${dir} holds ${had} bytes, not the ${opts.size} asked for: a ring keeps its size (open the store without events.size, or move ${EVENTS_FILE} aside to start a new ring)`);
    }
    return new EventLog(dir, ring, opts.readOnly, opts.fileMode);
  }

  close(): void {
    this.writer?.disable();
    this.ring.close();
  }

  /** One record into the ring: written from JavaScript when the writer takes it, else by the addon. */
  private put(topic: number, typeFlags: number, data: Uint8Array | string, tsNs: bigint | undefined): void {
    const w = this.writer;
    // A time past 64 bits goes to the addon too, which refuses it (a typed array would wrap it).
    if (w === undefined || (tsNs !== undefined && (tsNs < MIN_TS || tsNs > MAX_TS)) || !w.append(topic, typeFlags, data, tsNs))
      this.ring.append(topic, typeFlags, data, tsNs);
  }

  private stamp(): string {
    try {
      const st = fs.statSync(this.topicsFile);
      return `${st.mtimeMs}:${st.size}:${st.ino}`;
    } catch {
      return '';
    }
  }

  private loadTopics(): void {
    const stamp = this.stamp();
    if (stamp === this.topicsStamp) return;
    const body = readMetaFile(this.topicsFile, 'rondo-topics') as { topics?: unknown } | undefined;
    const damaged = (why: string) => new CorruptFileError(`${this.topicsFile} is damaged (${why}); restore it from a backup`);
    if (body !== undefined) {
      if (typeof body !== 'object' || body === null || !Array.isArray(body.topics)) throw damaged('no list of topics');
      const list = body.topics as unknown[];
      if (list.length > MAX_TOPICS) throw damaged(`${list.length} topics, more than ${MAX_TOPICS}`);
      for (let i = this.topics.length; i < list.length; i++) {
        const t = list[i] as Partial<TopicInfo> | null;
        if (typeof t !== 'object' || t === null || t.id !== i + 1 || typeof t.name !== 'string' || typeof t.schema !== 'string')
          throw damaged(`entry ${i} is not topic ${i + 1}`);
        let schema: Schema;
        try {
          validateTopic(t.name);
          schema = parseSchema(t.schema);
        } catch (e) {
          throw damaged(`topic ${i + 1}: ${(e as Error).message}`);
        }
        if (this.byName.has(t.name)) throw damaged(`topic ${t.name} twice`);
        this.adopt({ id: t.id, name: t.name, schema: schemaText(schema), ...(t.series !== undefined ? { series: t.series } : {}) }, schema);
      }
    }
    this.topicsStamp = stamp;
  }

  private adopt(info: TopicInfo, schema: Schema): TopicState {
    const st: TopicState = { info: Object.freeze(info), schema, code: typeCodeOf(schema) };
    this.topics.push(st);
    this.byName.set(info.name, st);
    return st;
  }

  private save(): void {
    writeMetaFile(this.topicsFile, 'rondo-topics', { topics: this.topics.map((t) => t.info) }, this.fileMode);
    this.topicsStamp = this.stamp();
  }

  /** The schema a new topic gets: its nearest ancestor's when that is not the default (string). */
  private inherited(topic: string): Schema | undefined {
    for (const a of ancestors(topic)) {
      const t = this.byName.get(a);
      if (t !== undefined && !(t.schema.kind === 'scalar' && t.schema.type === 'string')) return t.schema;
    }
    return undefined;
  }

  /** Every topic, in creation order. */
  list(): readonly TopicInfo[] {
    if (this.readOnly) this.loadTopics();
    return this.topics.map((t) => t.info);
  }

  topic(name: string): TopicState | undefined {
    let t = this.byName.get(name);
    if (t === undefined && this.readOnly) {
      this.loadTopics();
      t = this.byName.get(name);
    }
    return t;
  }

  /** Creates a topic (idempotent for the same schema). */
  create(name: string, schemaText_?: string, options: CreateTopicOptions = {}): TopicState {
    if (this.readOnly) throw new ConfigError('the store is open read-only');
    validateTopic(name);
    const wanted = schemaText_ === undefined ? undefined : parseSchema(schemaText_);
    const inherited = this.inherited(name);
    const schema = wanted ?? inherited ?? { kind: 'scalar', type: 'string' };
    const text = schemaText(schema);
    if (inherited !== undefined && schemaText(inherited) !== text)
      throw new InvalidValueError(`topic ${name} cannot have schema ${text}: its parent topic has schema ${schemaText(inherited)}, which its sub-topics keep`);
    if (name === NONCONFORMANT_TOPIC && text !== 'string') throw new InvalidValueError(`${NONCONFORMANT_TOPIC} takes any datum: it has no schema`);
    const existing = this.byName.get(name);
    if (existing !== undefined) {
      if (wanted !== undefined && existing.info.schema !== text)
        throw new InvalidValueError(`topic ${name} exists with schema ${existing.info.schema}, not ${text}`);
      return existing;
    }
    if (text !== 'string')
      for (const t of this.topics)
        if (underTopic(t.info.name, name) && t.info.schema !== 'string' && t.info.schema !== text)
          throw new InvalidValueError(`topic ${name} cannot have schema ${text}: its sub-topic ${t.info.name} has schema ${t.info.schema}`);
    let series: TopicInfo['series'];
    if (options.series !== undefined && options.series !== false) {
      if (!isNumericScalar(schema)) throw new InvalidValueError(`topic ${name} of schema ${text} cannot be recorded as a series: only numeric types can`);
      series = options.series === true ? { name: 'rondo_topic', labels: { topic: name } } : { name: options.series.name, labels: { ...(options.series.labels ?? {}) } };
    }
    if (this.topics.length >= MAX_TOPICS) throw new InvalidValueError(`the store has ${MAX_TOPICS} topics, its limit`);
    const st = this.adopt({ id: this.topics.length + 1, name, schema: text, ...(series !== undefined ? { series } : {}) }, schema);
    try {
      this.save();
    } catch (e) {
      this.topics.pop();
      this.byName.delete(name);
      throw e;
    }
    return st;
  }

  /**
   * Appends a datum (returns the topic it went to: the topic, or /nonconformant). `recordSeries`
   * is called for a numeric topic recorded as a series.
   */
  append(name: string, data: unknown, tsNs: bigint | undefined, recordSeries?: (t: TopicState, v: number, tsNs: bigint | undefined) => void): TopicState {
    let t = name === this.lastName ? this.lastTopic : this.byName.get(name);
    if (t === undefined) t = this.create(name);
    this.lastName = name;
    this.lastTopic = t;
    if (t.code === TYPE_CODES.string) {
      // The default schema takes anything: the record's type says what it is.
      if (data instanceof Uint8Array) {
        this.put(t.info.id, TYPE_CODES.binary, data, tsNs);
        return t;
      }
      if (typeof data === 'string') {
        this.put(t.info.id, TYPE_CODES.string, data, tsNs);
        return t;
      }
      const u = encodeUntyped(data);
      if (u !== undefined) {
        this.put(t.info.id, u.type, u.bytes, tsNs);
        return t;
      }
    } else {
      const bytes = encodeFor(t.schema, data);
      if (bytes !== undefined) {
        this.put(t.info.id, t.code, bytes, tsNs);
        if (t.info.series !== undefined && recordSeries !== undefined) {
          const v = decodeAs(t.schema, bytes);
          recordSeries(t, Number(v), tsNs);
        }
        return t;
      }
    }
    // Nonconformant: the datum as the default schema would keep it (maps and arrays as JSON),
    // after the id of the topic it was meant for.
    const nc = this.byName.get(NONCONFORMANT_TOPIC) ?? this.create(NONCONFORMANT_TOPIC);
    let u = encodeUntyped(data);
    if (u === undefined) {
      let json: string | undefined;
      try {
        json = JSON.stringify(data, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
      } catch {
        json = undefined;
      }
      if (json === undefined) throw new InvalidValueError(`an event's data must be a string, number, bigint, boolean, Buffer, array or object, not ${typeof data}`);
      u = { type: TYPE_CODES.string, bytes: Buffer.from(json, 'utf8') };
    }
    const payload = Buffer.alloc(4 + u.bytes.length);
    payload.writeUInt32LE(t.info.id, 0);
    u.bytes.copy(payload, 4);
    this.put(nc.info.id, u.type | (FLAG_NONCONFORMANT << 8), payload, tsNs);
    this.nonconformant++;
    return nc;
  }

  /** What read() and readColumns() pass the ring for a query: checked, topics as an id mask. */
  private filterOf(q: EventQuery, what: string): { from: number; start: bigint | null; end: bigint | null; mask: Uint8Array | null; limit: number } {
    if (typeof q !== 'object' || q === null) throw new InvalidValueError(`${what}() takes an object: { topic, start, end, limit }`);
    if (this.readOnly) this.loadTopics();
    const limit = q.limit ?? 100_000;
    if (!Number.isSafeInteger(limit) || limit < 0) throw new InvalidValueError(`limit ${String(q.limit)} must be a whole number`);
    let mask: Uint8Array | null = null;
    if (q.topic !== undefined) {
      validateTopic(q.topic);
      const sub = q.subtopics !== false;
      mask = new Uint8Array(this.topics.length + 1);
      for (const t of this.topics) if (sub ? underTopic(t.info.name, q.topic) : t.info.name === q.topic) mask[t.info.id] = 1;
    }
    const start = toNs(q.start, 'start');
    const end = toNs(q.end, 'end');
    const from = q.after ?? 0;
    if (!Number.isSafeInteger(from) || from < 0) throw new InvalidValueError(`after ${String(q.after)} must be a position from an earlier events() call`);
    return { from, start, end, mask, limit };
  }

  /** The records asked for, oldest first. */
  read(q: EventQuery = {}): EventPage {
    const { from, start, end, mask, limit } = this.filterOf(q, 'events');
    let res: { next: number; records: NativeEventRecord[] };
    try {
      res = this.ring.read(from, start, end, mask, Math.min(limit, 0xffffffff));
    } catch (e) {
      throw nativeError(e, path.join(this.dir, EVENTS_FILE));
    }
    const out: EventRecord[] = [];
    for (const r of res.records) {
      const rec = this.decode(r);
      if (rec !== undefined) out.push(rec);
    }
    return { records: out, next: res.next };
  }

  /** read() as columns (EventColumns): the records the same query selects, their bytes as stored. */
  readColumns(q: EventQuery = {}): EventColumns {
    const { from, start, end, mask, limit } = this.filterOf(q, 'eventColumns');
    let p: ReturnType<NativeEventRing['readPacked']>;
    try {
      p = this.ring.readPacked(from, start, end, mask, Math.min(limit, 0xffffffff), 0xffffffff);
    } catch (e) {
      throw nativeError(e, path.join(this.dir, EVENTS_FILE));
    }
    // Topic ids to indexes into `topics` (the ids seen, in the order first seen).
    const n = p.count;
    const index = new Uint32Array(n);
    const typeCode = new Uint8Array(n);
    const starts = new Uint32Array(n);
    const topics: TopicInfo[] = [];
    // slot[id]: -2 not yet seen, -1 left out, else its index in topics
    const slot = new Int32Array(this.topics.length + 2).fill(-2);
    let keep = 0;
    let prevEnd = 0;
    let lastId = -1;
    let lastSlot = 0;
    const ts = p.ts;
    const ends = p.end;
    for (let i = 0; i < n; i++) {
      const id = p.topic[i]!;
      const tf = p.typeFlags[i]!;
      const s0 = prevEnd;
      prevEnd = ends[i]!;
      let k = lastSlot;
      if (id !== lastId) {
        let got = id < slot.length ? slot[id]! : -2;
        if (got === -2) {
          const t = this.topicById(id);
          // a topic not yet in topics.json: left out, as read() leaves it out
          got = t === undefined ? -1 : topics.push(t.info) - 1;
          if (id < slot.length) slot[id] = got;
        }
        k = got;
        lastId = id;
        lastSlot = k;
      }
      if (k < 0) continue;
      index[keep] = k;
      typeCode[keep] = tf & 0xff;
      starts[keep] = (tf >> 8) & FLAG_NONCONFORMANT && prevEnd - s0 >= 4 ? s0 + 4 : s0;
      if (keep !== i) {
        // a record left out before this one: the later ones move down (reading a BigInt64Array
        // makes a bigint: only then)
        ts[keep] = ts[i]!;
        ends[keep] = prevEnd;
      }
      keep++;
    }
    return {
      count: keep,
      tsNs: keep === n ? ts : ts.subarray(0, keep),
      topicIndex: keep === n ? index : index.subarray(0, keep),
      topics,
      typeCode: keep === n ? typeCode : typeCode.subarray(0, keep),
      start: keep === n ? starts : starts.subarray(0, keep),
      end: keep === n ? ends : ends.subarray(0, keep),
      data: p.data,
      next: p.next,
    };
  }

  private topicById(id: number): TopicState | undefined {
    let t = this.topics[id - 1];
    if (t === undefined && this.readOnly) {
      this.loadTopics();
      t = this.topics[id - 1];
    }
    return t;
  }

  private decode(r: NativeEventRecord): EventRecord | undefined {
    const t = this.topicById(r.topic);
    if (t === undefined) return undefined; // a topic not yet in topics.json (a writer between its append and its save cannot be: it saves first)
    let raw = r.data;
    let origin: string | undefined;
    let schema: Schema;
    if ((r.flags & FLAG_NONCONFORMANT) !== 0 && raw.length >= 4) {
      origin = this.topicById(raw.readUInt32LE(0))?.info.name;
      raw = raw.subarray(4);
    }
    const name = CODE_NAMES[r.type];
    if (name === 'array' || name === 'composite') schema = t.schema;
    else if (name !== undefined) schema = { kind: 'scalar', type: name as ScalarType };
    else schema = { kind: 'scalar', type: 'binary' };
    let data = decodeAs(schema, raw);
    if (data === undefined) {
      schema = { kind: 'scalar', type: 'binary' };
      data = raw;
    }
    return { tsNs: r.ts, topic: t.info.name, type: schemaText(schema), data, raw, ...(origin !== undefined ? { origin } : {}) };
  }

  stats(): EventStats {
    const s = this.ring.stats();
    if (this.readOnly) this.loadTopics();
    return {
      size: s.capacity,
      bytesUsed: s.published - s.tail,
      records: s.appends - s.dropped,
      appended: s.appends,
      overwritten: s.dropped,
      oldestNs: s.oldestNs,
      newestNs: s.newestNs,
      topics: this.topics.length,
      nonconformant: this.nonconformant,
    };
  }
}

const MIN_TS = -(1n << 63n);
const MAX_TS = (1n << 63n) - 1n;

/** The JavaScript writer of a writable ring, when this machine and the ring suit it (events-js.ts). */
function jsWriter(ring: NativeEventRing): JsEventWriter | undefined {
  if (!JS_EVENT_APPEND || process.env.RONDO_EVENTS_JS_APPEND === '0') return undefined;
  const p = ring.params();
  if (p.fileBytes > 2 ** 31) return undefined; // typed arrays over the mapping: the addon writes larger rings
  return new JsEventWriter(ring.buffer(), ring.damageFlag(), p.size, p.maxPayload);
}

/** events: { size } of the store options: a number of bytes or a size such as '64MiB'. */
export function parseEventsSize(v: unknown): number | undefined {
  if (v === undefined || v === false) return undefined;
  if (v === true) return DEFAULT_EVENTS_SIZE;
  if (typeof v !== 'object' || v === null) throw new ConfigError('events must be true or { size: bytes | "64MiB" }');
  const size = (v as { size?: unknown }).size;
  if (size === undefined) return DEFAULT_EVENTS_SIZE;
  let n: number;
  if (typeof size === 'number') n = size;
  else if (typeof size === 'string') {
    const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*(B|KiB|MiB|GiB|KB|MB|GB|k|K|M|G)?\s*$/.exec(size);
    if (m === null) throw new ConfigError(`events.size ${JSON.stringify(size)} is not a size such as 65536, "512KiB", "64MiB" or "1GiB"`);
    const unit = m[2] ?? 'B';
    const mult: Record<string, number> = { B: 1, KiB: 1024, MiB: 1 << 20, GiB: 1 << 30, KB: 1000, MB: 1e6, GB: 1e9, k: 1024, K: 1024, M: 1 << 20, G: 1 << 30 };
    n = Math.floor(Number(m[1]) * mult[unit]!);
  } else throw new ConfigError('events.size must be a number of bytes or a string such as "64MiB"');
  n -= n % 8;
  if (!(n >= 4096 && n <= 2 ** 40)) throw new ConfigError(`events.size ${String(size)} must be from 4 KiB to 1 TiB`);
  return n;
}
