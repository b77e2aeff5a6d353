// Exporters: a durable cursor per destination over one tier of every schema. next() gathers the
// samples after the cursor in time order across series (merged by timestamp); only commit()
// moves the cursor, so a batch the receiver did not accept is sent again: at-least-once.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { addon, format, type NativeSlab } from './native';
import { ConfigError, CorruptFileError, InvalidSeriesError, nativeError, RondoError } from '../errors';
import { readMetaFile, writeMetaFile } from './metafile';
import type { SchemaSpec, TierSpec } from './schema';
import type { Labels, SeriesKind } from './series';
import type { ExportSeries } from './export-series';

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
  /**
   * Records durably where this batch ends, before it is sent. Should the process die before
   * commit(), the first batch after the restart ends at the same place: the receiver gets the
   * same batch again rather than one that also holds what was recorded since (a receiver that
   * refuses samples older than its newest, as a default Prometheus does, would refuse that one
   * whole, newer samples included). pushTo() pins every batch it sends. Writes the cursor file
   * only for a batch that `until` cut short (a full batch from the same cursor, with the same
   * maxSamples, is the same batch anyway).
   */
  pin(): void;
}

/** What an exporter needs of its store: the internals it reads. */
export interface ExportSource {
  readonly dir: string;
  readonly readOnly: boolean;
  readonly fileMode: number;
  /** kinds[c]: 1 when column c's series is a counter. */
  schemaViews(): Array<{ spec: SchemaSpec; slabs: readonly NativeSlab[]; series: ReadonlyArray<SeriesRef>; kinds: Uint8Array }>;
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
  /** Where the batch in flight ends (batch.pin()), until a commit reaches it. */
  inflight?: Record<string, ExportPosition>;
}

const EMPTY_ROWS = new Float64Array(0);

