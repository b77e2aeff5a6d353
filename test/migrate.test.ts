// Migration of a store of storage format 1 to format 2 on a writer's open (docs/storage-format.md,
// "Format 1 and its migration"). test/fixtures/v1-store/ is a format-1 store made by a format-1
// rondo, and test/fixtures/v1-store-answers.json what that rondo answered about it
// (test/fixtures/make-v1-store.js made both): a copy opened here must answer the same, gauges of
// the consolidated tiers within float32's precision (they are float32 now), counters and tier 0
// exactly; aggregates the migrated tiers no longer keep are refused by name. A reader cannot
// migrate and says so; a second open changes nothing; a migration cut off part-way is rolled back
// or finished by the next writer's open (test/format-migrate-crash.test.ts kills one at every step).
// test/fixtures/v2-store/ is a store of format 2, the current one (test/fixtures/make-v2-store.js):
// it opens as it is and answers as recorded.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AGGREGATIONS, AggregateNotKeptError, CorruptFileError, MigrationNeededError, SchemaMismatchError, Store, type Aggregation, type QueryOptions, type SchemaOptions } from '../src/index';
import { instantQuery, rangeQuery, type PromqlData } from '../src/promql';
import { addon, format } from '../src/store/native';
import { slabParams, STORE_VERSION } from '../src/store/layout';
import { MIGRATION_DIR, MIGRATION_JOURNAL, setFormatMigrationHook } from '../src/store/migrate';
import { tempDir } from './helpers';

const FIXTURE = path.join(__dirname, 'fixtures', 'v1-store');
const ANSWERS = JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures', 'v1-store-answers.json'), 'utf8')) as Answers;
const SLABS = ['fb.t0.slab', 'fb.t1.slab', 'fx.t0.slab', 'fx.t1.slab', 'fx.t2.slab'];

type Nums = Array<number | null>;
interface Result {
  tier: number;
  step: number;
  agg: string;
  segments: unknown[];
  points: number;
  values: Nums;
}
interface Answers {
  now: number;
  queries: Array<{ series: string; options: QueryOptions; result: Result }>;
  selects: Array<{ selector: string; options: QueryOptions; result: Array<Result & { name: string; labels: Record<string, string>; kind: string }> }>;
  info: Record<string, unknown> & { schemas: Array<Record<string, unknown> & { tiers: Array<Record<string, unknown>> }>; totals: { series: number; bytes: number } };
  promql: Array<{ type: 'instant' | 'range'; expr: string; args: number[]; result: PromqlData }>;
  exports: Array<{ tier: number; samples: number; series: Array<{ id: number; kind: string; timestamps: number[]; values: Nums }> }>;
}

/** A copy of the fixture to work on. */
function copyFixture(): string {
  const dir = path.join(tempDir(), 'store');
  fs.cpSync(FIXTURE, dir, { recursive: true });
  return dir;
}

function headerVersion(file: string): number {
  const fd = fs.openSync(file, 'r');
  try {
    const b = Buffer.alloc(12);
    fs.readSync(fd, b, 0, 12, 0);
    return b.readUInt32LE(format.offsets.version);
  } finally {
    fs.closeSync(fd);
  }
}

function storeFileVersion(dir: string): number {
  return (JSON.parse(fs.readFileSync(path.join(dir, 'rondo.json'), 'utf8')) as { version: number }).version;
}

const F32 = 2 ** -24;
/** got equals want, or (float32) is within float32's rounding of it. */
function close(got: number | null, want: number | null, float32: boolean): boolean {
  if (want === null || got === null || Number.isNaN(got)) return (got === null || Number.isNaN(got)) && want === null;
  if (!float32) return got === want;
  return Math.abs(got - want) <= Math.abs(want) * F32;
}

function expectValues(got: Nums, want: Nums, float32: boolean, what: string): void {
  expect(got.length, what).toBe(want.length);
  const bad = got.findIndex((g, i) => !close(g, want[i]!, float32));
  expect(bad, `${what}: point ${bad} is ${got[bad]}, format 1 answered ${want[bad]}`).toBe(-1);
}

const nums = (a: Float64Array): Nums => Array.from(a, (v) => (Number.isNaN(v) ? null : v));

