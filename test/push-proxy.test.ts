// Push through a proxy (a small real forward proxy started here), custom headers, and the
// metadata each batch carries, with a real Prometheus behind: plain http by absolute URI, https
// through a CONNECT tunnel (TLS end to end, with a client certificate), NO_PROXY, proxy
// credentials.
import { spawn } from 'node:child_process';
import { uncompress } from 'snappyjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, ConfigError, RemoteWriteError, Store, pushTo } from '../src/index';
import { loadRemoteWriteProto } from '../src/export/encode';
import { bypassesProxy, proxyFromEnv } from '../src/export/remote-write-options';
import { alignedPast, tempDir } from './helpers';
import { getJson, startPrometheus, type PrometheusReceiver } from './support/receivers';
import { startRecordingProxy, type RecordingProxy } from './support/proxy';
import { CLI } from './support/serve-cli';
import { makeTestPki, startTlsPrometheus, type TestPki, type TlsPrometheus } from './support/tls';

const SCHEMA = [{ name: 'p', match: {}, maxSeries: 8, tiers: [{ interval: '1s', retention: '1h' }] }];
const POINTS = 30;
const quiet = (): void => {};
const t0 = alignedPast(2 * 3600_000, 60_000);

/** A store with a described counter family (two series) and an undescribed gauge. */
function fillStore(dir: string, prefix: string): void {
  const store = Store.open(dir, { schemas: SCHEMA });
  store.describe(`${prefix}_exits_total`, { help: 'VM exits, by reason.', unit: '' });
  store.describe(`${prefix}_halt_seconds_total`, { help: 'Time vCPUs spent halted.', unit: 'seconds' });
  const a = store.register(`${prefix}_exits_total`, { reason: 'io' }, { kind: 'counter' });
  const b = store.register(`${prefix}_exits_total`, { reason: 'hlt' }, { kind: 'counter' });
  const h = store.register(`${prefix}_halt_seconds_total`, {}, { kind: 'counter' });
  const g = store.register(`${prefix}_load`, {}, { kind: 'gauge' });
  for (let i = 0; i < POINTS; i++) {
    const ts = t0 + i * 1000;
    store.record(a, i, ts);
    store.record(b, 2 * i, ts);
    store.record(h, i / 10, ts);
    store.record(g, i % 5, ts);
  }
  store.close();
}

interface Decoded {
  timeseries: Array<{ labels: Array<{ name: string; value: string }> }>;
  metadata?: Array<{ type?: number; metricFamilyName?: string; help?: string; unit?: string }>;
}

function decode(body: Buffer): Decoded {
  const WriteRequest = loadRemoteWriteProto().lookupType('prometheus.WriteRequest');
  return WriteRequest.toObject(WriteRequest.decode(uncompress(body)), { defaults: false }) as Decoded;
}

