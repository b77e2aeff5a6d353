// ingestInflux()'s fast path: a line whose key and fields were seen before, with series the
// store already has, is recorded straight away instead of through ingest(). What a sender sees
// must not change: the values stored, and every refusal with its reason and words, whether the
// line took the fast path or not.
import { describe, expect, it } from 'vitest';
import { Store } from '../src/index';
import { ingestInflux } from '../src/ingest';
import { tempDir } from './helpers';

const SCHEMAS = [{ name: 'a', match: {}, maxSeries: 100, tiers: [{ interval: '1s', retention: '10m' }] }];

function open(): Store {
  return Store.open(tempDir(), { schemas: SCHEMAS });
}

/** Whole seconds, n seconds from now. */
const sec = (n: number): number => Math.floor(Date.now() / 1000) + n;

const at = (store: Store, name: string, host: string, s: number): number => {
  const h = store.find(name, { host })!;
  return store.query(h, { start: s * 1000, end: s * 1000, tier: 0 }).values[0]!;
};

const lines = (t: number, v: number): string =>
  [`m,host=a x=${v},y=${v + 1}i,z=t ${t}`, `m,host=b x=${v + 10},y=${v + 11}i,z=f ${t}`].join('\n');

describe('ingestInflux: lines of series seen before', () => {
  it('are stored with their values, as the first lines were', () => {
    const store = open();
    const t = sec(-60);
    for (let i = 0; i < 5; i++) {
      const r = ingestInflux(store, Buffer.from(lines(t + i, i)), { precision: 's' });
      expect(r.stored, `body ${i}`).toBe(6);
      expect(r.dropped).toBe(0);
      expect(r.errors).toEqual({});
    }
    for (let i = 0; i < 5; i++) {
      expect([at(store, 'm_x', 'a', t + i), at(store, 'm_y', 'a', t + i), at(store, 'm_z', 'a', t + i)]).toEqual([i, i + 1, 1]);
      expect([at(store, 'm_x', 'b', t + i), at(store, 'm_y', 'b', t + i), at(store, 'm_z', 'b', t + i)]).toEqual([i + 10, i + 11, 0]);
    }
    store.close();
  });

  it('a line back in time, after newer lines of the body, is stored with the rest', () => {
    const store = open();
    const t = sec(-60);
    ingestInflux(store, Buffer.from(lines(t, 0)), { precision: 's' });
    const r = ingestInflux(store, Buffer.from([`m,host=a x=1,y=1i,z=t ${t + 10}`, `m,host=b x=2,y=2i,z=t ${t + 5}`, `m,host=a x=3,y=3i,z=t ${t + 11}`].join('\n')), { precision: 's' });
    expect(r.stored).toBe(9);
    expect([at(store, 'm_x', 'a', t + 10), at(store, 'm_x', 'b', t + 5), at(store, 'm_x', 'a', t + 11)]).toEqual([1, 2, 3]);
    store.close();
  });

  it('a field of another type, or a string where a number was, drops the point as a type conflict', () => {
    const store = open();
    const t = sec(-60);
    ingestInflux(store, Buffer.from(lines(t, 0)), { precision: 's' });
    const r = ingestInflux(store, Buffer.from([`m,host=a x=1,y=2.5,z=t ${t + 1}`, `m,host=b x=2,y=3i,z=t ${t + 1}`].join('\n')), { precision: 's' });
    expect(r.stored).toBe(3);
    expect(r.dropped).toBe(1);
    expect(r.errors).toEqual({ type_conflict: 1 });
    expect(r.writeError).toMatch(/^field type conflict: input field "y" on measurement "m" is type float, already exists as type integer/);
    expect(at(store, 'm_x', 'a', t + 1)).toBeNaN();
    const s = ingestInflux(store, Buffer.from(`m,host=a x="one",y=2i,z=t ${t + 2}`), { precision: 's' });
    expect(s.stored).toBe(0);
    expect(s.errors).toEqual({ type_conflict: 1 });
    expect(s.writeError).toMatch(/^field type conflict: input field "x" on measurement "m" is type string, already exists as type float/);
    store.close();
  });

  it('other fields, fewer or in another order, are the same series', () => {
    const store = open();
    const t = sec(-60);
    ingestInflux(store, Buffer.from(lines(t, 0)), { precision: 's' });
    const r = ingestInflux(store, Buffer.from([`m,host=a z=f,x=7 ${t + 1}`, `m,host=a y=8i ${t + 2}`].join('\n')), { precision: 's' });
    expect(r.stored).toBe(3);
    expect([at(store, 'm_z', 'a', t + 1), at(store, 'm_x', 'a', t + 1), at(store, 'm_y', 'a', t + 2)]).toEqual([0, 7, 8]);
    expect(store.series().length).toBe(6);
    store.close();
  });

  it('a time before the ring, or ahead of the clock, is refused as the first lines would be', () => {
    const store = open();
    const t = sec(-60);
    ingestInflux(store, Buffer.from(lines(t, 0)), { precision: 's' });
    const old = ingestInflux(store, Buffer.from(`m,host=a x=1,y=1i,z=t ${sec(-700)}`), { precision: 's' });
    expect(old.stored).toBe(0);
    expect(old.errors).toEqual({ too_old: 3 });
    expect(old.writeError).toBe('points beyond retention policy');
    const ahead = ingestInflux(store, Buffer.from(`m,host=a x=1,y=1i,z=t ${sec(600)}`), { precision: 's' });
    expect(ahead.stored).toBe(0);
    expect(ahead.errors).toEqual({ out_of_bounds: 3 });
    // a body whose first line is fine and whose second is too old: one stored, one refused
    const mixed = ingestInflux(store, Buffer.from([`m,host=b x=5 ${t + 1}`, `m,host=b x=6 ${sec(-700)}`].join('\n')), { precision: 's' });
    expect([mixed.stored, mixed.errors.too_old]).toEqual([1, 1]);
    store.close();
  });

  it('a slot a later lap holds (points stamped ahead of the clock) refuses the point with the words of the first lines', () => {
    const store = open();
    const ahead = sec(30); // within the store's minute ahead of the clock
    const lap = ahead - 600; // the same slot of the 10 min ring, one lap before: inside the ring's reach
    // The series known (fast path) and, for comparison, one first seen in the refused body.
    ingestInflux(store, Buffer.from(`m,host=a x=1 ${sec(-60)}`), { precision: 's' });
    ingestInflux(store, Buffer.from(`m,host=a x=2 ${ahead}`), { precision: 's' });
    const known = ingestInflux(store, Buffer.from(`m,host=a x=3 ${lap}`), { precision: 's' });
    const fresh = ingestInflux(store, Buffer.from(`m,host=c x=3 ${lap}`), { precision: 's' });
    // Inside what now() - 10 min allows, but the ring, its head a minute ahead, reaches back
    // less far: too old, in the store's words.
    for (const r of [known, fresh]) {
      expect(r.stored).toBe(0);
      expect(r.errors).toEqual({ too_old: 1 });
      expect(r.ingest.refused).toEqual({ too_old: 1 });
      expect(r.ingest.messages).toHaveLength(1);
      expect(r.ingest.messages[0]).toMatch(/^too old sample: write for m_x\{host="[ac]"\} at .* refused: its slot in schema "a" tier 0 already holds a newer interval/);
      expect(r.writeError).toBe('points beyond retention policy');
    }
    expect(at(store, 'm_x', 'a', ahead)).toBe(2);
    store.close();
  });
});
