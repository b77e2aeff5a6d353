// The Influx line protocol doors of rondo serve: what HTTP /write and /api/v2/write answer (in
// InfluxDB's shapes), and the UDP (one datagram = lines) and TCP (newline-framed stream)
// listeners. Every door parses through ingestInflux() (src/ingest) into the one ingest path and
// counts what it stored and refused in the server's IngestCounters.
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import * as zlib from 'node:zlib';
import { ConfigError } from '../errors';
import { ingestInflux, type IngestCounters, type InfluxIngestResult } from '../ingest';
import type { Store } from '../store';

/** What rondo says it is on /ping and every Influx answer: a 1.x (1.8 brought /api/v2/write). */
export const INFLUX_VERSION = '1.8.10-rondo';

/** Longest line the TCP listener takes; a longer one is refused and the stream resynchronised at
 *  the next newline. */
export const MAX_TCP_LINE_BYTES = 64 * 1024;

/** An answer of an Influx HTTP door. */
export interface InfluxAnswer {
  status: number;
  /** JSON body; none for 204. */
  body?: string;
  /** The error text (X-Influxdb-Error). */
  error?: string;
}

export class InfluxHttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** The counter's reason. */
    readonly reason: string,
  ) {
    super(message);
  }
}

/** The body of a write, gunzipped when it says Content-Encoding: gzip (at most maxBytes out). */
export function influxBody(raw: Buffer, encoding: string | undefined, maxBytes: number): Buffer {
  const enc = (encoding ?? '').trim().toLowerCase();
  if (enc === '' || enc === 'identity') return raw;
  if (enc !== 'gzip') throw new InfluxHttpError(415, `unsupported Content-Encoding ${JSON.stringify(enc)}: send the body plain or gzip`, 'bad_encoding');
  if (raw.length < 2 || raw[0] !== 0x1f || raw[1] !== 0x8b) throw new InfluxHttpError(400, 'gzip: invalid header', 'bad_gzip');
  try {
    return zlib.gunzipSync(raw, { maxOutputLength: maxBytes });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ERR_BUFFER_TOO_LARGE' || /larger than|too large/i.test(err.message))
      throw new InfluxHttpError(413, 'http: request body too large', 'body_too_large');
    if (err.code === 'Z_BUF_ERROR') throw new InfluxHttpError(400, 'unexpected EOF', 'bad_gzip');
    throw new InfluxHttpError(400, `gzip: ${err.message}`, 'bad_gzip');
  }
}

/** Counts a result of ingestInflux() in the server's figures. */
export function countInflux(counters: IngestCounters, protocol: string, r: InfluxIngestResult): void {
  counters.stored(protocol, r.stored);
  for (const [reason, n] of Object.entries(r.errors)) counters.error(protocol, reason, n ?? 0);
}

/**
 * Writes a v1 or v2 body and says what to answer, as influxd does: 204 when every line was
 * stored; 400 naming the bad lines ("partial write: unable to parse '<line>': <why> dropped=0"
 * when some lines were good, "unable to parse ..." when none was) or the points the store refused
 * ("partial write: field type conflict: ... dropped=N"). String fields are skipped and counted,
 * not an error (rondo stores numbers; InfluxDB clients such as Telegraf send strings often).
 */
export function influxWrite(store: Store, body: Buffer, precision: string, counters: IngestCounters, protocol: string, v2: boolean): InfluxAnswer {
  const r = ingestInflux(store, body, { precision, maxErrorLines: 1000 });
  countInflux(counters, protocol, r);
  let message: string | undefined;
  if (r.writeError !== undefined) message = `partial write: ${r.writeError} dropped=${r.dropped}`;
  else if (r.parseErrorCount > 0) {
    const lines = r.parseErrors.join('\n') + (r.parseErrorCount > r.parseErrors.length ? `\n(and ${r.parseErrorCount - r.parseErrors.length} more lines that cannot be parsed)` : '');
    message = r.points === 0 ? lines : `partial write: ${lines} dropped=0`;
  }
  if (message === undefined) return { status: 204 };
  return errorAnswer(400, message, v2);
}

export function errorAnswer(status: number, message: string, v2: boolean): InfluxAnswer {
  const body = v2 ? JSON.stringify({ code: status === 413 ? 'request too large' : status >= 500 ? 'internal error' : 'invalid', message }) : JSON.stringify({ error: message });
  return { status, body, error: message };
}

