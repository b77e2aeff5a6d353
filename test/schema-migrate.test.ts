// Schema migrations (docs/migrations.md): every change of schema the issue lists, the migrated
// store's data checked point by point against the source store's own queries (a copy of the
// store kept as it was); shrinking maxSeries below the live series refused, naming them; the
// series index, handles and exporter cursors carried; a switch cut off part-way finished by
// the next open; the rondo migrate command.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CapacityError, NotAStoreError, SchemaMismatchError, Store, StoreLockedError, type Aggregation, type SchemaOptions, type SeriesHandle } from '../src/index';
import { setMigrationHook, switchDirs } from '../src/store/schema-migrate';
import { ROOT } from './fixtures/build';
import { tempDir } from './helpers';

const CLI = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');

// The data ends at END (a whole number of 5-minute buckets before it); migrations and the source
// store's consolidation use END as now, so both have consolidated the same buckets.
const END = Math.floor((Date.now() - 360_000) / 300_000) * 300_000;
const SPAN = 2 * 3_600_000;
const FROM = END - 8 * 3_600_000;

const BASE: SchemaOptions = {
  name: 'vm',
  match: {},
  maxSeries: 8,
  tiers: [
    { interval: '1s', retention: '10m' },
    { interval: '10s', retention: '1h', aggregates: ['avg', 'min', 'max'] },
    { interval: '1m', retention: '6h' },
  ],
};

const SERIES: Array<{ name: string; labels: Record<string, string>; kind?: 'counter' }> = [
  { name: 'cpu', labels: { vcpu: '0', class: 'hot' } },
  { name: 'cpu', labels: { vcpu: '1', class: 'hot' } },
  { name: 'mem', labels: {} },
  { name: 'exits_total', labels: {}, kind: 'counter' },
];

/** A store of `schemas` with SPAN of 1 s points of SERIES (gaps included), consolidated as an agent does. */
function makeStore(dir: string, schemas: SchemaOptions[] = [BASE]): void {
  const s = Store.open(dir, { schemas });
  const hs = SERIES.map((x) => s.register(x.name, x.labels, { kind: x.kind ?? 'gauge' }));
  let total = 0;
  for (let ts = END - SPAN; ts < END; ts += 1000) {
    const i = (ts - END) / 1000;
    if (i % 97 !== 0) s.record(hs[0]!, Math.sin(i / 50) * 10 + 0.1, ts);
    s.record(hs[1]!, ((i * 7919) % 13) + 0.25, ts);
    if (((i % 600) + 600) % 600 < 500) s.record(hs[2]!, 1000 + i / 3, ts);
    total += 3;
    s.record(hs[3]!, total, ts);
    if (i % 60 === 0) s.consolidate({ now: ts });
  }
  s.consolidate({ now: END });
  s.close();
}

/** A store and an untouched copy of it (the reference the migrated data is checked against). */
function storeAndCopy(schemas?: SchemaOptions[]): { dir: string; ref: string } {
  const root = tempDir();
  const dir = path.join(root, 'store');
  const ref = path.join(root, 'ref');
  makeStore(dir, schemas);
  fs.cpSync(dir, ref, { recursive: true });
  return { dir, ref };
}

function migrate(dir: string, schemas: SchemaOptions[]): Store {
  return Store.open(dir, { schemas, migrate: true, clock: () => END });
}

function query(store: Store, h: SeriesHandle, tier: number, agg?: Aggregation): { ts: number[]; vs: number[] } {
  const r = store.query(h, { start: FROM, end: END, tier, ...(agg === undefined ? {} : { agg }) });
  return { ts: Array.from(r.timestamps), vs: Array.from(r.values) };
}

