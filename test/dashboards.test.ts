// Every query of the Grafana dashboards (dashboards/*.json) returns data from both back ends the
// dashboards are written for: a real Prometheus fed by pushTo, and rondo serve on the same store.
// The stores are made by real runs: the demo VMM on /dev/kvm (the VMM view; skipped with the
// reason when KVM is missing) and an agent with the process collector, a hook that throws, a
// receiver that is down and a ring small enough to overwrite what it could not push, in a store
// rondo serve took Influx lines into (the agent-health view).
import * as fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runVm } from '../demo-vmm/vmm';
import { Agent, pushTo, Store, type SchemaOptions } from '../src/index';
import { probeKvm } from '../src/kvm/index';
import { assertBuilt } from './fixtures/build';
import { suiteTempDir } from './helpers';
import { dashboardFiles, loadDashboard, panelQueries, parseLabelValues, substitute, variablesOf } from './support/dashboards';
import { ensureReceiversInstalled, freePort, startPrometheus, type PrometheusReceiver } from './support/receivers';
import { killServes, startServe, stopServe, type RunningServe } from './support/serve-cli';

const kvm = probeKvm();
if (!kvm.ok) console.warn(`skipping the VMM dashboard's data test: it needs KVM (${kvm.reason})`);

const EXPORTER = 'to-prometheus';
// The agent's store: its own series in a roomy ring, the process's resident memory in a ring of
// 5 s, so that 8 s of a receiver being down overwrites samples not yet pushed.
const AGENT_SCHEMAS: SchemaOptions[] = [
  { name: 'tiny', match: { __name__: 'process_resident_memory_bytes' }, maxSeries: 4, tiers: [{ interval: '1s', retention: '5s' }, { interval: '10s', retention: '1h' }] },
  { name: 'own', match: {}, maxSeries: 200, tiers: [{ interval: '1s', retention: '1h' }, { interval: '10s', retention: '1d' }] },
];

interface Backend {
  name: string;
  api: string;
}

interface QueryAnswer {
  status: string;
  error?: string;
  data: { resultType: string; result: Array<{ metric: Record<string, string>; values: Array<[number, string]> }> };
}

let window = { start: 0, end: 0 };

async function queryRange(b: Backend, expr: string): Promise<QueryAnswer> {
  const u = new URL('/api/v1/query_range', b.api);
  u.searchParams.set('query', expr);
  u.searchParams.set('start', String(window.start / 1000));
  u.searchParams.set('end', String(window.end / 1000));
  u.searchParams.set('step', '5');
  const r = await fetch(u);
  const body = (await r.json()) as QueryAnswer;
  if (body.status !== 'success') throw new Error(`${b.name}: ${expr}: ${body.error}`);
  return body;
}

async function labelValues(b: Backend, label: string, selector: string | undefined): Promise<string[]> {
  const u = new URL(`/api/v1/label/${label}/values`, b.api);
  if (selector !== undefined) u.searchParams.append('match[]', selector);
  u.searchParams.set('start', String(window.start / 1000));
  u.searchParams.set('end', String(window.end / 1000));
  const body = (await (await fetch(u)).json()) as { status: string; data: string[]; error?: string };
  if (body.status !== 'success') throw new Error(`${b.name}: label_values(${selector ?? ''}, ${label}): ${body.error}`);
  return body.data;
}

/**
 * Grafana's way with the variables: each query variable in order, its query with the variables
 * before it substituted; a multi-value vcpu takes every value, the others the first (or All when
 * the back end has none: rondo serve's series carry no job or instance label).
 */
async function resolveVariables(b: Backend, file: string): Promise<{ values: Record<string, string>; found: Record<string, string[]> }> {
  const values: Record<string, string> = {};
  const found: Record<string, string[]> = {};
  for (const v of variablesOf(loadDashboard(file))) {
    if (v.type !== 'query') continue;
    const lv = parseLabelValues(v.query!)!;
    const got = await labelValues(b, lv.label, lv.selector === undefined ? undefined : substitute(lv.selector, values));
    found[v.name] = got;
    values[v.name] = got.length === 0 ? (v.allValue ?? '.*') : v.name === 'vcpu' ? got.join('|') : got[0]!;
  }
  return { values, found };
}

