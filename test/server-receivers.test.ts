// rondo serve with real Prometheus-ecosystem clients on loopback: a Prometheus whose remote_read
// points at rondo answers its own query_range with rondo's samples; a Prometheus in agent mode
// and vmagent scrape a test target and remote-write into rondo, and the store holds exactly the
// values the target served. (Debian's prometheus 2.42 and vmagent.)
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Store, serve, type RondoServer } from '../dist/src/index';
import { suiteTempDir, tempDir } from './helpers';
import { freePort, getJson } from './support/receivers';

const PROMETHEUS = '/usr/bin/prometheus';
const VMAGENT = '/usr/bin/vmagent';
const SCHEMA = { name: 's', match: {}, maxSeries: 200, tiers: [{ interval: '1s', retention: '10m' }, { interval: '10s', retention: '1h', consolidate: 'avg' as const }] };

const children = new Set<ChildProcess>();
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
});

async function daemon(bin: string, args: string[], dir: string, readyUrl: string): Promise<ChildProcess> {
  const log = fs.openSync(path.join(dir, 'daemon.log'), 'a');
  const child = spawn(bin, args, { stdio: ['ignore', log, log], cwd: dir });
  fs.closeSync(log);
  children.add(child);
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline && child.exitCode === null) {
    const ok = await new Promise<boolean>((resolve) => {
      const req = http.get(readyUrl, { agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.on('error', () => resolve(false));
      req.setTimeout(1000, () => req.destroy());
    });
    if (ok) return child;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${bin} did not become ready: ${fs.readFileSync(path.join(dir, 'daemon.log'), 'utf8').slice(-2000)}`);
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const done = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([done, new Promise((r) => setTimeout(r, 5000))]);
  child.kill('SIGKILL');
  children.delete(child);
}

/** A scrape target: /metrics with fixed values. */
function target(body: string): Promise<{ url: string; close(): Promise<void> }> {
  const srv = http.createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' });
    res.end(body);
  });
  return new Promise((resolve) =>
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      resolve({ url: `127.0.0.1:${port}`, close: () => new Promise<void>((r) => srv.close(() => r())) });
    }),
  );
}

async function waitFor<T>(f: () => T | undefined, ms: number, what: string, detail?: () => string): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${detail === undefined ? '' : `: ${detail()}`}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const TARGET_BODY = '# TYPE rw_gauge gauge\nrw_gauge{unit="a"} 42.5\n# TYPE rw_requests_total counter\nrw_requests_total 7\n';

describe('rondo serve with Prometheus and vmagent', () => {
  let store: Store;
  let server: RondoServer;
  const now = Math.floor(Date.now() / 1000) * 1000;

  beforeAll(async () => {
    store = Store.open(suiteTempDir('rondo-serve-recv-'), { schemas: [SCHEMA] });
    const h = store.register('rr_gauge', { k: 'v' });
    for (let i = 90; i >= 1; i--) store.record(h, i * 1.25, now - i * 1000);
    server = await serve(store, { listen: '127.0.0.1:0' });
  });
  afterAll(async () => {
    await server?.close();
    store?.close();
  });

  it("Prometheus's remote_read (read_recent) answers its query_range with rondo's samples", async () => {
    const dir = tempDir('rondo-prom-rr-');
    const port = await freePort();
    fs.writeFileSync(
      path.join(dir, 'prometheus.yml'),
      `global:\n  scrape_interval: 15s\nremote_read:\n  - url: ${server.url}/api/v1/read\n    read_recent: true\n`,
    );
    const prom = await daemon(
      PROMETHEUS,
      [`--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`],
      dir,
      `http://127.0.0.1:${port}/-/ready`,
    );
    try {
      const start = (now - 60_000) / 1000;
      const end = (now - 10_000) / 1000;
      const r = await getJson<any>(`http://127.0.0.1:${port}/api/v1/query_range?query=rr_gauge&start=${start}&end=${end}&step=1`);
      expect(r.status).toBe('success');
      expect(r.data.result).toHaveLength(1);
      expect(r.data.result[0].metric).toEqual({ __name__: 'rr_gauge', k: 'v' });
      const held = store.select('rr_gauge', { start: now - 60_000, end: now - 10_000, tier: 0 })[0]!;
      const expected = [...held.timestamps].map((t, i) => [t / 1000, String(held.values[i])]);
      expect(r.data.result[0].values).toEqual(expected);
      const mx = await getJson<any>(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent('max_over_time(rr_gauge[1m])')}&time=${(now - 30_000) / 1000}`);
      // Over [t-1m, t] with t = now-30s (Prometheus 2's windows include their start): now-90s, worth 90 × 1.25.
      expect(mx.data.result[0].value[1]).toBe(String(90 * 1.25));
    } finally {
      await stop(prom);
    }
  }, 60_000);

  it('a Prometheus in agent mode scrapes a target and remote-writes into rondo: the store holds what the target served', async () => {
    const t = await target(TARGET_BODY);
    const dir = tempDir('rondo-prom-agent-');
    const port = await freePort();
    fs.writeFileSync(
      path.join(dir, 'agent.yml'),
      [
        'global:',
        '  scrape_interval: 1s',
        'scrape_configs:',
        '  - job_name: promagent',
        '    static_configs:',
        `      - targets: ['${t.url}']`,
        'remote_write:',
        `  - url: ${server.url}/api/v1/write`,
        '    queue_config:',
        '      batch_send_deadline: 1s',
        '    metadata_config:',
        '      send_interval: 1s',
        '',
      ].join('\n'),
    );
    const agent = await daemon(
      PROMETHEUS,
      ['--enable-feature=agent', `--config.file=${path.join(dir, 'agent.yml')}`, `--storage.agent.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`],
      dir,
      `http://127.0.0.1:${port}/-/ready`,
    );
    try {
      const got = await waitFor(() => {
        const s = store.select('{job="promagent"}', { start: Date.now() - 60_000, tier: 0 });
        const gauge = s.find((x) => x.name === 'rw_gauge');
        const counter = s.find((x) => x.name === 'rw_requests_total');
        if (gauge === undefined || counter === undefined) return undefined;
        const gv = [...gauge.values].filter((v) => !Number.isNaN(v));
        const cv = [...counter.values].filter((v) => !Number.isNaN(v));
        return gv.length >= 2 && cv.length >= 2 ? { gauge, counter, gv, cv } : undefined;
      }, 40_000, 'the agent\'s samples in the store', () => `${JSON.stringify(server.stats())}; ${store.series().map((h) => h.key).join(' ')}; ${fs.readFileSync(path.join(dir, 'daemon.log'), 'utf8').slice(-1500)}`);
      expect(got.gauge.labels).toEqual({ instance: t.url, job: 'promagent', unit: 'a' });
      expect(new Set(got.gv)).toEqual(new Set([42.5]));
      expect(new Set(got.cv)).toEqual(new Set([7]));
      expect(got.counter.kind).toBe('counter');
      expect(server.stats().receivedSamples).toBeGreaterThan(0);
    } finally {
      await stop(agent);
      await t.close();
    }
  }, 60_000);

  it('vmagent scrapes a target and remote-writes into rondo: the store holds what the target served', async () => {
    const t = await target(TARGET_BODY);
    const dir = tempDir('rondo-vmagent-');
    const port = await freePort();
    fs.writeFileSync(
      path.join(dir, 'scrape.yml'),
      ['global:', '  scrape_interval: 1s', 'scrape_configs:', '  - job_name: vmagent', '    static_configs:', `      - targets: ['${t.url}']`, ''].join('\n'),
    );
    const vm = await daemon(
      VMAGENT,
      [
        `-promscrape.config=${path.join(dir, 'scrape.yml')}`,
        `-remoteWrite.url=${server.url}/api/v1/write`,
        `-remoteWrite.tmpDataPath=${path.join(dir, 'tmp')}`,
        '-remoteWrite.flushInterval=1s',
        `-httpListenAddr=127.0.0.1:${port}`,
      ],
      dir,
      `http://127.0.0.1:${port}/health`,
    );
    try {
      const got = await waitFor(() => {
        const s = store.select('{job="vmagent"}', { start: Date.now() - 60_000, tier: 0 });
        const gauge = s.find((x) => x.name === 'rw_gauge');
        const counter = s.find((x) => x.name === 'rw_requests_total');
        if (gauge === undefined || counter === undefined) return undefined;
        const gv = [...gauge.values].filter((v) => !Number.isNaN(v));
        const cv = [...counter.values].filter((v) => !Number.isNaN(v));
        return gv.length >= 2 && cv.length >= 2 ? { gauge, gv, cv } : undefined;
      }, 40_000, "vmagent's samples in the store", () => `${JSON.stringify(server.stats())}; ${fs.readFileSync(path.join(dir, 'daemon.log'), 'utf8').slice(-1500)}`);
      expect(got.gauge.labels).toEqual({ instance: t.url, job: 'vmagent', unit: 'a' });
      expect(new Set(got.gv)).toEqual(new Set([42.5]));
      expect(new Set(got.cv)).toEqual(new Set([7]));
    } finally {
      await stop(vm);
      await t.close();
    }
  }, 60_000);
});
