// rondo info <dir> [--format text|json]
import { Store, type StoreInfo } from '../store';
import { formatDuration } from '../duration';
import { flag, parseArgs, UsageError } from './common';
import { alignTable, formatAge, formatBytes, formatCount, formatTime, formatValue, writeOut } from './format';

export const INFO_HELP = `usage: rondo info <dir> [--format text|json]

Shows a store's schemas, tiers (interval, retention, slots, consolidation, xff, the aggregates
a consolidated tier keeps and their precision, file size),
series with their kind, last timestamp and last value, and totals. Opens the store read-only:
it may be written by a running process meanwhile, and is never changed.

options
  --format text   for people (default): aligned tables, times in RFC 3339 UTC with their age,
                  values to 6 significant digits (integers in full)
  --format json   for machines: store.info() as JSON (times in ms since the epoch, null when
                  there are none)

exit status: 0 ok; 1 the store cannot be read (not a store, damaged); 2 a mistake in the command.

examples
  rondo info /var/lib/vmm/metrics
  rondo info ./metrics --format json | jq '.series[] | select(.kind == "counter") | .key'`;

export async function infoCommand(argv: readonly string[]): Promise<number> {
  const args = parseArgs('info', argv, ['format'], []);
  const format = flag(args, 'format') ?? 'text';
  if (format !== 'text' && format !== 'json') throw new UsageError(`rondo info: --format must be text or json, not "${format}"`);
  const [dir] = args.positional;
  if (dir === undefined || args.positional.length !== 1) throw new UsageError('rondo info: give one store directory; see rondo info --help');
  const store = Store.openReadOnly(dir);
  try {
    const info = store.info();
    writeOut(format === 'json' ? `${JSON.stringify(info, null, 2)}\n` : infoText(info, Date.now()));
    return 0;
  } finally {
    store.close();
  }
}

/** The text form of info: a summary, each schema with a table of its tiers, a table of the series. */
export function infoText(info: StoreInfo, now: number): string {
  const out: string[] = [];
  const totalSeries = `${formatCount(info.totals.series)} series`;
  out.push(`store    ${info.dir}`);
  if (info.createdMs > 0) out.push(`created  ${formatTime(Math.floor(info.createdMs / 1000) * 1000)} (${formatAge(info.createdMs, now)})`);
  out.push(`total    ${totalSeries}, ${formatBytes(info.totals.bytes)} on disk (${formatCount(info.totals.bytes)} bytes)`);

  for (const s of info.schemas) {
    const match = Object.entries(s.match);
    out.push(
      '',
      `schema ${s.name}: ${formatCount(s.seriesCount)} of ${formatCount(s.maxSeries)} series, ` +
        (match.length === 0 ? 'takes every series' : `takes series with ${match.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ')}`),
    );
    const rows = s.tiers.map((t) => [
      String(t.index),
      formatDuration(t.intervalMs),
      formatDuration(t.retentionMs),
      formatCount(t.slots),
      t.index === 0 ? 'raw' : t.consolidate,
      t.index === 0 ? '-' : String(t.xff),
      t.index === 0 ? '-' : `${t.aggregates.join(',')} ${t.precision}`,
      t.file,
      formatBytes(t.bytes),
      t.newest === null ? 'empty' : formatTime(t.newest),
      formatCount(t.lateWrites),
    ]);
    const table = alignTable(
      ['tier', 'interval', 'retention', 'slots', 'consolidate', 'xff', 'keeps', 'file', 'size', 'newest', 'late writes'],
      rows,
      [true, false, false, true, false, false, false, false, true, false, true],
    );
    out.push(...table.map((l) => `  ${l}`));
  }

  out.push('');
  if (info.series.length === 0) {
    out.push('series: none registered yet');
  } else {
    const several = info.schemas.length > 1;
    const rows = info.series.map((se) => [
      se.key,
      se.kind,
      ...(several ? [se.schema] : []),
      se.lastTimestamp === null ? 'no points' : `${formatTime(se.lastTimestamp)} (${formatAge(se.lastTimestamp, now)})`,
      se.lastValue === null ? '-' : formatValue(se.lastValue),
    ]);
    const table = alignTable(
      ['series', 'kind', ...(several ? ['schema'] : []), 'last point', 'last value'],
      rows,
      [false, false, ...(several ? [false] : []), false, true],
    );
    out.push(...table);
  }
  return `${out.join('\n')}\n`;
}