function runCli(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const clean = { ...process.env };
    for (const k of ['http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY', 'no_proxy', 'NO_PROXY']) delete clean[k];
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...clean, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Raw samples Prometheus holds for the names matching `prefix_`, over the stores' minute. */
async function countIn(get: (p: string) => Promise<unknown>, prefix: string): Promise<number> {
  const query = `{__name__=~"${prefix}_.*"}[2m]`;
  const r = (await get(`/api/v1/query?query=${encodeURIComponent(query)}&time=${(t0 + 60_000) / 1000}`)) as {
    data: { result: Array<{ values: unknown[] }> };
  };
  return r.data.result.reduce((n, s) => n + s.values.length, 0);
}

let prom: PrometheusReceiver;
let pki: TestPki;
let tlsProm: TlsPrometheus;
let proxy: RecordingProxy;

beforeAll(async () => {
  pki = makeTestPki();
  [prom, tlsProm, proxy] = await Promise.all([startPrometheus(), startTlsPrometheus(pki), startRecordingProxy()]);
}, 90_000);

afterAll(async () => {
  await Promise.all([prom?.stop(), tlsProm?.stop(), proxy?.close()]);
});

describe('pushTo through an http proxy to an http receiver', () => {
  it('asks the proxy for the absolute URI, with the custom header and each family\'s metadata; every sample reaches Prometheus', async () => {
    const dir = tempDir();
    fillStore(dir, 'px');
    const before = proxy.requests.length;
    const store = Store.openReadOnly(dir);
    try {
      const s = await pushTo(store, prom.url, { proxy: proxy.url, headers: { 'X-Scope-OrgID': 'tenant-7' }, logger: quiet, maxSamplesPerSend: 50 });
      expect(s.samples).toBe(4 * POINTS);
    } finally {
      store.close();
    }
    const mine = proxy.requests.slice(before);
    expect(mine.length).toBeGreaterThanOrEqual(3); // 120 samples, 50 a batch
    for (const r of mine) {
      expect(r.method).toBe('POST');
      expect(r.uri).toBe(prom.url);
      expect(r.headers['x-scope-orgid']).toBe('tenant-7');
      expect(r.headers['host']).toBe(new URL(prom.url).host);
      expect(r.headers['content-encoding']).toBe('snappy');
      // Each batch describes the families it carries, each once.
      const d = decode(r.body);
      const families = [...new Set(d.timeseries.map((t) => t.labels.find((l) => l.name === '__name__')!.value))].sort();
      const meta = d.metadata ?? [];
      expect(meta.map((m) => m.metricFamilyName).sort()).toEqual(families);
      for (const m of meta) {
        if (m.metricFamilyName === 'px_halt_seconds_total') expect(m).toEqual({ type: 1, metricFamilyName: 'px_halt_seconds_total', help: 'Time vCPUs spent halted.', unit: 'seconds' });
        if (m.metricFamilyName === 'px_exits_total') expect(m).toEqual({ type: 1, metricFamilyName: 'px_exits_total', help: 'VM exits, by reason.' });
        if (m.metricFamilyName === 'px_load') expect(m).toEqual({ type: 2, metricFamilyName: 'px_load' });
      }
    }
    const all = new Set(mine.flatMap((r) => (decode(r.body).metadata ?? []).map((m) => m.metricFamilyName)));
    expect([...all].sort()).toEqual(['px_exits_total', 'px_halt_seconds_total', 'px_load']);
    await expect.poll(() => countIn((p) => getJson(`${prom.api}${p}`), 'px'), { timeout: 10_000 }).toBe(4 * POINTS);
  }, 60_000);

  it('refuses headers the protocol owns, by name, and sends nothing', async () => {
    const dir = tempDir();
    fillStore(dir, 'hd');
    const store = Store.openReadOnly(dir);
    const before = proxy.requests.length;
    try {
      for (const name of ['Content-Type', 'content-encoding', 'X-Prometheus-Remote-Write-Version', 'Host', 'Content-Length', 'Transfer-Encoding'])
        await expect(pushTo(store, prom.url, { proxy: proxy.url, headers: { [name]: 'x' }, logger: quiet })).rejects.toThrow(
          new RegExp(`headers may not set ${name}`),
        );
      await expect(pushTo(store, prom.url, { proxy: proxy.url, headers: { 'X-Bad': 'a\nb' }, logger: quiet })).rejects.toThrow(ConfigError);
      expect(store.exporter(`rw_127.0.0.1_${new URL(prom.url).port}_api_v1_write`).positions).toEqual({});
    } finally {
      store.close();
    }
    expect(proxy.requests.length).toBe(before);
    const cli = await runCli(['push', dir, '--url', prom.url, '--header', 'Content-Type=text/plain'], {});
    expect(cli.code).toBe(2);
    expect(cli.stderr).toMatch(/--header may not set Content-Type: the remote-write protocol sets it/);
    // Both Name=value and curl's "Name: value", through HTTP_PROXY.
    const sentBefore = proxy.requests.length;
    // (prometheus.test: a name only the proxy resolves, as a receiver behind a proxy often is.)
    const viaUrl = `http://prometheus.test:${new URL(prom.url).port}/api/v1/write`;
    const ok = await runCli(['push', dir, '--url', viaUrl, '--header', 'X-Scope-OrgID: tenant-3', '--header', 'X-Route=a=b'], { HTTP_PROXY: proxy.url });
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    const via = proxy.requests.slice(sentBefore);
    expect(via.length).toBeGreaterThan(0);
    for (const r of via) expect([r.headers['x-scope-orgid'], r.headers['x-route']]).toEqual(['tenant-3', 'a=b']);
    const bad = await runCli(['push', dir, '--url', prom.url, '--header', 'X-Scope-OrgID'], {});
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/must be Name=value, e\.g\. --header X-Scope-OrgID=tenant-1/);
  }, 30_000);
});

