/**
 * Every error rondo throws on purpose is a RondoError. Each subclass names one kind of fault;
 * its message names the thing that was wrong and what to do about it.
 */
export class RondoError extends Error {
  override name = 'RondoError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A metric name, label name or label value that Prometheus would refuse, or a kind clash. */
export class InvalidSeriesError extends RondoError {
  override name = 'InvalidSeriesError';
}

/** A value that is not a finite number. */
export class InvalidValueError extends RondoError {
  override name = 'InvalidValueError';
}

/** A timestamp that is not a plausible time in milliseconds since the epoch. */
export class InvalidTimestampError extends RondoError {
  override name = 'InvalidTimestampError';
}

/** A write for an interval older than the one its ring slot already holds: refused and counted. */
export class LateWriteError extends InvalidTimestampError {
  override name = 'LateWriteError';
}

/** Schemas given to open() that differ from the ones the store was created with. */
export class SchemaMismatchError extends RondoError {
  override name = 'SchemaMismatchError';
}

/** Another process (or another Store in this one) holds the store's writer lock. */
export class StoreLockedError extends RondoError {
  override name = 'StoreLockedError';
}

/** A file of the store is truncated, foreign or damaged. */
export class CorruptFileError extends RondoError {
  override name = 'CorruptFileError';
}

/** A fixed bound was reached: a schema's maxSeries, a query's point limit. */
export class CapacityError extends RondoError {
  override name = 'CapacityError';
}

/** Options that cannot work: a bad interval, retention, schema or size. */
export class ConfigError extends RondoError {
  override name = 'ConfigError';
}

/** A path that is not a rondo store. */
export class NotAStoreError extends RondoError {
  override name = 'NotAStoreError';
}

/** A selector that is not valid Prometheus selector syntax; `position` is the 0-based offset. */
export class InvalidSelectorError extends RondoError {
  override name = 'InvalidSelectorError';
  constructor(
    message: string,
    readonly selector: string,
    readonly position: number,
  ) {
    super(message);
  }
}

/** A query's options that cannot be answered (bad range, unknown tier or aggregation). */
export class InvalidQueryError extends RondoError {
  override name = 'InvalidQueryError';
}

/** Any use of a store (or its handles) after close(). */
export class StoreClosedError extends RondoError {
  override name = 'StoreClosedError';
}

/** A write, consolidation or flush asked of a store opened read-only. */
export class ReadOnlyError extends RondoError {
  override name = 'ReadOnlyError';
}

/** The operating system refused a file operation (disk full, permissions, I/O error). */
export class StorageError extends RondoError {
  override name = 'StorageError';
}
