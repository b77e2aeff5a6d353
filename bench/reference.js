// rondo against its reference design, the Rust rondo, in the same run: the same three shapes,
// one after the other in rounds. The Rust figures come from its own benchmark binary
// (`rondo-bench`, built from the Rust rondo's repository), named by RONDO_REFERENCE_BIN; without
// it this group measures rondo's side alone and says why the reference is missing.
//
// The shapes, as the Rust bench runs them (a store of one schema, tiers 1 s/10 min, 10 s/6 h,
// 5 min/7 d, 30 series of a 30-series schema, timestamps from 2023-11-14):
//   record-same-row  1 series, 30,000 writes at one timestamp, then the next second
//   record-rr30      30 series round-robin, the timestamp 1 s on after every round of 30:
//                    every round takes a new row (an agent's shape)
//   query600         tier 0 holds 600 s of 30 series; each query reads the whole 10 minutes of
//                    one series (rotating over the 30) and every (timestamp, value) of it
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { Store } = require('../dist/src');
const { Samples, interleave, nowNs } = require('./lib/harness');

const SEC = 1000;
/** 1,700,000,100 s: a multiple of 5 minutes, as the Rust bench starts. */
const BASE = 1_700_000_100 * SEC;
const SERIES = 30;
const BLOCK = 30_000;
const QUERIES = 500;

const FIGURES = [
  { figure: 'record-same-row', name: '`record()`, 1 series, 30,000 writes a row', unit: 'writes/s' },
  { figure: 'record-rr30', name: '`record()`, 30 series round-robin, a new row every round', unit: 'writes/s' },
  { figure: 'query600', name: '`query()` of 600 points, every point read', unit: 'queries/s' },
];

