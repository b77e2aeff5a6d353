import * as fs from 'node:fs';
import * as path from 'node:path';
import { inspect } from 'node:util';
import { Reader } from 'protobufjs/minimal';
import * as snappy from 'snappyjs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../src/errors';
import { loadRemoteWriteProto } from '../src/export/encode';
import { RemoteWriteClient, RemoteWriteError, type RemoteWriteOptions } from '../src/export/remote-write';
import { pushTo } from '../src/export/index';
import type { ExportSeries } from '../src/store/export-series';
import { Store } from '../src/store/index';
import { alignedPast, tempDir } from './helpers';
import {
  ensureReceiversInstalled,
  freePort,
  getJson,
  getText,
  startFaultServer,
  startPrometheus,
  startVictoriaMetrics,
  type FaultReply,
  type FaultServer,
  type PrometheusReceiver,
  type VictoriaMetricsReceiver,
} from './support/receivers';

const PKG_VERSION = (JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;

// ---- helpers ----

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function fault(behaviour: Parameters<typeof startFaultServer>[0]): Promise<FaultServer> {
  const s = await startFaultServer(behaviour);
  cleanups.push(() => s.stop());
  return s;
}

function client(options: RemoteWriteOptions): RemoteWriteClient {
  const c = new RemoteWriteClient({ minBackoffMs: 5, maxBackoffMs: 20, logger: () => {}, ...options });
  cleanups.push(() => c.close());
  return c;
}

function logs(): { lines: string[]; logger: (level: 'warn' | 'error', message: string) => void } {
  const lines: string[] = [];
  return { lines, logger: (level, message) => lines.push(`${level}: ${message}`) };
}

function series(
  name: string,
  labels: Record<string, string>,
  points: Array<[number, number]>,
  stale?: number[],
  id = 1,
): ExportSeries {
  return {
    id,
    name,
    labels,
    kind: 'gauge',
    timestamps: points.map((p) => p[0]),
    values: points.map((p) => p[1]),
    ...(stale ? { stale } : {}),
  };
}

interface DecodedSeries {
  labels: Array<{ name: string; value: string }>;
  samples: Array<{ value: number; timestamp: number }>;
}

/** Decodes a request body as a receiver would: snappy block, then the WriteRequest message. */
function decodeBody(body: Uint8Array): DecodedSeries[] {
  const type = loadRemoteWriteProto().lookupType('prometheus.WriteRequest');
  const msg = type.decode(snappy.uncompress(body));
  const obj = type.toObject(msg, { longs: Number, defaults: true }) as { timeseries: DecodedSeries[] };
  return obj.timeseries;
}

/**
 * The raw 8 bytes of every sample's value field, per series, as big-endian hex: read straight
 * off the wire, so a NaN payload cannot be canonicalised on the way.
 */
function sampleValueBits(body: Uint8Array): string[][] {
  const r = Reader.create(snappy.uncompress(body));
  const out: string[][] = [];
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag >>> 3 !== 1 || (tag & 7) !== 2) {
      r.skipType(tag & 7);
      continue;
    }
    const seriesEnd = r.uint32() + r.pos;
    const bits: string[] = [];
    while (r.pos < seriesEnd) {
      const t = r.uint32();
      if (t >>> 3 !== 2 || (t & 7) !== 2) {
        r.skipType(t & 7);
        continue;
      }
      const sampleEnd = r.uint32() + r.pos;
      while (r.pos < sampleEnd) {
        const st = r.uint32();
        if (st >>> 3 === 1 && (st & 7) === 1) {
          bits.push(Buffer.from(r.buf.subarray(r.pos, r.pos + 8)).reverse().toString('hex'));
          r.skip(8);
        } else r.skipType(st & 7);
      }
    }
    out.push(bits);
  }
  return out;
}

function doubleBits(v: number): string {
  const b = Buffer.alloc(8);
  b.writeDoubleBE(v);
  return b.toString('hex');
}

const labelMap = (labels: Array<{ name: string; value: string }>): Record<string, string> =>
  Object.fromEntries(labels.map((l) => [l.name, l.value]));

// ---- the bytes on the wire ----

