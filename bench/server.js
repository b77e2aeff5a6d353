// rondo serve next to Prometheus and VictoriaMetrics holding the same data, on loopback: a
// query_range of 1 h at 15 s over one series (latency), instant queries per second over
// keep-alive connections (autocannon), and remote-write receive (samples per second accepted).
// Each server runs in its own process; this process is the client.
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const autocannon = require('autocannon');
const { Store, pushTo, encodeWriteRequest } = require('../dist/src');
const { compressSnappy } = require('../dist/src/export/snappy');
const { Samples, nowNs, sleep } = require('./lib/harness');
const { startPrometheus, prometheusInstalled, freePort } = require('./lib/prometheus');

const ROOT = path.join(__dirname, '..');
const VM_BIN = '/usr/bin/victoria-metrics';
const SERIES = 10;
const QUERY_SERIES = 'bench_exits_total{vcpu="0",reason="io"}';
const RANGE_EXPR = `rate(${QUERY_SERIES}[1m])`;
const WRITE_SERIES = 100;
const WRITE_STEPS = 20; // samples per series per request: 2000 samples a request

/** Starts a process and waits until `readyUrl` answers 200; resolves with stop(). */
async function startProcess(bin, args, readyUrl, logFile) {
  const log = fs.openSync(logFile, 'a');
  const child = spawn(bin, args, { stdio: ['ignore', log, log] });
  fs.closeSync(log);
  const killOnExit = () => child.kill('SIGKILL');
  process.on('exit', killOnExit);
  const stop = async () => {
    process.off('exit', killOnExit);
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline && child.exitCode === null) {
    try {
      if ((await fetch(readyUrl)).ok) return { stop };
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  await stop();
  throw new Error(`${bin} did not become ready at ${readyUrl}; its log: ${logFile}\n${fs.readFileSync(logFile, 'utf8').slice(-2000)}`);
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

/** One GET over the keep-alive agent: the status and the body. */
function get(url) {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString('utf8') }));
      })
      .on('error', reject);
  });
}

