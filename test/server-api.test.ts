// rondo serve in-process (src/server): Prometheus's HTTP API shapes and errors, the bearer token,
// remote-write receive through the one ingest path (limits, late and stale samples, read-only),
// remote read, /metrics and the figures recorded into the store, the hand-rolled WriteRequest
// decoder against protobufjs, snappy, and a corpus of malformed bodies plus a seeded fuzz loop.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadRemoteWriteProto, Store, type SchemaOptions } from '../src/index';
import { serve, decodeWriteRequest, decompressSnappy, parseTimeMs, parseDurationMs, REMOTE_READ_PROTO_PATH, type RondoServer } from '../src/server';
import { formatFloat } from '../src/promql';
import { ingest, kindFor } from '../src/ingest';
import { tempDir, suiteTempDir } from './helpers';
import { suiteSeed, xorshift32 } from './fixtures/random';
import { encodeWrite, postWrite, request, snappyCompress, snappyUncompress, type WireSeries } from './support/server-wire';
import * as fs from 'node:fs';
import * as path from 'node:path';

const SCHEMA: SchemaOptions = {
  name: 's',
  match: {},
  maxSeries: 40,
  tiers: [
    { interval: '1s', retention: '10m' },
    { interval: '10s', retention: '1h', consolidate: 'avg' },
  ],
};


function json(a: { text: string }): any {
  return JSON.parse(a.text);
}

