// Exporters: a durable cursor per destination over one tier of every schema. next() gathers the
// samples after the cursor in time order across series (merged by timestamp); only commit()
// moves the cursor, so a batch the receiver did not accept is sent again: at-least-once.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { addon, nativeCode, type NativeSlab } from '../native';
import { ConfigError, InvalidSeriesError, RondoError, StoreLockedError } from '../errors';
import { readMetaFile, writeMetaFile } from '../metafile';
import type { Aggregation, SchemaSpec, TierSpec } from '../schema';
import type { Labels, SeriesKind } from '../series';
import type { ExportSeries } from './types';

export const EXPORTERS_DIR = 'exporters';
const EXPORTER_NAME_RE = /^[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,63}$/;

/** Where an exporter stands in one schema: every interval before k is exported, and in k the columns before col. */
export interface ExportPosition {
  k: number;
  col: number;
}

export interface ExporterOptions {
  /** The tier to export (default 0, the finest). */
  tier?: number;
}

export interface NextOptions {
  /** Most samples in the batch (stale markers may add a few). Default 2000. */
  maxSamples?: number;
  /** Only intervals that ended at or before this time (ms) are taken. Default now; Infinity takes
   *  the interval in progress too (for a final push when writing has stopped). */
  until?: number;
}

export interface ExportBatch {
  /** Series with their samples in this batch, each in time order. */
  readonly series: ExportSeries[];
  /** Samples in the batch, stale markers included. */
  readonly samples: number;
  /** Timestamp of the oldest and newest sample (null when empty). */
  readonly start: number | null;
  readonly end: number | null;
  /** Samples the ring overwrote before they could be exported, found while making this batch
   *  (intervals lost × series of the schema: an upper bound). */
  readonly lost: number;
  /** Moves the exporter's cursor past this batch, durably. Call it once the receiver accepted it. */
  commit(): void;
}

/** What an exporter needs of its store: the internals it reads. */
export interface ExportSource {
  readonly dir: string;
  readonly readOnly: boolean;
  readonly fileMode: number;
  schemaViews(): Array<{ spec: SchemaSpec; slabs: readonly NativeSlab[]; series: ReadonlyArray<SeriesRef> }>;
  /** Records the exporter's own figures (writable stores only); failures are ignored. */
  recordOwn(name: string, labels: Labels, kind: SeriesKind, value: number, add?: boolean): void;
  lastPointOf(id: number): [number, number] | undefined;
  intervalOf(id: number): number;
}

export interface SeriesRef {
  readonly id: number;
  readonly name: string;
  readonly labels: Labels;
  readonly kind: SeriesKind;
}

interface ExporterState {
  tier: number;
  positions: Record<string, ExportPosition>;
  lost: number;
  committedSamples: number;
  commits: number;
  stale: Array<{ id: number; ts: number }>;
}

const FIELD = { sum: 0, count: 1, min: 2, max: 3, last: 4 } as const;

export class Exporter {
  readonly name: string;
  readonly tier: number;
  private state: ExporterState;
  private readonly file: string;
  private lockFd: number;
  private closed = false;

  /** @internal use store.exporter(name) */
  constructor(
    private readonly source: ExportSource,
    name: string,
    options: ExporterOptions = {},
  ) {
    if (typeof name !== 'string' || !EXPORTER_NAME_RE.test(name))
      throw new ConfigError(`exporter name ${JSON.stringify(name)} is not valid; use 1-64 letters, digits, '_', '.' or '-'`);
    this.name = name;
    const dir = path.join(source.dir, EXPORTERS_DIR);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.file = path.join(dir, `${name}.json`);
    try {
      this.lockFd = addon.lockStore(path.join(dir, `${name}.lock`), source.fileMode);
    } catch (e) {
      if (nativeCode(e) === 'RONDO_LOCKED')
        throw new StoreLockedError(
          `exporter "${name}" of store ${source.dir} is in use (${(e as Error).message}); one process at a time moves an exporter's cursor: close the other, or use another exporter name`,
        );
      throw e;
    }
    try {
      const body = readMetaFile(this.file, 'rondo-exporter') as ExporterState | undefined;
      const tiers = source.schemaViews()[0]?.spec.tiers.length ?? 1;
      const tier = options.tier ?? body?.tier ?? 0;
      if (!Number.isInteger(tier) || tier < 0 || source.schemaViews().some((s) => tier >= s.spec.tiers.length))
        throw new ConfigError(`exporter "${name}" tier ${String(options.tier)} is not valid; use an index from 0 to ${tiers - 1}`);
      if (body !== undefined && body.tier !== tier)
        throw new ConfigError(
          `exporter "${name}" exports tier ${body.tier}, not ${tier}; use another exporter name for another tier`,
        );
      this.tier = tier;
      this.state = body ?? { tier, positions: {}, lost: 0, committedSamples: 0, commits: 0, stale: [] };
    } catch (e) {
      addon.unlockStore(this.lockFd);
      throw e;
    }
  }

