// rondo serve: Prometheus's HTTP API (query, query_range, series, labels, label values,
// metadata, status), remote read and remote-write receive, and /metrics, on node:http(s) over a
// store this process has open. Every handler is wrapped: a bad request is answered 4xx in
// Prometheus's error shape, an unexpected fault 500, and the server keeps serving.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { CapacityError, ConfigError, InvalidQueryError, InvalidSelectorError, RondoError, StorageError, StoreClosedError } from '../errors';
import { PACKAGE_ROOT } from '../package-root';
import { parseSelector, type Selector } from '../selector';
import type { SeriesHandle, Store } from '../store';
import { ingest, IngestCounters, REFUSAL_REASONS, type IngestReason } from '../ingest';
import { errorAnswer, INFLUX_VERSION, influxBody, InfluxHttpError, influxWrite, listenerAddress, listenInfluxTcp, listenInfluxUdp, v2Precision, type InfluxAnswer, type InfluxListener } from './influx';
import { ApiError, badData, durationParam, formatTextFloat, timeParam, MAX_TIME_MS, MIN_TIME_MS } from './params';
import { formatFloat as formatFloatValue, instantQuery, PromqlError, rangeQuery, type PromqlData, type PromqlOptions } from '../promql';
import { decompressSnappy, snappyDeclaredLength, SnappyError } from './snappy';
import { decodeWriteRequest, ProtoError } from './write-request';
import { decodeReadRequest, encodeReadResponse, readSeries } from './remote';
import { compressSnappy, OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE, toOpenMetrics, wantsOpenMetrics } from '../export';
import { startStatsd, type StatsdDoor, type StatsdStats } from './statsd';
import { noteDatabase, runInfluxQL } from '../influxql';
import { fossilDatabases, startFossil, type FossilDoor, type FossilStats } from '../fossil';

export interface ServeOptions {
  /** host:port to listen on; default 127.0.0.1:9464 (port 0: any free port). */
  listen?: string;
  /** Every request must carry `Authorization: Bearer <token>`. */
  authToken?: string;
  /** The token from a file (its content, trimmed), read once at start. */
  authTokenFile?: string;
  /** HTTPS with this certificate and key (PEM text or Buffers; rondo serve reads them from --tls-cert and --tls-key). */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Allow a non-loopback address without a token. Default false: serve() refuses it. */
  insecureListen?: boolean;
  /** Most points a query may load or produce (passed to the engine). Default 50,000,000. */
  maxPoints?: number;
  /** Largest request body, compressed and decompressed, in bytes. Default 32 MiB. */
  maxBodyBytes?: number;
  /** Most series (TimeSeries) one remote-write request may carry. Default 100,000. */
  maxSeriesPerRequest?: number;
  /** Most samples one remote-read answer may carry. Default 50,000,000. */
  maxReadSamples?: number;
  /** Longest a query may run, ms; a request's own `timeout` may only shorten it. Default 2 minutes. */
  queryTimeoutMs?: number;
  /** PromQL lookback delta, ms (the engine's default when omitted: 5 minutes). */
  lookbackDeltaMs?: number;
  /** Record the server's own figures (rondo_http_*, rondo_remote_write_*) into the store every
   *  second when it is writable. Default true. */
  recordOwnMetrics?: boolean;
  /** Consolidate the store every this many ms (0: never, the default: the process that owns the
   *  store does it, as an Agent does). rondo serve passes 1000 when it is the store's writer. */
  consolidateEveryMs?: number;
  /** host:port of a StatsD (UDP) listener to start with the server (loopback unless
   *  insecureListen); closed with it. */
  statsd?: string;
  /** The quantiles StatsD timers and histograms report (default 0.5, 0.9, 0.99). */
  statsdQuantiles?: readonly number[];
  /** Warnings and errors (a handler's unexpected fault); default: none printed. */
  logger?: (level: 'warn' | 'error', message: string) => void;
  /** host:port to listen on for Influx line protocol over UDP (one datagram = lines), e.g.
   *  127.0.0.1:8089. A non-loopback address needs insecureListen (these doors take no token). */
  influxUdp?: string;
  /** host:port to listen on for Influx line protocol over TCP (newline-framed), e.g. 127.0.0.1:8094. */
  influxTcp?: string;
  /** host:port of a fossil-protocol (TCP) listener, e.g. 127.0.0.1:8001; loopback unless
   *  insecureListen (docs/events.md, "The fossil protocol"). Its database "default" is the store. */
  fossil?: string;
  /** A directory whose sub-directories holding a store are further fossil databases, by name
   *  (opened on first USE, closed with the server). */
  fossilRoot?: string;
}

export interface ServerStats {
  /** Requests answered, by handler and status code ("handler code" → count). */
  requests: Record<string, number>;
  receivedSamples: number;
  refusedSamples: Partial<Record<IngestReason, number>>;
  skippedSamples: Partial<Record<IngestReason, number>>;
  /** The ingest doors' counts (Influx, StatsD): "protocol reason" → refused, protocol → stored. */
  ingest: { errors: Record<string, number>; points: Record<string, number> };
  /** The StatsD door's counts, when it runs. */
  statsd?: StatsdStats;
  /** The fossil door's counts, when it runs. */
  fossil?: FossilStats;
}

export interface RondoServer {
  /** http(s)://host:port */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly readOnly: boolean;
  /** Where the Influx UDP and TCP listeners listen, when started. */
  readonly influxUdp?: { host: string; port: number };
  readonly influxTcp?: { host: string; port: number };
  /** Where the StatsD door listens, when started (options.statsd). */
  readonly statsd?: { host: string; port: number };
  /** Where the fossil door listens, when started (options.fossil). */
  readonly fossil?: { host: string; port: number };
  stats(): ServerStats;
  /** Stops listening, lets requests in flight finish, records the last figures and flushes a
   *  writable store. Does not close the store. */
  close(): Promise<void>;
}