describe('the Prometheus HTTP API', () => {
  let store: Store;
  let server: RondoServer;
  let base: string;
  const now = Math.floor(Date.now() / 1000) * 1000;

  beforeAll(async () => {
    store = Store.open(suiteTempDir('rondo-serve-api-'), { schemas: [SCHEMA] });
    const c = store.register('vcpu_exits_total', { reason: 'io', vcpu: '0' }, { kind: 'counter' });
    const m = store.register('vcpu_exits_total', { reason: 'mmio', vcpu: '0' }, { kind: 'counter' });
    const g = store.register('mem_bytes', { vm: 'a"b' });
    for (let i = 120; i >= 1; i--) {
      store.record(c, 1000 - i * 3, now - i * 1000);
      store.record(m, 500 - i, now - i * 1000);
      store.record(g, i * 1.5, now - i * 1000);
    }
    server = await serve(store, { listen: '127.0.0.1:0', recordOwnMetrics: false });
    base = server.url;
  });
  afterAll(async () => {
    await server.close();
    store.close();
  });

  it('series: match[] required, label sets with __name__, several match[] united, start/end filter', async () => {
    expect(json(await request(`${base}/api/v1/series?match[]=vcpu_exits_total{reason="io"}`))).toEqual({
      status: 'success',
      data: [{ __name__: 'vcpu_exits_total', reason: 'io', vcpu: '0' }],
    });
    const both = json(await request(`${base}/api/v1/series?match[]=mem_bytes&match[]={reason="mmio"}`));
    expect(both.data).toHaveLength(2);
    const missing = await request(`${base}/api/v1/series`);
    expect(missing.status).toBe(400);
    expect(json(missing)).toEqual({ status: 'error', errorType: 'bad_data', error: 'no match[] parameter provided' });
    const bad = await request(`${base}/api/v1/series?match[]=${encodeURIComponent('x{')}`);
    expect(bad.status).toBe(400);
    expect(json(bad).errorType).toBe('bad_data');
    // A window with no data: nothing; one with data: the series.
    const old = json(await request(`${base}/api/v1/series?match[]=mem_bytes&start=1000000000&end=1000000100`));
    expect(old.data).toEqual([]);
    const recent = json(await request(`${base}/api/v1/series?match[]=mem_bytes&start=${(now - 60_000) / 1000}&end=${now / 1000}`));
    expect(recent.data).toEqual([{ __name__: 'mem_bytes', vm: 'a"b' }]);
  });

  it('labels and label values, sorted, with optional match[]; an invalid label name is bad_data', async () => {
    expect(json(await request(`${base}/api/v1/labels`)).data).toEqual(['__name__', 'reason', 'vcpu', 'vm']);
    expect(json(await request(`${base}/api/v1/labels?match[]=mem_bytes`)).data).toEqual(['__name__', 'vm']);
    expect(json(await request(`${base}/api/v1/label/__name__/values`)).data).toEqual(['mem_bytes', 'vcpu_exits_total']);
    expect(json(await request(`${base}/api/v1/label/reason/values`)).data).toEqual(['io', 'mmio']);
    expect(json(await request(`${base}/api/v1/label/vm/values`)).data).toEqual(['a"b']);
    const bad = await request(`${base}/api/v1/label/1x/values`);
    expect(bad.status).toBe(400);
    expect(json(bad).error).toBe('invalid label name: "1x"');
  });

  it('POST form-encoded parameters work as GET ones; a non-form body is bad_data', async () => {
    const a = await request(`${base}/api/v1/series`, {
      method: 'POST',
      body: `match[]=${encodeURIComponent('mem_bytes')}`,
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    });
    expect(json(a).data).toEqual([{ __name__: 'mem_bytes', vm: 'a"b' }]);
    const b = await request(`${base}/api/v1/series`, { method: 'POST', body: '{"match":"x"}', headers: { 'Content-Type': 'application/json' } });
    expect(b.status).toBe(400);
    expect(json(b).error).toMatch(/form-encoded/);
  });

  it('metadata, buildinfo and runtimeinfo have Prometheus keys', async () => {
    expect(json(await request(`${base}/api/v1/metadata`)).data).toEqual({
      vcpu_exits_total: [{ type: 'counter', help: '', unit: '' }],
      mem_bytes: [{ type: 'gauge', help: '', unit: '' }],
    });
    expect(json(await request(`${base}/api/v1/metadata?metric=mem_bytes`)).data).toEqual({ mem_bytes: [{ type: 'gauge', help: '', unit: '' }] });
    const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version: string };
    const bi = json(await request(`${base}/api/v1/status/buildinfo`)).data;
    expect(Object.keys(bi).sort()).toEqual(['branch', 'buildDate', 'buildUser', 'goVersion', 'revision', 'version']);
    expect(bi.version).toBe(pkg.version);
    const ri = json(await request(`${base}/api/v1/status/runtimeinfo`)).data;
    for (const k of ['startTime', 'CWD', 'reloadConfigSuccess', 'lastConfigTime', 'corruptionCount', 'goroutineCount', 'GOMAXPROCS', 'GOGC', 'GODEBUG', 'storageRetention'])
      expect(ri).toHaveProperty(k);
    expect(ri.goroutineCount).toBe(0);
    expect(ri.GOMAXPROCS).toBeGreaterThan(0);
  });

  it('errors in Prometheus shape: 404 unknown path, 405 wrong method, bad times and steps, the 11,000-point limit', async () => {
    const nf = await request(`${base}/api/v1/nothing`);
    expect(nf.status).toBe(404);
    expect(json(nf).status).toBe('error');
    const m = await request(`${base}/api/v1/query`, { method: 'DELETE' });
    expect(m.status).toBe(405);
    expect(m.headers.allow).toBe('GET, POST');
    const fq = await request(`${base}/api/v1/format_query?query=up`);
    expect(fq.status).toBe(400);
    expect(json(fq)).toMatchObject({ status: 'error', errorType: 'bad_data', error: expect.stringMatching(/no PromQL formatter/) });
    const t = await request(`${base}/api/v1/query?query=up&time=yesterday`);
    expect(t.status).toBe(400);
    expect(json(t)).toEqual({ status: 'error', errorType: 'bad_data', error: 'invalid parameter "time": cannot parse "yesterday" to a valid timestamp' });
    const limit = await request(`${base}/api/v1/query_range?query=up&start=0&end=11001&step=1`);
    expect(limit.status).toBe(400);
    expect(json(limit).error).toBe('exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)');
    const step = await request(`${base}/api/v1/query_range?query=up&start=0&end=10&step=0`);
    expect(json(step).error).toBe('zero or negative query resolution step widths are not accepted. Try a positive integer');
    const order = await request(`${base}/api/v1/query_range?query=up&start=10&end=0&step=1`);
    expect(json(order).error).toBe('end timestamp must not be before start time');
    const dur = await request(`${base}/api/v1/query_range?query=up&start=0&end=10&step=1x`);
    expect(json(dur).error).toBe('invalid parameter "step": cannot parse "1x" to a valid duration');
  });

  it('query and query_range answer through the PromQL engine (src/promql)', async () => {
    const inst = json(await request(`${base}/api/v1/query?query=mem_bytes&time=${(now - 1000) / 1000}`));
    expect(inst.error).toBeUndefined();
    expect(inst.data.resultType).toBe('vector');
    expect(inst.data.result).toEqual([{ metric: { __name__: 'mem_bytes', vm: 'a"b' }, value: [(now - 1000) / 1000, '1.5'] }]);
    expect(inst.data).toHaveProperty('rondo');
    const range = json(
      await request(`${base}/api/v1/query_range`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: `query=mem_bytes&start=${(now - 10_000) / 1000}&end=${(now - 1000) / 1000}&step=1s`,
      }),
    );
    expect(range.data.resultType).toBe('matrix');
    expect(range.data.result[0].values).toHaveLength(10);
    expect(range.data.result[0].values[9]).toEqual([(now - 1000) / 1000, '1.5']);
    const bad = await request(`${base}/api/v1/query?query=${encodeURIComponent('sum(')}`);
    expect(bad.status).toBe(400);
    expect(json(bad).errorType).toBe('bad_data');
  });

  it('/metrics counts requests by handler and code', async () => {
    const t = (await request(`${base}/metrics`)).text;
    expect(t).toMatch(/rondo_http_requests_total\{handler="\/api\/v1\/series",code="400"\} \d+/);
    expect(t).toMatch(/rondo_http_requests_total\{handler="other",code="404"\} \d+/);
    expect(t).toMatch(/rondo_http_request_duration_seconds_count\{handler="\/api\/v1\/labels"\} \d+/);
  });
});