describe('remote-write request', () => {
  it('carries sorted labels with __name__ and external labels, exact ms timestamps in order, and the spec headers', async () => {
    const server = await fault({ status: 204 });
    const c = client({
      url: server.url,
      bearerToken: 'tok-abc-123',
      externalLabels: { region: 'eu1', vm: 'from-external', host: 'h1' },
    });
    const t0 = 1_700_000_000_123;
    const sent = [
      series('vcpu_exits_total', { vm: 'vm-7', reason: 'io', cpu: '0' }, [
        [t0, 1],
        [t0 + 1000, 2.5],
        [t0 + 2001, 1e300],
      ]),
      series('empty_series', { vm: 'x' }, []),
      series('mem_bytes', {}, [[t0 + 5, -0.25]]),
    ];
    const result = await c.send(sent);
    expect(result).toMatchObject({ outcome: 'sent', samples: 4, attempts: 1, status: 204 });

    expect(server.requests).toHaveLength(1);
    const req = server.requests[0]!;
    expect(req.method).toBe('POST');
    expect(req.url).toBe('/api/v1/write');
    expect(req.headers['content-encoding']).toBe('snappy');
    expect(req.headers['content-type']).toBe('application/x-protobuf');
    expect(req.headers['x-prometheus-remote-write-version']).toBe('0.1.0');
    expect(req.headers['user-agent']).toBe(`rondo/${PKG_VERSION}`);
    expect(req.headers['authorization']).toBe('Bearer tok-abc-123');

    const decoded = decodeBody(req.body);
    // The series without samples is not sent at all.
    expect(decoded).toHaveLength(2);
    const [exits, mem] = decoded as [DecodedSeries, DecodedSeries];
    expect(exits.labels).toEqual([
      { name: '__name__', value: 'vcpu_exits_total' },
      { name: 'cpu', value: '0' },
      { name: 'host', value: 'h1' },
      { name: 'reason', value: 'io' },
      { name: 'region', value: 'eu1' },
      { name: 'vm', value: 'vm-7' }, // the series' own label wins over the external one
    ]);
    expect(exits.samples).toEqual([
      { value: 1, timestamp: t0 },
      { value: 2.5, timestamp: t0 + 1000 },
      { value: 1e300, timestamp: t0 + 2001 },
    ]);
    expect(mem.labels.map((l) => l.name)).toEqual(['__name__', 'host', 'region', 'vm']);
    expect(labelMap(mem.labels).vm).toBe('from-external');
    expect(mem.samples).toEqual([{ value: -0.25, timestamp: t0 + 5 }]);
  });

  it('sends stale markers with the exact bit pattern 0x7ff0000000000002, other values bit for bit', async () => {
    const server = await fault({ status: 200 });
    const c = client({ url: server.url });
    const t0 = 1_700_000_000_000;
    await c.send([
      series('vm_up', { vm: 'a' }, [[t0, 1], [t0 + 1000, 0], [t0 + 2000, NaN]], [2]),
      series('vm_load', { vm: 'a' }, [[t0, NaN], [t0 + 1000, 0.1]]),
    ]);
    const bits = sampleValueBits(server.requests[0]!.body);
    expect(bits).toEqual([
      [doubleBits(1), doubleBits(0), '7ff0000000000002'],
      // A NaN not flagged stale is an ordinary NaN, which Prometheus keeps as a value.
      [doubleBits(NaN), doubleBits(0.1)],
    ]);
    expect(bits[1]![0]).not.toBe('7ff0000000000002');
    const decoded = decodeBody(server.requests[0]!.body);
    expect(decoded[0]!.samples.map((s) => s.timestamp)).toEqual([t0, t0 + 1000, t0 + 2000]);
  });

  it('sends Basic auth from a password, and re-reads token and password files', async () => {
    const server = await fault({ status: 200 });
    const dir = tempDir('rondo-rw-');
    const points: Array<[number, number]> = [[1_700_000_000_000, 1]];

    await client({ url: server.url, basicAuth: { username: 'agent', password: 'pa:ss' } }).send([series('m', {}, points)]);
    expect(server.requests[0]!.headers.authorization).toBe(`Basic ${Buffer.from('agent:pa:ss').toString('base64')}`);

    const pwFile = path.join(dir, 'pw');
    fs.writeFileSync(pwFile, 'from-file\n');
    const basic = client({ url: server.url, basicAuth: { username: 'agent', passwordFile: pwFile } });
    await basic.send([series('m', {}, points)]);
    expect(server.requests[1]!.headers.authorization).toBe(`Basic ${Buffer.from('agent:from-file').toString('base64')}`);

    const tokenFile = path.join(dir, 'token');
    fs.writeFileSync(tokenFile, 'first-token\n');
    const bearer = client({ url: server.url, bearerTokenFile: tokenFile, headers: { 'X-Scope-OrgID': 'tenant-1' } });
    await bearer.send([series('m', {}, points)]);
    fs.writeFileSync(tokenFile, 'rotated-token\n');
    await bearer.send([series('m', {}, points)]);
    expect(server.requests[2]!.headers.authorization).toBe('Bearer first-token');
    expect(server.requests[3]!.headers.authorization).toBe('Bearer rotated-token');
    expect(server.requests[3]!.headers['x-scope-orgid']).toBe('tenant-1');
  });
});