/**
 * Every panel query of a dashboard answers with a series holding a number, on this back end.
 * Returns what the variables offered, and per query the series' labels (job and instance aside).
 */
async function checkDashboard(b: Backend, file: string): Promise<{ found: Record<string, string[]>; series: Record<string, string[]> }> {
  const { values, found } = await resolveVariables(b, file);
  const empty: string[] = [];
  const series: Record<string, string[]> = {};
  for (const q of panelQueries(file)) {
    const expr = substitute(q.expr, values);
    const r = await queryRange(b, expr);
    // topk() among equal values picks any of them: for those, the values at the last step.
    const lastStep = Math.max(...r.data.result.map((s) => s.values.at(-1)?.[0] ?? -Infinity));
    series[`${q.panel} [${q.refId}]`] = /topk/.test(expr)
      ? r.data.result
          .map((s) => s.values.at(-1)!)
          .filter((v) => v[0] === lastStep)
          .map((v) => Number(v[1]).toPrecision(6))
          .sort()
      : r.data.result
          .map((s) => {
            const { job: _j, instance: _i, ...rest } = s.metric;
            return JSON.stringify(Object.entries(rest).sort());
          })
          .sort();
    const numbers = r.data.result.flatMap((s) => s.values.map((p) => Number(p[1]))).filter((x) => Number.isFinite(x));
    if (numbers.length === 0) empty.push(`${q.panel} [${q.refId}]: ${expr}`);
  }
  expect(empty, `${b.name}: panels without data`).toEqual([]);
  for (const [k, v] of Object.entries(series)) expect(v.length, `${b.name}: ${k}`).toBeGreaterThan(0);
  return { found, series };
}

const file = (name: string) => dashboardFiles().find((f) => f.endsWith(name))!;