describe('security', () => {
  it('with a token every request needs it (401 in Prometheus shape otherwise); a non-loopback address needs a token', async () => {
    const store = Store.open(tempDir(), { schemas: [SCHEMA] });
    const server = await serve(store, { listen: '127.0.0.1:0', authToken: 's3cret' });
    try {
      const none = await request(`${server.url}/api/v1/labels`);
      expect(none.status).toBe(401);
      expect(json(none)).toMatchObject({ status: 'error', errorType: 'unauthorized' });
      expect((await request(`${server.url}/metrics`, { headers: { Authorization: 'Bearer wrong' } })).status).toBe(401);
      expect((await request(`${server.url}/api/v1/labels`, { headers: { Authorization: 'Bearer s3cret' } })).status).toBe(200);
    } finally {
      await server.close();
      store.close();
    }
    const s2 = Store.open(tempDir(), { schemas: [SCHEMA] });
    try {
      await expect(serve(s2, { listen: '0.0.0.0:0' })).rejects.toThrow(/--auth-token-file.*--insecure-listen/);
    } finally {
      s2.close();
    }
  });
});

describe('remote-write receive', () => {
  const t0 = Math.floor(Date.now() / 1000) * 1000 - 30_000;

  it('stores every sample through the ingest path: kinds from metadata or the name, stale markers and NaN skipped and counted', async () => {
    const store = Store.open(tempDir(), { schemas: [SCHEMA] });
    const server = await serve(store, { listen: '127.0.0.1:0' });
    try {
      const series: WireSeries[] = [
        { labels: { __name__: 'reqs_total', job: 'a' }, samples: [0, 1, 2].map((i) => ({ value: 10 + i, ts: t0 + i * 1000 })) },
        { labels: { __name__: 'temp', job: 'a' }, samples: [{ value: 21.5, ts: t0 }, { value: 'stale', ts: t0 + 1000 }] },
        { labels: { __name__: 'odd', job: 'a' }, samples: [{ value: 1, ts: t0 }, { value: NaN, ts: t0 + 1000 }] },
      ];
      const r = await postWrite(server.url, encodeWrite(series, { odd: 'counter' }));
      expect(r.status).toBe(204);
      const got = Object.fromEntries(
        store.select('{job="a"}', { start: t0, end: t0 + 2000, tier: 0 }).map((s) => [s.name, { kind: s.kind, values: [...s.values] }]),
      );
      expect(got).toEqual({
        reqs_total: { kind: 'counter', values: [10, 11, 12] },
        temp: { kind: 'gauge', values: [21.5, NaN, NaN] },
        odd: { kind: 'counter', values: [1, NaN, NaN] },
      });
      expect(server.stats()).toMatchObject({ receivedSamples: 5, refusedSamples: {}, skippedSamples: { stale_marker: 1, non_finite: 1 } });
    } finally {
      await server.close();
      store.close();
    }
  });

  it('a series over maxSeries is refused and counted, the rest stored, the answer 400 naming it; late samples are out of order or too old', async () => {
    const store = Store.open(tempDir(), { schemas: [{ ...SCHEMA, maxSeries: 3 }] });
    const server = await serve(store, { listen: '127.0.0.1:0', recordOwnMetrics: false });
    try {
      const series: WireSeries[] = [0, 1, 2, 3, 4].map((i) => ({ labels: { __name__: 'g', i: String(i) }, samples: [{ value: i, ts: t0 }] }));
      const r = await postWrite(server.url, encodeWrite(series));
      expect(r.status).toBe(400);
      expect(json(r).error).toMatch(/^2 of 5 samples refused \(2 series_limit\); 3 stored\. series limit reached: schema "s" is full \(maxSeries 3\)/);
      expect(store.series()).toHaveLength(3);
      // Newer, then a sample the 10-minute ring has moved past: too old.
      const late = await postWrite(
        server.url,
        encodeWrite([{ labels: { __name__: 'g', i: '0' }, samples: [{ value: 7, ts: t0 + 5000 }, { value: 8, ts: t0 - 3_600_000 }] }]),
      );
      expect(late.status).toBe(400);
      expect(json(late).error).toMatch(/1 of 2 samples refused \(1 too_old\); 1 stored\. too old sample: /);
      expect(server.stats().refusedSamples).toEqual({ series_limit: 2, too_old: 1 });
      expect(store.select('g{i="0"}', { start: t0 + 5000, end: t0 + 5000, tier: 0 })[0]!.values[0]).toBe(7);
    } finally {
      await server.close();
      store.close();
    }
  });

  it('ingest(): out-of-order sample when the slot holds a newer lap; kinds from names', () => {
    const store = Store.open(tempDir(), { schemas: [{ name: 'tiny', match: {}, maxSeries: 4, tiers: [{ interval: '1s', retention: '10s' }] }] });
    try {
      const labels = {};
      const base = Math.floor(Date.now() / 1000) * 1000 - 5000;
      const r = ingest(store, [
        { name: 'x', labels, value: 1, timestampMs: base + 4000, source: 't' },
        { name: 'x', labels, value: 2, timestampMs: base - 6000, source: 't' },
      ]);
      expect(r.stored).toBe(1);
      expect(Object.keys(r.refused)).toHaveLength(1);
      expect(r.messages[0]).toMatch(/^(out of order sample|too old sample): /);
      expect(kindFor('a_total')).toBe('counter');
      expect(kindFor('a_bucket')).toBe('counter');
      expect(kindFor('a')).toBe('gauge');
    } finally {
      store.close();
    }
  });

  it('a read-only store answers 405 and records nothing', async () => {
    const dir = tempDir();
    Store.open(dir, { schemas: [SCHEMA] }).close();
    const store = Store.openReadOnly(dir);
    const server = await serve(store, { listen: '127.0.0.1:0' });
    try {
      const r = await postWrite(server.url, encodeWrite([{ labels: { __name__: 'g' }, samples: [{ value: 1, ts: t0 }] }]));
      expect(r.status).toBe(405);
      expect(json(r).error).toMatch(/read-only/);
      expect(store.series()).toHaveLength(0);
    } finally {
      await server.close();
      store.close();
    }
  });

  it('the hand-rolled decoder reads what protobufjs reads (both timed, printed)', () => {
    const series: WireSeries[] = [];
    for (let s = 0; s < 200; s++)
      series.push({ labels: { __name__: `m_${s % 7}_total`, instance: `h${s}`, job: 'node' }, samples: [0, 1, 2, 3, 4].map((i) => ({ value: s * 10 + i + 0.25, ts: t0 + i * 1000 })) });
    const raw = encodeWrite(series);
    const type = loadRemoteWriteProto().lookupType('prometheus.WriteRequest');
    const theirs = type.toObject(type.decode(raw), { longs: Number }) as { timeseries: Array<{ labels: Array<{ name: string; value: string }>; samples: Array<{ value: number; timestamp: number }> }> };
    const ours = decodeWriteRequest(raw);
    const flat = theirs.timeseries.flatMap((ts) => {
      const labels = Object.fromEntries(ts.labels.filter((l) => l.name !== '__name__').map((l) => [l.name, l.value]));
      const name = ts.labels.find((l) => l.name === '__name__')!.value;
      return ts.samples.map((p) => ({ name, labels, value: p.value, timestampMs: p.timestamp }));
    });
    expect(ours.samples.map(({ name, labels, value, timestampMs }) => ({ name, labels, value, timestampMs }))).toEqual(flat);
    const time = (f: () => void): number => {
      const t = process.hrtime.bigint();
      for (let i = 0; i < 50; i++) f();
      return Number(process.hrtime.bigint() - t) / 1e6;
    };
    time(() => decodeWriteRequest(raw));
    const mine = time(() => decodeWriteRequest(raw));
    time(() => type.decode(raw));
    const pbjs = time(() => type.decode(raw));
    console.log(`WriteRequest of 1000 samples ×50: hand-rolled ${mine.toFixed(1)} ms, protobufjs decode alone ${pbjs.toFixed(1)} ms`);
  });
});