/** Every series of `ref`, tier `tier` of ref against tier `tier2` of the migrated store: the same points. */
function expectSameTier(ref: Store, store: Store, tier: number, tier2 = tier, agg?: Aggregation): number {
  let present = 0;
  for (const h of ref.series()) {
    const h2 = store.find(h.name, h.labels);
    expect(h2, h.key).toBeDefined();
    const a = query(ref, h, tier, h.kind === 'counter' ? undefined : agg);
    const b = query(store, h2!, tier2, h.kind === 'counter' ? undefined : agg);
    expect(b.ts).toEqual(a.ts);
    expect(b.vs, `${h.key} tier ${tier}`).toEqual(a.vs);
    present += a.vs.filter((v) => !Number.isNaN(v)).length;
  }
  expect(present).toBeGreaterThan(0);
  return present;
}

/** The bucket of `iv` ms at `start`, made from the source store: its raw points when tier 0 holds the bucket whole, else from `tier` (the buckets it keeps counted full). */
function expectedBucket(ref: Store, h: SeriesHandle, start: number, iv: number, fallback: number[]): Record<'avg' | 'min' | 'max' | 'last' | 'sum' | 'count', number> | undefined {
  const info = ref.info({ series: false }).schemas.find((s) => s.name === h.schema)!;
  const raw = info.tiers[0]!;
  const none = { avg: NaN, min: NaN, max: NaN, last: NaN, sum: NaN, count: NaN };
  if (raw.oldest !== null && start >= raw.oldest) {
    const r = ref.query(h, { start, end: start + iv - 1, tier: 0 });
    const vs = Array.from(r.values).filter((v) => !Number.isNaN(v));
    if (vs.length === 0) return undefined;
    const sum = vs.reduce((x, y) => x + y, 0);
    return { avg: sum / vs.length, min: Math.min(...vs), max: Math.max(...vs), last: vs[vs.length - 1]!, sum, count: vs.length };
  }
  for (const t of fallback) {
    const step = info.tiers[t]!.intervalMs;
    const full = step / raw.intervalMs;
    const get = (agg: Aggregation) => Array.from(ref.query(h, { start, end: start + iv - 1, tier: t, ...(h.kind === 'counter' ? {} : { agg }) }).values);
    if (h.kind === 'counter') {
      const vs = get('last').filter((v) => !Number.isNaN(v));
      if (vs.length > 0) return { ...none, last: vs[vs.length - 1]! };
      continue;
    }
    const avgs = get('avg');
    const present = avgs.filter((v) => !Number.isNaN(v));
    if (present.length === 0) continue;
    const keeps = info.tiers[t]!.aggregates;
    const pick = (agg: Aggregation, f: (v: number[]) => number) => (keeps.includes(agg) ? f(get(agg).filter((v) => !Number.isNaN(v))) : NaN);
    return {
      ...none,
      avg: present.reduce((x, y) => x + y * full, 0) / (present.length * full),
      min: pick('min', (v) => Math.min(...v)),
      max: pick('max', (v) => Math.max(...v)),
    };
  }
  return undefined;
}

/** Tier `tier` of the migrated store against buckets made from the source store (expectedBucket). */
function expectMadeTier(ref: Store, store: Store, tier: number, fallback: number[], aggs: Aggregation[], digits = 5): number {
  let checked = 0;
  for (const h of ref.series()) {
    const h2 = store.find(h.name, h.labels)!;
    const t = store.info({ series: false }).schemas.find((s) => s.name === h2.schema)!.tiers[tier]!;
    const oldest = Math.max(t.oldest ?? END, END - SPAN - t.intervalMs);
    for (const agg of h.kind === 'counter' ? (['last'] as Aggregation[]) : aggs) {
      const got = store.query(h2, { start: oldest, end: END - 1, tier, ...(h.kind === 'counter' ? {} : { agg }) });
      for (let i = 0; i < got.timestamps.length; i++) {
        const start = got.timestamps[i]!;
        if (start + t.intervalMs > END) continue;
        const want = expectedBucket(ref, h, start, t.intervalMs, fallback);
        const v = got.values[i]!;
        const w = want === undefined ? NaN : want[agg as keyof typeof want];
        if (Number.isNaN(w)) expect(v, `${h.key} ${agg} at ${new Date(start).toISOString()}`).toBeNaN();
        else {
          expect(v, `${h.key} ${agg} at ${new Date(start).toISOString()}`).toBeCloseTo(w, digits - Math.max(0, Math.ceil(Math.log10(Math.abs(w) + 1))));
          checked++;
        }
      }
    }
  }
  expect(checked).toBeGreaterThan(0);
  return checked;
}

