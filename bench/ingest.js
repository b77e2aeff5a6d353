// Influx line protocol in, InfluxQL out: `rondo serve` next to a real InfluxDB 1.x (Debian's
// influxd) and VictoriaMetrics, on loopback, each in its own process and fed the same bytes.
//
//   TCP   points stored per second over newline-framed line protocol: rondo's --influx-tcp and
//         VictoriaMetrics's -influxListenAddr (InfluxDB 1.x has no TCP line-protocol listener).
//   HTTP  points stored per second from POST /write batches of 5000 lines, several connections:
//         rondo, InfluxDB and VictoriaMetrics.
//   UDP   the highest steady send rate stored without loss, stepping the rate up until datagrams
//         are lost: rondo's --influx-udp, InfluxDB's [[udp]] listener, VictoriaMetrics.
//   /query  `SELECT mean(x) FROM m WHERE time > now() - 1h GROUP BY time(1m)` over 1 h of 1 s
//         data of 30 series: latency, rondo against InfluxDB.
//
// A point is one field value. Every receiver's figure counts what it stored, read back after the
// timing (rondo and VictoriaMetrics: PromQL count_over_time over the batch's seconds; InfluxDB:
// InfluxQL count(*)), so a point refused or lost is not a point per second. Each figure starts
// its receivers afresh (a process each, a new data directory) and runs them in rounds, every
// receiver in turn each round; a round's figure is one sample, and the table gives the median.
'use strict';
const dgram = require('node:dgram');
const http = require('node:http');
const net = require('node:net');
const path = require('node:path');
const { Samples, nowNs, sleep } = require('./lib/harness');
const { missing, startInfluxd, startVictoriaMetrics, startRondo, rondoHas, freePort, freeUdpPort } = require('./lib/peers');

const MEASUREMENT = 'bench';
const FIELDS = 10;
const BATCH_LINES = 5000;
const CONNECTIONS = 4;

/** The store rondo serve gets for the ingest figures: a 1 s tier holding every round of a figure
 *  and a consolidated 1 min tier, as a VMM host keeps them; room for the series and its own figures. */
function ingestSchemas(series) {
  return [{ name: 'bench', match: {}, maxSeries: series * FIELDS + 500, tiers: [{ interval: '1s', retention: '1h' }, { interval: '1m', retention: '1d' }] }];
}

// ---- the data ----

/**
 * The lines of rounds [from, to) of `series` series × FIELDS fields, round k at t0s + k seconds
 * (ns timestamps, InfluxDB's default precision): one line per series per round, tags host, rack
 * and dc; fields f0–f6 floats, f7–f9 integers.
 */
function linesOf(series, from, to, t0s) {
  const tags = Array.from({ length: series }, (_, i) => `${MEASUREMENT},host=host${String(i).padStart(4, '0')},rack=rack${String(i % 40).padStart(2, '0')},dc=dc${i % 4} `);
  const out = [];
  for (let k = from; k < to; k++) {
    const ts = `${t0s + k}000000000`;
    for (let i = 0; i < series; i++) {
      const a = (i * 31 + k * 7) % 10000;
      out.push(
        `${tags[i]}f0=${a / 100},f1=${(a * 3) % 10000 / 100},f2=${(a + 17) % 1000 / 10},f3=${a % 97 + 0.25},f4=${(k % 60) + 0.5},f5=${(i % 13) / 4},f6=${a / 7 | 0}.75,f7=${a}i,f8=${k}i,f9=${(i * k) % 100000}i ${ts}\n`,
      );
    }
  }
  return out;
}

/** Rounds [from, to) as batches of BATCH_LINES lines (Buffers), made before timing. */
function batchesOf(series, from, to, t0s) {
  const lines = linesOf(series, from, to, t0s);
  const out = [];
  for (let i = 0; i < lines.length; i += BATCH_LINES) out.push(Buffer.from(lines.slice(i, i + BATCH_LINES).join('')));
  return out;
}

// ---- sending ----

/**
 * Writes `batches` over `connections` TCP connections, dealt in order, honouring backpressure,
 * then half-closes each; resolves when the receiver has closed every connection, which it does
 * once it has read to the end of the stream and taken every line (VictoriaMetrics waits for its
 * parsing workers before closing; rondo's counter is also watched, see ingestFigure).
 */
