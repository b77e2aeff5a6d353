// The agent's /metrics (src/export/exposition.ts): clean by promtool's rules, typed from the
// series (histograms and summaries grouped), HELP and UNIT from the store's descriptions,
// OpenMetrics when the scraper asks for it, and a series that ended leaves it. And rondo serve's
// own /metrics, clean by promtool too.
import { afterAll, describe, expect, it } from 'vitest';
import { Histogram, Registry, Summary, Counter, Gauge } from 'prom-client';
import { Agent, processCollector, promClientCollector, storeExposition, wantsOpenMetrics, type Collector } from '../src/index';
import { promtoolCheck, promtoolCheckOpenMetrics } from './support/promtool';
import { killServes, startServe, stopServe } from './support/serve-cli';
import { getJson, startPrometheus } from './support/receivers';
import { tempDir, VMM_SCHEMA } from './helpers';

const OM_ACCEPT = 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';

afterAll(() => killServes());

async function get(url: string, accept?: string): Promise<{ type: string; body: string }> {
  const r = await fetch(url, accept === undefined ? {} : { headers: { accept } });
  expect(r.status).toBe(200);
  return { type: r.headers.get('content-type') ?? '', body: await r.text() };
}

function registry(): Registry {
  const reg = new Registry();
  const h = new Histogram({ name: 'app_request_duration_seconds', help: 'Request time.', labelNames: ['path'], buckets: [0.1, 1], registers: [reg] });
  h.observe({ path: '/a' }, 0.05);
  h.observe({ path: '/a' }, 0.5);
  h.observe({ path: '/b' }, 3);
  const s = new Summary({ name: 'app_payload_bytes', help: 'Payload sizes.', percentiles: [0.5, 0.9], registers: [reg] });
  for (const v of [10, 20, 30]) s.observe(v);
  new Counter({ name: 'app_jobs_total', help: 'Jobs.', registers: [reg] }).inc(3);
  new Gauge({ name: 'app_temperature_celsius', help: 'Temperature.', registers: [reg] }).set(21.5);
  return reg;
}

/** A collector that describes and records what a registry has, as an embedding host would. */
function described(reg: Registry): Collector {
  const inner = promClientCollector(reg);
  return {
    name: 'app',
    async collect(ctx) {
      for (const m of await reg.getMetricsAsJSON()) {
        const unit = /_(seconds|bytes|celsius)(_total)?$/.exec(m.name)?.[1];
        for (const suffix of String(m.type) === 'histogram' ? ['_bucket', '_sum', '_count'] : String(m.type) === 'summary' ? ['', '_sum', '_count'] : ['']) ctx.describe(`${m.name}${suffix}`, m.help, unit);
      }
      await inner.collect(ctx);
    },
  };
}

