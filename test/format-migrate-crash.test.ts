// A storage-format migration killed with SIGKILL at random points (docs/storage-format.md, "Format
// 1 and its migration"): each time, before anything else opens it, the directory is the old store
// (every file of the format-1 fixture as it was), the new one (every slab and the store file of
// format 2), or a switch its journal commits to; a reader refuses the first and the last
// (MigrationNeededError) and reads the new one; and after the next writer's open it answers every
// point as an uninterrupted migration of the fixture does, with nothing of the migration left.
// Half the rounds stop the migration at a step (the kill lands between two steps it names; the
// steps are taken in turn from a seeded start, so each is hit), half kill it after a random delay
// (anywhere, inside the native rewrite of a slab too).
// RONDO_FORMAT_MIGRATE_ROUNDS raises the number of rounds (default 50); RONDO_FORMAT_MIGRATE_SEED
// replays a run.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MigrationNeededError, Store } from '../src/index';
import { format } from '../src/store/native';
import { MIGRATION_DIR, MIGRATION_JOURNAL } from '../src/store/migrate';
import { STORE_VERSION } from '../src/store/layout';
import { runFixture } from './fixtures/child';
import { suiteSeed, xorshift32 } from './fixtures/random';
import { tempDir } from './helpers';

const SEED = suiteSeed('RONDO_FORMAT_MIGRATE_SEED', 20241704, 'format-migrate-crash');
const ROUNDS = Number(process.env.RONDO_FORMAT_MIGRATE_ROUNDS ?? 50);
const FIXTURE = path.join(__dirname, 'fixtures', 'v1-store');
const SLABS = ['fb.t0.slab', 'fb.t1.slab', 'fx.t0.slab', 'fx.t1.slab', 'fx.t2.slab'];
// The fixture's clock (test/fixtures/make-v1-store.js): every point is in the hour before it.
const NOW = Date.UTC(2024, 0, 1, 0, 21, 0);

/** Every file of the fixture, by path. */
function files(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const f of fs.readdirSync(dir, { recursive: true }) as string[]) {
    const p = path.join(dir, f);
    if (fs.statSync(p).isFile()) out.set(f, fs.readFileSync(p));
  }
  return out;
}

function slabVersion(file: string): number {
  return fs.readFileSync(file).readUInt32LE(format.offsets.version);
}

function storeVersion(dir: string): number {
  return (JSON.parse(fs.readFileSync(path.join(dir, 'rondo.json'), 'utf8')) as { version: number }).version;
}

/** Everything the store answers: its schemas, and every series' points in every tier, every aggregate it keeps. */
function answers(store: Store): string {
  const info = store.info({ series: false });
  const points: Record<string, Array<Array<number | null>>> = {};
  for (const h of store.series()) {
    const tiers = info.schemas.find((x) => x.name === h.schema)!.tiers;
    points[`${h.id} ${h.key} ${h.kind}`] = tiers.flatMap((t) =>
      (t.index === 0 || h.kind === 'counter' ? [undefined] : t.aggregates).map((agg) =>
        Array.from(store.query(h, { start: NOW - 3_600_000, end: NOW, tier: t.index, ...(agg ? { agg } : {}) }).values, (v) => (Number.isNaN(v) ? null : v)),
      ),
    );
  }
  return JSON.stringify({ schemas: info.schemas.map((s) => ({ ...s, tiers: s.tiers.map((t) => ({ ...t })) })), points });
}

function readAnswers(dir: string): string {
  const s = Store.openReadOnly(dir);
  try {
    return answers(s);
  } finally {
    s.close();
  }
}

