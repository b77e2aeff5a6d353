// The description table (descriptions.json): per metric name, its help text and unit, as the
// writer of the store described them (store.describe). Replaced atomically on each change, so
// another process with the store open (rondo serve, rondo push) reads it and sees the change at
// its next look. A store without the file has no descriptions.
import * as path from 'node:path';
import { CapacityError, CorruptFileError, InvalidSeriesError } from '../errors';
import { readMetaFile, writeMetaFile } from './metafile';
import { seriesIndexStamp } from './series-index';
import type { SeriesKind } from './series';

export const DESCRIPTIONS_FILE = 'descriptions.json';
export const DESCRIPTIONS_FORMAT = 'rondo-descriptions';

/** What describe() takes: the help text and the unit of a metric name (each optional). */
export interface DescribeOptions {
  /** One line (or more) saying what the metric measures. At most 1024 characters. */
  help?: string;
  /**
   * The unit, as OpenMetrics spells it ('seconds', 'bytes', 'ratio', …): lower-case letters,
   * digits and `_`, at most 64 characters. OpenMetrics exposes it only when the name ends with
   * it (`_<unit>`, or `_<unit>_total` for a counter).
   */
  unit?: string;
}

/** A metric name's description: what describe() was told, and the kind of its series. */
export interface MetricDescription {
  help?: string;
  unit?: string;
  /** The kind of the name's first series, when the store has one. */
  kind?: SeriesKind;
}

export const DESCRIPTION_LIMITS = { maxNames: 65536, maxHelp: 1024, maxUnit: 64 } as const;

const NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const UNIT_RE = /^[a-z][a-z0-9_]*$/;

/** Checks describe()'s arguments; gives the description to store ({} for none). */
export function checkDescription(name: unknown, d: unknown): { help?: string; unit?: string } {
  if (typeof name !== 'string' || !NAME_RE.test(name) || name.length > 1024)
    throw new InvalidSeriesError(`describe: ${JSON.stringify(name)} is not a metric name; use letters, digits, '_' and ':', not starting with a digit`);
  if (d === null || typeof d !== 'object' || Array.isArray(d))
    throw new InvalidSeriesError(`describe(${name}, …): the description must be an object { help?, unit? }`);
  const { help, unit } = d as Record<string, unknown>;
  for (const k of Object.keys(d)) if (k !== 'help' && k !== 'unit') throw new InvalidSeriesError(`describe(${name}, …): unknown field ${JSON.stringify(k)}; a description has help and unit`);
  const out: { help?: string; unit?: string } = {};
  if (help !== undefined) {
    if (typeof help !== 'string' || help.length > DESCRIPTION_LIMITS.maxHelp)
      throw new InvalidSeriesError(`describe(${name}, …): help must be a string of at most ${DESCRIPTION_LIMITS.maxHelp} characters`);
    if (help !== '') out.help = help;
  }
  if (unit !== undefined) {
    if (typeof unit !== 'string' || unit.length > DESCRIPTION_LIMITS.maxUnit || (unit !== '' && !UNIT_RE.test(unit)))
      throw new InvalidSeriesError(
        `describe(${name}, …): unit ${JSON.stringify(unit)} is not a unit; use lower-case letters, digits and '_' (e.g. 'seconds', 'bytes'), at most ${DESCRIPTION_LIMITS.maxUnit} characters`,
      );
    if (unit !== '') out.unit = unit;
  }
  return out;
}

/** The table, as one process holds it: loaded at open, reloaded by a reader when the file changes. */
export class DescriptionTable {
  private readonly file: string;
  private table = new Map<string, { help?: string; unit?: string }>();
  private stamp: string | undefined;

  constructor(
    dir: string,
    private readonly fileMode: number,
  ) {
    this.file = path.join(dir, DESCRIPTIONS_FILE);
    this.reload();
  }

  /** Rereads the file if it changed since the last read (another process wrote it). */
  reload(): void {
    const stamp = seriesIndexStamp(this.file);
    if (stamp === this.stamp) return;
    if (stamp === undefined) {
      this.table = new Map();
      this.stamp = undefined;
      return;
    }
    const body = readMetaFile(this.file, DESCRIPTIONS_FORMAT) as { descriptions?: unknown } | undefined;
    const list = body?.descriptions;
    if (list === null || typeof list !== 'object' || Array.isArray(list))
      throw new CorruptFileError(`${this.file} has no descriptions object; restore it from a backup, or delete it (the store then has no descriptions)`);
    const table = new Map<string, { help?: string; unit?: string }>();
    for (const [name, d] of Object.entries(list as Record<string, unknown>)) {
      try {
        const clean = checkDescription(name, d);
        if (clean.help !== undefined || clean.unit !== undefined) table.set(name, clean);
      } catch (e) {
        throw new CorruptFileError(`${this.file}: the entry of ${JSON.stringify(name.slice(0, 100))} is not a description (${(e as Error).message}); restore it from a backup, or delete the file`);
      }
    }
    this.table = table;
    this.stamp = stamp;
  }

  get(name: string): { help?: string; unit?: string } | undefined {
    return this.table.get(name);
  }

  entries(): IterableIterator<[string, { help?: string; unit?: string }]> {
    return this.table.entries();
  }

  /** Sets (or with neither help nor unit, removes) a name's description; writes the file when it changed. */
  set(name: string, d: { help?: string; unit?: string }): void {
    const [e] = this.setMany([[name, d]]);
    if (e !== undefined) throw e;
  }

  /**
   * set() for many names, with one write of the file for all the changes: each entry's
   * CapacityError (the table full) or undefined; a failed write changes none and is thrown.
   */
  setMany(entries: ReadonlyArray<readonly [string, { help?: string; unit?: string }]>): Array<CapacityError | undefined> {
    const out: Array<CapacityError | undefined> = [];
    let next: Map<string, { help?: string; unit?: string }> | undefined;
    for (const [name, d] of entries) {
      const table = next ?? this.table;
      const old = table.get(name);
      const empty = d.help === undefined && d.unit === undefined;
      out.push(undefined);
      if (empty ? old === undefined : old !== undefined && old.help === d.help && old.unit === d.unit) continue;
      if (!empty && old === undefined && table.size >= DESCRIPTION_LIMITS.maxNames) {
        out[out.length - 1] = new CapacityError(`the store's description table is full (${DESCRIPTION_LIMITS.maxNames} names); ${name} is not described: describe fewer names`);
        continue;
      }
      next ??= new Map(this.table);
      if (empty) next.delete(name);
      else next.set(name, { ...(d.help === undefined ? {} : { help: d.help }), ...(d.unit === undefined ? {} : { unit: d.unit }) });
    }
    if (next === undefined) return out;
    const body: Record<string, { help?: string; unit?: string }> = {};
    for (const [k, v] of [...next].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) body[k] = v;
    writeMetaFile(this.file, DESCRIPTIONS_FORMAT, { descriptions: body }, this.fileMode);
    this.table = next;
    this.stamp = seriesIndexStamp(this.file);
    return out;
  }

}
