import { describe, expect, it, vi } from 'vitest';
import { Counter, Gauge, Histogram, Registry, Summary, type OpenMetricsContentType } from 'prom-client';
import { CapacityError, InvalidSeriesError, Store, type SchemaOptions } from '../src/index';
import { collectRegistry, storeCollector } from '../src/export/prom-client';
import { alignedPast, tempDir } from './helpers';

const SCHEMA: SchemaOptions = { name: 'm', match: {}, maxSeries: 64, tiers: [{ interval: '1s', retention: '10m' }] };

function openStore(schema: SchemaOptions = SCHEMA): Store {
  return Store.open(tempDir(), { schemas: [schema] });
}

type Labels = Record<string, string>;
interface Sample {
  name: string;
  labels: Labels;
  value: number;
}

/** What prom-client reports, flattened: one entry per sample, label values as strings. */
async function promSamples(registry: Registry): Promise<Sample[]> {
  const out: Sample[] = [];
  for (const m of await registry.getMetricsAsJSON()) {
    for (const v of m.values as Array<{ value: number; labels: Record<string, string | number>; metricName?: string }>) {
      const labels: Labels = {};
      for (const [k, x] of Object.entries(v.labels)) labels[k] = String(x);
      out.push({ name: v.metricName ?? m.name, labels, value: v.value });
    }
  }
  return out;
}

/** The value a store holds for a series at ts (tier 0). */
function valueAt(store: Store, name: string, labels: Labels, ts: number): number | undefined {
  const h = store.find(name, labels);
  if (h === undefined) return undefined;
  const r = store.query(h, { start: ts, end: ts, tier: 0 });
  return r.values[0];
}

/** A small parser of the Prometheus text exposition format. */
function parseExposition(text: string): { types: Map<string, string>; samples: Sample[] } {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) {
      types.set(type[1]!, type[2]!);
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`unparsable exposition line: ${line}`);
    const labels: Labels = {};
    const body = m[2] ?? '';
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/g;
    let end = 0;
    for (let l = re.exec(body); l !== null; l = re.exec(body)) {
      labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
      end = re.lastIndex;
    }
    if (end !== body.length) throw new Error(`unparsable labels: ${line}`);
    const raw = m[3];
    const value = raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : raw === 'Nan' || raw === 'NaN' ? NaN : Number(raw);
    samples.push({ name: m[1]!, labels, value });
  }
  return { types, samples };
}

function openMetricsRegistry(): Registry<OpenMetricsContentType> {
  const r = new Registry<OpenMetricsContentType>();
  r.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  return r;
}

