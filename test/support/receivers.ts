// Real remote-write receivers for tests: Debian's prometheus and victoria-metrics binaries, run
// on free loopback ports in temp dirs, and a scripted node:http "fault server".
import { spawn, type ChildProcess } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { removeTempDir, suiteTempDir } from '../helpers';

export const PROMETHEUS_BIN = '/usr/bin/prometheus';
export const VICTORIA_METRICS_BIN = '/usr/bin/victoria-metrics';
export const INFLUXD_BIN = '/usr/bin/influxd';
export const INFLUX_CLI_BIN = '/usr/bin/influx';

const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 10_000;

/** Throws a clear error if a receiver binary is missing. */
export function ensureReceiversInstalled(): void {
  const missing: string[] = [];
  for (const [bin, pkg] of [
    [PROMETHEUS_BIN, 'prometheus'],
    [VICTORIA_METRICS_BIN, 'victoria-metrics'],
    [INFLUXD_BIN, 'influxdb'],
    [INFLUX_CLI_BIN, 'influxdb-client'],
  ] as const) {
    try {
      fs.accessSync(bin, fs.constants.X_OK);
    } catch {
      missing.push(`${bin} (Debian package "${pkg}")`);
    }
  }
  if (missing.length > 0)
    throw new Error(
      `remote-write receiver tests need ${missing.join(' and ')}; install with ` +
        '"apt-get install -y prometheus victoria-metrics influxdb influxdb-client" (the project\'s test command does this)',
    );
}

/** A TCP port on 127.0.0.1 that was free a moment ago (nothing listens on it now). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

// Children still running when the test process exits are killed, so none outlive a crash.
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

interface Daemon {
  child: ChildProcess;
  dir: string;
  logFile: string;
  stop(): Promise<void>;
  /** SIGKILL: no shutdown, as in a crash. */
  kill(): Promise<void>;
  /** Starts the daemon again on the same port and directory (after kill()). */
  restart(): Promise<void>;
}

function logTail(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-20).join('\n');
  } catch {
    return '(no log)';
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function httpGet(url: string, timeoutMs = 2000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
  });
}

/** GET `url` and parse its JSON body (throws on a non-2xx answer). */
export async function getJson<T = unknown>(url: string): Promise<T> {
  const { status, body } = await httpGet(url, 10_000);
  if (status < 200 || status >= 300) throw new Error(`GET ${url}: HTTP ${status}: ${body.slice(0, 500)}`);
  return JSON.parse(body) as T;
}

/** GET `url` and return its body as text (throws on a non-2xx answer). */
export async function getText(url: string): Promise<string> {
  const { status, body } = await httpGet(url, 10_000);
  if (status < 200 || status >= 300) throw new Error(`GET ${url}: HTTP ${status}: ${body.slice(0, 500)}`);
  return body;
}

function waitExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      resolve(false);
    }, timeoutMs);
    const onExit = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    child.once('exit', onExit);
  });
}

/**
 * Runs `bin` with the args `argsFor(port, dir)` until `readyPath` answers 200. Retries with
 * another port if the chosen one was taken in the meantime.
 */
async function startDaemon(
  what: string,
  bin: string,
  prepare: (dir: string) => void,
  argsFor: (port: number, dir: string) => string[],
  readyPath: string,
): Promise<Daemon & { port: number }> {
  ensureReceiversInstalled();
  let lastError: Error | undefined;
  for (let tries = 0; tries < 3; tries++) {
    const dir = suiteTempDir(`rondo-${what}-`); // removed by stop(), or after the test file at the latest
    prepare(dir);
    const logFile = path.join(dir, `${what}.log`);
    const port = await freePort();
    let child = await launch(bin, argsFor(port, dir), dir, logFile);

    const stop = async (): Promise<void> => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        if (!(await waitExit(child, STOP_TIMEOUT_MS))) {
          child.kill('SIGKILL');
          await waitExit(child, STOP_TIMEOUT_MS);
        }
      }
      running.delete(child);
      removeTempDir(dir);
    };
    const kill = async (): Promise<void> => {
      child.kill('SIGKILL');
      await waitExit(child, STOP_TIMEOUT_MS);
      running.delete(child);
    };

    const error = await waitReady(child, port, readyPath);
    if (error === undefined) {
      const daemon: Daemon & { port: number } = {
        get child() {
          return child;
        },
        dir,
        logFile,
        stop,
        kill,
        restart: async () => {
          child = await launch(bin, argsFor(port, dir), dir, logFile);
          const again = await waitReady(child, port, readyPath);
          if (again !== undefined) throw new Error(`${what} (${bin}) did not come back on port ${port}: ${again}; log:\n${logTail(logFile)}`);
        },
        port,
      };
      return daemon;
    }
    const tail = logTail(logFile);
    await stop();
    lastError = new Error(`${what} (${bin}) ${error} on port ${port}; log:\n${tail}`);
    if (!/address already in use/i.test(tail)) break;
  }
  throw lastError ?? new Error(`${what} did not start`);
}

