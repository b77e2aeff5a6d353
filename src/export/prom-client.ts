// Bridges to prom-client: record a Registry's metrics into a store, and expose a store's latest
// values as prom-client metrics for a /metrics scrape.
import { Registry, type RegistryContentType } from 'prom-client';
import { CapacityError, InvalidSeriesError, InvalidTimestampError, ReadOnlyError, StoreClosedError } from '../errors';
import { MIN_TIMESTAMP, SeriesHandle, Store, validateSeries, type SeriesKind } from '../store';

export interface CollectRegistryOptions {
  /** Timestamp of every recorded point, ms since the epoch. Default Date.now(). */
  timestamp?: number;
  /** Labels added to every series. A label the metric itself sets (non-empty) wins. */
  labels?: Record<string, string>;
  /**
   * Called once per series the store refuses (a name or label it does not accept, a kind clash,
   * a full schema). Such series are counted in `skipped`. Default: ignore.
   */
  onError?: (e: Error) => void;
}

export interface CollectRegistryResult {
  /** Points written. */
  recorded: number;
  /** Samples not written: not finite, refused by the store, or repeating a series already in this collection. */
  skipped: number;
}

/** The part of a prom-client Registry that collectRegistry() reads. */
export type CollectableRegistry = Pick<Registry, 'getMetricsAsJSON'> & { contentType?: string };

/** Failed registrations remembered per store before the memory is cleared (and failures reported again). */
const MAX_REMEMBERED_FAILURES = 10_000;

interface StoreCache {
  /** Cache key → handle, or null for a series the store refused (already reported). */
  readonly entries: Map<string, SeriesHandle | null>;
  failures: number;
  /** Collection counter; `mark[id] === gen` means handle id is already in this collection's batch. */
  gen: number;
  readonly mark: number[];
  readonly slot: number[];
}

const caches = new WeakMap<Store, StoreCache>();

function cacheOf(store: Store): StoreCache {
  let c = caches.get(store);
  if (c === undefined) {
    c = { entries: new Map(), failures: 0, gen: 0, mark: [], slot: [] };
    caches.set(store, c);
  }
  return c;
}

interface JsonValue {
  value?: unknown;
  labels?: Record<string, unknown>;
  metricName?: string;
}

interface JsonMetric {
  name?: unknown;
  type?: unknown;
  values?: JsonValue[];
}

/** The store kind of one sample of a prom-client metric. */
function kindOf(type: string, base: string, sampleName: string): SeriesKind {
  if (type === 'counter' || type === 'histogram') return 'counter';
  if (type === 'summary' && (sampleName === `${base}_sum` || sampleName === `${base}_count`)) return 'counter';
  return 'gauge';
}

function labelString(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return undefined;
}

/**
 * Records every metric of a prom-client Registry into the store, all at one timestamp:
 * counters and gauges as they are; histograms as `<name>_bucket{le="…"}` (incl. `+Inf`),
 * `<name>_sum` and `<name>_count` counters; summaries as `<name>{quantile="…"}` gauges and
 * `<name>_sum`, `<name>_count` counters. Series handles are cached per store, so steady-state
 * collection registers nothing. Values that are not finite, and series the store refuses, are
 * skipped (and counted); a bad timestamp, a late write, or a closed or read-only store throw.
 */
