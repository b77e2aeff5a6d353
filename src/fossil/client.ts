// A fossil client: fossil://host:port/db, as fossil's own client connects (VERSION, then USE,
// then one request at a time), in active mode or fire-and-forget mode (appends unanswered).
import * as net from 'node:net';
import { FIRE_AND_FORGET } from './door';
import { CODES, FOSSIL_VERSION, FrameReader, encodeFrame, readList, topicAndRest, type Frame } from './wire';

export const DEFAULT_FOSSIL_PORT = 8001;

/** host, port and database of fossil://host[:port][/db][?mode=fire-and-forget]. */
export function parseFossilUrl(url: string): { host: string; port: number; database: string; fireAndForget: boolean } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`${JSON.stringify(url)} is not a fossil://host:port/database connection string`);
  }
  if (u.protocol !== 'fossil:') throw new Error(`${JSON.stringify(url)} is not a fossil:// connection string`);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  if (host === '') throw new Error(`${JSON.stringify(url)} has no host`);
  const port = u.port === '' ? DEFAULT_FOSSIL_PORT : Number(u.port);
  const database = decodeURIComponent(u.pathname.replace(/^\/+/, '').replace(/\/+$/, '')) || 'default';
  const mode = u.searchParams.get('mode');
  if (mode !== null && mode !== FIRE_AND_FORGET && mode !== 'active') throw new Error(`mode=${mode}: the modes are active and ${FIRE_AND_FORGET}`);
  return { host, port, database, fireAndForget: mode === FIRE_AND_FORGET };
}

/** An ERR answer. */
export class FossilError extends Error {
  readonly code: number;
  constructor(code: number, message: string) {
    super(`${code} ${message}`);
    this.name = 'FossilError';
    this.code = code;
  }
}

export interface FossilEntry {
  /** RFC 3339 with ns, as the server wrote it. */
  time: string;
  topic: string;
  schema: string;
  data: Buffer;
}

/** A field's text, the same string as the field before when its bytes are the same (topics and schemas repeat). */
class FieldText {
  private bytes = Buffer.alloc(0);
  private text = '';
  of(b: Buffer, s: number, e: number): string {
    const len = e - s;
    const mine = this.bytes;
    let same = len === mine.length;
    for (let j = 0; same && j < len; j++) same = b[s + j] === mine[j];
    if (!same) {
      this.bytes = Buffer.from(b.subarray(s, e));
      this.text = this.bytes.toString('utf8');
    }
    return this.text;
  }
}

/** A QUERY answer's entries (`time<TAB>topic<TAB>base64(datum)<TAB>schema` lines in a
 *  length-prefixed list), read in one pass over the frame. */
function parseAnswer(data: Buffer): FossilEntry[] {
  if (data.length < 4) throw new Error('list shorter than its count');
  const n = data.readUInt32BE(0);
  const out: FossilEntry[] = [];
  const topics = new FieldText();
  const schemas = new FieldText();
  let p = 4;
  for (let i = 0; i < n; i++) {
    if (p + 4 > data.length) throw new Error('list entry header past the end');
    const end = p + 4 + data.readUInt32BE(p);
    if (end > data.length) throw new Error('list entry past the end');
    const s = p + 4;
    const t1 = data.indexOf(9, s);
    const t2 = t1 < 0 || t1 >= end ? -1 : data.indexOf(9, t1 + 1);
    const t3 = t2 < 0 || t2 >= end ? -1 : data.indexOf(9, t2 + 1);
    if (t3 < 0 || t3 >= end) {
      // not the four fields: as the line's text splits
      const [time = '', topic = '', d = '', schema = ''] = data.toString('utf8', s, end).split('\t');
      out.push({ time, topic, schema, data: Buffer.from(d, 'base64') });
    } else {
      out.push({
        time: data.toString('latin1', s, t1),
        topic: topics.of(data, t1 + 1, t2),
        schema: schemas.of(data, t3 + 1, end),
        data: Buffer.from(data.toString('latin1', t2 + 1, t3), 'base64'),
      });
    }
    p = end;
  }
  return out;
}

export interface FossilStatsAnswer {
  allocHeap: bigint;
  totalMem: bigint;
  segments: bigint;
  topics: bigint;
  uptime: string;
}

export interface FossilClientOptions {
  /** Fire-and-forget: appends are not answered (overrides the URL's ?mode=). */
  fireAndForget?: boolean;
}

export class FossilClient {
  readonly host: string;
  readonly port: number;
  readonly database: string;
  /** True when the server took fire-and-forget mode. */
  fireAndForget = false;
  private readonly wantFireAndForget: boolean;
  private sock?: net.Socket;
  private readonly reader = new FrameReader();
  private readonly waiting: Array<{ resolve: (f: Frame) => void; reject: (e: Error) => void }> = [];
  private failure?: Error;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private flushScheduled = false;

