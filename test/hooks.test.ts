// Hooks (src/hooks/, docs/hooks.md) in JavaScript: every decision (keep, drop, change the value,
// rename, relabel, retime) for samples from record(), recordBatch(), the agent, remote-write
// receive (ingest()) and Influx lines (ingestInflux()); a rollup (p99) against the p99 computed
// here from the raw points, across a restart; faults (counted, keep or drop, disabled after N
// with a logged reason, the store intact, the agent ticking).
import { describe, expect, it } from 'vitest';
import { Agent, Store, type Collector, type Hook, type HookSample, type SchemaOptions } from '../src/index';
import { ingest, ingestInflux } from '../src/ingest';
import { alignedPast, tempDir } from './helpers';

const SCHEMAS = [
  { name: 'a', match: {}, maxSeries: 64, tiers: [{ interval: '1s', retention: '10m' }, { interval: '10s', retention: '1h' }] },
];

/** One hook making each decision by the sample's name; it notes every sample it saw. */
function deciding(seen: HookSample[]): Hook {
  return {
    name: 'decide',
    onSample(s) {
      seen.push(s);
      switch (s.name) {
        case 'keep_me':
          return true;
        case 'drop_me':
          return false;
        case 'ns_value':
          return { value: s.value / 1e9 };
        case 'old_name':
          return { name: 'new_name' };
        case 'vm_metric':
          return { labels: { ...s.labels, tenant: s.labels.vm === 'vm1' ? 'acme' : 'other' } };
        case 'late_clock':
          return { timestamp: s.timestamp - 5000 };
        default:
          return undefined;
      }
    },
  };
}

/** What the store holds for a series at t (tier 0), or undefined when the series does not exist. */
function at(store: Store, name: string, labels: Record<string, string>, t: number): number | undefined {
  const h = store.find(name, labels);
  if (h === undefined) return undefined;
  const r = store.query(h, { start: t, end: t, tier: 0 });
  return r.values[0];
}

/** Checks every decision's outcome in a store where the samples went in at t with these values. */
function expectDecisions(store: Store, t: number, extra: Record<string, string> = {}): void {
  expect(at(store, 'keep_me', extra, t)).toBe(7);
  expect(at(store, 'drop_me', extra, t) ?? NaN).toBeNaN();
  expect(at(store, 'ns_value', extra, t)).toBeCloseTo(2.5, 12);
  expect(at(store, 'old_name', extra, t) ?? NaN).toBeNaN();
  expect(at(store, 'new_name', extra, t)).toBe(3);
  expect(at(store, 'vm_metric', { ...extra, vm: 'vm1' }, t) ?? NaN).toBeNaN();
  expect(at(store, 'vm_metric', { ...extra, vm: 'vm1', tenant: 'acme' }, t)).toBe(4);
  // Retimed: 5 s earlier, nothing at t.
  expect(at(store, 'late_clock', extra, t - 5000)).toBe(5);
  expect(Number.isNaN(at(store, 'late_clock', extra, t) as number)).toBe(true);
}

const INPUT: Array<[string, Record<string, string>, number]> = [
  ['keep_me', {}, 7],
  ['drop_me', {}, 1],
  ['ns_value', {}, 2.5e9],
  ['old_name', {}, 3],
  ['vm_metric', { vm: 'vm1' }, 4],
  ['late_clock', {}, 5],
];