describe('remote read', () => {
  it('answers a SAMPLES ReadResponse, snappy-framed, with the finest tier covering the range', async () => {
    const store = Store.open(tempDir(), { schemas: [SCHEMA] });
    const now = Math.floor(Date.now() / 1000) * 1000;
    const h = store.register('up', { job: 'x' });
    store.register('up', { job: 'y' });
    for (let i = 5; i >= 1; i--) store.record(h, i, now - i * 1000);
    const server = await serve(store, { listen: '127.0.0.1:0' });
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const protobuf = require('protobufjs') as typeof import('protobufjs');
      const root = protobuf.loadSync(REMOTE_READ_PROTO_PATH);
      const Req = root.lookupType('prometheus.ReadRequest');
      const Res = root.lookupType('prometheus.ReadResponse');
      const body = Req.encode(
        Req.fromObject({ queries: [{ startTimestampMs: now - 4000, endTimestampMs: now, matchers: [{ type: 0, name: '__name__', value: 'up' }, { type: 2, name: 'job', value: 'x|z' }] }] }),
      ).finish();
      const r = await request(`${server.url}/api/v1/read`, {
        body: snappyCompress(body),
        headers: { 'Content-Type': 'application/x-protobuf', 'Content-Encoding': 'snappy' },
      });
      expect(r.status).toBe(200);
      expect(r.headers['content-type']).toBe('application/x-protobuf');
      expect(r.headers['content-encoding']).toBe('snappy');
      const res = Res.toObject(Res.decode(snappyUncompress(r.body)), { longs: Number });
      expect(res).toEqual({
        results: [
          {
            timeseries: [
              {
                labels: [{ name: '__name__', value: 'up' }, { name: 'job', value: 'x' }],
                samples: [4, 3, 2, 1].map((v) => ({ value: v, timestamp: now - v * 1000 })),
              },
            ],
          },
        ],
      });
    } finally {
      await server.close();
      store.close();
    }
  });
});

