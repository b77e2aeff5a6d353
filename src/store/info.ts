// What store.info() reports: schemas, tiers with their counters, series with their last point.
import type { NativeSlab } from './native';
import type { Aggregation, Precision, TierSpec } from './schema';
import type { Labels, SeriesKind } from './series';

export interface TierInfo {
  index: number;
  intervalMs: number;
  retentionMs: number;
  slots: number;
  consolidate: Aggregation;
  xff: number;
  /** What a gauge's bucket keeps (tier 0: every aggregate); a counter keeps its last value. */
  aggregates: readonly Aggregation[];
  /** How a gauge's aggregates are stored (tier 0: float64). */
  precision: Precision;
  file: string;
  /** The slab file's size. */
  bytes: number;
  /** Start of the newest interval held, ms; null when the tier is empty. */
  newest: number | null;
  /** Start of the oldest interval the ring can still hold, ms; null when empty. */
  oldest: number | null;
  lateWrites: number;
  rowsClaimed: number;
  rowsRepaired: number;
  /** Consolidated tiers: start of the next bucket to consolidate, ms; null before the first. */
  consolidatedUntil: number | null;
}

export interface SeriesInfo {
  id: number;
  name: string;
  labels: Labels;
  key: string;
  kind: SeriesKind;
  schema: string;
  lastTimestamp: number | null;
  lastValue: number | null;
}

export interface StoreInfo {
  dir: string;
  readOnly: boolean;
  createdMs: number;
  schemas: Array<{
    name: string;
    match: Labels;
    maxSeries: number;
    seriesCount: number;
    tiers: TierInfo[];
  }>;
  series: SeriesInfo[];
  /** storageErrors: writes to disk this Store object saw fail (series index, flush): StorageError. */
  totals: { series: number; bytes: number; storageErrors: number };
}

/** A tier as info() shows it, its counters read from the slab's header. */
export function tierInfo(t: TierSpec, slab: NativeSlab, fileBytes: number): TierInfo {
  const c = slab.counters();
  return {
    index: t.index,
    intervalMs: t.intervalMs,
    retentionMs: t.retentionMs,
    slots: t.slots,
    consolidate: t.consolidate,
    xff: t.xff,
    aggregates: t.aggregates,
    precision: t.precision,
    file: t.file,
    bytes: fileBytes,
    newest: c.head === 0 ? null : c.head * t.intervalMs,
    oldest: c.head === 0 ? null : Math.max(1, c.head - t.slots + 1) * t.intervalMs,
    lateWrites: c.lateWrites,
    rowsClaimed: c.claims,
    rowsRepaired: c.repairs,
    consolidatedUntil: t.index === 0 || c.cursor === 0 ? null : c.cursor * t.intervalMs,
  };
}
