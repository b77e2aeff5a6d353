// Draining an exporter to a remote-write receiver: batch, send, commit only what was accepted.
// pushTo() and the agent's periodic push both run pushExporter().
import type { Exporter, ExportSeries, Labels, MetricDescription, SeriesKind, Store } from '../store';
import type { RemoteWriteMetadata } from './encode';
import { RemoteWriteClient, type RemoteWriteOptions } from './remote-write';

export interface PushOptions extends Omit<RemoteWriteOptions, 'url'> {
  /** The exporter (cursor) to drain. Default: one named after the URL's host, port and path. */
  exporter?: string;
  /** Tier to export (default 0). */
  tier?: number;
  /** Only intervals that ended by this time (ms); default now. Infinity also takes the interval
   *  in progress (for a last push after writing stopped). */
  until?: number;
  /** Called after each batch. */
  onProgress?: (p: PushProgress) => void;
  /** Send each family's metadata (type; help and unit from store.describe) with its batches. Default true. */
  metadata?: boolean;
}

export interface PushProgress {
  batches: number;
  samples: number;
  /** Newest timestamp sent so far (ms), null before the first batch. */
  through: number | null;
}

export interface PushSummary {
  exporter: string;
  /** Samples the receiver accepted (stale markers included). */
  samples: number;
  /** Requests that were accepted or dropped. */
  batches: number;
  /** Samples sent again after a failed attempt. */
  retries: number;
  /** Samples the receiver refused with a 4xx other than 429 (not retried). */
  dropped: number;
  /** Samples the ring overwrote before they could be exported. */
  lost: number;
  durationMs: number;
  /** Oldest and newest timestamp sent, null when nothing was. */
  start: number | null;
  end: number | null;
}

/** What pushExporter needs to record its own figures (writable stores do, read-only ones skip). */
export type RecordOwn = (name: string, labels: Labels, kind: SeriesKind, value: number, add?: boolean) => void;

/**
 * Drains a store's exporter to a Prometheus remote-write receiver once and resolves with a
 * summary. Each batch is committed only after the receiver accepted it (or refused it for good
 * with a 4xx: dropped and counted); if retries run out the promise rejects with RemoteWriteError
 * and the next push starts from the first batch not accepted.
 */
export async function pushTo(store: Store, url: string, options: PushOptions = {}): Promise<PushSummary> {
  const { exporter: exporterName, tier, until, onProgress, metadata, ...clientOptions } = options;
  const client = new RemoteWriteClient({ ...clientOptions, url });
  try {
    const exporter = store.exporter(exporterName ?? exporterNameFor(url), tier === undefined ? {} : { tier });
    return await pushExporter(exporter, client, {
      ...(until === undefined ? {} : { until }),
      ...(onProgress === undefined ? {} : { onProgress }),
      ...(metadata === false ? {} : { describe: (name: string) => store.describe(name) }),
      recordOwn: (name, labels, kind, value, add) => exporter.recordFigure(name, labels, kind, value, add),
    });
  } finally {
    client.close();
  }
}

/**
 * Sends batches from the exporter until it has nothing left, committing each accepted (or
 * dropped) batch. A batch that fails after its retries stays uncommitted and the promise
 * rejects: the next push starts with it again.
 */
export async function pushExporter(
  exporter: Exporter,
  client: RemoteWriteClient,
  options: {
    until?: number;
    onProgress?: (p: PushProgress) => void;
    recordOwn?: RecordOwn;
    /** Where the metadata's help and unit come from; without it no metadata is sent. */
    describe?: (name: string) => MetricDescription | undefined;
  } = {},
): Promise<PushSummary> {
  const started = Date.now();
  const until = options.until ?? started;
  const before = { ...client.stats };
  const summary: PushSummary = {
    exporter: exporter.name,
    samples: 0,
    batches: 0,
    retries: 0,
    dropped: 0,
    lost: 0,
    durationMs: 0,
    start: null,
    end: null,
  };
  const finish = () => {
    summary.retries = client.stats.samplesRetried - before.samplesRetried;
    summary.durationMs = Date.now() - started;
    recordFigures(exporter.name, client, before, options.recordOwn);
    recordBacklog(exporter, options.recordOwn);
  };
  try {
    for (;;) {
      const batch = exporter.next({ maxSamples: client.maxSamplesPerSend, until });
      if (batch.samples === 0) {
        if (batch.lost > 0) {
          batch.commit();
          summary.lost += batch.lost;
        }
        break;
      }
      batch.pin(); // a crash before the commit sends this same batch again, not a longer one
      const r = await client.send(batch.series, options.describe === undefined ? undefined : batchMetadata(batch.series, options.describe));
      batch.commit();
      summary.batches++;
      summary.lost += batch.lost;
      if (r.outcome === 'sent') {
        summary.samples += batch.samples;
        summary.start ??= batch.start;
        summary.end = batch.end;
      } else {
        summary.dropped += batch.samples;
      }
      options.onProgress?.({ batches: summary.batches, samples: summary.samples, through: summary.end });
    }
  } finally {
    finish();
  }
  return summary;
}