// ---- retries, drops, failures ----

describe('remote-write failures', () => {
  const points: Array<[number, number]> = [
    [1_700_000_000_000, 1],
    [1_700_000_001_000, 2],
    [1_700_000_002_000, 3],
  ];

  it('retries 5xx and then succeeds, resending the same request', async () => {
    const server = await fault([{ status: 500, body: 'overloaded' }, { status: 503 }, { status: 200 }]);
    const c = client({ url: server.url });
    const result = await c.send([series('m', { vm: 'a' }, points)]);
    expect(result).toMatchObject({ outcome: 'sent', samples: 3, attempts: 3, status: 200 });
    expect(server.requests).toHaveLength(3);
    expect(server.requests[1]!.body.equals(server.requests[0]!.body)).toBe(true);
    expect(server.requests[2]!.body.equals(server.requests[0]!.body)).toBe(true);
    expect(c.stats).toMatchObject({ requests: 3, samplesSent: 3, samplesRetried: 6, samplesFailed: 0, samplesDropped: 0 });
    expect(c.stats.lastSuccessMs).not.toBeNull();
    expect(c.stats.lastLatencyMs).not.toBeNull();
  });

  it('waits at least Retry-After (seconds) after a 429', async () => {
    const server = await fault([{ status: 429, headers: { 'Retry-After': '1' } }, { status: 200 }]);
    const c = client({ url: server.url });
    const result = await c.send([series('m', {}, points)]);
    expect(result).toMatchObject({ outcome: 'sent', attempts: 2 });
    expect(server.requests[1]!.arrivedAt - server.requests[0]!.arrivedAt).toBeGreaterThanOrEqual(1000);
    expect(c.stats.samplesRetried).toBe(3);
  });

  it('waits until a Retry-After HTTP-date after a 429', async () => {
    let retryAt = 0;
    const server = await fault((i): FaultReply => {
      if (i > 0) return { status: 200 };
      retryAt = Math.ceil((Date.now() + 1500) / 1000) * 1000; // HTTP-dates have whole seconds
      return { status: 429, headers: { 'Retry-After': new Date(retryAt).toUTCString() } };
    });
    const c = client({ url: server.url });
    await c.send([series('m', {}, points)]);
    expect(server.requests).toHaveLength(2);
    expect(server.requests[1]!.arrivedAt).toBeGreaterThanOrEqual(retryAt);
  });

  it('drops on 400 without retrying, counts it, and logs the body (first 512 characters)', async () => {
    const body = `out of bounds ${'x'.repeat(498)}TAIL-NOT-LOGGED`;
    const server = await fault({ status: 400, body });
    const log = logs();
    const c = client({ url: server.url, logger: log.logger });
    const result = await c.send([series('m', {}, points)]);
    expect(result).toMatchObject({ outcome: 'dropped', samples: 3, attempts: 1, status: 400 });
    expect(result.message).toContain('out of bounds');
    expect(server.requests).toHaveLength(1);
    expect(c.stats).toMatchObject({ samplesDropped: 3, samplesSent: 0, samplesRetried: 0, samplesFailed: 0 });
    const errors = log.lines.filter((l) => l.startsWith('error: '));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain(body.slice(0, 512));
    expect(errors[0]).not.toContain('TAIL-NOT-LOGGED');
  });

  it('times out a receiver that never answers, retries, then fails with RemoteWriteError', async () => {
    const server = await fault({ hang: true });
    const c = client({ url: server.url, timeoutMs: 300, maxRetries: 1, logger: () => {} });
    const err = await c.send([series('m', {}, points)]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RemoteWriteError);
    const e = err as RemoteWriteError;
    expect(e.name).toBe('RemoteWriteError');
    expect(e.attempts).toBe(2);
    expect(e.message).toContain(server.url);
    expect(e.message).toContain('2 attempts');
    expect(e.message).toMatch(/300 ms/);
    expect(server.requests).toHaveLength(2);
    expect(c.stats).toMatchObject({ requests: 2, samplesFailed: 3, samplesRetried: 3, samplesSent: 0 });
  });

  it('retries a refused connection, then fails naming the URL, the error and the attempts', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/api/v1/write`;
    const c = client({ url, maxRetries: 2, logger: () => {} });
    const err = (await c.send([series('m', {}, points)]).catch((e: unknown) => e)) as RemoteWriteError;
    expect(err).toBeInstanceOf(RemoteWriteError);
    expect(err.attempts).toBe(3);
    expect(err.status).toBe(0);
    expect(err.message).toContain(url);
    expect(err.message).toContain('ECONNREFUSED');
    expect(err.message).toContain('3 attempts');
    expect(c.stats).toMatchObject({ requests: 3, samplesRetried: 6, samplesFailed: 3 });
  });

  it('names the last HTTP status when 5xx outlasts the retries', async () => {
    const server = await fault({ status: 502, body: 'bad gateway' });
    const c = client({ url: server.url, maxRetries: 0, logger: () => {} });
    const err = (await c.send([series('m', {}, points)]).catch((e: unknown) => e)) as RemoteWriteError;
    expect(err).toBeInstanceOf(RemoteWriteError);
    expect(err.status).toBe(502);
    expect(err.message).toContain('HTTP 502');
    expect(err.message).toContain('1 attempt');
    expect(server.requests).toHaveLength(1);
  });

  it('keeps at most maxInFlight requests open and queues the rest', async () => {
    const server = await fault({ status: 200, delayMs: 150 });
    const c = client({ url: server.url, maxInFlight: 2 });
    const results = await Promise.all([1, 2, 3, 4, 5].map((v) => c.send([series('m', {}, [[1_700_000_000_000, v]])])));
    expect(results.every((r) => r.outcome === 'sent')).toBe(true);
    expect(server.requests).toHaveLength(5);
    expect(server.maxConcurrent).toBe(2);
    expect(c.stats.samplesSent).toBe(5);
  });

  it('with maxInFlight 1, sends go out in call order', async () => {
    const server = await fault({ status: 200 });
    const c = client({ url: server.url });
    await Promise.all([10, 20, 30].map((v) => c.send([series('m', {}, [[1_700_000_000_000 + v, v]])])));
    expect(server.requests.map((r) => decodeBody(r.body)[0]!.samples[0]!.value)).toEqual([10, 20, 30]);
  });

  it('close() ends a send that is waiting to retry, and later sends fail', async () => {
    const server = await fault({ status: 500 });
    const c = client({ url: server.url, minBackoffMs: 60_000, maxBackoffMs: 60_000, logger: () => {} });
    const pending = c.send([series('m', {}, points)]).catch((e: unknown) => e);
    while (server.requests.length === 0) await new Promise((r) => setTimeout(r, 10));
    c.close();
    const err = await pending;
    expect(err).toBeInstanceOf(RemoteWriteError);
    expect(c.stats.samplesFailed).toBe(3);
    await expect(c.send([series('m', {}, points)])).rejects.toBeInstanceOf(RemoteWriteError);
    expect(server.requests).toHaveLength(1);
  });

  it('sends nothing when no series has samples', async () => {
    const server = await fault({ status: 200 });
    const c = client({ url: server.url });
    expect(await c.send([series('m', {}, [])])).toMatchObject({ outcome: 'sent', samples: 0, attempts: 0 });
    expect(server.requests).toHaveLength(0);
  });
});

// ---- the push's own figures, as series of the store ----

describe('store.pushTo own figures', () => {
  const SCHEMA = [{ name: 'p', match: {}, maxSeries: 32, tiers: [{ interval: '1s', retention: '1h' }] }];
  const BATCH = 4;
  const quiet = () => {};

  /** A store holding 2 series × 5 points of 1 s data, two minutes back: 10 samples. */
  function filledStore(): { store: Store; samples: number; until: number } {
    const store = Store.open(tempDir(), { schemas: SCHEMA });
    cleanups.push(() => store.close());
    const t0 = alignedPast(120_000, 1000);
    const hs = [store.register('vm_load', { vm: 'a' }), store.register('vm_exits_total', { vm: 'a' }, { kind: 'counter' })];
    for (let i = 0; i < 5; i++) hs.forEach((h, j) => store.record(h, i * 10 + j, t0 + i * 1000));
    // Only the data: the figures a push records land in the current second, after `until`.
    return { store, samples: 10, until: t0 + 5000 };
  }

  function last(store: Store, name: string, exporter: string): number | undefined {
    const h = store.find(name, { exporter });
    return h === undefined ? undefined : store.lastPoint(h)?.[1];
  }

  function figures(store: Store, exporter: string): Record<string, number | undefined> {
    return Object.fromEntries(
      ['sent', 'failed', 'retried', 'dropped'].map((f) => [f, last(store, `rondo_remote_write_samples_${f}_total`, exporter)]),
    );
  }

  it('records sent, retried and dropped samples, latency and last success per exporter, equal to the summaries', async () => {
    const { store, samples, until } = filledStore();
    // The first batch is refused twice with 500, then everything is accepted.
    const flaky = await fault([{ status: 500 }, { status: 500 }, { status: 200 }]);
    const refusing = await fault({ status: 400, body: 'out of bounds' });
    const opts = { maxSamplesPerSend: BATCH, minBackoffMs: 1, maxBackoffMs: 5, logger: quiet, until };

    const before = Date.now();
    const ok = await pushTo(store, flaky.url, { ...opts, exporter: 'flaky' });
    const after = Date.now();
    const batches = Math.ceil(samples / BATCH);
    expect(ok).toMatchObject({ exporter: 'flaky', samples, batches, retries: 2 * BATCH, dropped: 0 });
    expect(flaky.requests).toHaveLength(2 + batches);

    const refused = await pushTo(store, refusing.url, { ...opts, exporter: 'refused' });
    expect(refused).toMatchObject({ exporter: 'refused', samples: 0, batches, retries: 0, dropped: samples });
    expect(refusing.requests).toHaveLength(batches); // 400 is not retried

    expect(figures(store, 'flaky')).toEqual({ sent: ok.samples, failed: 0, retried: ok.retries, dropped: 0 });
    expect(figures(store, 'refused')).toEqual({ sent: 0, failed: 0, retried: 0, dropped: refused.dropped });
    expect(store.find('rondo_remote_write_samples_sent_total', { exporter: 'flaky' })!.kind).toBe('counter');

    const latency = store.find('rondo_remote_write_push_latency_seconds', { exporter: 'flaky' })!;
    expect(latency.kind).toBe('gauge');
    expect(Number.isFinite(store.lastPoint(latency)![1])).toBe(true);
    expect(store.lastPoint(latency)![1]).toBeGreaterThanOrEqual(0);
    const success = store.lastPoint(store.find('rondo_remote_write_last_success_timestamp_seconds', { exporter: 'flaky' })!)![1];
    expect(success).toBeGreaterThanOrEqual(flaky.requests.at(-1)!.arrivedAt / 1000);
    expect(success).toBeGreaterThanOrEqual(before / 1000);
    expect(success).toBeLessThanOrEqual(after / 1000);
    // A push with no accepted request has no latency nor last success to tell.
    expect(store.find('rondo_remote_write_push_latency_seconds', { exporter: 'refused' })).toBeUndefined();
    expect(store.find('rondo_remote_write_last_success_timestamp_seconds', { exporter: 'refused' })).toBeUndefined();

    // The figures are ordinary series: a selector finds them too.
    const sel = store.select('rondo_remote_write_samples_dropped_total{exporter="refused"}', { start: before - 1000, end: Date.now() + 1000 });
    expect(sel).toHaveLength(1);
    expect(Array.from(sel[0]!.values).filter((v) => !Number.isNaN(v))).toEqual([samples]);
  }, 20_000);

  it('adds each push to running totals: failed pushes count failed and retried samples, a later push adds its sent ones', async () => {
    const { store, samples, until } = filledStore();
    const down = await fault({ status: 503 });
    const up = await fault({ status: 204 });
    const opts = { exporter: 'totals', maxSamplesPerSend: BATCH, maxRetries: 1, minBackoffMs: 1, maxBackoffMs: 5, logger: quiet, until };

    // Each failing push tries its first batch twice, then rejects; the cursor stays.
    for (let i = 0; i < 2; i++) await expect(pushTo(store, down.url, opts)).rejects.toBeInstanceOf(RemoteWriteError);
    expect(down.requests).toHaveLength(4);
    expect(figures(store, 'totals')).toEqual({ sent: 0, failed: 2 * BATCH, retried: 2 * BATCH, dropped: 0 });
    expect(store.find('rondo_remote_write_last_success_timestamp_seconds', { exporter: 'totals' })).toBeUndefined();

    const before = Date.now();
    const s = await pushTo(store, up.url, opts);
    expect(s).toMatchObject({ samples, retries: 0, dropped: 0 });
    expect(figures(store, 'totals')).toEqual({ sent: samples, failed: 2 * BATCH, retried: 2 * BATCH, dropped: 0 });
    const success = store.lastPoint(store.find('rondo_remote_write_last_success_timestamp_seconds', { exporter: 'totals' })!)![1];
    expect(success).toBeGreaterThanOrEqual(before / 1000);
    expect(success).toBeLessThanOrEqual(Date.now() / 1000);
  }, 20_000);
});

// ---- credentials ----

describe('remote-write credentials', () => {
  const TOKEN = 'bearer-SECRET-9f8e7d';
  const PASSWORD = 'basic-SECRET-1a2b3c';

  it('never appear in errors, logs, String(), JSON or inspect()', async () => {
    // A receiver that echoes the Authorization header back in its error bodies.
    const echo = (status: number) => (_i: number, r: { headers: Record<string, unknown> }): FaultReply => ({
      status,
      body: `denied for ${String(r.headers['authorization'])}`,
    });
    const s500 = await fault(echo(500));
    const s400 = await fault(echo(400));
    const log = logs();
    const basicB64 = Buffer.from(`agent:${PASSWORD}`).toString('base64');
    const clients = [
      client({ url: s500.url, bearerToken: TOKEN, maxRetries: 1, logger: log.logger }),
      client({ url: s500.url, basicAuth: { username: 'agent', password: PASSWORD }, maxRetries: 1, logger: log.logger }),
      client({ url: s400.url, bearerToken: TOKEN, logger: log.logger }),
      client({ url: s400.url, basicAuth: { username: 'agent', password: PASSWORD }, logger: log.logger }),
    ];
    const texts: string[] = [];
    for (const c of clients) {
      const outcome = await c.send([series('m', {}, [[1_700_000_000_000, 1]])]).then(
        (r) => JSON.stringify(r),
        (e: unknown) => {
          expect(e).toBeInstanceOf(RemoteWriteError);
          const err = e as RemoteWriteError;
          return `${err.message} ${String(err.cause)} ${JSON.stringify(err)} ${inspect(err)}`;
        },
      );
      texts.push(outcome, String(c), JSON.stringify(c), inspect(c), JSON.stringify(c.options));
    }
    // The receivers did see the credentials, so the echo really carried them.
    expect(s500.requests[0]!.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(log.lines.length).toBeGreaterThan(0);
    const all = [...texts, ...log.lines].join('\n');
    expect(all).toContain(s500.url);
    expect(all).not.toContain(TOKEN);
    expect(all).not.toContain(PASSWORD);
    expect(all).not.toContain(basicB64);
  });

  it('never appear in the ConfigError of bad options', () => {
    const bad: RemoteWriteOptions[] = [
      { url: `http://user:${PASSWORD}@127.0.0.1:1/api/v1/write` },
      { url: 'http://127.0.0.1:1/api/v1/write', bearerToken: TOKEN, basicAuth: { username: 'u', password: PASSWORD } },
      { url: 'http://127.0.0.1:1/api/v1/write', bearerToken: TOKEN, headers: { Authorization: `Bearer ${TOKEN}` } },
    ];
    for (const options of bad) {
      let thrown: unknown;
      try {
        new RemoteWriteClient(options);
      } catch (e) {
        thrown = e;
      }
      expect(thrown).toBeInstanceOf(ConfigError);
      expect(String((thrown as Error).message)).not.toContain(TOKEN);
      expect(String((thrown as Error).message)).not.toContain(PASSWORD);
    }
  });
});

