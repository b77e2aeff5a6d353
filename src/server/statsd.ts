// The StatsD door: a UDP socket (rondo serve --statsd HOST:PORT). Each datagram's lines go to
// the aggregator (src/ingest/statsd.ts); at the end of each tier-0 interval the interval's
// figures go through the one ingest path. A refused line is counted by reason, nothing of it
// is recorded, and the good lines of the same datagram are kept. UDP has no answer to give.
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { ingest, StatsdAggregator, type IngestCounters } from '../ingest';
import type { Labels, Store } from '../store';

const PROTOCOL = 'statsd';

export interface StatsdDoorOptions {
  /** The quantiles of timers and histograms (default 0.5, 0.9, 0.99). */
  quantiles?: readonly number[];
  /** The server's ingest counters: each refused line (parse) or figure (ingest) by reason, as
   *  rondo_ingest_errors_total{protocol="statsd",reason}; figures stored as
   *  rondo_ingest_points_total{protocol="statsd"}. */
  counters: IngestCounters;
  logger?: (level: 'warn' | 'error', message: string) => void;
}

/** What the door has seen since it started. */
export interface StatsdStats {
  datagrams: number;
  /** Lines (blank ones not counted). */
  lines: number;
  /** Lines taken into the aggregates (the others were refused, counted by reason). */
  accepted: number;
  /** Figures (one per series and interval) recorded into the store. */
  stored: number;
  /** When the door last recorded what had ended (ms since the epoch; 0 before the first time):
   *  every interval that ended by then is in the store. */
  flushedAt: number;
}

export interface StatsdDoor {
  readonly host: string;
  readonly port: number;
  stats(): StatsdStats;
  /** Records the figures of every interval that has ended (the door's own timer does it just
   *  after each interval; the server calls it before consolidating). */
  flush(): void;
  /** Stops receiving, records the open intervals' figures, closes the socket. */
  close(): Promise<void>;
}

/** The first schema whose match labels the series has (`__name__` is the metric name), as the
 *  store routes it: that schema's tier-0 interval is the series' aggregation interval. */
function intervalFinder(store: Store): { intervalOf: (name: string, labels: Labels) => number; finest: number; maxSeries: number } {
  const info = store.info().schemas;
  const schemas = info.map((s) => ({ match: Object.entries(s.match), intervalMs: s.tiers[0]!.intervalMs }));
  const finest = Math.min(...schemas.map((s) => s.intervalMs));
  const maxSeries = info.reduce((a, s) => a + s.maxSeries, 0);
  const intervalOf = (name: string, labels: Labels): number => {
    for (const s of schemas) if (s.match.every(([k, v]) => (k === '__name__' ? name === v : labels[k] === v))) return s.intervalMs;
    return finest; // no schema takes it: ingest() refuses it, the interval does not matter
  };
  return { intervalOf, finest, maxSeries };
}

/** Binds the StatsD door on `host:port` for `store`. */
export async function startStatsd(store: Store, host: string, port: number, options: StatsdDoorOptions): Promise<StatsdDoor> {
  const log = options.logger ?? (() => {});
  // The aggregates are bounded by what the store can hold: a line for one series more than all
  // its schemas take together is refused before it costs memory.
  const { intervalOf, finest, maxSeries } = intervalFinder(store);
  const agg = new StatsdAggregator({ quantiles: options.quantiles ?? undefined, intervalOf, maxSeries });
  const socket = dgram.createSocket({ type: net.isIPv6(host) ? 'udp6' : 'udp4', recvBufferSize: 8 * 1024 * 1024 });
  let warned = false;
  const count = (reason: string, n: number): void => options.counters.error(PROTOCOL, reason, n);
  const seen: StatsdStats = { datagrams: 0, lines: 0, accepted: 0, stored: 0, flushedAt: 0 };

  const record = (final: boolean): void => {
    try {
      const now = Date.now();
      const samples = agg.flush(now, final);
      seen.flushedAt = now;
      if (samples.length === 0 || store.isClosed) return;
      const r = ingest(store, samples);
      for (const [k, n] of Object.entries(r.refused)) count(k, n);
      for (const [k, n] of Object.entries(r.skipped)) count(k, n);
      seen.stored += r.stored;
      options.counters.stored(PROTOCOL, r.stored);
      if (r.messages.length > 0 && !warned) {
        warned = true;
        log('warn', `statsd: ${r.messages[0]} (said once)`);
      }
    } catch (e) {
      log('warn', `statsd: ${(e as Error).message.split('\n')[0]}`);
    }
  };

  socket.on('message', (msg: Buffer) => {
    seen.datagrams++;
    if (store.readOnly) {
      // Count the lines, store none: the remote-write door refuses writes to a read-only store too.
      let lines = 0;
      for (const l of msg.toString('latin1').split('\n')) if (l.replace(/\r$/, '') !== '') lines++;
      seen.lines += lines;
      if (lines > 0) count('read_only', lines);
      return;
    }
    const r = agg.addDatagram(msg.toString('utf8'), Date.now());
    seen.lines += r.lines;
    seen.accepted += r.accepted;
    for (const [k, n] of Object.entries(r.refused)) count(k, n);
  });
  socket.on('error', (e) => log('error', `statsd: ${e.message}`));

  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, host, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  if (store.readOnly) log('warn', 'statsd: the store is open read-only; StatsD lines are counted (reason read_only) and not stored');

  // A tick just after each end of the finest interval: figures of the interval that ended.
  let timer: NodeJS.Timeout | undefined;
  const schedule = (): void => {
    const now = Date.now();
    const next = (Math.floor(now / finest) + 1) * finest + 5;
    timer = setTimeout(() => {
      record(false);
      schedule();
    }, next - now);
    timer.unref();
  };
  schedule();

  const addr = socket.address();
  let closing: Promise<void> | undefined;
  return {
    host: addr.address,
    port: addr.port,
    stats: () => ({ ...seen }),
    flush: () => {
      if (!store.readOnly) record(false);
    },
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        if (timer !== undefined) clearTimeout(timer);
        socket.close(() => {
          if (!store.readOnly) record(true);
          resolve();
        });
      });
      return closing;
    },
  };
}