describe("the agent's /metrics", () => {
  it('is clean by promtool check metrics (exit 0, no output), with HELP from the descriptions and histograms and summaries as such', async () => {
    const agent = await Agent.start({ dir: tempDir(), schemas: [VMM_SCHEMA], metricsPort: 0, collectors: [processCollector(), described(registry())] });
    try {
      const { port } = agent.metricsAddress!;
      const { type, body } = await get(`http://127.0.0.1:${port}/metrics`);
      expect(type).toBe('text/plain; version=0.0.4; charset=utf-8');
      expect(promtoolCheck(body)).toEqual({ code: 0, output: '' });
      expect(body).toContain('# HELP nodejs_heap_size_used_bytes Process heap size used from Node.js in bytes.\n# TYPE nodejs_heap_size_used_bytes gauge\n');
      expect(body).toContain('# TYPE process_cpu_seconds_total counter\n');
      expect(body).toContain('# TYPE app_request_duration_seconds histogram\n');
      expect(body).toContain('app_request_duration_seconds_bucket{path="/a",le="0.1"} 1\napp_request_duration_seconds_bucket{path="/a",le="1"} 2\napp_request_duration_seconds_bucket{path="/a",le="+Inf"} 2\napp_request_duration_seconds_count{path="/a"} 2\napp_request_duration_seconds_sum{path="/a"} 0.55\n');
      expect(body).toContain('# TYPE app_payload_bytes summary\n');
      expect(body).toMatch(/app_payload_bytes\{quantile="0.5"\} 20\napp_payload_bytes\{quantile="0.9"\} 30\napp_payload_bytes_count 3\napp_payload_bytes_sum 60\n/);
      expect(body).not.toMatch(/rondo series /); // every name described
      expect(body).not.toContain('# UNIT'); // not in the text format
    } finally {
      await agent.stop();
    }
  });

  it('serves OpenMetrics when the Accept header asks for it: UNIT where the name ends with it, counters as families without _total, # EOF', async () => {
    const agent = await Agent.start({ dir: tempDir(), schemas: [VMM_SCHEMA], metricsPort: 0, collectors: [processCollector(), described(registry())] });
    try {
      const url = `http://127.0.0.1:${agent.metricsAddress!.port}/metrics`;
      const { type, body } = await get(url, OM_ACCEPT);
      expect(type).toBe('application/openmetrics-text; version=1.0.0; charset=utf-8');
      expect(body.endsWith('\n# EOF\n')).toBe(true);
      expect(body).toContain('# HELP process_cpu_seconds Total user and system CPU time spent in seconds.\n# TYPE process_cpu_seconds counter\n# UNIT process_cpu_seconds seconds\nprocess_cpu_seconds_total ');
      expect(body).toContain('# TYPE app_request_duration_seconds histogram\n# UNIT app_request_duration_seconds seconds\n');
      expect(body).toContain('# TYPE app_temperature_celsius gauge\n# UNIT app_temperature_celsius celsius\n');
      expect(body).toContain('# TYPE process_open_fds gauge\nprocess_open_fds '); // no unit, no UNIT line
      // Every UNIT names a suffix of its family, as OpenMetrics requires.
      for (const m of body.matchAll(/^# UNIT (\S+) (\S+)$/gm)) expect(m[1]!.endsWith(`_${m[2]}`), m[0]).toBe(true);
      const om = promtoolCheckOpenMetrics(body);
      expect(om.findings).toEqual([]);
      // A scraper that asks for the text format, or for nothing, or for garbage, gets it.
      for (const accept of ['text/plain;version=0.0.4', '*/*', 'application/openmetrics-text;q=0', 'garbage;;;,', 'application/openmetrics-text;q=0.2,text/plain;q=0.9'])
        expect((await get(url, accept)).type, accept).toMatch(/^text\/plain/);
    } finally {
      await agent.stop();
    }
  });

  it('is scraped by a real Prometheus as OpenMetrics: its units arrive, a histogram and a summary are typed as such, the values read back', async () => {
    const agent = await Agent.start({ dir: tempDir(), schemas: [VMM_SCHEMA], metricsPort: 0, collectors: [processCollector(), described(registry())] });
    const prom = await startPrometheus({ scrape: { target: `127.0.0.1:${agent.metricsAddress!.port}`, interval: '1s' } });
    try {
      type Meta = { data: Record<string, Array<{ type: string; unit: string; help: string }>> };
      type Vector = { data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
      let meta: Meta['data'] = {};
      for (let i = 0; i < 100 && meta.app_request_duration_seconds === undefined; i++) {
        await new Promise((r) => setTimeout(r, 200));
        meta = (await getJson<Meta>(`${prom.api}/api/v1/metadata`)).data;
      }
      // /api/v1/metadata has the unit only from OpenMetrics' UNIT lines: the scrape negotiated it.
      expect(meta.app_request_duration_seconds?.[0]).toEqual({ type: 'histogram', unit: 'seconds', help: 'Request time.' });
      expect(meta.app_payload_bytes?.[0]).toEqual({ type: 'summary', unit: 'bytes', help: 'Payload sizes.' });
      expect(meta.process_cpu_seconds?.[0]).toMatchObject({ type: 'counter', unit: 'seconds' });
      expect(meta.nodejs_heap_size_used_bytes?.[0]).toMatchObject({ type: 'gauge', unit: 'bytes', help: 'Process heap size used from Node.js in bytes.' });
      const q = async (expr: string) => (await getJson<Vector>(`${prom.api}/api/v1/query?query=${encodeURIComponent(expr)}`)).data.result;
      expect(Number((await q('app_request_duration_seconds_bucket{path="/a",le="1"}'))[0]?.value[1])).toBe(2);
      expect(Number((await q('app_jobs_total'))[0]?.value[1])).toBe(3);
      // The sample of /b (3 s) is past the last finite bound: Prometheus answers that bound.
      expect(Number((await q('histogram_quantile(0.99, app_request_duration_seconds_bucket{path="/b"})'))[0]?.value[1])).toBe(1);
    } finally {
      await prom.stop();
      await agent.stop();
    }
  }, 60_000);

  it('leaves out a series whose last point is older than metricsStaleAfter (default 3 ticks), and keeps the live ones', async () => {
    let t = Math.floor(Date.now() / 1000) * 1000 - 60_000;
    let alive = true;
    const vmLike: Collector = {
      name: 'vm',
      collect(ctx) {
        ctx.describe('vm_up', 'Whether the VM runs.');
        if (alive) ctx.record('vm_up', {}, 1);
      },
    };
    let thrown = false;
    const flaky: Collector = {
      name: 'flaky',
      collect() {
        if (thrown) return;
        thrown = true;
        throw new Error('once');
      },
    };
    const agent = await Agent.start({ dir: tempDir(), schemas: [VMM_SCHEMA], metricsPort: 0, autoTick: false, clock: () => t, collectors: [vmLike, flaky], onError: () => {} });
    try {
      const url = `http://127.0.0.1:${agent.metricsAddress!.port}/metrics`;
      await agent.tick();
      expect((await get(url)).body).toMatch(/^vm_up 1$/m);
      alive = false;
      // 3 s later (3 ticks of 1 s) the last point is 3 s old: still served.
      t += 3000;
      await agent.tick();
      expect((await get(url)).body).toMatch(/^vm_up 1$/m);
      t += 1000;
      await agent.tick();
      const { body } = await get(url);
      expect(body).not.toMatch(/^vm_up/m);
      expect(body).toMatch(/^rondo_agent_ticks_total 3$/m); // the agent's own go on
      expect(body).toMatch(/^rondo_agent_errors_total\{source="collector"\} 1$/m); // a count recorded every tick, not only at the failure
      expect((await get(url, OM_ACCEPT)).body).not.toMatch(/^vm_up/m);
    } finally {
      await agent.stop();
    }
    // A longer age keeps it; 0 keeps every series however old; with a push every 20 s the default
    // is 3 pushes (the push's own figures are recorded at each).
    const push = { url: 'http://127.0.0.1:9/api/v1/write', interval: '20s', maxRetries: 0, logger: () => {} };
    for (const [staleAfter, kept] of [['1m', true], [0, true], ['2s', false], [undefined, true]] as const) {
      alive = true;
      const a = await Agent.start({
        dir: tempDir(),
        schemas: [VMM_SCHEMA],
        metricsPort: 0,
        autoTick: false,
        clock: () => t,
        collectors: [vmLike],
        onError: () => {},
        ...(staleAfter === undefined ? { remoteWrite: push } : { metricsStaleAfter: staleAfter }),
      });
      await a.tick();
      alive = false;
      t += 10_000;
      await a.tick();
      expect(/^vm_up 1$/m.test((await get(`http://127.0.0.1:${a.metricsAddress!.port}/metrics`)).body), String(staleAfter)).toBe(kept);
      await a.stop();
    }
  });

  it('refuses a metricsStaleAfter that is not a duration, by name', async () => {
    await expect(Agent.start({ dir: tempDir(), metricsPort: 0, metricsStaleAfter: 'soon' })).rejects.toThrow(/metricsStaleAfter "soon" is not a duration/);
  });

  it('wantsOpenMetrics follows the q values of the Accept header', () => {
    expect(wantsOpenMetrics(OM_ACCEPT)).toBe(true);
    expect(wantsOpenMetrics('application/openmetrics-text')).toBe(true);
    expect(wantsOpenMetrics(undefined)).toBe(false);
    expect(wantsOpenMetrics('text/plain, application/openmetrics-text;q=0.5')).toBe(false);
    expect(storeExposition).toBeTypeOf('function');
  });
});

describe("rondo serve's /metrics", () => {
  it('is clean by promtool check metrics after requests of every kind', async () => {
    const s = await startServe([tempDir(), '--listen', '127.0.0.1:0']);
    try {
      await fetch(`${s.url}/api/v1/query?query=up`);
      await fetch(`${s.url}/api/v1/write`, { method: 'POST', body: 'not snappy' });
      await fetch(`${s.url}/nowhere`);
      const { body } = await get(`${s.url}/metrics`);
      expect(body).toMatch(/^rondo_http_requests_total\{/m);
      expect(promtoolCheck(body)).toEqual({ code: 0, output: '' });
      // OpenMetrics when asked: counter families without _total, UNIT on the durations, # EOF.
      const om = await get(`${s.url}/metrics`, OM_ACCEPT);
      expect(om.type).toBe('application/openmetrics-text; version=1.0.0; charset=utf-8');
      expect(om.body).toContain('# TYPE rondo_http_requests counter\n');
      expect(om.body).toMatch(/^rondo_http_requests_total\{/m);
      expect(om.body).toContain('# TYPE rondo_http_request_duration_seconds summary\n# UNIT rondo_http_request_duration_seconds seconds\n');
      expect(om.body.endsWith('\n# EOF\n')).toBe(true);
      expect(promtoolCheckOpenMetrics(om.body).findings).toEqual([]);
    } finally {
      await stopServe(s.child);
    }
  });

  it('is scraped by a real Prometheus, which asks for OpenMetrics and keeps the units of its UNIT lines', async () => {
    const s = await startServe([tempDir(), '--listen', '127.0.0.1:0']);
    const prom = await startPrometheus({ scrape: { target: new URL(s.url).host, interval: '1s' } });
    try {
      type Meta = { data: Array<{ type: string; unit: string; help: string }> };
      type Vector = { data: { result: Array<{ value: [number, string] }> } };
      let meta: Meta['data'] = [];
      let up: Vector['data']['result'] = [];
      for (let i = 0; i < 100 && (meta.length === 0 || up.length === 0); i++) {
        await new Promise((r) => setTimeout(r, 200));
        meta = (await getJson<Meta>(`${prom.api}/api/v1/targets/metadata?metric=rondo_http_request_duration_seconds`)).data;
        up = (await getJson<Vector>(`${prom.api}/api/v1/query?query=${encodeURIComponent('rondo_http_requests_total{handler="/metrics"}')}`)).data.result;
      }
      expect(meta[0]).toMatchObject({ type: 'summary', unit: 'seconds' });
      expect(Number(up[0]?.value[1])).toBeGreaterThan(0);
    } finally {
      await prom.stop();
      await stopServe(s.child);
    }
  }, 60_000);
});