describe('the Grafana dashboards against Prometheus and rondo serve', () => {
  let prom: PrometheusReceiver;
  const serves: RunningServe[] = [];
  let vmmDir: string | undefined;
  let agentDir: string;

  beforeAll(async () => {
    assertBuilt();
    ensureReceiversInstalled();
    prom = await startPrometheus();
    const started = Date.now();

    // The VMM: a 2-vCPU micro-guest for 5 s with the embedded agent, then pushed.
    if (kvm.ok) {
      vmmDir = suiteTempDir('rondo-dash-vmm-');
      const r = await runVm({ durationMs: 5000, vcpus: 2, storeDir: vmmDir });
      expect(r.endReason).toBe('shutdown');
      const store = Store.open(vmmDir);
      try {
        await pushTo(store, prom.url, { exporter: EXPORTER, externalLabels: { job: 'vmm', instance: 'vm1' }, until: Infinity });
      } finally {
        store.close();
      }
    }

    // The agent's store. A first point in the small ring, so the cursor has a place there.
    agentDir = suiteTempDir('rondo-dash-agent-');
    let store = Store.open(agentDir, { schemas: AGENT_SCHEMAS });
    store.record(store.register('process_resident_memory_bytes', {}, { kind: 'gauge' }), process.memoryUsage().rss, Date.now());
    store.close();
    // rondo serve takes Influx lines, good and bad, and records its figures (every second).
    const writer = await startServe([agentDir, '--listen', '127.0.0.1:0']);
    for (let i = 0; i < 3; i++) {
      await fetch(`${writer.url}/write?db=x`, { method: 'POST', body: `guest,vm=vm1 load=${i}\nguest,vm=vm1 load=oops\n` });
      await new Promise((res) => setTimeout(res, 800));
    }
    await stopServe(writer.child);
    // A first push moves the cursor; then the receiver goes "down" for the agent.
    store = Store.open(agentDir);
    const externalLabels = { job: 'rondo', instance: 'vmm-host' };
    try {
      await pushTo(store, prom.url, { exporter: EXPORTER, externalLabels, until: Infinity });
    } finally {
      store.close();
    }
    const down = await freePort();
    const agent = await Agent.start({
      dir: agentDir,
      remoteWrite: { url: `http://127.0.0.1:${down}/api/v1/write`, exporter: EXPORTER, interval: '1s', maxRetries: 0, timeoutMs: 1000 },
      hooks: [
        {
          name: 'flaky',
          onSample: (s) => {
            if (s.name === 'process_open_fds') throw new Error('flaky hook');
          },
        },
      ],
      onError: () => {},
    });
    await new Promise((res) => setTimeout(res, 8000));
    await agent.stop();
    // Past the interval of the stale markers stop() queued (the interval after the last tick's,
    // at its start): what the pushes record from here is newer than them. (A sample recorded in
    // that interval would go out with the marker's timestamp: "duplicate sample for timestamp".)
    await new Promise((res) => setTimeout(res, 2100));
    // The receiver is back: the push finds the samples the small ring overwrote (lost); a second
    // one, a second later, sends the figures the first recorded (in the interval in progress,
    // which the first did not take).
    store = Store.open(agentDir);
    try {
      const first = await pushTo(store, prom.url, { exporter: EXPORTER, externalLabels });
      expect(first.lost).toBeGreaterThan(0);
      expect(first.dropped).toBe(0);
      await new Promise((res) => setTimeout(res, 1100));
      const second = await pushTo(store, prom.url, { exporter: EXPORTER, externalLabels, until: Infinity });
      expect(second.dropped).toBe(0);
      expect(second.samples).toBeGreaterThan(0);
    } finally {
      store.close();
    }
    // To a minute past now: the figures the last push sent are seconds old, and the VMM's short
    // run needs the lookback for a rate over a subquery's 15 s steps to have two of them.
    window = { start: started - 60_000, end: Date.now() + 60_000 };
  }, 120_000);

  afterAll(async () => {
    for (const s of serves) await stopServe(s.child);
    killServes();
    await prom?.stop();
  });

  async function serveOf(dir: string): Promise<Backend> {
    const s = await startServe([dir, '--listen', '127.0.0.1:0', '--read-only']);
    serves.push(s);
    return { name: 'rondo serve', api: s.url };
  }

  it.skipIf(!kvm.ok)('the VMM view: every panel has data from Prometheus and from rondo serve, and both offer the same vCPUs', async () => {
    const f = file('rondo-vmm.json');
    const p = await checkDashboard({ name: 'Prometheus', api: prom.api }, f);
    const r = await checkDashboard(await serveOf(vmmDir!), f);
    expect(p.found.job).toEqual(['vmm']);
    expect(p.found.instance).toEqual(['vm1']);
    expect(p.found.vcpu).toEqual(['0', '1']);
    expect(r.found.vcpu).toEqual(['0', '1']);
    expect(r.found.job).toEqual([]); // the store's series carry no job: All matches them
    // The same series (lines) on both, job and instance aside.
    expect(r.series).toEqual(p.series);
  }, 60_000);

  it('the agent-health view: every panel has data from Prometheus and from rondo serve, and both offer the same exporters', async () => {
    const f = file('rondo-agent-health.json');
    const p = await checkDashboard({ name: 'Prometheus', api: prom.api }, f);
    const r = await checkDashboard(await serveOf(agentDir), f);
    expect(p.found.job).toContain('rondo');
    expect(p.found.exporter).toEqual([EXPORTER]);
    expect(r.found.exporter).toEqual([EXPORTER]);
    expect(r.series).toEqual(p.series);
  }, 60_000);

  it('the check can fail: a query of a metric the stores do not have finds no data', async () => {
    const b: Backend = { name: 'Prometheus', api: prom.api };
    const r = await queryRange(b, 'rate(rondo_no_such_metric_total[1m])');
    expect(r.data.result).toEqual([]);
    expect(fs.existsSync(agentDir)).toBe(true);
  });
});