/** Whether a migrated tier keeps the aggregate for this kind of series (the defaults: consolidate and max). */
function kept(store: Store, schema: string, tier: number, kind: string, agg: Aggregation | undefined): boolean {
  if (tier === 0 || agg === undefined) return true;
  if (kind === 'counter') return agg === 'last';
  const t = store.info({ series: false }).schemas.find((s) => s.name === schema)!.tiers[tier]!;
  return t.aggregates.includes(agg);
}

/**
 * Every answer format 1 gave about the fixture, from `store` (a migrated copy): with the default
 * aggregates, or (`exact`) migrated to tiers that keep every aggregate as float64.
 */
function checkAnswers(store: Store, exact = false): void {
  let compared = 0;
  let refused = 0;
  for (const q of ANSWERS.queries) {
    const h = store.series().find((x) => x.key === q.series)!;
    const tier = typeof q.options.tier === 'number' ? q.options.tier : undefined;
    if (tier !== undefined && !kept(store, h.schema, tier, h.kind, q.options.agg)) {
      expect(() => store.query(h, q.options), `${q.series} ${JSON.stringify(q.options)}`).toThrow(AggregateNotKeptError);
      refused++;
      continue;
    }
    const r = store.query(h, q.options);
    const what = `${q.series} ${JSON.stringify(q.options)}`;
    expect({ tier: r.tier, step: r.step, agg: r.agg, segments: r.segments, points: r.timestamps.length }, what).toEqual({
      tier: q.result.tier,
      step: q.result.step,
      agg: q.result.agg,
      segments: q.result.segments,
      points: q.result.points,
    });
    // A rate is a difference of counter values: exact. Consolidated gauges are float32 now.
    const float32 = !exact && h.kind === 'gauge' && r.segments.some((s) => s.tier > 0);
    expectValues(nums(r.values), q.result.values, float32, what);
    compared++;
  }
  // Each tier's kept aggregates answered, the others refused by name.
  expect(compared).toBeGreaterThan(exact ? 100 : 60);
  // A counter keeps its last value alone: 2 counters × 2 consolidated tiers × 5 other aggregates.
  expect(refused).toBe(exact ? 20 : 48);

  for (const s of ANSWERS.selects) {
    const got = store.select(s.selector, s.options);
    expect(got.map((r) => [r.name, r.labels, r.kind]), s.selector).toEqual(s.result.map((r) => [r.name, r.labels, r.kind]));
    got.forEach((r, i) => {
      const want = s.result[i]!;
      expect(r.segments, s.selector).toEqual(want.segments);
      expectValues(nums(r.values), want.values, !exact && r.kind === 'gauge' && r.segments.some((x) => x.tier > 0), `select ${s.selector} ${r.name}`);
    });
  }

  // info(): the same, but for the sizes (smaller) and what format 2 adds (each tier's aggregates and precision).
  const info = store.info() as unknown as Answers['info'];
  const strip = (i: Answers['info']) => ({
    ...i,
    dir: undefined,
    readOnly: undefined,
    totals: { series: i.totals.series },
    schemas: i.schemas.map((s) => ({ ...s, tiers: s.tiers.map(({ bytes: _b, aggregates: _a, precision: _p, ...t }) => t) })),
  });
  expect(strip(info)).toEqual(strip(ANSWERS.info));
  expect(info.totals.bytes).toBeLessThan(ANSWERS.info.totals.bytes);

  for (const p of ANSWERS.promql) {
    const got = p.type === 'instant' ? instantQuery(store, p.expr, p.args[0]!) : rangeQuery(store, p.expr, p.args[0]!, p.args[1]!, p.args[2]!);
    expect(got.resultType).toBe(p.result.resultType);
    const flat = (d: PromqlData): Array<[string, number, number]> => {
      const rows = d.result as Array<{ metric: Record<string, string>; value?: [number, string]; values?: Array<[number, string]> }>;
      return rows.flatMap((r) => (r.values ?? [r.value!]).map(([t, v]): [string, number, number] => [JSON.stringify(r.metric), t, Number(v)]));
    };
    const g = flat(got);
    const w = flat(p.result);
    expect(g.map(([m, t]) => [m, t]), p.expr).toEqual(w.map(([m, t]) => [m, t]));
    const t = got.rondo.tiers[0]!;
    const was = p.result.rondo.tiers[0]!;
    expect({ ...t, agg: undefined }, p.expr).toEqual({ ...was, agg: undefined });
    if (exact) {
      expect(t.agg, p.expr).toBe(was.agg);
      expectValues(g.map((x) => x[2]), w.map((x) => x[2]), false, p.expr);
      continue;
    }
    if (was.agg === 'last' && t.agg !== 'last') {
      // A gauge's samples from a consolidated tier: format 1's tiers kept each bucket's last value;
      // the migrated ones keep their consolidate and max, and a selector reads the consolidate.
      const h = store.series().find((x) => x.name === p.expr)!;
      const tier = store.info({ series: false }).schemas.find((x) => x.name === h.schema)!.tiers[t.tier]!;
      expect(t.agg).toBe(tier.consolidate);
      const lookback = 300_000;
      for (const [, time, v] of g) {
        const r = store.query(h, { start: time * 1000 - lookback, end: time * 1000, tier: t.tier, agg: tier.consolidate });
        const held = Array.from(r.values).filter((x) => !Number.isNaN(x));
        expect(v, `${p.expr} at ${time}`).toBe(held[held.length - 1]);
      }
      continue;
    }
    // avg_over_time read sum and count of each bucket; the migrated tiers keep avg (and no count):
    // each full bucket weighs the same, which is what their counts said.
    expect(t.agg === 'avg' ? 'sum,count' : t.agg, p.expr).toBe(was.agg);
    const float32 = t.tier > 0 && !/_total/.test(p.expr);
    expectValues(g.map((x) => x[2]), w.map((x) => x[2]), float32, p.expr);
  }

  for (const e of ANSWERS.exports) {
    const b = store.exporter(`t${e.tier}`, { tier: e.tier }).next({ maxSamples: 100_000, until: ANSWERS.info.schemas[0]!.tiers[0]!.newest as number + 1000 });
    expect(b.samples).toBe(e.samples);
    expect(b.series.map((s) => [s.id, s.kind])).toEqual(e.series.map((s) => [s.id, s.kind]));
    b.series.forEach((s, i) => {
      const want = e.series[i]!;
      expect(Array.from(s.timestamps)).toEqual(want.timestamps);
      expectValues(nums(Float64Array.from(s.values)), want.values, !exact && s.kind === 'gauge', `export tier ${e.tier} series ${s.id}`);
    });
  }
}

