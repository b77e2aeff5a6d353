#!/usr/bin/env node
// The rondo command: one module per subcommand under src/cli/.
import { errorLine, UsageError } from './common';
import { packageVersion } from '../package-root';
import { INFO_HELP, infoCommand } from './info';
import { BENCH_HELP, benchCommand } from './bench';
import { QUERY_HELP, queryCommand } from './query';
import { PUSH_HELP, pushCommand } from './push';
import { SERVE_HELP, serveCommand } from './serve';
import { MIGRATE_HELP, migrateCommand } from './migrate';
import { EXPORT_HELP, exportCommand } from './export';
import { EVENTS_HELP, eventsCommand } from './events';
import { BACKUP_HELP, RESTORE_HELP, VERIFY_HELP, backupCommand, restoreCommand, verifyCommand } from './backup';
import { FOSSIL_CLIENT_HELP, fossilClientCommand } from './fossil-client';

interface Command {
  /** One line for rondo --help. */
  summary: string;
  /** The whole of rondo <command> --help. */
  help: string;
  run(argv: readonly string[]): Promise<number>;
}

const COMMANDS: Record<string, Command> = {
  info: { summary: 'schemas, tiers, series and their last points', help: INFO_HELP, run: infoCommand },
  bench: { summary: 'write-path benchmark against a raw C mmap loop (temporary store)', help: BENCH_HELP, run: benchCommand },
  query: { summary: 'series a selector matches, over a time range, as csv, json, a table or charts', help: QUERY_HELP, run: queryCommand },
  events: { summary: 'records of the event ring (a VM\'s console, lifecycle): by topic and time, or --follow', help: EVENTS_HELP, run: eventsCommand },
  push: { summary: 'send what is new to a Prometheus remote-write receiver, once', help: PUSH_HELP, run: pushCommand },
  export: { summary: 'points a selector matches as csv, OpenMetrics text or Gorilla chunks, to move them out', help: EXPORT_HELP, run: exportCommand },
  backup: { summary: 'a hot, consistent backup archive of a store (full, or --since an earlier one)', help: BACKUP_HELP, run: backupCommand },
  restore: { summary: 'a store rebuilt from a backup archive and its incrementals', help: RESTORE_HELP, run: restoreCommand },
  verify: { summary: 'check backup archives without restoring them; names damaged chunks', help: VERIFY_HELP, run: verifyCommand },
  serve: { summary: 'Prometheus HTTP API, remote read and remote-write receive over a store', help: SERVE_HELP, run: serveCommand },
  migrate: { summary: 'carry a store\'s data over to other schemas (retention, tiers, maxSeries, routing)', help: MIGRATE_HELP, run: migrateCommand },
  'fossil-client': { summary: 'append, query, list and stats over fossil\'s TCP protocol (rondo serve --fossil)', help: FOSSIL_CLIENT_HELP, run: fossilClientCommand },
};

const USAGE = `usage: rondo <command> [options]

commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(name.length > 8 ? name.length : 8)} ${c.summary}`)
  .join('\n')}

rondo --version prints the package's version. rondo <command> --help shows a command's options.
info, query, events, export, backup and push open the store read-only and may run while another
process writes it (push moves only its exporter's cursor); serve opens it as its writer when no
other process is, read-only otherwise; migrate opens it as its writer.`;

export async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-V') {
    process.stdout.write(`${packageVersion()}\n`);
    return 0;
  }
  const cmd = COMMANDS[name];
  if (cmd === undefined) throw new UsageError(`rondo: unknown command "${name}"; see rondo --help`);
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${cmd.help}\n`);
    return 0;
  }
  return cmd.run(rest);
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`${errorLine(e)}\n`);
      process.exitCode = e instanceof UsageError ? 2 : 1;
    },
  );
}
