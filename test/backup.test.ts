// Hot backups (docs/backup-format.md): an archive taken while four native threads and the
// JavaScript thread record at full speed restores to a store that answers, in every tier and
// for every aggregate kept, as the source did for the archive's window; incrementals; a damaged
// archive restores every intact chunk and names the damaged ones; the metadata files travel.
//
// The writers store value = k * 1000 + col for interval k (devAddon().testing.startClockWriters'
// pattern), so a torn row (cells of another interval) is seen in any cell on its own.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, Store, type BackupSummary, type SchemaOptions, type SeriesHandle } from '../src/index';
import { devAddon } from '../src/store/dev-addon';
import { tempDir } from './helpers';

const pattern = (k: number, col: number): number => k * 1000 + col;
const AGGS = ['avg', 'min', 'max', 'sum', 'count', 'last'] as const;

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const nextTurn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Tier 0 at 5 ms, tier 1 (every aggregate, float32) at 50 ms, tier 2 (float64) at 500 ms. */
const HOT_SCHEMAS: SchemaOptions[] = [
  {
    name: 'hot',
    maxSeries: 8,
    tiers: [
      { interval: 5, retention: 5 * 4000 },
      { interval: 50, retention: 50 * 2000, aggregates: [...AGGS] },
      { interval: 500, retention: 500 * 1000, precision: 'float64', aggregates: ['avg', 'min', 'max', 'last'] },
    ],
  },
];

/**
 * How far before the archive's instant a native writer's point may still land in a row the
 * backup has read: a thread that read the clock (or began taking the row) just before and was
 * then preempted writes it afterwards, and a reader that meets a row mid-claim for 10,000 tries
 * reads it as missing (docs/backup-format.md, "The instant"). Inside this slack the archive
 * may lack a point the source has; it never holds one the source does not.
 */
const SLACK_MS = 150;

/**
 * Every query the two stores answer for the archive's window, tier by tier and aggregate by
 * aggregate: the differences. Consolidated buckets (published once, before the instant) must be
 * equal; a raw point must be equal, or (inside SLACK_MS of the instant) missing from the archive.
 */
function compareWindow(src: Store, restored: Store, sum: BackupSummary, keptAggs: Array<readonly string[]>): { diffs: string[]; strict: number; slack: number } {
  const diffs: string[] = [];
  let strict = 0;
  let slack = 0;
  for (const h of src.series()) {
    const r = restored.find(h.name, h.labels);
    if (r === undefined) {
      diffs.push(`${h.key} is not in the restored store`);
      continue;
    }
    for (const bt of sum.tiers.filter((t) => t.schema === h.schema)) {
      if (bt.complete < bt.from) continue;
      const range = { start: bt.from * bt.intervalMs, end: bt.complete * bt.intervalMs, tier: bt.tier };
      const aggs = bt.tier === 0 || h.kind === 'counter' ? [undefined] : keptAggs[bt.tier]!;
      for (const agg of aggs) {
        const opts = agg === undefined ? range : { ...range, agg: agg as (typeof AGGS)[number] };
        const a = src.query(h, opts);
        const b = restored.query(r, opts);
        expect(b.timestamps).toEqual(a.timestamps);
        for (let i = 0; i < a.values.length; i++) {
          const [x, y] = [a.values[i]!, b.values[i]!];
          if (Object.is(x, y)) {
            if (!Number.isNaN(x)) strict++;
            continue;
          }
          if (bt.tier === 0 && Number.isNaN(y) && a.timestamps[i]! + bt.intervalMs > sum.asOfMs - SLACK_MS) {
            slack++;
            continue;
          }
          if (diffs.length < 20) diffs.push(`${h.key} tier ${bt.tier} ${agg ?? ''} at k=${a.timestamps[i]! / bt.intervalMs}: source ${x}, restored ${y}`);
        }
      }
    }
  }
  return { diffs, strict, slack };
}

