// The live page at `/` of rondo serve (docs/page.md): its static files (web/ of the package and
// uPlot's from its installed package, read once, gzipped once) and the read-only event routes the
// page draws the VM lifecycle and console from. The page reads everything else through the
// Prometheus API the server already answers.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import type * as http from 'node:http';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { PACKAGE_ROOT } from '../package-root';
import { validateTopic, type EventData, type EventRecord, type Store } from '../store';
import { ApiError, badData, timeParam } from './params';

export interface PageRoute {
  methods: readonly string[];
  run(req: http.IncomingMessage, res: http.ServerResponse, url: URL): void;
}

interface Asset {
  type: string;
  body: Buffer;
  gzip: Buffer;
  etag: string;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

/** The page's files: URL path → file. uPlot's are resolved from its installed package. */
function assetFiles(): Array<[string, string]> {
  const web = path.join(PACKAGE_ROOT, 'web');
  const uplotDir = path.dirname(require.resolve('uplot/dist/uPlot.iife.min.js', { paths: [PACKAGE_ROOT] }));
  const out: Array<[string, string]> = [['/', path.join(web, 'index.html')]];
  for (const f of fs.readdirSync(web)) if (/\.(js|css)$/.test(f)) out.push([`/assets/${f}`, path.join(web, f)]);
  out.push(['/assets/uplot/uPlot.iife.min.js', path.join(uplotDir, 'uPlot.iife.min.js')]);
  out.push(['/assets/uplot/uPlot.min.css', path.join(uplotDir, 'uPlot.min.css')]);
  return out;
}

let cache: Map<string, Asset> | undefined;

/** The page's files, read and gzipped on first use (once per process). */
export function pageAssets(): ReadonlyMap<string, Asset> {
  if (cache !== undefined) return cache;
  const m = new Map<string, Asset>();
  for (const [url, file] of assetFiles()) {
    const body = fs.readFileSync(file);
    const gzip = zlib.gzipSync(body, { level: 9 });
    const etag = `"${crypto.createHash('sha1').update(body).digest('hex').slice(0, 16)}"`;
    m.set(url, { type: TYPES[path.extname(file)] ?? 'application/octet-stream', body, gzip, etag });
  }
  cache = m;
  return m;
}

/** True for the paths of the page's static files (they hold no data). */
export function isPageAsset(pathname: string): boolean {
  return pathname === '/' || pathname === '/index.html' || pathname.startsWith('/assets/');
}

function sendAsset(req: http.IncomingMessage, res: http.ServerResponse, a: Asset): void {
  const headers: Record<string, string | number> = { 'Content-Type': a.type, ETag: a.etag, 'Cache-Control': 'no-cache', Vary: 'Accept-Encoding' };
  if (req.headers['if-none-match'] === a.etag) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  const gz = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
  const body = gz ? a.gzip : a.body;
  res.writeHead(200, { ...headers, ...(gz ? { 'Content-Encoding': 'gzip' } : {}), 'Content-Length': body.length });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** A datum as JSON can carry it: bigints as decimal strings, bytes as base64. */
function jsonData(d: EventData): unknown {
  if (typeof d === 'bigint') return d.toString();
  if (d instanceof Uint8Array) return Buffer.from(d).toString('base64');
  if (Array.isArray(d)) return d.map(jsonData);
  if (typeof d === 'object' && d !== null) return Object.fromEntries(Object.entries(d).map(([k, v]) => [k, jsonData(v as EventData)]));
  return d;
}

function eventJson(e: EventRecord): unknown {
  return {
    time: Number(e.tsNs / 1000n) / 1e6,
    tsNs: e.tsNs.toString(),
    topic: e.topic,
    type: e.type,
    data: jsonData(e.data),
    ...(e.origin === undefined ? {} : { origin: e.origin }),
  };
}

function success(res: http.ServerResponse, data: unknown): void {
  const body = JSON.stringify({ status: 'success', data });
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

/** Most events one request answers. */
export const MAX_EVENTS = 10_000;

/**
 * The page's routes: its static files, and two read-only JSON routes over the store's event
 * ring, /api/v1/rondo/topics and /api/v1/rondo/events (answered in Prometheus's shape).
 */
export function pageRoutes(store: Store): Map<string, PageRoute> {
  const routes = new Map<string, PageRoute>();
  let assets: ReadonlyMap<string, Asset>;
  try {
    assets = pageAssets();
  } catch (e) {
    // An installation without the page's files (web/, uplot) still serves the API; / says why.
    const why = `the page's files cannot be read from this installation of rondo (${(e as Error).message.split('\n')[0]}); the API is served`;
    const missing = (): void => {
      throw new ApiError(503, 'unavailable', why);
    };
    routes.set('/', { methods: ['GET', 'HEAD'], run: missing });
    assets = new Map();
  }
  for (const [p, a] of assets) routes.set(p, { methods: ['GET', 'HEAD'], run: (req, res) => sendAsset(req, res, a) });
  const index = assets.get('/');
  if (index !== undefined) routes.set('/index.html', { methods: ['GET', 'HEAD'], run: (req, res) => sendAsset(req, res, index) });
  routes.set('/api/v1/rondo/topics', {
    methods: ['GET'],
    run: (_req, res) => success(res, store.hasEvents ? store.topics().map((t) => ({ id: t.id, name: t.name, schema: t.schema })) : []),
  });
  routes.set('/api/v1/rondo/events', {
    methods: ['GET'],
    run: (_req, res, url) => {
      const p = url.searchParams;
      const topic = p.get('topic');
      if (topic === null || topic === '') throw badData('invalid parameter "topic": missing (a topic such as /vm/demo/lifecycle; /api/v1/rondo/topics lists them)');
      try {
        validateTopic(topic);
      } catch (e) {
        throw badData(`invalid parameter "topic": ${(e as Error).message}`);
      }
      const start = timeParam(p, 'start', 0);
      const end = timeParam(p, 'end', 8.64e15);
      if (end < start) throw badData('end timestamp must not be before start time');
      const lastText = p.get('last');
      const last = lastText === null || lastText === '' ? MAX_EVENTS : Number(lastText);
      if (!Number.isInteger(last) || last < 1 || last > MAX_EVENTS)
        throw badData(`invalid parameter "last": ${JSON.stringify(lastText)} must be an integer from 1 to ${MAX_EVENTS}`);
      if (!store.hasEvents) {
        success(res, []);
        return;
      }
      const records = store.events({ topic, start: Math.floor(start), end: Math.floor(end) + 1 });
      success(res, records.slice(-last).map(eventJson));
    },
  });
  return routes;
}
