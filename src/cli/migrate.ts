// rondo migrate <dir> --schema new.json [--dry-run] [--format text|json]
import * as fs from 'node:fs';
import { ConfigError } from '../errors';
import { formatDuration } from '../duration';
import { Store, type MigrationReport, type SchemaOptions } from '../store';
import { flag, parseArgs, UsageError } from './common';
import { formatCount, writeOut } from './format';

export const MIGRATE_HELP = `usage: rondo migrate <dir> --schema new.json [--dry-run] [--format text|json]

Carries a store's data over to other schemas (docs/migrations.md): a tier's retention or
interval changed, a tier added or removed, maxSeries grown or shrunk, a schema's match changed,
a schema added or removed, a tier's aggregates or precision changed. A new coarser tier is filled
from what the store keeps. The migrated store is built beside the old one and swapped in with
renames: killed at any point, the directory opens as the old store or as the new one.

It opens the store as its writer: stop the process that writes it (and rondo push or serve on
it) first. Shrinking maxSeries below the series that hold points is refused, naming them.

options
  --schema F      a JSON array of schemas (as Store.open's schemas option): the new layout
  --dry-run       say what would be done; the store is not changed
  --format text   for people (default): the changes, series moved and dropped, points per tier
  --format json   the report as JSON (Store.migrate's MigrationReport)

exit status: 0 done (or nothing to do); 1 refused or failed (the store is left as it was);
2 a mistake in the command.

examples
  rondo migrate /var/lib/vmm/metrics --schema schemas.json --dry-run
  rondo migrate ./metrics --schema schemas.json`;

export async function migrateCommand(argv: readonly string[]): Promise<number> {
  const args = parseArgs('migrate', argv, ['schema', 'format'], ['dry-run']);
  const format = flag(args, 'format') ?? 'text';
  if (format !== 'text' && format !== 'json') throw new UsageError(`rondo migrate: --format must be text or json, not "${format}"`);
  const [dir] = args.positional;
  if (dir === undefined || args.positional.length !== 1) throw new UsageError('rondo migrate: give one store directory; see rondo migrate --help');
  const file = flag(args, 'schema');
  if (file === undefined) throw new UsageError('rondo migrate: --schema <file> is required (a JSON array of schemas); see rondo migrate --help');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`rondo migrate: cannot read --schema ${JSON.stringify(file)}: ${(e as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`rondo migrate: --schema ${JSON.stringify(file)} is not JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(parsed)) throw new UsageError(`rondo migrate: --schema ${JSON.stringify(file)} must hold a JSON array of schemas`);
  if (!fs.existsSync(dir)) throw new UsageError(`rondo migrate: ${dir} does not exist; give the directory of an existing store`);
  let report: MigrationReport;
  try {
    report = Store.migrate(dir, { schemas: parsed as SchemaOptions[], dryRun: args.switches.has('dry-run') });
  } catch (e) {
    if (e instanceof ConfigError) throw new UsageError(`rondo migrate: --schema: ${e.message.split('\n')[0]}`);
    throw e;
  }
  writeOut(format === 'json' ? `${JSON.stringify(report, null, 2)}\n` : reportText(report));
  return 0;
}

/** The text form of a migration report. */
export function reportText(r: MigrationReport): string {
  const out: string[] = [];
  if (r.changes.length === 0) {
    out.push(`store ${r.dir}: its schemas are already these; nothing to do`);
    return `${out.join('\n')}\n`;
  }
  out.push(`${r.dryRun ? 'would migrate' : 'migrated'} store ${r.dir}`, '', 'changes');
  for (const c of r.changes) out.push(`  ${c}`);
  out.push('', `series: ${formatCount(r.seriesKept)} kept in place, ${formatCount(r.seriesMoved.length)} moved, ${formatCount(r.seriesDropped.length)} dropped`);
  for (const m of r.seriesMoved) out.push(`  moved    ${m.key}: ${m.from.schema}[${m.from.column}] -> ${m.to.schema}[${m.to.column}]`);
  for (const d of r.seriesDropped) out.push(`  dropped  ${d.key} (schema ${d.schema}): ${d.reason}`);
  out.push('', `points ${r.dryRun ? 'to carry' : 'carried'}`);
  for (const t of r.tiers)
    out.push(`  ${t.schema} tier ${t.tier} (${formatDuration(t.intervalMs)} × ${formatDuration(t.retentionMs)}): ${formatCount(t.points)}`);
  if (r.exporters.length > 0) {
    out.push('', 'exporters');
    for (const e of r.exporters) out.push(`  ${e.name}: ${e.carried ? 'cursor carried (by time)' : `dropped: ${e.reason ?? ''}`}`);
  }
  if (r.copied.length > 0) out.push('', `copied as they are: ${r.copied.join(', ')}`);
  return `${out.join('\n')}\n`;
}
