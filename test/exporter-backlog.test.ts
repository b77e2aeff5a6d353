// exporter.backlog(): what still waits to be exported, and how much of the ring it fills; the
// figures behind the "ring overwriting unexported data" alert (mixin/alerts.yaml).
import { describe, expect, it } from 'vitest';
import { Store } from '../src/index';
import { tempDir } from './helpers';

// Tier 0: 1 s intervals, a ring of 20.
const schemas = [{ name: 'e', match: {}, maxSeries: 8, tiers: [{ interval: '1s', retention: '20s' }, { interval: '10s', retention: '1h' }] }];

describe('exporter backlog', () => {
  it('grows with what is recorded, falls with each commit, and reaches 1 when the ring overwrites unexported samples', () => {
    const store = Store.open(tempDir(), { schemas });
    const h = store.register('x');
    // The 30 seconds up to now: the figures a commit records at now follow on.
    const t0 = Math.floor(Date.now() / 1000) * 1000 - 30_000;
    const ex = store.exporter('dest');
    expect(ex.backlog()).toEqual({ seconds: 0, ratio: 0 });
    for (let i = 0; i < 5; i++) store.record(h, i, t0 + i * 1000);
    expect(ex.backlog()).toEqual({ seconds: 5, ratio: 0.25 });
    const b = ex.next({ maxSamples: 3, until: Infinity });
    expect(ex.backlog().seconds).toBe(5); // taken, not committed: still waiting
    b.commit();
    expect(ex.backlog()).toEqual({ seconds: 2, ratio: 0.1 });
    for (let i = 5; i < 20; i++) store.record(h, i, t0 + i * 1000);
    expect(ex.backlog()).toEqual({ seconds: 17, ratio: 0.85 });
    // 10 more seconds: the ring (20 slots) passed the cursor.
    for (let i = 20; i < 30; i++) store.record(h, i, t0 + i * 1000);
    expect(ex.backlog()).toEqual({ seconds: 20, ratio: 1 });
    const caught = ex.next({ maxSamples: 1000, until: Infinity });
    expect(caught.lost).toBeGreaterThan(0);
    caught.commit();
    // Caught up: at most the interval of now, where the commit recorded the lost count.
    expect(ex.backlog().seconds).toBeLessThanOrEqual(2);
    expect(store.lastPoint(store.find('rondo_exporter_lost_samples_total', { exporter: 'dest' })!)![1]).toBe(caught.lost);
    store.close();
  });

  it('a push records it whether or not the receiver answered', async () => {
    const { pushTo } = await import('../src/index');
    const store = Store.open(tempDir(), { schemas });
    const h = store.register('x');
    const t0 = Math.floor(Date.now() / 1000) * 1000 - 8000;
    for (let i = 0; i < 8; i++) store.record(h, i, t0 + i * 1000);
    // Nothing listens on port 9 of loopback (discard): the push fails at once.
    await expect(pushTo(store, 'http://127.0.0.1:9/api/v1/write', { exporter: 'down', maxRetries: 0 })).rejects.toThrow();
    const ratio = store.find('rondo_exporter_backlog_ratio', { exporter: 'down' });
    const seconds = store.find('rondo_exporter_backlog_seconds', { exporter: 'down' });
    // The 8 seconds recorded, and the one or two the push's own figures were recorded in (now).
    const s = store.lastPoint(seconds!)![1];
    expect(s).toBeGreaterThanOrEqual(9);
    expect(s).toBeLessThanOrEqual(10);
    expect(store.lastPoint(ratio!)![1]).toBe(s / 20);
    store.close();
  });
});
