// rondo push <dir> --url <remote-write URL> [--exporter NAME] [--external-label k=v]...
//            [--bearer-token-file F | --basic-auth-file F] [--timeout D] [--max-retries N] [--verbose]
import * as fs from 'node:fs';
import { Store } from '../store';
import { ConfigError } from '../errors';
import { pushTo, RemoteWriteClient, RemoteWriteError, exporterNameFor, type PushOptions, type PushProgress, type PushSummary } from '../export';
import { formatDuration } from '../duration';
import { flag, parseArgs, UsageError } from './common';
import { formatCompact, formatCount, formatTime, writeOut } from './format';
import { parseDurationFlag } from './time';

export const PUSH_HELP = `usage: rondo push <dir> --url <remote-write URL> [--exporter NAME] [--external-label k=v]...
                  [--bearer-token-file F | --basic-auth-file F] [--timeout D] [--max-retries N] [--verbose]

Sends what the store in <dir> holds in its finest tier, and has not sent yet, to a Prometheus
remote-write receiver (Prometheus with --web.enable-remote-write-receiver, VictoriaMetrics,
Mimir, ...), then stops. The store is opened read-only and may be written by a running process
meanwhile; the only thing push changes is its exporter's cursor (exporters/NAME.json in the
store), moved past each batch once the receiver has accepted it. Run it again later (from cron,
say) and it sends what came since; a push that fails is resumed from the first batch not
accepted. Only intervals that have ended are sent.

options
  --url URL                 the receiver, e.g. http://127.0.0.1:9090/api/v1/write (required).
                            It may not hold credentials: use one of the files below.
  --exporter NAME           the cursor to move (default: named after the URL's host, port and
                            path). One cursor per destination; one process at a time uses it.
  --external-label k=v      a label added to every series (repeat for more); a series' own
                            label of the same name wins.
  --bearer-token-file F     sends "Authorization: Bearer <the file's content, trimmed>".
  --basic-auth-file F       F holds user:password on one line; sends HTTP basic auth.
  --timeout D               per request (default 30s); a duration such as 5s, 1m or 1500ms.
  --max-retries N           retries of a failed request (network error, timeout, 5xx, 429),
                            with backoff, before giving up (default 10; 0: none).
  --verbose                 print the sender's warnings (retries, refusals) on stderr.

Credentials are never printed. While it runs, a progress bar shows on stderr when stderr is a
terminal. At the end one line on stdout sums it up: samples sent, batches, samples retried,
dropped (refused for good by the receiver with a 4xx: not sent again) and lost (overwritten by
the ring before they could be sent), and the time it took.

exit status: 0 sent (or nothing to send); 1 the store cannot be read, the receiver could not be
reached or kept failing (the cursor stays at the first batch not accepted), or the receiver
refused samples (the summary is printed first); 2 a mistake in the command.

examples
  rondo push /var/lib/vmm/metrics --url http://prometheus:9090/api/v1/write
  rondo push ./metrics --url https://mimir.example/api/v1/push --basic-auth-file /etc/rondo/mimir.auth \\
      --external-label host=$(hostname) --exporter mimir
  rondo push ./metrics --url http://127.0.0.1:8428/api/v1/write --timeout 5s --max-retries 2`;