/** One POST of a snappy remote-write body. */
function post(url, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: 'POST',
        agent,
        headers: {
          'Content-Type': 'application/x-protobuf',
          'Content-Encoding': 'snappy',
          'X-Prometheus-Remote-Write-Version': '0.1.0',
          'Content-Length': body.length,
        },
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function autocannonRun(url, seconds) {
  return new Promise((resolve, reject) => {
    autocannon({ url, connections: 8, duration: seconds, pipelining: 1 }, (err, r) => (err ? reject(err) : resolve(r)));
  });
}

/** The `result` of a query_range answer, checked: one series with points. */
function points(body, who) {
  const j = JSON.parse(body);
  if (j.status !== 'success') throw new Error(`${who}: query_range failed: ${body.slice(0, 300)}`);
  return j.data.result.reduce((a, s) => a + s.values.length, 0);
}

async function run({ quick, tmp, progress, prometheus }) {
  const rounds = quick ? 3 : 20;
  const perRound = quick ? 20 : 50;
  const qpsSeconds = quick ? 2 : 8;
  const writeRequests = quick ? 20 : 100;
  const seconds = 70 * 60; // 1 h 10 min of data: the 1 h range and its first rate window
  const cases = [];
  const notes = [];
  const stops = [];

  // The data: 10 counters, a point a second, ending a minute ago.
  const dir = path.join(tmp, 'serve');
  const store = Store.open(dir, {
    schemas: [
      { name: 'bench', match: { __name__: 'bench_exits_total' }, maxSeries: SERIES, tiers: [{ interval: '1s', retention: '2h' }, { interval: '10s', retention: '1d' }] },
      { name: 'written', match: {}, maxSeries: WRITE_SERIES * (rounds + 2), tiers: [{ interval: '1s', retention: '2h' }] },
    ],
  });
  const reasons = ['io', 'mmio', 'hlt', 'shutdown', 'irq'];
  const hs = Array.from({ length: SERIES }, (_, i) => store.register('bench_exits_total', { vcpu: String(i % 2), reason: reasons[Math.floor(i / 2)] }, { kind: 'counter' }));
  const t0 = (Math.floor(Date.now() / 1000) - seconds - 60) * 1000;
  const values = new Float64Array(SERIES);
  for (let s = 0; s < seconds; s++) {
    for (let i = 0; i < SERIES; i++) values[i] = s * (i + 1) * 3 + (s % 7);
    store.recordBatch(t0 + s * 1000, hs, values);
  }
  store.consolidate();
  const end = t0 + seconds * 1000;
  const start = end - 3_600_000;
  const rangeQuery = `/api/v1/query_range?query=${encodeURIComponent(RANGE_EXPR)}&start=${start / 1000}&end=${end / 1000}&step=15`;
  const instantQuery = `/api/v1/query?query=${encodeURIComponent(`sum by (vcpu) (rate(bench_exits_total[1m]))`)}&time=${end / 1000}`;

  const servers = [];
  try {
    // Peers first, while the store is open: push the same samples to each.
    if (prometheus !== false && prometheusInstalled()) {
      progress?.('starting Prometheus');
      const prom = await startPrometheus();
      stops.push(prom.stop);
      const s = await pushTo(store, prom.url, { exporter: 'bench-prom', until: end + 1000 });
      servers.push({ name: `Prometheus ${prom.version}`, short: 'Prometheus', api: prom.api, writeUrl: prom.url, pushed: s.samples });
    } else notes.push('Prometheus was left out (not installed, or --no-prometheus).');
    if (fs.existsSync(VM_BIN)) {
      progress?.('starting VictoriaMetrics');
      const port = await freePort();
      const vmDir = path.join(tmp, 'vm');
      fs.mkdirSync(vmDir);
      const api = `http://127.0.0.1:${port}`;
      const vm = await startProcess(
        VM_BIN,
        [`-httpListenAddr=127.0.0.1:${port}`, `-storageDataPath=${vmDir}`, '-search.latencyOffset=0s', '-retentionPeriod=100y', '-search.disableCache'],
        `${api}/health`,
        path.join(tmp, 'vm.log'),
      );
      stops.push(vm.stop);
      const s = await pushTo(store, `${api}/api/v1/write`, { exporter: 'bench-vm', until: end + 1000 });
      await fetch(`${api}/internal/force_flush`);
      servers.push({ name: 'VictoriaMetrics', short: 'VictoriaMetrics', api, writeUrl: `${api}/api/v1/write`, pushed: s.samples });
    } else notes.push(`VictoriaMetrics was left out: ${VM_BIN} is not installed (Debian package "victoria-metrics").`);
    store.close();

    // rondo serve on the same store, in its own process.
    progress?.('starting rondo serve');
    const port = await freePort();
    const api = `http://127.0.0.1:${port}`;
    const rondo = await startProcess(process.execPath, [path.join(ROOT, 'dist', 'src', 'cli', 'main.js'), 'serve', dir, '--listen', `127.0.0.1:${port}`], `${api}/api/v1/status/buildinfo`, path.join(tmp, 'rondo.log'));
    stops.push(rondo.stop);
    servers.unshift({ name: 'rondo serve', short: 'rondo', api, writeUrl: `${api}/api/v1/write`, rondo: true });

    // Every server answers the range query with the same number of points before timing.
    for (const sv of servers) {
      const r = await get(sv.api + rangeQuery);
      sv.rangePoints = points(r.body, sv.name);
    }

    // 1. query_range latency, one request at a time over one keep-alive connection.
    for (const sv of servers) {
      const s = new Samples();
      cases.push({
        name: sv.rondo ? '`query_range` 1 h at 15 s, one series: rondo serve' : `\`query_range\` 1 h at 15 s, one series: ${sv.name}`,
        kind: sv.rondo ? 'rondo' : 'peer',
        short: sv.short,
        samples: s,
        unit: 'queries/s',
        noRatio: true,
        warm: async () => {
          for (let i = 0; i < perRound; i++) await get(sv.api + rangeQuery);
        },
        round: async () => {
          for (let i = 0; i < perRound; i++) {
            const t = nowNs();
            const r = await get(sv.api + rangeQuery);
            s.add(nowNs() - t, 1);
            if (r.status !== 200) throw new Error(`${sv.name}: query_range answered ${r.status}: ${r.body.slice(0, 200)}`);
          }
        },
      });
    }
    for (let r = 0; r < rounds; r++) {
      for (const c of cases) {
        if (r === 0) await c.warm();
        progress?.(`${c.name} (round ${r + 1}/${rounds})`);
        await c.round();
      }
    }
    const rangeCases = cases.slice();
    const ours = rangeCases[0].samples.summary();
    const versus = rangeCases.slice(1).map((c) => {
      const p = c.samples.summary();
      return `${c.short} ${(p.medianNs / 1e3).toFixed(0)} µs median, ${(p.p99Ns / 1e3).toFixed(0)} µs p99, ${(p.medianNs / ours.medianNs).toFixed(1)}× rondo's median`;
    });
    notes.push(`query_range, median against median: rondo ${(ours.medianNs / 1e3).toFixed(0)} µs median, ${(ours.p99Ns / 1e3).toFixed(0)} µs p99; ${versus.join('; ')}.`);
    notes.push(
      `query_range: \`${RANGE_EXPR}\` over the last hour of ${seconds / 60} minutes of 1 s data, step 15 s (${servers[0].rangePoints} points; every server answered with ${servers.map((s) => s.rangePoints).join(' / ')}), one request at a time over a keep-alive connection, ${rounds} rounds of ${perRound} per server in turn. The time is the whole HTTP round trip on loopback. VictoriaMetrics runs with its response cache off (-search.disableCache), so every answer is computed; Prometheus has none.`,
    );

    // 2. Instant queries per second: autocannon, 8 keep-alive connections, each server alone.
    for (const sv of servers) {
      progress?.(`instant queries/s: ${sv.name}`);
      const r = await autocannonRun(sv.api + instantQuery, qpsSeconds);
      const s = new Samples();
      if (r.non2xx > 0 || r.errors > 0) throw new Error(`${sv.name}: ${r.non2xx} non-2xx answers and ${r.errors} errors under load`);
      // One sample per request at the mean latency; the throughput is autocannon's count over the run.
      s.add(r.duration * 1e9, r.requests.total);
      sv.qps = r.requests.total / r.duration;
      sv.qpsLatency = r.latency;
      cases.push({
        name: sv.rondo ? 'instant queries, 8 keep-alive connections: rondo serve' : `instant queries, 8 keep-alive connections: ${sv.name}`,
        kind: sv.rondo ? 'rondo' : 'peer',
        short: sv.short,
        samples: s,
        unit: 'queries/s',
        noRatio: true,
      });
    }
    notes.push(
      `Instant queries: \`sum by (vcpu) (rate(bench_exits_total[1m]))\` at one time, from autocannon (8 connections, ${qpsSeconds} s per server, in this process): ${servers.map((s) => `${s.name} ${Math.round(s.qps)} queries/s (latency p50 ${s.qpsLatency.p50} ms, p99 ${s.qpsLatency.p99} ms)`).join('; ')}.`,
    );

    // 3. Remote-write receive: requests of 100 series × 20 samples, one at a time.
    const wt0 = (Math.floor(Date.now() / 1000) - 3600) * 1000;
    const samplesPerRequest = WRITE_SERIES * WRITE_STEPS;
    let round = 0;
    for (const sv of servers) {
      const s = new Samples();
      // Each server gets the requests once, with its own round label so series are new to it.
      round++;
      const relabelled = Array.from({ length: writeRequests }, (_, q) => {
        const series = [];
        for (let i = 0; i < WRITE_SERIES; i++) {
          const timestamps = [];
          const vals = [];
          for (let k = 0; k < WRITE_STEPS; k++) {
            timestamps.push(wt0 + (q * WRITE_STEPS + k) * 1000);
            vals.push(q * WRITE_STEPS + k + i);
          }
          series.push({ name: 'bench_written', labels: { series: String(i), server: String(round) }, kind: 'gauge', timestamps, values: vals });
        }
        return compressSnappy(encodeWriteRequest(series));
      });
      progress?.(`remote-write receive: ${sv.name}`);
      for (const body of relabelled) {
        const t = nowNs();
        const r = await post(sv.writeUrl, body);
        s.add(nowNs() - t, 1, samplesPerRequest);
        if (r.status >= 300) throw new Error(`${sv.name}: remote-write answered ${r.status}: ${r.body.slice(0, 200)}`);
      }
      cases.push({
        name: sv.rondo ? 'remote-write receive, 2000 samples a request: rondo serve' : `remote-write receive, 2000 samples a request: ${sv.name}`,
        kind: sv.rondo ? 'rondo' : 'peer',
        short: sv.short,
        samples: s,
        unit: 'samples/s',
        noRatio: true,
      });
    }
    notes.push(
      `Remote-write receive: ${writeRequests} requests of ${WRITE_SERIES} series × ${WRITE_STEPS} samples (snappy protobuf, made before timing), sent one at a time over a keep-alive connection to each server in turn; per request, the time until the answer; throughput in samples per second accepted.`,
    );
  } finally {
    for (const stop of stops.reverse()) await stop();
    if (!store.isClosed) store.close();
  }
  return { id: 'server', title: 'Serving (rondo serve next to Prometheus and VictoriaMetrics)', unit: 'µs', perOp: 'request', cases, notes };
}

module.exports = { run };
