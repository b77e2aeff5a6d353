// A quick measurement of the export path (the full suite with peers is bench/'s later work):
// encode + snappy of remote-write batches, the exporter in front of it, and a push to a real
// Prometheus on loopback. Run: npm run build:ts && node bench/export-quick.js
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { compress } = require('snappyjs');
const { Store, encodeWriteRequest } = require('../dist/src');

const ROUNDS = Number(process.env.ROUNDS ?? 7);
const SERIES = 30;
const SECONDS = 3600;

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rondo-bench-export-'));
  const store = Store.open(dir, { schemas: [{ name: 'b', match: {}, maxSeries: 64, tiers: [{ interval: '1s', retention: '2h' }] }] });
  const hs = Array.from({ length: SERIES }, (_, i) => store.register('bench_exits_total', { vcpu: String(i % 4), reason: `r${i}` }, { kind: 'counter' }));
  const t0 = Math.floor(Date.now() / 1000) * 1000 - (SECONDS + 60) * 1000;
  for (let s = 0; s < SECONDS; s++) for (let i = 0; i < SERIES; i++) store.record(hs[i], s * 7 + i, t0 + s * 1000);
  const total = SERIES * SECONDS;

  // Batches as the exporter makes them (2000 samples, time-ordered across series).
  const batches = [];
  const ex = store.exporter('bench');
  for (let b = ex.next({ maxSamples: 2000 }); b.samples > 0; b = ex.next({ maxSamples: 2000 })) {
    batches.push(b.series);
    b.commit();
  }

  const encodeOnly = [];
  const exportAndEncode = [];
  for (let r = 0; r < ROUNDS; r++) {
    let t = process.hrtime.bigint();
    let bytes = 0;
    for (const series of batches) bytes += compress(encodeWriteRequest(series)).length;
    encodeOnly.push(total / (Number(process.hrtime.bigint() - t) / 1e9));

    const e = store.exporter(`bench${r}`);
    t = process.hrtime.bigint();
    for (let b = e.next({ maxSamples: 2000 }); b.samples > 0; b = e.next({ maxSamples: 2000 })) {
      compress(encodeWriteRequest(b.series));
      b.commit();
    }
    exportAndEncode.push(total / (Number(process.hrtime.bigint() - t) / 1e9));
    if (r === 0) console.log(`${batches.length} batches, ${(bytes / batches.length / 1024).toFixed(1)} KiB compressed per 2000 samples`);
  }

  // Push to a real Prometheus on loopback, if it is installed.
  const pushes = [];
  if (fs.existsSync('/usr/bin/prometheus')) {
    for (let r = 0; r < Math.min(ROUNDS, 3); r++) {
      const prom = await startPrometheus();
      try {
        const t = process.hrtime.bigint();
        const s = await store.pushTo(prom.url, { exporter: `push${r}`, until: t0 + SECONDS * 1000 });
        pushes.push(s.samples / (Number(process.hrtime.bigint() - t) / 1e9));
      } finally {
        prom.stop();
      }
    }
  }

  console.log(`node ${process.version}, ${os.cpus()[0].model}, ${os.cpus().length} cpus; ${total} samples (${SERIES} series × ${SECONDS} s); medians of ${ROUNDS} rounds`);
  console.log('| path | samples/s (median) | min | max |');
  console.log('| --- | ---: | ---: | ---: |');
  const row = (name, xs) => console.log(`| ${name} | ${fmt(median(xs))} | ${fmt(Math.min(...xs))} | ${fmt(Math.max(...xs))} |`);
  row('encode + snappy (2000-sample batches)', encodeOnly);
  row('exporter.next + encode + snappy + commit', exportAndEncode);
  if (pushes.length > 0) row('pushTo a real Prometheus on loopback', pushes);
  store.close();
  fs.rmSync(dir, { recursive: true, force: true });
}

function fmt(x) {
  return x >= 1e6 ? `${(x / 1e6).toFixed(2)} M` : `${(x / 1e3).toFixed(0)} k`;
}

async function startPrometheus() {
  const port = await new Promise((res) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => res(p));
    });
  });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rondo-bench-prom-'));
  fs.writeFileSync(path.join(dir, 'p.yml'), 'global:\n  scrape_interval: 15s\n');
  const child = spawn('/usr/bin/prometheus', [
    `--config.file=${path.join(dir, 'p.yml')}`,
    `--storage.tsdb.path=${path.join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--web.enable-remote-write-receiver',
  ], { stdio: 'ignore' });
  const api = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(`${api}/-/ready`)).ok) break;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url: `${api}/api/v1/write`,
    stop: () => {
      child.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