async function launch(bin: string, args: string[], dir: string, logFile: string): Promise<ChildProcess> {
  const log = fs.openSync(logFile, 'a');
  const child = spawn(bin, args, { stdio: ['ignore', log, log], cwd: dir });
  fs.closeSync(log);
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}

/** Undefined once `readyPath` answers 200; otherwise what went wrong. */
async function waitReady(child: ChildProcess, port: number, readyPath: string): Promise<string | undefined> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (child.exitCode === null && child.signalCode === null && Date.now() < deadline) {
    try {
      const { status } = await httpGet(`http://127.0.0.1:${port}${readyPath}`, 1000);
      if (status === 200) return undefined;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  return child.exitCode !== null || child.signalCode !== null ? 'exited' : `was not ready within ${START_TIMEOUT_MS} ms`;
}

export interface PrometheusReceiver {
  /** The remote-write URL (…/api/v1/write). */
  url: string;
  /** Base URL of the HTTP API, e.g. http://127.0.0.1:PORT */
  api: string;
  stop(): Promise<void>;
  /** SIGKILL, as in a crash: what it acknowledged is in its WAL, nothing is shut down cleanly. */
  kill(): Promise<void>;
  /** Starts it again on the same port and data directory (after kill()); resolves once ready. */
  restart(): Promise<void>;
}

/**
 * A real Prometheus with its remote-write receiver on, in a temp dir; no scrape jobs, or with
 * `scrape` one job ('rondo') scraping `target` (host:port) every `interval` (default 1s).
 */
export async function startPrometheus(options: { outOfOrderWindow?: string; scrape?: { target: string; interval?: string } } = {}): Promise<PrometheusReceiver> {
  const d = await startDaemon(
    'prometheus',
    PROMETHEUS_BIN,
    (dir) => {
      const lines = ['global:', '  scrape_interval: 15s'];
      if (options.outOfOrderWindow !== undefined)
        lines.push('storage:', '  tsdb:', `    out_of_order_time_window: ${options.outOfOrderWindow}`);
      if (options.scrape !== undefined)
        lines.push(
          'scrape_configs:',
          '  - job_name: rondo',
          `    scrape_interval: ${options.scrape.interval ?? '1s'}`,
          `    scrape_timeout: ${options.scrape.interval ?? '1s'}`,
          '    static_configs:',
          `      - targets: ['${options.scrape.target}']`,
        );
      fs.writeFileSync(path.join(dir, 'prometheus.yml'), `${lines.join('\n')}\n`);
      fs.mkdirSync(path.join(dir, 'data'));
    },
    (port, dir) => [
      `--config.file=${path.join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--web.enable-remote-write-receiver',
    ],
    '/-/ready',
  );
  const api = `http://127.0.0.1:${d.port}`;
  return { url: `${api}/api/v1/write`, api, stop: d.stop, kill: d.kill, restart: d.restart };
}

export interface VictoriaMetricsReceiver {
  /** The remote-write URL (…/api/v1/write). */
  url: string;
  /** Base URL of the HTTP API, e.g. http://127.0.0.1:PORT */
  api: string;
  stop(): Promise<void>;
  /** Makes everything received so far searchable (/internal/force_flush). */
  flush(): Promise<void>;
}

/** A real single-node VictoriaMetrics in a temp dir, with no query latency offset. */
export async function startVictoriaMetrics(): Promise<VictoriaMetricsReceiver> {
  const d = await startDaemon(
    'victoria-metrics',
    VICTORIA_METRICS_BIN,
    (dir) => fs.mkdirSync(path.join(dir, 'data')),
    (port, dir) => [
      `-httpListenAddr=127.0.0.1:${port}`,
      `-storageDataPath=${path.join(dir, 'data')}`,
      '-search.latencyOffset=0s',
      '-retentionPeriod=100y',
      '-search.disableCache',
    ],
    '/health',
  );
  const api = `http://127.0.0.1:${d.port}`;
  return {
    url: `${api}/api/v1/write`,
    api,
    stop: d.stop,
    flush: async () => {
      await getText(`${api}/internal/force_flush`);
    },
  };
}

export interface InfluxDBReference {
  /** Base URL of the HTTP API (/write, /query, /ping), e.g. http://127.0.0.1:PORT */
  api: string;
  /** The HTTP port. */
  port: number;
  /** The UDP line-protocol listener's port (writes into database `udp`), when asked for. */
  udpPort?: number;
  /** The daemon's data directory (meta, data, wal under it). */
  dir: string;
  stop(): Promise<void>;
}

/**
 * A real InfluxDB 1.x (Debian's influxd) in a temp dir, HTTP on a free loopback port, no
 * reporting, no internal monitor database, and with `udp: true` a UDP line-protocol listener on
 * another free port writing into the database `udp` (flushed every 10 ms, so a test can read
 * what it sent soon after).
 */
export async function startInfluxDB(options: { udp?: boolean } = {}): Promise<InfluxDBReference> {
  const udpPort = options.udp === true ? await freeUdpPort() : undefined;
  const d = await startDaemon(
    'influxd',
    INFLUXD_BIN,
    () => undefined,
    (port, dir) => {
      const conf = [
        'reporting-disabled = true',
        `bind-address = "127.0.0.1:${port + 1 > 65535 ? port - 1 : port + 1}"`,
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
        '[logging]',
        '  level = "warn"',
        '[continuous_queries]',
        '  enabled = false',
      ];
      if (udpPort !== undefined)
        conf.push('[[udp]]', '  enabled = true', `  bind-address = "127.0.0.1:${udpPort}"`, '  database = "udp"', '  batch-size = 1000', '  batch-timeout = "10ms"');
      fs.writeFileSync(path.join(dir, 'influxdb.conf'), `${conf.join('\n')}\n`);
      return ['-config', path.join(dir, 'influxdb.conf')];
    },
    '/query?q=SHOW%20DATABASES',
  );
  const api = `http://127.0.0.1:${d.port}`;
  return { api, port: d.port, ...(udpPort !== undefined ? { udpPort } : {}), dir: d.dir, stop: d.stop };
}

/** A UDP port on 127.0.0.1 that was free a moment ago. */
export function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket('udp4');
    sock.unref();
    sock.on('error', reject);
    sock.bind(0, '127.0.0.1', () => {
      const port = sock.address().port;
      sock.close(() => resolve(port));
    });
  });
}

