// Prometheus remote-write 1.0 sender: one send() = one POST of a snappy-compressed WriteRequest,
// retried with exponential backoff and full jitter on network errors, timeouts, 5xx and 429.
import * as http from 'node:http';
import * as https from 'node:https';
import { performance } from 'node:perf_hooks';
import { inspect } from 'node:util';
import { RondoError } from '../errors';
import { checkRemoteWriteOptions, Credentials, MAX_BODY_KEPT, BODY_LOGGED, MAX_RETRY_AFTER_MS, MAX_TIMER_MS } from './remote-write-options';
import { countSamples, encodeWriteRequest } from './encode';
import { compressSnappy } from './snappy';
import type { ExportSeries } from '../store';

export interface RemoteWriteOptions {
  /** http(s)://host:port/api/v1/write. Must not hold credentials: use bearerToken or basicAuth. */
  url: string;
  /** Labels added to every series (a series' own label of the same name wins). */
  externalLabels?: Record<string, string>;
  bearerToken?: string;
  /** Read at construction and again before each send (so rotation works); whitespace trimmed. */
  bearerTokenFile?: string;
  basicAuth?: { username: string; password?: string; passwordFile?: string };
  /** Extra headers. May not set the protocol's own headers, nor Authorization when auth is configured. */
  headers?: Record<string, string>;
  /** Per request (one attempt), default 30000. */
  timeoutMs?: number;
  /** Default 2000. Callers batch by it; send() does not split. */
  maxSamplesPerSend?: number;
  /** Retries after the first attempt, default 10. 0 disables retries. */
  maxRetries?: number;
  /** Default 30 ms. */
  minBackoffMs?: number;
  /** Default 5000 ms. */
  maxBackoffMs?: number;
  /** Bound on concurrent sends (each holding its slot through its retries), default 1. */
  maxInFlight?: number;
  /** Default `rondo/<package version>`. */
  userAgent?: string;
  /** Default: one line to stderr. */
  logger?: (level: 'warn' | 'error', message: string) => void;
}

export interface SendResult {
  /** 'sent': the receiver accepted it (2xx). 'dropped': refused for good (4xx other than 429). */
  outcome: 'sent' | 'dropped';
  /** Samples in the request (stale markers included). */
  samples: number;
  /** HTTP attempts made (1 = no retry). 0 when there was nothing to send. */
  attempts: number;
  /** HTTP status of the last attempt (0 when there was nothing to send). */
  status: number;
  /** Round-trip time of the last attempt, ms. */
  latencyMs: number;
  /** For 'dropped': the receiver's answer (first 512 characters of its body). */
  message?: string;
}

export interface RemoteWriteStats {
  /** HTTP requests made (every attempt counts). */
  requests: number;
  samplesSent: number;
  /** Samples of sends that ran out of retries (or were cut short by close()). */
  samplesFailed: number;
  /** Samples of every retried attempt (a batch retried twice counts twice). */
  samplesRetried: number;
  /** Samples refused for good by the receiver (4xx other than 429). */
  samplesDropped: number;
  /** Date.now() of the last accepted request. */
  lastSuccessMs: number | null;
  /** Round-trip time of the last accepted request, ms. */
  lastLatencyMs: number | null;
}