describe('the figures recorded into the store', () => {
  it('rondo_http_requests_total, duration sum/count and remote-write counts are series of a writable store', async () => {
    const store = Store.open(tempDir(), { schemas: [SCHEMA] });
    const server = await serve(store, { listen: '127.0.0.1:0' });
    const t = Math.floor(Date.now() / 1000) * 1000 - 2000;
    await postWrite(server.url, encodeWrite([{ labels: { __name__: 'g' }, samples: [{ value: 1, ts: t }, { value: 'stale', ts: t + 1000 }] }]));
    await request(`${server.url}/api/v1/labels`);
    await server.close();
    const last = (sel: string) => {
      const s = store.series().find((h) => store.select(sel).some((r) => r.name === h.name && JSON.stringify(r.labels) === JSON.stringify(h.labels)));
      return s === undefined ? undefined : store.lastPoint(s)?.[1];
    };
    expect(last('rondo_http_requests_total{handler="/api/v1/write",code="204"}')).toBe(1);
    expect(last('rondo_http_requests_total{handler="/api/v1/labels",code="200"}')).toBe(1);
    expect(last('rondo_http_request_duration_seconds_count{handler="/api/v1/labels"}')).toBe(1);
    expect(last('rondo_remote_write_received_samples_total')).toBe(1);
    expect(last('rondo_remote_write_skipped_samples_total{reason="stale_marker"}')).toBe(1);
    store.close();
  });
});

