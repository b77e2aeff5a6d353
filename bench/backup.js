// Backups (src/store/backup.ts, docs/backup-format.md): how long `store.backup()`, a restore
// and a verify take, and how large the archive is, for a store the size of a demo VM's (its
// schema: 1 s × 1 h, 10 s × 6 h, 5 min × 7 d; 165 series, 6 h recorded) and for a 1 GiB store
// (1024 series; 1 s × 24 h, 10 s × 2 d, 1 min × 14 d; 24 h recorded, tier 0 full). The quick run
// takes a smaller big store (1024 series, 2 h recorded into tiers of 2 h, 6 h and 1 d) and names its size.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { Store } = require('../dist/src');
const { Samples, nowNs } = require('./lib/harness');
const { fmtTime } = require('./lib/report');

/** A seeded generator (mulberry32). */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A store of `series` series recorded every second for `hours`, ending now: three in four
 * counters (growing by 0..99 a second, as exit counters do), the rest gauges (2-decimal random
 * walks), consolidated every 10 minutes of data. Returns its size on disk and the points recorded.
 */
function fill(dir, schemas, series, hours, progress) {
  const store = Store.open(dir, { schemas });
  const hs = [];
  for (let i = 0; i < series; i++) hs.push(i % 4 === 3 ? store.register('bench_gauge', { i: String(i) }) : store.register('bench_exits_total', { i: String(i) }, { kind: 'counter' }));
  const frozen = Object.freeze(hs.slice());
  const r = rng(17);
  const values = new Float64Array(series);
  for (let i = 0; i < series; i++) values[i] = i % 4 === 3 ? 20 + r() * 60 : 0;
  const end = Math.floor(Date.now() / 1000) * 1000 - 1000;
  const start = end - hours * 3_600_000 + 1000;
  let points = 0;
  for (let t = start; t <= end; t += 1000) {
    for (let i = 0; i < series; i++) values[i] = i % 4 === 3 ? Math.round((values[i] + r() - 0.5) * 100) / 100 : values[i] + Math.floor(r() * 100);
    store.recordBatch(t, frozen, values);
    points += series;
    if ((t - start) % 600_000 === 0) {
      store.consolidate({ now: t });
      progress?.(`filling: ${Math.round(((t - start) / (end - start)) * 100)}%`);
    }
  }
  store.consolidate();
  const bytes = store.info({ series: false }).totals.bytes;
  store.close();
  return { bytes, points };
}

const DEMO_TIERS = [
  { interval: '1s', retention: '1h' },
  { interval: '10s', retention: '6h', consolidate: 'avg' },
  { interval: '5m', retention: '7d', consolidate: 'avg', xff: 0.5 },
];
const BIG_TIERS = (quick) =>
  quick
    ? [
        { interval: '1s', retention: '2h' },
        { interval: '10s', retention: '6h' },
        { interval: '1m', retention: '1d' },
      ]
    : [
        { interval: '1s', retention: '24h' },
        { interval: '10s', retention: '2d' },
        { interval: '1m', retention: '14d' },
      ];

const mib = (b) => `${(b / 2 ** 20).toFixed(1)} MiB`;