export async function pushCommand(argv: readonly string[]): Promise<number> {
  const args = parseArgs(
    'push',
    argv,
    ['url', 'exporter', 'external-label', 'bearer-token-file', 'basic-auth-file', 'timeout', 'max-retries'],
    ['verbose'],
  );
  const [dir] = args.positional;
  if (dir === undefined || args.positional.length !== 1) throw new UsageError('rondo push: give one store directory; see rondo push --help');
  const url = flag(args, 'url');
  if (url === undefined) throw new UsageError('rondo push: --url is required (e.g. --url http://127.0.0.1:9090/api/v1/write); see rondo push --help');
  const shownUrl = urlForDisplay(url);
  const exporterName = flag(args, 'exporter') ?? exporterNameFor(url);
  const verbose = args.switches.has('verbose');

  const externalLabels: Record<string, string> = {};
  for (const kv of args.values.get('external-label') ?? []) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new UsageError(`rondo push: --external-label ${JSON.stringify(kv)} must be name=value, e.g. --external-label host=vmm-7`);
    externalLabels[kv.slice(0, eq)] = kv.slice(eq + 1);
  }

  const bearerFile = flag(args, 'bearer-token-file');
  const basicFile = flag(args, 'basic-auth-file');
  if (bearerFile !== undefined && basicFile !== undefined)
    throw new UsageError('rondo push: give --bearer-token-file or --basic-auth-file, not both');

  const options: PushOptions = { exporter: exporterName, externalLabels };
  if (bearerFile !== undefined) options.bearerTokenFile = bearerFile;
  if (basicFile !== undefined) options.basicAuth = readBasicAuthFile(basicFile);
  const timeout = flag(args, 'timeout');
  if (timeout !== undefined) options.timeoutMs = parseDurationFlag('push', 'timeout', timeout);
  const retries = flag(args, 'max-retries');
  if (retries !== undefined) {
    if (!/^\d+$/.test(retries) || Number(retries) > 1000)
      throw new UsageError(`rondo push: --max-retries must be a whole number from 0 to 1000, not ${JSON.stringify(retries)}`);
    options.maxRetries = Number(retries);
  }

  const progress = process.stderr.isTTY ? new ProgressBar() : undefined;
  let refusal: string | undefined;
  options.logger = (level, message) => {
    const line = message.replace(/\s*\n\s*/g, ' ');
    if (level === 'error') refusal = line;
    if (verbose) {
      progress?.clear();
      process.stderr.write(`rondo push: ${level === 'warn' ? 'warning' : 'error'}: ${line}\n`);
    } else progress?.status(line.replace(`remote write to ${shownUrl} `, ''));
  };

  // Check the options (URL, labels, credential files) before anything is opened.
  try {
    const { exporter: _e, ...clientOptions } = options;
    new RemoteWriteClient({ ...clientOptions, url }).close();
  } catch (e) {
    if (e instanceof ConfigError) throw new UsageError(`rondo push: ${e.message.split('\n')[0]}`);
    throw e;
  }

  const store = Store.openReadOnly(dir);
  let summary: PushSummary;
  let accepted = 0;
  try {
    let exporter;
    try {
      exporter = store.exporter(exporterName);
    } catch (e) {
      if (e instanceof ConfigError) throw new UsageError(`rondo push: ${e.message.split('\n')[0]}`);
      throw e;
    }
    if (progress !== undefined) progress.start(estimateSamples(store, exporter.positions));
    options.onProgress = (p) => {
      accepted = p.samples;
      progress?.update(p);
    };
    try {
      summary = await pushTo(store, url, options);
    } catch (e) {
      if (e instanceof ConfigError) throw new UsageError(`rondo push: ${e.message.split('\n')[0]}`);
      if (e instanceof RemoteWriteError) {
        progress?.clear();
        process.stderr.write(
          `rondo push: ${e.message.split('\n')[0]}; ${accepted > 0 ? `${formatCount(accepted)} samples were accepted before that; ` : ''}` +
            'the next push resends what was not accepted\n',
        );
        return 1;
      }
      throw e;
    } finally {
      progress?.clear();
    }
  } finally {
    store.close();
  }

  writeOut(`${summaryLine(summary, shownUrl)}\n`);
  if (summary.dropped > 0) {
    // The sender's message: "<url> refused N samples with HTTP 400; dropped, not retried: <answer>"
    const m = refusal === undefined ? null : /with HTTP (\d+); dropped, not retried: (.*)$/.exec(refusal);
    const why = m === null ? '' : ` (HTTP ${m[1]}: ${m[2]!.slice(0, 300)})`;
    process.stderr.write(`rondo push: ${shownUrl} refused ${formatCount(summary.dropped)} samples for good${why}; they are not sent again\n`);
    return 1;
  }
  return 0;
}

/** The URL as it may be shown: origin and path, no credentials, no query string. */
function urlForDisplay(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    throw new UsageError(`rondo push: --url is not a valid URL; expected e.g. http://127.0.0.1:9090/api/v1/write`);
  }
}