/** The fixture's schemas, as given to Store.open(), each consolidated tier with `cells` added. */
function fixtureSchemas(cells: { aggregates?: readonly Aggregation[]; precision?: 'float32' | 'float64' }): SchemaOptions[] {
  return ANSWERS.info.schemas.map((s) => ({
    name: s.name as string,
    match: s.match as Record<string, string>,
    maxSeries: s.maxSeries as number,
    tiers: s.tiers.map((t, i) => ({
      interval: t.intervalMs as number,
      retention: t.retentionMs as number,
      consolidate: t.consolidate as Aggregation,
      xff: t.xff as number,
      ...(i > 0 ? cells : {}),
    })),
  }));
}

/** Inode, size and contents of every file of the store but the lock files (which an open makes). */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const f of fs.readdirSync(dir, { recursive: true }) as string[]) {
    const p = path.join(dir, f);
    const st = fs.statSync(p);
    if (!st.isFile() || f === 'LOCK' || f.endsWith('.lock')) continue;
    out.set(f, `${st.ino}:${st.size}:${fs.readFileSync(p).toString('base64')}`);
  }
  return out;
}

describe('a store of storage format 1', () => {
  it('is refused by a reader, by name, and left as it is', () => {
    const dir = copyFixture();
    const before = snapshot(dir);
    let err: unknown;
    try {
      Store.openReadOnly(dir);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MigrationNeededError);
    expect((err as Error).message).toMatch(/is in storage format 1; .* open it once with Store\.open\(\)/);
    expect(snapshot(dir)).toEqual(before);
  });

  it("is migrated by a writer's open: every answer is the same, aggregates no longer kept are refused by name", () => {
    const dir = copyFixture();
    const v1Bytes = SLABS.reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0);
    Store.open(dir).close();
    for (const f of SLABS) expect(headerVersion(path.join(dir, f)), f).toBe(format.formatVersion);
    expect(storeFileVersion(dir)).toBe(STORE_VERSION);
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    const v2Bytes = SLABS.reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0);
    expect(v2Bytes).toBeLessThan(v1Bytes / 2);

    const ro = Store.openReadOnly(dir);
    try {
      // Format 1 declared no aggregates: each consolidated tier keeps the defaults, its
      // consolidate and max, as float32.
      const tiers = ro.info({ series: false }).schemas.map((s) => [s.name, s.tiers.map((t) => [t.consolidate, t.aggregates.join(), t.precision])]);
      expect(tiers).toEqual([
        ['fb', [['avg', 'avg,min,max,sum,count,last', 'float64'], ['max', 'avg,max', 'float32']]],
        ['fx', [['avg', 'avg,min,max,sum,count,last', 'float64'], ['avg', 'avg,max', 'float32'], ['avg', 'avg,max', 'float32']]],
      ]);
      checkAnswers(ro);
    } finally {
      ro.close();
    }
    const rw = Store.open(dir);
    try {
      checkAnswers(rw);
    } finally {
      rw.close();
    }
  });

  it('opened with schemas that declare what the migrated tiers keep: every aggregate as float64 answers exactly as format 1 did', () => {
    const dir = copyFixture();
    // Format 1 kept sum, count, min, max and last: every aggregate can be kept.
    const all = fixtureSchemas({ aggregates: AGGREGATIONS, precision: 'float64' });
    Store.open(dir, { schemas: all }).close();
    const ro = Store.openReadOnly(dir);
    try {
      expect(ro.info({ series: false }).schemas.flatMap((s) => s.tiers.slice(1).map((t) => [t.aggregates.join(), t.precision]))).toEqual(
        Array(3).fill(['avg,min,max,sum,count,last', 'float64']),
      );
      checkAnswers(ro, true);
    } finally {
      ro.close();
    }
    // Given schemas must still be the store's in everything else.
    const other = copyFixture();
    const wrong = fixtureSchemas({}).map((sc) => (sc.name === 'fx' ? { ...sc, tiers: sc.tiers!.map((t, i) => (i === 2 ? { ...t, xff: 0.5 } : t)) } : sc));
    expect(() => Store.open(other, { schemas: wrong })).toThrow(SchemaMismatchError);
    expect(storeFileVersion(other)).toBe(1);
  });

  it('a migration with declared aggregates cut off part-way is finished only with the same ones', () => {
    const dir = copyFixture();
    const all = fixtureSchemas({ aggregates: AGGREGATIONS, precision: 'float64' });
    const probe = path.join(tempDir(), 'probe');
    fs.cpSync(FIXTURE, probe, { recursive: true });
    Store.open(probe, { schemas: all }).close();
    // One slab migrated with every aggregate, the others not yet.
    fs.copyFileSync(path.join(probe, 'fx.t2.slab'), path.join(dir, 'fx.t2.slab'));
    expect(() => Store.open(dir)).toThrow(
      expect.objectContaining({ name: 'SchemaMismatchError', message: expect.stringMatching(/schema "fx" tier 2 keeping avg, min, max, sum, count, last as float64, not avg, max as float32; open it with the schemas of that migration/) }),
    );
    // Refused before anything was migrated.
    expect(SLABS.map((f) => headerVersion(path.join(dir, f)))).toEqual([1, 1, 1, 1, 2]);
    expect(storeFileVersion(dir)).toBe(1);
    Store.open(dir, { schemas: all }).close();
    expect(storeFileVersion(dir)).toBe(STORE_VERSION);
    const ro = Store.openReadOnly(dir);
    try {
      checkAnswers(ro, true);
    } finally {
      ro.close();
    }
  });

  it('a second open changes nothing, and the migrated store takes writes and consolidates on', () => {
    const dir = copyFixture();
    Store.open(dir).close();
    const migrated = snapshot(dir);
    Store.open(dir).close();
    expect(snapshot(dir)).toEqual(migrated);

    const s = Store.open(dir);
    try {
      const temp = s.find('fx_temp', { vm: 'a' })!;
      const req = s.find('fx_requests_total', { vm: 'a' })!;
      // Ten more minutes after the fixture's last point.
      const t1 = (ANSWERS.info.schemas[0]!.tiers[0]!.newest as number) + 1000;
      for (let i = 0; i < 600; i++) {
        s.record(temp, 7, t1 + i * 1000);
        s.record(req, 10_000 + i, t1 + i * 1000);
        if (i % 60 === 59) s.consolidate({ now: t1 + i * 1000 + 1000 });
      }
      const lastMinute = { start: t1 + 540_000, end: t1 + 540_000 };
      expect(s.query(temp, { ...lastMinute, tier: 2 }).values[0]).toBe(7);
      expect(s.query(temp, { ...lastMinute, tier: 2, agg: 'max' }).values[0]).toBe(7);
      expect(s.query(req, { ...lastMinute, tier: 2 }).values[0]).toBe(10_599);
      expect(() => s.query(req, { ...lastMinute, tier: 2, agg: 'max' })).toThrow(AggregateNotKeptError);
    } finally {
      s.close();
    }
  });

  it('a migration cut off mid-switch (after its journal) is finished by the next writer, and answers the same', () => {
    const dir = copyFixture();
    setFormatMigrationHook((step) => {
      if (step === 'switched fx.t0.slab') throw new Error('cut off');
    });
    try {
      expect(() => Store.open(dir)).toThrow('cut off');
    } finally {
      setFormatMigrationHook(undefined);
    }
    // Two slabs switched in, the others still staged; the store file of version 1 and the journal.
    expect(SLABS.map((f) => headerVersion(path.join(dir, f)))).toEqual([2, 2, 2, 1, 1]);
    expect(fs.readdirSync(path.join(dir, MIGRATION_DIR)).sort()).toEqual(['fx.t1.slab', 'fx.t2.slab', 'rondo.json']);
    expect(storeFileVersion(dir)).toBe(1);
    expect(() => Store.openReadOnly(dir)).toThrow(/storage format 1 \(its migration was cut off after the new files were made: a writer's open finishes it\)/);

    Store.open(dir).close();
    expect(SLABS.map((f) => headerVersion(path.join(dir, f)))).toEqual([2, 2, 2, 2, 2]);
    expect(storeFileVersion(dir)).toBe(STORE_VERSION);
    expect(fs.existsSync(path.join(dir, MIGRATION_DIR)) || fs.existsSync(path.join(dir, MIGRATION_JOURNAL))).toBe(false);
    const ro = Store.openReadOnly(dir);
    try {
      checkAnswers(ro);
    } finally {
      ro.close();
    }
  });

  it('a migration that fails or is cut off before its journal leaves the old store as it was: the next writer forgets what was staged and migrates again', () => {
    const dir = copyFixture();
    const before = snapshot(dir);
    // A failure while staging (here the last step before the commit): what was staged is removed.
    setFormatMigrationHook((step) => {
      if (step === 'staged rondo.json') throw new Error('failed');
    });
    try {
      expect(() => Store.open(dir, { backupBeforeMigrate: false })).toThrow('failed');
    } finally {
      setFormatMigrationHook(undefined);
    }
    expect(snapshot(dir)).toEqual(before);
    // A kill while staging leaves the staging directory: two slabs made, one half-made.
    const probe = copyFixture();
    setFormatMigrationHook((step) => {
      if (step === 'committed') throw new Error('stop');
    });
    try {
      expect(() => Store.open(probe)).toThrow('stop');
    } finally {
      setFormatMigrationHook(undefined);
    }
    fs.mkdirSync(path.join(dir, MIGRATION_DIR));
    for (const f of ['fb.t0.slab', 'fb.t1.slab']) fs.copyFileSync(path.join(probe, MIGRATION_DIR, f), path.join(dir, MIGRATION_DIR, f));
    fs.writeFileSync(path.join(dir, MIGRATION_DIR, 'fx.t0.slab.tmp'), Buffer.alloc(1000, 7));
    const now = snapshot(dir);
    for (const [f, v] of before) expect(now.get(f), f).toBe(v);
    expect(() => Store.openReadOnly(dir)).toThrow(MigrationNeededError);

    Store.open(dir).close();
    expect(SLABS.map((f) => headerVersion(path.join(dir, f)))).toEqual([2, 2, 2, 2, 2]);
    expect(fs.existsSync(path.join(dir, MIGRATION_DIR))).toBe(false);
    const ro = Store.openReadOnly(dir);
    try {
      checkAnswers(ro);
    } finally {
      ro.close();
    }
  });

  it('a damaged journal stops a writer before anything is renamed', () => {
    const dir = copyFixture();
    setFormatMigrationHook((step) => {
      if (step === 'committed') throw new Error('cut off');
    });
    try {
      expect(() => Store.open(dir)).toThrow('cut off');
    } finally {
      setFormatMigrationHook(undefined);
    }
    const journal = path.join(dir, MIGRATION_JOURNAL);
    fs.writeFileSync(journal, fs.readFileSync(journal, 'utf8').replace('"to":2', '"to":3'));
    expect(() => Store.open(dir)).toThrow(CorruptFileError);
    expect(SLABS.map((f) => headerVersion(path.join(dir, f)))).toEqual([1, 1, 1, 1, 1]);
    expect(fs.readdirSync(path.join(dir, MIGRATION_DIR)).length).toBe(SLABS.length + 1);
  });

  it('an in-place migration of an earlier rondo cut off part-way is finished by the next writer, and answers the same', () => {
    const dir = copyFixture();
    // As if a writer of an earlier rondo (which migrated each slab in place) died migrating: two slabs done (renamed into place), one half-written under
    // its temporary name, the store file still of version 1.
    const body = (JSON.parse(fs.readFileSync(path.join(dir, 'rondo.json'), 'utf8')) as { body: { createdMs: number } }).body;
    const probe = Store.open(copyFixture());
    const specs = probe.info({ series: false }).schemas;
    probe.close();
    for (const [schema, tier] of [['fx', 1], ['fb', 0]] as const) {
      const spec = specs.find((x) => x.name === schema)!;
      const t = spec.tiers[tier]!;
      const kinds = Uint8Array.from({ length: spec.maxSeries }, (_, c) => (schema === 'fx' && (c === 3 || c === 4) ? 1 : 0));
      addon.migrateV1Slab(path.join(dir, t.file), slabParams({ ...spec, tiers: spec.tiers }, t, body.createdMs, 0o600), kinds);
    }
    fs.writeFileSync(path.join(dir, 'fx.t2.slab.tmp'), Buffer.alloc(1000, 7));
    expect(SLABS.map((f) => headerVersion(path.join(dir, f)))).toEqual([2, 1, 1, 2, 1]);
    const done = new Map(['fb.t0.slab', 'fx.t1.slab'].map((f) => [f, fs.statSync(path.join(dir, f)).ino]));
    expect(() => Store.openReadOnly(dir)).toThrow(MigrationNeededError);

    Store.open(dir).close();
    expect(SLABS.map((f) => headerVersion(path.join(dir, f)))).toEqual([2, 2, 2, 2, 2]);
    expect(storeFileVersion(dir)).toBe(STORE_VERSION);
    // The slabs already migrated are kept as they were.
    for (const [f, ino] of done) expect(fs.statSync(path.join(dir, f)).ino, f).toBe(ino);
    const ro = Store.openReadOnly(dir);
    try {
      checkAnswers(ro);
    } finally {
      ro.close();
    }
  });

  it('an in-place migration of an earlier rondo with all slabs migrated but the store file not yet: the next open only rewrites it', () => {
    const dir = copyFixture();
    const probe = path.join(tempDir(), 'probe');
    fs.cpSync(FIXTURE, probe, { recursive: true });
    Store.open(probe).close();
    // The slabs of a finished migration, under a store file of version 1.
    for (const f of SLABS) fs.copyFileSync(path.join(probe, f), path.join(dir, f));
    const slabs = new Map(SLABS.map((f) => [f, fs.statSync(path.join(dir, f)).ino]));
    Store.open(dir).close();
    expect(storeFileVersion(dir)).toBe(STORE_VERSION);
    for (const f of SLABS) expect(fs.statSync(path.join(dir, f)).ino, f).toBe(slabs.get(f));
    const ro = Store.openReadOnly(dir);
    try {
      checkAnswers(ro);
    } finally {
      ro.close();
    }
  });

  it('writes a backup archive first, which verifies and restores a store that answers exactly as format 1 did', () => {
    const dir = copyFixture();
    const before = Date.now();
    const s = Store.open(dir);
    const m = s.formatMigration!;
    s.close();
    expect(m.from).toBe(1);
    expect(m.to).toBe(format.formatVersion);
    const archive = m.backup!.file;
    expect(path.dirname(archive)).toBe(path.join(dir, 'backups'));
    expect(path.basename(archive)).toMatch(/^pre-migrate-v1-\d{8}T\d{6}Z\.rbak$/);
    expect(fs.readdirSync(path.join(dir, 'backups'))).toEqual([path.basename(archive)]);
    expect(m.backup!.asOfMs).toBeGreaterThanOrEqual(before);
    expect(m.backup!.series).toBe(6);
    const v = Store.verifyBackup(archive);
    expect(v.damaged).toEqual([]);
    // Moved away from the store (as a user keeps it), and restored elsewhere.
    const kept = path.join(tempDir(), 'pre.rbak');
    fs.copyFileSync(archive, kept);
    const restored = path.join(tempDir(), 'restored');
    const report = Store.restore(kept, restored);
    expect(report.damaged).toEqual([]);
    const ro = Store.openReadOnly(restored);
    try {
      // Every aggregate as float64 in every consolidated tier: every answer exactly format 1's.
      expect(ro.info({ series: false }).schemas.flatMap((x) => x.tiers.slice(1).map((t) => [t.aggregates.join(), t.precision]))).toEqual(
        Array(3).fill(['avg,min,max,sum,count,last', 'float64']),
      );
      checkAnswers(ro, true);
    } finally {
      ro.close();
    }
  });

  it('backupBeforeMigrate: false writes none, a path writes it there', () => {
    const none = copyFixture();
    const s = Store.open(none, { backupBeforeMigrate: false });
    expect(s.formatMigration).toEqual({ from: 1, to: format.formatVersion, backup: undefined });
    s.close();
    expect(fs.existsSync(path.join(none, 'backups'))).toBe(false);
    const there = copyFixture();
    const file = path.join(tempDir(), 'a', 'before.rbak');
    Store.open(there, { backupBeforeMigrate: file }).close();
    expect(fs.existsSync(path.join(there, 'backups'))).toBe(false);
    expect(Store.verifyBackup(file).damaged).toEqual([]);
    // A store already of format 2: nothing migrated, nothing written.
    const again = Store.open(there);
    expect(again.formatMigration).toBeUndefined();
    again.close();
    expect(fs.existsSync(path.join(there, 'backups'))).toBe(false);
    expect(() => Store.open(copyFixture(), { backupBeforeMigrate: 7 as unknown as boolean })).toThrow(/backupBeforeMigrate must be/);
  });

  it('a backup that cannot be written stops the migration, the store left as it was', () => {
    const dir = copyFixture();
    const before = snapshot(dir);
    const notADir = path.join(tempDir(), 'file');
    fs.writeFileSync(notADir, 'x');
    expect(() => Store.open(dir, { backupBeforeMigrate: path.join(notADir, 'a.rbak') })).toThrow(
      /the backup of store .* before its migration from storage format 1 failed, and the store is left as it was: .*(EEXIST|ENOTDIR).*backupBeforeMigrate/,
    );
    expect(snapshot(dir)).toEqual(before);
    expect(fs.existsSync(path.join(dir, MIGRATION_DIR))).toBe(false);
    expect(() => Store.openReadOnly(dir)).toThrow(MigrationNeededError);
  });

  it('a damaged format-1 slab is refused with CorruptFileError, and the store stays of version 1', () => {
    const dir = copyFixture();
    const file = path.join(dir, 'fx.t1.slab');
    const buf = fs.readFileSync(file);
    buf.writeUInt8(buf.readUInt8(40) ^ 1, 40); // row_bytes, under the checksum
    fs.writeFileSync(file, buf);
    expect(() => Store.open(dir)).toThrow(CorruptFileError);
    expect(() => Store.open(dir)).toThrow(/fx\.t1\.slab: header checksum mismatch/);
    expect(storeFileVersion(dir)).toBe(1);
  });
});