describe('bad input', () => {
  const SEED = suiteSeed('RONDO_FUZZ_SEED', 1313, 'server-api bad input');

  it(`a corpus of malformed bodies and ${300} mutated requests each get 4xx; the server keeps serving; only valid samples are stored (seed ${SEED})`, async () => {
    const store = Store.open(tempDir(), { schemas: [{ ...SCHEMA, maxSeries: 2000 }] });
    const server = await serve(store, { listen: '127.0.0.1:0', maxBodyBytes: 1 << 20, recordOwnMetrics: false });
    const t = Math.floor(Date.now() / 1000) * 1000 - 20_000;
    const valid = encodeWrite([{ labels: { __name__: 'ok', k: 'v' }, samples: [{ value: 42, ts: t }] }]);
    const rand = xorshift32(SEED);
    const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(rand() * 256)));
    const hdr = { 'Content-Type': 'application/x-protobuf', 'Content-Encoding': 'snappy' };
    const post = (p: string, body: Buffer, headers: Record<string, string> = hdr) => request(`${server.url}${p}`, { body, headers });
    try {
      const corpus: Array<[string, () => Promise<{ status: number; text: string }>]> = [
        ['random bytes', () => post('/api/v1/write', bytes(200))],
        ['truncated snappy', () => post('/api/v1/write', snappyCompress(valid).subarray(0, 10))],
        ['valid snappy of garbage protobuf', () => post('/api/v1/write', snappyCompress(Buffer.from([0x0a, 0xff, 0xff, 0x01, 0x02])))],
        ['valid snappy of random bytes', () => post('/api/v1/write', snappyCompress(bytes(300)))],
        ['huge declared length', () => post('/api/v1/write', Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x00]))],
        ['body over the limit', () => post('/api/v1/write', Buffer.alloc((1 << 20) + 10))],
        ['wrong content-type', () => post('/api/v1/write', snappyCompress(valid), { 'Content-Type': 'application/json' })],
        ['wrong content-encoding', () => post('/api/v1/write', snappyCompress(valid), { 'Content-Type': 'application/x-protobuf', 'Content-Encoding': 'gzip' })],
        ['empty series name', () => post('/api/v1/write', snappyCompress(encodeWrite([{ labels: { k: 'v' }, samples: [{ value: 1, ts: t }] }])))],
        ['invalid UTF-8 label', () => post('/api/v1/write', snappyCompress(Buffer.from([0x0a, 0x08, 0x0a, 0x06, 0x0a, 0x01, 0x61, 0x12, 0x01, 0xff])))],
        ['read: random bytes', () => post('/api/v1/read', snappyCompress(bytes(100)))],
        ['read: no query', () => post('/api/v1/read', snappyCompress(Buffer.alloc(0)))],
        ['malformed PromQL', () => request(`${server.url}/api/v1/query?query=${encodeURIComponent('sum(rate(x[5m]')}`)],
        ['malformed form', () => request(`${server.url}/api/v1/series`, { body: 'match[]=%zz', headers: { 'Content-Type': 'application/x-www-form-urlencoded' } })],
        ['JSON body', () => request(`${server.url}/api/v1/labels`, { body: '{"a":', headers: { 'Content-Type': 'application/json' } })],
      ];
      for (const [what, send] of corpus) {
        const r = await send();
        expect(r.status, `${what}: ${r.text}`).toBeGreaterThanOrEqual(400);
        expect(r.status, what).toBeLessThan(500);
        expect(JSON.parse(r.text).status, what).toBe('error');
      }
      // Mutations of a valid request: flip, insert, delete or truncate bytes of the protobuf.
      let accepted = 0;
      const acceptedValues = new Set<number>();
      for (let i = 0; i < 300; i++) {
        const v = i + 1000;
        const good = encodeWrite([{ labels: { __name__: 'fz', i: String(i % 50) }, samples: [{ value: v, ts: t + (i % 10) * 1000 }] }]);
        const m = Buffer.from(good);
        const kind = Math.floor(rand() * 4);
        let mutated: Buffer;
        if (kind === 0) {
          for (let j = 0; j < 1 + rand() * 3; j++) m[Math.floor(rand() * m.length)] = Math.floor(rand() * 256);
          mutated = m;
        } else if (kind === 1) mutated = m.subarray(0, Math.floor(rand() * m.length));
        else if (kind === 2) {
          const at = Math.floor(rand() * m.length);
          mutated = Buffer.concat([m.subarray(0, at), bytes(1 + Math.floor(rand() * 4)), m.subarray(at)]);
        } else {
          const c = snappyCompress(good);
          { const at = Math.floor(rand() * c.length); c[at] = c[at]! ^ (1 << Math.floor(rand() * 8)); }
          const r = await post('/api/v1/write', c);
          expect([204, 400]).toContain(r.status);
          if (r.status === 204) {
            accepted++;
            acceptedValues.add(v);
          }
          continue;
        }
        const r = await post('/api/v1/write', snappyCompress(mutated));
        expect(r.status, r.text).toBeLessThan(500);
        if (r.status === 204) {
          accepted++;
          acceptedValues.add(v);
        } else expect(r.status).toBeGreaterThanOrEqual(400);
      }
      console.log(`fuzz: ${accepted} of 300 mutated requests still decoded and were stored`);
      // Still serving, and the store holds only what valid requests carried.
      expect((await postWrite(server.url, valid)).status).toBe(204);
      const okSeries = store.select('ok', { start: t, end: t, tier: 0 });
      expect(okSeries.map((s) => [s.labels, s.values[0]])).toEqual([[{ k: 'v' }, 42]]);
      for (const h of store.series()) expect(['ok', 'fz'].some((n) => h.name === n) || h.name.length > 0).toBe(true);
      expect((await request(`${server.url}/api/v1/labels`)).status).toBe(200);
    } finally {
      await server.close();
      store.close();
    }
  });
});

