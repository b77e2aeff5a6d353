// Event rings (docs/events.md): every type fossil defines round-trips through a store, reopened
// and read by a reader; the ring overwrites its oldest records and keeps the newest whole; a
// datum that does not conform to its topic's schema goes to /nonconformant with the topic it was
// meant for; topics and their schemas persist; numeric topics can be recorded as series.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, CorruptFileError, InvalidValueError, NONCONFORMANT_TOPIC, Store, parseSchema, schemaText, type EventData } from '../src/index';
import { devAddon } from '../src/store/dev-addon';
import { tempDir } from './helpers';

// [schema, value appended, value read back]
const CASES: Array<[string, EventData, EventData]> = [
  ['string', 'héllo wörld', 'héllo wörld'],
  ['binary', Buffer.from([0, 1, 2, 255]), Buffer.from([0, 1, 2, 255])],
  ['boolean', true, true],
  ['boolean', false, false],
  ['int8', -128, -128],
  ['int16', -32768, -32768],
  ['int32', 2147483647, 2147483647],
  ['int64', -(2n ** 63n), -(2n ** 63n)],
  ['int64', 42, 42n],
  ['uint8', 255, 255],
  ['uint16', 65535, 65535],
  ['uint32', 4294967295, 4294967295],
  ['uint64', 2n ** 64n - 1n, 2n ** 64n - 1n],
  ['float32', 1.5, 1.5],
  ['float64', Math.PI, Math.PI],
  ['float', -0.25, -0.25],
  ['[3]int16', [1, -2, 3], [1, -2, 3]],
  ['[2]boolean', [true, false], [true, false]],
  ['[2]uint64', [1n, 2n ** 63n], [1n, 2n ** 63n]],
  ['[4]float32', [0.5, 1, -2, 8], [0.5, 1, -2, 8]],
  [
    '{"coordinates": [2]int32, "action": string, "ok": boolean, "blob": binary,}',
    { coordinates: [3, -4], action: 'jump', ok: true, blob: Buffer.from('xy') },
    { coordinates: [3, -4], action: 'jump', ok: true, blob: Buffer.from('xy') },
  ],
];

function open(dir: string, size: string | number = '1MiB'): Store {
  return Store.open(dir, { events: { size } });
}

describe('event rings: round trip', () => {
  it('every type of fossil, appended to a topic of that schema, reads back the same, after a reopen and from a reader', () => {
    const dir = tempDir();
    const s = open(dir);
    CASES.forEach(([schema], i) => s.createTopic(`/t/${i}`, schema));
    CASES.forEach(([, v], i) => expect(s.append(`/t/${i}`, v, BigInt(1000 + i))).toBe(`/t/${i}`));
    s.close();
    for (const st of [Store.open(dir), Store.openReadOnly(dir)]) {
      const got = st.events({ topic: '/t' });
      expect(got.map((r) => r.topic)).toEqual(CASES.map((_c, i) => `/t/${i}`));
      got.forEach((r, i) => {
        expect(r.tsNs).toBe(BigInt(1000 + i));
        expect(r.data).toEqual(CASES[i]![2]);
        expect(r.type).toBe(schemaText(parseSchema(CASES[i]![0])));
      });
      expect(st.topics().map((t) => t.schema)).toEqual(CASES.map(([schema]) => schemaText(parseSchema(schema))));
      st.close();
    }
  });

  it('fossil encodings: little-endian values, map fields in order with a u32 length before strings', () => {
    const dir = tempDir();
    const s = open(dir);
    s.createTopic('/m', '{"a": int16, "s": string, "b": [2]uint8}');
    s.createTopic('/i', 'int32');
    s.append('/m', { a: -2, s: 'hi', b: [7, 9] });
    s.append('/i', 0x01020304);
    const [m, i] = s.events();
    expect(m!.raw).toEqual(Buffer.from([0xfe, 0xff, 2, 0, 0, 0, 0x68, 0x69, 7, 9]));
    expect(i!.raw).toEqual(Buffer.from([4, 3, 2, 1]));
    // Bytes that are already the encoding are taken as they are.
    s.append('/i', Buffer.from([1, 0, 0, 0]));
    expect(s.events({ topic: '/i' }).map((r) => r.data)).toEqual([0x01020304, 1]);
    s.close();
  });

  it('untyped topics (string, the default) keep each datum with its own type', () => {
    const dir = tempDir();
    const s = open(dir);
    const values: EventData[] = ['text', Buffer.from([9, 8]), 3.25, true, 7n];
    for (const v of values) s.append('/any', v);
    const got = s.events({ topic: '/any' });
    expect(got.map((r) => r.data)).toEqual(values);
    expect(got.map((r) => r.type)).toEqual(['string', 'binary', 'float64', 'boolean', 'int64']);
    s.close();
  });
});