  /** Samples the ring overwrote before they were exported, since the exporter was made. */
  get lostSamples(): number {
    return this.state.lost;
  }

  /** Samples committed since the exporter was made. */
  get committedSamples(): number {
    return this.state.committedSamples;
  }

  /** Where the cursor stands in each schema (interval number and column). */
  get positions(): Readonly<Record<string, ExportPosition>> {
    return this.state.positions;
  }

  /**
   * Marks series as ended: a Prometheus stale marker follows their last sample, so a receiver
   * stops showing them at once instead of after its lookback. Kept durably until committed.
   */
  end(series: SeriesRef | readonly SeriesRef[], ts: number = Date.now()): void {
    this.assertOpen();
    for (const s of Array.isArray(series) ? (series as readonly SeriesRef[]) : [series as SeriesRef]) {
      if (typeof s?.id !== 'number') throw new InvalidSeriesError('exporter.end() takes series handles');
      const last = this.source.lastPointOf(s.id);
      const at = Math.max(ts, last === undefined ? 0 : last[0] + this.source.intervalOf(s.id));
      if (!this.state.stale.some((x) => x.id === s.id)) this.state.stale.push({ id: s.id, ts: at });
    }
    this.save(this.state);
  }

  /** The samples after the cursor, oldest first, at most maxSamples. The cursor stays until commit(). */
  next(options: NextOptions = {}): ExportBatch {
    this.assertOpen();
    const maxSamples = options.maxSamples ?? 2000;
    if (!Number.isInteger(maxSamples) || maxSamples < 1)
      throw new ConfigError(`maxSamples ${String(options.maxSamples)} must be a positive integer`);
    const until = options.until ?? Date.now();
    const commitsAtStart = this.state.commits;
    const positions: Record<string, ExportPosition> = { ...this.state.positions };
    let lost = 0;

    const cursors = this.source.schemaViews().map((s) => {
      const t = s.spec.tiers[this.tier]!;
      const slab = s.slabs[this.tier]!;
      const head = slab.counters().head;
      const ncols = s.series.length;
      const oldest = head === 0 ? 0 : Math.max(1, head - t.slots + 1);
      let pos = positions[s.spec.name] ?? { k: 0, col: 0 };
      if (pos.k !== 0 && pos.k < oldest) {
        lost += (oldest - pos.k) * ncols - pos.col;
        pos = { k: oldest, col: 0 };
      } else if (pos.k === 0) {
        pos = { k: oldest, col: 0 };
      }
      const kEnd = head === 0 ? 0 : Math.min(head + 1, until === Infinity ? head + 1 : Math.floor(until / t.intervalMs));
      return new SchemaCursor(s.spec.name, t, slab, s.series, ncols, pos, kEnd);
    });

    const bySeries = new Map<number, { ref: SeriesRef; ts: number[]; vs: number[]; stale: number[] }>();
    const add = (ref: SeriesRef, ts: number, v: number, stale: boolean) => {
      let e = bySeries.get(ref.id);
      if (e === undefined) bySeries.set(ref.id, (e = { ref, ts: [], vs: [], stale: [] }));
      if (stale) e.stale.push(e.ts.length);
      e.ts.push(ts);
      e.vs.push(v);
    };

    let count = 0;
    let first: number | null = null;
    let last: number | null = null;
    // Merge by timestamp: always take the schema whose next interval starts first.
    while (count < maxSamples) {
      let c: SchemaCursor | undefined;
      for (const x of cursors) if (x.pending() && (c === undefined || x.nextTime() < c.nextTime())) c = x;
      if (c === undefined) break;
      count += c.take(maxSamples - count, (ref, ts, v) => {
        add(ref, ts, v, false);
        first ??= ts;
        last = ts;
      });
    }
    for (const x of cursors) positions[x.schema] = x.position();
    // Stale markers go out once every sample before them has.
    const staleSent: Array<{ id: number; ts: number }> = [];
    const drained = cursors.every((x) => !x.pending());
    for (const s of this.state.stale) {
      const ref = cursors.flatMap((x) => x.refs()).find((r) => r.id === s.id);
      if (ref === undefined) {
        staleSent.push(s);
        continue;
      }
      if (s.ts <= until && (drained || cursors.every((x) => x.doneBefore(s.ts)))) {
        add(ref, s.ts, NaN, true);
        staleSent.push(s);
        count++;
      }
    }

    const series: ExportSeries[] = [...bySeries.values()].map((e) => ({
      id: e.ref.id,
      name: e.ref.name,
      labels: e.ref.labels,
      kind: e.ref.kind,
      timestamps: e.ts,
      values: e.vs,
      ...(e.stale.length > 0 ? { stale: e.stale } : {}),
    }));
    let committed = false;
    return {
      series,
      samples: count,
      start: first,
      end: last,
      lost,
      commit: () => {
        this.assertOpen();
        if (committed) throw new RondoError(`this batch of exporter "${this.name}" is already committed`);
        if (this.state.commits !== commitsAtStart)
          throw new RondoError(`exporter "${this.name}" moved since this batch was made; take a new batch with next()`);
        const next: ExporterState = {
          tier: this.tier,
          positions,
          lost: this.state.lost + lost,
          committedSamples: this.state.committedSamples + count,
          commits: this.state.commits + 1,
          stale: this.state.stale.filter((s) => !staleSent.includes(s)),
        };
        this.save(next);
        this.state = next;
        committed = true;
        if (lost > 0) this.source.recordOwn('rondo_exporter_lost_samples_total', { exporter: this.name }, 'counter', next.lost);
      },
    };
  }