const V2_FIXTURE = path.join(__dirname, 'fixtures', 'v2-store');
const V2_ANSWERS = JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures', 'v2-store-answers.json'), 'utf8')) as Omit<Answers, 'selects'> & { madeBy: { formatVersion: number }; range: { start: number; end: number } };

/** Every answer the format-2 build that made test/fixtures/v2-store gave about it, exactly. */
function checkV2Answers(store: Store): void {
  for (const q of V2_ANSWERS.queries) {
    const h = store.series().find((x) => x.key === q.series)!;
    const r = store.query(h, q.options);
    const what = `${q.series} ${JSON.stringify(q.options)}`;
    expect({ tier: r.tier, step: r.step, agg: r.agg, segments: r.segments, points: r.timestamps.length }, what).toEqual({
      tier: q.result.tier,
      step: q.result.step,
      agg: q.result.agg,
      segments: q.result.segments,
      points: q.result.points,
    });
    expectValues(nums(r.values), q.result.values, false, what);
  }
  const info = store.info() as unknown as Answers['info'];
  expect({ ...info, dir: undefined, readOnly: undefined }).toEqual({ ...V2_ANSWERS.info, dir: undefined, readOnly: undefined });
  for (const p of V2_ANSWERS.promql) {
    const got = p.type === 'instant' ? instantQuery(store, p.expr, p.args[0]!) : rangeQuery(store, p.expr, p.args[0]!, p.args[1]!, p.args[2]!);
    expect(got, p.expr).toEqual(p.result);
  }
  for (const e of V2_ANSWERS.exports) {
    const b = store.exporter(`t${e.tier}`, { tier: e.tier }).next({ maxSamples: 100_000, until: V2_ANSWERS.range.end });
    expect(b.samples).toBe(e.samples);
    expect(b.series.map((s) => ({ id: s.id, kind: s.kind, timestamps: Array.from(s.timestamps), values: nums(Float64Array.from(s.values)) }))).toEqual(e.series);
  }
}

