// The export room: pushing a store to Prometheus remote-write receivers, and prom-client both ways.
export { pushTo, pushExporter, exporterNameFor } from './push';
export type { PushOptions, PushSummary, PushProgress, RecordOwn } from './push';
export { RemoteWriteClient, RemoteWriteError } from './remote-write';
export type { RemoteWriteOptions, SendResult, RemoteWriteStats } from './remote-write';
export { encodeWriteRequest, loadRemoteWriteProto, STALE_NAN_BITS } from './encode';
export { compressSnappy } from './snappy';
export { collectRegistry, registrySamples, storeCollector } from './prom-client';
export type { RegistrySample, CollectRegistryOptions, CollectRegistryResult, CollectableRegistry, StoreCollector } from './prom-client';
export { storeExposition, toOpenMetrics, wantsOpenMetrics, TEXT_CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE } from './exposition';
export type { ExpositionOptions } from './exposition';