describe('backup while four native threads and the JavaScript thread write at full speed', () => {
  const rounds = Number(process.env.RONDO_BACKUP_ROUNDS ?? 50);
  it(`restores, round after round (${rounds}, random timing), every point of the archive's window as the source holds it, no torn row`, async () => {
    const random = rng(0x5eed17);
    let compared = 0;
    let slackPoints = 0;
    let tier0Points = 0;
    let consolidatedPoints = 0;
    for (let round = 0; round < rounds; round++) {
      const dir = tempDir();
      const src = path.join(dir, 'store');
      const store = Store.open(src, { schemas: HOT_SCHEMAS });
      const hs: SeriesHandle[] = [];
      for (let c = 0; c < 4; c++) hs.push(store.register('native_exits', { vcpu: String(c) }));
      const jsGauge = store.register('js_value', { thread: 'main' });
      const jsCounter = store.register('js_writes_total', {}, { kind: 'counter' });
      expect(jsGauge.column).toBe(4);

      const duration = 350 + Math.floor(random() * 300);
      const backupAt = 250 + Math.floor(random() * (duration - 300));
      const threads = devAddon().testing.startClockWriters(store.nativeTarget(hs[0]!).file, 4, 0, duration);
      const end = Date.now() + duration;
      const backupStart = Date.now() + backupAt;
      let writes = 0;
      let backup: Promise<BackupSummary> | undefined;
      let consolidated = 0;
      // The JavaScript thread: its own two series, consolidation, and the backup, all on one loop.
      while (Date.now() < end || backup === undefined) {
        for (let i = 0; i < 200; i++) {
          const now = Date.now();
          store.record(jsGauge, pattern(Math.floor(now / 5), 4), now);
          store.record(jsCounter, ++writes, now);
        }
        if (Date.now() - consolidated >= 10) {
          store.consolidate();
          consolidated = Date.now();
        }
        if (backup === undefined && Date.now() >= backupStart) backup = store.backup(path.join(dir, 'a.rbak'));
        await nextTurn();
      }
      const sum = await backup;
      const results = threads.join();
      expect(results.every((r) => r.ok > 0)).toBe(true);

      const restoredDir = path.join(dir, 'restored');
      const rep = Store.restore(path.join(dir, 'a.rbak'), restoredDir);
      expect(rep.damaged).toEqual([]);
      expect(rep.asOfMs).toBe(sum.asOfMs);
      const restored = Store.openReadOnly(restoredDir);
      try {
        // Whole rows: every value of the pattern's series is its own interval's.
        for (let c = 0; c < 5; c++) {
          const h = restored.find(c < 4 ? 'native_exits' : 'js_value', c < 4 ? { vcpu: String(c) } : { thread: 'main' })!;
          const t0 = sum.tiers[0]!;
          const r = restored.query(h, { start: t0.from * 5, end: t0.to * 5, tier: 0 });
          for (let i = 0; i < r.values.length; i++)
            if (!Number.isNaN(r.values[i]!)) expect(r.values[i], `round ${round} col ${c} at ${r.timestamps[i]}`).toBe(pattern(r.timestamps[i]! / 5, c));
        }
        const { diffs, strict, slack } = compareWindow(store, restored, sum, [[], AGGS, ['avg', 'min', 'max', 'last']]);
        expect(diffs, `round ${round} (duration ${duration} ms, backup at ${backupAt} ms)`).toEqual([]);
        compared += strict;
        slackPoints += slack;
        tier0Points += sum.tiers[0]!.complete >= sum.tiers[0]!.from ? 1 : 0;
        consolidatedPoints += sum.tiers[1]!.complete >= sum.tiers[1]!.from ? 1 : 0;
      } finally {
        restored.close();
        store.close();
      }
    }
    // The rounds compared real data: most of them had complete intervals and consolidated buckets.
    expect(compared).toBeGreaterThan(rounds * 100);
    // Points inside the slack that the archive lacks are the exception, not the rule.
    expect(slackPoints).toBeLessThan(compared / 20);
    expect(tier0Points).toBeGreaterThan(rounds / 2);
    expect(consolidatedPoints).toBeGreaterThan(rounds / 2);
  }, 600_000);
});

