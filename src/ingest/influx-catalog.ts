// Influx data in a rondo store: the naming map (measurement + field + tags → metric + labels, as
// VictoriaMetrics maps it) and the catalog that remembers what the sanitized names were written
// as, and each field's type, so the Influx doors refuse a type conflict as InfluxDB does and
// InfluxQL answers with the names the client wrote.
//
// Naming: measurement `cpu`, field `usage`, tags {host: "a"} → `cpu_usage{host="a"}`; the field
// `value` → `cpu`. A character a Prometheus name may not hold becomes `_` (metric names keep `:`),
// a name starting with a digit gets a `_` in front; a tag key starting with `__` (reserved by
// Prometheus) gets `tag` in front (`__x` → `tag__x`).
//
// The catalog is the store directory's influx.json (written atomically as the store's other
// metadata files are, whenever a field or a renamed tag key is first seen); a read-only store
// reloads it when the file changes.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readMetaFile, writeMetaFile, type SeriesHandle, type Store } from '../store';

export type InfluxFieldType = 'float' | 'integer' | 'unsigned' | 'boolean';

export interface InfluxField {
  /** As the client wrote it (unescaped). */
  measurement: string;
  /** As written (unescaped). */
  field: string;
  /** InfluxDB refuses a later write of another type: "field type conflict". */
  type: InfluxFieldType;
  /** The rondo metric name it is stored as. */
  metric: string;
}

export interface InfluxSeriesView {
  measurement: string;
  field: string;
  type: InfluxFieldType;
  /** ORIGINAL tag keys → values (sanitized label names mapped back). */
  tags: Record<string, string>;
  /** The store series. */
  handle: SeriesHandle;
}

export const INFLUX_CATALOG_FILE = 'influx.json';
const FORMAT = 'rondo-influx';
const FIELD_TYPES: readonly string[] = ['float', 'integer', 'unsigned', 'boolean'];

const METRIC_BAD = /[^a-zA-Z0-9_:]/gu;
const LABEL_BAD = /[^a-zA-Z0-9_]/gu;

/** A measurement (or measurement_field) as a metric name: bad characters → `_`, a leading digit
 *  gets `_` in front. */
export function metricNameOf(measurement: string, field: string): string {
  let m = measurement.replace(METRIC_BAD, '_');
  if (field !== 'value') m += `_${field.replace(METRIC_BAD, '_')}`;
  if (m.charCodeAt(0) >= 0x30 && m.charCodeAt(0) <= 0x39) m = `_${m}`;
  return m;
}

/** A tag key as a label name: bad characters → `_`, a leading digit gets `_` in front, a key
 *  starting with `__` gets `tag` in front. */
export function labelNameOf(tagKey: string): string {
  let l = tagKey.replace(LABEL_BAD, '_');
  if (l.charCodeAt(0) >= 0x30 && l.charCodeAt(0) <= 0x39) l = `_${l}`;
  if (l.startsWith('__')) l = `tag${l}`;
  return l;
}

interface CatalogBody {
  fields: InfluxField[];
  /** metric → label → original tag key, for the renamed ones only. */
  tagKeys: Record<string, Record<string, string>>;
}

const catalogs = new WeakMap<Store, InfluxCatalog>();

export class InfluxCatalog {
  private readonly file: string;
  /** measurement \0 field → field */
  private readonly byName = new Map<string, InfluxField>();
  private readonly byMetric = new Map<string, InfluxField>();
  /** metric → label → original tag key (every one seen by this process, renamed or not). */
  private readonly labels = new Map<string, Map<string, string>>();
  private stamp = '';
  private dirty = false;

  /** The catalog of this store (one per Store object; loads the file if present). */
  static of(store: Store): InfluxCatalog {
    let c = catalogs.get(store);
    if (c === undefined) {
      c = new InfluxCatalog(store);
      catalogs.set(store, c);
    }
    return c;
  }

  private constructor(private readonly store: Store) {
    this.file = path.join(store.dir, INFLUX_CATALOG_FILE);
    this.refresh(true);
  }

