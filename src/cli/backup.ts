// rondo backup <dir> <file> [--since ARCHIVE] [--codec NAME]
// rondo restore <archive> [<incremental>...] <dir>
// rondo verify <archive>...
// Hot backups of a store (Store.backup, docs/backup-format.md), their restore and their check.
import * as fs from 'node:fs';
import { Store, type RestoreReport, type VerifyReport } from '../store';
import { codecs } from '../codec';
import { flag, parseArgs, UsageError } from './common';

export const BACKUP_HELP = `usage: rondo backup <dir> <file> [--since ARCHIVE] [--codec NAME] [--format text|json]

Writes a backup archive of the store in <dir> to <file> while the store's writer keeps
recording (the store is opened read-only: nothing in it changes). Every row is read whole;
the series, schemas and other metadata files (exporter cursors, influx.json) are taken at one
instant, which the archive states ("as of"). <file> is written through <file>.tmp and renamed
into place when whole. docs/backup-format.md describes the archive.

options
  --since ARCHIVE  write an incremental archive: only what is newer than ARCHIVE's instant
                   (ARCHIVE: an earlier full or incremental archive of this store). Restore
                   the full archive and the incrementals after it, in order.
  --codec NAME     the codec of the chunks: gorilla (default), raw or deflate
  --format F       text (default): a summary for people; json: the summary as JSON

exit status: 0 written; 1 the store cannot be read or the file cannot be written; 2 a mistake
in the command.

examples
  rondo backup ./vm-metrics vm-metrics.rbak
  rondo backup ./vm-metrics vm-metrics.1.rbak --since vm-metrics.rbak`;

export const RESTORE_HELP = `usage: rondo restore <archive> [<incremental>...] <dir> [--format text|json]

Rebuilds a store in <dir> (a new directory, or an empty one) from a full archive and, after
it, the incremental archives made --since it, in the order they were made. The store answers
every query as the original did at the last archive's instant, in every tier.

A damaged archive restores every intact chunk and names the damaged ones (on stdout, one a
line after "damaged:"), and the command then exits 1. An archive with no readable manifest, or
archives out of order, restore nothing.

exit status: 0 restored whole; 1 restored with damaged chunks left out, or nothing restored
(an unreadable archive, <dir> not empty); 2 a mistake in the command.

example
  rondo restore vm-metrics.rbak vm-metrics.1.rbak ./vm-metrics-restored`;

export const VERIFY_HELP = `usage: rondo verify <archive>... [--format text|json]

Checks archives without restoring them: every record's checksum, every chunk decoded and its
points checked against the rows it covers, every chunk the manifest lists present. Lists the
damaged or missing chunks by name (schema, tier, series, aggregate, time span).

exit status: 0 every archive whole; 1 damage found (listed), or an archive with no readable
manifest; 2 a mistake in the command.`;

function outputFormat(cmd: string, v: string | undefined): 'text' | 'json' {
  const f = v ?? 'text';
  if (f !== 'text' && f !== 'json') throw new UsageError(`rondo ${cmd}: --format ${f} is not text or json`);
  return f;
}

const iso = (ms: number): string => new Date(ms).toISOString();