describe('JavaScript hooks on record()', () => {
  it('keeps, drops, changes the value, renames, relabels and retimes', () => {
    const dir = tempDir();
    const seen: HookSample[] = [];
    const store = Store.open(dir, { schemas: SCHEMAS, hooks: [deciding(seen)] });
    const t = alignedPast(60_000, 1000);
    for (const [name, labels, v] of INPUT) store.record(store.register(name, labels), v, t);
    expectDecisions(store, t);
    expect(seen.map((s) => s.source)).toEqual(INPUT.map(() => 'record'));
    expect(seen[2]).toMatchObject({ name: 'ns_value', value: 2.5e9, timestamp: t, kind: 'gauge', labels: {} });
    store.close();
  });

  it('in recordBatch(): the kept go down as a batch, the moved after, the dropped nowhere', () => {
    const dir = tempDir();
    const store = Store.open(dir, { schemas: SCHEMAS, hooks: [deciding([])] });
    const t = alignedPast(60_000, 1000);
    const handles = INPUT.map(([name, labels]) => store.register(name, labels));
    store.recordBatch(t, handles, INPUT.map(([, , v]) => v));
    expectDecisions(store, t);
    store.close();
  });

  it('runs in order, each hook seeing what the one before gave, and only on its schemas', () => {
    const dir = tempDir();
    const schemas: SchemaOptions[] = [
      { name: 'vm', match: { __name__: 'vm_x' }, maxSeries: 8, tiers: [{ interval: '1s', retention: '10m' }] },
      { name: 'rest', match: {}, maxSeries: 8, tiers: [{ interval: '1s', retention: '10m' }] },
    ];
    const hooks: Hook[] = [
      { name: 'double', onSample: (s) => ({ value: s.value * 2 }) },
      { name: 'plus-one', schemas: ['vm'], onSample: (s) => ({ value: s.value + 1 }) },
    ];
    const store = Store.open(dir, { schemas, hooks });
    const t = alignedPast(60_000, 1000);
    store.record(store.register('vm_x'), 10, t);
    store.record(store.register('other'), 10, t);
    expect(at(store, 'vm_x', {}, t)).toBe(21);
    expect(at(store, 'other', {}, t)).toBe(20);
    store.close();
  });

  it('leaves a store without hooks (or a schema without them) on the fast path', () => {
    const dir = tempDir();
    const store = Store.open(dir, { schemas: SCHEMAS });
    const h = store.register('x');
    expect((h as unknown as { w: { hooked: boolean } }).w.hooked).toBe(false);
    store.close();
    const hooked = Store.open(dir, { hooks: [{ name: 'n', schemas: ['elsewhere'], onSample: () => false }] });
    const g = hooked.register('x');
    expect((g as unknown as { w: { hooked: boolean } }).w.hooked).toBe(false);
    const t = alignedPast(30_000, 1000);
    hooked.record(g, 1, t);
    expect(at(hooked, 'x', {}, t)).toBe(1);
    hooked.close();
  });

  it('refuses a hook that breaks the contract at open', () => {
    const dir = tempDir();
    expect(() => Store.open(dir, { schemas: SCHEMAS, hooks: [{ name: '' } as Hook] })).toThrow(/name/);
    expect(() => Store.open(dir, { schemas: SCHEMAS, hooks: [{ name: 'a', rollup: { 0: () => 1 } }] })).toThrow(/tier/);
    expect(() => Store.open(dir, { schemas: SCHEMAS, hooks: [{ name: 'a' }, { name: 'a' }] })).toThrow(/two hooks/);
    expect(() => Store.open(dir, { schemas: SCHEMAS, hooks: [{ name: 'a', onError: 'ignore' as 'keep' }] })).toThrow(/onError/);
  });
});

