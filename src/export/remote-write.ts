// Prometheus remote-write 1.0 sender: one send() = one POST of a snappy-compressed WriteRequest,
// retried with exponential backoff and full jitter on network errors, timeouts, 5xx and 429.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as path from 'node:path';
import { PACKAGE_ROOT } from '../package-root';
import { performance } from 'node:perf_hooks';
import { inspect } from 'node:util';
import { ConfigError, InvalidSeriesError, RondoError } from '../errors';
import { validateSeries } from '../store';
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

const DEFAULTS = {
  timeoutMs: 30_000,
  maxSamplesPerSend: 2000,
  maxRetries: 10,
  minBackoffMs: 30,
  maxBackoffMs: 5000,
  maxInFlight: 1,
} as const;

/** Headers whose values are credentials: never shown in a message, even when a receiver echoes them. */
const SECRET_HEADER_RE = /authorization|token|key|secret|password|passwd|cookie|session|signature|credential/;

/** Longest Retry-After honoured. */
const MAX_RETRY_AFTER_MS = 5 * 60_000;
/** Most of a response body kept (the rest is read and discarded). */
const MAX_BODY_KEPT = 64 * 1024;
const BODY_LOGGED = 512;
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Headers the protocol owns; `headers` may not set them. */
const RESERVED_HEADERS = new Set([
  'content-encoding',
  'content-type',
  'x-prometheus-remote-write-version',
  'user-agent',
  'content-length',
  'transfer-encoding',
  'connection',
]);

let packageVersion: string | undefined;
function rondoVersion(): string {
  if (packageVersion === undefined) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version?: unknown };
      packageVersion = typeof pkg.version === 'string' ? pkg.version : 'unknown';
    } catch {
      packageVersion = 'unknown';
    }
  }
  return packageVersion;
}

const defaultLogger = (level: 'warn' | 'error', message: string): void => {
  process.stderr.write(`rondo remote-write ${level}: ${message.replace(/\s*\n\s*/g, ' ')}\n`);
};

function positive(name: string, value: unknown, fallback: number, integer: boolean): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value)))
    throw new ConfigError(`remote-write ${name} must be a positive ${integer ? 'integer' : 'number'}, got ${String(value)}`);
  if (value > MAX_TIMER_MS) throw new ConfigError(`remote-write ${name} is ${value}; the limit is ${MAX_TIMER_MS}`);
  return value;
}

function readSecretFile(what: string, file: string): string {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    throw new ConfigError(`remote-write ${what} ${JSON.stringify(file)} cannot be read (${code}); check the path and its permissions`);
  }
  const secret = text.trim();
  if (secret === '') throw new ConfigError(`remote-write ${what} ${JSON.stringify(file)} is empty`);
  return secret;
}