const DEFAULTS = {
  listen: '127.0.0.1:9464',
  maxPoints: 50_000_000,
  maxBodyBytes: 32 * 1024 * 1024,
  maxSeriesPerRequest: 100_000,
  maxReadSamples: 50_000_000,
  queryTimeoutMs: 120_000,
};

/** The precisions influxd 1.x's /write knows. */
const V1_PRECISIONS: ReadonlySet<string> = new Set(['n', 'u', 'ms', 's', 'm', 'h']);

/** Prometheus's limit on the points of one series of a range query. */
export const MAX_RANGE_POINTS = 11_000;

const STATUS_OF: Record<string, number> = { bad_data: 400, execution: 422, timeout: 503, canceled: 503, internal: 500, not_found: 404, unavailable: 503 };

/** host and port of "host:port", "[v6]:port" or ":port". */
export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(listen);
  const port = m === null ? NaN : Number(m[3]);
  if (m === null || !(port >= 0 && port <= 65535))
    throw new ConfigError(`listen address ${JSON.stringify(listen)} is not host:port (e.g. 127.0.0.1:9464 or [::1]:9464)`);
  const host = m[1] ?? m[2] ?? '';
  return { host: host === '' ? '0.0.0.0' : host, port };
}

export function isLoopback(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true;
  if (net.isIPv4(host)) return host.startsWith('127.');
  if (host.toLowerCase().startsWith('::ffff:')) return isLoopback(host.slice(7));
  return false;
}

interface Route {
  handler: string;
  methods: readonly string[];
  run(ctx: Ctx): Promise<void> | void;
}

interface Ctx {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  url: URL;
  /** Handler label for the figures. */
  handler: string;
}

/**
 * Serves `store` over HTTP(S). Resolves once listening. The store stays the caller's: close()
 * does not close it.
 */