describe('JavaScript hooks on ingest()', () => {
  it("gives each door's samples their source: remote-write, influx, statsd, fossil", () => {
    const dir = tempDir();
    const seen: HookSample[] = [];
    const store = Store.open(dir, { schemas: SCHEMAS, hooks: [{ name: 'see', onSample: (s) => void seen.push(s) }] });
    const t = alignedPast(60_000, 1000);
    const doors = ['remote_write', 'influx', 'statsd', 'fossil'];
    const r = ingest(store, doors.map((source, i) => ({ name: `m${i}`, labels: {}, value: i, timestampMs: t, source })));
    expect(r.stored).toBe(4);
    expect(seen.map((s) => s.source)).toEqual(['remote-write', 'influx', 'statsd', 'fossil']);
    store.close();
  });

  it('sees remote-write samples with their source and makes every decision before registering', () => {
    const dir = tempDir();
    const seen: HookSample[] = [];
    const store = Store.open(dir, { schemas: SCHEMAS, hooks: [deciding(seen)] });
    const t = alignedPast(60_000, 1000);
    const r = ingest(
      store,
      INPUT.map(([name, labels, value]) => ({ name, labels, value, timestampMs: t, source: 'remote_write' })),
    );
    expect(r.stored).toBe(5);
    expect(r.skipped.hook_dropped).toBe(1);
    expectDecisions(store, t);
    // Dropped or moved before registering: the old series were never made.
    expect(store.find('drop_me')).toBeUndefined();
    expect(store.find('old_name')).toBeUndefined();
    expect(store.find('vm_metric', { vm: 'vm1' })).toBeUndefined();
    expect(new Set(seen.map((s) => s.source))).toEqual(new Set(['remote-write']));
    store.close();
  });

  it('sees Influx lines with source influx', () => {
    const dir = tempDir();
    const seen: HookSample[] = [];
    const hook: Hook = {
      name: 'influx',
      onSample(s) {
        seen.push(s);
        if (s.labels.host === 'noisy') return false;
        if (s.name.endsWith('_ns')) return { name: s.name.replace(/_ns$/, '_seconds'), value: s.value / 1e9 };
        return { labels: { ...s.labels, tenant: 'acme' } };
      },
    };
    const store = Store.open(dir, { schemas: SCHEMAS, hooks: [hook] });
    const t = alignedPast(60_000, 1000);
    const body = Buffer.from(`cpu,host=a busy_ns=3000000000i ${t}\ncpu,host=noisy busy_ns=1i ${t}\nmem,host=a used=5 ${t}\n`);
    const r = ingestInflux(store, body, { precision: 'ms' });
    expect(r.stored).toBe(2);
    expect(seen.every((s) => s.source === 'influx')).toBe(true);
    expect(seen.length).toBe(3);
    const names = seen.map((s) => s.name);
    const busy = names.find((n) => n.includes('busy')) as string;
    const used = names.find((n) => n.includes('used')) as string;
    expect(at(store, busy.replace(/_ns$/, '_seconds'), { host: 'a' }, t)).toBe(3);
    expect(store.find(busy, { host: 'a' })).toBeUndefined();
    expect(store.find(busy, { host: 'noisy' })).toBeUndefined();
    expect(at(store, used, { host: 'a', tenant: 'acme' }, t)).toBe(5);
    store.close();
  });
});

/** A collector recording INPUT every tick. */
function inputCollector(): Collector {
  return { name: 'input', collect: (ctx) => INPUT.forEach(([name, labels, v]) => ctx.record(name, labels, v)) };
}

describe('JavaScript hooks in the agent', () => {
  it("sees the collectors' samples with source agent and makes every decision", async () => {
    const dir = tempDir();
    const seen: HookSample[] = [];
    let t = alignedPast(600_000, 1000);
    const agent = await Agent.start({
      dir,
      schemas: SCHEMAS,
      hooks: [deciding(seen)],
      collectors: [inputCollector()],
      clock: () => t,
      autoTick: false,
      onError: () => {},
    });
    const first = t;
    await agent.tick();
    t += 1000;
    await agent.stop();
    const store = Store.openReadOnly(dir);
    expectDecisions(store, first);
    expect(store.find('drop_me')).toBeUndefined();
    expect(store.find('old_name')).toBeUndefined();
    expect(seen.find((s) => s.name === 'keep_me')?.source).toBe('agent');
    store.close();
  });
});

/** The 99th percentile by nearest rank. */
function p99(values: ArrayLike<number>): number {
  const v = Array.from(values).sort((a, b) => a - b);
  return v[Math.max(0, Math.ceil(0.99 * v.length) - 1)] as number;
}