describe('remote-write options', () => {
  const url = 'http://127.0.0.1:9/api/v1/write';
  it.each<[string, RemoteWriteOptions]>([
    ['a URL that does not parse', { url: 'not a url' }],
    ['a non-http scheme', { url: 'ftp://127.0.0.1/api/v1/write' }],
    ['zero timeout', { url, timeoutMs: 0 }],
    ['negative maxInFlight', { url, maxInFlight: -1 }],
    ['fractional maxSamplesPerSend', { url, maxSamplesPerSend: 1.5 }],
    ['negative maxRetries', { url, maxRetries: -1 }],
    ['maxBackoffMs below minBackoffMs', { url, minBackoffMs: 100, maxBackoffMs: 10 }],
    ['bearer and basic auth together', { url, bearerToken: 't', basicAuth: { username: 'u', password: 'p' } }],
    ['an unreadable token file', { url, bearerTokenFile: '/nonexistent/rondo/token' }],
    ['an unreadable password file', { url, basicAuth: { username: 'u', passwordFile: '/nonexistent/rondo/pw' } }],
    ['a header overriding Content-Encoding', { url, headers: { 'content-encoding': 'gzip' } }],
    ['a header overriding Content-Type', { url, headers: { 'Content-Type': 'text/plain' } }],
    ['a header overriding the protocol version', { url, headers: { 'X-Prometheus-Remote-Write-Version': '2.0.0' } }],
    ['a header overriding User-Agent', { url, headers: { 'User-Agent': 'x' } }],
    ['a header overriding configured Authorization', { url, bearerToken: 't', headers: { authorization: 'Basic x' } }],
    ['an external label starting with __', { url, externalLabels: { __replica__: 'a' } }],
    ['an invalid external label name', { url, externalLabels: { 'bad-name': 'a' } }],
  ])('refuse %s with ConfigError', (_what, options) => {
    expect(() => new RemoteWriteClient(options)).toThrow(ConfigError);
  });

  it('exposes maxSamplesPerSend, 2000 by default', () => {
    const a = new RemoteWriteClient({ url });
    const b = new RemoteWriteClient({ url, maxSamplesPerSend: 500 });
    expect(a.maxSamplesPerSend).toBe(2000);
    expect(b.maxSamplesPerSend).toBe(500);
    a.close();
    b.close();
  });
});