/** v2's precision names (ns, us, ms, s) as the parser's. */
export function v2Precision(p: string | null): string | undefined {
  if (p === null || p === '' || p === 'ns') return 'n';
  if (p === 'us') return 'u';
  if (p === 'ms' || p === 's') return p;
  return undefined;
}

// ---- UDP and TCP ----

export interface InfluxListener {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

interface ListenerOptions {
  store: Store;
  counters: IngestCounters;
  log: (level: 'warn' | 'error', message: string) => void;
}

function refuseReadOnly(o: ListenerOptions, protocol: string): boolean {
  if (!o.store.readOnly && !o.store.isClosed) return false;
  o.counters.error(protocol, o.store.isClosed ? 'store_closed' : 'read_only');
  return true;
}

function ingestCounted(o: ListenerOptions, protocol: string, body: Buffer, stream = false): void {
  try {
    const r = ingestInflux(o.store, body, stream ? { maxLineBytes: MAX_TCP_LINE_BYTES, newlineFramed: true } : {});
    countInflux(o.counters, protocol, r);
  } catch (e) {
    // the store's own failure (disk, closed): counted and logged, the listener keeps serving
    o.counters.error(protocol, 'storage');
    o.log('warn', `${protocol}: ${(e as Error).message.split('\n')[0]}`);
  }
}

/** Listens for Influx lines on UDP at host:port (one datagram = lines, precision ns). */
export async function listenInfluxUdp(host: string, port: number, o: ListenerOptions): Promise<InfluxListener> {
  const sock = dgram.createSocket({ type: net.isIPv6(host) ? 'udp6' : 'udp4', recvBufferSize: 8 * 1024 * 1024 });
  sock.on('message', (msg) => {
    if (refuseReadOnly(o, 'influx_udp')) return;
    ingestCounted(o, 'influx_udp', msg);
  });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(port, host, () => {
      sock.off('error', reject);
      resolve();
    });
  });
  sock.on('error', (e) => o.log('error', `influx udp: ${e.message}`));
  const a = sock.address();
  return {
    host: a.address,
    port: a.port,
    close: () => new Promise<void>((resolve) => sock.close(() => resolve())),
  };
}

/** Listens for Influx lines on TCP at host:port: every '\n' ends a line (a string field cannot
 *  hold a newline here, as with Telegraf's socket_listener); a line over 64 KiB is refused. */
export async function listenInfluxTcp(host: string, port: number, o: ListenerOptions): Promise<InfluxListener> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let pending: Buffer | undefined; // the start of a line whose newline has not come yet
    let skipping = false; // inside a line that was too long: drop up to its newline
    socket.on('data', (chunk: Buffer) => {
      let data = chunk;
      if (skipping) {
        const nl = data.indexOf(0x0a);
        if (nl < 0) return;
        skipping = false;
        data = data.subarray(nl + 1);
      }
      const last = data.lastIndexOf(0x0a);
      if (last < 0) {
        pending = pending === undefined ? Buffer.from(data) : Buffer.concat([pending, data]);
        if (pending.length > MAX_TCP_LINE_BYTES) {
          o.counters.error('influx_tcp', 'line_too_long');
          pending = undefined;
          skipping = true;
        }
        return;
      }
      let lines = data.subarray(0, last + 1);
      if (pending !== undefined) {
        lines = Buffer.concat([pending, lines]);
        pending = undefined;
      }
      const rest = data.subarray(last + 1);
      if (rest.length > 0) pending = Buffer.from(rest);
      if (refuseReadOnly(o, 'influx_tcp')) return;
      ingestCounted(o, 'influx_tcp', lines, true);
    });
    socket.on('end', () => {
      // a last line without its newline is a line too
      if (pending !== undefined && !skipping && !refuseReadOnly(o, 'influx_tcp')) ingestCounted(o, 'influx_tcp', pending, true);
      pending = undefined;
      socket.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (e) => o.log('error', `influx tcp: ${e.message}`));
  const a = server.address() as net.AddressInfo;
  return {
    host: a.address,
    port: a.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}

/** host and port of a listener flag, with --listen's loopback rule (no token can protect these
 *  doors, so a non-loopback address needs insecureListen). */
export function listenerAddress(what: string, value: string, parse: (v: string) => { host: string; port: number }, isLoopback: (h: string) => boolean, insecure: boolean): { host: string; port: number } {
  const a = parse(value);
  if (!isLoopback(a.host) && !insecure)
    throw new ConfigError(`refusing to listen for ${what} on ${a.host}, which is not a loopback address: these doors take no token; allow it explicitly (--insecure-listen)`);
  return a;
}