describe('a storage-format migration killed with SIGKILL', () => {
  it(`leaves a directory that opens as the old store or the new one, whole, in ${ROUNDS} rounds`, { timeout: 60_000 + ROUNDS * 3_000 }, async () => {
    const root = tempDir();
    const old = files(FIXTURE);
    // The reference: the same migration, not interrupted, in a child as the rounds run it.
    const whole = path.join(root, 'whole');
    fs.cpSync(FIXTURE, whole, { recursive: true });
    let readyAt = 0;
    let doneAt = 0;
    const ref = runFixture('format-migrate.js', [whole, '0'], (line) => {
      if (line === 'ready') readyAt = performance.now();
      if (line === 'done') doneAt = performance.now();
    });
    await ref.closed;
    expect(ref.lines, ref.stderr()).toContain('done');
    // Kills after a delay land anywhere from before the migration to after it.
    const spanMs = (doneAt - readyAt) * 1.3 + 2;
    const steps = ref.lines.filter((l) => l.startsWith('step ')).map((l) => l.slice(5));
    // The backup written, each slab staged, the store file staged, committed, each switched, the journal removed, done.
    expect(steps).toEqual(['backed up', ...SLABS.map((f) => `staged ${f}`), 'staged rondo.json', 'committed', ...SLABS.map((f) => `switched ${f}`), 'switched rondo.json', 'journal removed', 'done']);
    const fresh = readAnswers(whole);
    expect(fresh).toContain('"precision":"float32"');

    const rnd = xorshift32(SEED);
    const firstStep = Math.floor(rnd() * steps.length);
    const outcomes = { old: 0, switching: 0, new: 0 };
    for (let round = 0; round < ROUNDS; round++) {
      const dir = path.join(root, `r${round}`);
      fs.cpSync(FIXTURE, dir, { recursive: true });
      const atStep = round % 2 === 0;
      const stopAt = atStep ? 1 + ((firstStep + round / 2) % steps.length) : 0;
      const delayMs = rnd() * spanMs;
      const child = runFixture('format-migrate.js', [dir, String(stopAt)], (line) => {
        if (line === 'stop') child.proc.kill('SIGKILL');
        if (line === 'ready' && !atStep) setTimeout(() => child.proc.kill('SIGKILL'), delayMs);
      });
      await child.closed;
      const seen = child.lines.filter((l) => l.startsWith('step ')).map((l) => l.slice(5));
      const where = `round ${round} (seed ${SEED}, ${atStep ? `stopped at step ${stopAt}` : `killed after ${delayMs.toFixed(2)} ms`}; steps seen: ${seen.join(', ')}); stderr: ${child.stderr()}`;

      // Before anyone opens it: the old store, the new one, or a committed switch.
      const journal = fs.existsSync(path.join(dir, MIGRATION_JOURNAL));
      const version = storeVersion(dir);
      const now = files(dir);
      const isOld = !journal && version === 1 && [...old].every(([f, b]) => now.get(f)?.equals(b) === true);
      const isNew = version === STORE_VERSION && SLABS.every((f) => slabVersion(path.join(dir, f)) === 2);
      const state = isOld ? 'old' : isNew ? 'new' : journal && version === 1 ? 'switching' : 'broken';
      expect(state, where).not.toBe('broken');
      // Beside the fixture's files, only what a writer's open makes (LOCK) and the migration's own.
      const extra = [...now.keys()].filter((f) => !old.has(f) && f !== 'LOCK' && !f.startsWith('backups/') && !f.startsWith(`${MIGRATION_DIR}/`) && !f.startsWith(`${MIGRATION_JOURNAL}`));
      expect(extra, where).toEqual([]);
      // series.json and the exporter's cursor are never touched.
      expect(now.get('series.json')?.equals(old.get('series.json')!), where).toBe(true);
      expect(now.get('exporters/fx.json')?.equals(old.get('exporters/fx.json')!), where).toBe(true);
      if (state === 'new') expect(readAnswers(dir), where).toBe(fresh);
      else expect(() => Store.openReadOnly(dir), where).toThrow(MigrationNeededError);

      // The next writer's open finishes the switch or migrates again; then the store answers as
      // the uninterrupted migration made it, and nothing of the migration is left.
      Store.open(dir).close();
      expect(readAnswers(dir), where).toBe(fresh);
      expect(storeVersion(dir), where).toBe(STORE_VERSION);
      expect(SLABS.map((f) => slabVersion(path.join(dir, f))), where).toEqual(SLABS.map(() => 2));
      expect(fs.readdirSync(dir).filter((f) => f.startsWith('format-migration') || f.endsWith('.tmp')), where).toEqual([]);
      // The backup archive of the old store, whole (one per migration that got that far; no half-written one).
      const archives = fs.readdirSync(path.join(dir, 'backups'));
      expect(archives.length, where).toBeGreaterThanOrEqual(1);
      expect(archives.filter((f) => !/^pre-migrate-v1-\d{8}T\d{6}Z\.rbak$/.test(f)), where).toEqual([]);
      outcomes[state as keyof typeof outcomes]++;
      fs.rmSync(dir, { recursive: true, force: true });
    }
    console.log(`format-migrate-crash: ${ROUNDS} rounds (seed ${SEED}): ${outcomes.old} found as the old store, ${outcomes.switching} mid-switch, ${outcomes.new} as the new one`);
    expect(outcomes.old).toBeGreaterThan(0);
    expect(outcomes.switching).toBeGreaterThan(0);
    expect(outcomes.new).toBeGreaterThan(0);
  });
});
