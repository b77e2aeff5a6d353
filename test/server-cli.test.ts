// rondo serve, the command: --help, the loopback rule (exit 2), serving a store the test filled
// to promtool (series, labels, instant and range queries), read-only when another process holds
// the writer lock (said at start), HTTPS with a bearer token, and SIGTERM closing it cleanly.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Store } from '../dist/src/index';
import { tempDir } from './helpers';
import { CLI, killServes, startServe, stopServe } from './support/serve-cli';
import { request } from './support/server-wire';

const PROMTOOL = '/usr/bin/promtool';
const SCHEMA = [{ name: 's', match: {}, maxSeries: 50, tiers: [{ interval: '1s', retention: '10m' }, { interval: '10s', retention: '1h', consolidate: 'avg' as const }] }];

afterAll(killServes);

function run(bin: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(bin, args, { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr });
    });
  });
}


function filledStore(): { dir: string; now: number } {
  const dir = tempDir('rondo-serve-cli-');
  const store = Store.open(dir, { schemas: SCHEMA });
  const now = Math.floor(Date.now() / 1000) * 1000;
  const h = store.register('cli_gauge', { vm: 'a' });
  const c = store.register('cli_requests_total', { vm: 'a' }, { kind: 'counter' });
  for (let i = 60; i >= 1; i--) {
    store.record(h, 100 + i, now - i * 1000);
    store.record(c, 1000 - i * 2, now - i * 1000);
  }
  store.close();
  return { dir, now };
}

describe('rondo serve', () => {
  it('--help shows options and examples; a non-loopback address without a token is exit 2 naming the flags', async () => {
    const help = await run(process.execPath, [CLI, 'serve', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/usage: rondo serve <dir>/);
    expect(help.stdout).toMatch(/examples\n  rondo serve/);
    const { dir } = filledStore();
    const bad = await run(process.execPath, [CLI, 'serve', dir, '--listen', '0.0.0.0:0']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toMatch(/--auth-token-file.*--insecure-listen/);
    const usage = await run(process.execPath, [CLI, 'serve']);
    expect(usage.code).toBe(2);
  });

  it('promtool reads series, labels, instant and range queries from it; SIGTERM closes it cleanly', async () => {
    const { dir, now } = filledStore();
    const s = await startServe([dir, '--listen', '127.0.0.1:0']);
    expect(s.line).toMatch(/^rondo serve: serving .* on http:\/\/127\.0\.0\.1:\d+$/);
    try {
      const series = await run(PROMTOOL, ['query', 'series', '--match=cli_gauge', s.url]);
      expect(series.code, series.stderr).toBe(0);
      expect(series.stdout).toContain('{__name__="cli_gauge", vm="a"}');
      const labels = await run(PROMTOOL, ['query', 'labels', s.url, '__name__']);
      expect(labels.stdout.trim().split('\n')).toEqual(['cli_gauge', 'cli_requests_total']);
      const inst = await run(PROMTOOL, ['query', 'instant', '--time', String((now - 10_000) / 1000), s.url, 'cli_gauge']);
      expect(inst.code, inst.stderr).toBe(0);
      expect(inst.stdout).toContain(`cli_gauge{vm="a"} => 110 @[${(now - 10_000) / 1000}]`);
      const range = await run(PROMTOOL, [
        'query', 'range', '--start', String((now - 5000) / 1000), '--end', String((now - 3000) / 1000), '--step', '1s', s.url, 'cli_requests_total',
      ]);
      expect(range.code, range.stderr).toBe(0);
      for (const [v, t] of [[990, 5], [992, 4], [994, 3]]) expect(range.stdout).toContain(`${v} @[${(now - t! * 1000) / 1000}]`);
    } finally {
      expect(await stopServe(s.child, 'SIGTERM')).toBe(0);
    }
    // Closed: the writer lock is free again, and its own figures were recorded.
    const store = Store.open(dir);
    expect(store.series().some((h) => h.name === 'rondo_http_requests_total')).toBe(true);
    store.close();
  }, 60_000);

  it('serves read-only, saying so in one line, when another process holds the writer lock; remote write is refused', async () => {
    const { dir } = filledStore();
    const holder = Store.open(dir);
    try {
      const s = await startServe([dir, '--listen', '127.0.0.1:0']);
      expect(s.line).toMatch(/read-only: another process holds the writer lock/);
      const w = await request(`${s.url}/api/v1/write`, { body: Buffer.from([0]), headers: { 'Content-Type': 'application/x-protobuf', 'Content-Encoding': 'snappy' } });
      expect(w.status).toBe(405);
      expect((await request(`${s.url}/api/v1/labels`)).status).toBe(200);
      expect(await stopServe(s.child, 'SIGINT')).toBe(0);
    } finally {
      holder.close();
    }
  }, 30_000);

  it('HTTPS with --tls-cert/--tls-key and a bearer token from --auth-token-file', async () => {
    const { dir } = filledStore();
    const tls = tempDir('rondo-serve-tls-');
    const key = path.join(tls, 'key.pem');
    const cert = path.join(tls, 'cert.pem');
    const gen = await run('/usr/bin/openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1']);
    expect(gen.code, gen.stderr).toBe(0);
    fs.writeFileSync(path.join(tls, 'token'), 'tok-123\n');
    const s = await startServe([dir, '--listen', '127.0.0.1:0', '--tls-cert', cert, '--tls-key', key, '--auth-token-file', path.join(tls, 'token')]);
    try {
      expect(s.url).toMatch(/^https:/);
      const ca = fs.readFileSync(cert, 'utf8');
      expect((await request(`${s.url}/api/v1/labels`, { ca })).status).toBe(401);
      const ok = await request(`${s.url}/api/v1/labels`, { ca, headers: { Authorization: 'Bearer tok-123' } });
      expect(ok.status).toBe(200);
      expect(JSON.parse(ok.text).data).toContain('vm');
    } finally {
      expect(await stopServe(s.child, 'SIGTERM')).toBe(0);
    }
  }, 30_000);
});
