// rondo against its reference design, the Rust rondo, in the same run: the same three shapes,
// one after the other in rounds. The Rust figures come from its own benchmark binary
// (`rondo-bench`, built from the Rust rondo's repository), named by RONDO_REFERENCE_BIN; without
// it this group measures rondo's side alone and says why the reference is missing. rondo's
// figures come from bench/reference-rondo.js, run the same way: a process per figure.
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
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { Samples, interleave } = require('./lib/harness');

/** Timed repetitions per process, after the untimed one (the Rust bench's own runs take 5). */
const REPS = 3;

const FIGURES = [
  { figure: 'record-same-row', name: '`record()`, 1 series, 30,000 writes a row', unit: 'writes/s' },
  { figure: 'record-rr30', name: '`record()`, 30 series round-robin, a new row every round', unit: 'writes/s' },
  { figure: 'query600', name: '`query()` of 600 points, every point read', unit: 'queries/s' },
];

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

/** One process of one side: an untimed warm-up and `reps` timed repetitions; ns per write or query each. */
function runFigure(bin, args, figure, reps, dir) {
  const r = spawnSync(bin, [...args, '--reps', String(reps), '--dir', dir], { encoding: 'utf8', timeout: 300_000 });
  const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith(`RESULT ${figure} `));
  if (r.status !== 0 || line === undefined)
    throw new Error(`${[bin, ...args].join(' ')} failed (${r.error?.message ?? `exit ${r.status}`}): ${(r.stderr ?? '').trim().slice(-400)}`);
  const [, , unit, ...vals] = line.trim().split(/\s+/);
  const scale = unit === 'us/query' ? 1000 : 1; // to ns
  return vals.map((v) => Number(v) * scale);
}

async function run({ quick, progress }) {
  const rounds = quick ? 2 : 7;
  const cases = [];
  const ref = referenceBinary();
  const notes = [
    'The shapes are the Rust bench\'s (`rondo-bench`): the same schema (tiers 1 s/10 min, 10 s/6 h, 5 min/7 d; 30 series of a 30-series schema), the same timestamps, the same loops, and the same checks of the answers.',
    'Both sides run alike: one process per figure per round, each doing one untimed repetition and then three timed ones of 9,000,000 writes (or 5,000 queries), the mean of each a sample; rondo\'s processes are `node bench/reference-rondo.js <figure>`. Each round runs every case once, in turn. A process of its own matters for `record()`: in a process that has run other shapes, V8\'s code for it carries their types too.',
  ];
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'rondo-reference-'));
  const sides = [{ kind: 'rondo', bin: process.execPath, pre: [path.join(__dirname, 'reference-rondo.js')] }];
  if (ref.bin !== undefined) sides.push({ kind: 'peer', bin: ref.bin, pre: [] });
  else {
    notes.push(`The reference was not measured: ${ref.reason}.`);
    process.stderr.write(`bench: reference: skipped: ${ref.reason}\n`);
  }
  for (const f of FIGURES)
    for (const side of sides) {
      const s = new Samples();
      const ops = f.figure === 'query600' ? 5000 : 9_000_000;
      const round = () => {
        const vals = runFigure(side.bin, [...side.pre, f.figure], f.figure, REPS, work);
        s.addMany(vals, ops * vals.length, vals.reduce((a, b) => a + b, 0) * ops);
      };
      cases.push(
        side.kind === 'rondo'
          ? { name: f.name, kind: 'rondo', samples: s, round, unit: f.unit, figure: f.figure }
          : { name: `Rust rondo: ${f.figure}`, kind: 'peer', short: `Rust ${f.figure}`, samples: s, round, unit: f.unit, figure: f.figure },
      );
    }
  try {
    await interleave(cases, rounds, progress);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  // The table lists rondo's rows first, then the reference's.
  cases.sort((a, b) => (a.kind === b.kind ? 0 : a.kind === 'rondo' ? -1 : 1));
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
