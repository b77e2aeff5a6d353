#!/usr/bin/env node
// Where rondo serve's time goes while it takes Influx line protocol over TCP: starts
// `node --cpu-prof dist/src/cli/main.js serve … --influx-tcp …` on a new store (the ingest
// group's schema), sends it the ingest group's lines (1000 series × 10 fields, a second of data
// per 1000 lines) over 4 connections, stops it, and prints the V8 profile's self and total time
// by function.
//
//   node bench/ingest-profile.js [--seconds-of-data N] [--top N] [--keep DIR]
//
// --keep DIR leaves the .cpuprofile in DIR (open it in Chrome's DevTools or speedscope).
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { nowNs } = require('./lib/harness');
const { startRondo, freePort } = require('./lib/peers');
const { linesOf } = require('./ingest');
const net = require('node:net');

function args(argv) {
  const o = { seconds: 600, top: 30, keep: undefined };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--seconds-of-data') o.seconds = Number(argv[++i]);
    else if (argv[i] === '--top') o.top = Number(argv[++i]);
    else if (argv[i] === '--keep') o.keep = argv[++i];
    else {
      process.stderr.write('usage: node bench/ingest-profile.js [--seconds-of-data N] [--top N] [--keep DIR]\n');
      process.exit(2);
    }
  }
  return o;
}

/** Self and total ms per function (name and place) of a .cpuprofile. */
function summarise(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfMs = new Map();
  const ms = (profile.endTime - profile.startTime) / 1000;
  const per = ms / profile.samples.length;
  const counts = new Map();
  for (const id of profile.samples) counts.set(id, (counts.get(id) ?? 0) + 1);
  const key = (n) => {
    const f = n.callFrame;
    const file = f.url ? f.url.replace(/^file:\/\//, '').replace(path.join(__dirname, '..') + path.sep, '') : '';
    return `${f.functionName || '(anonymous)'}${file ? ` ${file}:${f.lineNumber + 1}` : ''}`;
  };
  const total = new Map();
  for (const [id, c] of counts) {
    const n = byId.get(id);
    selfMs.set(key(n), (selfMs.get(key(n)) ?? 0) + c * per);
    // Total: every distinct function on the stack of this sample.
    const seen = new Set();
    for (let x = id; x !== undefined; x = parent.get(x)) {
      const k = key(byId.get(x));
      if (seen.has(k)) continue;
      seen.add(k);
      total.set(k, (total.get(k) ?? 0) + c * per);
    }
  }
  return { ms, selfMs, total };
}

async function main() {
  const o = args(process.argv.slice(2));
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rondo-ingest-profile-'));
  const profDir = o.keep ?? path.join(tmp, 'prof');
  fs.mkdirSync(profDir, { recursive: true });
  const port = await freePort();
  const series = 1000;
  const t0s = Math.floor(Date.now() / 1000) - 3000;
  const schemas = [{ name: 'bench', match: {}, maxSeries: series * 10 + 500, tiers: [{ interval: '1s', retention: '1h' }, { interval: '1m', retention: '1d' }] }];
  const r = await startRondo(path.join(tmp, 'rondo'), schemas, ['--influx-tcp', `127.0.0.1:${port}`], ['--cpu-prof', `--cpu-prof-dir=${profDir}`]);
  const send = async (from, to) => {
    const lines = linesOf(series, from, to, t0s);
    const batches = [];
    for (let i = 0; i < lines.length; i += 5000) batches.push(Buffer.from(lines.slice(i, i + 5000).join('')));
    let next = 0;
    const t = nowNs();
    await Promise.all(
      Array.from(
        { length: 4 },
        () =>
          new Promise((resolve, reject) => {
            const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
            s.on('error', reject);
            s.on('close', resolve);
            s.resume();
            s.on('connect', () => {
              const pump = () => {
                while (next < batches.length) if (!s.write(batches[next++])) return void s.once('drain', pump);
                s.end();
              };
              pump();
            });
          }),
      ),
    );
    return (nowNs() - t) / 1e9;
  };
  await send(0, 10); // series registered
  const took = await send(10, 10 + o.seconds);
  const metrics = await (await fetch(`${r.api}/metrics`)).text();
  const taken = metrics.split('\n').filter((l) => l.startsWith('rondo_ingest_'));
  await r.stop();
  const file = fs.readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
  const { ms, selfMs, total } = summarise(JSON.parse(fs.readFileSync(path.join(profDir, file), 'utf8')));
  const points = o.seconds * series * 10;
  const out = [`${points} points (${o.seconds} s of 1000 series × 10 fields) sent in ${took.toFixed(2)} s until the connections closed: ${(points / took / 1e6).toFixed(2)} M points/s (under the profiler)`, ...taken, `profile: ${ms.toFixed(0)} ms in all`, '', 'self ms  self %  function'];
  for (const [k, v] of [...selfMs].sort((a, b) => b[1] - a[1]).slice(0, o.top)) out.push(`${v.toFixed(0).padStart(7)}  ${((100 * v) / ms).toFixed(1).padStart(5)}%  ${k}`);
  out.push('', 'total ms  total %  function');
  for (const [k, v] of [...total].sort((a, b) => b[1] - a[1]).slice(0, o.top)) out.push(`${v.toFixed(0).padStart(8)}  ${((100 * v) / ms).toFixed(1).padStart(6)}%  ${k}`);
  process.stdout.write(`${out.join('\n')}\n`);
  if (o.keep) process.stdout.write(`profile kept: ${path.join(profDir, file)}\n`);
  fs.rmSync(tmp, { recursive: true, force: true });
}

main().catch((e) => {
  process.stderr.write(`ingest-profile: ${e?.stack ?? e}\n`);
  process.exit(1);
});
