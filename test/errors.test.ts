import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { RondoError, Store, type SchemaOptions, type SeriesHandle } from '../src/index';
import { alignedPast, tempDir, VMM_SCHEMA } from './helpers';

/** Asserts fn throws the named RondoError with a message matching `msg`. */
function throwsNamed(fn: () => unknown, name: string, msg?: RegExp): void {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown, `expected ${name}`).toBeInstanceOf(RondoError);
  expect((thrown as Error).name).toBe(name);
  if (msg) expect((thrown as Error).message).toMatch(msg);
}

const tiers1 = (t: SchemaOptions['tiers']): SchemaOptions[] => [{ name: 's', match: {}, maxSeries: 4, tiers: t }];

describe('bad input gets a named error, and the store stays usable', () => {
  it('names and labels', () => {
    const store = Store.open(tempDir(), { schemas: [VMM_SCHEMA] });
    throwsNamed(() => store.register('1bad'), 'InvalidSeriesError', /metric name "1bad" is not valid; use letters, digits, '_' and ':'/);
    throwsNamed(
      () => store.register('ok', { 'bad-label': 'x' }),
      'InvalidSeriesError',
      /label name "bad-label" of ok is not valid; use letters, digits and '_'/,
    );
    throwsNamed(() => store.register('ok', { __reserved: 'x' }), 'InvalidSeriesError', /reserves; rename it/);
    throwsNamed(() => store.register('ok', { a: 5 as unknown as string }), 'InvalidSeriesError', /must be strings \(use String\(x\)\)/);
    throwsNamed(() => store.register('ok', { a: 'x\u0007' }), 'InvalidSeriesError', /control character.*; remove it/);
    throwsNamed(() => store.register('ok', { a: 'x'.repeat(5000) }), 'InvalidSeriesError', /limit/);
    throwsNamed(() => store.register('ok', {}, { kind: 'histogram' as 'gauge' }), 'InvalidSeriesError', /use 'gauge' or 'counter'/);
    expect(store.series().length).toBe(0);
    store.close();
  });

  it('values and timestamps', () => {
    const store = Store.open(tempDir(), { schemas: [VMM_SCHEMA] });
    const h = store.register('g');
    const ts = alignedPast(10_000, 1000);
    store.record(h, 1, ts);
    for (const v of [NaN, Infinity, -Infinity])
      throwsNamed(
        () => store.record(h, v, ts),
        'InvalidValueError',
        /not a finite number; record finite numbers \(a missing point is simply not recorded\)/,
      );
    throwsNamed(() => store.recordBatch(ts, [h, h], [1, NaN]), 'InvalidValueError');
    throwsNamed(() => store.recordBatch(ts, [h, h], [1]), 'InvalidValueError', /one value per handle/);
    throwsNamed(() => store.record(h, 1, 0), 'InvalidTimestampError', /before 2000-01-01; pass milliseconds since the epoch/);
    throwsNamed(() => store.record(h, 1, -5), 'InvalidTimestampError');
    throwsNamed(() => store.record(h, 1, NaN), 'InvalidTimestampError', /not a finite number; pass milliseconds since the epoch, like Date\.now\(\)/);
    throwsNamed(() => store.record(h, 1, Math.floor(Date.now() / 1000)), 'InvalidTimestampError', /looks like seconds\); pass milliseconds/);
    throwsNamed(() => store.record(h, 1, Date.now() + 7_200_000), 'InvalidTimestampError', /in the future; check the clock, or raise maxFutureMs/);
    // Nothing of the refused writes landed; the earlier point is intact and writing goes on.
    expect(store.query(h, { start: ts, end: ts }).values[0]).toBe(1);
    store.record(h, 2, ts + 1000);
    expect(store.lastPoint(h)).toEqual([ts + 1000, 2]);
    store.close();
  });

  it('recordBatch writes nothing when any value, handle or timestamp of the batch is bad', () => {
    const store = Store.open(tempDir(), { schemas: [VMM_SCHEMA] });
    const a = store.register('a');
    const b = store.register('b');
    const other = Store.open(tempDir(), { schemas: [VMM_SCHEMA] });
    const stranger = other.register('a');
    const ts = alignedPast(60_000, 1000);
    const at = (t: number) => [store.query(a, { start: t, end: t, tier: 0 }).values[0], store.query(b, { start: t, end: t, tier: 0 }).values[0]];
    // A bad value after a good one: the good one is not stored either.
    throwsNamed(() => store.recordBatch(ts, [a, b], [5, NaN]), 'InvalidValueError', /value NaN for b is not a finite number/);
    throwsNamed(() => store.recordBatch(ts, [a, b], new Float64Array([Infinity, 6])), 'InvalidValueError', /value Infinity for a/);
    throwsNamed(() => store.recordBatch(ts, [a, b], [5, '6' as unknown as number]), 'InvalidValueError', /of type string/);
    expect(at(ts)).toEqual([NaN, NaN]);
    // A handle that is not one, or is another store's.
    throwsNamed(() => store.recordBatch(ts, [a, b, {} as SeriesHandle], [5, 6, 7]), 'InvalidSeriesError', /series handle/);
    throwsNamed(() => store.recordBatch(ts, [a, b, stranger], [5, 6, 7]), 'InvalidSeriesError', /another store.*; use that store's record\(\)/);
    expect(at(ts)).toEqual([NaN, NaN]);
    expect(other.query(stranger, { start: ts, end: ts, tier: 0 }).values[0]).toBeNaN();
    // The same array batch after batch is checked by identity: a bad value in it is still refused whole.
    const handles = [a, b];
    store.recordBatch(ts - 2000, handles, [1, 2]);
    store.recordBatch(ts - 1000, handles, [3, 4]);
    throwsNamed(() => store.recordBatch(ts, handles, [5, NaN]), 'InvalidValueError');
    expect(at(ts)).toEqual([NaN, NaN]);
    // A timestamp the store refuses: nothing lands, and the last points stay those of ts - 1 s.
    throwsNamed(() => store.recordBatch(Date.now() + 7_200_000, handles, [5, 6]), 'InvalidTimestampError', /in the future/);
    throwsNamed(() => store.recordBatch(NaN, [a, b], [5, 6]), 'InvalidTimestampError', /not a finite number/);
    // Types JavaScript would convert: refused, also for the row already taken.
    throwsNamed(() => store.recordBatch(String(ts - 1000) as unknown as number, handles, [5, 6]), 'InvalidTimestampError', /not a finite number/);
    throwsNamed(() => store.record(a, 5, String(ts - 1000) as unknown as number), 'InvalidTimestampError', /not a finite number/);
    throwsNamed(() => store.recordBatch(ts, null as unknown as SeriesHandle[], [5]), 'InvalidSeriesError', /array of series handles/);
    expect([store.lastPoint(a), store.lastPoint(b)]).toEqual([
      [ts - 1000, 3],
      [ts - 1000, 4],
    ]);
    // The store takes the batch once it is good.
    store.recordBatch(ts, handles, [5, 6]);
    expect(at(ts)).toEqual([5, 6]);
    other.close();
    store.close();
  });

  it('configuration', () => {
    const dir = tempDir();
    throwsNamed(
      () => Store.open(dir, { schemas: tiers1([{ interval: '10x', retention: '1m' }]) }),
      'ConfigError',
      /unknown unit "x"; use ms, s, m, h, d, w or y/,
    );
    throwsNamed(() => Store.open(dir, { schemas: tiers1([{ interval: '1m', retention: '10s' }]) }), 'ConfigError', /shorter than its interval/);
    throwsNamed(
      () => Store.open(dir, { schemas: tiers1([{ interval: '7s', retention: '1m' }]) }),
      'ConfigError',
      /whole number of intervals of 7s; use e\.g\. 1m3s/,
    );
    throwsNamed(
      () => Store.open(dir, { schemas: tiers1([{ interval: '10s', retention: '1m' }, { interval: '15s', retention: '1h' }]) }),
      'ConfigError',
      /whole multiple/,
    );
    throwsNamed(
      () => Store.open(dir, { schemas: tiers1([{ interval: '1s', retention: '1m', xff: 2 }]) }),
      'ConfigError',
      /xff 2 is not valid; use a fraction from 0 to 1/,
    );
    throwsNamed(
      () => Store.open(dir, { schemas: tiers1([{ interval: '1s', retention: '1m', consolidate: 'median' as 'avg' }]) }),
      'ConfigError',
      /consolidate "median" is not one of avg, min, max, sum, count, last/,
    );
    throwsNamed(
      () => Store.open(dir, { schemas: [{ name: 's', maxSeries: 0 }] }),
      'ConfigError',
      /maxSeries 0 is not valid; use an integer from 1 to/,
    );
    throwsNamed(
      () => Store.open(dir, { schemas: [{ name: 's', maxSeries: 100_000, tiers: [{ interval: '1s', retention: '30d' }] }] }),
      'ConfigError',
      /GiB file .*; lower maxSeries or retention, or widen the interval/,
    );
    throwsNamed(() => Store.open(dir, { schemas: [{ name: '../x' }] }), 'ConfigError', /name "\.\.\/x" is not valid; use 1-40 letters/);
    throwsNamed(() => Store.open(dir, { schemas: [] }), 'ConfigError', /omit it to use the default schema/);
    // None of these left a store behind: the directory can still become one.
    Store.open(dir, { schemas: [VMM_SCHEMA] }).close();
  });

  it('a schema that differs from the one on disk', () => {
    const dir = tempDir();
    Store.open(dir, { schemas: [VMM_SCHEMA] }).close();
    throwsNamed(
      () => Store.open(dir, { schemas: [{ ...VMM_SCHEMA, maxSeries: 128 }] }),
      'SchemaMismatchError',
      /maxSeries 128 differs from 64 on disk; open it without schemas/,
    );
    throwsNamed(
      () => Store.open(dir, { schemas: [{ ...VMM_SCHEMA, tiers: [{ interval: '1s', retention: '1h' }] }] }),
      'SchemaMismatchError',
      /tiers.*; open it without schemas to use it as it is on disk, or carry its data over to the new schemas: Store\.open\(dir, \{ schemas, migrate: true \}\), or `rondo migrate <dir> --schema <file>`/,
    );
    Store.open(dir, { schemas: [VMM_SCHEMA] }).close();
    Store.open(dir).close();
  });

  it('maxSeries exceeded', () => {
    const store = Store.open(tempDir(), { schemas: [{ name: 's', match: {}, maxSeries: 2, tiers: [{ interval: '1s', retention: '1m' }] }] });
    store.register('a');
    store.register('b');
    throwsNamed(
      () => store.register('c'),
      'CapacityError',
      /is full \(maxSeries 2\).*; create the store with a larger maxSeries or route these series to another schema/,
    );
    expect(store.register('a').column).toBe(0);
    store.close();
  });

  it('a series no schema matches', () => {
    const store = Store.open(tempDir(), { schemas: [{ name: 's', match: { vm: '1' }, tiers: [{ interval: '1s', retention: '1m' }] }] });
    throwsNamed(() => store.register('a', { vm: '2' }), 'InvalidSeriesError', /matches no schema.*; add a schema with match: \{\} as the last one/);
    store.close();
  });

  it('a path that is not a store', () => {
    const dir = tempDir();
    const file = path.join(dir, 'file');
    fs.writeFileSync(file, 'x');
    throwsNamed(() => Store.open(file), 'NotAStoreError', /not a directory; give the path of a store directory/);
    throwsNamed(() => Store.openReadOnly(dir), 'NotAStoreError', /not a rondo store .*; check the path, or open it for writing to create one/);
    throwsNamed(() => Store.openReadOnly(path.join(dir, 'missing')), 'NotAStoreError');
    throwsNamed(() => Store.open(dir), 'NotAStoreError', /holds other files .*; use an empty or new directory/);
  });

  it('closed and read-only stores', () => {
    const dir = tempDir();
    const store = Store.open(dir, { schemas: [VMM_SCHEMA] });
    const h = store.register('g');
    store.close();
    store.close();
    throwsNamed(() => store.record(h, 1), 'StoreClosedError', /closed; open it again to use it/);
    throwsNamed(() => store.query(h), 'StoreClosedError');
    const ro = Store.openReadOnly(dir);
    const rh = ro.find('g')!;
    throwsNamed(() => ro.record(rh, 1), 'ReadOnlyError', /read-only; use Store\.open\(\) in the one writing process/);
    throwsNamed(() => ro.register('x'), 'ReadOnlyError');
    throwsNamed(() => ro.consolidate(), 'ReadOnlyError');
    ro.close();
  });

  it('selectors and query options', () => {
    const store = Store.open(tempDir(), { schemas: [VMM_SCHEMA] });
    const h = store.register('g');
    throwsNamed(() => store.select('g{a~"x"}'), 'InvalidSelectorError', /expected '=', '!=', '=~' or '!~' after label name "a".*position 3/);
    throwsNamed(() => store.query(h, { start: 10, end: 5 }), 'InvalidQueryError', /after end 5; swap them/);
    throwsNamed(() => store.query(h, { tier: 7 }), 'InvalidQueryError', /tier 7 is not valid; use 'auto', 'stitch' or an index from 0 to 2/);
    throwsNamed(() => store.query(h, { agg: 'p99' as 'avg' }), 'InvalidQueryError', /not one of avg, min, max, sum, count, last/);
    throwsNamed(() => store.query(h, { rate: true }), 'InvalidQueryError', /gauge: query its values as they are/);
    // A range past what the rings can hold is cut to them (test/query-range.test.ts has the limit).
    expect(store.query(h, { start: 0, end: 1e15, tier: 0 }).values.every((v) => Number.isNaN(v))).toBe(true);
    store.close();
  });
});
