// rondo push --every: a daemon that pushes each interval and, on SIGTERM, pushes once more and
// exits 0 — checked against a real Prometheus while this process keeps writing the store.
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Store } from '../src/index';
import { tempDir } from './helpers';
import { getJson, startPrometheus, type PrometheusReceiver } from './support/receivers';
import { CLI } from './support/serve-cli';

const SCHEMA = [{ name: 'p', match: {}, maxSeries: 8, tiers: [{ interval: '1s', retention: '1h' }] }];

let prom: PrometheusReceiver;
beforeAll(async () => {
  prom = await startPrometheus();
}, 60_000);
afterAll(async () => {
  await prom?.stop();
});

/** Timestamps Prometheus holds for `selector`, over the last 10 minutes. */
async function timestamps(selector: string): Promise<number[]> {
  const r = await getJson<{ data: { result: Array<{ values: Array<[number, string]> }> } }>(
    `${prom.api}/api/v1/query?query=${encodeURIComponent(`${selector}[10m]`)}&time=${Date.now() / 1000}`,
  );
  return r.data.result.flatMap((s) => s.values.map((v) => Math.round(v[0] * 1000))).sort((a, b) => a - b);
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
}

describe('rondo push --every', () => {
  it('pushes again each interval, without a signal', async () => {
    const dir = tempDir();
    const store = Store.open(dir, { schemas: SCHEMA });
    const t = Math.floor(Date.now() / 1000) * 1000 - 30_000;
    const h = store.register('every_tick', {}, { kind: 'gauge' });
    store.record(h, 1, t);
    const child = spawn(process.execPath, [CLI, 'push', dir, '--url', prom.url, '--every', '1s'], { stdio: 'ignore', env: { ...process.env, NO_PROXY: '*' } });
    try {
      await expect.poll(() => timestamps('every_tick'), { timeout: 20_000, interval: 200 }).toEqual([t]);
      store.record(h, 2, t + 1000);
      store.record(h, 3, t + 2000);
      await expect.poll(() => timestamps('every_tick'), { timeout: 20_000, interval: 200 }).toEqual([t, t + 1000, t + 2000]);
      child.kill('SIGINT');
      expect(await exited(child)).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      store.close();
    }
  }, 60_000);

  it('pushes at start; on SIGTERM pushes what came since, then exits 0', async () => {
    const dir = tempDir();
    const store = Store.open(dir, { schemas: SCHEMA });
    const now = Math.floor(Date.now() / 1000) * 1000;
    const first = now - 120_000;
    const second = now - 60_000;
    const up = store.register('every_up_total', { vm: 'a' }, { kind: 'counter' });
    for (let i = 0; i < 30; i++) store.record(up, i, first + i * 1000);

    // A long interval: after the first round, only the push on SIGTERM can send what comes next.
    const child = spawn(process.execPath, [CLI, 'push', dir, '--url', prom.url, '--every', '1h'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_PROXY: '*' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    try {
      await expect.poll(() => timestamps('every_up_total'), { timeout: 20_000, interval: 200 }).toHaveLength(30);
      // The receiver can hold the samples before the CLI has committed the round and said so.
      await expect.poll(() => stdout, { timeout: 10_000, interval: 50 }).toMatch(/^pushed 30 samples in 1 batch/);

      // More points, and a series that did not exist when push started.
      const late = store.register('every_late', { vm: 'a' }, { kind: 'gauge' });
      for (let i = 0; i < 20; i++) {
        store.record(up, 100 + i, second + i * 1000);
        store.record(late, i, second + i * 1000);
      }
      await new Promise((r) => setTimeout(r, 500));
      expect(await timestamps('every_late')).toEqual([]); // not sent before the signal
      child.kill('SIGTERM');
      expect(await exited(child)).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      store.close();
    }
    expect(stderr).toBe('');
    expect(stdout.trim().split('\n')).toHaveLength(2);
    expect(stdout.trim().split('\n')[1]).toMatch(/^pushed 40 samples/);
    const want = Array.from({ length: 20 }, (_, i) => second + i * 1000);
    await expect.poll(() => timestamps('every_late'), { timeout: 10_000 }).toEqual(want);
    expect((await timestamps('every_up_total')).slice(-20)).toEqual(want);
  }, 60_000);

  it('refuses an interval under a second and a malformed one', async () => {
    const dir = tempDir();
    Store.open(dir, { schemas: SCHEMA }).close();
    for (const bad of ['500ms', 'soon']) {
      const child = spawn(process.execPath, [CLI, 'push', dir, '--url', prom.url, '--every', bad], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
      expect(await exited(child)).toBe(2);
      expect(stderr).toMatch(/--every/);
    }
  }, 30_000);
});