/**
 * The metadata of the families in a batch: each name once, typed by its series' kind, with the
 * help and unit the store has for it. Prometheus itself sends metadata apart from samples, all of
 * it every minute (metadata_config.send_interval), or with the samples whose metadata changed
 * (metadata-wal-records); rondo, whose pushes may be one-off, puts each batch's families into the
 * batch, so every request describes what it carries. A description that cannot be read (a damaged
 * file) leaves help and unit out rather than stopping the push.
 */
function batchMetadata(series: readonly ExportSeries[], describe: (name: string) => MetricDescription | undefined): RemoteWriteMetadata[] {
  const out: RemoteWriteMetadata[] = [];
  const seen = new Set<string>();
  for (const s of series) {
    if (seen.has(s.name) || s.timestamps.length === 0) continue;
    seen.add(s.name);
    let d: MetricDescription | undefined;
    try {
      d = describe(s.name);
    } catch {
      d = undefined;
    }
    out.push({
      type: s.kind,
      family: s.name,
      ...(d?.help !== undefined ? { help: d.help } : {}),
      ...(d?.unit !== undefined ? { unit: d.unit } : {}),
    });
  }
  return out;
}

// The counters add this push's part to the exporter's running totals in the store.
function recordFigures(
  exporter: string,
  client: RemoteWriteClient,
  before: RemoteWriteClient['stats'],
  recordOwn: RecordOwn | undefined,
): void {
  if (recordOwn === undefined) return;
  const l = { exporter };
  const s = client.stats;
  recordOwn('rondo_remote_write_samples_sent_total', l, 'counter', s.samplesSent - before.samplesSent, true);
  recordOwn('rondo_remote_write_samples_failed_total', l, 'counter', s.samplesFailed - before.samplesFailed, true);
  recordOwn('rondo_remote_write_samples_retried_total', l, 'counter', s.samplesRetried - before.samplesRetried, true);
  recordOwn('rondo_remote_write_samples_dropped_total', l, 'counter', s.samplesDropped - before.samplesDropped, true);
  // Only a push that had a request accepted has a latency and a success of its own (a client
  // kept from push to push, as the agent's is, still holds the last push's).
  if (s.lastSuccessMs === null || s.lastSuccessMs === before.lastSuccessMs) return;
  if (s.lastLatencyMs !== null) recordOwn('rondo_remote_write_push_latency_seconds', l, 'gauge', s.lastLatencyMs / 1000);
  recordOwn('rondo_remote_write_last_success_timestamp_seconds', l, 'gauge', s.lastSuccessMs / 1000);
}

// After every push, sent or failed: what still waits, so a receiver down long enough to let the
// ring overwrite unexported samples is seen before they are lost (the lost count comes later,
// when a push gets through). A series is left out when the store could not say.
function recordBacklog(exporter: Exporter, recordOwn: RecordOwn | undefined): void {
  if (recordOwn === undefined || exporter.isClosed) return;
  let b: { seconds: number; ratio: number };
  try {
    b = exporter.backlog();
  } catch {
    return;
  }
  recordOwn('rondo_exporter_backlog_seconds', { exporter: exporter.name }, 'gauge', b.seconds);
  recordOwn('rondo_exporter_backlog_ratio', { exporter: exporter.name }, 'gauge', b.ratio);
}

/** The default exporter name for a URL: its host, port and path, as a file-safe name. */
export function exporterNameFor(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'remote-write';
  }
  const name = `rw_${u.hostname}_${u.port || (u.protocol === 'https:' ? '443' : '80')}${u.pathname}`.replace(/[^a-zA-Z0-9_.-]/g, '_');
  return name.slice(0, 64);
}
