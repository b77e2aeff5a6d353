// The store room: what the other rooms (export, agent, cli, kvm) and the package may use.
// Everything else under store/ is its own business.
export { Store } from './store';
export type { StoreOptions, RegisterOptions, SelectResult, ConsolidateOptions, MigrateStoreOptions, FormatMigration } from './store';
export type { MigrationReport } from './schema-migrate';
export type { StoreInfo, TierInfo, SeriesInfo } from './info';
export { SeriesHandle, MIN_TIMESTAMP } from './write';
export { NONCONFORMANT_TOPIC, DEFAULT_EVENTS_SIZE, FIXED_TYPES, FIXED_TYPE_SIZES, parseSchema, schemaText, validateTopic, underTopic, encodeFor, decodeAs } from './events';
export type { EventRecord, EventColumns, EventQuery, EventPage, EventStats, TopicInfo, CreateTopicOptions, EventData, Schema, FixedType, ScalarType } from './events';
export type { QueryOptions, QueryResult, QuerySegment } from './query';
export { MAX_QUERY_POINTS } from './query';
export { counterRate } from './rate';
export { AGGREGATIONS, PRECISIONS, DEFAULT_SCHEMAS, DEFAULT_TIERS, LIMITS } from './schema';
export type { Aggregation, Precision, SchemaOptions, TierOptions, SchemaSpec, TierSpec } from './schema';
export { SERIES_LIMITS, validateSeries } from './series';
export type { Labels, SeriesKind } from './series';
export { Exporter } from './exporter';
export { DESCRIPTION_LIMITS } from './descriptions';
export type { DescribeOptions, MetricDescription } from './descriptions';
// Metadata files (JSON with a checksum, replaced atomically), for other rooms' files in a store
// directory (the ingest room's influx.json).
export { readMetaFile, writeMetaFile } from './metafile';
export { BACKUP_FORMAT_VERSION, readManifest } from './backup';
export type { BackupOptions, BackupSummary, BackupTier, BackupManifest, RestoreOptions, RestoreReport, VerifyReport } from './backup';
export type { ExportBatch, ExporterOptions, NextOptions, ExportPosition } from './exporter';
export type { ExportSeries } from './export-series';
// For rondo bench (cli/bench.ts), not the package: the slab format, a Slab of the store's file
// for the plain N-API write path, and the native bench helpers' addon.
export { format as slabFormat, attachSlab } from './native';
export type { NativeSlab } from './native';
export { devAddon, DevAddonMissingError, DEV_ADDON_MISSING } from './dev-addon';
export type { DevAddon, NativeBenchRun } from './dev-addon';