// ---- fault server ----

/** What the fault server does with one request: answer, or never answer. */
export type FaultReply =
  | { status: number; headers?: Record<string, string>; body?: string; /** answer only after this long */ delayMs?: number }
  | { hang: true };

export interface RecordedRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  /** Date.now() when the request arrived (its headers were read). */
  arrivedAt: number;
  /** The raw body, as sent. */
  body: Buffer;
}

export interface FaultServer {
  /** http://127.0.0.1:PORT/api/v1/write */
  url: string;
  /** Every request received, in arrival order. */
  requests: RecordedRequest[];
  /** The most requests that were ever open (received, not yet answered) at once. */
  readonly maxConcurrent: number;
  stop(): Promise<void>;
}

/**
 * A real HTTP server on loopback answering each request as scripted: a single reply for all,
 * a list (the n-th request gets the n-th reply; the last one repeats), or a function.
 */
export function startFaultServer(
  behaviour: FaultReply | readonly FaultReply[] | ((index: number, request: RecordedRequest) => FaultReply),
): Promise<FaultServer> {
  const requests: RecordedRequest[] = [];
  let open = 0;
  let maxConcurrent = 0;
  const pick = (i: number, r: RecordedRequest): FaultReply => {
    if (typeof behaviour === 'function') return behaviour(i, r);
    if (Array.isArray(behaviour)) {
      const list = behaviour as readonly FaultReply[];
      if (list.length === 0) return { status: 200 };
      return list[Math.min(i, list.length - 1)] as FaultReply;
    }
    return behaviour as FaultReply;
  };

  const server = http.createServer((req, res) => {
    const arrivedAt = Date.now();
    open++;
    maxConcurrent = Math.max(maxConcurrent, open);
    res.on('close', () => open--);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const recorded: RecordedRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        arrivedAt,
        body: Buffer.concat(chunks),
      };
      const index = requests.length;
      requests.push(recorded);
      const reply = pick(index, recorded);
      if ('hang' in reply) return; // never answer; stop() cuts the connection
      const answer = (): void => {
        res.writeHead(reply.status, reply.headers);
        res.end(reply.body ?? '');
      };
      if (reply.delayMs !== undefined) setTimeout(answer, reply.delayMs);
      else answer();
    });
  });

  return new Promise((resolve, reject) => {
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      resolve({
        url: `http://127.0.0.1:${port}/api/v1/write`,
        requests,
        get maxConcurrent() {
          return maxConcurrent;
        },
        stop: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}
