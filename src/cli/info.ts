// rondo info <dir> [--format text|json]
import { Store } from '../store';
import { formatDuration } from '../duration';
import { flag, parseArgs, UsageError } from './common';

export const INFO_HELP = `usage: rondo info <dir> [--format text|json]

Shows a store's schemas, tiers (interval, retention, slots, consolidation, xff, file size),
series with their kind, last timestamp and last value, and totals. Opens the store read-only:
it may be written by a running process meanwhile, and is never changed.`;

export async function infoCommand(argv: readonly string[]): Promise<number> {
  const args = parseArgs('info', argv, ['format'], []);
  const format = flag(args, 'format') ?? 'text';
  if (format !== 'text' && format !== 'json') throw new UsageError(`rondo info: --format must be text or json, not "${format}"`);
  if (args.positional.length !== 1) throw new UsageError('rondo info: give one store directory; see rondo info --help');
  const store = Store.openReadOnly(args.positional[0]!);
  try {
    const info = store.info();
    if (format === 'json') {
      process.stdout.write(`${JSON.stringify(info, null, 2)}\n`);
      return 0;
    }
    const lines: string[] = [];
    lines.push(`store ${info.dir}: ${info.totals.series} series, ${info.totals.bytes} bytes on disk`);
    for (const s of info.schemas) {
      lines.push(`schema ${s.name}  match ${JSON.stringify(s.match)}  series ${s.seriesCount}/${s.maxSeries}`);
      for (const t of s.tiers)
        lines.push(
          `  tier ${t.index}  ${formatDuration(t.intervalMs)} × ${t.slots} = ${formatDuration(t.retentionMs)}` +
            `${t.index > 0 ? `  ${t.consolidate} xff ${t.xff}` : ''}  ${t.file} ${t.bytes} bytes  late writes ${t.lateWrites}`,
        );
    }
    for (const se of info.series)
      lines.push(
        `${se.key}  ${se.kind}  ${se.lastTimestamp === null ? 'no points' : `${new Date(se.lastTimestamp).toISOString()} ${se.lastValue}`}`,
      );
    process.stdout.write(`${lines.join('\n')}\n`);
    return 0;
  } finally {
    store.close();
  }
}
