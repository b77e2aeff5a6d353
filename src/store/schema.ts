// Schemas and tiers: validation of what the user gives, the normalized form kept on disk,
// and the comparison of the two on reopen.
import { ConfigError, SchemaMismatchError } from '../errors';
import { type Duration, formatDuration, parseDuration } from '../duration';
import { LABEL_NAME_RE } from './series';
import { format, SCHEMA_NAME_MAX } from './native';

export const AGGREGATIONS = ['avg', 'min', 'max', 'sum', 'count', 'last'] as const;
export type Aggregation = (typeof AGGREGATIONS)[number];

export interface TierOptions {
  /** Width of one slot: '1s', '10s', '5m' or milliseconds. */
  interval: Duration;
  /** How far back the ring reaches; slots = retention / interval. */
  retention: Duration;
  /** What a query of this tier returns by default (consolidated tiers). Default 'avg'. */
  consolidate?: Aggregation;
  /** Largest fraction of missing raw points a consolidated point may have. Default 1. */
  xff?: number;
}

export interface SchemaOptions {
  name: string;
  /** Labels a series must have (exactly) to go to this schema; `{}` matches every series. */
  match?: Readonly<Record<string, string>>;
  /** Columns in every row: the most series this schema can hold. Default 256. */
  maxSeries?: number;
  tiers?: readonly TierOptions[];
}

export interface TierSpec {
  readonly index: number;
  readonly intervalMs: number;
  readonly retentionMs: number;
  readonly slots: number;
  readonly consolidate: Aggregation;
  readonly xff: number;
  readonly file: string;
}

export interface SchemaSpec {
  readonly name: string;
  readonly match: Readonly<Record<string, string>>;
  readonly maxSeries: number;
  readonly tiers: readonly TierSpec[];
}

export const LIMITS = {
  /** The slab's own bounds (native/rondo/slab.h, through the addon's format). */
  maxSeries: format.limits.maxSeries,
  slots: format.limits.slots,
  tiers: 8,
  schemas: 64,
  slabFileBytes: 4 * 1024 ** 3,
} as const;

export const DEFAULT_TIERS: readonly TierOptions[] = [
  { interval: '1s', retention: '1h' },
  { interval: '10s', retention: '6h', consolidate: 'avg' },
  { interval: '5m', retention: '7d', consolidate: 'avg' },
];

export const DEFAULT_SCHEMAS: readonly SchemaOptions[] = [
  { name: 'default', match: {}, maxSeries: 256, tiers: DEFAULT_TIERS },
];

const SCHEMA_NAME_RE = new RegExp(`^[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,${SCHEMA_NAME_MAX - 1}}$`);

/** Words of one series' cell in tier `tierIndex`: tier 0 is raw, the others consolidated. */
export function cellWords(tierIndex: number): number {
  return tierIndex === 0 ? format.rawCellWords : format.consolidatedCellWords;
}

/** Bytes of one row: the row header (stamp and seqlock words), then a cell per series. */
export function rowBytes(tierIndex: number, maxSeries: number): number {
  return 8 * (format.rowHeaderWords + cellWords(tierIndex) * maxSeries);
}

export function slabFileBytes(tierIndex: number, maxSeries: number, slots: number): number {
  return format.headerBytes + rowBytes(tierIndex, maxSeries) * slots;
}

export function normalizeSchemas(input: readonly SchemaOptions[]): SchemaSpec[] {
  if (!Array.isArray(input) || input.length === 0)
    throw new ConfigError('schemas must be a non-empty array; omit it to use the default schema');
  if (input.length > LIMITS.schemas)
    throw new ConfigError(`${input.length} schemas given; at most ${LIMITS.schemas} are supported`);
  const seen = new Set<string>();
  return input.map((s, i) => {
    const spec = normalizeSchema(s, i);
    if (seen.has(spec.name)) throw new ConfigError(`schema name "${spec.name}" is used twice; give each schema its own name`);
    seen.add(spec.name);
    return spec;
  });
}