/** A quiet store of two schemas, with points at known times in the past, consolidated. */
function quietStore(dir: string): { store: Store; gauge: SeriesHandle; counter: SeriesHandle; t0: number; record(from: number, to: number): void } {
  const store = Store.open(dir, {
    schemas: [
      {
        name: 'fine',
        match: { tier: 'fine' },
        maxSeries: 4,
        tiers: [
          { interval: '1s', retention: '10m' },
          { interval: '10s', retention: '2h', aggregates: ['avg', 'min', 'max', 'sum', 'count', 'last'] },
          { interval: '1m', retention: '1d', precision: 'float64' },
        ],
      },
      { name: 'rest', maxSeries: 4, tiers: [{ interval: '5s', retention: '30m' }, { interval: '1m', retention: '1d' }] },
    ],
  });
  const gauge = store.register('temp', { tier: 'fine' });
  const counter = store.register('bytes_total', { tier: 'fine' }, { kind: 'counter' });
  const other = store.register('other', {});
  const t0 = Math.floor((Date.now() - 20 * 60_000) / 60_000) * 60_000;
  let total = 0;
  return {
    store,
    gauge,
    counter,
    t0,
    record(from: number, to: number) {
      for (let t = from; t < to; t += 1000) {
        store.record(gauge, Math.sin(t / 7000) * 50 + (t % 3), t);
        total += 1 + (t % 7);
        store.record(counter, total, t);
        if (t % 5000 === 0) store.record(other, t / 1000, t);
      }
      store.consolidate({ now: to });
    },
  };
}

function allQueries(store: Store, restored: Store, end: number): string[] {
  const diffs: string[] = [];
  for (const h of store.series()) {
    const r = restored.find(h.name, h.labels)!;
    for (const tier of [0, 1, 2]) {
      if (h.schema === 'rest' && tier === 2) continue;
      for (const agg of tier === 0 ? [undefined] : h.schema === 'fine' && tier === 1 ? AGGS : (['avg', 'max'] as const)) {
        const opts = { start: end - 86_400_000, end, tier, ...(agg === undefined || h.kind === 'counter' ? {} : { agg }) };
        const a = store.query(h, opts);
        const b = restored.query(r, opts);
        if (JSON.stringify([...a.values].map(String)) !== JSON.stringify([...b.values].map(String)) || a.timestamps.length !== b.timestamps.length)
          diffs.push(`${h.key} tier ${tier} ${agg ?? ''}`);
      }
    }
  }
  return diffs;
}

