// The rondo package: the store, its export, the agent and their errors. The demo VMM's KVM
// layer is the subpath `rondo/kvm`; the command line is the `rondo` bin.
export {
  Store,
  SeriesHandle,
  MIN_TIMESTAMP,
  MAX_QUERY_POINTS,
  counterRate,
  AGGREGATIONS,
  PRECISIONS,
  DEFAULT_SCHEMAS,
  DEFAULT_TIERS,
  LIMITS,
  SERIES_LIMITS,
  Exporter,
  NONCONFORMANT_TOPIC,
  DEFAULT_EVENTS_SIZE,
  parseSchema,
  schemaText,
  BACKUP_FORMAT_VERSION,
  DESCRIPTION_LIMITS,
} from './store';
export type {
  StoreOptions,
  MigrateStoreOptions,
  MigrationReport,
  FormatMigration,
  RegisterOptions,
  StoreInfo,
  TierInfo,
  SeriesInfo,
  SelectResult,
  ConsolidateOptions,
  QueryOptions,
  QueryResult,
  QuerySegment,
  Aggregation,
  Precision,
  SchemaOptions,
  TierOptions,
  SchemaSpec,
  TierSpec,
  Labels,
  SeriesKind,
  ExportBatch,
  ExporterOptions,
  NextOptions,
  ExportPosition,
  ExportSeries,
  EventRecord,
  EventQuery,
  EventPage,
  EventStats,
  TopicInfo,
  CreateTopicOptions,
  EventData,
  Schema,
  BackupOptions,
  BackupSummary,
  BackupTier,
  BackupManifest,
  RestoreOptions,
  RestoreReport,
  VerifyReport,
  DescribeOptions,
  MetricDescription,
} from './store';
export { FossilClient, FossilError, parseFossilUrl } from './fossil';
export type { FossilEntry, FossilStatsAnswer, FossilClientOptions } from './fossil';
export { parseSelector, formatSeries, MAX_SELECTOR_LENGTH, MAX_REGEX_LENGTH } from './selector';
export type { Selector, LabelMatcher, MatchOp } from './selector';
export { parseDuration, formatDuration, MAX_DURATION_MS } from './duration';
export type { Duration } from './duration';
export {
  RondoError,
  InvalidSeriesError,
  InvalidValueError,
  InvalidTimestampError,
  LateWriteError,
  SchemaMismatchError,
  StoreLockedError,
  CorruptFileError,
  CapacityError,
  ConfigError,
  NotAStoreError,
  InvalidSelectorError,
  InvalidQueryError,
  AggregateNotKeptError,
  MigrationNeededError,
  StoreClosedError,
  ReadOnlyError,
  StorageError,
} from './errors';
export {
  pushTo,
  pushExporter,
  exporterNameFor,
  RemoteWriteClient,
  RemoteWriteError,
  encodeWriteRequest,
  loadRemoteWriteProto,
  STALE_NAN_BITS,
  collectRegistry,
  registrySamples,
  storeCollector,
  storeExposition,
  wantsOpenMetrics,
} from './export';
export type {
  PushOptions,
  PushSummary,
  PushProgress,
  RemoteWriteOptions,
  SendResult,
  RemoteWriteStats,
  RegistrySample,
  CollectRegistryOptions,
  CollectRegistryResult,
  CollectableRegistry,
  StoreCollector,
  ExpositionOptions,
} from './export';
export { Agent, ClockStepNotice, processCollector, PROCESS_METRICS, promClientCollector } from './agent';
export type { AgentOptions, AgentRemoteWrite, AgentStats, Collector, CollectContext, OpenContext } from './agent';
export type { Hook, HookSample, HookResult, RollupContext, SampleSource, HookFigures } from './hooks';
export { loadWasmHook, WasmHookError } from './hooks';
export type { WasmHook, WasmHookOptions, WasmHookSpec } from './hooks';
export { serve } from './server';
export type { ServeOptions, RondoServer, ServerStats } from './server';
export { instantQuery, rangeQuery, parsePromql, PromqlError } from './promql';
export type { PromqlOptions, PromqlData, PromqlErrorType, PromqlSamplePair, PromqlVectorSample, PromqlMatrixSeries } from './promql';
export {
  registerCodec,
  codecByName,
  codecs,
  encodeChunk,
  decodeChunk,
  readChunkHeader,
  chunkLength,
  encodeContainer,
  decodeContainer,
  CodecExistsError,
  UnknownCodecError,
  MAX_CHUNK_POINTS,
  DEFAULT_CODEC,
  GORILLA_MAX_TIMESTAMP,
} from './codec';
export type { Codec, Points, ChunkHeader, DecodedChunk, ContainerSeries, ReadSeries } from './codec';
