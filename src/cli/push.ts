// rondo push <dir> --url <remote-write URL> [--every D] [--exporter NAME] [--external-label k=v]...
//            [--header K=V]... [--bearer-token-file F | --basic-auth-file F] [--tls-* ...] [--proxy URL]
//            [--timeout D] [--max-retries N] [--verbose]
import * as fs from 'node:fs';
import { Store } from '../store';
import { ConfigError } from '../errors';
import {
  pushTo,
  RemoteWriteClient,
  RemoteWriteError,
  RemoteWriteTlsError,
  exporterNameFor,
  type PushOptions,
  type PushProgress,
  type PushSummary,
} from '../export';
import { formatDuration } from '../duration';
import { flag, parseArgs, UsageError } from './common';
import { formatCompact, formatCount, formatTime, writeOut } from './format';
import { parseDurationFlag } from './time';

export const PUSH_HELP = `usage: rondo push <dir> --url <remote-write URL> [--every D] [--exporter NAME]
                  [--external-label k=v]... [--header K=V]... [--bearer-token-file F | --basic-auth-file F]
                  [--tls-ca-file F] [--tls-cert-file F --tls-key-file F] [--tls-server-name NAME]
                  [--proxy URL] [--timeout D] [--max-retries N] [--verbose]

Sends what the store in <dir> holds in its finest tier, and has not sent yet, to a Prometheus
remote-write receiver (Prometheus with --web.enable-remote-write-receiver, VictoriaMetrics,
Mimir, ...), then stops (or, with --every, keeps doing so). The store is opened read-only and
may be written by a running process meanwhile; the only thing push changes is its exporter's
cursor (exporters/NAME.json in the store), moved past each batch once the receiver has accepted
it. Run it again later (from cron, say) and it sends what came since; a push that fails is
resumed from the first batch not accepted. Only intervals that have ended are sent. Each batch
carries the metadata of the metric families in it (type, and help and unit where the store has
a description).

options
  --url URL                 the receiver, e.g. http://127.0.0.1:9090/api/v1/write (required).
                            It may not hold credentials: use one of the files below.
  --every D                 keep running: push every D (e.g. 15s, 1m) until SIGTERM or SIGINT,
                            then push once more and exit. A round that fails is reported on
                            stderr and the next round resumes it.
  --exporter NAME           the cursor to move (default: named after the URL's host, port and
                            path). One cursor per destination; one process at a time uses it.
  --external-label k=v      a label added to every series (repeat for more); a series' own
                            label of the same name wins.
  --header K=V              an HTTP header sent with every request (repeat for more), e.g.
                            --header X-Scope-OrgID=tenant-1 ("K: V" too). Headers the protocol sets
                            (Content-Type, Content-Encoding, X-Prometheus-Remote-Write-Version,
                            Host, ...) are refused.
  --bearer-token-file F     sends "Authorization: Bearer <the file's content, trimmed>".
  --basic-auth-file F       F holds user:password on one line; sends HTTP basic auth.
  --tls-ca-file F           PEM file of the CA(s) that signed the receiver's certificate, used
                            instead of the system's (for a private CA).
  --tls-cert-file F, --tls-key-file F
                            a client certificate and its key (PEM), for receivers that require
                            one (mutual TLS). Give both.
  --tls-server-name NAME    the name sent in SNI and checked against the receiver's certificate
                            (default: the URL's host).
  --tls-insecure-skip-verify
                            do NOT verify the receiver's certificate. For test receivers only:
                            anyone on the path can then read and change what is sent.
  --proxy URL               an http:// proxy (http://user:pass@proxy:3128); default: from
                            https_proxy/HTTPS_PROXY (https URLs) or http_proxy/HTTP_PROXY (http),
                            unless no_proxy/NO_PROXY covers the host or it is loopback.
                            https goes through a CONNECT tunnel, so TLS is end to end.
  --timeout D               per request (default 30s); a duration such as 5s, 1m or 1500ms.
  --max-retries N           retries of a failed request (network error, timeout, 5xx, 429),
                            with backoff, before giving up (default 10; 0: none). TLS failures
                            (an untrusted certificate, a missing client certificate) are not
                            retried: the message says which option to pass.
  --verbose                 print the sender's warnings (retries, refusals) on stderr.

Credentials are never printed. While it runs, a progress bar shows on stderr when stderr is a
terminal. At the end one line on stdout sums it up: samples sent, batches, samples retried,
dropped (refused for good by the receiver with a 4xx: not sent again) and lost (overwritten by
the ring before they could be sent), and the time it took. With --every, one such line for each
round that sent something. Files (token, CA, certificate, key) are read again when they
change, so a rotated one is picked up.

exit status: 0 sent (or nothing to send); 1 the store cannot be read, the receiver could not be
reached or kept failing (the cursor stays at the first batch not accepted), or the receiver
refused samples (the summary is printed first); with --every, what the last push after the
signal gave; 2 a mistake in the command.

examples
  rondo push /var/lib/vmm/metrics --url http://prometheus:9090/api/v1/write
  rondo push ./metrics --url https://mimir.example/api/v1/push --basic-auth-file /etc/rondo/mimir.auth \\
      --header X-Scope-OrgID=team-a --external-label host=$(hostname) --exporter mimir
  rondo push ./metrics --url https://prom.example:9090/api/v1/write --tls-ca-file ca.pem \\
      --tls-cert-file client.pem --tls-key-file client-key.pem --every 15s
  rondo push ./metrics --url http://127.0.0.1:8428/api/v1/write --timeout 5s --max-retries 2`;

