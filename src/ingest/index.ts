// The ingest room: the one path by which samples from outside the process enter a store.
export { ingest, kindFor, REFUSAL_REASONS, SKIP_REASONS } from './ingest';
export type { IngestSample, IngestResult, IngestOptions, IngestReason } from './ingest';