function openStore(dir) {
  const store = Store.open(dir, {
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
  const hs = Array.from({ length: SERIES }, (_, i) => store.register(`metric_${i}`, { id: String(i) }));
  return { store, hs };
}

/** The reference binary, or why there is none. */
function referenceBinary() {
  const bin = process.env.RONDO_REFERENCE_BIN;
  if (bin === undefined || bin === '')
    return { reason: 'RONDO_REFERENCE_BIN is not set: set it to the `rondo-bench` binary built from the Rust rondo to measure the reference beside rondo' };
  try {
    fs.accessSync(bin, fs.constants.X_OK);
  } catch (e) {
    return { reason: `RONDO_REFERENCE_BIN=${bin} is not an executable file (${e.code}); build the Rust rondo's bench, or unset it` };
  }
  return { bin };
}

/** One process of the reference: one untimed warm-up and `reps` timed repetitions; ns per unit each. */
function runReference(bin, figure, reps, dir) {
  const r = spawnSync(bin, [figure, '--reps', String(reps), '--dir', dir], { encoding: 'utf8', timeout: 300_000 });
  const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith(`RESULT ${figure} `));
  if (r.status !== 0 || line === undefined)
    throw new Error(`${bin} ${figure} failed (${r.error?.message ?? `exit ${r.status}`}): ${(r.stderr ?? '').trim().slice(-400)}`);
  const [, , unit, ...vals] = line.trim().split(/\s+/);
  const scale = unit === 'us/query' ? 1000 : 1; // to ns
  return vals.map((v) => Number(v) * scale);
}

async function run({ quick, tmp, progress }) {
  const rounds = quick ? 3 : 12;
  const cases = [];
  const ref = referenceBinary();
  const notes = [
    'The shapes are the Rust bench\'s (`rondo-bench`): the same schema (tiers 1 s/10 min, 10 s/6 h, 5 min/7 d; 30 series of a 30-series schema), the same timestamps and the same loops. Each round runs each case once, rondo\'s and the reference\'s in turn.',
    'rondo: one sample is 30,000 writes (or 500 queries); a round takes 30 samples. The reference: one process a round, doing one untimed and one timed repetition of 9,000,000 writes (or 5,000 queries); its figure is that repetition\'s mean.',
  ];

  // ---- rondo ----
  const dir = (name) => path.join(tmp, `reference-${name}`);
  const S = openStore(dir('same-row'));
  const R = openStore(dir('rr30'));
  const Q = openStore(dir('query'));
  for (let s = 0; s < 600; s++) for (let i = 0; i < SERIES; i++) Q.store.record(Q.hs[i], s * 31 + i, BASE + s * SEC);
  let sameTs = BASE;
  let rrTs = BASE;
  let checksum = 0;
  const sameRow = (n) => {
    const st = S.store;
    const h = S.hs[0];
    let t = sameTs;
    for (let b = 0; b < n; b += BLOCK) {
      for (let i = 0; i < BLOCK; i++) st.record(h, i & 1023, t);
      t += SEC;
    }
    sameTs = t;
  };
  const rr30 = (n) => {
    const st = R.store;
    const hs = R.hs;
    let t = rrTs;
    for (let r = 0; r < n / SERIES; r++) {
      const v = r & 1023;
      for (let i = 0; i < SERIES; i++) st.record(hs[i], v, t);
      t += SEC;
    }
    rrTs = t;
  };
  const opts = { start: BASE, end: BASE + 599 * SEC, tier: 0 };
  const query = (n) => {
    const st = Q.store;
    const hs = Q.hs;
    let sum = 0;
    let cnt = 0;
    for (let q = 0; q < n; q++) {
      const r = st.query(hs[q % SERIES], opts);
      const ts = r.timestamps;
      const vs = r.values;
      for (let i = 0; i < vs.length; i++) {
        sum += vs[i];
        cnt += ts[i] & 1;
      }
    }
    checksum += sum + cnt;
  };
  const loops = { 'record-same-row': [sameRow, BLOCK], 'record-rr30': [rr30, BLOCK], query600: [query, QUERIES] };
  for (const f of FIGURES) {
    const [loop, n] = loops[f.figure];
    const s = new Samples();
    const round = () => {
      for (let c = 0; c < 30; c++) {
        const t0 = nowNs();
        loop(n);
        s.add(nowNs() - t0, n);
      }
    };
    cases.push({ name: f.name, kind: 'rondo', samples: s, round, warm: () => loop(n * 20), unit: f.unit, figure: f.figure });
  }
  // The answer is the one the Rust bench asserts: 600 points a query.
  const check = Q.store.query(Q.hs[0], opts);
  if (check.values.length !== 600 || check.values.some((v) => Number.isNaN(v))) throw new Error('reference bench: the query store does not hold 600 points');

  // ---- the reference ----
  if (ref.bin !== undefined) {
    const work = dir('rust');
    fs.mkdirSync(work, { recursive: true });
    for (const f of FIGURES) {
      const s = new Samples();
      const round = () => {
        const vals = runReference(ref.bin, f.figure, 1, work);
        const ops = f.figure === 'query600' ? 5000 : 9_000_000;
        s.addMany(vals, ops * vals.length, vals.reduce((a, b) => a + b, 0) * ops);
      };
      cases.push({ name: `Rust rondo: ${f.figure}`, kind: 'peer', short: `Rust ${f.figure}`, samples: s, round, unit: f.unit, figure: f.figure });
    }
  } else {
    notes.push(`The reference was not measured: ${ref.reason}.`);
    process.stderr.write(`bench: reference: skipped: ${ref.reason}\n`);
  }

  await interleave(cases, rounds, progress);
  S.store.close();
  R.store.close();
  Q.store.close();
  if (!Number.isFinite(checksum)) throw new Error('reference bench: a query read a NaN');
  return {
    id: 'reference',
    title: 'Against the reference design (the Rust rondo), same shapes, same run',
    perOp: 'write or query',
    cases,
    notes,
    reference: ref.bin !== undefined,
  };
}

module.exports = { run, FIGURES };
