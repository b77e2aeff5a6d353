// The read path and consolidation: a query of a 600-point window (30 series in turn, every point
// read, and one series), a 7-day stitched query, select() over 100 series, and consolidate()
// per tick for 30 series in 3 tiers.
'use strict';
const path = require('node:path');
const { Store } = require('../dist/src');
const { Samples, interleave, nowNs } = require('./lib/harness');

const DAY = 86_400_000;
const TIERS = [
  { interval: '1s', retention: '10m' },
  { interval: '10s', retention: '6h', consolidate: 'avg' },
  { interval: '5m', retention: '7d', consolidate: 'avg', xff: 0.5 },
];
const FIVE_MIN = 300_000;

/** Times `reps` calls of op() one by one into samples. */
function timeEach(op, reps, samples) {
  for (let i = 0; i < reps; i++) {
    const t0 = nowNs();
    op();
    samples.add(nowNs() - t0, 1);
  }
}

/**
 * A store of `series` series holding `ms` of history up to `end`, written a second at a time
 * with recordBatch and consolidated every 5 minutes of data, as an agent would have.
 */
function fill(dir, series, ms, end) {
  const store = Store.open(dir, { schemas: [{ name: 'bench', match: {}, maxSeries: 128, tiers: TIERS }] });
  const hs = Array.from({ length: series }, (_, i) => store.register('rondo_bench_value', { series: String(i) }));
  const values = new Float64Array(series);
  for (let ts = end - ms + 1000; ts <= end; ts += 1000) {
    for (let i = 0; i < series; i++) values[i] = ((ts / 1000) % 600) + i;
    store.recordBatch(ts, hs, values);
    if (ts % FIVE_MIN === 0) store.consolidate({ now: ts });
  }
  store.consolidate({ now: end });
  return { store, hs };
}