describe("the agent's periodic push", () => {
  it("goes through the proxy too, and each family's metadata is what the store describes", async () => {
    const dir = tempDir();
    const before = proxy.requests.length;
    const agent = await Agent.start({
      dir,
      collectors: [],
      onError: quiet,
      remoteWrite: { url: prom.url, proxy: proxy.url, headers: { 'X-Scope-OrgID': 'agents' }, interval: '1h', logger: quiet },
    });
    await new Promise((r) => setTimeout(r, 1100));
    await agent.stop(); // its last push: everything, with the interval in progress
    const mine = proxy.requests.slice(before);
    expect(mine.length).toBeGreaterThan(0);
    const sent = new Map<string, { type?: number; help?: string; unit?: string }>();
    for (const r of mine) {
      expect(r.headers['x-scope-orgid']).toBe('agents');
      for (const m of decode(r.body).metadata ?? []) sent.set(m.metricFamilyName!, m);
    }
    const store = Store.openReadOnly(dir);
    try {
      const described = store.descriptions();
      expect(sent.size).toBeGreaterThan(0);
      expect([...sent.values()].some((m) => m.help !== undefined)).toBe(true);
      for (const [name, m] of sent) {
        const d = described.get(name);
        expect({ name, type: m.type, help: m.help, unit: m.unit }).toEqual({
          name,
          type: d?.kind === 'counter' ? 1 : 2,
          help: d?.help,
          unit: d?.unit === '' ? undefined : d?.unit,
        });
      }
    } finally {
      store.close();
    }
  }, 30_000);
});