export async function serve(store: Store, options: ServeOptions = {}): Promise<RondoServer> {
  const { host, port } = parseListen(options.listen ?? DEFAULTS.listen);
  const statsdAddr = options.statsd === undefined ? undefined : listenerAddress('StatsD', options.statsd, parseListen, isLoopback, options.insecureListen === true);
  const fossilAddr = options.fossil === undefined ? undefined : listenerAddress('fossil', options.fossil, parseListen, isLoopback, options.insecureListen === true);
  let token = options.authToken;
  if (options.authTokenFile !== undefined) {
    try {
      token = fs.readFileSync(options.authTokenFile, 'utf8').trim();
    } catch (e) {
      throw new ConfigError(`auth token file ${JSON.stringify(options.authTokenFile)} cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    if (token === '') throw new ConfigError(`auth token file ${JSON.stringify(options.authTokenFile)} is empty`);
  }
  if (token !== undefined && token === '') throw new ConfigError('authToken is empty');
  if (!isLoopback(host) && token === undefined && options.insecureListen !== true)
    throw new ConfigError(
      `refusing to serve on ${host}, which is not a loopback address, without a token: give a token (--auth-token-file) or allow it explicitly (--insecure-listen)`,
    );
  const limits = {
    maxPoints: positive(options.maxPoints, DEFAULTS.maxPoints, 'maxPoints'),
    maxBodyBytes: positive(options.maxBodyBytes, DEFAULTS.maxBodyBytes, 'maxBodyBytes'),
    maxSeriesPerRequest: positive(options.maxSeriesPerRequest, DEFAULTS.maxSeriesPerRequest, 'maxSeriesPerRequest'),
    maxReadSamples: positive(options.maxReadSamples, DEFAULTS.maxReadSamples, 'maxReadSamples'),
    queryTimeoutMs: positive(options.queryTimeoutMs, DEFAULTS.queryTimeoutMs, 'queryTimeoutMs'),
  };
  const tokenDigest = token === undefined ? undefined : crypto.createHash('sha256').update(token).digest();
  const log = options.logger ?? (() => {});
  const startTime = new Date();
  const version = packageVersion();

  // ---- the server's own figures ----
  const requests = new Map<string, number>(); // "handler\0code"
  const durations = new Map<string, { sum: number; count: number }>();
  const received = { samples: 0 };
  const refused: Partial<Record<IngestReason, number>> = {};
  const skipped: Partial<Record<IngestReason, number>> = {};
  const ingestCounters = new IngestCounters();
  let figuresChanged = true;
  const note = (handler: string, code: number, seconds: number): void => {
    const key = `${handler}\0${code}`;
    requests.set(key, (requests.get(key) ?? 0) + 1);
    const d = durations.get(handler) ?? { sum: 0, count: 0 };
    d.sum += seconds;
    d.count++;
    durations.set(handler, d);
    figuresChanged = true;
  };

  const own = new Map<string, SeriesHandle | null>();
  const recordFigures = (): void => {
    if (store.readOnly || store.isClosed || options.recordOwnMetrics === false || !(figuresChanged || ingestCounters.changed)) return;
    figuresChanged = false;
    ingestCounters.changed = false;
    const now = Date.now();
    const figures: Array<{ key: string; name: string; labels: Record<string, string>; value: number }> = [];
    const add = (name: string, labels: Record<string, string>, value: number): void => {
      figures.push({ key: `${name}${JSON.stringify(labels)}`, name, labels, value });
    };
    for (const [key, n] of requests) {
      const [handler, code] = key.split('\0') as [string, string];
      add('rondo_http_requests_total', { handler, code }, n);
    }
    for (const [handler, d] of durations) {
      add('rondo_http_request_duration_seconds_sum', { handler }, d.sum);
      add('rondo_http_request_duration_seconds_count', { handler }, d.count);
    }
    add('rondo_remote_write_received_samples_total', {}, received.samples);
    for (const [reason, n] of Object.entries(refused)) add('rondo_remote_write_refused_samples_total', { reason }, n);
    for (const [reason, n] of Object.entries(skipped)) add('rondo_remote_write_skipped_samples_total', { reason }, n);
    for (const f of ingestCounters.figures()) add(f.name, f.labels, f.value);
    for (const f of store.hookFigures()) add('rondo_hook_errors_total', { hook: f.hook }, f.errors);
    // New figures (a handler or code seen for the first time) are registered together: one
    // write of the series index, not one each.
    const fresh = figures.filter((f) => !own.has(f.key));
    if (fresh.length > 0) {
      try {
        store.registerMany(fresh.map((f) => ({ name: f.name, labels: f.labels, kind: 'counter' as const }))).forEach((r, i) => {
          const f = fresh[i] as (typeof fresh)[number];
          if (r instanceof Error) log('warn', `cannot record ${f.name}: ${r.message.split('\n')[0]}`);
          // A full schema, say: the figures never take the data's place; /metrics still has them.
          own.set(f.key, r instanceof Error ? null : r);
        });
      } catch (e) {
        log('warn', `cannot record the server's figures: ${(e as Error).message.split('\n')[0]}`);
        return;
      }
    }
    for (const f of figures) {
      const h = own.get(f.key);
      if (h === null || h === undefined) continue;
      try {
        store.record(h, f.value, now);
      } catch {
        // a late tick: the next one records the running total
      }
    }
  };
  const consolidateEvery = options.consolidateEveryMs ?? 0;
  /** Doors that record an interval after it ended (StatsD): they record what has ended before
   *  the tiers take it, so a consolidation never runs between an interval's end and its figures. */
  const beforeConsolidate: Array<() => void> = [];
  let lastConsolidate = 0;
  const tick = (): void => {
    try {
      recordFigures();
      if (consolidateEvery > 0 && !store.readOnly && !store.isClosed && Date.now() - lastConsolidate >= consolidateEvery) {
        lastConsolidate = Date.now();
        for (const f of beforeConsolidate) f();
        store.consolidate();
      }
    } catch (e) {
      log('warn', `tick: ${(e as Error).message.split('\n')[0]}`);
    }
  };
  const timer = setInterval(tick, Math.min(1000, consolidateEvery > 0 ? consolidateEvery : 1000));
  timer.unref();

  // ---- answers ----
  const sendJson = (ctx: Ctx, status: number, body: string): void => {
    ctx.res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    ctx.res.end(body);
  };
  const success = (ctx: Ctx, dataJson: string): void => sendJson(ctx, 200, `{"status":"success","data":${dataJson}}`);
  const sendError = (ctx: Ctx, e: ApiError, headers: Record<string, string> = {}): void => {
    const body = JSON.stringify({ status: 'error', errorType: e.errorType, error: e.message });
    ctx.res.writeHead(e.status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), ...headers });
    ctx.res.end(body);
  };

  // ---- request bodies ----
  const readBody = (ctx: Ctx, limit: number): Promise<Buffer> =>
    new Promise((resolve, reject) => {
      const declared = Number(ctx.req.headers['content-length'] ?? NaN);
      if (declared > limit) {
        reject(new ApiError(413, 'bad_data', `request body of ${declared} bytes is over the limit of ${limit} bytes`));
        ctx.req.resume();
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      let done = false;
      ctx.req.on('data', (c: Buffer) => {
        if (done) return;
        size += c.length;
        if (size > limit) {
          done = true;
          reject(new ApiError(413, 'bad_data', `request body is over the limit of ${limit} bytes`));
          return;
        }
        chunks.push(c);
      });
      ctx.req.on('end', () => {
        if (!done) {
          done = true;
          resolve(Buffer.concat(chunks, size));
        }
      });
      ctx.req.on('error', (e) => {
        if (!done) {
          done = true;
          reject(e);
        }
      });
    });

  /** The request's parameters: the URL's, then (POST) the form body's, parsed once. */
  const params = async (ctx: Ctx): Promise<URLSearchParams> => {
    const p = ctx.url.searchParams;
    if (ctx.req.method !== 'POST') return p;
    const type = (ctx.req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    const body = await readBody(ctx, limits.maxBodyBytes);
    if (body.length === 0) return p;
    if (type !== 'application/x-www-form-urlencoded')
      throw badData(`a POST body must be form-encoded (Content-Type: application/x-www-form-urlencoded), not ${JSON.stringify(type || 'none')}`);
    const text = body.toString('utf8');
    if (/%(?![0-9a-fA-F]{2})/.test(text)) throw badData('the form body is not valid: a % is not followed by two hex digits');
    const merged = new URLSearchParams(text);
    for (const [k, v] of p) merged.append(k, v);
    return merged;
  };

  const snappyBody = async (ctx: Ctx): Promise<Buffer> => {
    const type = (ctx.req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== '' && type !== 'application/x-protobuf')
      throw new ApiError(415, 'bad_data', `Content-Type ${JSON.stringify(type)} is not application/x-protobuf`);
    const enc = (ctx.req.headers['content-encoding'] ?? 'snappy').trim().toLowerCase();
    if (enc !== 'snappy') throw new ApiError(415, 'bad_data', `Content-Encoding ${JSON.stringify(enc)} is not snappy`);
    const raw = await readBody(ctx, limits.maxBodyBytes);
    try {
      const { length } = snappyDeclaredLength(raw);
      if (length > limits.maxBodyBytes)
        throw new ApiError(413, 'bad_data', `the body declares ${length} bytes uncompressed, over the limit of ${limits.maxBodyBytes} bytes`);
      return decompressSnappy(raw, limits.maxBodyBytes);
    } catch (e) {
      if (e instanceof SnappyError) throw badData(`the body is not a valid snappy block: ${e.message}`);
      throw e;
    }
  };

  // ---- query helpers ----
  const engineOptions = (p: URLSearchParams): PromqlOptions => {
    const t = durationParam(p, 'timeout');
    const o: PromqlOptions = { maxPoints: limits.maxPoints, timeoutMs: t === undefined || t <= 0 ? limits.queryTimeoutMs : Math.min(t, limits.queryTimeoutMs) };
    if (options.lookbackDeltaMs !== undefined) o.lookbackDeltaMs = options.lookbackDeltaMs;
    const lb = durationParam(p, 'lookback_delta');
    if (lb !== undefined) {
      if (lb < 0) throw badData('invalid parameter "lookback_delta": must be positive');
      if (lb > 0) o.lookbackDeltaMs = lb;
    }
    return o;
  };
  const runEngine = (f: () => PromqlData): string => {
    try {
      return dataJson(f());
    } catch (e) {
      if (e instanceof PromqlError) throw new ApiError(STATUS_OF[e.errorType] ?? 400, e.errorType, e.message);
      if (e instanceof CapacityError) throw new ApiError(422, 'execution', e.message);
      if (e instanceof InvalidQueryError || e instanceof InvalidSelectorError) throw badData(e.message);
      throw e;
    }
  };
  const queryParam = (p: URLSearchParams): string => {
    const q = p.get('query');
    if (q === null) throw badData('invalid parameter "query": missing');
    return q;
  };

  // ---- series, labels ----
  const matchers = (p: URLSearchParams, required: boolean): Selector[] | undefined => {
    const list = p.getAll('match[]');
    if (list.length === 0) {
      if (required) throw badData('no match[] parameter provided');
      return undefined;
    }
    return list.map((m) => {
      try {
        return parseSelector(m);
      } catch (e) {
        throw badData(`invalid parameter "match[]": ${(e as Error).message}`);
      }
    });
  };
  const selected = (p: URLSearchParams, required: boolean): SeriesHandle[] => {
    const sels = matchers(p, required);
    const start = timeParam(p, 'start', MIN_TIME_MS);
    const end = timeParam(p, 'end', MAX_TIME_MS);
    if (end < start) throw badData('end timestamp must not be before start time');
    const windowed = start > MIN_TIME_MS || end < MAX_TIME_MS;
    const out: SeriesHandle[] = [];
    for (const h of store.series()) {
      if (sels !== undefined && !sels.some((s) => s.matches(h.name, h.labels))) continue;
      if (windowed && !hasData(store, h, start, end)) continue;
      out.push(h);
    }
    return out;
  };

  // ---- routes ----
  const GET_POST = ['GET', 'POST'] as const;
  const routes = new Map<string, Route>();
  const route = (p: string, methods: readonly string[], run: Route['run']): void => {
    routes.set(p, { handler: p, methods, run });
  };

  route('/api/v1/query', GET_POST, async (ctx) => {
    const p = await params(ctx);
    const expr = queryParam(p);
    const time = timeParam(p, 'time', Date.now());
    const o = engineOptions(p);
    success(ctx, runEngine(() => instantQuery(store, expr, time, o)));
  });

  route('/api/v1/query_range', GET_POST, async (ctx) => {
    const p = await params(ctx);
    const expr = queryParam(p);
    if (p.get('start') === null) throw badData('invalid parameter "start": missing');
    if (p.get('end') === null) throw badData('invalid parameter "end": missing');
    if (p.get('step') === null) throw badData('invalid parameter "step": missing');
    const start = timeParam(p, 'start', 0);
    const end = timeParam(p, 'end', 0);
    if (end < start) throw badData('end timestamp must not be before start time');
    const step = durationParam(p, 'step') ?? 0;
    if (!(step > 0)) throw badData('zero or negative query resolution step widths are not accepted. Try a positive integer');
    if ((end - start) / step > MAX_RANGE_POINTS)
      throw badData('exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)');
    const o = engineOptions(p);
    success(ctx, runEngine(() => rangeQuery(store, expr, start, end, step, o)));
  });

  route('/api/v1/format_query', GET_POST, async (ctx) => {
    queryParam(await params(ctx));
    throw badData('format_query is not supported by rondo serve: it has no PromQL formatter (queries themselves are)');
  });

  route('/api/v1/series', GET_POST, async (ctx) => {
    const p = await params(ctx);
    const list = selected(p, true).map((h) => ({ __name__: h.name, ...h.labels }));
    success(ctx, JSON.stringify(list));
  });

  route('/api/v1/labels', GET_POST, async (ctx) => {
    const p = await params(ctx);
    const names = new Set<string>();
    for (const h of selected(p, false)) {
      names.add('__name__');
      for (const n of Object.keys(h.labels)) names.add(n);
    }
    success(ctx, JSON.stringify([...names].sort(byteOrder)));
  });

  route('/api/v1/metadata', ['GET'], async (ctx) => {
    const p = await params(ctx);
    const metric = p.get('metric');
    const limitText = p.get('limit');
    const limit = limitText === null || limitText === '' ? -1 : Number(limitText);
    if (!Number.isInteger(limit)) throw badData(`invalid parameter "limit": ${JSON.stringify(limitText)} is not a number`);
    const out: Record<string, Array<{ type: string; help: string; unit: string }>> = {};
    let n = 0;
    for (const h of store.series()) {
      if (metric !== null && metric !== '' && h.name !== metric) continue;
      if (out[h.name] !== undefined) continue;
      if (limit >= 0 && n >= limit) break;
      out[h.name] = [{ type: h.kind, help: '', unit: '' }];
      n++;
    }
    success(ctx, JSON.stringify(out));
  });

  route('/api/v1/status/buildinfo', ['GET'], (ctx) => {
    success(
      ctx,
      JSON.stringify({
        version,
        revision: '',
        branch: '',
        buildUser: 'rondo',
        buildDate: '',
        goVersion: `node ${process.version}`,
      }),
    );
  });

  route('/api/v1/status/runtimeinfo', ['GET'], (ctx) => {
    const info = store.info();
    let retentionMs = 0;
    for (const s of info.schemas) for (const t of s.tiers) retentionMs = Math.max(retentionMs, t.retentionMs);
    success(
      ctx,
      JSON.stringify({
        startTime: startTime.toISOString(),
        CWD: process.cwd(),
        reloadConfigSuccess: true,
        lastConfigTime: startTime.toISOString(),
        corruptionCount: 0,
        goroutineCount: 0,
        GOMAXPROCS: os.availableParallelism(),
        GOMEMLIMIT: 0,
        GOGC: '',
        GODEBUG: '',
        storageRetention: `${formatRetention(retentionMs)} (the longest tier of ${info.dir})`,
      }),
    );
  });

  route('/api/v1/read', ['POST'], async (ctx) => {
    const body = await snappyBody(ctx);
    const queries = decodeReadRequest(body);
    const budget = { samples: limits.maxReadSamples };
    const results = queries.map((q) => readSeries(store, q, budget));
    const out = compressSnappy(encodeReadResponse(results));
    ctx.res.writeHead(200, {
      'Content-Type': 'application/x-protobuf',
      'Content-Encoding': 'snappy',
      'Content-Length': out.length,
    });
    ctx.res.end(out);
  });

  route('/api/v1/write', ['POST'], async (ctx) => {
    if (store.readOnly)
      throw new ApiError(
        405,
        'bad_data',
        `remote write refused: this server's store ${store.dir} is open read-only (rondo serve --read-only, or another process holds its writer lock)`,
      );
    const body = await snappyBody(ctx);
    let decoded;
    try {
      decoded = decodeWriteRequest(body);
    } catch (e) {
      if (e instanceof ProtoError) throw badData(`cannot decode the WriteRequest: ${e.message}`);
      throw e;
    }
    if (decoded.series > limits.maxSeriesPerRequest)
      throw badData(`the request holds ${decoded.series} series, over this server's limit of ${limits.maxSeriesPerRequest} per request; nothing of it was stored`);
    const r = ingest(store, decoded.samples);
    received.samples += r.stored;
    for (const [k, n] of Object.entries(r.refused)) refused[k as IngestReason] = (refused[k as IngestReason] ?? 0) + n;
    for (const [k, n] of Object.entries(r.skipped)) skipped[k as IngestReason] = (skipped[k as IngestReason] ?? 0) + n;
    figuresChanged = true;
    const refusedCount = REFUSAL_REASONS.reduce((a, k) => a + (r.refused[k] ?? 0), 0);
    if (refusedCount > 0) {
      const by = REFUSAL_REASONS.filter((k) => (r.refused[k] ?? 0) > 0)
        .map((k) => `${r.refused[k]} ${k}`)
        .join(', ');
      throw badData(`${refusedCount} of ${decoded.samples.length} samples refused (${by}); ${r.stored} stored. ${r.messages.join('; ')}`);
    }
    ctx.res.writeHead(204);
    ctx.res.end();
  });

  // ---- Influx line protocol (v1 /write, v2 /api/v2/write) and /ping, in InfluxDB's shapes ----
  const sendInflux = (ctx: Ctx, a: InfluxAnswer): void => {
    const headers: Record<string, string | number> = { 'X-Influxdb-Version': INFLUX_VERSION, 'X-Influxdb-Build': 'rondo' };
    if (a.error !== undefined) headers['X-Influxdb-Error'] = a.error.replace(/[\r\n]+/g, ' ').replace(/[^\t\x20-\x7e]/g, '?').slice(0, 4096);
    if (a.body === undefined) {
      ctx.res.writeHead(a.status, headers);
      ctx.res.end();
      return;
    }
    headers['Content-Type'] = 'application/json';
    headers['Content-Length'] = Buffer.byteLength(a.body);
    ctx.res.writeHead(a.status, headers);
    ctx.res.end(a.body);
  };
  const influxWriteRoute = (v2: boolean) => async (ctx: Ctx): Promise<void> => {
    const protocol = 'influx_http';
    const p = ctx.url.searchParams;
    if (store.readOnly) {
      ingestCounters.error(protocol, 'read_only');
      sendInflux(
        ctx,
        errorAnswer(
          405,
          `write refused: this server's store ${store.dir} is open read-only (rondo serve --read-only, or another process holds its writer lock)`,
          v2,
        ),
      );
      return;
    }
    let precision: string;
    if (v2) {
      const given = v2Precision(p.get('precision'));
      if (given === undefined) {
        ingestCounters.error(protocol, 'bad_request');
        sendInflux(ctx, errorAnswer(400, 'invalid precision; valid precision units are ns, us, ms, and s', true));
        return;
      }
      precision = given;
    } else {
      // influxd 1.x knows n, u, ms, s, m and h; anything else (ns, us too) is nanoseconds
      const given = p.get('precision') ?? 'n';
      precision = V1_PRECISIONS.has(given) ? given : 'n';
    }
    let body: Buffer;
    try {
      const raw = await readBody(ctx, limits.maxBodyBytes);
      body = influxBody(raw, ctx.req.headers['content-encoding'], limits.maxBodyBytes);
    } catch (e) {
      if (e instanceof InfluxHttpError) {
        ingestCounters.error(protocol, e.reason);
        sendInflux(ctx, errorAnswer(e.status, e.message, v2));
      } else if (e instanceof ApiError && e.status === 413) {
        ingestCounters.error(protocol, 'body_too_large');
        sendInflux(ctx, errorAnswer(413, 'http: request body too large', v2));
      } else throw e;
      if (!ctx.req.complete) ctx.res.once('finish', () => ctx.req.socket.destroy());
      return;
    }
    // The database written to is listed by InfluxQL's SHOW DATABASES (all of them see this one store).
    noteDatabase(store, (v2 ? (p.get('bucket') ?? '').split('/')[0] : p.get('db')) ?? '');
    sendInflux(ctx, influxWrite(store, body, precision, ingestCounters, protocol, v2));
  };
  route('/write', ['POST'], influxWriteRoute(false));
  route('/api/v2/write', ['POST'], influxWriteRoute(true));
  route('/ping', ['GET', 'HEAD'], (ctx) => {
    if (ctx.url.searchParams.get('verbose') === 'true') sendInflux(ctx, { status: 200, body: JSON.stringify({ version: INFLUX_VERSION }) });
    else sendInflux(ctx, { status: 204 });
  });

  // InfluxQL, as InfluxDB 1.x's /query: q in the URL or a form body, db ignored (every name sees
  // this store), epoch, pretty; errors in InfluxDB's shape ({"error":...}), not Prometheus's.
  route('/query', GET_POST, async (ctx) => {
    let p = ctx.url.searchParams;
    if (ctx.req.method === 'POST') {
      const type = (ctx.req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      let body: Buffer;
      try {
        body = await readBody(ctx, limits.maxBodyBytes);
      } catch (e) {
        if (e instanceof ApiError) {
          sendInflux(ctx, { status: e.status, body: JSON.stringify({ error: e.message }) });
          if (!ctx.req.complete) ctx.res.once('finish', () => ctx.req.socket.destroy());
          return;
        }
        throw e;
      }
      // As Go's FormValue: a form body's parameters, then the URL's; other bodies are not read.
      if (type === 'application/x-www-form-urlencoded' && body.length > 0) {
        const merged = new URLSearchParams(body.toString('utf8'));
        for (const [k, v] of p) merged.append(k, v);
        p = merged;
      }
    }
    const a = runInfluxQL(store, p.get('q') ?? '', { epoch: p.get('epoch') ?? undefined, pretty: p.get('pretty') === 'true', maxPoints: limits.maxPoints });
    sendInflux(ctx, { status: a.status, body: a.body });
  });

  route('/metrics', ['GET'], (ctx) => {
    const text = metricsText(requests, durations, received.samples, refused, skipped) + ingestCounters.metricsText() + hookMetricsText(store);
    // OpenMetrics when the scraper asks for it (Prometheus does, first), the text format otherwise.
    const om = wantsOpenMetrics(ctx.req.headers.accept);
    const body = om ? toOpenMetrics(text) : text;
    ctx.res.writeHead(200, { 'Content-Type': om ? OPENMETRICS_CONTENT_TYPE : TEXT_CONTENT_TYPE, 'Content-Length': Buffer.byteLength(body) });
    ctx.res.end(body);
  });

  const labelValues = async (ctx: Ctx, name: string): Promise<void> => {
    const p = await params(ctx);
    if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(name)) throw badData(`invalid label name: ${JSON.stringify(name)}`);
    const values = new Set<string>();
    for (const h of selected(p, false)) {
      const v = name === '__name__' ? h.name : h.labels[name];
      if (v !== undefined && v !== '') values.add(v);
    }
    success(ctx, JSON.stringify([...values].sort(byteOrder)));
  };

  // ---- the dispatcher ----
  const inflight = new Set<Promise<void>>();
  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const started = process.hrtime.bigint();
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://rondo');
    } catch {
      url = new URL('http://rondo/');
    }
    const ctx: Ctx = { req, res, url, handler: 'other' };
    try {
      // /ping answers without the token, as influxd's does: InfluxDB clients ping before they
      // authenticate, and it tells nothing but that a server is there.
      if (tokenDigest !== undefined && url.pathname !== '/ping' && !authorized(req, tokenDigest)) {
        ctx.handler = routes.get(url.pathname)?.handler ?? 'other';
        sendError(ctx, new ApiError(401, 'unauthorized', 'unauthorized: send "Authorization: Bearer <token>"'), {
          'WWW-Authenticate': 'Bearer realm="rondo"',
        });
        return;
      }
      const r = routes.get(url.pathname);
      const lv = r === undefined ? /^\/api\/v1\/label\/([^/]+)\/values$/.exec(url.pathname) : null;
      if (r === undefined && lv === null) {
        sendError(ctx, new ApiError(404, 'not_found', `no such endpoint: ${url.pathname}`));
        return;
      }
      const methods = r?.methods ?? ['GET'];
      ctx.handler = r?.handler ?? '/api/v1/label/:name/values';
      if (!methods.includes(req.method ?? '')) {
        sendError(ctx, new ApiError(405, 'bad_data', `method ${req.method ?? '?'} is not allowed on ${url.pathname}; use ${methods.join(' or ')}`), {
          Allow: methods.join(', '),
        });
        return;
      }
      if (r !== undefined) await r.run(ctx);
      else {
        let name: string;
        try {
          name = decodeURIComponent(lv![1]!);
        } catch {
          throw badData(`invalid label name: ${JSON.stringify(lv![1])}`);
        }
        await labelValues(ctx, name);
      }
    } catch (e) {
      const err = toApiError(e);
      if (err.status >= 500) log('error', `${req.method ?? '?'} ${url.pathname}: ${(e as Error)?.stack ?? String(e)}`);
      if (!res.headersSent) sendError(ctx, err);
      else res.destroy();
      // Whatever of the body is left is not read: close the connection after the answer.
      if (!req.complete) res.once('finish', () => req.socket.destroy());
    } finally {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      note(ctx.handler, res.statusCode, seconds);
    }
  };

  const listener = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const p = handle(req, res).catch((e: unknown) => {
      log('error', `unhandled: ${String(e)}`);
      try {
        res.destroy();
      } catch {
        // nothing more to do
      }
    });
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
  };

  const server: http.Server =
    options.tls !== undefined ? https.createServer({ cert: options.tls.cert, key: options.tls.key }, listener) : http.createServer(listener);
  server.requestTimeout = 5 * 60_000;
  server.headersTimeout = 60_000;
  server.on('clientError', (_e, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (e) => log('error', `server: ${e.message}`));
  // The Influx UDP and TCP listeners, in this process; closed with the server.
  const listeners: InfluxListener[] = [];
  const listenerOptions = { store, counters: ingestCounters, log };
  let influxUdp: InfluxListener | undefined;
  let influxTcp: InfluxListener | undefined;
  let statsdDoor: StatsdDoor | undefined;
  let fossilDoor: FossilDoor | undefined;
  try {
    if (options.influxUdp !== undefined) {
      const a = listenerAddress('Influx UDP', options.influxUdp, parseListen, isLoopback, options.insecureListen === true);
      influxUdp = await listenInfluxUdp(a.host, a.port, listenerOptions);
      listeners.push(influxUdp);
    }
    if (options.influxTcp !== undefined) {
      const a = listenerAddress('Influx TCP', options.influxTcp, parseListen, isLoopback, options.insecureListen === true);
      influxTcp = await listenInfluxTcp(a.host, a.port, listenerOptions);
      listeners.push(influxTcp);
    }
    if (statsdAddr !== undefined) {
      statsdDoor = await startStatsd(store, statsdAddr.host, statsdAddr.port, {
        ...(options.statsdQuantiles === undefined ? {} : { quantiles: options.statsdQuantiles }),
        counters: ingestCounters,
        logger: log,
      });
      listeners.push(statsdDoor);
      beforeConsolidate.push(statsdDoor.flush);
    }
    if (fossilAddr !== undefined) {
      const dbs = fossilDatabases(store, options.fossilRoot);
      const door = await startFossil(dbs, fossilAddr.host, fossilAddr.port, { counters: ingestCounters, logger: log }).catch((e: unknown) => {
        dbs.close();
        throw e;
      });
      fossilDoor = door;
      listeners.push({ host: door.host, port: door.port, close: async () => (await door.close(), dbs.close()) });
    }
  } catch (e) {
    clearInterval(timer);
    await Promise.allSettled(listeners.map((l) => l.close()));
    await new Promise<void>((resolve) => server.close(() => resolve()));
    throw e;
  }
  const addr = server.address() as net.AddressInfo;
  const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  let closing: Promise<void> | undefined;

  return {
    url: `${options.tls !== undefined ? 'https' : 'http'}://${shownHost}:${addr.port}`,
    host: addr.address,
    port: addr.port,
    readOnly: store.readOnly,
    ...(influxUdp !== undefined ? { influxUdp: { host: influxUdp.host, port: influxUdp.port } } : {}),
    ...(influxTcp !== undefined ? { influxTcp: { host: influxTcp.host, port: influxTcp.port } } : {}),
    ...(statsdDoor === undefined ? {} : { statsd: { host: statsdDoor.host, port: statsdDoor.port } }),
    ...(fossilDoor === undefined ? {} : { fossil: { host: fossilDoor.host, port: fossilDoor.port } }),
    stats: () => ({
      ...(fossilDoor === undefined ? {} : { fossil: fossilDoor.stats() }),
      ...(statsdDoor === undefined ? {} : { statsd: statsdDoor.stats() }),
      requests: Object.fromEntries([...requests].map(([k, n]) => [k.replace('\0', ' '), n])),
      receivedSamples: received.samples,
      refusedSamples: { ...refused },
      skippedSamples: { ...skipped },
      ingest: ingestCounters.snapshot(),
    }),
    close: () => {
      closing ??= (async () => {
        clearInterval(timer);
        await Promise.allSettled(listeners.map((l) => l.close()));
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
        });
        await Promise.allSettled([...inflight]);
        if (!store.isClosed && !store.readOnly) {
          figuresChanged = true;
          recordFigures();
          try {
            store.flush();
          } catch (e) {
            log('warn', `flush: ${(e as Error).message.split('\n')[0]}`);
          }
        }
      })();
      return closing;
    },
  };
}