/** A remote-write send that failed after its retries (or because the client was closed). */
export class RemoteWriteError extends RondoError {
  override name = 'RemoteWriteError';
  constructor(
    message: string,
    /** The receiver's URL, without credentials. */
    readonly url: string,
    /** Attempts made. */
    readonly attempts: number,
    /** Last HTTP status, 0 when the last attempt got no answer. */
    readonly status: number,
    /** Samples in the failed send. */
    readonly samples: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

interface Attempt {
  status: number; // 0: no answer
  body: string;
  retryAfterMs: number | null;
  error?: Error;
  latencyMs: number;
}

/** Sends batches of series to a Prometheus remote-write receiver. */
export class RemoteWriteClient {
  readonly maxSamplesPerSend: number;
  /** The receiver's URL as shown in messages: no credentials, no query string. */
  readonly url: string;

  readonly #url: URL;
  readonly #external: Record<string, string>;
  readonly #credentials: Credentials;
  readonly #headers: Record<string, string>;
  readonly #timeoutMs: number;
  readonly #maxRetries: number;
  readonly #minBackoffMs: number;
  readonly #maxBackoffMs: number;
  readonly #maxInFlight: number;
  readonly #userAgent: string;
  readonly #log: (level: 'warn' | 'error', message: string) => void;
  readonly #agent: http.Agent;
  readonly #transport: typeof http | typeof https;
  readonly #stats: RemoteWriteStats = {
    requests: 0,
    samplesSent: 0,
    samplesFailed: 0,
    samplesRetried: 0,
    samplesDropped: 0,
    lastSuccessMs: null,
    lastLatencyMs: null,
  };
  #inFlight = 0;
  readonly #waiting: Array<() => void> = [];
  readonly #sleeps = new Set<() => void>();
  readonly #requests = new Set<http.ClientRequest>();
  #closed = false;

  constructor(options: RemoteWriteOptions) {
    const o = checkRemoteWriteOptions(options);
    this.#url = o.url;
    this.url = `${o.url.origin}${o.url.pathname}`;
    this.#external = o.externalLabels;
    this.#credentials = new Credentials(o.auth, o.redactions);
    this.#headers = o.headers;
    this.#timeoutMs = o.timeoutMs;
    this.maxSamplesPerSend = o.maxSamplesPerSend;
    this.#maxRetries = o.maxRetries;
    this.#minBackoffMs = o.minBackoffMs;
    this.#maxBackoffMs = o.maxBackoffMs;
    this.#maxInFlight = o.maxInFlight;
    this.#userAgent = o.userAgent;
    this.#log = o.logger;
    this.#transport = o.url.protocol === 'https:' ? https : http;
    const agentOptions: http.AgentOptions = { keepAlive: true, maxSockets: this.#maxInFlight };
    this.#agent = o.url.protocol === 'https:' ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
  }

  /** Counters since construction (a snapshot). */
  get stats(): RemoteWriteStats {
    return { ...this.#stats };
  }

  /** The options in effect, with every credential replaced by "<redacted>". */
  get options(): Record<string, unknown> {
    return this.toJSON();
  }

  /**
   * POSTs all of `series` as one WriteRequest. Resolves 'sent' on 2xx and 'dropped' on a 4xx
   * other than 429 (not retried; counted and logged). Retries network errors, timeouts, 5xx and
   * 429 with backoff (honouring Retry-After); rejects with RemoteWriteError once maxRetries is
   * spent. Series without samples are skipped; if none has any, nothing is sent.
   */
  async send(series: readonly ExportSeries[]): Promise<SendResult> {
    if (this.#closed) throw this.#closedError(0, countSamples(series));
    const samples = countSamples(series);
    if (samples === 0) return { outcome: 'sent', samples: 0, attempts: 0, status: 0, latencyMs: 0 };
    const body = compressSnappy(encodeWriteRequest(series, this.#external));

    await this.#acquire();
    try {
      return await this.#sendWithRetries(body, samples);
    } finally {
      this.#release();
    }
  }

  /** Releases keep-alive sockets; sends queued or in progress fail with RemoteWriteError. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const wake of this.#waiting.splice(0)) wake();
    for (const wake of [...this.#sleeps]) wake();
    for (const req of this.#requests) req.destroy(new Error('client closed'));
    this.#agent.destroy();
  }

  toJSON(): Record<string, unknown> {
    const auth = this.#credentials.describe();
    const headers: Record<string, string> = {};
    for (const name of Object.keys(this.#headers)) headers[name] = '<redacted>';
    return {
      url: this.url,
      externalLabels: { ...this.#external },
      auth,
      headers,
      timeoutMs: this.#timeoutMs,
      maxSamplesPerSend: this.maxSamplesPerSend,
      maxRetries: this.#maxRetries,
      minBackoffMs: this.#minBackoffMs,
      maxBackoffMs: this.#maxBackoffMs,
      maxInFlight: this.#maxInFlight,
      userAgent: this.#userAgent,
      closed: this.#closed,
    };
  }

  toString(): string {
    return `RemoteWriteClient(${this.url})`;
  }

  [inspect.custom](): string {
    return `RemoteWriteClient ${inspect(this.toJSON(), { depth: 3 })}`;
  }

  // ---- internals ----

  /** `text` with every known credential (and its Basic encoding) replaced. */
  #redact(text: string): string {
    return this.#credentials.redact(text);
  }

  #acquire(): Promise<void> {
    if (this.#inFlight < this.#maxInFlight) {
      this.#inFlight++;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.#waiting.push(() => {
        this.#inFlight++;
        resolve();
      });
    });
  }

  #release(): void {
    this.#inFlight--;
    const next = this.#waiting.shift();
    if (next) next();
  }

