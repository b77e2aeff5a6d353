// Push over TLS to a real Prometheus that requires client certificates (a test CA made with
// openssl): the right certificate gets every sample in; each way of getting TLS wrong is a named
// error that says what to pass, is not retried, and leaves the cursor where it was.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, RemoteWriteClient, RemoteWriteError, RemoteWriteTlsError, Store, pushTo, type PushOptions } from '../src/index';
import { alignedPast, tempDir } from './helpers';
import { makeTestPki, startTlsPrometheus, type TestPki, type TlsPrometheus } from './support/tls';
import { CLI } from './support/serve-cli';

const SCHEMA = [{ name: 'p', match: {}, maxSeries: 8, tiers: [{ interval: '1s', retention: '1h' }] }];
const POINTS = 60;
const quiet = (): void => {};

function fillStore(dir: string, name: string, t0: number): void {
  const store = Store.open(dir, { schemas: SCHEMA });
  const a = store.register(name, { vm: 'a' }, { kind: 'counter' });
  const b = store.register(name, { vm: 'b' }, { kind: 'counter' });
  for (let i = 0; i < POINTS; i++) {
    store.record(a, i, t0 + i * 1000);
    store.record(b, 2 * i, t0 + i * 1000);
  }
  store.close();
}

function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_PROXY: '*' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

let pki: TestPki;
let prom: TlsPrometheus;
const t0 = alignedPast(2 * 3600_000, 60_000);

beforeAll(async () => {
  pki = makeTestPki();
  prom = await startTlsPrometheus(pki);
}, 90_000);

afterAll(async () => {
  await prom?.stop();
});

/** Samples Prometheus holds for `name` (both series), over the store's hour. */
async function countIn(name: string): Promise<number> {
  const r = await prom.getJson<{ data: { result: Array<{ value: [number, string] }> } }>(
    `/api/v1/query?query=${encodeURIComponent(`sum(count_over_time(${name}[5m]))`)}&time=${(t0 + 120_000) / 1000}`,
  );
  return r.data.result.length === 0 ? 0 : Number(r.data.result[0]!.value[1]);
}