function positive(v: number | undefined, dflt: number, what: string): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) throw new ConfigError(`${what} ${String(v)} must be a positive number`);
  return v;
}

function authorized(req: http.IncomingMessage, digest: Buffer): boolean {
  const h = req.headers.authorization;
  // "Bearer <token>", or "Token <token>" as InfluxDB clients send it
  if (typeof h !== 'string' || !/^(?:bearer|token) /i.test(h)) return false;
  const given = crypto.createHash('sha256').update(h.slice(h.indexOf(' ') + 1).trim()).digest();
  return crypto.timingSafeEqual(given, digest);
}

function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  if (e instanceof InvalidSelectorError || e instanceof InvalidQueryError) return badData(e.message);
  // The store's own failure (disk, closed): 503, so a remote-write client retries.
  if (e instanceof StorageError || e instanceof StoreClosedError) return new ApiError(503, 'unavailable', e.message.split('\n')[0]!);
  if (e instanceof RondoError) return new ApiError(422, 'execution', e.message);
  return new ApiError(500, 'internal', `internal error: ${(e as Error)?.message ?? String(e)}`);
}

function byteOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Whether a series has a point in [start, end] (series, labels with start/end). */
function hasData(store: Store, h: SeriesHandle, start: number, end: number): boolean {
  const last = store.lastPoint(h);
  if (last !== undefined && last[0] < start) return false;
  try {
    const r = store.query(h, { start, end, tier: 'stitch' });
    for (let i = 0; i < r.values.length; i++) if (r.values[i] === r.values[i]) return true;
  } catch {
    return false;
  }
  return false;
}