async function sendTcp(port, batches, connections) {
  let next = 0;
  const one = () =>
    new Promise((resolve, reject) => {
      const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
      s.setNoDelay(true);
      s.on('error', reject);
      s.on('close', resolve);
      s.resume(); // nothing is answered, but read to the end
      s.on('connect', () => {
        const pump = () => {
          while (next < batches.length) {
            if (!s.write(batches[next++])) return void s.once('drain', pump);
          }
          s.end();
        };
        pump();
      });
    });
  await Promise.all(Array.from({ length: connections }, one));
}

/** POSTs `batches` to `url` over `connections` keep-alive connections; resolves when every
 *  answer is in, rejects on an answer that is not 2xx. */
async function sendHttp(url, batches, connections, agent) {
  let next = 0;
  const post = (body) =>
    new Promise((resolve, reject) => {
      const req = http.request(url, { method: 'POST', agent, headers: { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': body.length } }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => (res.statusCode >= 300 ? reject(new Error(`${url} answered ${res.statusCode}: ${Buffer.concat(chunks).toString('utf8').slice(0, 300)}`)) : resolve()));
      });
      req.on('error', reject);
      req.end(body);
    });
  const worker = async () => {
    while (next < batches.length) await post(batches[next++]);
  };
  await Promise.all(Array.from({ length: connections }, worker));
}

// ---- reading back ----

async function text(url, init) {
  const r = await fetch(url, init);
  const body = await r.text();
  if (!r.ok) throw new Error(`${url.split('?')[0]} answered ${r.status}: ${body.slice(0, 300)}`);
  return body;
}

/** The sum of the samples of `name` on a Prometheus-format /metrics page whose labels match `labels`. */
async function metricSum(api, name, labels) {
  const page = await text(`${api}/metrics`);
  let sum = 0;
  for (const line of page.split('\n')) {
    if (!line.startsWith(name) || (line[name.length] !== '{' && line[name.length] !== ' ')) continue;
    if (labels !== undefined && !labels.test(line)) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/**
 * Polls `count()` (a counter of points taken in) every 5 ms until it reaches `target`, or has not
 * moved for `stallMs`; resolves with the hrtime (ns) at which it last moved.
 */
async function waitCounter(count, target, stallMs = 1500) {
  let last = await count();
  let lastAt = nowNs();
  while (last < target) {
    await sleep(5);
    const c = await count();
    if (c !== last) {
      last = c;
      lastAt = nowNs();
    } else if (nowNs() - lastAt > stallMs * 1e6) break;
  }
  return lastAt;
}

/** Points of MEASUREMENT's fields stored at seconds [fromS, toS] (PromQL, rondo and
 *  VictoriaMetrics), a query per field: series `<measurement>_<field>`. */
async function promCount(api, fromS, toS, measurement = MEASUREMENT, fields = FIELDS) {
  let n = 0;
  for (let f = 0; f < fields; f++) {
    // A window of (to - from) s + 500 ms: every second from..to, whether the window is open or
    // closed on the left (Prometheus 2.x and rondo close it, VictoriaMetrics opens it).
    const q = `sum(count_over_time(${measurement}_f${f}[${(toS - fromS) * 1000 + 500}ms]))`;
    const j = JSON.parse(await text(`${api}/api/v1/query?query=${encodeURIComponent(q)}&time=${toS}`));
    if (j.status !== 'success') throw new Error(`${api}: ${q}: ${JSON.stringify(j).slice(0, 300)}`);
    n += j.data.result.length === 0 ? 0 : Number(j.data.result[0].value[1]);
  }
  return n;
}

/** Points of MEASUREMENT stored at seconds [fromS, toS] in InfluxDB's database `db`. */
async function influxCount(api, db, fromS, toS, measurement = MEASUREMENT) {
  const q = `SELECT count(*) FROM "${measurement}" WHERE time >= ${fromS}s AND time <= ${toS}s`;
  const j = JSON.parse(await text(`${api}/query?db=${db}&q=${encodeURIComponent(q)}`));
  const s = j.results?.[0]?.series?.[0];
  if (j.results?.[0]?.error) throw new Error(`${api}: ${q}: ${j.results[0].error}`);
  if (s === undefined) return 0;
  return s.values[0].slice(1).reduce((a, v) => a + (v ?? 0), 0);
}

async function createDatabase(api, db) {
  await text(`${api}/query`, { method: 'POST', body: new URLSearchParams({ q: `CREATE DATABASE "${db}"` }) });
}

// ---- the figures ----

/** Rounds of a figure: `warm` untimed rounds of `per` batch rounds, then `reps` timed ones. */
function plan(quick) {
  return quick ? { series: 1000, per: 20, reps: 3 } : { series: 1000, per: 100, reps: 5 };
}

/**
 * Ingest points/s over TCP or HTTP: receivers started afresh, one untimed rep (series created,
 * code warmed), then `reps` timed reps, receivers in turn. Each rep's figure: points read back ÷
 * the time from the first byte sent until the receiver took the last (HTTP: the last answer;
 * TCP, which answers nothing: its points-taken counter stopping at the rep's total).
 */
async function ingestFigure({ door, quick, tmp, progress, cases, notes, skipped }) {
  const { series, per, reps } = plan(quick);
  const pointsPerRound = series * FIELDS;
  const t0s = Math.floor(Date.now() / 1000) - 3000;
  const receivers = [];
  const stops = [];
  const dir = (n) => path.join(tmp, `ingest-${door}-${n}`);
  try {
    // rondo serve, when this build has the door.
    const flag = door === 'tcp' ? '--influx-tcp' : undefined;
    if (flag !== undefined && !rondoHas(flag)) skipped.push(`rondo serve over ${door.toUpperCase()}: this build of rondo serve has no ${flag}`);
    else if (door === 'http' && !(await rondoWrites(tmp))) skipped.push('rondo serve over HTTP: this build of rondo serve has no POST /write');
    else {
      progress?.(`${door}: starting rondo serve`);
      const extra = [];
      let port;
      if (door === 'tcp') {
        port = await freePort();
        extra.push('--influx-tcp', `127.0.0.1:${port}`);
      }
      const r = await startRondo(dir('rondo'), ingestSchemas(series), extra);
      stops.push(r.stop);
      receivers.push({
        ...r,
        send: door === 'tcp' ? (b) => sendTcp(port, b, CONNECTIONS) : (b, agent) => sendHttp(`${r.api}/write?db=bench`, b, CONNECTIONS, agent),
        taken: door === 'tcp' ? () => metricSum(r.api, 'rondo_ingest_points_total', /protocol="influx_tcp"/) : undefined,
        count: (a, b) => promCount(r.api, a, b),
      });
    }
    if (door === 'http') {
      const why = missing('influxd');
      if (why) skipped.push(`InfluxDB: ${why}`);
      else {
        progress?.(`${door}: starting InfluxDB`);
        const x = await startInfluxd(dir('influxd'));
        stops.push(x.stop);
        await createDatabase(x.api, 'bench');
        receivers.push({ ...x, send: (b, agent) => sendHttp(`${x.api}/write?db=bench`, b, CONNECTIONS, agent), count: (a, b) => influxCount(x.api, 'bench', a, b) });
      }
    }
    const whyVm = missing('victoria-metrics');
    if (whyVm) skipped.push(`VictoriaMetrics: ${whyVm}`);
    else {
      progress?.(`${door}: starting VictoriaMetrics`);
      const v = await startVictoriaMetrics(dir('vm'), { influx: door === 'tcp' });
      stops.push(v.stop);
      receivers.push({
        ...v,
        send: door === 'tcp' ? (b) => sendTcp(v.influxPort, b, CONNECTIONS) : (b, agent) => sendHttp(`${v.api}/write?db=bench`, b, CONNECTIONS, agent),
        count: async (a, b) => {
          await v.flush();
          return promCount(v.api, a, b);
        },
      });
    }
    if (receivers.length === 0) return;

    for (const rc of receivers) {
      rc.samples = new Samples();
      rc.agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
      rc.sent = 0;
      rc.stored = 0;
    }
    for (let rep = 0; rep <= reps; rep++) {
      const from = rep * per;
      const to = from + per;
      const batches = batchesOf(series, from, to, t0s);
      const points = (to - from) * pointsPerRound;
      for (const rc of receivers) {
        progress?.(`${door}: ${rc.name} (${rep === 0 ? 'warm-up' : `rep ${rep}/${reps}`})`);
        const before = rc.taken ? await rc.taken() : 0;
        // New connections each rep: a keep-alive connection left idle while the other receivers
        // took their turn may be closed by the server just as it is reused.
        rc.agent.destroy();
        rc.agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
        const t = nowNs();
        try {
          await rc.send(batches, rc.agent);
        } catch (e) {
          throw new Error(`${door}: ${rc.name}: ${e.message}`);
        }
        // TCP answers nothing: the receiver closing the connection, and rondo's counter of
        // points taken reaching the rep's total (it moves as lines are recorded), end the time.
        const closed = nowNs();
        const end = rc.taken ? Math.max(closed, await waitCounter(rc.taken, before + points)) : closed;
        const ns = end - t;
        const stored = await rc.count(t0s + from, t0s + to - 1);
        if (rep === 0) continue;
        rc.sent += points;
        rc.stored += stored;
        rc.samples.add(ns, batches.length, stored);
      }
    }
    const what = door === 'tcp' ? 'Influx line protocol over TCP' : 'HTTP `/write`, batches of 5000 lines';
    for (const rc of receivers) {
      rc.agent.destroy();
      cases.push({
        name: `${what}: ${rc.name}`,
        kind: rc.rondo ? 'rondo' : 'peer',
        short: rc.short,
        door,
        samples: rc.samples,
        unit: 'points/s',
        noRatio: true,
        sent: rc.sent,
        stored: rc.stored,
      });
    }
    notes.push(
      `${door === 'tcp' ? 'TCP' : 'HTTP'}: ${series} series × ${FIELDS} fields (${series} lines a second of data, ${pointsPerRound} points), ${per} seconds of data a rep (${per * pointsPerRound} points, ${per * series / BATCH_LINES} batches of ${BATCH_LINES} lines, about ${Math.round(batchesOf(series, 0, 5, t0s)[0].length / 1024)} KiB each), dealt over ${CONNECTIONS} connections; one untimed rep, then ${reps} timed, the receivers in turn. Stored, read back, of sent: ${receivers.map((rc) => `${rc.short} ${rc.stored} of ${rc.sent}`).join('; ')}.`,
    );
  } finally {
    for (const stop of stops.reverse()) await stop();
  }
}

/** Whether this build's rondo serve answers POST /write (a 2xx or a 4xx that is not 404). */
let writesKnown;
async function rondoWrites(tmp) {
  if (writesKnown !== undefined) return writesKnown;
  const r = await startRondo(path.join(tmp, 'probe-write'), ingestSchemas(1));
  try {
    const res = await fetch(`${r.api}/write?db=probe`, { method: 'POST', body: `probe v=1 ${Date.now()}000000\n` });
    writesKnown = res.status !== 404 && res.status !== 405;
  } finally {
    await r.stop();
  }
  return writesKnown;
}

// ---- UDP ----

/**
 * Sends `datagrams` at `rate` datagrams/s from one socket, paced by the millisecond; resolves
 * with the seconds it took.
 */
async function sendPaced(port, datagrams, rate) {
  const sock = dgram.createSocket('udp4');
  sock.on('error', () => undefined);
  await new Promise((resolve) => sock.connect(port, '127.0.0.1', resolve));
  const t = nowNs();
  let sent = 0;
  await new Promise((resolve) => {
    const tick = () => {
      const due = Math.min(datagrams.length, Math.floor(((nowNs() - t) / 1e9) * rate) + 1);
      while (sent < due) sock.send(datagrams[sent++]);
      if (sent >= datagrams.length) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });
  const seconds = (nowNs() - t) / 1e9;
  await new Promise((resolve) => sock.close(resolve));
  return seconds;
}

const UDP_READ_BUFFER = 8 * 1024 * 1024;

/** count() once it reaches `target`, or has not moved for 300 ms (polled every 100 ms, 20 s at most). */
async function settled(count, target) {
  let last = -1;
  let lastAt = Date.now();
  const deadline = Date.now() + 20_000;
  for (;;) {
    const c = await count();
    if (c >= target) return c;
    if (c !== last) {
      last = c;
      lastAt = Date.now();
    } else if (Date.now() - lastAt >= 300 || Date.now() > deadline) return c;
    await sleep(100);
  }
}

async function udpFigure({ quick, tmp, progress, cases, notes, skipped }) {
  const series = 1000;
  const perDatagram = 10; // lines: 100 points, about 1.5 KB, one Ethernet frame's worth of Telegraf's udp_payload
  const rates = quick ? [50e3, 400e3, 3.2e6] : [25e3, 50e3, 100e3, 200e3, 400e3, 800e3, 1.6e6, 3.2e6];
  const seconds = quick ? 0.5 : 2;
  const reps = quick ? 1 : 2;
  const pointsPerRound = series * FIELDS;
  const receivers = [];
  const stops = [];
  const dir = (n) => path.join(tmp, `ingest-udp-${n}`);
  try {
    if (!rondoHas('--influx-udp')) skipped.push('rondo serve over UDP: this build of rondo serve has no --influx-udp');
    else {
      progress?.('udp: starting rondo serve');
      const port = await freeUdpPort();
      const r = await startRondo(dir('rondo'), ingestSchemas(series), ['--influx-udp', `127.0.0.1:${port}`]);
      stops.push(r.stop);
      receivers.push({ ...r, port, count: (a, b) => promCount(r.api, a, b) });
    }
    const why = missing('influxd');
    if (why) skipped.push(`InfluxDB over UDP: ${why}`);
    else {
      progress?.('udp: starting InfluxDB');
      // The read buffer rondo asks for its UDP socket (8 MiB, as far as net.core.rmem_max allows).
      const x = await startInfluxd(dir('influxd'), { udp: { database: 'udp', readBuffer: UDP_READ_BUFFER } });
      stops.push(x.stop);
      await createDatabase(x.api, 'udp');
      receivers.push({ ...x, port: x.udpPort, count: (a, b) => influxCount(x.api, 'udp', a, b) });
    }
    const whyVm = missing('victoria-metrics');
    if (whyVm) skipped.push(`VictoriaMetrics over UDP: ${whyVm}`);
    else {
      progress?.('udp: starting VictoriaMetrics');
      const v = await startVictoriaMetrics(dir('vm'), { influx: true });
      stops.push(v.stop);
      receivers.push({
        ...v,
        port: v.influxPort,
        count: async (a, b) => {
          await v.flush();
          return promCount(v.api, a, b);
        },
      });
    }
    if (receivers.length === 0) return;

    // Seconds of data: every step of every rep has its own, so each is counted on its own.
    const stepRounds = rates.map((r) => Math.max(1, Math.round((r * seconds) / pointsPerRound)));
    const total = 1 + stepRounds.reduce((a, b) => a + b, 0) * reps;
    // All of it inside the last hour (the store's finest ring): 1275 seconds of data a full rep.
    const t0s = Math.floor(Date.now() / 1000) - Math.max(total + 60, 600);
    if (total + 60 > 3500) throw new Error(`udp: ${total} seconds of data would not fit the last hour`);
    let k = 0;
    const datagramsOf = (from, to) => {
      const lines = linesOf(series, from, to, t0s);
      const out = [];
      for (let i = 0; i < lines.length; i += perDatagram) out.push(Buffer.from(lines.slice(i, i + perDatagram).join('')));
      return out;
    };
    // A warm-up: one round at the lowest rate (series created), not counted, until all stored.
    for (const rc of receivers) {
      await sendPaced(rc.port, datagramsOf(k, k + 1), rates[0] / (perDatagram * FIELDS));
      await settled(() => rc.count(t0s + k, t0s + k), pointsPerRound);
      rc.steps = rates.map(() => []);
      rc.samples = new Samples();
    }
    k += 1;
    for (let rep = 0; rep < reps; rep++) {
      const done = new Set();
      for (let s = 0; s < rates.length; s++) {
        const from = k;
        const to = k + stepRounds[s];
        k = to;
        const dgs = datagramsOf(from, to);
        const points = dgs.length * perDatagram * FIELDS;
        for (const rc of receivers) {
          if (done.has(rc)) continue;
          progress?.(`udp: ${rc.name} at ${rates[s] / 1e3} k points/s (rep ${rep + 1}/${reps})`);
          const took = await sendPaced(rc.port, dgs, rates[s] / (perDatagram * FIELDS));
          const sentAt = nowNs();
          // What was received is in the socket's buffer or stored: counted once the count stops moving.
          const stored = await settled(() => rc.count(t0s + from, t0s + to - 1), points);
          rc.steps[s].push({ sentRate: points / took, stored, points, took, drainMs: (nowNs() - sentAt) / 1e6 });
          if (stored < points * 0.95) done.add(rc); // well past the loss point: no higher step
        }
      }
    }
    for (const rc of receivers) {
      // Per rep, the highest step with nothing lost below or at it.
      const lossless = [];
      for (let rep = 0; rep < reps; rep++) {
        let best;
        for (let s = 0; s < rates.length; s++) {
          const st = rc.steps[s][rep];
          if (st === undefined || st.stored < st.points) break;
          best = st;
        }
        if (best !== undefined) rc.samples.add(best.took * 1e9, 1, best.stored);
        lossless.push(best);
      }
      if (rc.samples.units === 0) {
        // Lost datagrams even at the lowest rate: what it stored at that rate, said in the notes.
        for (const st of rc.steps[0]) rc.samples.add(st.took * 1e9, 1, st.stored);
      }
      cases.push({ name: `UDP, highest steady rate stored without loss: ${rc.name}`, kind: rc.rondo ? 'rondo' : 'peer', short: rc.short, door: 'udp', samples: rc.samples, unit: 'points/s', noRatio: true, steps: rc.steps });
    }
    const pct = (st) => `${((100 * st.stored) / st.points).toFixed(st.stored === st.points ? 0 : 2)}%`;
    notes.push(
      `UDP: datagrams of ${perDatagram} lines (${perDatagram * FIELDS} points, about ${Math.round(datagramsOf(0, 1)[0].length)} bytes) from one socket, paced by the millisecond at steady rates of ${rates.map((r) => `${r / 1e3}k`).join(', ')} points/s, ${seconds} s a step (${reps} rep${reps > 1 ? 's' : ''}; a receiver that lost over 5% at a step is not sent the higher ones). Stored share per step and rep: ${receivers
        .map((rc) => `${rc.short} ${rates.map((r, s) => `${r / 1e3}k: ${rc.steps[s].length ? rc.steps[s].map(pct).join('/') : 'not sent'}`).join(', ')}`)
        .join('; ')}. Each socket's receive buffer: rondo asks for 8 MiB, InfluxDB is configured with read-buffer = 8 MiB, VictoriaMetrics keeps the system's default; the kernel caps them at net.core.rmem_max (${rmemMax()}). A step is counted once the receiver's count stops moving, so datagrams still in a buffer when the step ends are not lost: a step's rate held for its ${seconds} s, buffer included. The figure is the highest step with nothing lost at it or below (median over reps), at the rate the sender achieved; the sender reached ${receivers.map((rc) => `${(Math.max(...rc.steps.flat().map((st) => st.sentRate)) / 1e6).toFixed(2)} M points/s`).join(' / ')} at its highest step.`,
    );
  } finally {
    for (const stop of stops.reverse()) await stop();
  }
}

function rmemMax() {
  try {
    return `${require('node:fs').readFileSync('/proc/sys/net/core/rmem_max', 'utf8').trim()} bytes here`;
  } catch {
    return 'unknown here';
  }
}

// ---- InfluxQL ----

const IQL = 'SELECT mean(x) FROM m WHERE time > now() - 1h GROUP BY time(1m)';

async function iqlFigure({ quick, tmp, progress, cases, notes, skipped }) {
  const queries = quick ? 20 : 40;
  const rounds = quick ? 3 : 6;
  const servers = [];
  const stops = [];
  const dir = (n) => path.join(tmp, `iql-${n}`);
  let rondoInProcess = false;
  try {
    // 1 h and 1 min of 1 s data, 30 series, ending a second ago: the same lines to each (precision s).
    const end = Math.floor(Date.now() / 1000) - 1;
    const lines = [];
    for (let t = end - 3660; t <= end; t++) for (let i = 0; i < 30; i++) lines.push(`m,host=h${String(i).padStart(2, '0')},region=r${i % 3} x=${((t * 7 + i * 13) % 1000) / 8} ${t}\n`);
    const batches = [];
    for (let i = 0; i < lines.length; i += BATCH_LINES) batches.push(Buffer.from(lines.slice(i, i + BATCH_LINES).join('')));
    const schemas = [{ name: 'iql', match: {}, maxSeries: 256, tiers: [{ interval: '1s', retention: '2h' }, { interval: '10s', retention: '6h' }, { interval: '5m', retention: '7d' }] }];
    if (!(await rondoQueries(tmp))) skipped.push('InfluxQL on rondo serve: this build of rondo serve has no /query');
    else {
      if (!(await rondoWrites(tmp))) {
        // No /write door in this build: the store is written in this process through
        // ingestInflux(), the routine the door calls, before rondo serve opens it.
        const { Store } = require('../dist/src');
        const { ingestInflux } = require('../dist/src/ingest');
        const store = Store.open(path.join(dir('rondo'), 'store'), { schemas });
        for (const b of batches) ingestInflux(store, b, { precision: 's' });
        store.close();
        rondoInProcess = true;
      }
      progress?.('influxql: starting rondo serve');
      const r = await startRondo(dir('rondo'), schemas);
      stops.push(r.stop);
      servers.push(r);
    }
    const why = missing('influxd');
    if (why) skipped.push(`InfluxQL on InfluxDB: ${why}`);
    else {
      progress?.('influxql: starting InfluxDB');
      const x = await startInfluxd(dir('influxd'));
      stops.push(x.stop);
      await createDatabase(x.api, 'bench');
      servers.push(x);
    }
    if (servers.length === 0) return;
    for (const sv of servers) {
      if (sv.rondo && rondoInProcess) continue;
      progress?.(`influxql: writing 1 h to ${sv.name}`);
      await sendHttp(`${sv.api}/write?db=bench&precision=s`, batches, 2, new http.Agent({ keepAlive: true, maxSockets: 2 }));
    }
    await sleep(1500); // rondo consolidates its tiers every second
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const url = (sv) => `${sv.api}/query?db=bench&q=${encodeURIComponent(IQL)}`;
    const get = (u) =>
      new Promise((resolve, reject) => {
        http
          .get(u, { agent }, (res) => {
            const chunks = [];
            res.on('data', (c) => chunks.push(c));
            res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString('utf8') }));
          })
          .on('error', reject);
      });
    for (const sv of servers) {
      const r = await get(url(sv));
      const vals = JSON.parse(r.body).results?.[0]?.series?.[0]?.values;
      if (r.status !== 200 || !Array.isArray(vals)) throw new Error(`${sv.name}: ${IQL}: ${r.status} ${r.body.slice(0, 300)}`);
      sv.buckets = vals.length;
      sv.answer = new Map(vals.map(([t, v]) => [t, v]));
      sv.samples = new Samples();
    }
    // The answers compared, bucket by bucket, where both have one, but for the first: the minute
    // `now() - 1h` falls in is partly covered, and each server read its own now().
    let compared = 0;
    let worst = 0;
    if (servers.length === 2) {
      const [a, b] = servers;
      const first = [...a.answer.keys(), ...b.answer.keys()].sort()[0];
      for (const [t, v] of a.answer) {
        const w = b.answer.get(t);
        if (t === first) continue;
        if (w === undefined || v === null || w === null) continue;
        compared++;
        worst = Math.max(worst, Math.abs(v - w) / Math.max(Math.abs(w), 1e-300));
      }
    }
    for (let round = 0; round < rounds; round++)
      for (const sv of servers) {
        progress?.(`influxql: ${sv.name} (round ${round + 1}/${rounds})`);
        for (let i = 0; i < queries; i++) {
          const t = nowNs();
          const r = await get(url(sv));
          sv.samples.add(nowNs() - t, 1);
          if (r.status !== 200) throw new Error(`${sv.name}: ${IQL}: ${r.status} ${r.body.slice(0, 300)}`);
        }
      }
    for (const sv of servers)
      cases.push({ name: `InfluxQL \`GROUP BY time(1m)\` over 1 h of 1 s data, 30 series: ${sv.name}`, kind: sv.rondo ? 'rondo' : 'peer', short: sv.short, door: 'query', samples: sv.samples, unit: 'queries/s', noRatio: true });
    notes.push(
      `InfluxQL: \`${IQL}\` on 30 series (tags host, region) of 1 s data written through each server's /write (precision s, 1 h and 1 min of it), one query at a time over a keep-alive connection, ${rounds} rounds of ${queries} per server in turn; the time is the whole HTTP round trip. Buckets answered: ${servers.map((sv) => `${sv.short} ${sv.buckets}`).join(', ')}${compared > 0 ? `; past the first (partial) minute, ${compared} buckets in both, ${worst <= 1e-9 ? 'equal within 1e-9 relative' : `the largest relative difference ${worst.toExponential(1)}`}` : ''}.${rondoInProcess ? ' (This build of rondo serve has no /write: its store was written in the bench\'s process through ingestInflux(), the routine /write calls, before rondo serve opened it.)' : ''} rondo's store has the default tiers but a 2 h finest ring (1 s for 2 h, 10 s for 6 h, 5 min for 7 d).`,
    );
    agent.destroy();
  } finally {
    for (const stop of stops.reverse()) await stop();
  }
}

/** Whether this build's rondo serve answers InfluxQL on /query. */
let queriesKnown;
async function rondoQueries(tmp) {
  if (queriesKnown !== undefined) return queriesKnown;
  const r = await startRondo(path.join(tmp, 'probe-query'), ingestSchemas(1));
  try {
    const res = await fetch(`${r.api}/query?q=${encodeURIComponent('SHOW DATABASES')}`);
    queriesKnown = res.status === 200;
  } finally {
    await r.stop();
  }
  return queriesKnown;
}

// ---- the group ----

async function run({ quick, tmp, progress }) {
  const cases = [];
  const notes = [];
  const skipped = [];
  const ctx = { quick, tmp, progress, cases, notes, skipped };
  await ingestFigure({ ...ctx, door: 'tcp' });
  await ingestFigure({ ...ctx, door: 'http' });
  await udpFigure(ctx);
  await iqlFigure(ctx);
  notes.unshift(
    'A point is one field value. Each figure starts its receivers afresh, each in its own process and data directory, and sends each the same bytes (made before timing); what each stored is read back after the timing (rondo and VictoriaMetrics: PromQL `count_over_time` over the seconds sent; InfluxDB: `SELECT count(*)`), and points per second are points stored. InfluxDB 1.x has no TCP line-protocol listener (its TCP listeners are Graphite and OpenTSDB), so it takes part over HTTP and UDP only.',
  );
  notes.push('The client (this process) shares the machine\'s cores with the receivers: rondo serve is one JavaScript thread; InfluxDB and VictoriaMetrics use every core.');
  for (const s of skipped) {
    notes.push(`Left out: ${s}.`);
    process.stderr.write(`bench: ingest: skipped: ${s}\n`);
  }
  return { id: 'ingest', title: 'Ingest (Influx line protocol) and InfluxQL, next to InfluxDB and VictoriaMetrics', unit: 'µs', perOp: 'batch or query', cases, notes, pairs: pairsOf(cases) };
}

/** For each figure measured on rondo and on peers: rondo's case beside each peer's. */
function pairsOf(cases) {
  const pairs = [];
  for (const door of ['tcp', 'http', 'udp', 'query']) {
    const ours = cases.find((c) => c.door === door && c.kind === 'rondo');
    if (ours) for (const peer of cases.filter((c) => c.door === door && c.kind === 'peer')) pairs.push({ figure: ours.name.slice(0, ours.name.lastIndexOf(': ')), ours, peer });
  }
  return pairs;
}

module.exports = { run, linesOf, IQL };
