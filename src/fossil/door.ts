// The fossil door: a TCP listener speaking fossil's wire protocol (rondo serve --fossil
// HOST:PORT). One database is one store; a connection starts on database "default" (the store
// rondo serve serves) and USE switches among the stores the server knows. Requests on a
// connection are answered one after the other, in order.
//
// Two client modes. Active (the default, what fossil's own client gets): every request is
// answered. Fire-and-forget: a client whose VERSION request's text carries the word
// "fire-and-forget" (e.g. "v1.0.0 fire-and-forget") is answered VERSION 200
// "v1.0.0 fire-and-forget"; from then on its APPENDs get no answer (a refused one is counted),
// USE and CREATE are answered as usual, and any other command gets ERR 500.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { IngestCounters } from '../ingest';
import { Store as StoreClass, type Store } from '../store';
import { ConfigError, InvalidValueError, StoreLockedError } from '../errors';

/** The file that makes a directory a store (the store's layout). */
const STORE_FILE = 'rondo.json';
import { runQueryRows } from './evaluate';
import { FossilQueryError } from './parse';
import { eventsOf, type EventSource } from './source';
import {
  CODES,
  FOSSIL_VERSION,
  FrameReader,
  codeText,
  encodeFrame,
  errFrame,
  appendsAt,
  encodeAnswer,
  formatTime,
  goDuration,
  lengthPrefixedList,
  okFrame,
  splitTopic,
  type Frame,
  type TopicCache,
  MAX_FRAME,
} from './wire';

const PROTOCOL = 'fossil';
export const FIRE_AND_FORGET = 'fire-and-forget';

/** The stores a fossil door serves, by database name. */
export interface FossilDatabases {
  /** The store of a database, opened if need be; undefined when there is none of that name. */
  get(name: string): Store | undefined;
  /** The names LIST databases answers. */
  names(): string[];
}

export interface FossilDoorOptions {
  counters: IngestCounters;
  logger?: (level: 'warn' | 'error', message: string) => void;
  /** The most entries one QUERY selects (default 10 000 000). */
  maxQueryEntries?: number;
}

export interface FossilStats {
  connections: number;
  requests: number;
  appends: number;
  queries: number;
}

export interface FossilDoor {
  readonly host: string;
  readonly port: number;
  stats(): FossilStats;
  close(): Promise<void>;
}

/** A database set of one store, named "default". */
export function singleDatabase(store: Store): FossilDatabases {
  return { get: (n) => (n === 'default' ? store : undefined), names: () => ['default'] };
}

const DB_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/**
 * The databases rondo serve offers: "default" is the store it serves; with `root`, every
 * sub-directory of root that holds a store (a rondo.json) is a database of its name, opened on
 * first USE (read-only when another process writes it) and closed by close().
 */
export function fossilDatabases(store: Store, root?: string): FossilDatabases & { close(): void } {
  const opened = new Map<string, Store>();
  const isStore = (name: string): boolean => root !== undefined && DB_NAME.test(name) && fs.existsSync(path.join(root, name, STORE_FILE));
  return {
    get: (name) => {
      if (name === 'default') return store;
      const have = opened.get(name);
      if (have !== undefined) return have;
      if (!isStore(name)) return undefined;
      const dir = path.join(root!, name);
      let s: Store;
      try {
        s = StoreClass.open(dir, { events: true });
      } catch (e) {
        if (!(e instanceof StoreLockedError)) throw e;
        s = StoreClass.openReadOnly(dir);
      }
      opened.set(name, s);
      return s;
    },
    names: () => {
      const names = ['default'];
      if (root !== undefined) {
        let entries: string[] = [];
        try {
          entries = fs.readdirSync(root).sort();
        } catch {
          entries = [];
        }
        for (const n of entries) if (n !== 'default' && isStore(n)) names.push(n);
      }
      return names;
    },
    close: () => {
      for (const s of opened.values()) if (!s.isClosed) s.close();
      opened.clear();
    },
  };
}

const OK = okFrame();
const startedNs = process.hrtime.bigint();