type Auth =
  | { kind: 'none' }
  | { kind: 'bearer'; token?: string; file?: string }
  | { kind: 'basic'; username: string; password?: string; file?: string };

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
  readonly #auth: Auth;
  #lastSecret: string | undefined;
  readonly #secrets = new Set<string>();
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
    if (options === null || typeof options !== 'object') throw new ConfigError('remote-write options must be an object with at least { url }');

    // URL
    if (typeof options.url !== 'string' || options.url === '')
      throw new ConfigError('remote-write url must be a string like "http://127.0.0.1:9090/api/v1/write"');
    let url: URL;
    try {
      url = new URL(options.url);
    } catch {
      throw new ConfigError('remote-write url is not a valid URL; expected e.g. "http://127.0.0.1:9090/api/v1/write"');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new ConfigError(`remote-write url must use http: or https:, not ${url.protocol}`);
    if (url.username !== '' || url.password !== '')
      throw new ConfigError('remote-write url must not hold credentials; use the basicAuth or bearerToken options');
    if (url.hash !== '') url.hash = '';
    this.#url = url;
    // Some receivers take a key in the query string: it is sent, never shown (nor echoed back).
    for (const value of url.searchParams.values()) this.#addRedaction(value);
    this.url = `${url.origin}${url.pathname}`;

    // External labels
    try {
      this.#external = validateSeries('externalLabels', options.externalLabels ?? {});
    } catch (e) {
      if (e instanceof InvalidSeriesError) throw new ConfigError(`remote-write ${e.message}`);
      throw e;
    }

    // Auth
    const { bearerToken, bearerTokenFile, basicAuth } = options;
    const hasBearer = bearerToken !== undefined || bearerTokenFile !== undefined;
    if (hasBearer && basicAuth !== undefined)
      throw new ConfigError('remote-write takes either bearer auth or basic auth, not both');
    if (bearerToken !== undefined && bearerTokenFile !== undefined)
      throw new ConfigError('remote-write takes either bearerToken or bearerTokenFile, not both');
    if (bearerToken !== undefined) {
      if (typeof bearerToken !== 'string' || bearerToken === '' || /[\r\n]/.test(bearerToken))
        throw new ConfigError('remote-write bearerToken must be a non-empty string on one line');
      this.#auth = { kind: 'bearer', token: bearerToken };
      this.#rememberSecret(bearerToken);
    } else if (bearerTokenFile !== undefined) {
      if (typeof bearerTokenFile !== 'string' || bearerTokenFile === '')
        throw new ConfigError('remote-write bearerTokenFile must be a path');
      this.#auth = { kind: 'bearer', file: bearerTokenFile };
      this.#rememberSecret(readSecretFile('bearerTokenFile', bearerTokenFile));
    } else if (basicAuth !== undefined) {
      if (basicAuth === null || typeof basicAuth !== 'object')
        throw new ConfigError('remote-write basicAuth must be { username, password } or { username, passwordFile }');
      const { username, password, passwordFile } = basicAuth;
      if (typeof username !== 'string' || username === '' || username.includes(':') || /[\r\n]/.test(username))
        throw new ConfigError('remote-write basicAuth.username must be a non-empty string without ":"');
      if (password !== undefined && passwordFile !== undefined)
        throw new ConfigError('remote-write basicAuth takes either password or passwordFile, not both');
      if (password !== undefined && typeof password !== 'string')
        throw new ConfigError('remote-write basicAuth.password must be a string');
      if (passwordFile !== undefined) {
        if (typeof passwordFile !== 'string' || passwordFile === '')
          throw new ConfigError('remote-write basicAuth.passwordFile must be a path');
        this.#auth = { kind: 'basic', username, file: passwordFile };
        this.#rememberSecret(readSecretFile('basicAuth.passwordFile', passwordFile));
      } else {
        this.#auth = { kind: 'basic', username, password: password ?? '' };
        this.#rememberSecret(password ?? '');
      }
    } else {
      this.#auth = { kind: 'none' };
    }

    // Headers
    this.#headers = {};
    if (options.headers !== undefined) {
      if (options.headers === null || typeof options.headers !== 'object' || Array.isArray(options.headers))
        throw new ConfigError('remote-write headers must be an object of strings');
      for (const [name, value] of Object.entries(options.headers)) {
        const lower = name.toLowerCase();
        if (RESERVED_HEADERS.has(lower))
          throw new ConfigError(`remote-write headers may not set ${name}: the remote-write protocol sets it`);
        if (lower === 'authorization' && this.#auth.kind !== 'none')
          throw new ConfigError('remote-write headers may not set Authorization when bearer or basic auth is configured');
        if (typeof value !== 'string') throw new ConfigError(`remote-write header ${name} must be a string`);
        try {
          http.validateHeaderName(name);
          http.validateHeaderValue(name, value);
        } catch {
          throw new ConfigError(`remote-write header ${JSON.stringify(name)} has an invalid name or value`);
        }
        this.#headers[name] = value;
        if (SECRET_HEADER_RE.test(lower)) this.#addRedaction(value);
      }
    }

    // Numbers
    this.#timeoutMs = positive('timeoutMs', options.timeoutMs, DEFAULTS.timeoutMs, false);
    this.maxSamplesPerSend = positive('maxSamplesPerSend', options.maxSamplesPerSend, DEFAULTS.maxSamplesPerSend, true);
    if (options.maxRetries === undefined) this.#maxRetries = DEFAULTS.maxRetries;
    else if (typeof options.maxRetries !== 'number' || !Number.isInteger(options.maxRetries) || options.maxRetries < 0)
      throw new ConfigError(`remote-write maxRetries must be a non-negative integer, got ${String(options.maxRetries)}`);
    else this.#maxRetries = options.maxRetries;
    this.#minBackoffMs = positive('minBackoffMs', options.minBackoffMs, DEFAULTS.minBackoffMs, false);
    this.#maxBackoffMs = positive(
      'maxBackoffMs',
      options.maxBackoffMs,
      Math.max(DEFAULTS.maxBackoffMs, this.#minBackoffMs),
      false,
    );
    if (this.#maxBackoffMs < this.#minBackoffMs)
      throw new ConfigError(`remote-write maxBackoffMs (${this.#maxBackoffMs}) is less than minBackoffMs (${this.#minBackoffMs})`);
    this.#maxInFlight = positive('maxInFlight', options.maxInFlight, DEFAULTS.maxInFlight, true);

    if (options.userAgent !== undefined && (typeof options.userAgent !== 'string' || options.userAgent === ''))
      throw new ConfigError('remote-write userAgent must be a non-empty string');
    this.#userAgent = options.userAgent ?? `rondo/${rondoVersion()}`;
    try {
      http.validateHeaderValue('User-Agent', this.#userAgent);
    } catch {
      throw new ConfigError('remote-write userAgent holds characters not allowed in a header');
    }

    if (options.logger !== undefined && typeof options.logger !== 'function')
      throw new ConfigError('remote-write logger must be a function (level, message) => void');
    this.#log = options.logger ?? defaultLogger;

    this.#transport = url.protocol === 'https:' ? https : http;
    const agentOptions: http.AgentOptions = { keepAlive: true, maxSockets: this.#maxInFlight };
    this.#agent = url.protocol === 'https:' ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
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
    const auth =
      this.#auth.kind === 'bearer'
        ? { type: 'bearer', token: '<redacted>', ...(this.#auth.file !== undefined ? { file: this.#auth.file } : {}) }
        : this.#auth.kind === 'basic'
          ? {
              type: 'basic',
              username: this.#auth.username,
              password: '<redacted>',
              ...(this.#auth.file !== undefined ? { passwordFile: this.#auth.file } : {}),
            }
          : { type: 'none' };
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

  #rememberSecret(secret: string): void {
    this.#lastSecret = secret;
    this.#addRedaction(secret);
  }

  #addRedaction(secret: string): void {
    // Very short secrets would mangle messages if scrubbed, and say nothing if shown.
    if (secret.length >= 3) this.#secrets.add(secret);
  }

  /** `text` with every known credential (and its Basic encoding) replaced. */
  #redact(text: string): string {
    let out = text;
    for (const s of this.#secrets) if (out.includes(s)) out = out.split(s).join('<redacted>');
    return out;
  }

  async #authorization(): Promise<string | undefined> {
    const auth = this.#auth;
    if (auth.kind === 'none') return undefined;
    let secret = auth.kind === 'bearer' ? auth.token : auth.password;
    if (auth.file !== undefined) {
      // Re-read each send so a rotated token is picked up; keep the last good one if unreadable.
      try {
        const fresh = (await fs.promises.readFile(auth.file, 'utf8')).trim();
        if (fresh !== '') {
          if (fresh !== this.#lastSecret) this.#rememberSecret(fresh);
          secret = fresh;
        } else {
          secret = this.#lastSecret;
        }
      } catch (e) {
        this.#log('warn', `cannot re-read ${JSON.stringify(auth.file)} (${(e as NodeJS.ErrnoException).code ?? 'error'}); using the last one read`);
        secret = this.#lastSecret;
      }
    }
    if (auth.kind === 'bearer') return `Bearer ${secret ?? ''}`;
    const basic = Buffer.from(`${auth.username}:${secret ?? ''}`, 'utf8').toString('base64');
    this.#addRedaction(basic);
    return `Basic ${basic}`;
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
      const authorization = await this.#authorization();
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
