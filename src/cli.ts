#!/usr/bin/env node
// The rondo command. For now: `rondo info`; query, push and bench come with the CLI work.
import { Store } from './store';
import { RondoError } from './errors';
import { formatDuration } from './duration';

const USAGE = `usage: rondo <command> [options]

commands:
  info <dir> [--format text|json]   schemas, tiers, series and their last points

Reads a store that another process may be writing; never changes it.`;

function main(argv: string[]): number {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    console.log(USAGE);
    return cmd === undefined ? 2 : 0;
  }
  if (cmd !== 'info') {
    console.error(`rondo: unknown command "${cmd}"; see rondo --help`);
    return 2;
  }
  if (rest.includes('--help')) {
    console.log('usage: rondo info <dir> [--format text|json]');
    return 0;
  }
  let format = 'text';
  const args: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === '--format') format = rest[++i] ?? '';
    else args.push(rest[i]!);
  }
  if (format !== 'text' && format !== 'json') {
    console.error(`rondo info: --format must be text or json, not "${format}"`);
    return 2;
  }
  if (args.length !== 1) {
    console.error('rondo info: give one store directory; see rondo info --help');
    return 2;
  }
  const store = Store.openReadOnly(args[0]!);
  try {
    const info = store.info();
    if (format === 'json') {
      console.log(JSON.stringify(info, null, 2));
      return 0;
    }
    console.log(`store ${info.dir}: ${info.totals.series} series, ${info.totals.bytes} bytes on disk`);
    for (const s of info.schemas) {
      console.log(`schema ${s.name}  match ${JSON.stringify(s.match)}  series ${s.seriesCount}/${s.maxSeries}`);
      for (const t of s.tiers)
        console.log(
          `  tier ${t.index}  ${formatDuration(t.intervalMs)} × ${t.slots} = ${formatDuration(t.retentionMs)}` +
            `${t.index > 0 ? `  ${t.consolidate} xff ${t.xff}` : ''}  ${t.file} ${t.bytes} bytes  late writes ${t.lateWrites}`,
        );
    }
    for (const se of info.series)
      console.log(
        `${se.key}  ${se.kind}  ${se.lastTimestamp === null ? 'no points' : `${new Date(se.lastTimestamp).toISOString()} ${se.lastValue}`}`,
      );
    return 0;
  } finally {
    store.close();
  }
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (e) {
  if (e instanceof RondoError) {
    console.error(`rondo: ${e.name}: ${e.message.split('\n')[0]}`);
    process.exitCode = 1;
  } else throw e;
}