export async function startFossil(databases: FossilDatabases, host: string, port: number, options: FossilDoorOptions): Promise<FossilDoor> {
  const log = options.logger ?? (() => {});
  const count = (reason: string, n = 1): void => options.counters.error(PROTOCOL, reason, n);
  const seen: FossilStats = { connections: 0, requests: 0, appends: 0, queries: 0 };
  const sockets = new Set<net.Socket>();
  let pendingStored = 0;
  const flushStored = (): void => {
    if (pendingStored > 0) options.counters.stored(PROTOCOL, pendingStored);
    pendingStored = 0;
  };
  const storedTimer = setInterval(flushStored, 1000);
  storedTimer.unref();

  const server = net.createServer((sock) => {
    seen.connections++;
    sockets.add(sock);
    sock.setNoDelay(true);
    const reader = new FrameReader();
    let dbName = 'default';
    const topicCache: TopicCache = { bytes: Buffer.alloc(0), topic: '' };
    let fireAndForget = false;
    let closing = false;
    const out: Buffer[] = [];
    const send = (b: Buffer): void => {
      out.push(b);
    };
    const finish = (b?: Buffer): void => {
      if (b !== undefined) send(b);
      closing = true;
    };

    /** Appends a datum of an APPEND; undefined, or fossil's refusal (counted). */
    const appendTo = (store: Store, topic: string, datum: Uint8Array): Buffer | undefined => {
      const ev = eventsOf(store);
      try {
        const went = ev.append(topic, datum);
        if (went !== topic) {
          // the store kept it under /nonconformant; the client hears fossil's refusal
          const schema = ev.topics().find((t) => t.topic === topic)?.schema ?? inheritedSchema(ev, topic);
          count('nonconformant');
          return errFrame(CODES.nonconformant, `Data does not conform to ${schema}`);
        }
      } catch (e) {
        count(e instanceof InvalidValueError ? 'bad_topic' : 'store');
        return errFrame(CODES.error, (e as Error).message.split('\n')[0]!);
      }
      seen.appends++;
      pendingStored++;
      return undefined;
    };

    /**
     * A fire-and-forget client's run of APPEND frames, straight from the chunk that brought them
     * (no Frame, no Buffer a frame: the door's per-frame work was most of a TCP append's cost).
     * Returns what is left for FrameReader: from the first frame that is not a whole APPEND.
     */
    const fastAppends = (buf: Buffer): Buffer => {
      const store = databases.get(dbName);
      if (store === undefined || store.isClosed || store.readOnly) return buf; // handle() says why
      const took = appendsAt(buf, topicCache, (topic, datum) => {
        seen.requests++;
        appendTo(store, topic, datum); // no answer in this mode: a refusal is counted only
        return !closing;
      });
      return took === 0 ? buf : buf.subarray(took);
    };

    const handle = (f: Frame): void => {
      seen.requests++;
      const store = databases.get(dbName);
      if (fireAndForget && f.command !== 'APPEND' && f.command !== 'USE' && f.command !== 'CREATE' && f.command !== 'VERSION') {
        count('not_allowed');
        send(errFrame(CODES.error, `command not allowed in ${FIRE_AND_FORGET} mode`));
        return;
      }
      switch (f.command) {
        case 'VERSION': {
          const asked = f.data.toString('utf8');
          if (asked.split(/[\s;,]+/).includes(FIRE_AND_FORGET)) fireAndForget = true;
          send(encodeFrame('VERSION', codeText(CODES.ok, fireAndForget ? `${FOSSIL_VERSION} ${FIRE_AND_FORGET}` : FOSSIL_VERSION)));
          return;
        }
        case 'USE': {
          const name = f.data.toString('utf8');
          let s: Store | undefined;
          try {
            s = databases.get(name);
          } catch (e) {
            log('warn', `fossil: USE ${JSON.stringify(name)}: ${(e as Error).message.split('\n')[0]}`);
          }
          if (s === undefined) {
            count('unknown_database');
            send(errFrame(CODES.unknownDb, `unknown database ${JSON.stringify(name)}`));
            return;
          }
          dbName = name;
          send(okFrame(CODES.databaseChanged, 'database changed'));
          return;
        }
        case 'APPEND': {
          const parts = splitTopic(f.data, topicCache);
          const reply = (b: Buffer): void => {
            if (!fireAndForget) send(b);
          };
          if (parts === undefined) {
            count('bad_append');
            reply(errFrame(CODES.unmarshal, 'error unmarshaling'));
            return;
          }
          if (store === undefined || store.isClosed) {
            count('unknown_database');
            reply(errFrame(CODES.unknownDb, `unknown database ${JSON.stringify(dbName)}`));
            return;
          }
          if (store.readOnly) {
            count('read_only');
            reply(errFrame(CODES.error, 'the database is open read-only'));
            return;
          }
          const refused = appendTo(store, parts.topic, parts.rest);
          reply(refused ?? OK);
          return;
        }
        case 'QUERY': {
          seen.queries++;
          if (store === undefined) {
            send(errFrame(CODES.unknownDb, `unknown database ${JSON.stringify(dbName)}`));
            return;
          }
          try {
            const rows = runQueryRows(eventsOf(store), f.data.toString('utf8'), options.maxQueryEntries === undefined ? {} : { maxEntries: options.maxQueryEntries });
            // Entries straight from the ring's columns are written into the answer in one pass.
            const body = Array.isArray(rows)
              ? lengthPrefixedList(rows.map((r) => Buffer.from(`${formatTime(r.tsNs)}\t${r.topic}\t${r.bytes.toString('base64')}\t${r.schema}`, 'utf8')))
              : encodeAnswer(rows);
            // A frame a client may not take (over MAX_FRAME) is not sent: the client is told why.
            if (body.length + 8 > MAX_FRAME)
              send(
                errFrame(
                  CODES.query,
                  `the answer of ${Array.isArray(rows) ? rows.length : rows.count} entries is ${body.length} bytes, over the ${MAX_FRAME}-byte frame limit; narrow the query (a later since, a sub-topic, or sample())`,
                ),
              );
            else send(encodeFrame('QUERY', body));
          } catch (e) {
            if (e instanceof FossilQueryError) send(errFrame(CODES.query, e.describe()));
            else send(errFrame(CODES.query, (e as Error).message.split('\n')[0]!));
          }
          return;
        }
        case 'LIST': {
          const what = f.data.toString('utf8').trim() || 'databases';
          let items: string[] = [];
          if (what === 'databases') items = databases.names();
          else if (store !== undefined && what === 'topics') items = eventsOf(store).topics().map((t) => t.topic);
          else if (store !== undefined && what === 'schemas')
            items = eventsOf(store)
              .topics()
              .filter((t) => t.schema !== 'string')
              .map((t) => `${t.topic} ${t.schema}`);
          send(encodeFrame('LIST', lengthPrefixedList(items.map((s) => Buffer.from(s, 'utf8')))));
          return;
        }
        case 'CREATE': {
          const parts = splitTopic(f.data);
          if (parts === undefined) {
            count('bad_create');
            send(errFrame(CODES.unmarshal, 'error unmarshaling'));
            return;
          }
          if (store === undefined || store.readOnly) {
            send(errFrame(CODES.error, store === undefined ? 'unknown database' : 'the database is open read-only'));
            return;
          }
          const text = parts.rest.toString('utf8').trim() || 'string';
          try {
            eventsOf(store).createTopic(parts.topic, text);
          } catch (e) {
            count(e instanceof ConfigError ? 'bad_schema' : 'bad_create');
            send(errFrame(CODES.error, (e as Error).message.split('\n')[0]!));
            return;
          }
          send(OK);
          return;
        }
        case 'STATS': {
          const mem = process.memoryUsage();
          const ev = store === undefined ? undefined : eventsOf(store);
          const head = Buffer.alloc(32);
          head.writeBigUInt64BE(BigInt(mem.heapUsed), 0);
          head.writeBigUInt64BE(BigInt(mem.rss), 8);
          head.writeBigUInt64BE(BigInt(ev?.count() ?? 0), 16);
          head.writeBigUInt64BE(BigInt(ev?.topics().length ?? 0), 24);
          send(encodeFrame('STATS', Buffer.concat([head, Buffer.from(goDuration(process.hrtime.bigint() - startedNs))])));
          return;
        }
        default:
          count('unknown_command');
          send(errFrame(CODES.commandNotFound, 'command not found'));
      }
    };

    const flushOut = (): void => {
      if (out.length === 0) return;
      const b = out.length === 1 ? out[0]! : Buffer.concat(out);
      out.length = 0;
      if (!sock.write(b)) sock.pause();
    };
    sock.on('drain', () => {
      if (!closing) sock.resume();
    });
    const take = (bytes: Buffer): void => {
      for (const ev of reader.push(bytes)) {
        if ('frame' in ev) {
          handle(ev.frame);
          if (closing) break;
          continue;
        }
        count(ev.error === 'too_large' ? 'frame_too_large' : 'malformed_frame');
        finish(errFrame(CODES.malformed, 'malformed message'));
        break;
      }
    };
    sock.on('data', (chunk: Buffer) => {
      if (closing) return;
      let rest = chunk;
      if (fireAndForget) {
        // The frame FrameReader holds the start of is made whole first; the whole APPENDs after
        // it are taken from the chunk as they lie.
        const missing = reader.missing();
        if (missing > 0 && missing <= chunk.length) {
          take(chunk.subarray(0, missing));
          rest = chunk.subarray(missing);
        }
        if (!closing && fireAndForget && reader.missing() === 0) rest = fastAppends(rest);
      }
      if (rest.length > 0 && !closing) take(rest);
      flushOut();
      if (closing) sock.end();
    });
    sock.on('end', () => {
      const left = reader.end();
      if (left !== undefined && !closing) {
        count('truncated_frame');
        send(errFrame(CODES.malformed, 'malformed message'));
        flushOut();
      }
      sock.end();
    });
    sock.on('error', () => sock.destroy());
    sock.on('close', () => sockets.delete(sock));
  });
  server.on('error', (e) => log('error', `fossil: ${e.message}`));

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as net.AddressInfo;
  let closed: Promise<void> | undefined;
  return {
    host: addr.address,
    port: addr.port,
    stats: () => ({ ...seen }),
    close: () => {
      closed ??= new Promise<void>((resolve) => {
        clearInterval(storedTimer);
        flushStored();
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
      return closed;
    },
  };
}

/** The schema a datum appended to `topic` must have: its own, else the nearest ancestor's
 *  non-string one (fossil's inheritance), else string. */
function inheritedSchema(ev: EventSource, topic: string): string {
  const all = new Map(ev.topics().map((t) => [t.topic, t.schema]));
  const own = all.get(topic);
  if (own !== undefined) return own;
  for (let t = topic; t.lastIndexOf('/') > 0; ) {
    t = t.slice(0, t.lastIndexOf('/'));
    const s = all.get(t);
    if (s !== undefined && s !== 'string') return s;
  }
  return 'string';
}