describe('rondo push through HTTPS_PROXY to a TLS receiver', () => {
  // The receiver as the proxy knows it: prometheus.test resolves only there (and is in the
  // server certificate), so whatever reaches it went through the proxy.
  const viaProxy = (): string => `https://prometheus.test:${tlsProm.port}/api/v1/write`;
  const tlsFlags = (): string[] => ['--tls-ca-file', pki.caCert, '--tls-cert-file', pki.clientCert, '--tls-key-file', pki.clientKey];

  it('opens a CONNECT tunnel and keeps TLS (with the client certificate) end to end; the proxy never sees the request', async () => {
    const dir = tempDir();
    fillStore(dir, 'tun');
    const before = { requests: proxy.requests.length, connects: proxy.connects.length };
    const r = await runCli(['push', dir, '--url', viaProxy(), '--header', 'X-Scope-OrgID=tenant-9', ...tlsFlags()], {
      HTTPS_PROXY: proxy.url,
      NO_PROXY: 'example.com,10.0.0.0/8',
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^pushed ${4 * POINTS} samples`));
    expect(proxy.connects.slice(before.connects)).toEqual([`prometheus.test:${tlsProm.port}`]);
    expect(proxy.requests.length).toBe(before.requests);
    await expect.poll(() => countIn((p) => tlsProm.getJson(p), 'tun'), { timeout: 10_000 }).toBe(4 * POINTS);
  }, 60_000);

  it('goes direct when NO_PROXY covers the host (here the name then does not resolve), and for a loopback receiver', async () => {
    const dir = tempDir();
    fillStore(dir, 'direct');
    const before = proxy.connects.length;
    const off = await runCli(['push', dir, '--url', viaProxy(), '--max-retries', '0', ...tlsFlags()], { https_proxy: proxy.url, no_proxy: 'localhost,.test' });
    expect(off.code).toBe(1);
    expect(off.stderr).toMatch(/ENOTFOUND prometheus\.test|EAI_AGAIN prometheus\.test/);
    expect(proxy.connects.length).toBe(before);
    // 127.0.0.1 is this host's own: never through the environment's proxy.
    const r = await runCli(['push', dir, '--url', tlsProm.url, ...tlsFlags()], { https_proxy: proxy.url });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(proxy.connects.length).toBe(before);
    await expect.poll(() => countIn((p) => tlsProm.getJson(p), 'direct'), { timeout: 10_000 }).toBe(4 * POINTS);
  }, 60_000);

  it('sends the proxy URL\'s credentials as Proxy-Authorization; without them the 407 is an error saying so, not retried, and no secret is shown', async () => {
    const locked = await startRecordingProxy({ user: 'agent', password: 's3cret-pw' });
    const dir = tempDir();
    fillStore(dir, 'auth');
    const store = Store.openReadOnly(dir);
    try {
      const tls = { caFile: pki.caCert, certFile: pki.clientCert, keyFile: pki.clientKey };
      const e = await pushTo(store, tlsProm.url, { proxy: locked.bare, tls, logger: quiet, maxRetries: 3 }).catch((err: unknown) => err);
      expect(e).toBeInstanceOf(RemoteWriteError);
      expect((e as Error).message).toMatch(/refused CONNECT .* with HTTP 407.*wants credentials/);
      expect(locked.refused).toBe(1);
      const wrong = await pushTo(store, tlsProm.url, { proxy: locked.bare.replace('//', '//agent:wrong-pw@'), tls, logger: quiet, maxRetries: 0 }).catch(
        (err: unknown) => err,
      );
      expect((wrong as Error).message).toMatch(/the proxy refused the credentials in its URL/);
      expect((wrong as Error).message).not.toMatch(/wrong-pw/);
      const s = await pushTo(store, tlsProm.url, { proxy: locked.url, tls, logger: quiet });
      expect(s.samples).toBe(4 * POINTS);
      expect(locked.connects).toEqual([`127.0.0.1:${tlsProm.port}`]);
    } finally {
      store.close();
      await locked.close();
    }
  }, 60_000);
});

describe('which proxy the environment gives', () => {
  const u = (s: string): URL => new URL(s);
  it('takes the scheme\'s variable, lower case first, unless NO_PROXY covers the host or it is loopback', () => {
    expect(proxyFromEnv(u('https://a.example/api/v1/write'), { HTTPS_PROXY: 'http://p:1', https_proxy: 'http://q:2' })).toEqual({ name: 'https_proxy', value: 'http://q:2' });
    expect(proxyFromEnv(u('https://a.example/'), { HTTP_PROXY: 'http://p:1' })).toBeUndefined();
    expect(proxyFromEnv(u('http://a.example/'), { HTTP_PROXY: 'http://p:1' })).toEqual({ name: 'HTTP_PROXY', value: 'http://p:1' });
    expect(proxyFromEnv(u('http://a.example/'), { HTTP_PROXY: 'http://p:1', NO_PROXY: 'ample' })).toBeDefined();
    expect(proxyFromEnv(u('http://a.example/'), { HTTP_PROXY: 'http://p:1', no_proxy: 'a.example' })).toBeUndefined();
    for (const local of ['http://127.0.0.1:9090/', 'http://127.1.2.3/', 'http://localhost:9090/', 'http://vm.localhost/', 'http://[::1]:9090/'])
      expect([local, proxyFromEnv(u(local), { HTTP_PROXY: 'http://p:1' })]).toEqual([local, undefined]);
    expect(proxyFromEnv(u('http://128.0.0.1/'), { HTTP_PROXY: 'http://p:1' })).toBeDefined();
  });
  it('matches NO_PROXY entries as curl and Go do', () => {
    const cases: Array<[string, string, boolean]> = [
      ['https://mimir.example.com/x', '*', true],
      ['https://mimir.example.com/x', 'example.com', true],
      ['https://mimir.example.com/x', '.example.com', true],
      ['https://example.com/x', '.example.com', true],
      ['https://notexample.com/x', 'example.com', false],
      ['https://mimir.example.com:8443/x', 'mimir.example.com:8443', true],
      ['https://mimir.example.com:8443/x', 'mimir.example.com:443', false],
      ['http://10.1.2.3:8428/x', '10.0.0.0/8', true],
      ['http://11.1.2.3:8428/x', '10.0.0.0/8', false],
      ['http://10.1.2.3:8428/x', '10.1.2.3', true],
      ['http://[fd00::5]:8428/x', 'fd00::/8', true],
      ['http://[fd00::5]:8428/x', '[fd00::5]:8428', true],
      ['http://vm.internal/x', ' a.b , vm.internal ', true],
      ['http://vm.internal/x', '', false],
    ];
    for (const [url, list, want] of cases) expect([url, list, bypassesProxy(u(url), list)]).toEqual([url, list, want]);
  });
  it('refuses a proxy it cannot use', async () => {
    const dir = tempDir();
    fillStore(dir, 'bad');
    const store = Store.openReadOnly(dir);
    try {
      await expect(pushTo(store, prom.url, { proxy: 'socks5://p:1080', logger: quiet })).rejects.toThrow(/must be an http:\/\/ proxy/);
      await expect(pushTo(store, prom.url, { proxy: 'http://[bad', logger: quiet })).rejects.toThrow(/not a valid URL/);
    } finally {
      store.close();
    }
  });
});