export class Exporter {
  readonly name: string;
  readonly tier: number;
  private state: ExporterState;
  private readonly file: string;
  private lockFd: number;
  private closed = false;
  /** Per schema, the buffer its rows are read to, kept from batch to batch. */
  private readonly rowBuffers = new Map<string, Float64Array>();

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
    const lock = path.join(dir, `${name}.lock`);
    try {
      this.lockFd = addon.lockStore(lock, source.fileMode);
    } catch (e) {
      throw nativeError(
        e,
        lock,
        (detail) =>
          `exporter "${name}" of store ${source.dir} is in use (${detail}); one process at a time moves an exporter's cursor: close the other, or use another exporter name`,
      );
    }
    try {
      const body = readMetaFile(this.file, 'rondo-exporter') as ExporterState | undefined;
      const tiers = source.schemaViews()[0]?.spec.tiers.length ?? 1;
      if (body !== undefined && source.schemaViews().some((s) => body.tier >= s.spec.tiers.length))
        throw new CorruptFileError(
          `${this.file} is damaged (it exports tier ${body.tier}, which a schema of this store does not have); remove the file to export from the start again`,
        );
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

  /**
   * What waits to be exported, in the schema furthest behind: the recorded time after the cursor
   * (seconds of the tier's intervals) and the share of the tier's ring it fills (0 to 1). At 1
   * the ring is overwriting samples not yet exported (they will be counted as lost).
   */
  backlog(): { seconds: number; ratio: number } {
    this.assertOpen();
    let seconds = 0;
    let ratio = 0;
    for (const s of this.source.schemaViews()) {
      if (s.series.length === 0) continue;
      const t = s.spec.tiers[this.tier]!;
      const { head, claims } = s.slabs[this.tier]!.counters();
      if (head === 0) continue;
      const oldest = Math.max(1, head - t.slots + 1);
      const k = this.state.positions[s.spec.name]?.k ?? 0;
      // Never committed: everything the ring holds (its claimed rows, the ring's length at most).
      const behind = k === 0 ? Math.min(head + 1 - oldest, claims) : k < oldest ? t.slots : Math.max(0, head + 1 - k);
      seconds = Math.max(seconds, (behind * t.intervalMs) / 1000);
      ratio = Math.max(ratio, Math.min(1, behind / t.slots));
    }
    return { seconds, ratio };
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


  /**
   * Records one of this exporter's own figures (a push's counts, its latency) into its store,
   * added to the series' last value when `add`. Read-only stores skip it; it never throws.
   */
  recordFigure(name: string, labels: Labels, kind: SeriesKind, value: number, add?: boolean): void {
    this.source.recordOwn(name, labels, kind, value, add);
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
    const inflight = this.state.inflight;
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
      // A batch pinned before a crash is sent again as it was: it ends where that one ended.
      const end: ExportPosition = { k: kEnd, col: 0 };
      const pinned = inflight === undefined ? undefined : (inflight[s.spec.name] ?? pos);
      const stop = pinned !== undefined && before(pinned, end) ? pinned : end;
      return new SchemaCursor(s.spec.name, t, slab, s.series, s.kinds, ncols, pos, stop, end, this.rowBuffers.get(s.spec.name) ?? EMPTY_ROWS);
    });

    const batch = new Gather();
    // Merge by timestamp: always take the schema whose next interval starts first.
    while (batch.count < maxSamples) {
      let c: SchemaCursor | undefined;
      for (const x of cursors) if (x.pending() && (c === undefined || x.nextTime() < c.nextTime())) c = x;
      if (c === undefined) break;
      c.take(maxSamples - batch.count, batch);
    }
    // Cut by maxSamples, a batch sent again from the same cursor with the same limit is the same
    // batch: only one cut short by `until` (the tail) could grow, so only that one is pinned.
    const full = batch.count >= maxSamples;
    for (const x of cursors) {
      positions[x.schema] = x.position();
      this.rowBuffers.set(x.schema, x.buf);
    }
    // Stale markers go out once every sample before them has: not in a pinned batch that
    // stops short of samples recorded since, which must go out first.
    const staleSent: Array<{ id: number; ts: number }> = [];
    const drained = cursors.every((x) => x.exhausted());
    for (const s of this.state.stale) {
      const ref = cursors.flatMap((x) => x.refs()).find((r) => r.id === s.id);
      if (ref === undefined) {
        staleSent.push(s);
        continue;
      }
      // A series recorded again at or after its marker's time lives on: the marker would share a
      // sample's timestamp (a receiver refuses the whole batch as a duplicate) or fall before it.
      const lastPt = this.source.lastPointOf(s.id);
      if (lastPt !== undefined && lastPt[0] >= s.ts) {
        staleSent.push(s);
        continue;
      }
      if (s.ts <= until && (drained || cursors.every((x) => x.doneBefore(s.ts)))) {
        batch.add(ref, s.ts, NaN, true);
        staleSent.push(s);
      }
    }

    const { count, first, last } = batch;
    const series: ExportSeries[] = batch.entries.map((e) => ({
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
      pin: () => {
        this.assertOpen();
        if (committed) throw new RondoError(`this batch of exporter "${this.name}" is already committed`);
        if (this.state.commits !== commitsAtStart)
          throw new RondoError(`exporter "${this.name}" moved since this batch was made; take a new batch with next()`);
        if (full && staleSent.length === 0) return;
        const ends = JSON.stringify(positions);
        if (this.state.inflight !== undefined && JSON.stringify(this.state.inflight) === ends) return;
        const next: ExporterState = { ...this.state, inflight: JSON.parse(ends) as Record<string, ExportPosition> };
        this.save(next);
        this.state = next;
      },
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
        // A pinned end not reached yet (the batch sent again was cut shorter) still holds.
        const pinned = this.state.inflight;
        if (pinned !== undefined && Object.entries(pinned).some(([k, p]) => before(positions[k] ?? { k: 0, col: 0 }, p)))
          next.inflight = pinned;
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

/** True when position a comes before position b. */
function before(a: ExportPosition, b: ExportPosition): boolean {
  return a.k < b.k || (a.k === b.k && a.col < b.col);
}

/** The samples of a batch being made, per series in the order their first sample came. */
class Gather {
  /** By series id (ids are dense). */
  private readonly byId: Array<GatherEntry | undefined> = [];
  readonly entries: GatherEntry[] = [];
  /** Samples taken, stale markers included. */
  count = 0;
  /** Timestamps of the first and last samples taken from the ring (stale markers aside). */
  first: number | null = null;
  last: number | null = null;

  add(ref: SeriesRef, ts: number, v: number, stale: boolean): void {
    let e = this.byId[ref.id];
    if (e === undefined) {
      e = { ref, ts: [], vs: [], stale: [] };
      this.byId[ref.id] = e;
      this.entries.push(e);
    }
    if (stale) e.stale.push(e.ts.length);
    e.ts.push(ts);
    e.vs.push(v);
    this.count++;
  }

  /** Samples of the ring were taken at ts. */
  took(ts: number): void {
    this.first ??= ts;
    this.last = ts;
  }
}

interface GatherEntry {
  ref: SeriesRef;
  ts: number[];
  vs: number[];
  stale: number[];
}

/** Reads one schema's tier row by row (in windows) from a position up to a stop position. */
class SchemaCursor {
  private bufK = 0;
  private bufN = 0;
  /** The aggregate a gauge's bucket is exported as: its tier's consolidate (which the tier keeps). */
  private readonly agg: number;

  constructor(
    readonly schema: string,
    private readonly tier: TierSpec,
    private readonly slab: NativeSlab,
    private readonly series: ReadonlyArray<SeriesRef>,
    private readonly kinds: Uint8Array,
    private readonly ncols: number,
    private pos: ExportPosition,
    /** Where the cursor stops: no sample at or after this position is taken. */
    private readonly stop: ExportPosition,
    /** Where the samples there are end (`stop` is before it for a pinned batch). */
    private readonly end: ExportPosition,
    /** Where rows are read to; a larger one replaces it when needed (kept by the exporter). */
    public buf: Float64Array,
  ) {
    this.agg = format.aggregates[tier.index === 0 ? 'last' : tier.consolidate];
  }

  refs(): ReadonlyArray<SeriesRef> {
    return this.series;
  }

  pending(): boolean {
    return this.ncols > 0 && before(this.pos, this.stop);
  }

  nextTime(): number {
    return this.pos.k * this.tier.intervalMs;
  }

  /** True when every sample there is has been taken (not only those up to the stop). */
  exhausted(): boolean {
    return this.ncols === 0 || !before(this.pos, this.end);
  }

  /** True when every interval starting before ts has been taken. */
  doneBefore(ts: number): boolean {
    return this.exhausted() || this.nextTime() >= ts;
  }

  position(): ExportPosition {
    return { ...this.pos };
  }

  /** Takes up to `room` samples from the current row on into the batch; returns how many. */
  take(room: number, batch: Gather): number {
    const k = this.pos.k;
    if (k < this.bufK || k >= this.bufK + this.bufN) this.load(k, room);
    const base = (k - this.bufK) * this.ncols;
    const ts = k * this.tier.intervalMs;
    let n = 0;
    let c = this.pos.col;
    const cols = k === this.stop.k ? Math.min(this.ncols, this.stop.col) : this.ncols;
    for (; c < cols && n < room; c++) {
      const ref = this.series[c]!;
      // The slab gives a gauge's aggregate, a counter's running total (its last value), NaN if missing.
      const v = this.buf[base + c]!;
      if (!Number.isNaN(v)) {
        batch.add(ref, ts, v, false);
        n++;
      }
    }
    if (n > 0) batch.took(ts);
    this.pos = c >= this.ncols ? { k: k + 1, col: 0 } : { k, col: c };
    return n;
  }

  private load(k: number, room: number): void {
    const rows = Math.max(1, Math.min(this.stop.k - k + (this.stop.col > 0 ? 1 : 0), Math.ceil(room / Math.max(1, this.ncols)) + 8, 4096));
    const need = rows * this.ncols;
    if (this.buf.length < need) this.buf = new Float64Array(need);
    this.slab.readRows(k, rows, this.ncols, this.agg, this.kinds, this.buf);
    this.bufK = k;
    this.bufN = rows;
  }
}