  /** Reads the file again when it changed (a read-only store follows its writer). */
  private refresh(force = false): void {
    if (!force && !this.store.readOnly) return;
    let stamp: string;
    try {
      const st = fs.statSync(this.file);
      stamp = `${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch {
      stamp = 'none';
    }
    if (stamp === this.stamp) return;
    this.stamp = stamp;
    if (stamp === 'none') return;
    const body = readMetaFile(this.file, FORMAT) as Partial<CatalogBody> | undefined;
    if (body === undefined) return;
    this.byName.clear();
    this.byMetric.clear();
    this.labels.clear();
    for (const f of Array.isArray(body.fields) ? body.fields : []) {
      if (typeof f !== 'object' || f === null || typeof f.measurement !== 'string' || typeof f.field !== 'string' || typeof f.metric !== 'string' || !FIELD_TYPES.includes(f.type))
        continue;
      const entry: InfluxField = { measurement: f.measurement, field: f.field, type: f.type, metric: f.metric };
      this.byName.set(`${f.measurement}\0${f.field}`, entry);
      this.byMetric.set(f.metric, entry);
    }
    const tk = body.tagKeys;
    if (typeof tk === 'object' && tk !== null)
      for (const [metric, m] of Object.entries(tk)) {
        if (typeof m !== 'object' || m === null) continue;
        const map = new Map<string, string>();
        for (const [label, orig] of Object.entries(m)) if (typeof orig === 'string') map.set(label, orig);
        this.labels.set(metric, map);
      }
  }

  /** Writes the file when something was added since the last save. */
  save(): void {
    if (!this.dirty || this.store.readOnly) return;
    const tagKeys: CatalogBody['tagKeys'] = {};
    for (const [metric, m] of this.labels) {
      const renamed: Record<string, string> = {};
      let any = false;
      for (const [label, orig] of m)
        if (label !== orig) {
          renamed[label] = orig;
          any = true;
        }
      if (any) tagKeys[metric] = renamed;
    }
    const body: CatalogBody = { fields: [...this.byName.values()], tagKeys };
    writeMetaFile(this.file, FORMAT, body);
    this.dirty = false;
    try {
      const st = fs.statSync(this.file);
      this.stamp = `${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch {
      // the next refresh reads it again
    }
  }

  /** The field's entry, if written before. */
  field(measurement: string, field: string): InfluxField | undefined {
    this.refresh();
    return this.byName.get(`${measurement}\0${field}`);
  }

  /**
   * The entry for a field written with `type`, registered on first sight. A string: the reason
   * it is refused (InfluxDB's "field type conflict" wording, or a name clash after sanitizing).
   */
  claim(measurement: string, field: string, type: InfluxFieldType): InfluxField | string {
    const known = this.byName.get(`${measurement}\0${field}`);
    if (known !== undefined) return known.type === type ? known : typeConflict(measurement, field, type, known.type);
    const metric = metricNameOf(measurement, field);
    const other = this.byMetric.get(metric);
    if (other !== undefined)
      return `field ${JSON.stringify(field)} of measurement ${JSON.stringify(measurement)} would be stored as ${metric}, which already holds field ${JSON.stringify(other.field)} of measurement ${JSON.stringify(other.measurement)}`;
    const entry: InfluxField = { measurement, field, type, metric };
    this.byName.set(`${measurement}\0${field}`, entry);
    this.byMetric.set(metric, entry);
    this.dirty = true;
    return entry;
  }

  /** Records that `label` of `metric` was written as tag key `original`. A string: the clash
   *  when the label already stands for another tag key of that metric. */
  claimLabel(metric: string, label: string, original: string): string | undefined {
    let m = this.labels.get(metric);
    if (m === undefined) {
      m = new Map();
      this.labels.set(metric, m);
    }
    const known = m.get(label);
    if (known === undefined) {
      m.set(label, original);
      if (label !== original) this.dirty = true;
      return undefined;
    }
    if (known === original) return undefined;
    return `tag key ${JSON.stringify(original)} would be stored as label ${label} of ${metric}, which already stands for tag key ${JSON.stringify(known)}`;
  }

  /** Every store series seen as Influx data. A series not written through Influx (the agent's,
   *  remote-write's) appears as measurement = its metric name, field = 'value', type 'float',
   *  tags = its labels. */
  view(): InfluxSeriesView[] {
    this.refresh();
    const out: InfluxSeriesView[] = [];
    for (const h of this.store.series()) {
      const f = this.byMetric.get(h.name);
      if (f === undefined) {
        out.push({ measurement: h.name, field: 'value', type: 'float', tags: { ...h.labels }, handle: h });
        continue;
      }
      const m = this.labels.get(h.name);
      const tags: Record<string, string> = {};
      for (const [label, value] of Object.entries(h.labels)) tags[m?.get(label) ?? label] = value;
      out.push({ measurement: f.measurement, field: f.field, type: f.type, tags, handle: h });
    }
    return out;
  }

  /** Measurement names, sorted (byte order). */
  measurements(): string[] {
    const set = new Set<string>();
    for (const v of this.view()) set.add(v.measurement);
    return [...set].sort(byteOrder);
  }

  /** The fields of a measurement, sorted by field. */
  fields(measurement: string): InfluxField[] {
    const byField = new Map<string, InfluxField>();
    for (const v of this.view()) {
      if (v.measurement !== measurement || byField.has(v.field)) continue;
      const f = this.byMetric.get(v.handle.name);
      byField.set(v.field, f ?? { measurement, field: v.field, type: v.type, metric: v.handle.name });
    }
    return [...byField.values()].sort((a, b) => byteOrder(a.field, b.field));
  }

  /** Original tag key for a label name of a metric (identity when not renamed). */
  tagKey(metric: string, label: string): string {
    this.refresh();
    return this.labels.get(metric)?.get(label) ?? label;
  }
}

function typeConflict(measurement: string, field: string, type: string, existing: string): string {
  return `field type conflict: input field ${JSON.stringify(field)} on measurement ${JSON.stringify(measurement)} is type ${type}, already exists as type ${existing}`;
}

export { typeConflict as influxTypeConflict };

function byteOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
