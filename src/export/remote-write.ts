// Prometheus remote-write 1.0 sender: one send() = one POST of a snappy-compressed WriteRequest,
// retried with exponential backoff and full jitter on network errors, timeouts, 5xx and 429.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { performance } from 'node:perf_hooks';
import { inspect } from 'node:util';
import { RondoError } from '../errors';
import { TunnelingAgent, ProxyTunnelError, proxyAuthorization, proxyForDisplay } from './proxy';
import { checkRemoteWriteOptions, type CheckedTls, Credentials, tlsContext, MAX_BODY_KEPT, BODY_LOGGED, MAX_RETRY_AFTER_MS, MAX_TIMER_MS } from './remote-write-options';
import { countSamples, encodeWriteRequest, type RemoteWriteMetadata } from './encode';
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
  /**
   * TLS for an https: url. caFile: PEM of the CA(s) that signed the receiver's certificate
   * (instead of the system's roots). certFile + keyFile: a client certificate (mutual TLS).
   * serverName: the name sent in SNI and checked against the certificate (default: the URL's
   * host). insecureSkipVerify: true, and only true, turns certificate verification off (tests
   * only; a warning is logged). Files are read when the client is made.
   */
  tls?: { caFile?: string; certFile?: string; keyFile?: string; serverName?: string; insecureSkipVerify?: boolean };
  /**
   * An http:// proxy ("http://user:pass@proxy:3128"): https receivers are reached through a
   * CONNECT tunnel, http ones by absolute URI. Default: from https_proxy / HTTPS_PROXY (https
   * receivers) or http_proxy / HTTP_PROXY (http ones), unless no_proxy / NO_PROXY covers the
   * host or it is loopback. false: no proxy, whatever the environment says.
   */
  proxy?: string | false;
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

/**
 * The TLS handshake with the receiver failed in a way retrying cannot mend (an untrusted or
 * misnamed certificate, a client certificate missing or refused): not retried; the message says
 * which option to pass.
 */
export class RemoteWriteTlsError extends RondoError {
  override name = 'RemoteWriteTlsError';
  constructor(
    message: string,
    readonly url: string,
    /** node's code for the failure (e.g. SELF_SIGNED_CERT_IN_CHAIN). */
    readonly code: string,
    readonly samples: number,
  ) {
    super(message);
  }
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
  readonly #proxy: URL | null;
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
    this.#proxy = o.proxy;
    const secure = o.url.protocol === 'https:';
    // An http receiver through a proxy: plain requests to the proxy, for the absolute URI.
    this.#transport = secure ? https : http;
    const agentOptions: http.AgentOptions = { keepAlive: true, maxSockets: this.#maxInFlight };
    if (secure) {
      const { files: _files, ...tlsOnly } = o.tls;
      const tlsOptions: https.AgentOptions = { ...agentOptions, ...tlsOnly };
      this.#agent =
        o.proxy !== null
          ? new TunnelingAgent(o.proxy, { ...tlsOptions, connectTimeoutMs: o.timeoutMs })
          : new https.Agent(tlsOptions);
      if (!o.tls.rejectUnauthorized)
        this.#log('warn', `tls.insecureSkipVerify is on: the certificate of ${this.url} is NOT verified; anyone on the path can read and change what is sent`);
    } else this.#agent = new http.Agent(agentOptions);
    this.#tls = o.tls;
    for (const [key, file] of Object.entries(o.tls.files ?? {}) as Array<['ca' | 'cert' | 'key', string]>)
      this.#tlsFiles.push({ key, file, stamp: fileStamp(file) });
  }