  #closedError(attempts: number, samples: number): RemoteWriteError {
    return new RemoteWriteError(
      `remote write to ${this.url} was abandoned: the client is closed (after ${attempts} attempt${attempts === 1 ? '' : 's'})`,
      this.url,
      attempts,
      0,
      samples,
    );
  }

  async #sendWithRetries(body: Buffer, samples: number): Promise<SendResult> {
    let attempts = 0;
    for (;;) {
      if (this.#closed) {
        this.#stats.samplesFailed += samples;
        throw this.#closedError(attempts, samples);
      }
      const authorization = await this.#credentials.authorization(this.#log);
      attempts++;
      this.#stats.requests++;
      const a = await this.#post(body, authorization);

      if (a.status >= 200 && a.status < 300) {
        this.#stats.samplesSent += samples;
        this.#stats.lastSuccessMs = Date.now();
        this.#stats.lastLatencyMs = a.latencyMs;
        return { outcome: 'sent', samples, attempts, status: a.status, latencyMs: a.latencyMs };
      }

      const retryable = a.status === 0 || a.status === 429 || a.status >= 500;
      if (!retryable) {
        const message = this.#redact(a.body.slice(0, BODY_LOGGED)).trim();
        this.#stats.samplesDropped += samples;
        this.#log(
          'error',
          `${this.url} refused ${samples} samples with HTTP ${a.status}; dropped, not retried: ${message === '' ? '(empty body)' : message}`,
        );
        return { outcome: 'dropped', samples, attempts, status: a.status, latencyMs: a.latencyMs, message };
      }

      const what = a.status === 0 ? this.#redact(a.error?.message ?? 'no answer') : `HTTP ${a.status}${this.#bodySnippet(a.body)}`;
      if (attempts > this.#maxRetries) {
        this.#stats.samplesFailed += samples;
        throw new RemoteWriteError(
          `remote write of ${samples} samples to ${this.url} failed after ${attempts} attempt${attempts === 1 ? '' : 's'}; last: ${what}`,
          this.url,
          attempts,
          a.status,
          samples,
          a.status === 0 && a.error ? { cause: new Error(this.#redact(a.error.message)) } : undefined,
        );
      }

      // Exponential backoff with full jitter; Retry-After (429, 503) is a floor.
      const ceiling = Math.min(this.#maxBackoffMs, this.#minBackoffMs * 2 ** Math.min(attempts - 1, 30));
      let delay = Math.random() * ceiling;
      if (a.retryAfterMs !== null) delay = Math.max(delay, a.retryAfterMs);
      this.#stats.samplesRetried += samples;
      if (attempts === 1 || attempts % 5 === 0)
        this.#log('warn', `remote write to ${this.url} failed (${what}); retry ${attempts} of ${this.#maxRetries} in ${Math.round(delay)} ms`);
      await this.#sleep(delay);
    }
  }

  #bodySnippet(body: string): string {
    const t = this.#redact(body.slice(0, 200)).trim();
    return t === '' ? '' : ` (${t})`;
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.#sleeps.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, Math.ceil(ms));
      this.#sleeps.add(wake);
    });
  }

  #post(body: Buffer, authorization: string | undefined): Promise<Attempt> {
    const headers: http.OutgoingHttpHeaders = {
      ...this.#headers,
      'Content-Encoding': 'snappy',
      'Content-Type': 'application/x-protobuf',
      'X-Prometheus-Remote-Write-Version': '0.1.0',
      'User-Agent': this.#userAgent,
      'Content-Length': body.length,
    };
    if (authorization !== undefined) headers['Authorization'] = authorization;

    return new Promise<Attempt>((resolve) => {
      const started = performance.now();
      let settled = false;
      const finish = (a: Omit<Attempt, 'latencyMs'>): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.#requests.delete(req);
        resolve({ ...a, latencyMs: performance.now() - started });
      };

      const req = this.#transport.request(this.#url, { method: 'POST', headers, agent: this.#agent }, (res) => {
        const chunks: Buffer[] = [];
        let kept = 0;
        res.on('data', (chunk: Buffer) => {
          if (kept < MAX_BODY_KEPT) {
            chunks.push(chunk);
            kept += chunk.length;
          }
        });
        res.on('end', () => {
          finish({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).subarray(0, MAX_BODY_KEPT).toString('utf8'),
            retryAfterMs: parseRetryAfter(res.headers['retry-after']),
          });
        });
        res.on('error', (error) => finish({ status: 0, body: '', retryAfterMs: null, error }));
        res.on('close', () => {
          if (!res.complete) finish({ status: 0, body: '', retryAfterMs: null, error: new Error('connection closed before the answer was complete') });
        });
      });
      const timer = setTimeout(() => {
        req.destroy(new Error(`no complete answer within ${this.#timeoutMs} ms (timeoutMs)`));
      }, this.#timeoutMs);
      this.#requests.add(req);
      req.on('error', (error) => finish({ status: 0, body: '', retryAfterMs: null, error }));
      req.end(body);
    });
  }
}

/** Retry-After as ms to wait: delta-seconds or an HTTP-date; capped at 5 minutes. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | null {
  const v = (Array.isArray(value) ? value[0] : value)?.trim();
  if (v === undefined || v === '') return null;
  let ms: number;
  if (/^\d+$/.test(v)) ms = Number(v) * 1000;
  else {
    const at = Date.parse(v);
    if (Number.isNaN(at)) return null;
    ms = Math.max(0, at - now);
  }
  return Math.min(ms, MAX_RETRY_AFTER_MS);
}
