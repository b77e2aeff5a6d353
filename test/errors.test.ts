import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { RondoError, Store, type SchemaOptions } from '../src/index';
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
    throwsNamed(() => store.register('1bad'), 'InvalidSeriesError', /metric name "1bad" is not valid/);
    throwsNamed(() => store.register('ok', { 'bad-label': 'x' }), 'InvalidSeriesError', /label name "bad-label"/);
    throwsNamed(() => store.register('ok', { __reserved: 'x' }), 'InvalidSeriesError', /reserves/);
    throwsNamed(() => store.register('ok', { a: 5 as unknown as string }), 'InvalidSeriesError', /must be strings/);
    throwsNamed(() => store.register('ok', { a: 'x\u0007' }), 'InvalidSeriesError', /control character/);
    throwsNamed(() => store.register('ok', { a: 'x'.repeat(5000) }), 'InvalidSeriesError', /limit/);
    throwsNamed(() => store.register('ok', {}, { kind: 'histogram' as 'gauge' }), 'InvalidSeriesError', /gauge' or 'counter/);
    expect(store.series().length).toBe(0);
    store.close();
  });

  it('values and timestamps', () => {
    const store = Store.open(tempDir(), { schemas: [VMM_SCHEMA] });
    const h = store.register('g');
    const ts = alignedPast(10_000, 1000);
    store.record(h, 1, ts);
    for (const v of [NaN, Infinity, -Infinity]) throwsNamed(() => store.record(h, v, ts), 'InvalidValueError', /not a finite number/);
    throwsNamed(() => store.recordBatch(ts, [h, h], [1, NaN]), 'InvalidValueError');
    throwsNamed(() => store.recordBatch(ts, [h, h], [1]), 'InvalidValueError', /one value per handle/);
    throwsNamed(() => store.record(h, 1, 0), 'InvalidTimestampError', /before 2000-01-01/);
    throwsNamed(() => store.record(h, 1, -5), 'InvalidTimestampError');
    throwsNamed(() => store.record(h, 1, NaN), 'InvalidTimestampError', /finite/);
    throwsNamed(() => store.record(h, 1, Math.floor(Date.now() / 1000)), 'InvalidTimestampError', /looks like seconds/);
    throwsNamed(() => store.record(h, 1, Date.now() + 7_200_000), 'InvalidTimestampError', /in the future/);
    // Nothing of the refused writes landed; the earlier point is intact and writing goes on.
    expect(store.query(h, { start: ts, end: ts }).values[0]).toBe(1);
    store.record(h, 2, ts + 1000);
    expect(store.lastPoint(h)).toEqual([ts + 1000, 2]);
    store.close();
  });

  it('configuration', () => {
    const dir = tempDir();
    throwsNamed(() => Store.open(dir, { schemas: tiers1([{ interval: '10x', retention: '1m' }]) }), 'ConfigError', /unknown unit/);
    throwsNamed(() => Store.open(dir, { schemas: tiers1([{ interval: '1m', retention: '10s' }]) }), 'ConfigError', /shorter than its interval/);
    throwsNamed(() => Store.open(dir, { schemas: tiers1([{ interval: '7s', retention: '1m' }]) }), 'ConfigError', /whole number of intervals/);
    throwsNamed(
      () => Store.open(dir, { schemas: tiers1([{ interval: '10s', retention: '1m' }, { interval: '15s', retention: '1h' }]) }),
      'ConfigError',
      /whole multiple/,
    );
    throwsNamed(() => Store.open(dir, { schemas: tiers1([{ interval: '1s', retention: '1m', xff: 2 }]) }), 'ConfigError', /xff/);
    throwsNamed(
      () => Store.open(dir, { schemas: tiers1([{ interval: '1s', retention: '1m', consolidate: 'median' as 'avg' }]) }),
      'ConfigError',
      /consolidate/,
    );
    throwsNamed(() => Store.open(dir, { schemas: [{ name: 's', maxSeries: 0 }] }), 'ConfigError', /maxSeries/);
    throwsNamed(
      () => Store.open(dir, { schemas: [{ name: 's', maxSeries: 100_000, tiers: [{ interval: '1s', retention: '30d' }] }] }),
      'ConfigError',
      /GiB file/,
    );
    throwsNamed(() => Store.open(dir, { schemas: [{ name: '../x' }] }), 'ConfigError', /name/);
    throwsNamed(() => Store.open(dir, { schemas: [] }), 'ConfigError');
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
      /tiers/,
    );
    Store.open(dir, { schemas: [VMM_SCHEMA] }).close();
    Store.open(dir).close();
  });

  it('maxSeries exceeded', () => {
    const store = Store.open(tempDir(), { schemas: [{ name: 's', match: {}, maxSeries: 2, tiers: [{ interval: '1s', retention: '1m' }] }] });
    store.register('a');
    store.register('b');
    throwsNamed(() => store.register('c'), 'CapacityError', /is full \(maxSeries 2\)/);
    expect(store.register('a').column).toBe(0);
    store.close();
  });

  it('a series no schema matches', () => {
    const store = Store.open(tempDir(), { schemas: [{ name: 's', match: { vm: '1' }, tiers: [{ interval: '1s', retention: '1m' }] }] });
    throwsNamed(() => store.register('a', { vm: '2' }), 'InvalidSeriesError', /matches no schema/);
    store.close();
  });

  it('a path that is not a store', () => {
    const dir = tempDir();
    const file = path.join(dir, 'file');
    fs.writeFileSync(file, 'x');
    throwsNamed(() => Store.open(file), 'NotAStoreError', /not a directory/);
    throwsNamed(() => Store.openReadOnly(dir), 'NotAStoreError', /not a rondo store/);
    throwsNamed(() => Store.openReadOnly(path.join(dir, 'missing')), 'NotAStoreError');
    throwsNamed(() => Store.open(dir), 'NotAStoreError', /holds other files/);
  });

  it('closed and read-only stores', () => {
    const dir = tempDir();
    const store = Store.open(dir, { schemas: [VMM_SCHEMA] });
    const h = store.register('g');
    store.close();
    store.close();
    throwsNamed(() => store.record(h, 1), 'StoreClosedError', /closed/);
    throwsNamed(() => store.query(h), 'StoreClosedError');
    const ro = Store.openReadOnly(dir);
    const rh = ro.find('g')!;
    throwsNamed(() => ro.record(rh, 1), 'ReadOnlyError', /read-only/);
    throwsNamed(() => ro.register('x'), 'ReadOnlyError');
    throwsNamed(() => ro.consolidate(), 'ReadOnlyError');
    ro.close();
  });

  it('selectors and query options', () => {
    const store = Store.open(tempDir(), { schemas: [VMM_SCHEMA] });
    const h = store.register('g');
    throwsNamed(() => store.select('g{a~"x"}'), 'InvalidSelectorError', /position 3/);
    throwsNamed(() => store.query(h, { start: 10, end: 5 }), 'InvalidQueryError', /after end/);
    throwsNamed(() => store.query(h, { tier: 7 }), 'InvalidQueryError', /tier 7/);
    throwsNamed(() => store.query(h, { agg: 'p99' as 'avg' }), 'InvalidQueryError');
    throwsNamed(() => store.query(h, { rate: true }), 'InvalidQueryError', /gauge/);
    throwsNamed(() => store.query(h, { start: 0, end: 1e15, tier: 0 }), 'CapacityError', /narrow the range/);
    store.close();
  });
});