/** Shortest --every accepted. */
const MIN_EVERY_MS = 1000;

export async function pushCommand(argv: readonly string[]): Promise<number> {
  const args = parseArgs(
    'push',
    argv,
    [
      'url',
      'every',
      'exporter',
      'external-label',
      'header',
      'bearer-token-file',
      'basic-auth-file',
      'tls-ca-file',
      'tls-cert-file',
      'tls-key-file',
      'tls-server-name',
      'proxy',
      'timeout',
      'max-retries',
    ],
    ['verbose', 'tls-insecure-skip-verify'],
  );
  const [dir] = args.positional;
  if (dir === undefined || args.positional.length !== 1) throw new UsageError('rondo push: give one store directory; see rondo push --help');
  const url = flag(args, 'url');
  if (url === undefined) throw new UsageError('rondo push: --url is required (e.g. --url http://127.0.0.1:9090/api/v1/write); see rondo push --help');
  const shownUrl = urlForDisplay(url);
  const exporterName = flag(args, 'exporter') ?? exporterNameFor(url);
  const verbose = args.switches.has('verbose');
  const everyText = flag(args, 'every');
  const everyMs = everyText === undefined ? undefined : parseDurationFlag('push', 'every', everyText);
  if (everyMs !== undefined && everyMs < MIN_EVERY_MS) throw new UsageError(`rondo push: --every must be at least 1s, not ${everyText}`);

  const externalLabels: Record<string, string> = {};
  for (const kv of args.values.get('external-label') ?? []) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new UsageError(`rondo push: --external-label ${JSON.stringify(kv)} must be name=value, e.g. --external-label host=vmm-7`);
    externalLabels[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  const headers: Record<string, string> = {};
  for (const kv of args.values.get('header') ?? []) {
    // Name=value, or curl's "Name: value": a header name holds neither '=' nor ':'.
    const eq = kv.search(/[=:]/);
    if (eq <= 0) throw new UsageError(`rondo push: --header ${JSON.stringify(kv.split(/[=:]/)[0])} must be Name=value, e.g. --header X-Scope-OrgID=tenant-1`);
    const name = kv.slice(0, eq).trim();
    if (Object.keys(headers).some((k) => k.toLowerCase() === name.toLowerCase()))
      throw new UsageError(`rondo push: --header ${name} is given twice; give each header once`);
    headers[name] = kv.slice(eq + 1).trim();
  }

  const bearerFile = flag(args, 'bearer-token-file');
  const basicFile = flag(args, 'basic-auth-file');
  if (bearerFile !== undefined && basicFile !== undefined)
    throw new UsageError('rondo push: give --bearer-token-file or --basic-auth-file, not both');

  const options: PushOptions = { exporter: exporterName, externalLabels };
  if (Object.keys(headers).length > 0) options.headers = headers;
  if (bearerFile !== undefined) options.bearerTokenFile = bearerFile;
  if (basicFile !== undefined) options.basicAuth = readBasicAuthFile(basicFile);
  const tls: NonNullable<PushOptions['tls']> = {};
  const caFile = flag(args, 'tls-ca-file');
  const certFile = flag(args, 'tls-cert-file');
  const keyFile = flag(args, 'tls-key-file');
  const serverName = flag(args, 'tls-server-name');
  if (caFile !== undefined) tls.caFile = caFile;
  if (certFile !== undefined) tls.certFile = certFile;
  if (keyFile !== undefined) tls.keyFile = keyFile;
  if (serverName !== undefined) tls.serverName = serverName;
  if (args.switches.has('tls-insecure-skip-verify')) tls.insecureSkipVerify = true;
  if (Object.keys(tls).length > 0) options.tls = tls;
  const proxy = flag(args, 'proxy');
  if (proxy !== undefined) options.proxy = proxy;
  const timeout = flag(args, 'timeout');
  if (timeout !== undefined) options.timeoutMs = parseDurationFlag('push', 'timeout', timeout);
  const retries = flag(args, 'max-retries');
  if (retries !== undefined) {
    if (!/^\d+$/.test(retries) || Number(retries) > 1000)
      throw new UsageError(`rondo push: --max-retries must be a whole number from 0 to 1000, not ${JSON.stringify(retries)}`);
    options.maxRetries = Number(retries);
  }

  const progress = process.stderr.isTTY && everyMs === undefined ? new ProgressBar() : undefined;
  let refusal: string | undefined;
  options.logger = (level, message) => {
    const line = message.replace(/\s*\n\s*/g, ' ');
    if (level === 'error') refusal = line;
    if (message.includes('insecureSkipVerify')) return; // said once at the start, not each round
    if (verbose) {
      progress?.clear();
      process.stderr.write(`rondo push: ${level === 'warn' ? 'warning' : 'error'}: ${line}\n`);
    } else progress?.status(line.replace(`remote write to ${shownUrl} `, ''));
  };

  // Check the options (URL, labels, headers, credential and TLS files, proxy) before anything is opened.
  try {
    const { exporter: _e, ...clientOptions } = options;
    new RemoteWriteClient({ ...clientOptions, url, logger: () => {} }).close();
  } catch (e) {
    if (e instanceof ConfigError) throw new UsageError(`rondo push: ${cliNames(e.message.split('\n')[0]!)}`);
    throw e;
  }
  if (tls.insecureSkipVerify === true)
    process.stderr.write(
      `rondo push: warning: --tls-insecure-skip-verify: the certificate of ${shownUrl} is NOT verified; anyone on the path can read and change what is sent\n`,
    );

  const store = Store.openReadOnly(dir);
  try {
    try {
      store.exporter(exporterName);
    } catch (e) {
      if (e instanceof ConfigError) throw new UsageError(`rondo push: ${e.message.split('\n')[0]}`);
      throw e;
    }

    /** One push: its summary line on stdout (unless quiet and nothing was sent); 0 or 1. */
    const once = async (quiet: boolean): Promise<number> => {
      let accepted = 0;
      refusal = undefined;
      let summary: PushSummary;
      if (progress !== undefined) progress.start(estimateSamples(store, store.exporter(exporterName).positions));
      options.onProgress = (p) => {
        accepted = p.samples;
        progress?.update(p);
      };
      try {
        summary = await pushTo(store, url, options);
      } catch (e) {
        if (e instanceof ConfigError) {
          // A file that was readable at the start and is no longer (rotation gone wrong).
          process.stderr.write(`rondo push: ${cliNames(e.message.split('\n')[0]!)}\n`);
          return 1;
        }
        if (e instanceof RemoteWriteError || e instanceof RemoteWriteTlsError) {
          progress?.clear();
          process.stderr.write(
            `rondo push: ${e instanceof RemoteWriteTlsError ? `${e.name}: ` : ''}${cliNames(e.message.split('\n')[0]!)}; ` +
              `${accepted > 0 ? `${formatCount(accepted)} samples were accepted before that; ` : ''}` +
              'the next push resends what was not accepted\n',
          );
          return 1;
        }
        throw e;
      } finally {
        progress?.clear();
      }
      if (!quiet || summary.samples > 0 || summary.dropped > 0 || summary.lost > 0) writeOut(`${summaryLine(summary, shownUrl)}\n`);
      if (summary.dropped > 0) {
        // The sender's message: "<url> refused N samples with HTTP 400; dropped, not retried: <answer>"
        const m = refusal === undefined ? null : /with HTTP (\d+); dropped, not retried: (.*)$/.exec(refusal);
        const why = m === null ? '' : ` (HTTP ${m[1]}: ${m[2]!.slice(0, 300)})`;
        process.stderr.write(`rondo push: ${shownUrl} refused ${formatCount(summary.dropped)} samples for good${why}; they are not sent again\n`);
        return 1;
      }
      return 0;
    };

    if (everyMs === undefined) return await once(false);
    return await pushEvery(everyMs, () => once(!verbose));
  } finally {
    store.close();
  }
}

/**
 * --every: a push each interval (the next one `everyMs` after the last began, or at once if it
 * ran longer) until SIGTERM or SIGINT; then one more push, whose status is the exit status. A
 * second signal while that last push runs exits at once with 1.
 */
async function pushEvery(everyMs: number, once: () => Promise<number>): Promise<number> {
  let stopping = false;
  let wake: (() => void) | undefined;
  const onSignal = (): void => {
    if (stopping) {
      process.stderr.write('rondo push: second signal: exiting without finishing the last push\n');
      process.exit(1);
    }
    stopping = true;
    wake?.();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    while (!stopping) {
      const began = Date.now();
      await once();
      if (stopping) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.max(0, began + everyMs - Date.now()));
        function done(): void {
          clearTimeout(timer);
          wake = undefined;
          resolve();
        }
        wake = done;
      });
    }
    return await once();
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}