// ---- real receivers ----

function recentPoints(count: number, offset: number): Array<[number, number]> {
  // Odd milliseconds, so a receiver that rounded to seconds would be caught.
  const base = Math.floor(Date.now() / 1000) * 1000 - 120_000 + 17;
  return Array.from({ length: count }, (_, i) => [base + i * 15_000 + offset, [0.5, 42, -3.25, 0.001, 1e6][i % 5]! + offset]);
}

describe('against a real Prometheus', () => {
  let prom: PrometheusReceiver;
  beforeAll(async () => {
    ensureReceiversInstalled();
    prom = await startPrometheus();
  }, 90_000);
  afterAll(async () => {
    await prom?.stop();
  }, 30_000);

  it('stores what was sent: values, labels and exact ms timestamps', async () => {
    const c = client({ url: prom.url, externalLabels: { agent: 'rondo-test' } });
    const a = recentPoints(5, 0);
    const b = recentPoints(4, 3);
    const result = await c.send([
      series('rondo_rw_prom_total', { vm: 'a', reason: 'io' }, a, undefined, 1),
      series('rondo_rw_prom_total', { vm: 'b', reason: 'hlt' }, b, undefined, 2),
    ]);
    expect(result.outcome).toBe('sent');

    const q = encodeURIComponent('rondo_rw_prom_total[10m]');
    const res = await getJson<{
      status: string;
      data: { resultType: string; result: Array<{ metric: Record<string, string>; values: Array<[number, string]> }> };
    }>(`${prom.api}/api/v1/query?query=${q}&time=${(Date.now() / 1000).toFixed(3)}`);
    expect(res.status).toBe('success');
    expect(res.data.resultType).toBe('matrix');
    const byVm = new Map(res.data.result.map((r) => [r.metric.vm, r]));
    expect(byVm.size).toBe(2);
    for (const [vm, labels, points] of [
      ['a', { reason: 'io' }, a],
      ['b', { reason: 'hlt' }, b],
    ] as const) {
      const r = byVm.get(vm)!;
      expect(r.metric).toEqual({ __name__: 'rondo_rw_prom_total', vm, agent: 'rondo-test', ...labels });
      expect(r.values.map(([t, v]) => [Math.round(t * 1000), Number(v)])).toEqual(points);
    }
  });

  it('honours stale markers: an ended series disappears from instant queries at once', async () => {
    const c = client({ url: prom.url });
    const now = Date.now();
    await c.send([
      series('rondo_rw_prom_up', { vm: 'ended' }, [[now - 20_000, 1], [now - 10_000, 1], [now - 5_000, NaN]], [2], 1),
      series('rondo_rw_prom_up', { vm: 'running' }, [[now - 20_000, 1], [now - 10_000, 1]], undefined, 2),
    ]);
    const q = encodeURIComponent('rondo_rw_prom_up');
    const res = await getJson<{ data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } }>(
      `${prom.api}/api/v1/query?query=${q}&time=${(Date.now() / 1000).toFixed(3)}`,
    );
    // Without the exact stale bits, the ended VM would still show, with value NaN.
    expect(res.data.result.map((r) => [r.metric.vm, r.value[1]])).toEqual([['running', '1']]);
  });

  it('refuses samples older than an hour before its newest: dropped and counted, not retried', async () => {
    const log = logs();
    const c = client({ url: prom.url, logger: log.logger });
    const now = Date.now();
    expect((await c.send([series('rondo_rw_prom_old', {}, [[now - 1000, 1]])])).outcome).toBe('sent');
    const result = await c.send([series('rondo_rw_prom_old', { vm: 'late' }, [[now - 3 * 3600_000, 1]])]);
    expect(result).toMatchObject({ outcome: 'dropped', status: 400, attempts: 1 });
    expect(c.stats.samplesDropped).toBe(1);
    expect(log.lines.some((l) => l.startsWith('error: ') && /out of bounds/i.test(l))).toBe(true);
  });
});

