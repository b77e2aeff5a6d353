// rondo serve <dir> [--listen 127.0.0.1:9464] [--schema schemas.json] [--read-only]
//             [--auth-token-file F] [--tls-cert F --tls-key F] [--insecure-listen]
//             [--max-points N] [--max-body BYTES] [--query-timeout D]
//             [--influx-udp HOST:PORT] [--influx-tcp HOST:PORT]
//             [--statsd HOST:PORT [--statsd-quantiles 0.5,0.9,0.99]]
//             [--fossil HOST:PORT [--fossil-root DIR]] [--hook FILE]...
import * as fs from 'node:fs';
import { ConfigError, StoreLockedError } from '../errors';
import { Store, type SchemaOptions } from '../store';
import { isLoopback, parseListen, serve, type ServeOptions } from '../server';
import { flag, parseArgs, UsageError } from './common';
import { parseDurationFlag } from './time';
import { loadHookFiles } from './hooks';

export const SERVE_HELP = `usage: rondo serve <dir> [--listen 127.0.0.1:9464] [--schema schemas.json] [--read-only]
                   [--auth-token-file F] [--tls-cert F --tls-key F] [--insecure-listen]
                   [--max-points N] [--max-body BYTES] [--query-timeout D]
                   [--influx-udp HOST:PORT] [--influx-tcp HOST:PORT]
                   [--statsd HOST:PORT [--statsd-quantiles 0.5,0.9,0.99]]
                   [--fossil HOST:PORT [--fossil-root DIR]] [--hook FILE]...

Serves the store in <dir> over HTTP: Prometheus's HTTP API (/api/v1/query, query_range, series,
labels, label/<name>/values, metadata, status/buildinfo, status/runtimeinfo), remote read
(POST /api/v1/read), remote-write receive (POST /api/v1/write) and its own figures on /metrics.
Grafana's Prometheus data source, promtool and Prometheus's remote_read and remote_write talk to
it as to a Prometheus. InfluxDB 1.x clients write Influx line protocol to it (POST /write,
POST /api/v2/write, GET /ping; UDP and TCP with the flags below). See docs/server.md and
docs/ingest.md.

The store is opened as its writer (created when missing, from --schema or the default schema:
1s for 1h, 10s for 6h, 5m for 7d, 256 series), so remote writes are stored, the server's own
figures recorded and the tiers consolidated every second. With --read-only, or when another
process holds the store's writer lock (a running VMM, say: it says so at start), it is served
read-only and remote writes are refused (HTTP 405).

options
  --listen HOST:PORT        where to listen (default 127.0.0.1:9464; port 0: any free port).
                            An address that is not loopback needs --auth-token-file, or
                            --insecure-listen to serve it to anyone who can reach it.
  --schema F                a JSON array of schemas (as Store.open's schemas option) for a new
                            store; on an existing one, they must be the store's.
  --read-only               never write the store (no remote write, no figures recorded).
  --auth-token-file F       every request needs "Authorization: Bearer <the file's content,
                            trimmed>"; others get 401.
  --tls-cert F --tls-key F  serve HTTPS with this PEM certificate and key.
  --insecure-listen         allow a non-loopback address without a token.
  --max-points N            most points one query may load or produce (default 50000000).
  --max-body BYTES          largest request body, compressed and decompressed (default 32MiB;
                            a number of bytes, or with KiB, MiB or GiB).
  --query-timeout D         longest a query may run (default 2m); a duration such as 30s.
  --influx-udp HOST:PORT    also take Influx line protocol over UDP, one datagram = lines
                            (InfluxDB's is 8089). Loopback only unless --insecure-listen.
  --influx-tcp HOST:PORT    also take Influx line protocol over TCP, lines ended by newlines
                            (a line over 64 KiB is refused). Loopback only unless --insecure-listen.
  --statsd HOST:PORT        also take StatsD/DogStatsD lines over UDP there (e.g. 127.0.0.1:8125),
                            aggregated per tier-0 interval (docs/ingest.md, "StatsD"). Loopback
                            only unless --insecure-listen (UDP carries no token).
  --statsd-quantiles LIST   the quantiles timers and histograms report (default 0.5,0.9,0.99).
  --fossil HOST:PORT        also speak fossil's TCP protocol there (e.g. 127.0.0.1:8001): events
                            appended and queried by fossil clients (docs/events.md, "The fossil
                            protocol"); the store is database "default". Loopback only unless
                            --insecure-listen (the protocol carries no token).
  --fossil-root DIR         further fossil databases: each sub-directory of DIR holding a store,
                            by its name (USE <name>).
  --hook FILE               a hook (docs/hooks.md): a JavaScript module exporting a hook or an
                            array of hooks, run on every sample written (trusted code, in this
                            process), or a WebAssembly module (.wasm: metered, memory-limited).
                            Repeatable: the hooks run in the order given.

It runs until SIGINT or SIGTERM, then stops listening, lets requests in flight finish, records
its last figures, flushes and closes the store. One line on stdout says where it listens.

exit status: 0 stopped by a signal; 1 the store cannot be opened or the address cannot be bound;
2 a mistake in the command.

examples
  rondo serve ./vm-metrics
  rondo serve /var/lib/vmm/metrics --read-only --listen 127.0.0.1:9090
  rondo serve ./metrics --listen 0.0.0.0:9464 --auth-token-file /etc/rondo/token \\
      --tls-cert /etc/rondo/cert.pem --tls-key /etc/rondo/key.pem
  rondo serve ./new-store --schema schemas.json --max-body 8MiB --query-timeout 30s
  rondo serve ./metrics --influx-udp 127.0.0.1:8089 --influx-tcp 127.0.0.1:8094
  promtool query instant http://127.0.0.1:9464 'rate(vcpu_exits_total[1m])'`;