  /** Releases the exporter's lock. The store closes its exporters when it closes. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    addon.unlockStore(this.lockFd);
    this.lockFd = -1;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private save(state: ExporterState): void {
    writeMetaFile(this.file, 'rondo-exporter', state, this.source.fileMode);
  }

  private assertOpen(): void {
    if (this.closed) throw new RondoError(`exporter "${this.name}" is closed; get it again with store.exporter()`);
  }
}

/** Reads one schema's tier row by row (in windows) from a position up to kEnd. */
class SchemaCursor {
  private buf = new Float64Array(0);
  private bufK = 0;
  private bufN = 0;
  private readonly cellWords: number;
  private readonly agg: Aggregation;

  constructor(
    readonly schema: string,
    private readonly tier: TierSpec,
    private readonly slab: NativeSlab,
    private readonly series: ReadonlyArray<SeriesRef>,
    private readonly ncols: number,
    private pos: ExportPosition,
    private readonly kEnd: number,
  ) {
    this.cellWords = tier.index === 0 ? 1 : 5;
    this.agg = tier.consolidate;
  }

  refs(): ReadonlyArray<SeriesRef> {
    return this.series;
  }

  pending(): boolean {
    return this.ncols > 0 && this.pos.k < this.kEnd;
  }

  nextTime(): number {
    return this.pos.k * this.tier.intervalMs;
  }

  /** True when every interval starting before ts has been taken. */
  doneBefore(ts: number): boolean {
    return !this.pending() || this.nextTime() >= ts;
  }

  position(): ExportPosition {
    return { ...this.pos };
  }

  /** Takes up to `room` samples from the current row on; returns how many. */
  take(room: number, emit: (ref: SeriesRef, ts: number, v: number) => void): number {
    const k = this.pos.k;
    if (k < this.bufK || k >= this.bufK + this.bufN) this.load(k, room);
    const base = (k - this.bufK) * this.ncols * this.cellWords;
    const ts = k * this.tier.intervalMs;
    let n = 0;
    let c = this.pos.col;
    for (; c < this.ncols && n < room; c++) {
      const v = this.value(base + c * this.cellWords, this.series[c]!.kind);
      if (!Number.isNaN(v)) {
        emit(this.series[c]!, ts, v);
        n++;
      }
    }
    this.pos = c >= this.ncols ? { k: k + 1, col: 0 } : { k, col: c };
    return n;
  }

  private load(k: number, room: number): void {
    const rows = Math.max(1, Math.min(this.kEnd - k, Math.ceil(room / Math.max(1, this.ncols)) + 8, 4096));
    const need = rows * this.ncols * this.cellWords;
    if (this.buf.length < need) this.buf = new Float64Array(need);
    this.slab.readRows(k, rows, this.ncols, this.buf);
    this.bufK = k;
    this.bufN = rows;
  }

  private value(at: number, kind: SeriesKind): number {
    const b = this.buf;
    if (this.cellWords === 1) return b[at]!;
    const count = b[at + FIELD.count]!;
    if (!(count > 0)) return NaN;
    // A counter's running total is its last value in the bucket; a gauge follows the tier.
    const agg = kind === 'counter' ? 'last' : this.agg;
    if (agg === 'avg') return b[at + FIELD.sum]! / count;
    return agg === 'count' ? count : b[at + FIELD[agg]]!;
  }
}