describe('incremental archives', () => {
  it('a full archive and two incrementals restore what the store holds, every tier and aggregate; out of order they are refused', async () => {
    const dir = tempDir();
    const q = quietStore(path.join(dir, 'store'));
    q.record(q.t0, q.t0 + 5 * 60_000);
    const a = await q.store.backup(path.join(dir, 'a.rbak'));
    expect(a.base).toBeNull();
    q.record(q.t0 + 5 * 60_000, q.t0 + 9 * 60_000);
    // A series registered between archives travels in the next one.
    const late = q.store.register('late_gauge', { tier: 'fine' });
    q.store.record(late, 42, q.t0 + 9 * 60_000 - 500);
    const b = await q.store.backup(path.join(dir, 'b.rbak'), { since: path.join(dir, 'a.rbak') });
    expect(b.base).toBe(a.id);
    // Only what is newer than a's instant: far fewer points than a full archive of the same store.
    const full = q.store.backupSync(path.join(dir, 'full-b.rbak'));
    expect(b.points).toBeLessThan(full.points);
    q.record(q.t0 + 9 * 60_000, q.t0 + 12 * 60_000);
    const c = q.store.backupSync(path.join(dir, 'c.rbak'), { since: path.join(dir, 'b.rbak'), codec: 'deflate' });
    expect(c.base).toBe(b.id);

    const rep = Store.restore([a, b, c].map((x) => x.file), path.join(dir, 'r'));
    expect(rep.damaged).toEqual([]);
    expect(rep.archives.map((x) => x.id)).toEqual([a.id, b.id, c.id]);
    const restored = Store.openReadOnly(path.join(dir, 'r'));
    try {
      expect(restored.series().map((h) => h.key)).toEqual(q.store.series().map((h) => h.key));
      expect(allQueries(q.store, restored, q.t0 + 12 * 60_000)).toEqual([]);
      // Every tier's counters as the source's: head and cursor (what the read path and the next consolidation go by).
      const tiersOf = (s: Store) => s.info({ series: false }).schemas.flatMap((x) => x.tiers.map((t) => [t.newest, t.oldest, JSON.stringify(t)]));
      expect(tiersOf(restored).map((x) => x.slice(0, 2))).toEqual(tiersOf(q.store).map((x) => x.slice(0, 2)));
    } finally {
      restored.close();
    }
    // The base alone restores the store as of its own instant.
    const ra = Store.restore(a.file, path.join(dir, 'ra'));
    expect(ra.asOfMs).toBe(a.asOfMs);
    expect(ra.series).toBe(3);

    expect(() => Store.restore([b.file], path.join(dir, 'x'))).toThrow(ConfigError);
    expect(() => Store.restore([a.file, c.file], path.join(dir, 'x'))).toThrow(/not the incremental/);
    expect(() => Store.restore([a.file], path.join(dir, 'r'))).toThrow(/not an empty directory/);
    expect(fs.existsSync(path.join(dir, 'x'))).toBe(false);
    q.store.close();
  });

  it('a restored store is a working store: its writer records on and consolidates from where the archive stood', async () => {
    const dir = tempDir();
    const q = quietStore(path.join(dir, 'store'));
    q.record(q.t0, q.t0 + 6 * 60_000);
    const a = await q.store.backup(path.join(dir, 'a.rbak'));
    Store.restore(a.file, path.join(dir, 'r'));
    const r = Store.open(path.join(dir, 'r'));
    const h = r.find('temp', { tier: 'fine' })!;
    // Both stores go on alike: the same points, the same consolidation.
    for (const s of [q.store, r]) {
      const g = s.find('temp', { tier: 'fine' })!;
      for (let t = q.t0 + 6 * 60_000; t < q.t0 + 8 * 60_000; t += 1000) s.record(g, t % 11, t);
      s.consolidate({ now: q.t0 + 8 * 60_000 });
    }
    for (const tier of [0, 1, 2]) {
      const opts = { start: q.t0, end: q.t0 + 8 * 60_000, tier };
      expect(r.query(h, opts).values).toEqual(q.store.query(q.gauge, opts).values);
    }
    r.close();
    q.store.close();
  });
});

describe('what an archive carries besides points', () => {
  it('exporter cursors and other metadata files (influx.json) are restored verbatim; read-only stores back up too', async () => {
    const dir = tempDir();
    const q = quietStore(path.join(dir, 'store'));
    q.record(q.t0, q.t0 + 3 * 60_000);
    const ex = q.store.exporter('prom');
    const batch = ex.next({ maxSamples: 50 });
    batch.commit();
    ex.close();
    const influx = JSON.stringify({ format: 'stand-in catalog', measurements: ['cpu'] });
    fs.writeFileSync(path.join(dir, 'store', 'influx.json'), influx);
    const ro = Store.openReadOnly(path.join(dir, 'store'));
    const a = await ro.backup(path.join(dir, 'a.rbak'));
    ro.close();
    expect(a.files.sort()).toEqual(['exporters/prom.json', 'influx.json']);
    Store.restore(a.file, path.join(dir, 'r'));
    for (const f of ['exporters/prom.json', 'influx.json', 'series.json'])
      expect(fs.readFileSync(path.join(dir, 'r', f), 'utf8'), f).toBe(fs.readFileSync(path.join(dir, 'store', f), 'utf8'));
    const r = Store.openReadOnly(path.join(dir, 'r'));
    const rex = r.exporter('prom');
    const next = rex.next({ maxSamples: 50 });
    const again = q.store.exporter('prom').next({ maxSamples: 50 });
    expect(next.samples).toBe(again.samples);
    expect(next.start).toBe(again.start);
    r.close();
    q.store.close();
  });

  it('a backup of a store closed meanwhile fails and leaves no archive behind', async () => {
    const dir = tempDir();
    const q = quietStore(path.join(dir, 'store'));
    q.record(q.t0, q.t0 + 3 * 60_000);
    const p = q.store.backup(path.join(dir, 'a.rbak'));
    q.store.close();
    await expect(p).rejects.toThrow(/closed during its backup/);
    expect(fs.readdirSync(dir)).toEqual(['store']);
  });
});