const SIZE_RE = /^(\d+)(|B|KiB|MiB|GiB|k|M|G)$/;
const SIZE_UNITS: Record<string, number> = { '': 1, B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, k: 1024, M: 1024 ** 2, G: 1024 ** 3 };

function readFileFlag(name: string, file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`rondo serve: --${name} ${JSON.stringify(file)} cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

export async function serveCommand(argv: readonly string[]): Promise<number> {
  const args = parseArgs(
    'serve',
    argv,
    ['listen', 'schema', 'auth-token-file', 'tls-cert', 'tls-key', 'max-points', 'max-body', 'query-timeout', 'influx-udp', 'influx-tcp', 'statsd', 'statsd-quantiles', 'fossil', 'fossil-root', 'hook'],
    ['read-only', 'insecure-listen'],
  );
  const [dir] = args.positional;
  if (dir === undefined || args.positional.length !== 1) throw new UsageError('rondo serve: give one store directory; see rondo serve --help');

  const options: ServeOptions = { listen: flag(args, 'listen') ?? '127.0.0.1:9464' };
  let host: string;
  try {
    host = parseListen(options.listen!).host;
  } catch (e) {
    throw new UsageError(`rondo serve: --listen: ${(e as Error).message}`);
  }
  const tokenFile = flag(args, 'auth-token-file');
  if (tokenFile !== undefined) {
    const token = readFileFlag('auth-token-file', tokenFile).trim();
    if (token === '') throw new UsageError(`rondo serve: --auth-token-file ${JSON.stringify(tokenFile)} is empty`);
    options.authToken = token;
  }
  options.insecureListen = args.switches.has('insecure-listen');
  if (!isLoopback(host) && tokenFile === undefined && !options.insecureListen)
    throw new UsageError(
      `rondo serve: ${host} is not a loopback address: give --auth-token-file F so that requests need a token, or --insecure-listen to serve it without one`,
    );
  const cert = flag(args, 'tls-cert');
  const key = flag(args, 'tls-key');
  if ((cert === undefined) !== (key === undefined)) throw new UsageError('rondo serve: give both --tls-cert and --tls-key, or neither');
  if (cert !== undefined && key !== undefined) options.tls = { cert: readFileFlag('tls-cert', cert), key: readFileFlag('tls-key', key) };
  const maxPoints = flag(args, 'max-points');
  if (maxPoints !== undefined) {
    if (!/^\d+$/.test(maxPoints) || Number(maxPoints) < 1) throw new UsageError(`rondo serve: --max-points must be a whole number above 0, not ${JSON.stringify(maxPoints)}`);
    options.maxPoints = Number(maxPoints);
  }
  const maxBody = flag(args, 'max-body');
  if (maxBody !== undefined) {
    const m = SIZE_RE.exec(maxBody);
    const bytes = m === null ? NaN : Number(m[1]) * SIZE_UNITS[m[2]!]!;
    if (!(bytes >= 1024)) throw new UsageError(`rondo serve: --max-body must be a size of at least 1024 bytes such as 1048576 or 8MiB, not ${JSON.stringify(maxBody)}`);
    options.maxBodyBytes = bytes;
  }
  for (const [name, key] of [
    ['influx-udp', 'influxUdp'],
    ['influx-tcp', 'influxTcp'],
    ['statsd', 'statsd'],
    ['fossil', 'fossil'],
  ] as const) {
    const v = flag(args, name);
    if (v === undefined) continue;
    let h: string;
    try {
      h = parseListen(v).host;
    } catch (e) {
      throw new UsageError(`rondo serve: --${name}: ${(e as Error).message}`);
    }
    if (!isLoopback(h) && !options.insecureListen)
      throw new UsageError(`rondo serve: --${name} ${h} is not a loopback address and this door takes no token: give --insecure-listen to take it from anyone who can reach it`);
    options[key] = v;
  }
  const quantiles = flag(args, 'statsd-quantiles');
  if (quantiles !== undefined) {
    const qs = quantiles.split(',').map((q) => (/^0?\.\d+$/.test(q.trim()) ? Number(q.trim()) : NaN));
    if (options.statsd === undefined) throw new UsageError('rondo serve: --statsd-quantiles needs --statsd');
    if (qs.some((q) => !(q > 0 && q < 1))) throw new UsageError(`rondo serve: --statsd-quantiles must be numbers between 0 and 1 separated by commas, such as 0.5,0.9,0.99, not ${JSON.stringify(quantiles)}`);
    options.statsdQuantiles = qs;
  }
  const fossilRoot = flag(args, 'fossil-root');
  if (fossilRoot !== undefined) {
    if (options.fossil === undefined) throw new UsageError('rondo serve: --fossil-root needs --fossil');
    options.fossilRoot = fossilRoot;
  }
  const timeout = flag(args, 'query-timeout');
  if (timeout !== undefined) options.queryTimeoutMs = parseDurationFlag('serve', 'query-timeout', timeout);

  let schemas: SchemaOptions[] | undefined;
  const schemaFile = flag(args, 'schema');
  if (schemaFile !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileFlag('schema', schemaFile));
    } catch (e) {
      if (e instanceof UsageError) throw e;
      throw new UsageError(`rondo serve: --schema ${JSON.stringify(schemaFile)} is not JSON: ${(e as Error).message}`);
    }
    if (!Array.isArray(parsed)) throw new UsageError(`rondo serve: --schema ${JSON.stringify(schemaFile)} must hold a JSON array of schemas`);
    schemas = parsed as SchemaOptions[];
  }

  const hookFiles = args.values.get('hook') ?? [];
  const hooks = await loadHookFiles('serve', hookFiles);
  if (hooks.length > 0 && args.switches.has('read-only')) throw new UsageError('rondo serve: --hook needs a store to write; not with --read-only');

  let store: Store;
  let note = '';
  if (args.switches.has('read-only')) {
    store = Store.openReadOnly(dir);
    note = ' (read-only: --read-only)';
  } else {
    try {
      // the fossil door appends events: the store gets an event ring if it has none
      store = Store.open(dir, { ...(schemas === undefined ? {} : { schemas }), ...(options.fossil !== undefined ? { events: true } : {}), ...(hooks.length === 0 ? {} : { hooks, hookLog: (m: string) => process.stderr.write(`${m}\n`) }) });
    } catch (e) {
      if (e instanceof ConfigError && hooks.length > 0 && /hook/.test(e.message)) throw new UsageError(`rondo serve: --hook: ${e.message.split('\n')[0]}`);
      if (e instanceof ConfigError && schemaFile !== undefined) throw new UsageError(`rondo serve: --schema: ${e.message.split('\n')[0]}`);
      if (!(e instanceof StoreLockedError)) throw e;
      store = Store.openReadOnly(dir);
      note = ` (read-only: another process holds the writer lock; remote write is refused${hooks.length > 0 ? '; the hooks are not run' : ''})`;
    }
  }

  let server;
  try {
    server = await serve(store, {
      ...options,
      consolidateEveryMs: store.readOnly ? 0 : 1000,
      logger: (level, message) => process.stderr.write(`rondo serve: ${level === 'warn' ? 'warning' : 'error'}: ${message}\n`),
    });
  } catch (e) {
    store.close();
    if (e instanceof ConfigError) throw new UsageError(`rondo serve: ${e.message.split('\n')[0]}`);
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'EADDRINUSE' || err.code === 'EACCES' || err.code === 'EADDRNOTAVAIL') {
      const where = (err as NodeJS.ErrnoException & { port?: number }).port;
      process.stderr.write(`rondo serve: cannot listen on ${where !== undefined && !(options.listen ?? '').endsWith(`:${where}`) ? `port ${where}` : options.listen}: ${err.code}\n`);
      return 1;
    }
    throw e;
  }
  const influx = [
    server.influxUdp !== undefined ? `udp://${server.influxUdp.host}:${server.influxUdp.port}` : '',
    server.influxTcp !== undefined ? `tcp://${server.influxTcp.host}:${server.influxTcp.port}` : '',
  ].filter((d) => d !== '');
  // (the URL stays followed by a space: scripts take the word after "on")
  // Every other door in one parenthesis: "(and Influx line protocol on udp://…, tcp://…; StatsD on udp://…; fossil on fossil://…)".
  const others = [
    influx.length > 0 ? `Influx line protocol on ${influx.join(', ')}` : '',
    server.statsd !== undefined ? `StatsD on udp://${server.statsd.host}:${server.statsd.port}` : '',
    server.fossil !== undefined ? `fossil on fossil://${server.fossil.host}:${server.fossil.port}` : '',
  ].filter((d) => d !== '');
  const doors = others.length > 0 ? ` (and ${others.join('; ')})` : '';
  process.stdout.write(`rondo serve: serving ${store.dir} on ${server.url}${doors}${note}\n`);

  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await server.close();
  store.close();
  return 0;
}