function normalizeSchema(s: SchemaOptions, i: number): SchemaSpec {
  if (typeof s !== 'object' || s === null) throw new ConfigError(`schemas[${i}] must be an object`);
  const name = s.name;
  if (typeof name !== 'string' || !SCHEMA_NAME_RE.test(name))
    throw new ConfigError(
      `schemas[${i}] name ${JSON.stringify(name)} is not valid; use 1-${SCHEMA_NAME_MAX} letters, digits, '_', '.' or '-' (it names files)`,
    );
  const where = `schema "${name}"`;
  const match: Record<string, string> = {};
  for (const [k, v] of Object.entries(s.match ?? {})) {
    if (!LABEL_NAME_RE.test(k) || typeof v !== 'string')
      throw new ConfigError(`${where} match {${k}: ${JSON.stringify(v)}} is not valid; use label names as keys and strings as values`);
    match[k] = v;
  }
  const maxSeries = s.maxSeries ?? 256;
  if (!Number.isInteger(maxSeries) || maxSeries < 1 || maxSeries > LIMITS.maxSeries)
    throw new ConfigError(`${where} maxSeries ${String(maxSeries)} is not valid; use an integer from 1 to ${LIMITS.maxSeries}`);
  const tiersIn = s.tiers ?? DEFAULT_TIERS;
  if (!Array.isArray(tiersIn) || tiersIn.length === 0 || tiersIn.length > LIMITS.tiers)
    throw new ConfigError(`${where} needs 1 to ${LIMITS.tiers} tiers, finest first`);
  const tiers: TierSpec[] = [];
  tiersIn.forEach((t, index) => {
    const tw = `${where} tier ${index}`;
    if (typeof t !== 'object' || t === null) throw new ConfigError(`${tw} must be an object with interval and retention`);
    const intervalMs = parseDuration(t.interval, `${tw} interval`);
    const retentionMs = parseDuration(t.retention, `${tw} retention`);
    if (retentionMs < intervalMs)
      throw new ConfigError(
        `${tw} retention ${formatDuration(retentionMs)} is shorter than its interval ${formatDuration(intervalMs)}; a ring needs at least one slot`,
      );
    if (retentionMs % intervalMs !== 0)
      throw new ConfigError(
        `${tw} retention ${formatDuration(retentionMs)} is not a whole number of intervals of ${formatDuration(intervalMs)}; use e.g. ${formatDuration(Math.ceil(retentionMs / intervalMs) * intervalMs)}`,
      );
    const prev = tiers[index - 1];
    if (prev !== undefined && (intervalMs <= prev.intervalMs || intervalMs % prev.intervalMs !== 0))
      throw new ConfigError(
        `${tw} interval ${formatDuration(intervalMs)} must be a whole multiple (>1) of tier ${index - 1}'s ${formatDuration(prev.intervalMs)}, so its buckets are made of whole finer points`,
      );
    const slots = retentionMs / intervalMs;
    if (slots > LIMITS.slots)
      throw new ConfigError(`${tw} has ${slots} slots (retention / interval); at most ${LIMITS.slots} are supported`);
    const bytes = slabFileBytes(index, maxSeries, slots);
    if (bytes > LIMITS.slabFileBytes)
      throw new ConfigError(
        `${tw} would need a ${(bytes / 1024 ** 3).toFixed(1)} GiB file (the limit is 4 GiB); lower maxSeries or retention, or widen the interval`,
      );
    const consolidate = t.consolidate ?? 'avg';
    if (!AGGREGATIONS.includes(consolidate))
      throw new ConfigError(`${tw} consolidate ${JSON.stringify(consolidate)} is not one of ${AGGREGATIONS.join(', ')}`);
    const xff = t.xff ?? 1;
    if (typeof xff !== 'number' || !(xff >= 0 && xff <= 1))
      throw new ConfigError(`${tw} xff ${String(xff)} is not valid; use a fraction from 0 to 1`);
    tiers.push({ index, intervalMs, retentionMs, slots, consolidate, xff, file: `${name}.t${index}.slab` });
  });
  return { name, match, maxSeries, tiers };
}

/** Throws SchemaMismatchError naming the first difference between what was given and what is on disk. */
export function assertSameSchemas(given: readonly SchemaSpec[], onDisk: readonly SchemaSpec[], dir: string): void {
  const fail = (what: string) => {
    throw new SchemaMismatchError(
      `store ${dir}: ${what}; open it without schemas to use it as it is on disk, or use a new directory for the new layout`,
    );
  };
  if (given.length !== onDisk.length)
    fail(`${given.length} schemas given, the store has ${onDisk.length} (${onDisk.map((s) => s.name).join(', ')})`);
  given.forEach((g, i) => {
    const d = onDisk[i]!;
    if (g.name !== d.name) fail(`schema ${i} is "${g.name}", on disk it is "${d.name}"`);
    const w = `schema "${g.name}"`;
    if (JSON.stringify(sortedEntries(g.match)) !== JSON.stringify(sortedEntries(d.match)))
      fail(`${w} match ${JSON.stringify(g.match)} differs from ${JSON.stringify(d.match)} on disk`);
    if (g.maxSeries !== d.maxSeries) fail(`${w} maxSeries ${g.maxSeries} differs from ${d.maxSeries} on disk`);
    if (g.tiers.length !== d.tiers.length) fail(`${w} has ${g.tiers.length} tiers, on disk ${d.tiers.length}`);
    g.tiers.forEach((gt, j) => {
      const dt = d.tiers[j]!;
      const tw = `${w} tier ${j}`;
      if (gt.intervalMs !== dt.intervalMs)
        fail(`${tw} interval ${formatDuration(gt.intervalMs)} differs from ${formatDuration(dt.intervalMs)} on disk`);
      if (gt.retentionMs !== dt.retentionMs)
        fail(`${tw} retention ${formatDuration(gt.retentionMs)} differs from ${formatDuration(dt.retentionMs)} on disk`);
      if (gt.consolidate !== dt.consolidate) fail(`${tw} consolidate ${gt.consolidate} differs from ${dt.consolidate} on disk`);
      if (gt.xff !== dt.xff) fail(`${tw} xff ${gt.xff} differs from ${dt.xff} on disk`);
    });
  });
}

function sortedEntries(o: Readonly<Record<string, string>>): [string, string][] {
  return Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** The first schema whose match labels the series has (`__name__` matches the metric name). */
export function routeSeries(
  schemas: readonly SchemaSpec[],
  name: string,
  labels: Readonly<Record<string, string>>,
): SchemaSpec | undefined {
  return schemas.find((s) =>
    Object.entries(s.match).every(([k, v]) => (k === '__name__' ? name === v : labels[k] === v)),
  );
}