describe('pushTo over TLS to a Prometheus that requires client certificates', () => {
  const mtls = (): PushOptions => ({ tls: { caFile: pki.caCert, certFile: pki.clientCert, keyFile: pki.clientKey }, proxy: false, logger: quiet });

  it('refuses each wrong setup with RemoteWriteTlsError naming the option to pass, retries none, moves no cursor; then the right one sends everything', async () => {
    const dir = tempDir();
    fillStore(dir, 'tls_pushed_total', t0);
    const store = Store.openReadOnly(dir);
    try {
      const attempt = async (options: PushOptions): Promise<RemoteWriteTlsError> => {
        const e = await pushTo(store, prom.url, { ...options, exporter: 'x', maxRetries: 5, proxy: false, logger: quiet }).then(
          () => undefined,
          (err: unknown) => err,
        );
        expect(e).toBeInstanceOf(RemoteWriteTlsError);
        return e as RemoteWriteTlsError;
      };
      // No CA: the test CA is not among the system's roots.
      const noCa = await attempt({ tls: { certFile: pki.clientCert, keyFile: pki.clientKey } });
      expect(noCa.message).toMatch(/not signed by a CA this client trusts/);
      expect(noCa.message).toMatch(/tls\.caFile/);
      // The wrong CA.
      const wrongCa = await attempt({ tls: { caFile: pki.otherCaCert, certFile: pki.clientCert, keyFile: pki.clientKey } });
      expect(wrongCa.message).toMatch(/the one given did not sign it/);
      // No client certificate.
      const noCert = await attempt({ tls: { caFile: pki.caCert } });
      expect(noCert.message).toMatch(/requires a client certificate and none was given.*tls\.certFile and tls\.keyFile/);
      // A client certificate from a CA the server does not trust.
      const stranger = await attempt({ tls: { caFile: pki.caCert, certFile: pki.strangerCert, keyFile: pki.strangerKey } });
      expect(stranger.message).toMatch(/refused the client certificate/);
      // A name the certificate does not hold.
      const misnamed = await attempt({ tls: { caFile: pki.caCert, certFile: pki.clientCert, keyFile: pki.clientKey, serverName: 'prometheus.example' } });
      expect(misnamed.code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
      expect(misnamed.message).toMatch(/not for the name "prometheus.example".*tls\.serverName/);

      // Plain http to the TLS port: Prometheus answers 400, which is a wrong URL, not samples refused.
      const plain = await pushTo(store, prom.url.replace('https:', 'http:'), { exporter: 'x', proxy: false, logger: quiet }).catch((err: unknown) => err);
      expect(plain).toBeInstanceOf(RemoteWriteError);
      expect((plain as Error).message).toMatch(/the receiver speaks HTTPS; use an https:\/\/ URL/);

      expect(await countIn('tls_pushed_total')).toBe(0);
      expect(store.exporter('x').positions).toEqual({});

      const summary = await pushTo(store, prom.url, { ...mtls(), exporter: 'x', tls: { ...mtls().tls, serverName: 'localhost' } });
      expect(summary.samples).toBe(2 * POINTS);
      expect(summary.retries).toBe(0);
    } finally {
      store.close();
    }
    await expect.poll(() => countIn('tls_pushed_total'), { timeout: 10_000 }).toBe(2 * POINTS);
  }, 60_000);

  it('turns verification off only with tls.insecureSkipVerify: true, and says so', async () => {
    const dir = tempDir();
    fillStore(dir, 'tls_insecure_total', t0);
    const store = Store.openReadOnly(dir);
    try {
      for (const bad of ['true', 1, 'yes'])
        await expect(
          pushTo(store, prom.url, { tls: { insecureSkipVerify: bad as unknown as boolean, certFile: pki.clientCert, keyFile: pki.clientKey }, logger: quiet }),
        ).rejects.toThrow(ConfigError);
      await expect(pushTo(store, prom.url, { tls: { insecureSkipVerify: true, caFile: pki.caCert }, logger: quiet })).rejects.toThrow(/contradict/);
      await expect(pushTo(store, 'http://127.0.0.1:1/api/v1/write', { tls: { caFile: pki.caCert }, logger: quiet })).rejects.toThrow(/need an https: url/);
      await expect(pushTo(store, prom.url, { tls: { certFile: pki.clientCert }, logger: quiet })).rejects.toThrow(/go together/);
      await expect(pushTo(store, prom.url, { tls: { caFile: path.join(pki.dir, 'missing.pem') }, logger: quiet })).rejects.toThrow(/cannot be read \(ENOENT\)/);
      expect(store.exporter('y').positions).toEqual({});

      const warnings: string[] = [];
      const summary = await pushTo(store, prom.url, {
        exporter: 'y',
        tls: { insecureSkipVerify: true, certFile: pki.clientCert, keyFile: pki.clientKey },
        proxy: false,
        logger: (_level, m) => warnings.push(m),
      });
      expect(summary.samples).toBe(2 * POINTS);
      expect(warnings.join('\n')).toMatch(/NOT verified/);
    } finally {
      store.close();
    }
    await expect.poll(() => countIn('tls_insecure_total'), { timeout: 10_000 }).toBe(2 * POINTS);
  }, 60_000);
});

describe('a long-lived client (as the agent keeps)', () => {
  it('uses a rotated client certificate from its next request, once certificate and key pair up again', async () => {
    const dir = tempDir();
    const certFile = path.join(dir, 'client.pem');
    const keyFile = path.join(dir, 'client-key.pem');
    fs.copyFileSync(pki.strangerCert, certFile);
    fs.copyFileSync(pki.strangerKey, keyFile);
    const warnings: string[] = [];
    const client = new RemoteWriteClient({
      url: prom.url,
      tls: { caFile: pki.caCert, certFile, keyFile },
      proxy: false,
      maxRetries: 0,
      logger: (_l, m) => warnings.push(m),
    });
    const series = [{ id: 0, name: 'tls_rotated', labels: {}, kind: 'gauge' as const, timestamps: [t0], values: [7] }];
    try {
      await expect(client.send(series)).rejects.toThrow(/refused the client certificate/);
      // Half rotated: the new key beside the old certificate is no pair; the old set stays in use.
      fs.copyFileSync(pki.clientKey, keyFile);
      await expect(client.send(series)).rejects.toThrow(RemoteWriteTlsError);
      expect(warnings.join('\n')).toMatch(/TLS files changed but cannot be used yet/);
      fs.copyFileSync(pki.clientCert, certFile);
      await expect(client.send(series)).resolves.toMatchObject({ outcome: 'sent', samples: 1 });
    } finally {
      client.close();
    }
    expect(() => new RemoteWriteClient({ url: prom.url, tls: { certFile: pki.clientCert, keyFile: pki.strangerKey } })).toThrow(
      /tls: the PEM files given cannot be used/,
    );
  }, 30_000);
});

describe('rondo push --tls-*', () => {
  it('pushes with --tls-ca-file, --tls-cert-file and --tls-key-file; without the client certificate it exits 1 naming the flags', async () => {
    const dir = tempDir();
    fillStore(dir, 'tls_cli_total', t0);
    const without = await runCli(['push', dir, '--url', prom.url, '--tls-ca-file', pki.caCert, '--max-retries', '3']);
    expect(without.code).toBe(1);
    expect(without.stderr).toMatch(/RemoteWriteTlsError: .*requires a client certificate.*--tls-cert-file, --tls-key-file/);
    expect(without.stdout).toBe('');

    const half = await runCli(['push', dir, '--url', prom.url, '--tls-cert-file', pki.clientCert]);
    expect(half.code).toBe(2);
    expect(half.stderr).toMatch(/--tls-cert-file and --tls-key-file go together/);

    const ok = await runCli(['push', dir, '--url', prom.url, '--tls-ca-file', pki.caCert, '--tls-cert-file', pki.clientCert, '--tls-key-file', pki.clientKey]);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(new RegExp(`^pushed ${2 * POINTS} samples in 1 batch to ${prom.url.replace(/[.]/g, '\\.')}`));
    await expect.poll(() => countIn('tls_cli_total'), { timeout: 10_000 }).toBe(2 * POINTS);
  }, 60_000);

  it('--tls-insecure-skip-verify pushes without a CA and warns once on stderr', async () => {
    const dir = tempDir();
    fillStore(dir, 'tls_cli_insecure_total', t0);
    const r = await runCli(['push', dir, '--url', prom.url, '--tls-insecure-skip-verify', '--tls-cert-file', pki.clientCert, '--tls-key-file', pki.clientKey]);
    expect(r.code).toBe(0);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^rondo push: warning: --tls-insecure-skip-verify: the certificate of .* is NOT verified/)]);
    await expect.poll(() => countIn('tls_cli_insecure_total'), { timeout: 10_000 }).toBe(2 * POINTS);
  }, 60_000);
});