export async function collectRegistry(
  registry: CollectableRegistry,
  store: Store,
  options: CollectRegistryOptions = {},
): Promise<CollectRegistryResult> {
  const ts = options.timestamp ?? Date.now();
  if (typeof ts !== 'number' || !Number.isFinite(ts) || ts < MIN_TIMESTAMP)
    throw new InvalidTimestampError(
      `collectRegistry timestamp ${String(ts)} is not a time in milliseconds since the epoch (≥ 2000-01-01); pass e.g. Date.now()`,
    );
  let extra: Record<string, string> = {};
  if (options.labels !== undefined) {
    try {
      extra = validateSeries('collectRegistry', options.labels);
    } catch (e) {
      throw new InvalidSeriesError(`collectRegistry options.labels are not valid: ${(e as Error).message}`);
    }
  }
  const onError = options.onError;
  assertWritable(store);

  const metrics = (await registry.getMetricsAsJSON()) as unknown as JsonMetric[];
  assertWritable(store);

  const cache = cacheOf(store);
  const gen = ++cache.gen;
  const handles: SeriesHandle[] = [];
  const values: number[] = [];
  let skipped = 0;
  const notFinite = forEachSample(metrics, openMetricsOf(registry), extra, (name, merged, kind, value) => {
    const keys = Object.keys(merged).sort();
    let key = `${kind} ${name}{`;
    for (const k of keys) key += `${k}=${JSON.stringify(merged[k])},`;

    let h = cache.entries.get(key);
    if (h === undefined) {
      try {
        h = store.register(name, merged, { kind });
      } catch (e) {
        if (!(e instanceof InvalidSeriesError || e instanceof CapacityError)) throw e;
        if (cache.failures >= MAX_REMEMBERED_FAILURES) {
          for (const [k, x] of cache.entries) if (x === null) cache.entries.delete(k);
          cache.failures = 0;
        }
        cache.entries.set(key, null);
        cache.failures++;
        skipped++;
        onError?.(e);
        return;
      }
      cache.entries.set(key, h);
    }
    if (h === null) {
      skipped++;
      return;
    }
    if (cache.mark[h.id] === gen) {
      // Two samples map to one series (e.g. a label with an empty value): the later one wins.
      values[cache.slot[h.id] as number] = value;
      skipped++;
      return;
    }
    cache.mark[h.id] = gen;
    cache.slot[h.id] = handles.length;
    handles.push(h);
    values.push(value);
  });
  skipped += notFinite;
  if (handles.length > 0) store.recordBatch(ts, handles, values);
  return { recorded: handles.length, skipped };
}

/** One sample of a prom-client registry as rondo stores it. */
export interface RegistrySample {
  name: string;
  labels: Record<string, string>;
  kind: SeriesKind;
  value: number;
}

/**
 * Every sample of a prom-client Registry, named and typed as collectRegistry() records them
 * (without the store): for collectors that record through their own path, as an agent's do.
 * `labels` are added to every sample, a metric's own non-empty label winning. `skipped` counts the samples whose value is not finite.
 */
export async function registrySamples(
  registry: CollectableRegistry,
  labels: Readonly<Record<string, string>> = {},
): Promise<{ samples: RegistrySample[]; skipped: number }> {
  const metrics = (await registry.getMetricsAsJSON()) as unknown as JsonMetric[];
  const samples: RegistrySample[] = [];
  const skipped = forEachSample(metrics, openMetricsOf(registry), labels, (name, labels, kind, value) => {
    samples.push({ name, labels, kind, value });
  });
  return { samples, skipped };
}

function openMetricsOf(registry: CollectableRegistry): boolean {
  return typeof registry.contentType === 'string' && registry.contentType.startsWith('application/openmetrics-text');
}

/**
 * Walks a registry's metrics: counters and gauges as they are; histograms as
 * `<name>_bucket{le="…"}`, `<name>_sum` and `<name>_count` counters; summaries as
 * `<name>{quantile="…"}` gauges and `<name>_sum`, `<name>_count` counters. `extra` labels are
 * added, a metric's own non-empty label winning. Returns the samples skipped as not finite.
 */
function forEachSample(
  metrics: readonly JsonMetric[],
  openMetrics: boolean,
  extra: Readonly<Record<string, string>>,
  fn: (name: string, labels: Record<string, string>, kind: SeriesKind, value: number) => void,
): number {
  const extraKeys = Object.keys(extra);
  let skipped = 0;
  for (const m of metrics) {
    if (m === null || typeof m !== 'object' || !Array.isArray(m.values)) continue;
    const type = String(m.type);
    let base = String(m.name);
    // An OpenMetrics registry strips `_total` from counter names while it renders them and puts
    // it back on every sample; store what a scraper would see either way.
    if (openMetrics && type === 'counter' && !base.endsWith('_total')) base = `${base}_total`;
    for (const v of m.values) {
      const value = v?.value;
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        skipped++;
        continue;
      }
      const name = type === 'counter' || typeof v.metricName !== 'string' ? base : v.metricName;
      const merged: Record<string, string> = {};
      for (const k of extraKeys) merged[k] = extra[k] as string;
      const own = v.labels;
      if (own !== null && typeof own === 'object') {
        for (const k of Object.keys(own)) {
          const s = labelString(own[k]);
          if (s === undefined || (s === '' && k in merged)) continue;
          merged[k] = s;
        }
      }
      fn(name, merged, kindOf(type, base, name), value);
    }
  }
  return skipped;
}

