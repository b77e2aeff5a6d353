// The series index (series.json): every registered series, in registration order, with its
// schema and column. Replaced atomically on each register(); a reader reloads it when it changes.
import * as fs from 'node:fs';
import { CorruptFileError } from '../errors';
import { readMetaFile, writeMetaFile } from './metafile';
import { routeSeries, type SchemaSpec } from './schema';
import { validateSeries, type SeriesKind } from './series';

export interface SeriesRecord {
  name: string;
  labels: Record<string, string>;
  kind: SeriesKind;
  schema: string;
  column: number;
}

/** Identifies a version of the file (mtime, size, inode); undefined when it is missing. */
export function seriesIndexStamp(file: string): string | undefined {
  try {
    const st = fs.statSync(file);
    return `${st.mtimeMs}:${st.size}:${st.ino}`;
  } catch {
    return undefined;
  }
}

/**
 * The entries from `from` on, each checked against the schemas: a valid series, in a schema its
 * labels route to, at the next free column. `columnsOf(schema)` is how many columns it has taken.
 */
export function readSeriesIndex(
  file: string,
  from: number,
  specs: readonly SchemaSpec[],
  columnsOf: (schema: SchemaSpec) => number,
): Array<SeriesRecord & { spec: SchemaSpec }> {
  const body = readMetaFile(file, 'rondo-series') as { series?: unknown } | undefined;
  const list = body?.series;
  if (!Array.isArray(list)) throw new CorruptFileError(`${file} has no series list; restore it from a backup`);
  const taken = new Map<SchemaSpec, number>();
  const out: Array<SeriesRecord & { spec: SchemaSpec }> = [];
  for (let id = from; id < list.length; id++) {
    const r = list[id] as Partial<SeriesRecord> | undefined;
    const spec = specs.find((s) => s.name === r?.schema);
    let labels: Record<string, string>;
    try {
      labels = validateSeries(r?.name as string, r?.labels);
    } catch (e) {
      throw new CorruptFileError(`${file} entry ${id} is not a valid series (${(e as Error).message}); restore it from a backup`);
    }
    const column = spec === undefined ? -1 : (taken.get(spec) ?? columnsOf(spec));
    if (spec === undefined || r?.column !== column || (r.kind !== 'gauge' && r.kind !== 'counter') || column >= spec.maxSeries)
      throw new CorruptFileError(`${file} entry ${id} (${String(r?.name)}) does not fit the store's schemas; restore it from a backup`);
    const name = r.name as string;
    // register() routes by the schemas' match, which cannot change: an entry elsewhere was edited.
    if (routeSeries(specs, name, labels) !== spec)
      throw new CorruptFileError(`${file} entry ${id} (${name}) is in schema "${spec.name}", which its labels do not route to; restore it from a backup`);
    taken.set(spec, column + 1);
    out.push({ name, labels, kind: r.kind, schema: spec.name, column, spec });
  }
  return out;
}

/** Replaces the file atomically; returns its new stamp. */
export function writeSeriesIndex(file: string, series: readonly SeriesRecord[], fileMode: number): string {
  writeMetaFile(file, 'rondo-series', { series }, fileMode);
  return seriesIndexStamp(file) ?? '';
}
