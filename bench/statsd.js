#!/usr/bin/env node
// The StatsD door's intake on loopback: datagrams/s and metric lines/s that `rondo serve
// --statsd` takes without losing any, at a steady send rate stepped up until lines go missing.
//
//   node bench/statsd.js [--quick] [--lines-per-datagram N]...
//
// rondo serve runs in a child process (its own event loop, as in production); this process
// sends counter increments `sS_cI:1|c` (step S, 50 series) at a steady rate for a few seconds
// per step, then asks the server (PromQL over HTTP) for sum(sS_c*_total): the lines it received
// and stored. A step is lossless when that sum equals the lines sent. Shapes: one line per
// datagram (a client without buffering) and 20 lines per datagram (a buffering client such as
// hot-shots with maxBufferSize). Needs a build (npx tsc -p tsconfig.json).
'use strict';
const { spawn } = require('node:child_process');
const dgram = require('node:dgram');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const CLI = path.join(__dirname, '..', 'dist', 'src', 'cli', 'main.js');
const SERIES = 50;

function freeUdpPort() {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.on('error', reject);
    s.bind(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function startServer(dir, statsdPort) {
  const schema = path.join(dir, 'schema.json');
  fs.writeFileSync(schema, JSON.stringify([{ name: 'b', match: {}, maxSeries: 5000, tiers: [{ interval: '1s', retention: '1h' }] }]));
  const child = spawn(process.execPath, [CLI, 'serve', path.join(dir, 'store'), '--listen', '127.0.0.1:0', '--schema', schema, '--statsd', `127.0.0.1:${statsdPort}`], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  const url = await new Promise((resolve, reject) => {
    child.stdout.on('data', (c) => {
      out += c;
      const m = /on (http:\/\/[^,\s]+)/.exec(out);
      if (m) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`rondo serve exited with ${code}`)));
  });
  return { child, url };
}

async function storedLines(url, step) {
  const q = encodeURIComponent(`sum({__name__=~"s${step}_c[0-9]+_total"})`);
  const r = await (await fetch(`${url}/api/v1/query?query=${q}`)).json();
  const v = r.data.result[0];
  return v === undefined ? 0 : Number(v.value[1]);
}

/** Sends `lines` lines at `linesPerSec`, `perDatagram` to a datagram, evenly over each ms. */
async function sendSteady(sock, step, linesPerSec, seconds, perDatagram) {
  const datagramsPerSec = linesPerSec / perDatagram;
  const total = Math.round(datagramsPerSec * seconds);
  const payloads = [];
  for (let i = 0; i < SERIES; i++) {
    let p = '';
    for (let k = 0; k < perDatagram; k++) p += `s${step}_c${(i + k) % SERIES}:1|c\n`;
    payloads.push(Buffer.from(p));
  }
  const start = process.hrtime.bigint();
  let sent = 0;
  let inFlight = 0;
  await new Promise((resolve) => {
    const tick = () => {
      const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
      const due = Math.min(total, Math.floor(elapsed * datagramsPerSec));
      while (sent < due && inFlight < 4096) {
        inFlight++;
        sock.send(payloads[sent % SERIES], () => inFlight--);
        sent++;
      }
      if (sent >= total) resolve();
      else setImmediate(tick);
    };
    tick();
  });
  const took = Number(process.hrtime.bigint() - start) / 1e9;
  while (inFlight > 0) await new Promise((r) => setImmediate(r));
  return { lines: total * perDatagram, datagrams: total, took };
}

async function run(opts = {}) {
  const quick = opts.quick === true;
  const shapes = opts.linesPerDatagram ?? [1, 20];
  const seconds = quick ? 1 : 3;
  const rates = quick ? [20_000, 80_000, 320_000] : [10_000, 20_000, 30_000, 40_000, 50_000, 60_000, 80_000, 120_000, 160_000, 240_000, 320_000, 400_000, 480_000, 640_000, 960_000, 1_280_000];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rondo-bench-statsd-'));
  const port = await freeUdpPort();
  const { child, url } = await startServer(dir, port);
  const sock = dgram.createSocket({ type: 'udp4', sendBufferSize: 8 * 1024 * 1024 });
  // A connected socket: no address to resolve per send (the sender is the limit at one line
  // per datagram).
  await new Promise((resolve) => sock.connect(port, '127.0.0.1', resolve));
  const results = [];
  let step = 0;
  try {
    for (const per of shapes) {
      let best;
      for (const rate of rates) {
        step++;
        const s = await sendSteady(sock, step, rate, seconds, per);
        // The send loop may fall behind the rate asked (this process is the limit then): the
        // rate is what it achieved.
        const achieved = s.lines / s.took;
        // Figures are recorded just after each 1 s interval ends; the count settles.
        let got = -1;
        for (let i = 0; i < 20; i++) {
          await new Promise((r) => setTimeout(r, 500));
          const n = await storedLines(url, step);
          if (n === got && i >= 3) break;
          got = n;
        }
        const lost = s.lines - got;
        const row = { linesPerDatagram: per, askedLinesPerSec: rate, sentLinesPerSec: Math.round(achieved), datagramsPerSec: Math.round(s.datagrams / s.took), lines: s.lines, stored: got, lost };
        results.push(row);
        (opts.progress ?? console.error)(
          `${per} line(s)/datagram: asked ${rate} lines/s, sent ${row.sentLinesPerSec} lines/s (${row.datagramsPerSec} datagrams/s), stored ${got} of ${s.lines}${lost > 0 ? ` (lost ${lost})` : ''}`,
        );
        if (lost > 0) break;
        best = row;
        if (achieved < rate * 0.9) break; // the sender cannot go faster
      }
      if (best !== undefined) results.push({ linesPerDatagram: per, lossless: best });
    }
  } finally {
    sock.close();
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return results;
}

module.exports = { run };

if (require.main === module) {
  const quick = process.argv.includes('--quick');
  const shapes = [];
  for (let i = 2; i < process.argv.length; i++) if (process.argv[i] === '--lines-per-datagram') shapes.push(Number(process.argv[++i]));
  run({ quick, ...(shapes.length > 0 ? { linesPerDatagram: shapes } : {}) }).then(
    (results) => {
      console.log('| lines/datagram | highest step without loss: lines/s | datagrams/s | first step with loss (sent lines/s, lost) |');
      console.log('| --- | --- | --- | --- |');
      for (const per of [...new Set(results.map((r) => r.linesPerDatagram))]) {
        const best = results.find((r) => r.linesPerDatagram === per && r.lossless)?.lossless;
        const loss = results.find((r) => r.linesPerDatagram === per && r.lost > 0);
        console.log(
          `| ${per} | ${best ? best.sentLinesPerSec : '-'} | ${best ? best.datagramsPerSec : '-'} | ${loss ? `${loss.sentLinesPerSec}, ${loss.lost} of ${loss.lines}` : 'none up to the sender\'s limit'} |`,
        );
      }
      console.log(`\n${os.cpus()[0]?.model ?? 'cpu'} × ${os.availableParallelism()}, node ${process.version}`);
    },
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
