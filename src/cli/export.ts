// rondo export <dir> [selector] --format gorilla|csv|openmetrics [--from T] [--to T]
//                                [--tier auto|stitch|N] [-o FILE]
// Moving a store's points out: csv as `rondo query` writes it, OpenMetrics text (what
// `promtool tsdb create-blocks-from openmetrics` backfills into Prometheus), or the series
// container of Gorilla chunks (src/codec/container.ts, docs/codecs.md).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Store, type MetricDescription, type SelectResult } from '../store';
import { parseSelector } from '../selector';
import { encodeContainer, DEFAULT_CHUNK_POINTS, type ContainerSeries } from '../codec';
import { CapacityError, InvalidQueryError, InvalidSelectorError } from '../errors';
import { flag, parseArgs, UsageError } from './common';
import { toCsv } from './query';
import { parseTime } from './time';
import { writeOut } from './format';

export const EXPORT_HELP = `usage: rondo export <dir> ['<selector>'] --format gorilla|csv|openmetrics [--from T] [--to T]
                    [--tier auto|stitch|N] [-o FILE]

Writes the points of every series of the store in <dir> that the selector matches (default:
every series) to FILE or stdout, to move them out of rondo. Opens the store read-only: it may be
written by a running process meanwhile, and is never changed. Only recorded points are written
(an interval with nothing recorded has no point).

options
  --format F     csv, openmetrics or gorilla (required)
  --from T       first time wanted (inclusive); default: the oldest point the store holds
  --to T         last time wanted (inclusive); default now
                 T is RFC 3339, unix seconds or milliseconds, now, now-15m or -15m (as in rondo query)
  --tier stitch  fine data where the finest tier has it, coarser tiers before that (default)
  --tier auto    the finest tier whose ring reaches back to --from
  --tier N       tier N (0 is the finest)
  -o, --output FILE
                 write to FILE (replaced whole, atomically) instead of stdout

formats
  csv          as rondo query --format csv: header "series,timestamp,value", one row a point,
               the series key, the time in RFC 3339 UTC with milliseconds, the value in full precision.
  openmetrics  OpenMetrics text: per metric a "# TYPE" line (gauge; counter for a counter named
               *_total; unknown for another counter), "# HELP" and "# UNIT" lines from the
               store's descriptions (UNIT when the name ends in the unit), its samples "name{labels} value timestamp"
               with the timestamp in seconds (3 decimals), series after series in time order,
               then "# EOF". promtool tsdb create-blocks-from openmetrics FILE DIR reads it.
  gorilla      rondo's series container (docs/codecs.md): per series a JSON header (name, labels,
               kind, point and chunk counts) and its points in Gorilla chunks of ${DEFAULT_CHUNK_POINTS} points, each
               with a CRC-32. Binary: not written to a terminal.

exit status: 0 ok (also when nothing matches); 1 the store cannot be read; 2 a mistake in the
command (bad selector, time, tier or format).

examples
  rondo export ./metrics --format openmetrics -o metrics.om && promtool tsdb create-blocks-from openmetrics metrics.om ./data
  rondo export ./metrics 'vcpu_exits_total{vm="vm-42"}' --from -1d --format csv > exits.csv
  rondo export ./metrics --format gorilla -o metrics.rsc`;

type Format = 'csv' | 'openmetrics' | 'gorilla';
const FORMATS: readonly Format[] = ['csv', 'openmetrics', 'gorilla'];
const ALL = '{__name__=~".+"}';

export async function exportCommand(argv: readonly string[]): Promise<number> {
  const args = parseArgs(
    'export',
    argv.map((a) => (a === '-o' ? '--output' : a)),
    ['format', 'from', 'to', 'tier', 'output'],
    [],
  );
  if (args.positional.length < 1 || args.positional.length > 2)
    throw new UsageError(
      `rondo export: give a store directory and optionally a selector (got ${args.positional.length} arguments); see rondo export --help`,
    );
  const [dir, selectorText = ALL] = args.positional as [string, string?];
  const formatFlag = flag(args, 'format');
  if (formatFlag === undefined) throw new UsageError('rondo export: --format is required: csv, openmetrics or gorilla');
  const format = formatFlag as Format;
  if (!FORMATS.includes(format)) throw new UsageError(`rondo export: --format must be csv, openmetrics or gorilla, not ${JSON.stringify(formatFlag)}`);
  const tier = parseTier(flag(args, 'tier'));
  const now = Date.now();
  const fromFlag = flag(args, 'from');
  const toFlag = flag(args, 'to');
  const start = fromFlag === undefined ? 0 : parseTime('export', 'from', fromFlag, now);
  const end = toFlag === undefined ? now : parseTime('export', 'to', toFlag, now);
  if (start > end) throw new UsageError(`rondo export: --from is after --to; give a start before the end`);
  try {
    parseSelector(selectorText);
  } catch (e) {
    if (!(e instanceof InvalidSelectorError)) throw e;
    throw new UsageError(`rondo export: ${e.message.split('\n')[0]} (in ${JSON.stringify(selectorText)})`);
  }
  const output = flag(args, 'output');
  if (format === 'gorilla' && output === undefined && process.stdout.isTTY)
    throw new UsageError('rondo export: --format gorilla is binary; give -o FILE or redirect stdout');

  const store = Store.openReadOnly(dir);
  let results: SelectResult[];
  let descriptions: ReadonlyMap<string, MetricDescription> = new Map();
  try {
    results = store.select(selectorText, { start, end, tier });
    if (format === 'openmetrics') descriptions = store.descriptions();
  } catch (e) {
    if (e instanceof InvalidQueryError || e instanceof CapacityError) throw new UsageError(`rondo export: ${e.message.split('\n')[0]}`);
    throw e;
  } finally {
    store.close();
  }
  const parts: (string | Uint8Array)[] =
    format === 'csv' ? [toCsv(results)] : format === 'openmetrics' ? [toOpenMetrics(results, descriptions)] : encodeContainer(results.map(recorded), 'gorilla');
  if (output === undefined) {
    for (const p of parts) {
      if (typeof p === 'string') writeOut(p);
      else process.stdout.write(p);
    }
  } else {
    writeAtomically(output, parts);
  }
  return 0;
}

