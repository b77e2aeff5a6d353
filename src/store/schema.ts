// Schemas and tiers: validation of what the user gives, the normalized form kept on disk,
// and the comparison of the two on reopen.
import { ConfigError, SchemaMismatchError } from '../errors';
import { type Duration, formatDuration, parseDuration } from '../duration';
import { LABEL_NAME_RE } from './series';
import { addon, format, SCHEMA_NAME_MAX } from './native';

export const AGGREGATIONS = ['avg', 'min', 'max', 'sum', 'count', 'last'] as const;
export type Aggregation = (typeof AGGREGATIONS)[number];

/** How a consolidated tier stores a gauge's aggregates: 4-byte or 8-byte IEEE 754 floats. */
export const PRECISIONS = ['float32', 'float64'] as const;
export type Precision = (typeof PRECISIONS)[number];

export interface TierOptions {
  /** Width of one slot: '1s', '10s', '5m' or milliseconds. */
  interval: Duration;
  /** How far back the ring reaches; slots = retention / interval. */
  retention: Duration;
  /** What a query of this tier returns by default (consolidated tiers). Default 'avg' (or, when
   *  `aggregates` are given without avg, the first of them). */
  consolidate?: Aggregation;
  /** Largest fraction of missing raw points a consolidated point may have. Default 1. */
  xff?: number;
  /** Consolidated tiers: the aggregates each bucket keeps for a gauge (a counter keeps its last
   *  value). Default: `consolidate` and max (avg and max when consolidate is max). */
  aggregates?: readonly Aggregation[];
  /** Consolidated tiers: how a gauge's aggregates are stored. Default 'float32' (a relative error
   *  of at most 2^-24; integers exact up to 2^24). Tier 0 holds float64. */
  precision?: Precision;
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
  /** The aggregates a gauge's bucket keeps, in the order of AGGREGATIONS (tier 0: all of them). */
  readonly aggregates: readonly Aggregation[];
  /** How they are stored (tier 0: float64). */
  readonly precision: Precision;
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

/** The aggregates as the slab header keeps them: bit format.aggregates[a] set for each. */
export function aggregateMask(aggs: readonly Aggregation[]): number {
  let m = 0;
  for (const a of aggs) m |= 1 << format.aggregates[a];
  return m;
}

/** Bytes of a gauge's value in a consolidated tier of this precision. */
export function valueBytes(p: Precision): number {
  return p === 'float32' ? 4 : 8;
}

/** Bytes of one series' cell in a tier: 8 in tier 0; in a consolidated tier, what its aggregates need. */
export function cellBytes(t: Pick<TierSpec, 'index' | 'aggregates' | 'precision'>): number {
  return t.index === 0 ? 8 * format.rawCellWords : addon.cellLayout(aggregateMask(t.aggregates), valueBytes(t.precision)).cellBytes;
}

/** Bytes of one row: the row header (tier 0: stamp and seqlock words; others: the tag), then a cell per series. */
export function rowBytes(t: Pick<TierSpec, 'index' | 'aggregates' | 'precision'>, maxSeries: number): number {
  const header = t.index === 0 ? 8 * format.rowHeaderWords : format.consolidatedRowHeaderBytes;
  return header + cellBytes(t) * maxSeries;
}

export function slabFileBytes(t: Pick<TierSpec, 'index' | 'aggregates' | 'precision'>, maxSeries: number, slots: number): number {
  return format.headerBytes + rowBytes(t, maxSeries) * slots;
}

/**
 * True when a query of a gauge can have aggregate `agg` from this tier: tier 0 gives every one;
 * a consolidated tier those it keeps, and avg when it keeps sum and count.
 */
export function tierAnswers(t: Pick<TierSpec, 'index' | 'aggregates'>, agg: Aggregation): boolean {
  return t.index === 0 || t.aggregates.includes(agg) || (agg === 'avg' && t.aggregates.includes('sum') && t.aggregates.includes('count'));
}

/** The default aggregates of a consolidated tier: its consolidate and max (avg and max when consolidate is max). */
export function defaultAggregates(consolidate: Aggregation): Aggregation[] {
  return inOrder([consolidate, consolidate === 'max' ? 'avg' : 'max']);
}

function inOrder(aggs: readonly Aggregation[]): Aggregation[] {
  return AGGREGATIONS.filter((a) => aggs.includes(a));
}

/**
 * What a consolidated tier's aggregate is made from when the tier below it is its source (when
 * tier 0 no longer holds the bucket): the aggregates of that tier that make it.
 */
const MADE_FROM: Readonly<Record<Aggregation, readonly Aggregation[]>> = {
  min: ['min'],
  max: ['max'],
  last: ['last'],
  sum: ['sum', 'avg'],
  avg: ['avg', 'sum'],
  count: [],
};

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
    const consolidateGiven = t.consolidate;
    if (consolidateGiven !== undefined && !AGGREGATIONS.includes(consolidateGiven))
      throw new ConfigError(`${tw} consolidate ${JSON.stringify(consolidateGiven)} is not one of ${AGGREGATIONS.join(', ')}`);
    const xff = t.xff ?? 1;
    if (typeof xff !== 'number' || !(xff >= 0 && xff <= 1))
      throw new ConfigError(`${tw} xff ${String(xff)} is not valid; use a fraction from 0 to 1`);
    const precision: Precision = t.precision ?? (index === 0 ? 'float64' : 'float32');
    if (!PRECISIONS.includes(precision))
      throw new ConfigError(`${tw} precision ${JSON.stringify(precision)} is not one of ${PRECISIONS.join(', ')}`);
    let aggregates: Aggregation[];
    let consolidate: Aggregation;
    if (index === 0) {
      if (t.aggregates !== undefined)
        throw new ConfigError(`${tw} is the raw tier: it holds every recorded value, so every aggregate; give aggregates to the consolidated tiers (1 on)`);
      if (precision !== 'float64')
        throw new ConfigError(`${tw} is the raw tier: it holds values as float64; give precision to the consolidated tiers (1 on)`);
      aggregates = [...AGGREGATIONS];
      consolidate = consolidateGiven ?? 'avg';
    } else {
      if (t.aggregates === undefined) {
        consolidate = consolidateGiven ?? 'avg';
        aggregates = defaultAggregates(consolidate);
      } else {
        const given = t.aggregates;
        if (!Array.isArray(given) || given.length === 0)
          throw new ConfigError(`${tw} aggregates must be a non-empty array of ${AGGREGATIONS.join(', ')}`);
        for (const a of given) {
          if (!AGGREGATIONS.includes(a)) throw new ConfigError(`${tw} aggregate ${JSON.stringify(a)} is not one of ${AGGREGATIONS.join(', ')}`);
        }
        if (new Set(given).size !== given.length) throw new ConfigError(`${tw} aggregates ${JSON.stringify(given)} name one twice`);
        aggregates = inOrder(given);
        const keeps = { index, aggregates };
        consolidate = consolidateGiven ?? (tierAnswers(keeps, 'avg') ? 'avg' : (given[0] as Aggregation));
        if (!tierAnswers(keeps, consolidate))
          throw new ConfigError(
            `${tw} consolidate ${consolidate} is not among its aggregates (${aggregates.join(', ')}); add '${consolidate}' to aggregates, or consolidate by one of them`,
          );
      }
      const below = tiers[index - 1];
      if (below !== undefined && below.index > 0)
        for (const a of aggregates) {
          const from = MADE_FROM[a];
          if (from.length > 0 && !from.some((f) => below.aggregates.includes(f)))
            throw new ConfigError(
              `${tw} keeps ${a}, which it cannot make from tier ${index - 1} (which keeps ${below.aggregates.join(', ')}) once tier 0 no longer holds a bucket; add '${from[0]}' to tier ${index - 1}'s aggregates`,
            );
        }
      if (aggregates.includes('count') && intervalMs / (tiers[0] as TierSpec).intervalMs > 0xffffffff)
        throw new ConfigError(`${tw} keeps count, but its buckets can hold more than 2^32 - 1 raw points; widen tier 0's interval or drop count`);
    }
    const spec = { index, intervalMs, retentionMs, slots, consolidate, xff, aggregates, precision, file: `${name}.t${index}.slab` };
    const bytes = slabFileBytes(spec, maxSeries, slots);
    if (bytes > LIMITS.slabFileBytes)
      throw new ConfigError(
        `${tw} would need a ${(bytes / 1024 ** 3).toFixed(1)} GiB file (the limit is 4 GiB); lower maxSeries or retention, or widen the interval`,
      );
    tiers.push(spec);
  });
  return { name, match, maxSeries, tiers };
}

/**
 * Throws SchemaMismatchError naming the first difference between what was given and what is on
 * disk. `cells: false` leaves out the tiers' aggregates and precision (a store of format 1, whose
 * migration makes the cells the given schemas declare).
 */
export function assertSameSchemas(given: readonly SchemaSpec[], onDisk: readonly SchemaSpec[], dir: string, cells = true): void {
  const fail = (what: string) => {
    throw new SchemaMismatchError(
      `store ${dir}: ${what}; open it without schemas to use it as it is on disk, or carry its data over to the new schemas: ` +
        'Store.open(dir, { schemas, migrate: true }), or `rondo migrate <dir> --schema <file>` (docs/migrations.md)',
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
      if (!cells) return;
      if (gt.aggregates.join() !== dt.aggregates.join())
        fail(`${tw} aggregates ${gt.aggregates.join(', ')} differ from ${dt.aggregates.join(', ')} on disk`);
      if (gt.precision !== dt.precision) fail(`${tw} precision ${gt.precision} differs from ${dt.precision} on disk`);
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