/** Prometheus's `data` of a query as JSON: sample values as strings (the engine gives them so;
 *  a number is formatted as Prometheus would), timestamps as seconds. */
export function dataJson(data: PromqlData): string {
  let out = `{"resultType":${JSON.stringify(data.resultType)},"result":`;
  const result = data.result;
  if (data.resultType === 'matrix' && Array.isArray(result)) {
    out += '[';
    for (let i = 0; i < result.length; i++) {
      const s = result[i] as { metric?: unknown; values?: unknown[] };
      if (i > 0) out += ',';
      out += `{"metric":${JSON.stringify(s.metric ?? {})},"values":[`;
      const values = s.values ?? [];
      for (let j = 0; j < values.length; j++) {
        if (j > 0) out += ',';
        out += point(values[j]);
      }
      out += ']}';
    }
    out += ']';
  } else if (data.resultType === 'vector' && Array.isArray(result)) {
    out += '[';
    for (let i = 0; i < result.length; i++) {
      const s = result[i] as { metric?: unknown; value?: unknown };
      if (i > 0) out += ',';
      out += `{"metric":${JSON.stringify(s.metric ?? {})},"value":${point(s.value)}}`;
    }
    out += ']';
  } else if ((data.resultType === 'scalar' || data.resultType === 'string') && Array.isArray(result)) {
    out += point(result);
  } else out += JSON.stringify(result ?? null);
  out += `,"rondo":${JSON.stringify(data.rondo)}`;
  return `${out}}`;
}

