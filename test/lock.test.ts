// One writer per store (docs/reliability.md, guarantee 8): a second writer, in the same
// process or another, gets StoreLockedError with a message that names the way out; readers open
// read-only and take no lock; when the writer closes, the next one gets in.
import { describe, expect, it } from 'vitest';
import { Store, StoreLockedError } from '../src/index';
import { tempDir } from './helpers';
import { runFixture } from './fixtures/child';

const SCHEMAS = [{ name: 'lk', match: {}, maxSeries: 4, tiers: [{ interval: '1s', retention: '10m' }] }];
const T = Math.floor(Date.now() / 1000) * 1000 - 60_000;

function newStore(): string {
  const d = tempDir();
  Store.open(d, { schemas: SCHEMAS }).close();
  return d;
}

/** Runs lock.js in another process and returns the JSON it prints. */
async function probe(mode: 'try-write' | 'try-read', dir: string): Promise<Record<string, unknown>> {
  const child = runFixture('lock.js', [mode, dir]);
  const { code } = await child.closed;
  expect(code, child.stderr()).toBe(0);
  expect(child.lines.length, child.stderr()).toBe(1);
  return JSON.parse(child.lines[0]!) as Record<string, unknown>;
}

function lockedError(f: () => unknown): StoreLockedError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(StoreLockedError);
    return e as StoreLockedError;
  }
  throw new Error('expected StoreLockedError, nothing was thrown');
}

describe('the writer lock', () => {
  it('refuses a second writer in the same process, with or without schemas, and the first keeps working', () => {
    const dir = newStore();
    const w = Store.open(dir);
    const h = w.register('lock_probe');
    w.record(h, 1, T);
    const e1 = lockedError(() => Store.open(dir));
    const e2 = lockedError(() => Store.open(dir, { schemas: SCHEMAS }));
    for (const e of [e1, e2]) {
      expect(e.name).toBe('StoreLockedError');
      expect(e.message).toContain(dir);
      expect(e.message).toMatch(/openReadOnly/);
      // It says who holds it: this process.
      expect(e.message).toContain(`pid ${process.pid}`);
    }
    // The refused opens did not take the lock away from the writer, nor stop it.
    w.record(h, 2, T + 1000);
    expect(Array.from(w.query(h, { start: T, end: T + 1000, tier: 0 }).values)).toEqual([1, 2]);
    lockedError(() => Store.open(dir));
    w.close();
  });

  it('lets readers in while the writer holds it, in this process and another', async () => {
    const dir = newStore();
    const w = Store.open(dir);
    const h = w.register('lock_probe');
    w.record(h, 42, T);
    const r = Store.openReadOnly(dir);
    expect(r.readOnly).toBe(true);
    const rh = r.find('lock_probe')!;
    expect(r.query(rh, { start: T, end: T, tier: 0 }).values[0]).toBe(42);
    // The reader sees what the writer records after the reader opened.
    w.record(h, 43, T + 1000);
    expect(r.lastPoint(rh)).toEqual([T + 1000, 43]);
    expect(await probe('try-read', dir)).toEqual({ ok: true, readOnly: true, last: [T + 1000, 43] });
    // Readers hold no lock: with one open here and one having come and gone, the writer carries on.
    w.record(h, 44, T + 2000);
    r.close();
    w.close();
  });

  it('refuses a writer in another process while this one writes, and lets it in after close()', async () => {
    const dir = newStore();
    const w = Store.open(dir);
    w.register('lock_probe');
    const refused = await probe('try-write', dir);
    expect(refused.ok).toBe(false);
    expect(refused.name).toBe('StoreLockedError');
    expect(refused.message).toMatch(/openReadOnly/);
    expect(refused.message).toContain(`pid ${process.pid}`);
    w.close();
    expect(await probe('try-write', dir)).toEqual({ ok: true });
    // And in this process too, after the other process closed.
    Store.open(dir).close();
  });

  it('refuses this process while another process writes, and lets it in once that one closes', async () => {
    const dir = newStore();
    const holder = runFixture('lock.js', ['hold', dir, String(T), '7']);
    const line = await holder.waitFor((l) => l.startsWith('holding '));
    const pid = Number(line.slice('holding '.length));
    expect(pid).toBe(holder.proc.pid);

    const e = lockedError(() => Store.open(dir));
    expect(e.message).toContain(`pid ${pid}`);
    expect(e.message).toMatch(/openReadOnly/);
    expect((await probe('try-write', dir)).name).toBe('StoreLockedError');

    // Reading works meanwhile, here and from a third process.
    const r = Store.openReadOnly(dir);
    expect(r.lastPoint(r.find('lock_probe')!)).toEqual([T, 7]);
    r.close();
    expect(await probe('try-read', dir)).toEqual({ ok: true, readOnly: true, last: [T, 7] });

    holder.proc.stdin.write('release\n');
    await holder.waitFor((l) => l === 'released');
    const { code } = await holder.closed;
    expect(code).toBe(0);
    const w = Store.open(dir);
    expect(w.lastPoint(w.find('lock_probe')!)).toEqual([T, 7]);
    w.close();
  });
});