async function run({ quick, tmp, progress }) {
  const rounds = quick ? 4 : 30;
  const reps = quick ? 400 : 2000; // queries per case per round
  const cases = [];
  const add = (name, samples, round, warm, extra = {}) => cases.push({ name, kind: 'rondo', samples, round, warm, ...extra });

  // 7 days and 10 minutes of history for 100 series, up to the last whole 5 minutes.
  progress?.('filling 7 days of 100 series');
  const end = Math.floor((Date.now() - 5000) / FIVE_MIN) * FIVE_MIN;
  const t0 = nowNs();
  const R = fill(path.join(tmp, 'read'), 100, 7 * DAY + 600_000, end);
  const fillSeconds = (nowNs() - t0) / 1e9;
  const h = R.hs[0];
  let checksum = 0;
  {
    // The reference design's shape: each query a series after the one before, round 30 series,
    // and every timestamp and value of the result read (the points present counted, the newest
    // one's time and value kept: what a reader of the points does with each, without a chain
    // of floating-point additions, whose latency alone would cost more than the query).
    const opts = { start: end - 599_000, end, tier: 0 };
    const thirty = R.hs.slice(0, 30);
    let next = 0;
    const op = () => {
      const r = R.store.query(thirty[next], opts);
      if (++next === thirty.length) next = 0;
      const { timestamps, values } = r;
      let present = 0;
      let lastTs = 0;
      let lastValue = 0;
      for (let i = 0; i < values.length; i++) {
        const v = values[i];
        const t = timestamps[i];
        if (v === v) {
          present++;
          lastTs = t;
          lastValue = v;
        }
      }
      checksum += present + lastTs + lastValue;
    };
    const s = new Samples();
    add('`query()` of a 600-point window (tier 0), 30 series in turn, every point read', s, () => timeEach(op, reps, s), () => timeEach(op, 2000, new Samples()), {
      unit: 'queries/s',
    });
  }
  {
    const opts = { start: end - 599_000, end, tier: 0 };
    const op = () => {
      checksum += R.store.query(h, opts).values[599];
    };
    const s = new Samples();
    add('`query()` of the same window, one series, one value read', s, () => timeEach(op, reps, s), () => timeEach(op, 2000, new Samples()), { unit: 'queries/s' });
  }
  {
    const opts = { start: end - 7 * DAY, end, tier: 'stitch' };
    const points = R.store.query(h, opts).values.length;
    const op = () => {
      checksum += R.store.query(h, opts).values.length;
    };
    const s = new Samples();
    add(`\`query()\` of 7 days, stitched from 3 tiers (${points} points)`, s, () => timeEach(op, Math.ceil(reps / 4), s), () => timeEach(op, 200, new Samples()), {
      unit: 'queries/s',
    });
  }
  {
    const opts = { start: end - 599_000, end };
    const op = () => {
      checksum += R.store.select('rondo_bench_value', opts).length;
    };
    const s = new Samples();
    add('`select()` over 100 series, 600 points each', s, () => timeEach(op, Math.ceil(reps / 20), s), () => timeEach(op, 50, new Samples()), {
      unit: 'selects/s',
    });
  }

  // consolidate() per tick: each tick records 30 values at a new second (not timed) and
  // consolidates (timed), as the agent does every second. A tick fills a 10 s bucket every 10
  // ticks and a 5 min bucket every 300.
  const ticksPerRound = quick ? 900 : 1800;
  const C = fill(path.join(tmp, 'consolidate'), 30, 600_000, end - (rounds * ticksPerRound + 600) * 1000);
  {
    let ts = end - (rounds * ticksPerRound + 600) * 1000;
    const values = new Float64Array(30).fill(1);
    const every = new Samples();
    const tenSeconds = new Samples();
    const both = new Samples();
    const tick = () => {
      ts += 1000;
      values[0] = ts;
      C.store.recordBatch(ts, C.hs, values);
      const t = nowNs();
      C.store.consolidate({ now: ts + 1000 });
      const dt = nowNs() - t;
      every.add(dt, 1);
      // ts + 1000 ends the second of ts: does it end a bucket?
      if ((ts + 1000) % FIVE_MIN === 0) both.add(dt, 1);
      else if ((ts + 1000) % 10_000 === 0) tenSeconds.add(dt, 1);
    };
    cases.push({
      name: '`consolidate()` per tick, 30 series × 3 tiers (every tick)',
      kind: 'rondo',
      samples: every,
      unit: 'ticks/s',
      round: () => {
        for (let i = 0; i < ticksPerRound; i++) tick();
      },
    });
    cases.push({ name: '`consolidate()`, a tick that fills a 10 s bucket', kind: 'rondo', samples: tenSeconds, unit: 'ticks/s', round: () => {} });
    cases.push({ name: '`consolidate()`, a tick that fills a 10 s and a 5 min bucket', kind: 'rondo', samples: both, unit: 'ticks/s', round: () => {} });
  }

  try {
    await interleave(cases, rounds, progress);
  } finally {
    R.store.close();
    C.store.close();
  }
  if (Number.isNaN(checksum)) throw new Error('a query read nothing');
  const clockNs = clockPairNs();

  return {
    id: 'read',
    title: 'Read path and consolidation',
    unit: 'µs',
    cases,
    notes: [
      `The store: 100 series in one schema with tiers 1s × 10m, 10s × 6h and 5m × 7d (avg), filled with 7 days and 10 minutes of points written a second at a time and consolidated as they came (${fillSeconds.toFixed(1)} s to fill).`,
      `Each query or tick is timed on its own; ${rounds} rounds, every case in turn. A query returns its timestamps and values (Float64Array); the 7-day query joins the three tiers where each holds data.`,
      'consolidate(): every tick records 30 values at the next second (not timed), then consolidates; most ticks complete no bucket, one in 10 fills a 10 s bucket, one in 300 a 5 min bucket too. The figures are split by what the tick did.',
      `Timing one call costs two clock reads: ${clockNs.toFixed(0)} ns here (median of 10,000 pairs), included in every figure above; it is most of a consolidate() tick that completes no bucket.`,
    ],
  };
}

/** The median time of two back-to-back clock reads, as each timed call above pays them. */
function clockPairNs() {
  const d = new Float64Array(10_000);
  for (let i = 0; i < d.length; i++) {
    const t = nowNs();
    d[i] = nowNs() - t;
  }
  return d.sort()[d.length >> 1];
}

module.exports = { run };
