// TEMPORARY stand-in for helper A's catalog (reverted before merging A's branch): every store
// series seen as measurement = its metric name, field 'value', its labels as tags.
import type { SeriesHandle, Store } from '../store';

export type InfluxFieldType = 'float' | 'integer' | 'unsigned' | 'boolean';
export interface InfluxField {
  measurement: string;
  field: string;
  type: InfluxFieldType;
  metric: string;
}
export interface InfluxSeriesView {
  measurement: string;
  field: string;
  type: InfluxFieldType;
  tags: Record<string, string>;
  handle: SeriesHandle;
}
export class InfluxCatalog {
  private constructor(private readonly store: Store) {}
  private static readonly all = new WeakMap<Store, InfluxCatalog>();
  static of(store: Store): InfluxCatalog {
    let c = InfluxCatalog.all.get(store);
    if (c === undefined) InfluxCatalog.all.set(store, (c = new InfluxCatalog(store)));
    return c;
  }
  view(): InfluxSeriesView[] {
    return this.store.series().map((h) => ({ measurement: h.name, field: 'value', type: 'float' as const, tags: { ...h.labels }, handle: h }));
  }
  measurements(): string[] {
    return [...new Set(this.store.series().map((h) => h.name))].sort();
  }
  fields(measurement: string): InfluxField[] {
    return this.measurements().includes(measurement) ? [{ measurement, field: 'value', type: 'float', metric: measurement }] : [];
  }
  tagKey(_metric: string, label: string): string {
    return label;
  }
}
