// Migration of a store of storage format 1 to format 2 on a writer's open (docs/storage-format.md,
// "Format 1 and its migration"). test/fixtures/v1-store/ is a format-1 store made by a format-1
// rondo, and test/fixtures/v1-store-answers.json what that rondo answered about it
// (test/fixtures/make-v1-store.js made both): a copy opened here must answer the same, gauges of
// the consolidated tiers within float32's precision (they are float32 now), counters and tier 0
// exactly; aggregates the migrated tiers no longer keep are refused by name. A reader cannot
// migrate and says so; a second open changes nothing; a migration cut off part-way is finished by
// the next writer's open.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AGGREGATIONS, AggregateNotKeptError, CorruptFileError, MigrationNeededError, SchemaMismatchError, Store, type Aggregation, type QueryOptions, type SchemaOptions } from '../src/index';
import { instantQuery, rangeQuery, type PromqlData } from '../src/promql';
import { addon, format } from '../src/store/native';
import { slabParams, STORE_VERSION } from '../src/store/layout';
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

  it('a migration cut off part-way is finished by the next writer, and answers the same', () => {
    const dir = copyFixture();
    // As if a writer died migrating: two slabs done (renamed into place), one half-written under
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
    expect(() => Store.openReadOnly(dir)).toThrow(MigrationNeededError);

    Store.open(dir).close();
    expect(SLABS.map((f) => headerVersion(path.join(dir, f)))).toEqual([2, 2, 2, 2, 2]);
    expect(storeFileVersion(dir)).toBe(STORE_VERSION);
    const ro = Store.openReadOnly(dir);
    try {
      checkAnswers(ro);
    } finally {
      ro.close();
    }
  });

  it('the store file rewritten last: all slabs migrated but the store file not yet, the next open only rewrites it', () => {
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