describe('rollups', () => {
  it('a p99 rollup gives each bucket the p99 of its raw points, across a restart', () => {
    const dir = tempDir();
    const calls: number[] = [];
    const hook = (): Hook => ({
      name: 'p99',
      rollup: {
        1: (_ts, vs, ctx) => {
          calls.push(ctx.start);
          return p99(vs);
        },
      },
    });
    const start = alignedPast(400_000, 10_000);
    const raw = new Map<number, number[]>();
    let seed = 12345;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 1000;
    const fill = (store: Store, from: number, buckets: number) => {
      const h = store.register('latency');
      for (let b = 0; b < buckets; b++) {
        const bs = from + b * 10_000;
        const vs: number[] = [];
        for (let i = 0; i < 10; i++) {
          const v = Math.round(rand() * 100) / 100;
          store.record(h, v, bs + i * 1000);
          vs.push(v);
        }
        raw.set(bs, vs);
      }
    };
    let store = Store.open(dir, { schemas: SCHEMAS, hooks: [hook()] });
    fill(store, start, 6);
    store.consolidate({ now: start + 6 * 10_000 });
    store.close();
    // Reopened with the hook again: consolidation goes on from its cursor.
    store = Store.open(dir, { hooks: [hook()] });
    fill(store, start + 60_000, 6);
    store.consolidate({ now: start + 12 * 10_000 });
    const h = store.find('latency')!;
    const r = store.query(h, { start, end: start + 11 * 10_000, tier: 1 });
    expect(r.timestamps.length).toBe(12);
    for (let i = 0; i < 12; i++) {
      const bs = r.timestamps[i]!;
      const vs = raw.get(bs)!;
      const want = p99(vs);
      // The tier keeps float32: the p99 rounded to it. The built-in avg would differ.
      expect(r.values[i]).toBe(Math.fround(want));
      expect(want).not.toBeCloseTo(vs.reduce((a, b) => a + b, 0) / vs.length, 3);
    }
    expect(calls.length).toBe(12);
    store.close();
    // On disk: a store opened without the hook reads the same.
    const again = Store.openReadOnly(dir);
    const r2 = again.query(again.find('latency')!, { start, end: start + 11 * 10_000, tier: 1 });
    expect(Array.from(r2.values)).toEqual(Array.from(r.values));
    again.close();
  });
});

describe('rollups of counters and per schema', () => {
  it("a counter's bucket keeps the rollup's value; a schema the hook does not name keeps the built-in aggregates", () => {
    const dir = tempDir();
    const schemas: SchemaOptions[] = [
      { name: 'c', match: { kind: 'c' }, maxSeries: 8, tiers: [{ interval: '1s', retention: '10m' }, { interval: '10s', retention: '1h' }] },
      { name: 'rest', match: {}, maxSeries: 8, tiers: [{ interval: '1s', retention: '10m' }, { interval: '10s', retention: '1h' }] },
    ];
    // The increase over the bucket's raw points (last - first): what a rate rollup starts from.
    const hook: Hook = { name: 'increase', schemas: ['c'], rollup: { 1: (_ts, vs) => vs[vs.length - 1]! - vs[0]! } };
    const store = Store.open(dir, { schemas, hooks: [hook] });
    const c = store.register('bytes_total', { kind: 'c' }, { kind: 'counter' });
    const g = store.register('temp');
    const start = alignedPast(200_000, 10_000);
    for (let i = 0; i < 10; i++) {
      store.record(c, 1000 + i * i, start + i * 1000);
      store.record(g, i, start + i * 1000);
    }
    store.consolidate({ now: start + 10_000 });
    expect(store.query(c, { start, end: start, tier: 1 }).values[0]).toBe(81);
    expect(store.query(g, { start, end: start, tier: 1 }).values[0]).toBe(4.5);
    store.close();
  });
});