export async function backupCommand(argv: readonly string[]): Promise<number> {
  const args = parseArgs('backup', argv, ['since', 'codec', 'format'], []);
  if (args.positional.length !== 2)
    throw new UsageError(`rondo backup: give a store directory and an archive file (got ${args.positional.length} arguments); see rondo backup --help`);
  const [dir, file] = args.positional as [string, string];
  const fmt = outputFormat('backup', flag(args, 'format'));
  const codec = flag(args, 'codec');
  if (codec !== undefined && !codecs().some((c) => c.name === codec))
    throw new UsageError(`rondo backup: --codec ${codec} is not a codec; use one of ${codecs().map((c) => c.name).join(', ')}`);
  const since = flag(args, 'since');
  const store = Store.openReadOnly(dir);
  try {
    const s = await store.backup(file, { ...(since === undefined ? {} : { since }), ...(codec === undefined ? {} : { codec }) });
    if (fmt === 'json') process.stdout.write(`${JSON.stringify(s)}\n`);
    else
      process.stdout.write(
        `${s.base === null ? 'full' : `incremental (since ${s.base})`} archive ${s.id} of ${dir}, as of ${iso(s.asOfMs)}\n` +
          `  ${s.series} series, ${s.points} points${s.events > 0 ? `, ${s.events} events` : ''} in ${s.chunks} ${s.codec} chunks, ${s.bytes} bytes → ${file}\n` +
          (s.files.length > 0 ? `  metadata files: ${s.files.join(', ')}\n` : ''),
      );
  } finally {
    store.close();
  }
  return 0;
}

export async function restoreCommand(argv: readonly string[]): Promise<number> {
  const args = parseArgs('restore', argv, ['format'], []);
  if (args.positional.length < 2)
    throw new UsageError(`rondo restore: give one or more archives, then the directory to restore into; see rondo restore --help`);
  const fmt = outputFormat('restore', flag(args, 'format'));
  const files = args.positional.slice(0, -1);
  const dir = args.positional[args.positional.length - 1]!;
  for (const f of files) if (!fs.existsSync(f)) throw new UsageError(`rondo restore: ${f}: no such archive`);
  const r: RestoreReport = Store.restore(files, dir);
  if (fmt === 'json') process.stdout.write(`${JSON.stringify(r)}\n`);
  else {
    process.stdout.write(
      `restored ${r.dir} as of ${iso(r.asOfMs)} from ${r.archives.length} archive${r.archives.length === 1 ? '' : 's'}: ` +
        `${r.series} series, ${r.points} points, ${r.events > 0 ? `${r.events} events, ` : ''}${r.restoredChunks} of ${r.chunks} chunks\n`,
    );
    if (r.damaged.length > 0) process.stdout.write(`damaged: ${r.damaged.length} chunks not restored\n${r.damaged.map((d) => `  ${d}\n`).join('')}`);
    if (r.problems.length > 0) process.stdout.write(`problems:\n${r.problems.map((d) => `  ${d}\n`).join('')}`);
  }
  return r.damaged.length > 0 ? 1 : 0;
}

export async function verifyCommand(argv: readonly string[]): Promise<number> {
  const args = parseArgs('verify', argv, ['format'], []);
  if (args.positional.length < 1) throw new UsageError('rondo verify: give one or more archive files; see rondo verify --help');
  const fmt = outputFormat('verify', flag(args, 'format'));
  let code = 0;
  const reports: VerifyReport[] = [];
  for (const f of args.positional) {
    if (!fs.existsSync(f)) throw new UsageError(`rondo verify: ${f}: no such archive`);
    const r = Store.verifyBackup(f);
    reports.push(r);
    const whole = r.damaged.length === 0 && r.problems.length === 0;
    if (!whole) code = 1;
    if (fmt === 'text') {
      process.stdout.write(
        `${f}: ${whole ? 'ok' : 'DAMAGED'}: ${r.base === null ? 'full' : `incremental (since ${r.base})`} archive ${r.id} as of ${iso(r.asOfMs)}, ` +
          `${r.series} series, ${r.points} points, ${r.events > 0 ? `${r.events} events, ` : ''}${r.intactChunks} of ${r.chunks} ${r.codec} chunks intact\n`,
      );
      if (r.damaged.length > 0) process.stdout.write(`damaged: ${r.damaged.length} chunks\n${r.damaged.map((d) => `  ${d}\n`).join('')}`);
      if (r.problems.length > 0) process.stdout.write(`problems:\n${r.problems.map((d) => `  ${d}\n`).join('')}`);
    }
  }
  if (fmt === 'json') process.stdout.write(`${JSON.stringify(reports.length === 1 ? reports[0] : reports)}\n`);
  return code;
}