describe('event rings: queries', () => {
  it('topic with sub-topics (or not), time range [start, end), limit, and paging with after', () => {
    const dir = tempDir();
    const s = open(dir);
    for (let i = 0; i < 30; i++) s.append(['/vm/1', '/vm/1/console', '/vm/2', '/vmx'][i % 4]!, `e${i}`, BigInt(i) * 1_000_000n);
    expect(s.events({ topic: '/vm/1' }).length).toBe(16);
    expect(s.events({ topic: '/vm/1', subtopics: false }).length).toBe(8);
    expect(s.events({ topic: '/vm' }).map((r) => r.topic)).not.toContain('/vmx');
    expect(s.events({ topic: '/' }).length).toBe(30);
    expect(s.events({ start: 10n * 1_000_000n, end: 20n * 1_000_000n }).map((r) => r.data)).toEqual(Array.from({ length: 10 }, (_v, i) => `e${i + 10}`));
    // ms numbers are ms since the epoch
    expect(s.events({ start: 25, limit: 2 }).map((r) => r.data)).toEqual(['e25', 'e26']);
    const p1 = s.eventPage({ limit: 20 });
    const p2 = s.eventPage({ after: p1.next });
    expect([...p1.records, ...p2.records].map((r) => r.data)).toEqual(Array.from({ length: 30 }, (_v, i) => `e${i}`));
    expect(s.eventPage({ after: p2.next }).records).toEqual([]);
    s.close();
  });

  it('stats: counts, bytes, oldest and newest', () => {
    const dir = tempDir();
    const s = open(dir, 65536);
    const st0 = s.eventStats();
    expect(st0).toMatchObject({ size: 65536, records: 0, bytesUsed: 0, oldestNs: null, newestNs: null });
    s.append('/a', 'x', 5n);
    s.append('/a', 'y', 9n);
    expect(s.eventStats()).toMatchObject({ records: 2, appended: 2, overwritten: 0, bytesUsed: 2 * 40, oldestNs: 5n, newestNs: 9n, topics: 1 });
    s.close();
  });
});

describe('event rings: wrap-around', () => {
  it('a full ring overwrites its oldest records and keeps the newest whole, in order', () => {
    const dir = tempDir();
    const s = open(dir, 8192);
    const n = 3000;
    // Lengths that vary, so records straddle the end of the ring at every offset.
    const datum = (i: number) => `${i}:` + 'abcdefghijklmnopqrstuvwxyz'.repeat(4).slice(0, (i * 7) % 97);
    for (let i = 0; i < n; i++) s.append('/w', datum(i), BigInt(i));
    const check = (st: Store) => {
      const got = st.events();
      expect(got.length).toBeGreaterThan(20);
      const first = Number(got[0]!.tsNs);
      got.forEach((r, j) => {
        expect(r.tsNs).toBe(BigInt(first + j));
        expect(r.data).toBe(datum(first + j));
      });
      expect(Number(got[got.length - 1]!.tsNs)).toBe(n - 1);
      const stats = st.eventStats();
      expect(stats.records).toBe(got.length);
      expect(stats.appended).toBe(n);
      expect(stats.overwritten).toBe(n - got.length);
      expect(stats.bytesUsed).toBeLessThanOrEqual(8192);
    };
    check(s);
    s.close();
    const r = Store.openReadOnly(dir);
    check(r);
    r.close();
  });

  it('refuses a datum larger than a quarter of the ring', () => {
    const dir = tempDir();
    const s = open(dir, 8192);
    expect(() => s.append('/big', Buffer.alloc(2049))).toThrow(/larger than the ring/);
    s.append('/big', Buffer.alloc(2048));
    s.close();
  });
});

