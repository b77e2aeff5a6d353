// A real Prometheus (Debian's /usr/bin/prometheus) on a free loopback port, with its remote-write
// receiver on and nothing to scrape, in a temporary directory; as test/support/receivers.ts runs it.
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { sleep } = require('./harness');

const PROMETHEUS_BIN = '/usr/bin/prometheus';
const START_TIMEOUT_MS = 60_000;

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function prometheusInstalled() {
  try {
    fs.accessSync(PROMETHEUS_BIN, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Starts Prometheus; resolves with { url (remote write), api, version, stop() }. */
async function startPrometheus() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rondo-bench-prometheus-'));
  fs.writeFileSync(path.join(dir, 'prometheus.yml'), 'global:\n  scrape_interval: 15s\n');
  const port = await freePort();
  const log = fs.openSync(path.join(dir, 'prometheus.log'), 'a');
  const child = spawn(
    PROMETHEUS_BIN,
    [
      `--config.file=${path.join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--web.enable-remote-write-receiver',
    ],
    { stdio: ['ignore', log, log], cwd: dir },
  );
  fs.closeSync(log);
  const killOnExit = () => child.kill('SIGKILL');
  process.on('exit', killOnExit);
  const stop = async () => {
    process.off('exit', killOnExit);
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const api = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline && child.exitCode === null) {
    try {
      if ((await fetch(`${api}/-/ready`)).ok) {
        let version = '';
        try {
          version = (await (await fetch(`${api}/api/v1/status/buildinfo`)).json()).data.version;
        } catch {
          // the version is only for the report
        }
        return { url: `${api}/api/v1/write`, api, version, stop };
      }
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  const tail = fs.readFileSync(path.join(dir, 'prometheus.log'), 'utf8').split('\n').slice(-10).join('\n');
  await stop();
  throw new Error(`Prometheus did not become ready on ${api}; its log ends:\n${tail}`);
}

module.exports = { startPrometheus, prometheusInstalled, freePort, PROMETHEUS_BIN };