/** The library's option names in a message, as the command's flags. */
function cliNames(message: string): string {
  return message
    .replace(/tls\.caFile \(rondo push (--tls-ca-file[^)]*)\)/g, '$1')
    .replace(/tls\.insecureSkipVerify: true \((--tls-insecure-skip-verify)\)/g, '$1')
    .replace(/tls\.serverName \((--tls-server-name NAME)\)/g, '$1')
    .replace(/tls\.certFile and tls\.keyFile \((--tls-cert-file, --tls-key-file)\)/g, '$1')
    .replace(/tls\.\* \((--tls-\*)\)/g, '$1')
    .replace(/remote-write tls\.caFile/g, '--tls-ca-file')
    .replace(/remote-write tls\.certFile and tls\.keyFile go together/g, '--tls-cert-file and --tls-key-file go together')
    .replace(/remote-write tls\.certFile/g, '--tls-cert-file')
    .replace(/remote-write tls\.keyFile/g, '--tls-key-file')
    .replace(/remote-write tls\.serverName/g, '--tls-server-name')
    .replace(/remote-write headers may not set/g, '--header may not set')
    .replace(/remote-write proxy from the proxy option/g, '--proxy')
    .replace(/remote-write tls options need an https: url/g, '--tls-* options need an https: --url');
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