describe('a damaged archive', () => {
  it('restores every intact chunk and names the damaged ones; verify lists the same', async () => {
    const dir = tempDir();
    const q = quietStore(path.join(dir, 'store'));
    q.record(q.t0, q.t0 + 8 * 60_000);
    const a = await q.store.backup(path.join(dir, 'a.rbak'), { codec: 'raw' });
    expect(Store.verifyBackup(a.file)).toMatchObject({ damaged: [], problems: [], chunks: a.chunks, intactChunks: a.chunks });
    const bytes = fs.readFileSync(a.file);
    // Damage the gauge's tier-0 chunk: find its points (raw codec: float64 values) by one of them.
    const probe = Buffer.alloc(8);
    const t = q.t0 + 4 * 60_000;
    probe.writeDoubleLE(q.store.query(q.gauge, { start: t, end: t, tier: 0 }).values[0]!);
    const at = bytes.indexOf(probe);
    expect(at).toBeGreaterThan(0);
    bytes[at + 3]! ^= 0x10;
    fs.writeFileSync(path.join(dir, 'bad.rbak'), bytes);

    const v = Store.verifyBackup(path.join(dir, 'bad.rbak'));
    expect(v.damaged).toHaveLength(1);
    expect(v.damaged[0]).toMatch(/^schema fine tier 0 temp\{tier="fine"\} value, /);
    expect(v.intactChunks).toBe(a.chunks - 1);

    const rep = Store.restore(path.join(dir, 'bad.rbak'), path.join(dir, 'r'));
    expect(rep.damaged).toEqual([`${path.join(dir, 'bad.rbak')}: ${v.damaged[0]}`]);
    const r = Store.openReadOnly(path.join(dir, 'r'));
    const end = q.t0 + 8 * 60_000;
    // Everything but that chunk is as in the source; the damaged chunk's points are missing.
    const diffs = allQueries(q.store, r, end);
    expect(diffs).toEqual([`temp{tier="fine"} tier 0 `]);
    const gone = r.query(r.find('temp', { tier: 'fine' })!, { start: q.t0, end, tier: 0 });
    expect(gone.values.every((x) => Number.isNaN(x))).toBe(true);
    r.close();

    // Cut short: the chunks after the cut are named as missing; those before it restore.
    fs.writeFileSync(path.join(dir, 'cut.rbak'), fs.readFileSync(a.file).subarray(0, Math.floor(bytes.length * 0.6)));
    const vc = Store.verifyBackup(path.join(dir, 'cut.rbak'));
    expect(vc.damaged.length).toBeGreaterThan(0);
    expect(vc.problems.some((p) => /end record is missing/.test(p))).toBe(true);
    const rc = Store.restore(path.join(dir, 'cut.rbak'), path.join(dir, 'rc'));
    expect(rc.damaged.length).toBe(vc.damaged.length);
    expect(rc.restoredChunks).toBe(vc.intactChunks);
    q.store.close();
  });
});

