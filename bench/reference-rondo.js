#!/usr/bin/env node
// rondo's side of the reference group (bench/reference.js): one figure per process, as the
// Rust rondo's bench binary runs them, with the same loops and the same output line:
//
//   node bench/reference-rondo.js <record-same-row|record-rr30|query600> [--reps N] [--dir D]
//   RESULT <figure> <ns/write|us/query> <v1> ... <vN>
//
// One untimed repetition first (V8 compiles the loop), then N timed ones; each is 9,000,000
// writes (or 5,000 queries), and its figure the mean over them. A process of its own gives
// record() the type feedback of this shape alone, as the Rust bench's process has its own code.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { Store } = require('../dist/src');

const SEC = 1000;
/** 1,700,000,100 s: a multiple of 5 minutes, as the Rust bench starts. */
const BASE = 1_700_000_100 * SEC;
const SERIES = 30;
const WRITES_PER_REP = 9_000_000;
const BLOCK = 30_000;
const QUERIES = 5000;

function parseArgs(argv) {
  const o = { figure: argv[0], reps: 5, dir: undefined };
  for (let i = 1; i < argv.length; i += 2) {
    if (argv[i] === '--reps') o.reps = Number(argv[i + 1]);
    else if (argv[i] === '--dir') o.dir = argv[i + 1];
    else throw new Error(`unknown option ${argv[i]}`);
  }
  if (!['record-same-row', 'record-rr30', 'query600'].includes(o.figure) || !(o.reps >= 1) || o.dir === undefined)
    throw new Error('usage: reference-rondo.js <record-same-row|record-rr30|query600> --reps N --dir D');
  return o;
}

/** The Rust bench's schema: tiers 1 s/10 min, 10 s/6 h avg, 5 min/7 d avg; 30 series. */
function freshStore(dir, tag, series) {
  const p = path.join(dir, `${tag}-${process.pid}`);
  fs.rmSync(p, { recursive: true, force: true });
  const store = Store.open(p, {
    schemas: [
      {
        name: 'bench',
        match: {},
        maxSeries: SERIES,
        tiers: [
          { interval: '1s', retention: '10m' },
          { interval: '10s', retention: '6h', consolidate: 'avg' },
          { interval: '5m', retention: '7d', consolidate: 'avg' },
        ],
      },
    ],
  });
  const hs = Array.from({ length: series }, (_, i) => store.register(`metric_${i}`, { id: String(i) }));
  return { store, hs, p };
}

function repeat(reps, f) {
  f();
  return Array.from({ length: reps }, () => f());
}

function recordSameRow(o) {
  const { store, hs, p } = freshStore(o.dir, 'same-row', 1);
  const h = hs[0];
  let ts = BASE;
  const vals = repeat(o.reps, () => {
    const t0 = process.hrtime.bigint();
    for (let b = 0; b < WRITES_PER_REP / BLOCK; b++) {
      for (let i = 0; i < BLOCK; i++) store.record(h, i & 1023, ts);
      ts += SEC;
    }
    return Number(process.hrtime.bigint() - t0) / WRITES_PER_REP;
  });
  // As the Rust bench checks: the last row holds the last value written.
  const last = store.query(h, { start: ts - SEC, end: ts - SEC, tier: 0 });
  if (last.values[0] !== ((BLOCK - 1) & 1023)) throw new Error(`record-same-row: the last row holds ${last.values[0]}`);
  store.close();
  fs.rmSync(p, { recursive: true, force: true });
  return { unit: 'ns/write', vals };
}

function recordRr30(o) {
  const { store, hs, p } = freshStore(o.dir, 'rr30', SERIES);
  let ts = BASE;
  const rounds = WRITES_PER_REP / SERIES;
  const vals = repeat(o.reps, () => {
    const t0 = process.hrtime.bigint();
    for (let r = 0; r < rounds; r++) {
      const v = r & 1023;
      for (let i = 0; i < SERIES; i++) store.record(hs[i], v, ts);
      ts += SEC;
    }
    return Number(process.hrtime.bigint() - t0) / (rounds * SERIES);
  });
  const n = store.query(hs[29], { start: ts - 600 * SEC, end: ts - SEC, tier: 0 }).values.filter((v) => !Number.isNaN(v)).length;
  if (n !== 600) throw new Error(`record-rr30: ${n} points in the last 10 minutes, not 600`);
  store.close();
  fs.rmSync(p, { recursive: true, force: true });
  return { unit: 'ns/write', vals };
}

function query600(o) {
  const { store, hs, p } = freshStore(o.dir, 'query', SERIES);
  for (let s = 0; s < 600; s++) for (let i = 0; i < SERIES; i++) store.record(hs[i], s * 31 + i, BASE + s * SEC);
  const opts = { start: BASE, end: BASE + 599 * SEC, tier: 0 };
  let checksum = 0;
  const vals = repeat(o.reps, () => {
    let sum = 0;
    let cnt = 0;
    const t0 = process.hrtime.bigint();
    for (let q = 0; q < QUERIES; q++) {
      const r = store.query(hs[q % SERIES], opts);
      const t = r.timestamps;
      const v = r.values;
      for (let i = 0; i < v.length; i++) {
        sum += v[i];
        cnt += t[i] & 1;
      }
    }
    const ns = Number(process.hrtime.bigint() - t0);
    checksum += sum + cnt;
    return ns / 1000 / QUERIES;
  });
  const r = store.query(hs[0], opts);
  if (r.values.length !== 600 || r.values.some((v) => Number.isNaN(v)) || !Number.isFinite(checksum)) throw new Error('query600: not 600 points a query');
  store.close();
  fs.rmSync(p, { recursive: true, force: true });
  return { unit: 'us/query', vals };
}

const o = parseArgs(process.argv.slice(2));
const run = { 'record-same-row': recordSameRow, 'record-rr30': recordRr30, query600 }[o.figure];
const { unit, vals } = run(o);
process.stdout.write(`RESULT ${o.figure} ${unit} ${vals.map((v) => v.toFixed(4)).join(' ')}\n`);
