// A schema migration killed with SIGKILL at random points (docs/storage-format.md, "Schema
// migrations: the switch"): each time, the directory opens as the old store or as the new one,
// with every point of that store as it was before, or as an uninterrupted migration made it,
// and nothing is left beside it. Half the rounds stop the migration at a step chosen at random
// (the kill lands between two steps it names), half kill it after a random delay (anywhere).
// RONDO_MIGRATE_ROUNDS raises the number of rounds (default 50); RONDO_MIGRATE_SEED replays a run.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Store, type SchemaOptions } from '../src/index';
import { switchDirs } from '../src/store/schema-migrate';
import { runFixture } from './fixtures/child';
import { suiteSeed, xorshift32 } from './fixtures/random';
import { tempDir } from './helpers';

const SEED = suiteSeed('RONDO_MIGRATE_SEED', 20241705, 'schema-migrate-crash');
const ROUNDS = Number(process.env.RONDO_MIGRATE_ROUNDS ?? 50);
const END = Math.floor((Date.now() - 360_000) / 300_000) * 300_000;
const SPAN = 40 * 60_000;

const OLD: SchemaOptions = {
  name: 'vm',
  match: {},
  maxSeries: 8,
  tiers: [
    { interval: '1s', retention: '5m' },
    { interval: '10s', retention: '30m' },
    { interval: '1m', retention: '2h' },
  ],
};
// Retention, maxSeries, a tier's aggregates and a new tier all change; mem moves to a schema of its own.
const NEW: SchemaOptions[] = [
  { name: 'mem', match: { __name__: 'mem' }, maxSeries: 2, tiers: [{ interval: '1s', retention: '10m' }, { interval: '1m', retention: '2h' }] },
  {
    ...OLD,
    maxSeries: 6,
    tiers: [{ interval: '1s', retention: '10m' }, { interval: '10s', retention: '30m', aggregates: ['avg', 'min', 'max'] }, { interval: '1m', retention: '2h' }, { interval: '5m', retention: '6h' }],
  },
];

function makeStore(dir: string): void {
  const s = Store.open(dir, { schemas: [OLD] });
  const hs = [s.register('cpu', { vcpu: '0' }), s.register('cpu', { vcpu: '1' }), s.register('mem'), s.register('exits_total', {}, { kind: 'counter' })];
  let total = 0;
  for (let ts = END - SPAN; ts < END; ts += 1000) {
    const i = (ts - END) / 1000;
    if (i % 31 !== 0) s.record(hs[0]!, Math.cos(i / 40) * 50, ts);
    s.record(hs[1]!, (i * 104729) % 17, ts);
    s.record(hs[2]!, 2048 + i, ts);
    total += (i & 3) + 1;
    s.record(hs[3]!, total, ts);
    if (i % 60 === 0) s.consolidate({ now: ts });
  }
  s.consolidate({ now: END });
  s.close();
}

/** Everything the store answers: its schemas, and every series' points in every tier. */
function answers(dir: string): { schemas: string; points: string } {
  const s = Store.openReadOnly(dir);
  try {
    const info = s.info({ series: false });
    const points: Record<string, Array<Array<number | null>>> = {};
    for (const h of s.series()) {
      const tiers = info.schemas.find((x) => x.name === h.schema)!.tiers;
      points[`${h.id} ${h.key} ${h.schema}`] = tiers.map((_, t) => Array.from(s.query(h, { start: END - 6 * 3_600_000, end: END, tier: t }).values, (v) => (Number.isNaN(v) ? null : v)));
    }
    return { schemas: JSON.stringify(info.schemas.map((x) => ({ name: x.name, match: x.match, maxSeries: x.maxSeries, tiers: x.tiers.map((t) => [t.intervalMs, t.retentionMs, t.aggregates, t.precision]) }))), points: JSON.stringify(points) };
  } finally {
    s.close();
  }
}

describe('a schema migration killed with SIGKILL', () => {
  it(`leaves a directory that opens as the old store or the new one, whole, in ${ROUNDS} rounds`, { timeout: 60_000 + ROUNDS * 2_000 }, async () => {
    const root = tempDir();
    const template = path.join(root, 'template');
    makeStore(template);
    const schemasFile = path.join(root, 'new.json');
    fs.writeFileSync(schemasFile, JSON.stringify(NEW));
    const old = answers(template);
    // The reference: the same migration, not interrupted (in a child, as the rounds run it).
    const whole = path.join(root, 'whole');
    fs.cpSync(template, whole, { recursive: true });
    let readyAt = 0;
    let doneAt = 0;
    const ref = runFixture('schema-migrate.js', [whole, schemasFile, String(END), '0'], (line) => {
      if (line === 'ready') readyAt = performance.now();
      if (line === 'done') doneAt = performance.now();
    });
    await ref.closed;
    // Kills after a delay land anywhere from before the migration to after it.
    const spanMs = (doneAt - readyAt) * 1.3 + 5;
    expect(ref.lines, ref.stderr()).toContain('done');
    const steps = ref.lines.filter((l) => l.startsWith('step ')).length;
    expect(steps).toBeGreaterThanOrEqual(10);
    const fresh = answers(whole);
    expect(fresh.schemas).not.toBe(old.schemas);
    expect(fresh.points).not.toBe(old.points);

    const rnd = xorshift32(SEED);
    const outcomes = { old: 0, new: 0 };
    for (let round = 0; round < ROUNDS; round++) {
      const dir = path.join(root, `r${round}`, 'store');
      fs.mkdirSync(path.dirname(dir));
      fs.cpSync(template, dir, { recursive: true });
      const atStep = round % 2 === 0;
      const stopAt = atStep ? 1 + Math.floor(rnd() * steps) : 0;
      const delayMs = rnd() * spanMs;
      const child = runFixture('schema-migrate.js', [dir, schemasFile, String(END), String(stopAt)], (line) => {
        if (line === 'stop') child.proc.kill('SIGKILL');
        if (line === 'ready' && !atStep) setTimeout(() => child.proc.kill('SIGKILL'), delayMs);
      });
      await child.closed;
      const where = `round ${round} (seed ${SEED}, ${atStep ? `stopped at step ${stopAt}` : `killed after ${delayMs.toFixed(1)} ms`}; steps seen: ${child.lines.filter((l) => l.startsWith('step ')).join(', ')}); stderr: ${child.stderr()}`;
      // The next writer's open finishes or forgets the switch; then the store answers as one of the two.
      Store.open(dir).close();
      const got = answers(dir);
      const isNew = got.schemas === fresh.schemas;
      expect(isNew || got.schemas === old.schemas, where).toBe(true);
      expect(got.points, where).toBe(isNew ? fresh.points : old.points);
      const { fresh: f, old: o } = switchDirs(dir);
      expect(fs.existsSync(f) || fs.existsSync(o), where).toBe(false);
      outcomes[isNew ? 'new' : 'old']++;
      fs.rmSync(path.dirname(dir), { recursive: true, force: true });
    }
    console.log(`schema-migrate-crash: ${ROUNDS} rounds, ${outcomes.old} opened as the old store, ${outcomes.new} as the new one`);
    expect(outcomes.old).toBeGreaterThan(0);
    expect(outcomes.new).toBeGreaterThan(0);
  });
});