/** user:password from the first line of a file; its content never appears in a message. */
function readBasicAuthFile(file: string): { username: string; password: string } {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`rondo push: --basic-auth-file ${JSON.stringify(file)} cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const line = text.replace(/\r?\n$/, '');
  const colon = line.indexOf(':');
  if (/[\r\n]/.test(line) || colon <= 0)
    throw new UsageError(`rondo push: --basic-auth-file ${JSON.stringify(file)} must hold user:password on one line`);
  return { username: line.slice(0, colon), password: line.slice(colon + 1) };
}

/**
 * About how many samples there are to send: for each schema, the intervals of tier 0 from the
 * exporter's position (or the oldest one the ring can hold) to the newest, but no more than the
 * rows ever taken, times its series. An upper bound, as missing points are not sent.
 */
function estimateSamples(store: Store, positions: Readonly<Record<string, { k: number; col: number }>>): number {
  const info = store.info();
  const now = Date.now();
  let total = 0;
  for (const s of info.schemas) {
    const t = s.tiers[0]!;
    if (t.newest === null || t.oldest === null || s.seriesCount === 0) continue;
    const oldestK = t.oldest / t.intervalMs;
    const pos = positions[s.name];
    const from = pos === undefined || pos.k < oldestK ? oldestK : pos.k;
    const endK = Math.min(t.newest / t.intervalMs + 1, Math.floor(now / t.intervalMs));
    const rows = Math.min(Math.max(0, endK - from), t.rowsClaimed);
    total += rows * s.seriesCount - (pos !== undefined && pos.k === from ? Math.min(pos.col, rows * s.seriesCount) : 0);
  }
  return Math.max(0, total);
}

export function summaryLine(s: PushSummary, url: string): string {
  const range = s.start === null || s.end === null ? '' : `, from ${formatTime(s.start)} to ${formatTime(s.end)}`;
  return (
    `pushed ${formatCount(s.samples)} samples in ${formatCount(s.batches)} batch${s.batches === 1 ? '' : 'es'} to ${url} ` +
    `(exporter ${s.exporter}): ${formatCount(s.retries)} retried, ${formatCount(s.dropped)} dropped, ${formatCount(s.lost)} lost, ` +
    `${formatSeconds(s.durationMs)}${range}`
  );
}

function formatSeconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(2)}s` : formatDuration(Math.round(ms / 1000) * 1000);
}

/** One line on stderr, redrawn in place: a bar when the total is known, a rate always. */
export class ProgressBar {
  private total = 0;
  private started = 0;
  private last: PushProgress = { batches: 0, samples: 0, through: null };
  private note = '';
  private drawnAt = 0;
  private shown = false;

  constructor(private readonly out: NodeJS.WriteStream = process.stderr) {}

  start(total: number): void {
    this.total = total;
    this.started = Date.now();
    this.draw(true);
  }

  update(p: PushProgress): void {
    this.last = p;
    this.note = '';
    this.draw(false);
  }

  /** A message (a retry, say) shown at the end of the line until the next batch. */
  status(message: string): void {
    this.note = message;
    this.draw(true);
  }

  clear(): void {
    if (!this.shown) return;
    this.out.write('\r\x1b[2K');
    this.shown = false;
  }

  private draw(force: boolean): void {
    const now = Date.now();
    if (!force && now - this.drawnAt < 100) return;
    this.drawnAt = now;
    const width = typeof this.out.columns === 'number' && this.out.columns > 20 ? this.out.columns : 80;
    this.out.write(`\r\x1b[2K${progressText(this.last, this.total, now - this.started, this.note, width)}`);
    this.shown = true;
  }
}

/** The progress line: "[####------------]  25%  12,000/~48,000 samples  3.2k/s  up to 12:00:05Z". */
export function progressText(p: PushProgress, total: number, elapsedMs: number, note: string, width: number): string {
  const rate = elapsedMs > 0 && p.samples > 0 ? `  ${formatCompact((p.samples * 1000) / elapsedMs)}/s` : '';
  const through = p.through === null ? '' : `  up to ${formatTime(p.through).slice(11)}`;
  let text: string;
  if (total > 0) {
    const f = Math.min(1, p.samples / total);
    const bar = 16;
    const filled = Math.round(f * bar);
    text = `[${'#'.repeat(filled)}${'-'.repeat(bar - filled)}] ${String(Math.floor(f * 100)).padStart(3)}%  ${formatCount(p.samples)}/~${formatCount(total)} samples${rate}${through}`;
  } else {
    text = `${formatCount(p.samples)} samples${rate}${through}`;
  }
  if (note !== '') text += `  (${note})`;
  return text.length > width - 1 ? `${text.slice(0, width - 2)}…` : text;
}