function assertWritable(store: Store): void {
  if (store.isClosed) throw new StoreClosedError(`store ${store.dir} is closed; collectRegistry needs an open store`);
  if (store.readOnly) throw new ReadOnlyError(`store ${store.dir} was opened read-only; collectRegistry needs Store.open()`);
}

// ---- store → prom-client ----

export interface StoreCollector<R extends Registry<RegistryContentType> = Registry> {
  /** The registry the store's metrics are registered in (the one given, or a new one). */
  readonly registry: R;
  /** Registers metrics for names that appeared in the store since the last refresh. Runs at the start of every collection. */
  refresh(): void;
}

/**
 * A prom-client metric (duck-typed: what Registry.registerMetric, metrics() and
 * getMetricsAsJSON() use) whose samples are the last points of the store's series of one name.
 */
class StoreMetric {
  // Writable: an OpenMetrics registry rewrites the name of counters while rendering.
  name: string;
  help: string;
  type: SeriesKind;
  aggregator = 'first' as const;
  readonly handles: SeriesHandle[] = [];

  constructor(
    private readonly store: Store,
    name: string,
    kind: SeriesKind,
  ) {
    this.name = name;
    this.help = `rondo series ${name}`;
    this.type = kind;
  }

  async get(): Promise<{ name: string; help: string; type: SeriesKind; values: Array<{ value: number; labels: Record<string, string> }>; aggregator: 'first' }> {
    const values: Array<{ value: number; labels: Record<string, string> }> = [];
    if (!this.store.isClosed) {
      for (const h of this.handles) {
        const p = this.store.lastPoint(h);
        if (p !== undefined) values.push({ value: p[1], labels: { ...h.labels } });
      }
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  reset(): void {
    // The values are the store's; nothing to reset.
  }
}

/**
 * Exposes the store's latest values as prom-client metrics: one metric per metric name in the
 * store (TYPE counter or gauge from the kind of the name's first series; help from the store's
 * descriptions, store.describe, or "rondo series <name>"), one sample per series that has a point
 * (its last point). The agent's /metrics does not use it: see storeExposition (exposition.ts),
 * which also types histograms and summaries, leaves stale series out and speaks OpenMetrics. Names already
 * registered in the registry by someone else are left alone. New names in the store are picked
 * up at the start of every collection (metrics(), getMetricsAsJSON()), so they show at the next
 * scrape; this works on a read-only store as well, which sees the series its writer registers.
 */
export function storeCollector<R extends Registry<RegistryContentType> = Registry>(store: Store, registry?: R): StoreCollector<R> {
  const reg: R = registry ?? (new Registry() as Registry as R);
  const byName = new Map<string, StoreMetric>();
  let seen = 0;

  const refresh = (): void => {
    if (store.isClosed) return;
    const all = store.series();
    for (; seen < all.length; seen++) {
      const h = all[seen]!;
      let m = byName.get(h.name);
      if (m === undefined) {
        m = new StoreMetric(store, h.name, h.kind);
        byName.set(h.name, m);
      }
      m.handles.push(h);
    }
    let descriptions: ReadonlyMap<string, { help?: string }> = new Map();
    try {
      descriptions = store.descriptions();
    } catch {
      // a damaged description table: the generic help stays
    }
    for (const [name, m] of byName) {
      const help = descriptions.get(name)?.help;
      if (help !== undefined) m.help = help;
      if (reg.getSingleMetric(name) !== undefined) continue; // ours already, or the user's
      if (m.name !== name) m.name = name; // an OpenMetrics render may have left it renamed
      reg.registerMetric(m as unknown as Parameters<Registry['registerMetric']>[0]);
    }
  };

  // Both metrics() and getMetricsAsJSON() start from getMetricsAsArray(): refresh there, so a
  // name that appeared since the last scrape is part of this one.
  const inner = reg.getMetricsAsArray;
  reg.getMetricsAsArray = function (this: R) {
    refresh();
    return inner.call(this);
  };

  refresh();
  return { registry: reg, refresh };
}