  private constructor(url: string, options: FossilClientOptions) {
    const u = parseFossilUrl(url);
    this.host = u.host;
    this.port = u.port;
    this.database = u.database;
    this.wantFireAndForget = options.fireAndForget ?? u.fireAndForget;
  }

  /** Connects, says VERSION (asking for fire-and-forget when wanted) and USEs the database. */
  static async connect(url: string, options: FossilClientOptions = {}): Promise<FossilClient> {
    const c = new FossilClient(url, options);
    await c.open();
    return c;
  }

  private async open(): Promise<void> {
    const sock = net.connect(this.port, this.host);
    this.sock = sock;
    sock.setNoDelay(true);
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', resolve);
      sock.once('error', reject);
    });
    sock.on('data', (chunk: Buffer) => {
      for (const ev of this.reader.push(chunk)) {
        if ('frame' in ev) this.waiting.shift()?.resolve(ev.frame);
        else this.fail(new Error(`the server sent a malformed frame (${ev.error})`));
      }
    });
    sock.on('error', (e) => this.fail(e));
    sock.on('close', () => this.fail(new Error('the server closed the connection')));
    const v = await this.request('VERSION', this.wantFireAndForget ? `${FOSSIL_VERSION} ${FIRE_AND_FORGET}` : FOSSIL_VERSION);
    this.fireAndForget = this.wantFireAndForget && v.data.subarray(4).toString('utf8').includes(FIRE_AND_FORGET);
    await this.use(this.database);
  }

  private fail(e: Error): void {
    this.failure ??= e;
    for (const w of this.waiting.splice(0)) w.reject(e);
  }

  private write(b: Buffer): void {
    if (this.failure !== undefined) throw this.failure;
    this.pending.push(b);
    this.pendingBytes += b.length;
    if (this.pendingBytes >= 256 * 1024) this.flushNow();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flushNow());
    }
  }

  private flushNow(): boolean {
    this.flushScheduled = false;
    if (this.pending.length === 0) return true;
    const b = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    return this.sock!.write(b);
  }

  /** Sends one frame and waits for its answer; an ERR answer rejects with FossilError. */
  async request(command: string, data: Buffer | string = ''): Promise<Frame> {
    if (this.failure !== undefined) throw this.failure;
    const p = new Promise<Frame>((resolve, reject) => this.waiting.push({ resolve, reject }));
    this.write(encodeFrame(command, data));
    this.flushNow();
    const f = await p;
    if (f.command === 'ERR') throw new FossilError(f.data.length >= 4 ? f.data.readUInt32BE(0) : CODES.error, f.data.subarray(4).toString('utf8'));
    return f;
  }

  async use(database: string): Promise<void> {
    const f = await this.request('USE', database);
    if (f.command !== 'OK') throw new FossilError(CODES.unknownDb, `unknown database ${JSON.stringify(database)}`);
  }

  /** Appends a datum (a string is sent as UTF-8). In fire-and-forget mode it resolves once the
   *  bytes are handed to the socket (await drain() for backpressure). */
  async append(topic: string, data: Buffer | string): Promise<void> {
    const frame = encodeFrame('APPEND', topicAndRest(topic, data));
    if (this.fireAndForget) {
      this.write(frame);
      return;
    }
    if (this.failure !== undefined) throw this.failure;
    const p = new Promise<Frame>((resolve, reject) => this.waiting.push({ resolve, reject }));
    this.write(frame);
    this.flushNow();
    const f = await p;
    if (f.command === 'ERR') throw new FossilError(f.data.readUInt32BE(0), f.data.subarray(4).toString('utf8'));
  }

  /** Fire-and-forget: waits until the socket has taken what was appended. */
  async drain(): Promise<void> {
    if (this.flushNow()) return;
    await new Promise<void>((resolve) => this.sock!.once('drain', resolve));
  }

  async query(text: string): Promise<FossilEntry[]> {
    const f = await this.request('QUERY', text);
    return parseAnswer(f.data);
  }

  async list(what: '' | 'databases' | 'topics' | 'schemas' = ''): Promise<string[]> {
    const f = await this.request('LIST', what);
    return readList(f.data).map((b) => b.toString('utf8'));
  }

  async createTopic(topic: string, schema = ''): Promise<void> {
    await this.request('CREATE', topicAndRest(topic, schema));
  }

  async stats(): Promise<FossilStatsAnswer> {
    const f = await this.request('STATS');
    const d = f.data;
    return {
      allocHeap: d.readBigUInt64BE(0),
      totalMem: d.readBigUInt64BE(8),
      segments: d.readBigUInt64BE(16),
      topics: d.readBigUInt64BE(24),
      uptime: d.subarray(32).toString('utf8'),
    };
  }

  async close(): Promise<void> {
    const sock = this.sock;
    if (sock === undefined || sock.destroyed) return;
    this.flushNow();
    await new Promise<void>((resolve) => {
      sock.once('close', () => resolve());
      sock.end();
    });
  }
}
