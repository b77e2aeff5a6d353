import * as path from 'node:path';

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
  /** Start of the oldest interval the ring still reaches back to, ms: a write before it is too old. */
  oldestMs?: number;
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

/**
 * A query for an aggregate its tier does not keep (a consolidated tier keeps the aggregates its
 * schema declared, and a counter only its last value): the message names what the tier keeps.
 */
export class AggregateNotKeptError extends InvalidQueryError {
  override name = 'AggregateNotKeptError';
}

/**
 * A store in an older storage format, opened read-only: a writer's open migrates it (once), a
 * reader cannot. The message says which format it is in.
 */
export class MigrationNeededError extends RondoError {
  override name = 'MigrationNeededError';
}

/** Any use of a store (or its handles) after close(). */
export class StoreClosedError extends RondoError {
  override name = 'StoreClosedError';
}

/** A write, consolidation or flush asked of a store opened read-only. */
export class ReadOnlyError extends RondoError {
  override name = 'ReadOnlyError';
}

/**
 * No compiled addon fits this machine: no prebuilt binary for its platform, architecture and
 * libc, and none compiled at install (src/package-root.ts says which it looked for and where).
 */
export class NativeAddonMissingError extends RondoError {
  override name = 'NativeAddonMissingError';
}

/** The operating system refused a file operation (disk full, permissions, I/O error). */
export class StorageError extends RondoError {
  override name = 'StorageError';
}

/**
 * The codes the store's addon puts on its errors (native/common/error_codes.h, exported as
 * format.errorCodes): src/store/native.ts checks at load that the addon has these and no others.
 * nativeError() below names the first three; RONDO_ARG and RONDO_CLOSED (a bug of the caller, or
 * a slab used after close) pass through as they are. The KVM addon's codes are src/kvm/vm.ts's.
 */
export const STORE_ERROR_CODES = ['RONDO_CORRUPT', 'RONDO_IO', 'RONDO_LOCKED', 'RONDO_ARG', 'RONDO_CLOSED'] as const;

/** The code a native error carries: one of STORE_ERROR_CODES (or one of the KVM addon's own). */
export function nativeCode(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e ? String((e as { code: unknown }).code) : undefined;
}

/**
 * Maps an error of the addon to rondo's named errors: the one place a native code becomes a class.
 * `file` is the file the call was about; `lockedMessage` is what to say when it is locked.
 */
export function nativeError(e: unknown, file: string, lockedMessage?: (detail: string) => string): Error {
  const code = nativeCode(e);
  const msg = (e as Error).message;
  if (code === 'RONDO_LOCKED')
    return new StoreLockedError(lockedMessage !== undefined ? lockedMessage(msg) : `${file} is locked by another process (${msg})`);
  if (code === 'RONDO_CORRUPT')
    return new CorruptFileError(`${msg}; the file is damaged: restore the store from a backup, or move it aside and start a new one`);
  if (code === 'RONDO_IO' && /ENOENT|No such file/.test(msg))
    return new CorruptFileError(`${file} is missing; the store is incomplete: restore it from a backup`);
  if (code === 'RONDO_IO' || (e as NodeJS.ErrnoException).syscall !== undefined)
    return new StorageError(`${msg} (check free disk space and permissions of ${path.dirname(file)})`, { cause: e });
  return e instanceof Error ? e : new Error(String(e));
}
