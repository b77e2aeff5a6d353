// rondo backup, restore and verify, run for real (node dist/src/cli/main.js): a backup of a store
// this process keeps recording into (and consolidating) restores to a store that `rondo query`
// reads identically over the archive's window, in every tier; a damaged archive is named by
// verify and restore, which exit 1.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Store } from '../src/index';
import { tempDir } from './helpers';
import { rondo, type CliRun } from './support/run-cli';


type Run = CliRun;

describe('rondo backup / restore / verify', () => {
  it('a backup taken while this process records restores to a store rondo query reads identically', async () => {
    const dir = tempDir();
    const src = path.join(dir, 'store');
    const store = Store.open(src, {
      schemas: [
        {
          name: 'vm',
          maxSeries: 16,
          tiers: [
            { interval: '100ms', retention: '10m' },
            { interval: '1s', retention: '1h', aggregates: ['avg', 'max', 'count', 'last'] },
          ],
        },
      ],
    });
    const hs = [0, 1, 2, 3].map((v) => store.register('vcpu_exits_total', { vcpu: String(v) }, { kind: 'counter' }));
    const temp = store.register('cpu_temperature_celsius', { socket: '0' });
    // A history first (timestamps of the last minute), then live recording while the CLI runs.
    const start = Math.floor((Date.now() - 60_000) / 1000) * 1000;
    let total = 0;
    for (let t = start; t < Date.now() - 1000; t += 100) {
      total += 7;
      hs.forEach((h, i) => store.record(h, total * (i + 1), t));
      store.record(temp, 40 + Math.sin(t / 3000), t);
    }
    store.consolidate();
    let live = true;
    const loop = (async () => {
      while (live) {
        const now = Date.now();
        total += 3;
        hs.forEach((h, i) => store.record(h, total * (i + 1), now));
        store.record(temp, 41 + Math.cos(now / 2000), now);
        store.consolidate();
        await new Promise((r) => setTimeout(r, 5));
      }
    })();

    const archive = path.join(dir, 'vm.rbak');
    const b = await rondo(['backup', src, archive, '--format', 'json']);
    expect(b.stderr).toBe('');
    expect(b.code).toBe(0);
    const sum = JSON.parse(b.stdout) as { asOfMs: number; id: string; tiers: Array<{ tier: number; from: number; complete: number; intervalMs: number }> };
    const text = await rondo(['backup', src, path.join(dir, 'inc.rbak'), '--since', archive]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^incremental \(since [0-9a-f]{24}\) archive [0-9a-f]{24} of .*, as of \d{4}-\d\d-\d\dT/);
    live = false;
    await loop;

    const v = await rondo(['verify', archive]);
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/: ok: full archive/);

    const restored = path.join(dir, 'restored');
    const r = await rondo(['restore', archive, restored]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^restored .* as of .*: 5 series, \d+ points, (\d+) of \1 chunks\n$/);

    for (const t of sum.tiers) {
      const range = ['--start', String(t.from * t.intervalMs), '--end', String(t.complete * t.intervalMs), '--tier', String(t.tier), '--format', 'csv'];
      const a = await rondo(['query', src, '{__name__=~".+"}', ...range]);
      const c = await rondo(['query', restored, '{__name__=~".+"}', ...range]);
      expect(a.code).toBe(0);
      expect(c.stdout.split('\n').length, `tier ${t.tier}`).toBeGreaterThan(50);
      expect(c.stdout, `tier ${t.tier}`).toBe(a.stdout);
    }
    // The restored store as a whole answers as the archive's instant left it: rondo info's series.
    const info = await rondo(['info', restored, '--format', 'json']);
    expect((JSON.parse(info.stdout) as { series: unknown[] }).series).toHaveLength(5);

    // The full archive and its incremental restore too; the incremental alone is refused (exit 1).
    const both = await rondo(['restore', archive, path.join(dir, 'inc.rbak'), path.join(dir, 'r2')]);
    expect(both.code).toBe(0);
    const alone = await rondo(['restore', path.join(dir, 'inc.rbak'), path.join(dir, 'r3')]);
    expect(alone.code).toBe(1);
    expect(alone.stderr).toMatch(/^rondo: ConfigError: restore: .* is an incremental archive/);
    store.close();
  }, 120_000);

  it('a damaged archive: verify and restore name the damaged chunk and exit 1; the rest restores', async () => {
    const dir = tempDir();
    const src = path.join(dir, 'store');
    const store = Store.open(src, { schemas: [{ name: 'd', maxSeries: 4, tiers: [{ interval: '1s', retention: '10m' }] }] });
    const a = store.register('a_value');
    const b = store.register('b_value');
    const t0 = Math.floor((Date.now() - 300_000) / 1000) * 1000;
    for (let t = t0; t < t0 + 200_000; t += 1000) {
      store.record(a, t / 1000, t);
      store.record(b, -t / 1000, t);
    }
    store.close();
    const archive = path.join(dir, 'd.rbak');
    expect((await rondo(['backup', src, archive, '--codec', 'raw'])).code).toBe(0);
    const bytes = fs.readFileSync(archive);
    const probe = Buffer.alloc(8);
    probe.writeDoubleLE((t0 + 100_000) / 1000);
    bytes[bytes.indexOf(probe) + 2]! ^= 1;
    fs.writeFileSync(archive, bytes);

    const v = await rondo(['verify', archive]);
    expect(v.code).toBe(1);
    expect(v.stdout).toMatch(/DAMAGED/);
    expect(v.stdout).toMatch(/damaged: 1 chunks\n {2}schema d tier 0 a_value value, /);
    const r = await rondo(['restore', archive, path.join(dir, 'r')]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/damaged: 1 chunks not restored\n {2}.*schema d tier 0 a_value value, /);
    const q = await rondo(['query', path.join(dir, 'r'), 'b_value', '--start', String(t0), '--end', String(t0 + 199_000), '--tier', '0', '--format', 'csv']);
    expect(q.stdout.trim().split('\n')).toHaveLength(201);
    const usage = await rondo(['restore', archive]);
    expect(usage.code).toBe(2);
  }, 60_000);
});