  #tls: CheckedTls;
  /** The TLS files, with what they looked like when last read: a change is read before the next request. */
  readonly #tlsFiles: Array<{ key: 'ca' | 'cert' | 'key'; file: string; stamp: string }> = [];

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
   * spent. Series without samples are skipped; if none has any, nothing is sent. `metadata`
   * (type, help, unit of metric families) goes in the same WriteRequest.
   */
  async send(series: readonly ExportSeries[], metadata?: readonly RemoteWriteMetadata[]): Promise<SendResult> {
    if (this.#closed) throw this.#closedError(0, countSamples(series));
    const samples = countSamples(series);
    if (samples === 0) return { outcome: 'sent', samples: 0, attempts: 0, status: 0, latencyMs: 0 };
    const body = compressSnappy(encodeWriteRequest(series, this.#external, metadata));

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
      tls: {
        ca: this.#tls.ca !== undefined,
        clientCertificate: this.#tls.cert !== undefined,
        ...(this.#tls.servername !== undefined ? { serverName: this.#tls.servername } : {}),
        verify: this.#tls.rejectUnauthorized,
      },
      proxy: this.#proxy === null ? null : proxyForDisplay(this.#proxy),
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
      await this.#reloadTlsFiles();
      attempts++;
      this.#stats.requests++;
      const a = await this.#post(body, authorization);

      if (a.status >= 200 && a.status < 300) {
        this.#stats.samplesSent += samples;
        this.#stats.lastSuccessMs = Date.now();
        this.#stats.lastLatencyMs = a.latencyMs;
        return { outcome: 'sent', samples, attempts, status: a.status, latencyMs: a.latencyMs };
      }

      if (a.error instanceof ProxyTunnelError && a.error.status === 407) {
        this.#stats.samplesFailed += samples;
        throw new RemoteWriteError(
          `remote write to ${this.url}: ${a.error.message}: ` +
            (this.#proxy !== null && (this.#proxy.username !== '' || this.#proxy.password !== '')
              ? 'the proxy refused the credentials in its URL'
              : 'the proxy wants credentials; put them in its URL (http://user:password@proxy:port)'),
          this.url,
          attempts,
          0,
          samples,
        );
      }
      const tlsFailure = a.status === 0 && a.error !== undefined ? this.#tlsFailure(a.error) : undefined;
      if (tlsFailure !== undefined) {
        this.#stats.samplesFailed += samples;
        throw new RemoteWriteTlsError(`remote write to ${this.url}: ${tlsFailure.message}`, this.url, tlsFailure.code, samples);
      }

      // Go's TLS servers (Prometheus, Mimir, VictoriaMetrics) answer plain HTTP with a 400: not a
      // refusal of the samples, so not a drop (that would skip them for good), but a wrong URL.
      if (a.status === 400 && this.#url.protocol === 'http:' && /HTTP request to an HTTPS server/i.test(a.body)) {
        this.#stats.samplesFailed += samples;
        throw new RemoteWriteError(
          `remote write to ${this.url}: the receiver speaks HTTPS; use an https:// URL (with tls.caFile if its certificate is from a private CA)`,
          this.url,
          attempts,
          a.status,
          samples,
        );
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

  /**
   * Reads the CA, certificate and key files again when one changed (a rotated certificate), so
   * a long-lived client (the agent's) uses the new ones from its next connection: the agent's
   * options take them, and idle connections made with the old ones are closed. A set that does
   * not pair up yet (the certificate replaced, the key not yet) is left for the next request.
   */
  async #reloadTlsFiles(): Promise<void> {
    if (this.#tlsFiles.length === 0) return;
    const stamps = this.#tlsFiles.map((f) => fileStamp(f.file));
    if (stamps.every((st, i) => st === this.#tlsFiles[i]!.stamp || st === '')) return;
    const fresh: { ca?: Buffer; cert?: Buffer; key?: Buffer } = {};
    try {
      for (const f of this.#tlsFiles) fresh[f.key] = await fs.promises.readFile(f.file);
      tlsContext({ ...this.#tls, ...fresh });
    } catch (e) {
      this.#log('warn', `TLS files changed but cannot be used yet (${this.#redact((e as Error).message)}); keeping the ones read before`);
      return;
    }
    this.#tlsFiles.forEach((f, i) => (f.stamp = stamps[i]!));
    this.#tls = { ...this.#tls, ...fresh };
    Object.assign((this.#agent as unknown as { options: Record<string, unknown> }).options, fresh);
    for (const list of Object.values(this.#agent.freeSockets)) for (const socket of list ?? []) socket.destroy();
  }

  /** What to tell the user about a TLS failure that a retry would only repeat; undefined for others. */
  #tlsFailure(error: Error): { code: string; message: string } | undefined {
    const code = (error as NodeJS.ErrnoException).code ?? '';
    // OpenSSL's messages are long and multi-line: keep their reason ("sslv3 alert bad certificate").
    const ssl = /SSL routines:[^:]*:([^:]+):/.exec(error.message);
    const reason = this.#redact(ssl !== null ? ssl[1]! : error.message.split('\n')[0]!).trim();
    const sni = this.#tls.servername ?? this.#url.hostname;
    switch (code) {
      case 'DEPTH_ZERO_SELF_SIGNED_CERT':
      case 'SELF_SIGNED_CERT_IN_CHAIN':
      case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
      case 'UNABLE_TO_GET_ISSUER_CERT':
      case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
      case 'CERT_UNTRUSTED':
      case 'CERT_SIGNATURE_FAILURE':
        return {
          code,
          message:
            `the receiver's certificate is not signed by a CA this client trusts (${reason}); ` +
            `pass the CA that signed it: tls.caFile (rondo push --tls-ca-file ca.pem)` +
            (this.#tls.ca === undefined ? '' : ' (the one given did not sign it)') +
            '. Only for a test receiver: tls.insecureSkipVerify: true (--tls-insecure-skip-verify) turns verification off',
        };
      case 'ERR_TLS_CERT_ALTNAME_INVALID':
        return {
          code,
          message: `the receiver's certificate is not for the name "${sni}" (${reason}); connect by a name it holds, or pass the name to check: tls.serverName (--tls-server-name NAME)`,
        };
      case 'CERT_HAS_EXPIRED':
      case 'CERT_NOT_YET_VALID':
        return { code, message: `the receiver's certificate is out of its validity period (${reason}); the receiver needs a current certificate` };
      case 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED':
      case 'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE':
      case 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA':
      case 'ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN':
      case 'ERR_SSL_TLSV1_ALERT_ACCESS_DENIED':
        return {
          code,
          message:
            this.#tls.cert === undefined
              ? `the receiver requires a client certificate and none was given (${reason}); pass tls.certFile and tls.keyFile (--tls-cert-file, --tls-key-file)`
              : `the receiver refused the client certificate (${reason}); it must be signed by a CA the receiver trusts (its client_ca_file) and be currently valid`,
        };
      default:
        if (code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_'))
          return { code, message: `the TLS handshake failed (${reason}); check the receiver's TLS settings against tls.* (--tls-*)` };
        return undefined;
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

      let target: URL | http.RequestOptions = this.#url;
      if (this.#proxy !== null && this.#url.protocol === 'http:') {
        // Through the proxy: ask it for the absolute URI, with the receiver as Host.
        headers['Host'] = this.#url.host;
        const auth = proxyAuthorization(this.#proxy);
        if (auth !== undefined) headers['Proxy-Authorization'] = auth;
        target = {
          host: this.#proxy.hostname.replace(/^\[|\]$/g, ''),
          port: this.#proxy.port === '' ? 80 : Number(this.#proxy.port),
          path: this.#url.href,
        };
      }
      const onResponse = (res: http.IncomingMessage): void => {
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
      };
      const req =
        target instanceof URL
          ? this.#transport.request(target, { method: 'POST', headers, agent: this.#agent }, onResponse)
          : http.request({ ...target, method: 'POST', headers, agent: this.#agent }, onResponse);
      const timer = setTimeout(() => {
        req.destroy(new Error(`no complete answer within ${this.#timeoutMs} ms (timeoutMs)`));
      }, this.#timeoutMs);
      this.#requests.add(req);
      req.on('error', (error) => finish({ status: 0, body: '', retryAfterMs: null, error }));
      req.end(body);
    });
  }
}

/** What a file looks like (its inode, size and change time), '' when it cannot be seen. */
function fileStamp(file: string): string {
  try {
    const st = fs.statSync(file);
    return `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
  } catch {
    return '';
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
