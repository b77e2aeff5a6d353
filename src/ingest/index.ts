// The ingest room: the one path by which samples from outside the process enter a store, and the
// doors' parsers that feed it (Influx line protocol), with what they count.
export { ingest, kindFor, seriesKey, REFUSAL_REASONS, SKIP_REASONS } from './ingest';
export type { IngestSample, IngestResult, IngestOptions, IngestReason } from './ingest';
export { IngestCounters } from './counters';
export { InfluxCatalog, INFLUX_CATALOG_FILE, metricNameOf, labelNameOf } from './influx-catalog';
export type { InfluxField, InfluxFieldType, InfluxSeriesView } from './influx-catalog';
export { parseInflux, PRECISION_NS } from './influx-line';
export type { InfluxPoint, InfluxParseError, InfluxValueType } from './influx-line';
export { ingestInflux } from './influx';
export type { InfluxIngestOptions, InfluxIngestResult } from './influx';