describe('event rings: schemas and nonconformant data', () => {
  it('a datum that does not conform goes to /nonconformant, with the topic it was meant for', () => {
    const dir = tempDir();
    const s = open(dir);
    s.createTopic('/n', 'int8');
    s.createTopic('/arr', '[2]int32');
    s.createTopic('/map', '{"a": int32}');
    expect(s.append('/n', 300)).toBe(NONCONFORMANT_TOPIC);
    expect(s.append('/n', 1.5)).toBe(NONCONFORMANT_TOPIC);
    expect(s.append('/n', 'seven')).toBe(NONCONFORMANT_TOPIC);
    expect(s.append('/n', Buffer.from([1, 2]))).toBe(NONCONFORMANT_TOPIC);
    expect(s.append('/arr', [1, 2, 3])).toBe(NONCONFORMANT_TOPIC);
    expect(s.append('/map', { a: 1, b: 2 })).toBe(NONCONFORMANT_TOPIC);
    expect(s.append('/map', { a: 'x' })).toBe(NONCONFORMANT_TOPIC);
    expect(s.append('/n', -7)).toBe('/n');
    expect(s.events({ topic: '/n' }).map((r) => r.data)).toEqual([-7]);
    const nc = s.events({ topic: NONCONFORMANT_TOPIC });
    expect(nc.map((r) => r.origin)).toEqual(['/n', '/n', '/n', '/n', '/arr', '/map', '/map']);
    expect(nc.map((r) => r.data)).toEqual([300, 1.5, 'seven', Buffer.from([1, 2]), '[1,2,3]', '{"a":1,"b":2}', '{"a":"x"}']);
    expect(s.eventStats().nonconformant).toBe(7);
    s.close();
  });

  it('sub-topics keep their parent schema; another one is refused; a topic keeps its schema', () => {
    const dir = tempDir();
    const s = open(dir);
    s.createTopic('/sensors/temp', 'float64');
    expect(s.createTopic('/sensors/temp/garage').schema).toBe('float64');
    expect(() => s.createTopic('/sensors/temp/attic', 'int32')).toThrow(InvalidValueError);
    expect(() => s.createTopic('/sensors/temp', 'int32')).toThrow(InvalidValueError);
    expect(s.createTopic('/sensors/temp', 'float64').id).toBe(1);
    // Appending to a new sub-topic creates it with the parent's schema.
    expect(s.append('/sensors/temp/cellar', 'warm')).toBe(NONCONFORMANT_TOPIC);
    expect(s.append('/sensors/temp/cellar', 12.5)).toBe('/sensors/temp/cellar');
    expect(s.topics().find((t) => t.name === '/sensors/temp/cellar')!.schema).toBe('float64');
    s.close();
  });

  it('bad topics and schemas are refused, saying why', () => {
    const dir = tempDir();
    const s = open(dir);
    for (const t of ['', 'vm', '/vm/', '/a//b', '/a b', '/a\n'] as const) expect(() => s.append(t, 'x')).toThrow(InvalidValueError);
    for (const sch of ['int', '[0]int8', '[2]string', '{"a": {"b": int8}}', '{}', 'int8 x', '{"a" int8}'])
      expect(() => s.createTopic('/x', sch)).toThrow(ConfigError);
    expect(() => parseSchema('{"a": int8, "a": int8}')).toThrow(/twice/);
    s.close();
  });

  it('a numeric topic recorded as a series too', () => {
    const dir = tempDir();
    const s = open(dir);
    s.createTopic('/vm/1/temp', 'float64', { series: true });
    const now = Date.now();
    s.append('/vm/1/temp', 21.5, BigInt(now) * 1_000_000n);
    expect(() => s.createTopic('/text', 'string', { series: true })).toThrow(/only numeric/);
    const h = s.find('rondo_topic', { topic: '/vm/1/temp' })!;
    expect(h).toBeDefined();
    expect(s.lastPoint(h)?.[1]).toBe(21.5);
    s.close();
  });
});