async function run({ quick, tmp, progress }) {
  const title = 'Backups: `store.backup()`, restore and verify';
  const rounds = quick ? 1 : 3;
  const bigHours = quick ? 2 : 24;
  const stores = [
    { key: 'demo', what: "a demo VM's store", schemas: [{ name: 'vm', match: {}, maxSeries: 168, tiers: DEMO_TIERS }], series: 165, hours: quick ? 1 : 6 },
    { key: 'big', what: 'a 1 GiB store', schemas: [{ name: 'big', match: {}, maxSeries: 1024, tiers: BIG_TIERS(quick) }], series: 1024, hours: bigHours },
  ];
  const cases = [];
  const rows = [];
  for (const s of stores) {
    const dir = path.join(tmp, `backup-${s.key}`);
    progress(`${s.what}: filling`);
    const filled = fill(dir, s.schemas, s.series, s.hours, (w) => progress(`${s.what}: ${w}`));
    const name = `${s.key === 'big' && quick ? `a ${mib(filled.bytes)} store` : s.what} (${mib(filled.bytes)}, ${s.series} series, ${s.hours} h recorded)`;
    const backup = new Samples();
    const restore = new Samples();
    const verify = new Samples();
    let last;
    for (let round = 0; round < rounds; round++) {
      const file = path.join(tmp, `backup-${s.key}.rbak`);
      const into = path.join(tmp, `backup-${s.key}-restored`);
      fs.rmSync(into, { recursive: true, force: true });
      progress(`${s.what}: backup (round ${round + 1}/${rounds})`);
      // The backup of a store another process writes: read-only, as `rondo backup` opens it.
      const ro = Store.openReadOnly(dir);
      let t0 = nowNs();
      const sum = await ro.backup(file);
      backup.add(nowNs() - t0, 1, sum.points);
      ro.close();
      progress(`${s.what}: verify (round ${round + 1}/${rounds})`);
      t0 = nowNs();
      const v = Store.verifyBackup(file);
      verify.add(nowNs() - t0, 1, v.points);
      if (v.damaged.length > 0) throw new Error(`bench: the archive of ${s.what} is damaged: ${v.damaged[0]}`);
      progress(`${s.what}: restore (round ${round + 1}/${rounds})`);
      t0 = nowNs();
      const rep = Store.restore(file, into);
      restore.add(nowNs() - t0, 1, rep.points);
      last = { sum, bytes: fs.statSync(file).size };
      fs.rmSync(into, { recursive: true, force: true });
      fs.rmSync(file, { force: true });
    }
    fs.rmSync(dir, { recursive: true, force: true });
    cases.push({ name: `backup, ${name}`, kind: 'rondo', unit: 'points/s', samples: backup, noRatio: true });
    cases.push({ name: `restore, ${name}`, kind: 'rondo', unit: 'points/s', samples: restore, noRatio: true });
    cases.push({ name: `verify, ${name}`, kind: 'rondo', unit: 'points/s', samples: verify, noRatio: true });
    const med = (x) => x.summary().medianNs;
    rows.push([
      name,
      mib(filled.bytes),
      String(last.sum.points),
      mib(last.bytes),
      (last.bytes / last.sum.points).toFixed(3),
      fmtTime(med(backup)),
      fmtTime(med(restore)),
      fmtTime(med(verify)),
    ]);
  }
  const head = ['store', 'on disk', 'points in the archive', 'archive', 'archive B/point', 'backup', 'restore', 'verify'];
  const table = [`| ${head.join(' | ')} |`, `| ${head.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
  const notes = [
    `Each backup, restore and verify is timed whole (median of ${rounds} round${rounds === 1 ? '' : 's'}); throughput is points (every tier's points, each aggregate of a consolidated bucket counted) over that time.`,
    'The backup reads a read-only Store of the directory, as `rondo backup` does, with the default codec (gorilla); the archive B/point counts everything in the file (manifest, chunk keys and frames, the rows chunks).',
    "The stores are filled first: three series in four counters growing by 0..99 a second, the rest 2-decimal random walks, one point a second each, consolidated every 10 minutes of data. The demo VM's store has the demo VMM's schema (`vmSchemas()`: 1 s × 1 h, 10 s × 6 h, 5 min × 7 d; 168 columns for a 2-vCPU VM) and the 165 series a run of it records, after 6 hours.",
  ];
  if (quick) notes.push(`Quick run: the demo VM's store after 1 hour and, in place of the 1 GiB store, one of 1024 series with tiers of 1 s × 2 h, 10 s × 6 h and 1 min × 1 d, 2 hours recorded; a full run measures both as named.`);
  return { id: 'backup', title, perOp: 'backup, restore or verify', cases, notes, tables: [table] };
}

module.exports = { run };
