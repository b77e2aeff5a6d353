// The servers the ingest group runs on loopback, each in its own process and temporary
// directory: a real InfluxDB 1.x (Debian's influxd, configured as test/support/receivers.ts
// configures it, with an optional UDP line-protocol listener), VictoriaMetrics (with its Influx
// line-protocol listener on TCP and UDP when asked), and `rondo serve` from dist/.
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const dgram = require('node:dgram');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { sleep } = require('./harness');

const INFLUXD_BIN = '/usr/bin/influxd';
const VM_BIN = '/usr/bin/victoria-metrics';
const ROOT = path.join(__dirname, '..', '..');
const START_TIMEOUT_MS = 60_000;

function installed(bin) {
  try {
    fs.accessSync(bin, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Why a peer cannot run here, or undefined when it can. */
function missing(which) {
  if (which === 'influxd' && !installed(INFLUXD_BIN)) return `${INFLUXD_BIN} is not installed (Debian package "influxdb")`;
  if (which === 'victoria-metrics' && !installed(VM_BIN)) return `${VM_BIN} is not installed (Debian package "victoria-metrics")`;
  return undefined;
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
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

/** A UDP port on 127.0.0.1 that was free a moment ago. */
function freeUdpPort() {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket('udp4');
    sock.unref();
    sock.on('error', reject);
    sock.bind(0, '127.0.0.1', () => {
      const { port } = sock.address();
      sock.close(() => resolve(port));
    });
  });
}

/** A port free for both TCP and UDP (VictoriaMetrics's Influx listener takes both). */
async function freeBothPort() {
  for (let i = 0; i < 20; i++) {
    const port = await freePort();
    const ok = await new Promise((resolve) => {
      const sock = dgram.createSocket('udp4');
      sock.on('error', () => resolve(false));
      sock.bind(port, '127.0.0.1', () => sock.close(() => resolve(true)));
    });
    if (ok) return port;
  }
  throw new Error('no port free for both TCP and UDP');
}

/**
 * Starts `bin args` (stdout and stderr to logFile) and waits until `readyUrl` answers 200.
 * Resolves with { child, stop() }; stop() sends SIGTERM (SIGKILL after 10 s) and waits.
 */
async function startProcess(bin, args, readyUrl, logFile, options = {}) {
  const log = fs.openSync(logFile, 'a');
  const child = spawn(bin, args, { stdio: ['ignore', options.stdout ?? log, log], cwd: options.cwd });
  fs.closeSync(log);
  const killOnExit = () => child.kill('SIGKILL');
  process.on('exit', killOnExit);
  const stop = async () => {
    process.off('exit', killOnExit);
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline && child.exitCode === null && child.signalCode === null) {
    try {
      if ((await fetch(readyUrl)).ok) return { child, stop };
    } catch {
      // not listening yet
    }
    await sleep(50);
  }
  await stop();
  throw new Error(`${bin} did not become ready at ${readyUrl}; its log (${logFile}):\n${fs.readFileSync(logFile, 'utf8').slice(-2000)}`);
}

/** The version influxd reports, e.g. "1.6.7~rc0". */
function influxdVersion() {
  const r = spawnSync(INFLUXD_BIN, ['version'], { encoding: 'utf8' });
  return r.stdout.match(/v(\S+)/)?.[1] ?? 'unknown';
}

/**
 * A real InfluxDB 1.x in `dir`: HTTP on a free loopback port, no reporting, no internal monitor
 * database, no HTTP log; with `udp: { database }` a UDP line-protocol listener writing into that
 * database (batches of 5000 points or 100 ms, influxd's own defaults being 1000 and 1 s).
 * Resolves with { name, api, udpPort, version, stop() }.
 */
async function startInfluxd(dir, options = {}) {
  fs.mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const udpPort = options.udp ? await freeUdpPort() : undefined;
  const conf = [
    'reporting-disabled = true',
    `bind-address = "127.0.0.1:${await freePort()}"`,
    '[meta]',
    `  dir = "${path.join(dir, 'meta')}"`,
    '[data]',
    `  dir = "${path.join(dir, 'data')}"`,
    `  wal-dir = "${path.join(dir, 'wal')}"`,
    '  query-log-enabled = false',
    '  wal-fsync-delay = "0s"',
    '[monitor]',
    '  store-enabled = false',
    '[http]',
    `  bind-address = "127.0.0.1:${port}"`,
    '  log-enabled = false',
    '  max-body-size = 0',
    '[logging]',
    '  level = "warn"',
    '[continuous_queries]',
    '  enabled = false',
  ];
  if (udpPort !== undefined)
    conf.push(
      '[[udp]]',
      '  enabled = true',
      `  bind-address = "127.0.0.1:${udpPort}"`,
      `  database = "${options.udp.database}"`,
      `  batch-size = ${options.udp.batchSize ?? 5000}`,
      `  batch-timeout = "${options.udp.batchTimeout ?? '100ms'}"`,
      `  read-buffer = ${options.udp.readBuffer ?? 0}`,
    );
  const file = path.join(dir, 'influxdb.conf');
  fs.writeFileSync(file, `${conf.join('\n')}\n`);
  const api = `http://127.0.0.1:${port}`;
  const p = await startProcess(INFLUXD_BIN, ['-config', file], `${api}/query?q=SHOW%20DATABASES`, path.join(dir, 'influxd.log'), { cwd: dir });
  return { name: `InfluxDB ${influxdVersion()}`, short: 'InfluxDB', api, udpPort, stop: p.stop, pid: p.child.pid };
}

/**
 * VictoriaMetrics in `dir`, HTTP on a free loopback port (its /write takes Influx lines); with
 * `influx: true` its Influx listener (-influxListenAddr, TCP and UDP on one port) too.
 * Resolves with { name, api, influxPort, stop(), flush() }.
 */
async function startVictoriaMetrics(dir, options = {}) {
  fs.mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const influxPort = options.influx ? await freeBothPort() : undefined;
  const args = [
    `-httpListenAddr=127.0.0.1:${port}`,
    `-storageDataPath=${path.join(dir, 'data')}`,
    '-search.latencyOffset=0s',
    '-retentionPeriod=100y',
    '-search.disableCache',
    '-loggerLevel=WARN',
  ];
  if (influxPort !== undefined) args.push(`-influxListenAddr=127.0.0.1:${influxPort}`);
  const api = `http://127.0.0.1:${port}`;
  const p = await startProcess(VM_BIN, args, `${api}/health`, path.join(dir, 'victoria-metrics.log'), { cwd: dir });
  let version = 'unknown';
  try {
    const m = (await (await fetch(`${api}/metrics`)).text()).match(/vm_app_version\{version="([^"]+)"/);
    if (m) version = m[1].replace(/^victoria-metrics-/, '');
  } catch {
    // left as unknown
  }
  return {
    name: 'VictoriaMetrics',
    short: 'VictoriaMetrics',
    version,
    api,
    influxPort,
    stop: p.stop,
    pid: p.child.pid,
    flush: async () => {
      await fetch(`${api}/internal/force_flush`);
    },
  };
}

/**
 * `rondo serve` on a store in `dir` made from `schemas` (a new store), HTTP on a free loopback
 * port, plus `extra` arguments (the Influx listeners). `nodeArgs` go before the script (say,
 * --cpu-prof). Resolves with { name, api, stop() }.
 */
async function startRondo(dir, schemas, extra = [], nodeArgs = []) {
  fs.mkdirSync(dir, { recursive: true });
  const schemaFile = path.join(dir, 'schemas.json');
  fs.writeFileSync(schemaFile, JSON.stringify(schemas));
  const port = await freePort();
  const api = `http://127.0.0.1:${port}`;
  const args = [...nodeArgs, path.join(ROOT, 'dist', 'src', 'cli', 'main.js'), 'serve', path.join(dir, 'store'), '--schema', schemaFile, '--listen', `127.0.0.1:${port}`, ...extra];
  const p = await startProcess(process.execPath, args, `${api}/api/v1/status/buildinfo`, path.join(dir, 'rondo.log'), { cwd: dir });
  return { name: 'rondo serve', short: 'rondo', rondo: true, api, stop: p.stop, pid: p.child.pid, log: path.join(dir, 'rondo.log') };
}

/** Whether `rondo serve --help` lists `flag` (the doors a branch has). */
function rondoHas(flag) {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'dist', 'src', 'cli', 'main.js'), 'serve', '--help'], { encoding: 'utf8' });
  return `${r.stdout}${r.stderr}`.includes(flag);
}

module.exports = { missing, freePort, freeUdpPort, startProcess, startInfluxd, startVictoriaMetrics, startRondo, rondoHas, INFLUXD_BIN, VM_BIN };
