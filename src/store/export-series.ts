// What an exporter hands to a sender: series with their samples, in time order.
import type { Labels, SeriesKind } from './series';

export interface ExportSeries {
  /** The series' id in its store. */
  readonly id: number;
  readonly name: string;
  readonly labels: Labels;
  readonly kind: SeriesKind;
  /** ms since the epoch, ascending. */
  readonly timestamps: readonly number[];
  /** Same length as timestamps. A stale marker is flagged in `stale`, its value here is NaN. */
  readonly values: readonly number[];
  /** Indexes into timestamps/values that are Prometheus stale markers (sent as NaN 0x7ff0000000000002). */
  readonly stale?: readonly number[];
}