/** A sample value the engine formatted (digits, '.', 'e', '+', '-', or NaN/+Inf/-Inf): JSON
 *  without escaping. Anything else goes through JSON.stringify. */
const PLAIN_VALUE = /^[-+.0-9eEINafn]*$/;

function point(p: unknown): string {
  if (!Array.isArray(p)) return JSON.stringify(p ?? null);
  const t = p[0] as unknown;
  const v = p[1] as unknown;
  const ts = typeof t === 'number' ? String(t) : JSON.stringify(t);
  const val = typeof v === 'number' ? `"${formatFloatValue(v)}"` : typeof v === 'string' && v.length <= 32 && PLAIN_VALUE.test(v) ? `"${v}"` : JSON.stringify(v);
  return `[${ts},${val}]`;
}

function formatRetention(ms: number): string {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000}d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  return `${Math.round(ms / 1000)}s`;
}

function packageVersion(): string {
  try {
    const pkg = JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/** /metrics: the store's hooks' faults (docs/hooks.md), when it has hooks. */
function hookMetricsText(store: Store): string {
  const figures = store.hookFigures();
  if (figures.length === 0) return '';
  const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
  const lines = ['# HELP rondo_hook_errors_total Faults of each hook (it threw, trapped or returned what the contract does not allow).', '# TYPE rondo_hook_errors_total counter'];
  for (const f of figures) lines.push(`rondo_hook_errors_total{hook="${esc(f.hook)}"} ${f.errors}`);
  lines.push('# HELP rondo_hook_disabled 1 for a hook disabled after too many consecutive faults.', '# TYPE rondo_hook_disabled gauge');
  for (const f of figures) lines.push(`rondo_hook_disabled{hook="${esc(f.hook)}"} ${f.disabled ? 1 : 0}`);
  return `${lines.join('\n')}\n`;
}

/** /metrics: the server's figures in the Prometheus text format. */
function metricsText(
  requests: Map<string, number>,
  durations: Map<string, { sum: number; count: number }>,
  received: number,
  refused: Partial<Record<IngestReason, number>>,
  skipped: Partial<Record<IngestReason, number>>,
): string {
  const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
  const lines: string[] = [];
  lines.push('# HELP rondo_http_requests_total HTTP requests answered, by handler and status code.');
  lines.push('# TYPE rondo_http_requests_total counter');
  for (const [key, n] of [...requests].sort()) {
    const [handler, code] = key.split('\0') as [string, string];
    lines.push(`rondo_http_requests_total{handler="${esc(handler)}",code="${code}"} ${n}`);
  }
  lines.push('# HELP rondo_http_request_duration_seconds Time spent answering requests, by handler (sum and count).');
  lines.push('# TYPE rondo_http_request_duration_seconds summary');
  for (const [handler, d] of [...durations].sort()) {
    lines.push(`rondo_http_request_duration_seconds_sum{handler="${esc(handler)}"} ${formatTextFloat(d.sum)}`);
    lines.push(`rondo_http_request_duration_seconds_count{handler="${esc(handler)}"} ${d.count}`);
  }
  lines.push('# HELP rondo_remote_write_received_samples_total Samples received by remote write and stored.');
  lines.push('# TYPE rondo_remote_write_received_samples_total counter');
  lines.push(`rondo_remote_write_received_samples_total ${received}`);
  lines.push('# HELP rondo_remote_write_refused_samples_total Samples received by remote write and refused, by reason.');
  lines.push('# TYPE rondo_remote_write_refused_samples_total counter');
  for (const [reason, n] of Object.entries(refused)) lines.push(`rondo_remote_write_refused_samples_total{reason="${reason}"} ${n}`);
  lines.push('# HELP rondo_remote_write_skipped_samples_total Samples received by remote write and not stored on purpose (stale markers, NaN and infinite values), by reason.');
  lines.push('# TYPE rondo_remote_write_skipped_samples_total counter');
  for (const [reason, n] of Object.entries(skipped)) lines.push(`rondo_remote_write_skipped_samples_total{reason="${reason}"} ${n}`);
  return `${lines.join('\n')}\n`;
}