function sortSamples(s: Sample[]): Sample[] {
  const key = (x: Sample) => `${x.name}${JSON.stringify(Object.entries(x.labels).sort())}`;
  return [...s].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

describe('collectRegistry', () => {
  it('records counters, labelled gauges and histograms at two timestamps, equal to what prom-client reports', async () => {
    const store = openStore();
    const registry = new Registry();
    const requests = new Counter({ name: 'app_requests_total', help: 'requests', registers: [registry] });
    const temp = new Gauge({ name: 'app_temperature', help: 'temp', labelNames: ['room', 'floor'], registers: [registry] });
    const latency = new Histogram({
      name: 'app_latency_seconds',
      help: 'latency',
      labelNames: ['route'],
      buckets: [0.1, 0.5, 2.5],
      registers: [registry],
    });

    const t1 = alignedPast(60_000, 1000);
    const t2 = t1 + 5000;

    requests.inc(3);
    temp.set({ room: 'a', floor: '1' }, 21.5);
    temp.set({ room: 'b', floor: '2' }, -3.25);
    latency.observe({ route: '/x' }, 0.05);
    latency.observe({ route: '/x' }, 0.7);
    latency.observe({ route: '/y' }, 9);
    const first = await promSamples(registry);
    const r1 = await collectRegistry(registry, store, { timestamp: t1 });
    expect(r1).toEqual({ recorded: first.length, skipped: 0 });

    requests.inc(4.5);
    temp.set({ room: 'a', floor: '1' }, 22);
    temp.set({ room: 'c', floor: '1' }, 18); // a new series at the second collection
    latency.observe({ route: '/x' }, 0.3);
    latency.observe({ route: '/y' }, 0.01);
    const second = await promSamples(registry);
    const r2 = await collectRegistry(registry, store, { timestamp: t2 });
    expect(r2).toEqual({ recorded: second.length, skipped: 0 });

    // 1 counter + 3 gauges + 2 routes × (3 buckets + +Inf + sum + count)
    expect(second.length).toBe(1 + 3 + 2 * 6);
    for (const s of first) expect(valueAt(store, s.name, s.labels, t1), `${s.name} ${JSON.stringify(s.labels)} @t1`).toBe(s.value);
    for (const s of second) expect(valueAt(store, s.name, s.labels, t2), `${s.name} ${JSON.stringify(s.labels)} @t2`).toBe(s.value);
    expect(valueAt(store, 'app_temperature', { room: 'c', floor: '1' }, t1)).toBeNaN();

    // Histogram layout and kinds, read back through select().
    const buckets = store.select('app_latency_seconds_bucket{route="/x"}', { start: t1, end: t2, tier: 0 });
    expect(buckets.map((b) => b.labels.le).sort()).toEqual(['+Inf', '0.1', '0.5', '2.5']);
    for (const b of buckets) expect(b.kind).toBe('counter');
    const inf = buckets.find((b) => b.labels.le === '+Inf')!;
    expect([inf.values[0], inf.values[5]]).toEqual([2, 3]);
    const sum = store.select('app_latency_seconds_sum{route="/y"}', { start: t1, end: t2, tier: 0 })[0]!;
    expect(sum.kind).toBe('counter');
    expect([sum.values[0], sum.values[5]]).toEqual([9, 9.01]);
    expect(store.find('app_latency_seconds_count', { route: '/x' })!.kind).toBe('counter');
    expect(store.find('app_requests_total')!.kind).toBe('counter');
    expect(store.find('app_temperature', { room: 'a', floor: '1' })!.kind).toBe('gauge');
    const counter = store.select('app_requests_total', { start: t1, end: t2, tier: 0 })[0]!;
    expect(Array.from(counter.values)).toEqual([3, NaN, NaN, NaN, NaN, 7.5]);
    store.close();
  });

  it('records summaries: quantiles as gauges, sum and count as counters', async () => {
    const store = openStore();
    const registry = new Registry();
    const size = new Summary({
      name: 'app_size_bytes',
      help: 'size',
      labelNames: ['kind'],
      percentiles: [0.5, 0.9, 0.99],
      registers: [registry],
    });
    for (let i = 1; i <= 100; i++) size.observe({ kind: 'blob' }, i * 10);
    const t = alignedPast(30_000, 1000);
    const expected = await promSamples(registry);
    const r = await collectRegistry(registry, store, { timestamp: t });
    expect(r).toEqual({ recorded: 5, skipped: 0 });
    for (const s of expected) expect(valueAt(store, s.name, s.labels, t), `${s.name} ${JSON.stringify(s.labels)}`).toBe(s.value);
    const q = store.find('app_size_bytes', { kind: 'blob', quantile: '0.9' })!;
    expect(q.kind).toBe('gauge');
    expect(store.lastPoint(q)![1]).toBeGreaterThan(800);
    expect(store.find('app_size_bytes_sum', { kind: 'blob' })!.kind).toBe('counter');
    expect(store.lastPoint(store.find('app_size_bytes_sum', { kind: 'blob' })!)).toEqual([t, 50_500]);
    expect(store.lastPoint(store.find('app_size_bytes_count', { kind: 'blob' })!)).toEqual([t, 100]);
    store.close();
  });

  it('skips values that are not finite (a NaN quantile, a NaN gauge) without throwing', async () => {
    const store = openStore();
    const registry = new Registry();
    const g = new Gauge({ name: 'odd_gauge', help: 'h', labelNames: ['x'], registers: [registry] });
    g.set({ x: 'nan' }, NaN);
    g.set({ x: 'inf' }, Infinity);
    g.set({ x: 'ok' }, 1);
    // A summary as other prom-client versions and custom collectors report it with no observations.
    const emptySummary = {
      name: 'rpc_seconds',
      help: 'h',
      type: 'summary',
      aggregator: 'sum',
      reset() {},
      async get() {
        return {
          name: 'rpc_seconds',
          help: 'h',
          type: 'summary',
          aggregator: 'sum',
          values: [
            { labels: { quantile: 0.5 }, value: NaN },
            { labels: { quantile: 0.99 }, value: NaN },
            { metricName: 'rpc_seconds_sum', labels: {}, value: 0 },
            { metricName: 'rpc_seconds_count', labels: {}, value: 0 },
          ],
        };
      },
    };
    registry.registerMetric(emptySummary as unknown as Gauge);
    const t = alignedPast(30_000, 1000);
    const r = await collectRegistry(registry, store, { timestamp: t });
    expect(r).toEqual({ recorded: 3, skipped: 4 });
    expect(store.find('rpc_seconds', { quantile: '0.5' })).toBeUndefined();
    expect(store.lastPoint(store.find('rpc_seconds_count')!)).toEqual([t, 0]);
    expect(store.find('rpc_seconds_count')!.kind).toBe('counter');
    expect(store.lastPoint(store.find('odd_gauge', { x: 'ok' })!)).toEqual([t, 1]);
    store.close();
  });

  it('adds extra labels, caches handles per store, and reports refused series once', async () => {
    const store = openStore({ ...SCHEMA, maxSeries: 4 });
    const registry = new Registry();
    const g = new Gauge({ name: 'vm_load', help: 'h', labelNames: ['vcpu', 'host'], registers: [registry] });
    g.set({ vcpu: '0' }, 1);
    g.set({ vcpu: '1', host: 'own' }, 2);
    g.set({ vcpu: 'bad\nvalue' }, 3); // prom-client takes it, the store refuses the control character
    for (let i = 2; i < 6; i++) g.set({ vcpu: String(i) }, 10 + i); // the schema holds only 4 series
    const errors: Error[] = [];
    const t1 = alignedPast(60_000, 1000);
    const r1 = await collectRegistry(registry, store, { timestamp: t1, labels: { host: 'h1' }, onError: (e) => errors.push(e) });
    expect(r1).toEqual({ recorded: 4, skipped: 3 });
    expect(errors.filter((e) => e instanceof InvalidSeriesError).length).toBe(1);
    expect(errors.filter((e) => e instanceof CapacityError).length).toBe(2);
    // Extra labels are added; a label the metric sets itself wins.
    expect(store.lastPoint(store.find('vm_load', { vcpu: '0', host: 'h1' })!)).toEqual([t1, 1]);
    expect(store.lastPoint(store.find('vm_load', { vcpu: '1', host: 'own' })!)).toEqual([t1, 2]);
    expect(store.find('vm_load', { vcpu: '1', host: 'h1' })).toBeUndefined();

    // Steady state: no registration, refusals not reported again.
    const register = vi.spyOn(store, 'register');
    g.set({ vcpu: '0' }, 5);
    const r2 = await collectRegistry(registry, store, { timestamp: t1 + 1000, labels: { host: 'h1' }, onError: (e) => errors.push(e) });
    expect(r2).toEqual({ recorded: 4, skipped: 3 });
    expect(register).not.toHaveBeenCalled();
    expect(errors.length).toBe(3);
    expect(store.lastPoint(store.find('vm_load', { vcpu: '0', host: 'h1' })!)).toEqual([t1 + 1000, 5]);
    register.mockRestore();

    // Other extra labels make new series; the full schema refuses them, silently without onError.
    await expect(collectRegistry(registry, store, { timestamp: t1 + 2000, labels: { host: 'h2' } })).resolves.toEqual({ recorded: 1, skipped: 6 }); // only vcpu=1,host=own exists already
    store.close();
  });

  it('refuses invalid extra labels and bad timestamps up front', async () => {
    const store = openStore();
    const registry = new Registry();
    new Gauge({ name: 'g', help: 'h', registers: [registry] }).set(1);
    await expect(collectRegistry(registry, store, { labels: { __bad: 'x' } })).rejects.toThrow(InvalidSeriesError);
    await expect(collectRegistry(registry, store, { timestamp: 1_700_000_000 })).rejects.toThrow(/milliseconds/);
    expect(store.series().length).toBe(0);
    store.close();
  });
});

describe('storeCollector', () => {
  it('exposes each series last point, typed counter or gauge, and skips names the user registered', async () => {
    const store = openStore();
    const t = alignedPast(60_000, 1000);
    const exits = store.register('vcpu_exits_total', { reason: 'io' }, { kind: 'counter' });
    const exitsMmio = store.register('vcpu_exits_total', { reason: 'mmio' }, { kind: 'counter' });
    const load = store.register('cpu_load', { vcpu: '0' });
    const load1 = store.register('cpu_load', { vcpu: '1', note: 'a "quoted" \\ value' });
    store.register('never_written'); // no point: left out
    const taken = store.register('taken_metric');
    store.record(exits, 10, t);
    store.record(exits, 12, t + 1000);
    store.record(exitsMmio, 4, t);
    store.record(load, 0.5, t);
    store.record(load, 0.75, t + 2000);
    store.record(load1, -1.5, t + 1000);
    store.record(taken, 99, t);

    const registry = new Registry();
    const userMetric = new Gauge({ name: 'taken_metric', help: 'the user metric', registers: [registry] });
    userMetric.set(7);
    const { registry: reg } = storeCollector(store, registry);
    expect(reg).toBe(registry);

    const text = await registry.metrics();
    const { types, samples } = parseExposition(text);
    expect(types.get('vcpu_exits_total')).toBe('counter');
    expect(types.get('cpu_load')).toBe('gauge');
    expect(types.get('taken_metric')).toBe('gauge');
    expect(text).toContain('# HELP cpu_load rondo series cpu_load');
    expect(text).toContain('# HELP taken_metric the user metric');

    const expected: Sample[] = [];
    for (const h of store.series()) {
      if (h.name === 'taken_metric') continue;
      const p = store.lastPoint(h);
      if (p !== undefined) expected.push({ name: h.name, labels: { ...h.labels }, value: p[1] });
    }
    expect(expected.length).toBe(4);
    expect(sortSamples(samples)).toEqual(sortSamples([...expected, { name: 'taken_metric', labels: {}, value: 7 }]));
    expect(samples.find((s) => s.name === 'never_written')).toBeUndefined();

    const json = await registry.getMetricsAsJSON();
    const exitsJson = json.find((m) => m.name === 'vcpu_exits_total')!;
    expect(String(exitsJson.type)).toBe('counter');
    expect(sortSamples(exitsJson.values.map((v) => ({ name: 'vcpu_exits_total', labels: v.labels as Labels, value: v.value })))).toEqual(
      sortSamples([
        { name: 'vcpu_exits_total', labels: { reason: 'io' }, value: 12 },
        { name: 'vcpu_exits_total', labels: { reason: 'mmio' }, value: 4 },
      ]),
    );
    store.close();
  });

  it('shows a series added after the collector was made at the next scrape', async () => {
    const store = openStore();
    const t = alignedPast(60_000, 1000);
    const a = store.register('first_gauge');
    store.record(a, 1, t);
    const { registry } = storeCollector(store); // a new Registry
    expect(parseExposition(await registry.metrics()).samples).toEqual([{ name: 'first_gauge', labels: {}, value: 1 }]);

    const b = store.register('late_total', { k: 'v' }, { kind: 'counter' });
    store.record(b, 42, t + 1000);
    const a2 = store.register('first_gauge', { extra: 'x' });
    store.record(a2, 2, t + 1000);
    const { types, samples } = parseExposition(await registry.metrics());
    expect(types.get('late_total')).toBe('counter');
    expect(sortSamples(samples)).toEqual(
      sortSamples([
        { name: 'first_gauge', labels: {}, value: 1 },
        { name: 'first_gauge', labels: { extra: 'x' }, value: 2 },
        { name: 'late_total', labels: { k: 'v' }, value: 42 },
      ]),
    );
    store.close();
  });

  it('on a read-only store, picks up series its writer registers', async () => {
    const dir = tempDir();
    const writer = Store.open(dir, { schemas: [SCHEMA] });
    const t = alignedPast(60_000, 1000);
    writer.record(writer.register('w_one'), 3, t);
    const reader = Store.openReadOnly(dir);
    const { registry } = storeCollector(reader);
    expect(parseExposition(await registry.metrics()).samples).toEqual([{ name: 'w_one', labels: {}, value: 3 }]);
    writer.record(writer.register('w_two_total', {}, { kind: 'counter' }), 8, t + 1000);
    const json = await registry.getMetricsAsJSON();
    const two = json.find((m) => m.name === 'w_two_total')!;
    expect(String(two.type)).toBe('counter');
    expect(two.values).toEqual([{ value: 8, labels: {} }]);
    reader.close();
    writer.close();
  });

  it('keeps counter names stable with OpenMetrics registries', async () => {
    const store = openStore();
    const source = openMetricsRegistry();
    const c = new Counter({ name: 'ops_total', help: 'h', registers: [source as unknown as Registry] });
    c.inc(2);
    const t = alignedPast(10_000, 1000);
    await collectRegistry(source, store, { timestamp: t });
    await source.metrics(); // renders, and renames the counter to "ops" inside prom-client
    c.inc(1);
    await collectRegistry(source, store, { timestamp: t + 1000 });
    expect(store.series().map((h) => h.key)).toEqual(['ops_total']);
    expect(store.lastPoint(store.series()[0]!)).toEqual([t + 1000, 3]);

    const out = openMetricsRegistry();
    storeCollector(store, out);
    for (let i = 0; i < 2; i++) {
      const text = await out.metrics();
      expect(text).toContain('# TYPE ops counter');
      expect(text).toContain('ops_total 3');
    }
    store.close();
  });

  it('collectRegistry and storeCollector round-trip', async () => {
    const store = openStore();
    const source = new Registry();
    const c = new Counter({ name: 'jobs_total', help: 'h', labelNames: ['queue'], registers: [source] });
    c.inc({ queue: 'a' }, 5);
    c.inc({ queue: 'b' }, 2);
    const t = alignedPast(10_000, 1000);
    await collectRegistry(source, store, { timestamp: t });
    const { registry } = storeCollector(store);
    const { types, samples } = parseExposition(await registry.metrics());
    expect(types.get('jobs_total')).toBe('counter');
    expect(sortSamples(samples)).toEqual(sortSamples(await promSamples(source)));
    store.close();
  });
});