describe('the event ring', () => {
  type Ev = ReturnType<Store['events']>[number];
  const view = (rs: Ev[]) => rs.map((r) => ({ tsNs: r.tsNs, topic: r.topic, type: r.type, data: r.data, raw: r.raw, origin: r.origin }));
  const all = (s: Store): Ev[] => s.events({ limit: 10_000_000 });

  /** A store with a small ring (it wraps), typed topics and nonconformant data; `n` events appended per call. */
  function eventStore(dir: string, size: number) {
    const store = Store.open(dir, { schemas: [{ name: 'one', maxSeries: 2, tiers: [{ interval: '1s', retention: '10m' }] }], events: { size } });
    store.createTopic('/vm/1/exits', 'int32');
    store.createTopic('/vm/1/pos', '{"x": int32, "name": string}');
    const g = store.register('g', {});
    let i = 0;
    const t0 = BigInt(Date.now() - 60_000) * 1_000_000n;
    return {
      store,
      append(n: number) {
        for (let k = 0; k < n; k++, i++) {
          const ts = t0 + BigInt(i) * 1000n;
          if (i % 5 === 0) store.append('/vm/1/exits', i, ts);
          else if (i % 5 === 1) store.append('/vm/1/pos', { x: i, name: `p${i}` }, ts);
          else if (i % 97 === 2) store.append('/vm/1/exits', 'not a number', ts); // to /nonconformant
          else store.append(`/vm/${i % 3}/console`, `line ${i} ${'x'.repeat(i % 40)}`, ts);
        }
        store.record(g, i, Date.now() - 1000);
      },
    };
  }

  it('a backup carries the ring as of its instant while events are appended during it; restore answers as the source did then', async () => {
    const dir = tempDir();
    const e = eventStore(path.join(dir, 'store'), 64 * 1024);
    e.append(5000); // well past the ring's 64 KiB: it has wrapped
    const st = e.store.eventStats();
    expect(st.overwritten).toBeGreaterThan(0);
    const before = all(e.store);
    const p = e.store.backup(path.join(dir, 'a.rbak'), { codec: 'deflate' });
    // Appends while the backup runs (between its spans): they are after the instant.
    let during = 0;
    let done = false;
    void p.finally(() => (done = true));
    while (!done) {
      e.append(50);
      during += 50;
      await nextTurn();
    }
    const a = await p;
    expect(during).toBeGreaterThan(0);
    expect(a.events).toBe(before.length);
    expect(Store.verifyBackup(a.file)).toMatchObject({ damaged: [], problems: [], events: before.length, intactChunks: a.chunks });
    const rep = Store.restore(a.file, path.join(dir, 'r'));
    expect(rep).toMatchObject({ damaged: [], problems: [], events: before.length });
    const r = Store.openReadOnly(path.join(dir, 'r'));
    expect(view(all(r))).toEqual(view(before));
    expect(r.topics()).toEqual(e.store.topics());
    expect(r.eventStats().size).toBe(st.size);
    expect(view(r.events({ topic: '/vm/1' }))).toEqual(view(before.filter((x) => x.topic.startsWith('/vm/1/'))));
    expect(before.some((x) => x.origin === '/vm/1/exits')).toBe(true);
    r.close();
    // The restored store's ring takes appends on.
    const w = Store.open(path.join(dir, 'r'));
    w.append('/vm/9/console', 'after restore');
    expect(all(w).at(-1)!.data).toBe('after restore');
    w.close();
    e.store.close();
  });

  it('an incremental carries the records newer than its base; base and incremental restore the ring as of the later instant', async () => {
    const dir = tempDir();
    const e = eventStore(path.join(dir, 'store'), 256 * 1024);
    e.append(2000);
    const atA = all(e.store);
    const a = e.store.backupSync(path.join(dir, 'a.rbak'));
    e.append(3000); // part of a's records are overwritten by these
    const atB = all(e.store);
    const b = e.store.backupSync(path.join(dir, 'b.rbak'), { since: a.file, codec: 'raw' });
    expect(b.events).toBe(3000);
    e.append(10);
    const rep = Store.restore([a.file, b.file], path.join(dir, 'r'));
    expect(rep.damaged).toEqual([]);
    const r = Store.openReadOnly(path.join(dir, 'r'));
    expect(view(all(r))).toEqual(view(atB));
    r.close();
    const ra = Store.restore(a.file, path.join(dir, 'ra'));
    expect(ra.events).toBe(atA.length);
    const r2 = Store.openReadOnly(path.join(dir, 'ra'));
    expect(view(all(r2))).toEqual(view(atA));
    r2.close();
    e.store.close();
  });

  it('a damaged events chunk is named by verify and restore; every other record is restored', async () => {
    const dir = tempDir();
    const e = eventStore(path.join(dir, 'store'), 4 * 1024 * 1024);
    e.append(10_000); // 3 chunks of at most 4,096 records
    const src = all(e.store);
    const a = await e.store.backup(path.join(dir, 'a.rbak'), { codec: 'raw' });
    const v0 = Store.verifyBackup(a.file);
    expect(v0.damaged).toEqual([]);
    const bytes = fs.readFileSync(a.file);
    const at = bytes.indexOf(Buffer.from('line 5003 '));
    expect(at).toBeGreaterThan(0);
    bytes[at + 2]! ^= 0x01;
    fs.writeFileSync(path.join(dir, 'bad.rbak'), bytes);
    const v = Store.verifyBackup(path.join(dir, 'bad.rbak'));
    expect(v.damaged).toHaveLength(1);
    expect(v.damaged[0]).toMatch(/^events 4096 records, .* \(events chunk 1\)$/);
    expect(v.intactChunks).toBe(a.chunks - 1);
    const rep = Store.restore(path.join(dir, 'bad.rbak'), path.join(dir, 'r'));
    expect(rep.damaged).toEqual([`${path.join(dir, 'bad.rbak')}: ${v.damaged[0]}`]);
    const r = Store.openReadOnly(path.join(dir, 'r'));
    expect(view(all(r))).toEqual(view([...src.slice(0, 4096), ...src.slice(8192)]));
    r.close();
    e.store.close();
  });
});