describe('faults', () => {
  it('a throwing hook is counted, its sample kept (keep) or dropped (drop), and it is disabled after N with a logged reason', () => {
    const dir = tempDir();
    const logged: string[] = [];
    let throwing = true;
    const hooks: Hook[] = [
      { name: 'thrower-keep', maxConsecutiveFaults: 3, onSample: (s) => { if (throwing && s.name === 'k') throw new Error('boom'); } },
      { name: 'thrower-drop', onError: 'drop', maxConsecutiveFaults: 100, onSample: (s) => { if (throwing && s.name === 'd') throw new Error('bang'); } },
    ];
    const store = Store.open(dir, { schemas: SCHEMAS, hooks, hookLog: (m) => logged.push(m) });
    const k = store.register('k');
    const d = store.register('d');
    const t0 = alignedPast(120_000, 1000);
    for (let i = 0; i < 5; i++) store.record(k, i, t0 + i * 1000);
    for (let i = 0; i < 5; i++) store.record(d, i, t0 + i * 1000);
    const figures = store.hookFigures();
    // Disabled after its third fault in a row: not called on the fourth and fifth.
    expect(figures[0]).toMatchObject({ hook: 'thrower-keep', errors: 3, disabled: true });
    expect(figures[0]!.reason).toMatch(/3 consecutive faults.*boom/);
    expect(figures[1]).toMatchObject({ hook: 'thrower-drop', errors: 5, disabled: false });
    expect(logged.some((l) => /hook thrower-keep disabled after 3 consecutive faults/.test(l))).toBe(true);
    // keep: every value stored; drop: none.
    expect(Array.from(store.query(k, { start: t0, end: t0 + 4000, tier: 0 }).values)).toEqual([0, 1, 2, 3, 4]);
    expect(store.query(d, { start: t0, end: t0 + 4000, tier: 0 }).values.every((v) => Number.isNaN(v))).toBe(true);
    // A hook that returns what the contract does not allow is a fault too.
    const bad = Store.open(tempDir(), { schemas: SCHEMAS, hooks: [{ name: 'bad', onSample: () => ({ value: 'x' as unknown as number }) }], hookLog: () => {} });
    const b = bad.register('b');
    bad.record(b, 1, t0);
    expect(bad.hookFigures()[0]!.errors).toBe(1);
    expect(at(bad, 'b', {}, t0)).toBe(1);
    bad.close();
    // The store is intact: reopened, its values are there.
    store.close();
    const ro = Store.openReadOnly(dir);
    expect(Array.from(ro.query(ro.find('k')!, { start: t0, end: t0 + 4000, tier: 0 }).values)).toEqual([0, 1, 2, 3, 4]);
    ro.close();
  });

  it('a throwing rollup keeps the built-in aggregate and is counted', () => {
    const dir = tempDir();
    const store = Store.open(dir, { schemas: SCHEMAS, hooks: [{ name: 'r', rollup: { 1: () => { throw new Error('no'); } } }], hookLog: () => {} });
    const h = store.register('g');
    const start = alignedPast(200_000, 10_000);
    for (let i = 0; i < 10; i++) store.record(h, i, start + i * 1000);
    store.consolidate({ now: start + 10_000 });
    expect(store.query(h, { start, end: start, tier: 1 }).values[0]).toBe(4.5);
    expect(store.hookFigures()[0]!.errors).toBe(1);
    store.close();
  });
});

describe('the example hook examples/hooks/ns-to-seconds.js', () => {
  it('turns series in nanoseconds into seconds, as a statsd or Influx client might name them', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const hook = require('../examples/hooks/ns-to-seconds.js') as Hook;
    const dir = tempDir();
    const store = Store.open(dir, { schemas: SCHEMAS, hooks: [hook] });
    const t = alignedPast(60_000, 1000);
    store.record(store.register('db_query_wait_ns', { db: '0' }, { kind: 'counter' }), 2_500_000_000, t);
    store.record(store.register('db_query_max_ns'), 7e8, t);
    store.record(store.register('db_queries', { db: '0' }, { kind: 'counter' }), 12, t);
    expect(at(store, 'db_query_wait_seconds_total', { db: '0' }, t)).toBe(2.5);
    expect(store.find('db_query_wait_seconds_total', { db: '0' })?.kind).toBe('counter');
    expect(at(store, 'db_query_max_seconds', {}, t)).toBeCloseTo(0.7, 12);
    expect(at(store, 'db_queries', { db: '0' }, t)).toBe(12);
    expect(Number.isNaN(at(store, 'db_query_wait_ns', { db: '0' }, t) as number)).toBe(true);
    store.close();
  });
});
