// A test PKI made with the openssl command (a CA, a server certificate for 127.0.0.1/localhost,
// a client certificate, and a second CA that signed nothing the server trusts), and a real
// Prometheus serving its API and remote-write receiver over TLS with client certificates required
// (--web.config.file).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as path from 'node:path';
import { removeTempDir, suiteTempDir } from '../helpers';
import { ensureReceiversInstalled, freePort, PROMETHEUS_BIN } from './receivers';

export const OPENSSL_BIN = '/usr/bin/openssl';

export interface TestPki {
  dir: string;
  caCert: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A CA that signed nothing here: trusting only it, the server is not trusted. */
  otherCaCert: string;
  /** A client certificate signed by the other CA: the server refuses it. */
  strangerCert: string;
  strangerKey: string;
}

function openssl(dir: string, args: string[]): void {
  execFileSync(OPENSSL_BIN, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/**
 * A CA and certificates signed by it, in a temp dir (EC P-256 keys: quick to make). The server's
 * is for localhost, 127.0.0.1 and prometheus.test (a name only the test proxy resolves).
 */
export function makeTestPki(): TestPki {
  try {
    fs.accessSync(OPENSSL_BIN, fs.constants.X_OK);
  } catch {
    throw new Error(`TLS tests need ${OPENSSL_BIN} (Debian package "openssl"); scripts/ensure-test-deps.sh installs it`);
  }
  const dir = suiteTempDir('rondo-pki-');
  const key = (name: string): void => openssl(dir, ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}-key.pem`]);
  const ca = (name: string, cn: string): void => {
    key(name);
    openssl(dir, ['req', '-x509', '-new', '-key', `${name}-key.pem`, '-sha256', '-days', '2', '-subj', `/CN=${cn}`, '-out', `${name}.pem`]);
  };
  const leaf = (name: string, issuer: string, cn: string, ext: string): void => {
    key(name);
    openssl(dir, ['req', '-new', '-key', `${name}-key.pem`, '-subj', `/CN=${cn}`, '-out', `${name}.csr`]);
    fs.writeFileSync(path.join(dir, `${name}.ext`), ext);
    openssl(dir, [
      'x509', '-req', '-in', `${name}.csr`, '-CA', `${issuer}.pem`, '-CAkey', `${issuer}-key.pem`, '-CAcreateserial',
      '-days', '2', '-sha256', '-extfile', `${name}.ext`, '-out', `${name}.pem`,
    ]);
  };
  ca('ca', 'rondo test CA');
  ca('other-ca', 'rondo other CA');
  leaf('server', 'ca', 'localhost', 'subjectAltName=DNS:localhost,DNS:prometheus.test,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  leaf('client', 'ca', 'rondo-agent', 'extendedKeyUsage=clientAuth\n');
  leaf('stranger', 'other-ca', 'stranger', 'extendedKeyUsage=clientAuth\n');
  const p = (f: string): string => path.join(dir, f);
  return {
    dir,
    caCert: p('ca.pem'),
    serverCert: p('server.pem'),
    serverKey: p('server-key.pem'),
    clientCert: p('client.pem'),
    clientKey: p('client-key.pem'),
    otherCaCert: p('other-ca.pem'),
    strangerCert: p('stranger.pem'),
    strangerKey: p('stranger-key.pem'),
  };
}

export interface TlsPrometheus {
  /** https://127.0.0.1:PORT/api/v1/write */
  url: string;
  /** https://127.0.0.1:PORT */
  api: string;
  port: number;
  /** GET a JSON API path over TLS with the client certificate. */
  getJson<T = unknown>(pathAndQuery: string): Promise<T>;
  stop(): Promise<void>;
}

function get(pki: TestPki, url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(
      url,
      {
        ca: fs.readFileSync(pki.caCert),
        cert: fs.readFileSync(pki.clientCert),
        key: fs.readFileSync(pki.clientKey),
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.setTimeout(5000, () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
  });
}

/**
 * A real Prometheus with its remote-write receiver on, serving TLS with the PKI's server
 * certificate and requiring client certificates signed by its CA (RequireAndVerifyClientCert).
 */
export async function startTlsPrometheus(pki: TestPki, extraArgs: string[] = []): Promise<TlsPrometheus> {
  ensureReceiversInstalled();
  const dir = suiteTempDir('rondo-prometheus-tls-');
  fs.writeFileSync(path.join(dir, 'prometheus.yml'), 'global:\n  scrape_interval: 15s\n');
  fs.writeFileSync(
    path.join(dir, 'web.yml'),
    [
      'tls_server_config:',
      `  cert_file: ${pki.serverCert}`,
      `  key_file: ${pki.serverKey}`,
      '  client_auth_type: RequireAndVerifyClientCert',
      `  client_ca_file: ${pki.caCert}`,
      '',
    ].join('\n'),
  );
  fs.mkdirSync(path.join(dir, 'data'));
  const port = await freePort();
  const logFile = path.join(dir, 'prometheus.log');
  const log = fs.openSync(logFile, 'a');
  const child: ChildProcess = spawn(
    PROMETHEUS_BIN,
    [
      `--config.file=${path.join(dir, 'prometheus.yml')}`,
      `--web.config.file=${path.join(dir, 'web.yml')}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--web.enable-remote-write-receiver',
      ...extraArgs,
    ],
    { stdio: ['ignore', log, log], cwd: dir },
  );
  fs.closeSync(log);
  const api = `https://127.0.0.1:${port}`;
  const exited = (): boolean => child.exitCode !== null || child.signalCode !== null;
  const stop = async (): Promise<void> => {
    if (!exited()) {
      child.kill('SIGTERM');
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          child.kill('SIGKILL');
          resolve();
        }, 10_000);
        child.once('exit', () => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    removeTempDir(dir);
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      if ((await get(pki, `${api}/-/ready`)).status === 200) break;
    } catch {
      // not listening yet
    }
    if (exited() || Date.now() > deadline) {
      const tail = fs.readFileSync(logFile, 'utf8').split('\n').slice(-20).join('\n');
      await stop();
      throw new Error(`prometheus with TLS did not become ready on port ${port}; log:\n${tail}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url: `${api}/api/v1/write`,
    api,
    port,
    getJson: async <T>(p: string): Promise<T> => {
      const { status, body } = await get(pki, `${api}${p}`);
      if (status !== 200) throw new Error(`GET ${p}: HTTP ${status}: ${body.slice(0, 300)}`);
      return JSON.parse(body) as T;
    },
    stop,
  };
}