describe('archive format 1', () => {
  it('an archive of format 1 (checked in, made by a format-1 build) verifies and restores, its store without a ring', () => {
    const dir = tempDir();
    const fixture = path.join(__dirname, 'fixtures', 'backup-v1.rbak');
    expect(fs.readFileSync(fixture).readUInt32LE(8)).toBe(1);
    const v = Store.verifyBackup(fixture);
    expect(v).toMatchObject({ damaged: [], problems: [], events: 0 });
    expect(v.intactChunks).toBe(v.chunks);
    const rep = Store.restore(fixture, path.join(dir, 'r'));
    expect(rep).toMatchObject({ damaged: [], problems: [], events: 0, series: 6 });
    fs.cpSync(path.join(__dirname, 'fixtures', 'v2-store'), path.join(dir, 'src'), { recursive: true });
    const src = Store.openReadOnly(path.join(dir, 'src'));
    const r = Store.openReadOnly(path.join(dir, 'r'));
    expect(r.hasEvents).toBe(false);
    let compared = 0;
    for (const h of src.series()) {
      const rh = r.find(h.name, h.labels)!;
      for (const t of src.info({ series: false }).schemas.find((x) => x.name === h.schema)!.tiers) {
        // The fixture's clock: 2024-01-01, 20 minutes recorded after the store's creation.
        const range = { start: 1704068460000 - 3_600_000, end: 1704068460000 + 2 * 3_600_000, tier: t.index };
        const a = src.query(h, range);
        expect(r.query(rh, range)).toEqual(a);
        compared += a.values.filter((x) => !Number.isNaN(x)).length;
      }
    }
    expect(compared).toBeGreaterThan(500);
    src.close();
    r.close();
  });
});