describe('against a real Prometheus with an out-of-order window', () => {
  let prom: PrometheusReceiver;
  beforeAll(async () => {
    prom = await startPrometheus({ outOfOrderWindow: '4h' });
  }, 90_000);
  afterAll(async () => {
    await prom?.stop();
  }, 30_000);

  it('accepts a batch older than its newest sample', async () => {
    const c = client({ url: prom.url });
    const now = Math.floor(Date.now() / 1000) * 1000;
    expect((await c.send([series('rondo_rw_ooo', { vm: 'new' }, [[now - 1000, 1]])])).outcome).toBe('sent');
    const old = now - 2 * 3600_000;
    expect((await c.send([series('rondo_rw_ooo', { vm: 'old' }, [[old, 7]])])).outcome).toBe('sent');
    const q = encodeURIComponent('rondo_rw_ooo{vm="old"}[10m]');
    const res = await getJson<{ data: { result: Array<{ values: Array<[number, string]> }> } }>(
      `${prom.api}/api/v1/query?query=${q}&time=${(old + 60_000) / 1000}`,
    );
    expect(res.data.result[0]?.values).toEqual([[old / 1000, '7']]);
  });
});

describe('against a real VictoriaMetrics', () => {
  let vm: VictoriaMetricsReceiver;
  beforeAll(async () => {
    ensureReceiversInstalled();
    vm = await startVictoriaMetrics();
  }, 90_000);
  afterAll(async () => {
    await vm?.stop();
  }, 30_000);

  it('stores what was sent: values, labels and exact ms timestamps', async () => {
    const c = client({ url: vm.url, externalLabels: { agent: 'rondo-test' } });
    const a = recentPoints(5, 0);
    const b = recentPoints(4, 3);
    const result = await c.send([
      series('rondo_rw_vm_total', { vm: 'a', reason: 'io' }, a, undefined, 1),
      series('rondo_rw_vm_total', { vm: 'b', reason: 'hlt' }, b, undefined, 2),
    ]);
    expect(result.outcome).toBe('sent');
    await vm.flush();

    const match = encodeURIComponent('{__name__="rondo_rw_vm_total"}');
    type Line = { metric: Record<string, string>; values: number[]; timestamps: number[] };
    let lines: Line[] = [];
    // Ingested rows become searchable shortly after the flush; poll (no timing assertion).
    for (let tries = 0; tries < 100; tries++) {
      const text = await getText(`${vm.api}/api/v1/export?match[]=${match}`);
      lines = text.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Line);
      if (lines.length === 2 && lines.every((l) => l.values.length > 0)) break;
      await new Promise((r) => setTimeout(r, 100));
      await vm.flush();
    }
    const byVm = new Map(lines.map((l) => [l.metric.vm, l]));
    expect(byVm.size).toBe(2);
    for (const [name, labels, points] of [
      ['a', { reason: 'io' }, a],
      ['b', { reason: 'hlt' }, b],
    ] as const) {
      const l = byVm.get(name)!;
      expect(l.metric).toEqual({ __name__: 'rondo_rw_vm_total', vm: name, agent: 'rondo-test', ...labels });
      expect(l.timestamps.map((t, i) => [t, l.values[i]])).toEqual(points);
    }
  });
});