describe('event rings: older stores', () => {
  // test/fixtures/v1-store is a store of storage format 1 (see test/migrate.test.ts), and its
  // answers what that rondo answered about it.
  const FIXTURE = path.join(__dirname, 'fixtures', 'v1-store');
  type Answer = { series: string; options: { tier?: number }; result: { values: Array<number | null> } };
  const ANSWERS = JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures', 'v1-store-answers.json'), 'utf8')) as { queries: Answer[] };
  const version = (dir: string) => (JSON.parse(fs.readFileSync(path.join(dir, 'rondo.json'), 'utf8')) as { version: number }).version;

  it('a store of format 1 opened with events is migrated to format 3, gets its ring, and answers as before', () => {
    const dir = path.join(tempDir(), 'store');
    fs.cpSync(FIXTURE, dir, { recursive: true });
    const s = open(dir, '64KiB');
    expect(version(dir)).toBe(3);
    s.append('/vm/1/console', 'booted', 1n);
    s.close();
    const r = Store.openReadOnly(dir);
    expect(r.events().map((e) => e.data)).toEqual(['booted']);
    let compared = 0;
    for (const q of ANSWERS.queries) {
      if (q.options.tier !== 0) continue;
      const h = r.series().find((x) => x.key === q.series)!;
      const got = Array.from(r.query(h, q.options).values, (v) => (Number.isNaN(v) ? null : v));
      expect(got, `${q.series} ${JSON.stringify(q.options)}`).toEqual(q.result.values);
      compared++;
    }
    expect(compared).toBeGreaterThan(5);
    r.close();
  });

  it('a store of format 2 is moved to format 3 by a writer (the store file alone), and read as before by a reader first', () => {
    const dir = tempDir();
    const s = Store.open(dir);
    s.record(s.register('m'), 5, Date.now());
    s.close();
    // Make it the store file of format 2 that the previous rondo wrote: the same body, version 2.
    const file = path.join(dir, 'rondo.json');
    const env = JSON.parse(fs.readFileSync(file, 'utf8')) as { version: number };
    env.version = 2;
    fs.writeFileSync(file, JSON.stringify(env) + '\n');
    const slabs = fs.readdirSync(dir).filter((f) => f.endsWith('.slab'));
    const before = new Map(slabs.map((f) => [f, fs.readFileSync(path.join(dir, f))]));
    const r = Store.openReadOnly(dir);
    expect(r.lastPoint(r.find('m')!)?.[1]).toBe(5);
    expect(r.hasEvents).toBe(false);
    r.close();
    expect(version(dir)).toBe(2);
    Store.open(dir).close();
    expect(version(dir)).toBe(3);
    for (const f of slabs) expect(fs.readFileSync(path.join(dir, f)).equals(before.get(f)!), f).toBe(true);
  });
});

describe('event rings: native writers', () => {
  it('native threads appending at once through rondo::EventRing (a mapping of their own) leave only whole records, none lost but those overwritten', () => {
    const dir = tempDir();
    const s = open(dir, '256KiB');
    const topic = s.createTopic('/native', 'binary');
    expect(topic.id).toBe(1); // the bench's threads append to topic 1
    s.append('/native', Buffer.from('from js'));
    const r = devAddon().bench.eventAppends(path.join(dir, 'events.slab'), 4, 20_000, 64);
    expect(r.appends).toBe(80_000);
    const stats = s.eventStats();
    expect(stats.appended).toBe(80_001);
    const got = s.events({ topic: '/native' });
    expect(got.length).toBe(stats.records);
    expect(stats.overwritten).toBe(80_001 - got.length);
    // 256 KiB holds 2730 records of 96 bytes, less what a pad marker takes.
    expect(got.length).toBeGreaterThan(2700);
    const want = Buffer.alloc(64, 0x5a);
    expect(got.findIndex((e) => !(e.data as Buffer).equals(want))).toBe(-1);
    s.close();
  });
});

describe('event rings: the store', () => {
  it('a store without a ring says how to add one; adding one later keeps the metrics; its size is fixed', () => {
    const dir = tempDir();
    const s = Store.open(dir);
    const h = s.register('m');
    s.record(h, 1, Date.now());
    expect(() => s.append('/a', 'x')).toThrow(/events/);
    s.close();
    expect(fs.existsSync(path.join(dir, 'events.slab'))).toBe(false);
    const t = open(dir, '64KiB');
    t.append('/a', 'x');
    expect(t.lastPoint(t.find('m')!)?.[1]).toBe(1);
    t.close();
    expect(() => open(dir, '128KiB')).toThrow(ConfigError);
    const u = Store.open(dir);
    expect(u.events().map((r) => r.data)).toEqual(['x']);
    u.close();
  });

  it('a ring cut short under its mapping is refused with CorruptFileError, and the process lives on', () => {
    const dir = tempDir();
    const s = open(dir, '64KiB');
    s.append('/a', 'before');
    fs.truncateSync(path.join(dir, 'events.slab'), 0);
    expect(() => s.append('/a', 'after')).toThrow(CorruptFileError);
    expect(() => s.events()).toThrow(CorruptFileError);
    expect(() => s.append('/a', 'again')).toThrow(CorruptFileError);
    s.close();
    expect(() => Store.open(dir)).toThrow(CorruptFileError);
  });

  it('a reader sees topics and events appended after it opened', () => {
    const dir = tempDir();
    const s = open(dir);
    s.append('/a', 'one');
    const r = Store.openReadOnly(dir);
    s.createTopic('/b', 'int16');
    s.append('/b', 5);
    expect(r.events().map((e) => [e.topic, e.data])).toEqual([
      ['/a', 'one'],
      ['/b', 5],
    ]);
    expect(() => r.append('/a', 'x')).toThrow(/read-only/);
    r.close();
    s.close();
  });
});