function withStores<T>(ref: string, store: Store, f: (ref: Store, store: Store) => T): T {
  const r = Store.openReadOnly(ref);
  try {
    return f(r, store);
  } finally {
    r.close();
    store.close();
  }
}

describe('schema migrations carry the data over', () => {
  it('tier retention longer and shorter: every point the new rings hold is the source store\'s', () => {
    const { dir, ref } = storeAndCopy();
    const target: SchemaOptions = {
      ...BASE,
      tiers: [{ interval: '1s', retention: '20m' }, { interval: '10s', retention: '30m', aggregates: ['avg', 'min', 'max'] }, { interval: '1m', retention: '12h' }],
    };
    const store = migrate(dir, [target]);
    const report0 = store.migration!;
    expect(report0.changes.join('\n')).toMatch(/tier 0: 1s × 10m -> 1s × 20m/);
    withStores(ref, store, (r, s) => {
      expectSameTier(r, s, 0);
      expectSameTier(r, s, 2);
      // Tier 1 holds the newest 30 minutes: those points are the source's, older ones are gone.
      const held = s.info({ series: false }).schemas[0]!.tiers[1]!;
      expect(held.slots).toBe(180);
      for (const h of r.series()) {
        const a = r.query(h, { start: held.oldest!, end: END, tier: 1 });
        const b = s.query(s.find(h.name, h.labels)!, { start: held.oldest!, end: END, tier: 1 });
        expect(Array.from(b.values)).toEqual(Array.from(a.values));
        expect(Array.from(a.values).some((v) => !Number.isNaN(v))).toBe(true);
      }
    });
    // The report counts the points the new tiers hold; a dry run counts the same and changes nothing.
    const s = Store.openReadOnly(dir);
    const held = [0, 1, 2].map((t) => s.series().reduce((n, h) => n + query(s, h, t).vs.filter((v) => !Number.isNaN(v)).length, 0));
    s.close();
    expect(held[1]).toBeGreaterThan(0);
    expect(report0.tiers.map((t) => t.points)).toEqual(held);
    const dry = Store.migrate(ref, { schemas: [target], dryRun: true, clock: () => END });
    expect(dry.dryRun).toBe(true);
    expect(dry.tiers.map((t) => t.points)).toEqual(held);
    expect(Store.openReadOnly(ref).info().schemas[0]!.tiers[0]!.retentionMs).toBe(600_000);
  });

  it('a tier interval changes: its buckets are made from tier 0 where it holds them, else from the finer tier', () => {
    const { dir, ref } = storeAndCopy();
    const store = migrate(dir, [{ ...BASE, tiers: [BASE.tiers![0]!, { interval: '20s', retention: '1h', aggregates: ['avg', 'min', 'max'] }, BASE.tiers![2]!] }]);
    withStores(ref, store, (r, s) => {
      expectSameTier(r, s, 0);
      expectSameTier(r, s, 2);
      expectMadeTier(r, s, 1, [1], ['avg', 'min', 'max']);
    });
  });

  it('a coarser tier added is filled from what the store keeps (tier 0, then the finest tier that has the bucket)', () => {
    const { dir, ref } = storeAndCopy();
    const store = migrate(dir, [{ ...BASE, tiers: [...BASE.tiers!, { interval: '5m', retention: '1d' }] }]);
    withStores(ref, store, (r, s) => {
      for (const t of [0, 1, 2]) expectSameTier(r, s, t);
      expectMadeTier(r, s, 3, [1, 2], ['avg', 'max']);
      // Tier 0 holds 10 minutes, tier 1 an hour: the 2 hours of data come in part from tier 2.
      const h = s.find('mem')!;
      const got = Array.from(s.query(h, { start: END - SPAN, end: END - 1, tier: 3 }).values);
      expect(got.filter((v) => !Number.isNaN(v))).toHaveLength(SPAN / 300_000);
    });
    // consolidate() carries on from where the migration left the new tier.
    const s = Store.open(dir);
    const h = s.find('mem')!;
    for (let ts = END; ts < END + 600_000 && ts < Date.now(); ts += 1000) s.record(h, 5, ts);
    s.consolidate({ now: Math.min(Date.now(), END + 600_000) });
    const after = s.query(h, { start: END, end: END + 299_999, tier: 3 });
    if (Date.now() >= END + 300_000) expect(after.values[0]).toBe(5);
    s.close();
  });

  it('a tier removed (the middle one): the others keep every point', () => {
    const { dir, ref } = storeAndCopy();
    const store = migrate(dir, [{ ...BASE, tiers: [BASE.tiers![0]!, BASE.tiers![2]!] }]);
    expect(store.migration?.changes.join('\n')).toMatch(/tier 2 removed/);
    withStores(ref, store, (r, s) => {
      expectSameTier(r, s, 0);
      expectSameTier(r, s, 2, 1);
    });
  });

  it('maxSeries grows, and shrinks as far as the live series allow', () => {
    const { dir, ref } = storeAndCopy();
    let store = migrate(dir, [{ ...BASE, maxSeries: 64 }]);
    withStores(ref, store, (r, s) => {
      for (const t of [0, 1, 2]) expectSameTier(r, s, t);
    });
    // A series registered but never recorded holds no point: it makes room when maxSeries shrinks.
    store = Store.open(dir);
    store.register('idle');
    store.close();
    store = migrate(dir, [{ ...BASE, maxSeries: 4 }]);
    expect(store.migration?.seriesDropped).toEqual([{ key: 'idle', schema: 'vm', reason: expect.stringMatching(/holds no point/) }]);
    expect(store.info().schemas[0]!.maxSeries).toBe(4);
    withStores(ref, store, (r, s) => {
      for (const t of [0, 1, 2]) expectSameTier(r, s, t);
    });
  });

  it('shrinking maxSeries below the live series is refused, naming those that would not fit, and the store stays as it was', () => {
    const { dir, ref } = storeAndCopy();
    let err: unknown;
    try {
      migrate(dir, [{ ...BASE, maxSeries: 2 }]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CapacityError);
    expect((err as Error).message).toMatch(/maxSeries 2 cannot hold its 4 live series/);
    expect((err as Error).message).toContain('these would not fit: mem, exits_total;');
    expect((err as Error).message).not.toContain('vcpu="0"');
    expect(fs.readdirSync(path.dirname(dir)).sort()).toEqual(['ref', 'store']);
    withStores(ref, Store.open(dir), (r, s) => {
      expect(s.info().schemas[0]!.maxSeries).toBe(8);
      for (const t of [0, 1, 2]) expectSameTier(r, s, t);
    });
  });

  it('routing changes: series move to the schema their labels now match, with their data', () => {
    const hot: SchemaOptions = { ...BASE, name: 'hot', match: { class: 'hot' } };
    const rest: SchemaOptions = { ...BASE, name: 'rest', match: {} };
    const { dir, ref } = storeAndCopy([hot, rest]);
    const store = migrate(dir, [{ ...hot, match: { class: 'warm' } }, rest]);
    const moved = store.migration!.seriesMoved.map((m) => `${m.key} ${m.from.schema}[${m.from.column}] -> ${m.to.schema}[${m.to.column}]`);
    expect(moved).toEqual(['cpu{class="hot",vcpu="0"} hot[0] -> rest[0]', 'cpu{class="hot",vcpu="1"} hot[1] -> rest[1]', 'mem rest[0] -> rest[2]', 'exits_total rest[1] -> rest[3]']);
    expect(store.find('cpu', { vcpu: '0', class: 'hot' })!.schema).toBe('rest');
    withStores(ref, store, (r, s) => {
      for (const t of [0, 1, 2]) expectSameTier(r, s, t);
    });
  });

  it('a schema added and one removed: series go where they now route, those that route nowhere are dropped (reported)', () => {
    const hot: SchemaOptions = { ...BASE, name: 'hot', match: { class: 'hot' } };
    const rest: SchemaOptions = { ...BASE, name: 'rest', match: {} };
    const { dir, ref } = storeAndCopy([hot, rest]);
    // "hot" removed, "counters" added in front taking exits_total: cpu goes to rest.
    const counters: SchemaOptions = { ...BASE, name: 'counters', match: { __name__: 'exits_total' }, tiers: [{ interval: '1s', retention: '10m' }, { interval: '1m', retention: '6h' }] };
    let store = migrate(dir, [counters, rest]);
    expect(store.migration!.changes).toEqual(expect.arrayContaining(['schema "hot" removed', expect.stringMatching(/^schema "counters" added/)]));
    expect(store.find('exits_total')!.schema).toBe('counters');
    expect(store.find('cpu', { vcpu: '1', class: 'hot' })!.schema).toBe('rest');
    withStores(ref, store, (r, s) => {
      expectSameTier(r, s, 0);
      const h = r.find('exits_total')!;
      expect(query(s, s.find('exits_total')!, 1).vs).toEqual(query(r, h, 2).vs);
    });
    // Only a schema for cpu: mem and exits_total match none, and are dropped.
    store = migrate(dir, [{ ...BASE, name: 'cpu', match: { __name__: 'cpu' } }]);
    expect(store.migration!.seriesDropped.map((d) => d.key)).toEqual(['mem', 'exits_total']);
    expect(store.series().map((h) => h.key)).toEqual(['cpu{class="hot",vcpu="0"}', 'cpu{class="hot",vcpu="1"}']);
    withStores(ref, store, (r, s) => {
      for (const key of [{ vcpu: '0', class: 'hot' }, { vcpu: '1', class: 'hot' }])
        for (const t of [0, 1, 2]) expect(query(s, s.find('cpu', key)!, t).vs).toEqual(query(r, r.find('cpu', key)!, t).vs);
    });
  });

  it('aggregates and precision of a tier change: what the old cells kept is kept, the rest made from tier 0 where it holds the bucket', () => {
    const { dir, ref } = storeAndCopy();
    const all: Aggregation[] = ['avg', 'min', 'max', 'sum', 'count', 'last'];
    const store = migrate(dir, [{ ...BASE, tiers: [BASE.tiers![0]!, { interval: '10s', retention: '1h', aggregates: all, precision: 'float64' }, { ...BASE.tiers![2]!, aggregates: ['avg', 'max'], precision: 'float64' }] }]);
    withStores(ref, store, (r, s) => {
      // Tier 2 kept the same aggregates: float32 values are exact as float64.
      expectSameTier(r, s, 2);
      expectSameTier(r, s, 2, 2, 'max');
      // Tier 1: tier 0 holds its newest 10 minutes, where every aggregate is made exact; before,
      // avg, min and max are the old cells', sum and count made from avg (each bucket full), last unknown.
      const rawOldest = r.info({ series: false }).schemas[0]!.tiers[0]!.oldest!;
      for (const h of r.series()) {
        if (h.kind === 'counter') continue;
        const h2 = s.find(h.name, h.labels)!;
        for (const agg of all) {
          const got = s.query(h2, { start: END - 3_600_000, end: END - 1, tier: 1, agg });
          const old = agg === 'avg' || agg === 'min' || agg === 'max' ? r.query(h, { start: END - 3_600_000, end: END - 1, tier: 1, agg }) : undefined;
          for (let i = 0; i < got.timestamps.length; i++) {
            const start = got.timestamps[i]!;
            const v = got.values[i]!;
            if (start >= rawOldest) {
              const want = expectedBucket(r, h, start, 10_000, []);
              if (want === undefined) expect(v).toBeNaN();
              else expect(v, `${h.key} ${agg} ${start}`).toBeCloseTo(want[agg], 9);
            } else if (old !== undefined) {
              expect(Object.is(v, old.values[i]) || v === old.values[i], `${h.key} ${agg} ${start}`).toBe(true);
            } else if (agg === 'last') expect(v).toBeNaN();
            else if (agg === 'count') expect(Number.isNaN(v) || v === 10).toBe(true);
          }
        }
      }
    });
  });

  it('without migrate, the mismatch names the option and the command; with the same schemas, migrate does nothing', () => {
    const { dir } = storeAndCopy();
    expect(() => Store.open(dir, { schemas: [{ ...BASE, maxSeries: 9 }] })).toThrow(SchemaMismatchError);
    expect(() => Store.open(dir, { schemas: [{ ...BASE, maxSeries: 9 }] })).toThrow(/migrate: true.*rondo migrate <dir> --schema <file>/);
    const s = migrate(dir, [BASE]);
    expect(s.migration).toBeUndefined();
    s.close();
  });

  it('a store of storage format 1 (the shipped fixture) with other schemas: migrated to format 2, then to them, every point kept', () => {
    const root = tempDir();
    const dir = path.join(root, 'store');
    const refDir = path.join(root, 'ref');
    fs.cpSync(path.join(__dirname, 'fixtures', 'v1-store'), dir, { recursive: true });
    fs.cpSync(path.join(__dirname, 'fixtures', 'v1-store'), refDir, { recursive: true });
    Store.open(refDir).close(); // the format migration alone: the reference
    const ref = Store.openReadOnly(refDir);
    const on = ref.info({ series: false }).schemas;
    const schemas: SchemaOptions[] = on.map((x) => ({
      name: x.name,
      match: x.match,
      maxSeries: x.maxSeries * 2,
      tiers: x.tiers.map((t, i) => ({ interval: t.intervalMs, retention: t.retentionMs * 2, consolidate: t.consolidate, xff: t.xff, ...(i > 0 ? { aggregates: [...t.aggregates], precision: t.precision } : {}) })),
    }));
    const store = Store.open(dir, { schemas, migrate: true });
    let present = 0;
    withStores(refDir, store, (_r, s) => {
      for (const h of ref.series()) {
        const h2 = s.find(h.name, h.labels)!;
        on.find((x) => x.name === h.schema)!.tiers.forEach((t, i) => {
          if (t.oldest === null) return;
          const o = { start: t.oldest, end: t.newest! + t.intervalMs - 1, tier: i };
          const a = Array.from(ref.query(h, o).values);
          expect(Array.from(s.query(h2, o).values), `${h.key} tier ${i}`).toEqual(a);
          present += a.filter((v) => !Number.isNaN(v)).length;
        });
      }
    });
    ref.close();
    expect(present).toBeGreaterThan(500);
  });

  it('Store.migrate refuses what is not a store (making nothing) and a symbolic link to one', () => {
    const root = tempDir();
    const missing = path.join(root, 'missing');
    expect(() => Store.migrate(missing, { schemas: [BASE] })).toThrow(NotAStoreError);
    expect(fs.existsSync(missing)).toBe(false);
    fs.mkdirSync(missing);
    expect(() => Store.migrate(missing, { schemas: [BASE], dryRun: true })).toThrow(/nothing to migrate/);
    expect(fs.readdirSync(missing)).toEqual([]);
    const { dir } = storeAndCopy();
    const link = path.join(root, 'link');
    fs.symlinkSync(dir, link);
    expect(() => Store.migrate(link, { schemas: [{ ...BASE, maxSeries: 9 }] })).toThrow(/is a symbolic link; migrate the directory it points to/);
    expect(Store.migrate(dir, { schemas: [{ ...BASE, maxSeries: 9 }] }).changes).toEqual(['schema "vm" maxSeries 8 -> 9']);
  });

  it('series handles, ids and the series index carry over; new series take the next column', () => {
    const { dir } = storeAndCopy();
    const before = Store.openReadOnly(dir);
    const keys = before.series().map((h) => `${h.id} ${h.key} ${h.kind}`);
    before.close();
    // Files another tool keeps in the store directory come along as they are.
    fs.mkdirSync(path.join(dir, 'events'));
    fs.writeFileSync(path.join(dir, 'events', 'ring.bin'), 'abc');
    const s = migrate(dir, [{ ...BASE, maxSeries: 16 }]);
    expect(s.migration!.copied).toEqual(['events']);
    expect(fs.readFileSync(path.join(dir, 'events', 'ring.bin'), 'utf8')).toBe('abc');
    expect(s.series().map((h) => `${h.id} ${h.key} ${h.kind}`)).toEqual(keys);
    const h = s.register('new_one');
    expect([h.id, h.column]).toEqual([4, 4]);
    s.record(h, 7, END);
    expect(s.lastPoint(h)).toEqual([END, 7]);
    s.close();
    const again = Store.openReadOnly(dir);
    expect(again.series()).toHaveLength(5);
    again.close();
  });

  it('exporter cursors are kept by series identity and time: nothing exported before is skipped or lost, nothing much sent again', () => {
    const { dir, ref } = storeAndCopy();
    let s = Store.open(dir);
    const e = s.exporter('prom');
    let last = 0;
    for (let i = 0; i < 3; i++) {
      const b = e.next({ maxSamples: 400, until: END });
      last = b.end!;
      b.commit();
    }
    const pos = e.positions.vm!;
    e.end(s.find('mem')!, END + 5000);
    s.close();
    // Tier 0's interval doubles and a schema takes the counter: both new schemas start at the time reached.
    const counters: SchemaOptions = { ...BASE, name: 'counters', match: { __name__: 'exits_total' } };
    s = migrate(dir, [counters, { ...BASE, tiers: [{ interval: '2s', retention: '10m' }, BASE.tiers![1]!, BASE.tiers![2]!] }]);
    expect(s.migration!.exporters).toEqual([{ name: 'prom', carried: true }]);
    const e2 = s.exporter('prom');
    expect(e2.positions.vm).toEqual({ k: Math.floor((pos.k * 1000) / 2000), col: 0 });
    expect(e2.positions.counters).toEqual({ k: pos.k, col: 0 });
    const b = e2.next({ maxSamples: 1_000_000, until: END + 10_000 });
    const first = Math.min(...b.series.map((x) => x.timestamps[0]!));
    expect(first).toBeGreaterThanOrEqual(pos.k * 1000 - 2000);
    expect(first).toBeLessThanOrEqual(last + 2000);
    // The stale marker follows its series (mem, id 2 before and after).
    const mem = b.series.find((x) => x.name === 'mem')!;
    expect(mem.stale).toBeDefined();
    // The counter kept its 1 s tier: the batch holds every point the source store has from the
    // cursor's time on, none before.
    const r = Store.openReadOnly(ref);
    const src = r.query(r.find('exits_total')!, { start: pos.k * 1000, end: END, tier: 0 });
    const want = Array.from(src.timestamps).filter((_, i) => !Number.isNaN(src.values[i]));
    r.close();
    expect(want.length).toBeGreaterThan(100);
    expect(b.series.find((x) => x.name === 'exits_total')!.timestamps).toEqual(want);
    s.close();
  });

  it('an exporter in use by another process refuses the migration', () => {
    const { dir } = storeAndCopy();
    const reader = Store.openReadOnly(dir);
    reader.exporter('busy');
    try {
      expect(() => migrate(dir, [{ ...BASE, maxSeries: 9 }])).toThrow(/exporter "busy" .* is in use/);
    } finally {
      reader.close();
    }
    migrate(dir, [{ ...BASE, maxSeries: 9 }]).close();
  });

  it('the writer lock is held throughout: another writer is refused while the switch is under way', () => {
    const { dir } = storeAndCopy();
    const seen: string[] = [];
    setMigrationHook((step) => {
      if (step === 'building' || step === 'moved-old' || step === 'switched') {
        expect(() => Store.open(dir)).toThrow(StoreLockedError);
        seen.push(step);
      }
      if (step === 'moved-old') expect(() => Store.openReadOnly(dir)).toThrow(StoreLockedError);
    });
    try {
      migrate(dir, [{ ...BASE, maxSeries: 9 }]).close();
    } finally {
      setMigrationHook(undefined);
    }
    expect(seen).toEqual(['building', 'moved-old', 'switched']);
  });

  it.each([
    ['planned', 'old'],
    ['slabs', 'old'],
    ['built', 'old'],
    ['moved-old', 'new'],
    ['switched', 'new'],
  ])('a migration cut off at step %s: the next open finds the %s store whole, and nothing left beside it', (at, which) => {
    const { dir, ref } = storeAndCopy();
    const target = [{ ...BASE, maxSeries: 9, tiers: [...BASE.tiers!, { interval: '5m', retention: '1d' }] }];
    setMigrationHook((step) => {
      if (step === at) throw new Error(`cut off at ${step}`);
    });
    try {
      expect(() => migrate(dir, target)).toThrow(`cut off at ${at}`);
    } finally {
      setMigrationHook(undefined);
    }
    const s = Store.open(dir);
    expect(s.info().schemas[0]!.maxSeries).toBe(which === 'old' ? 8 : 9);
    const { fresh, old } = switchDirs(dir);
    expect(fs.existsSync(fresh) || fs.existsSync(old)).toBe(false);
    withStores(ref, s, (r, st) => {
      for (const t of [0, 1, 2]) expectSameTier(r, st, t);
    });
  });
});

describe('rondo migrate', () => {
  const run = (args: string[]) => spawnSync(process.execPath, [CLI, 'migrate', ...args], { encoding: 'utf8' });

  it('--dry-run says what would be done and changes nothing; then it migrates', () => {
    const { dir, ref } = storeAndCopy();
    const file = path.join(path.dirname(dir), 'schemas.json');
    fs.writeFileSync(file, JSON.stringify([{ ...BASE, maxSeries: 32, tiers: [...BASE.tiers!, { interval: '5m', retention: '1d' }] }]));
    const dry = run([dir, '--schema', file, '--dry-run']);
    expect(dry.status, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/^would migrate store /);
    expect(dry.stdout).toContain('schema "vm" maxSeries 8 -> 32');
    expect(dry.stdout).toMatch(/vm tier 3 \(5m × 1d\): \d+/);
    expect(Store.openReadOnly(dir).info().schemas[0]!.maxSeries).toBe(8);
    const done = run([dir, '--schema', file, '--format', 'json']);
    expect(done.status, done.stderr).toBe(0);
    const report = JSON.parse(done.stdout);
    expect(report.dryRun).toBe(false);
    expect(report.seriesKept).toBe(4);
    const s = Store.openReadOnly(dir);
    expect(s.info().schemas[0]!.maxSeries).toBe(32);
    withStores(ref, s, (r, st) => {
      expectSameTier(r, st, 0);
    });
    const again = run([dir, '--schema', file]);
    expect(again.stdout).toMatch(/nothing to do/);
  });

  it('refusals and mistakes: exit 1 naming the series, exit 2 for a bad schema file', () => {
    const { dir } = storeAndCopy();
    const file = path.join(path.dirname(dir), 'small.json');
    fs.writeFileSync(file, JSON.stringify([{ ...BASE, maxSeries: 3 }]));
    const r = run([dir, '--schema', file]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/CapacityError: .*these would not fit: exits_total;/);
    fs.writeFileSync(file, '{"not": "an array"}');
    expect(run([dir, '--schema', file]).status).toBe(2);
    expect(run([dir]).status).toBe(2);
    fs.writeFileSync(file, JSON.stringify([{ ...BASE, maxSeries: -1 }]));
    const bad = run([dir, '--schema', file]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--schema: .*maxSeries -1 is not valid/);
  });
});