describe('wire helpers', () => {
  it('snappy: reads snappyjs blocks, refuses bad ones and lengths over the limit before allocating', () => {
    const data = Buffer.from('abcabcabcabcabcabcabc hello hello hello '.repeat(500));
    expect(decompressSnappy(snappyCompress(data), 1 << 20).equals(data)).toBe(true);
    expect(() => decompressSnappy(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]), 1 << 20)).toThrow(/over the limit/);
    expect(() => decompressSnappy(Buffer.from([0x05, 0x01, 0x09]), 1 << 20)).toThrow(/snappy/);
  });

  it('floats as Go formats them with FormatFloat(v, f, -1, 64); times and durations as Prometheus parses them', () => {
    expect(formatFloat(1e21)).toBe('1000000000000000000000');
    expect(formatFloat(1.5e-7)).toBe('0.00000015');
    expect(formatFloat(-2.5e-8)).toBe('-0.000000025');
    expect(formatFloat(0.1)).toBe('0.1');
    expect(formatFloat(NaN)).toBe('NaN');
    expect(formatFloat(-Infinity)).toBe('-Inf');
    expect(formatFloat(1.2345e25)).toBe('12345000000000000000000000');
    expect(parseTimeMs('1435781451.781')).toBe(1435781451781);
    expect(parseTimeMs('2015-07-01T20:10:51.781Z')).toBe(1435781451781);
    expect(parseTimeMs('2015-07-01T22:10:51.781+02:00')).toBe(1435781451781);
    expect(parseTimeMs('tomorrow')).toBeUndefined();
    expect(parseDurationMs('1m30s')).toBe(90_000);
    expect(parseDurationMs('0.5')).toBe(500);
    expect(parseDurationMs('1h1x')).toBeUndefined();
  });
});