describe('a store of storage format 2 (the current one)', () => {
  it('test/fixtures/v2-store opens as it is, for reading and for writing, and answers exactly as the build that made it', () => {
    expect(V2_ANSWERS.madeBy.formatVersion).toBe(format.formatVersion);
    const dir = path.join(tempDir(), 'store');
    fs.cpSync(V2_FIXTURE, dir, { recursive: true });
    expect(storeFileVersion(dir)).toBe(2);
    expect(SLABS.map((f) => headerVersion(path.join(dir, f)))).toEqual([2, 2, 2, 2, 2]);
    const before = snapshot(dir);
    const storeBody = () => (JSON.parse(fs.readFileSync(path.join(dir, 'rondo.json'), 'utf8')) as { body: unknown }).body;
    const body = storeBody();
    const ro = Store.openReadOnly(dir);
    try {
      checkV2Answers(ro);
    } finally {
      ro.close();
    }
    const rw = Store.open(dir);
    try {
      checkV2Answers(rw);
    } finally {
      rw.close();
    }
    // No migration of its data: not a file of the store changed (the exporters' lock files
    // aside) but the store file, rewritten by the writer as version 3 (storage format 3: the
    // same slabs, and an event ring may be added) with the same body.
    expect(storeFileVersion(dir)).toBe(STORE_VERSION);
    expect(storeBody()).toEqual(body);
    const after = snapshot(dir);
    after.delete('rondo.json');
    before.delete('rondo.json');
    expect(after).toEqual(before);
    expect(fs.existsSync(path.join(dir, MIGRATION_DIR))).toBe(false);
  });

  it('test/fixtures/v2-store opened with an event ring gets one, and answers as before', () => {
    const dir = path.join(tempDir(), 'store');
    fs.cpSync(V2_FIXTURE, dir, { recursive: true });
    const rw = Store.open(dir, { events: { size: '64KiB' } });
    try {
      rw.append('/vm/1/lifecycle', 'created', 1n);
      checkV2Answers(rw);
    } finally {
      rw.close();
    }
    expect(storeFileVersion(dir)).toBe(STORE_VERSION);
    const ro = Store.openReadOnly(dir);
    try {
      checkV2Answers(ro);
      expect(ro.events().map((e) => [e.topic, e.data])).toEqual([['/vm/1/lifecycle', 'created']]);
    } finally {
      ro.close();
    }
  });
});