function parseTier(v: string | undefined): 'auto' | 'stitch' | number {
  if (v === undefined || v === 'auto' || v === 'stitch') return v ?? 'stitch';
  if (/^\d+$/.test(v)) return Number(v);
  throw new UsageError(`rondo export: --tier must be auto, stitch or a tier index (0 is the finest), not ${JSON.stringify(v)}`);
}

/** A result's recorded points only (NaN marks an interval with nothing recorded). */
export function recorded(r: SelectResult): ContainerSeries {
  let n = 0;
  for (let i = 0; i < r.values.length; i++) if (!Number.isNaN(r.values[i]!)) n++;
  const timestamps = new Float64Array(n);
  const values = new Float64Array(n);
  for (let i = 0, o = 0; i < r.values.length; i++) {
    const v = r.values[i]!;
    if (Number.isNaN(v)) continue;
    timestamps[o] = r.timestamps[i]!;
    values[o++] = v;
  }
  return { name: r.name, labels: r.labels, kind: r.kind, timestamps, values };
}

function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** A value as OpenMetrics writes numbers (Go's float formatting accepts JavaScript's shortest form). */
function omNumber(v: number): string {
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  if (Number.isNaN(v)) return 'NaN';
  return String(v);
}

/**
 * OpenMetrics text of the results: metric families grouped by name (OpenMetrics wants each
 * family's samples together), each series' recorded points in time order, then "# EOF".
 */
export function toOpenMetrics(results: readonly SelectResult[], descriptions: ReadonlyMap<string, MetricDescription> = new Map()): string {
  const byName = new Map<string, SelectResult[]>();
  for (const r of results) {
    const list = byName.get(r.name) ?? [];
    list.push(r);
    byName.set(r.name, list);
  }
  const out: string[] = [];
  for (const [name, list] of byName) {
    const counter = list[0]!.kind === 'counter';
    const family = counter && name.endsWith('_total') ? name.slice(0, -'_total'.length) : name;
    out.push(`# TYPE ${family} ${counter ? (family !== name ? 'counter' : 'unknown') : 'gauge'}`);
    const d = descriptions.get(name);
    if (d?.help !== undefined && d.help !== '') out.push(`# HELP ${family} ${d.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')}`);
    // OpenMetrics: a family's unit is a suffix of its name; a unit the name does not end in is left out.
    if (d?.unit !== undefined && d.unit !== '' && family.endsWith(`_${d.unit}`)) out.push(`# UNIT ${family} ${d.unit}`);
    for (const r of list) {
      const keys = Object.keys(r.labels)
        .filter((k) => r.labels[k] !== '')
        .sort();
      const labels = keys.length === 0 ? '' : `{${keys.map((k) => `${k}="${escapeLabelValue(r.labels[k]!)}"`).join(',')}}`;
      const prefix = `${name}${labels} `;
      for (let i = 0; i < r.timestamps.length; i++) {
        const v = r.values[i]!;
        if (Number.isNaN(v)) continue;
        out.push(`${prefix}${omNumber(v)} ${(r.timestamps[i]! / 1000).toFixed(3)}`);
      }
    }
  }
  out.push('# EOF');
  return `${out.join('\n')}\n`;
}

/** Writes the parts to a temporary file beside `file`, then renames it over `file`. */
function writeAtomically(file: string, parts: readonly (string | Uint8Array)[]): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  const fd = fs.openSync(tmp, 'w', 0o644);
  try {
    for (const p of parts) fs.writeSync(fd, typeof p === 'string' ? Buffer.from(p, 'utf8') : p);
    fs.fsyncSync(fd);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fs.closeSync(fd);
  fs.renameSync(tmp, file);
}
