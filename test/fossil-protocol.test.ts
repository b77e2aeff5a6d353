// The fossil door (rondo serve --fossil) over raw sockets: exchanges recorded from the real
// fossil server (test/fixtures/fossil/, see its README) replayed against rondo and compared
// byte for byte (times normalised); every command and answer code of fossil's protocol; the two
// client modes; malformed frames answered with fossil's error and the connection closed while
// the server keeps serving others; the inputs that crash the real server answered; refusals
// counted as rondo_ingest_errors_total{protocol="fossil",reason}.
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { FossilClient, FossilError } from '../src/fossil';
import { serve, type RondoServer } from '../src/server';
import { Store } from '../src/store';
import { ConfigError } from '../src/errors';
import { suiteTempDir } from './helpers';

const FIXTURES = path.join(__dirname, 'fixtures', 'fossil');
vi.setConfig({ testTimeout: 30_000 });

interface Step {
  label: string;
  send: string;
  recv: string | null;
  closed: boolean;
}
const transcripts = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'transcripts.json'), 'utf8')) as Record<string, Step[]>;

// ---- raw frames ----

function frame(cmd: string, data: Buffer | string = ''): Buffer {
  const body = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const b = Buffer.alloc(12 + body.length);
  b.writeUInt32BE(8 + body.length, 0);
  b.write(cmd, 4, 'latin1');
  body.copy(b, 12);
  return b;
}
function topicData(topic: string, rest: Buffer | string): Buffer {
  const t = Buffer.from(topic, 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(t.length, 0);
  return Buffer.concat([len, t, typeof rest === 'string' ? Buffer.from(rest, 'utf8') : rest]);
}
const i32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeInt32LE(n, 0);
  return b;
};

interface Answer {
  cmd: string;
  data: Buffer;
  raw: Buffer;
}
const codeOf = (a: Answer): number => a.data.readUInt32BE(0);
const textOf = (a: Answer): string => a.data.subarray(4).toString('utf8');
function listOf(a: Answer): string[] {
  const n = a.data.readUInt32BE(0);
  const out: string[] = [];
  let p = 4;
  for (let i = 0; i < n; i++) {
    const len = a.data.readUInt32BE(p);
    out.push(a.data.toString('utf8', p + 4, p + 4 + len));
    p += 4 + len;
  }
  expect(p, 'the list ends where the frame ends').toBe(a.data.length);
  return out;
}

/** One raw connection: write bytes, read whole frames, see the close. */
class Raw {
  private buf = Buffer.alloc(0);
  closed = false;
  private wake?: () => void;
  private constructor(readonly sock: net.Socket) {
    sock.on('data', (c: Buffer) => {
      this.buf = Buffer.concat([this.buf, c]);
      this.wake?.();
    });
    sock.on('close', () => {
      this.closed = true;
      this.wake?.();
    });
    sock.on('error', () => {});
  }
  static async open(port: number): Promise<Raw> {
    const s = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      s.once('connect', resolve);
      s.once('error', reject);
    });
    return new Raw(s);
  }
  write(b: Buffer): void {
    this.sock.write(b);
  }
  /** The next frame; null when the connection closed first or nothing came within ms. */
  next(ms = 10_000): Promise<Answer | null> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        resolve(null);
      }, ms);
      const check = (): void => {
        if (this.buf.length >= 4 && this.buf.length >= 4 + this.buf.readUInt32BE(0)) {
          const raw = this.buf.subarray(0, 4 + this.buf.readUInt32BE(0));
          this.buf = this.buf.subarray(raw.length);
          clearTimeout(timer);
          this.wake = undefined;
          resolve({ cmd: raw.toString('latin1', 4, 12).replace(/\0/g, ''), data: raw.subarray(12), raw });
        } else if (this.closed) {
          clearTimeout(timer);
          this.wake = undefined;
          resolve(null);
        }
      };
      this.wake = check;
      check();
    });
  }
  async ask(b: Buffer): Promise<Answer> {
    this.write(b);
    const a = await this.next();
    if (a === null) throw new Error('no answer');
    return a;
  }
  /** Resolves when the server has closed the connection. */
  async waitClosed(ms = 10_000): Promise<boolean> {
    const end = Date.now() + ms;
    while (!this.closed && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    return this.closed;
  }
  end(): void {
    this.sock.destroy();
  }
}

async function startServer(extra: { fossilRoot?: string } = {}): Promise<{ store: Store; server: RondoServer; port: number }> {
  const store = Store.open(suiteTempDir('rondo-fossil-'), { events: true });
  const server = await serve(store, { listen: '127.0.0.1:0', fossil: '127.0.0.1:0', recordOwnMetrics: false, ...extra });
  return { store, server, port: server.fossil!.port };
}

/** A QUERY answer's entries with the time field replaced by "<time>" (the time is checked to
 *  have Go's RFC3339Nano shape), re-framed: the bytes fossil would send for the same data
 *  appended at the same instants. */
const TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d*[1-9])?Z$/;
function normalise(hex: string | null): string {
  if (hex === null) return 'none';
  const raw = Buffer.from(hex, 'hex');
  const cmd = raw.toString('latin1', 4, 12).replace(/\0/g, '');
  if (cmd !== 'QUERY') return `${cmd} ${raw.subarray(12).toString('hex')}`;
  const a: Answer = { cmd, data: raw.subarray(12), raw };
  const lines = listOf(a).map((l) => {
    const f = l.split('\t');
    expect(f[0], `time ${f[0]}`).toMatch(TIME);
    return ['<time>', ...f.slice(1)].join('\t');
  });
  return `QUERY ${JSON.stringify(lines)}`;
}

describe('fossil transcripts replayed', () => {
  let ctx: Awaited<ReturnType<typeof startServer>>;
  beforeAll(async () => {
    ctx = await startServer();
  });
  afterAll(async () => {
    await ctx.server.close();
    ctx.store.close();
  });

  // What rondo answers differently from the recorded fossil, on purpose (docs/events.md, "What
  // differs from fossil"), with what rondo answers instead.
  const DIFFERS: Record<string, (a: Answer | null, recorded: string | null) => void> = {
    // a datum that does not conform is kept under /nonconformant (the rule; fossil drops
    // it), so that topic is listed too, in the order it was made
    'LIST after a failed USE': (a, recorded) => {
      const fossil = listOf({ cmd: 'LIST', data: Buffer.from(recorded!, 'hex').subarray(12), raw: Buffer.alloc(0) });
      const rondo = listOf(a!);
      expect(rondo.filter((t) => t !== '/nonconformant')).toEqual(fossil);
      expect(rondo).toContain('/nonconformant');
    },
    // fossil reads an int32 datum as unsigned (-4 becomes 4294967292) and re-encodes a filtered
    // datum as int64; rondo reads it signed and passes a filtered datum through unchanged
    'QUERY all in /metrics | map x -> x * 2': (a) => {
      const vals = listOf(a!).map((l) => Buffer.from(l.split('\t')[2]!, 'base64').readBigInt64LE(0));
      expect(vals).toEqual([42n, -8n]);
    },
    'QUERY all in /metrics | filter x -> x > 0': (a) => {
      const rows = listOf(a!).map((l) => l.split('\t'));
      expect(rows.map((r) => [r[1], r[2], r[3]])).toEqual([['/metrics/temp', i32(21).toString('base64'), 'int32']]);
    },
    'QUERY all in /metrics | map x -> x, 1': (a) => {
      const rows = listOf(a!).map((l) => l.split('\t'));
      expect(rows.map((r) => r[3])).toEqual(['[2]int64', '[2]int64']);
      const b = Buffer.from(rows[1]![2]!, 'base64');
      expect([b.readBigInt64LE(0), b.readBigInt64LE(8)]).toEqual([-4n, 1n]);
    },
    // rondo's parse errors are its own text (positioned); the code is fossil's
    'QUERY nonsense': (a) => {
      expect(a!.cmd).toBe('ERR');
      expect(codeOf(a!)).toBe(504);
      expect(textOf(a!)).toMatch(/offset 0/);
    },
    // STATS: the same layout (4 × u64, then a Go duration); the figures are rondo's own
    STATS: (a) => {
      expect(a!.cmd).toBe('STATS');
      expect(a!.data.length).toBeGreaterThan(32);
      // the 5 topics the session made, and /nonconformant, where rondo keeps the datum fossil refused
      expect(a!.data.readBigUInt64BE(24)).toBe(6n);
      expect(a!.data.subarray(32).toString()).toMatch(/^(\d+h)?(\d+m)?\d+(\.\d+)?(s|ms|µs|ns)$/);
    },
    // fossil answers an unknown database with an empty LIST frame (its two messages are
    // swapped in its source); rondo with ERR 505
    'USE nosuch': (a) => {
      expect(a!.cmd).toBe('ERR');
      expect(codeOf(a!)).toBe(505);
    },
    // fossil keeps reading after a frame shorter than its command; rondo answers the same
    // error and closes the connection (the stream cannot be re-synchronised)
    'frame with L = 4': (a) => {
      expect(a!.cmd).toBe('ERR');
      expect(codeOf(a!)).toBe(502);
      expect(textOf(a!)).toBe('malformed message');
    },
  };

  for (const [name, steps] of Object.entries(transcripts)) {
    it(`session "${name}": each answer is the real fossil's, byte for byte (times normalised), but for the documented differences`, async () => {
      // each session runs on its own fresh database, as it was recorded
      const root = suiteTempDir('rondo-fossil-replay-');
      const store = Store.open(path.join(root, 's'), { events: true });
      const server = await serve(store, { listen: '127.0.0.1:0', fossil: '127.0.0.1:0', recordOwnMetrics: false });
      try {
        const raw = await Raw.open(server.fossil!.port);
        let same = 0;
        for (const st of steps) {
          raw.write(Buffer.from(st.send, 'hex'));
          const a = await raw.next(st.recv === null ? 500 : 10_000);
          const check = DIFFERS[st.label.replace(/ \([^()]*\)$/, '')];
          if (check !== undefined) {
            check(a, st.recv);
            continue;
          }
          expect(normalise(a === null ? null : a.raw.toString('hex')), st.label).toBe(normalise(st.recv));
          same++;
        }
        expect(same).toBeGreaterThan(0);
        raw.end();
      } finally {
        await server.close();
        store.close();
      }
    });
  }

  it('the transcripts hold what the README says they hold: every session, every step of the basic one and of fossil\'s own client answered', () => {
    expect(Object.keys(transcripts)).toEqual(['basic', 'short-frame', 'append-topic-length-lies', 'fossil-cli']);
    expect(transcripts['fossil-cli']!.every((s) => s.recv !== null)).toBe(true);
    expect(transcripts.basic!.every((s) => s.recv !== null)).toBe(true);
  });
});

describe('every command and answer code', () => {
  let ctx: Awaited<ReturnType<typeof startServer>>;
  let raw: Raw;
  beforeAll(async () => {
    ctx = await startServer();
    raw = await Raw.open(ctx.port);
  });
  afterAll(async () => {
    raw.end();
    await ctx.server.close();
    ctx.store.close();
  });

  it('VERSION: VERSION 200 "v1.0.0", whatever version the client says', async () => {
    for (const v of ['v1.0.0', '', 'v9']) {
      const a = await raw.ask(frame('VERSION', v));
      expect([a.cmd, codeOf(a), textOf(a)]).toEqual(['VERSION', 200, 'v1.0.0']);
    }
  });

  it('USE: OK 201 "database changed"; an unknown database ERR 505, the connection stays on its database', async () => {
    let a = await raw.ask(frame('USE', 'default'));
    expect(a.raw.toString('hex')).toBe(frame('OK', Buffer.concat([Buffer.from([0, 0, 0, 201]), Buffer.from('database changed')])).toString('hex'));
    a = await raw.ask(frame('USE', 'nosuch'));
    expect([a.cmd, codeOf(a)]).toEqual(['ERR', 505]);
    a = await raw.ask(frame('APPEND', topicData('/after/use', 'x')));
    expect([a.cmd, codeOf(a), textOf(a)]).toEqual(['OK', 200, 'Ok']);
  });

  it('APPEND: OK 200 "Ok"; topic length 0 is "/", a topic without "/" gets one; a topic length past the data is ERR 506', async () => {
    expect(codeOf(await raw.ask(frame('APPEND', topicData('', 'root'))))).toBe(200);
    expect(codeOf(await raw.ask(frame('APPEND', topicData('no/slash', 'y'))))).toBe(200);
    const bad = await raw.ask(frame('APPEND', Buffer.from('000000ff2f', 'hex')));
    expect([bad.cmd, codeOf(bad), textOf(bad)]).toEqual(['ERR', 506, 'error unmarshaling']);
    const short = await raw.ask(frame('APPEND', Buffer.from('00', 'hex')));
    expect(codeOf(short)).toBe(506);
    const q = await raw.ask(frame('QUERY', 'all in /no'));
    expect(listOf(q).map((l) => l.split('\t').slice(1))).toEqual([['/no/slash', Buffer.from('y').toString('base64'), 'string']]);
    const root = await raw.ask(frame('QUERY', 'all | filter x -> x == "root"'));
    expect(listOf(root).map((l) => l.split('\t')[1])).toEqual(['/']);
  });

  it('CREATE: OK 200; a schema it cannot parse ERR 500; typed appends: OK when the datum conforms, ERR 503 "Data does not conform to <schema>" when not (kept under /nonconformant, not under its topic)', async () => {
    expect(codeOf(await raw.ask(frame('CREATE', topicData('/t/i16', 'int16'))))).toBe(200);
    expect(codeOf(await raw.ask(frame('CREATE', topicData('/t/arr', '[3]float64'))))).toBe(200);
    const bad = await raw.ask(frame('CREATE', topicData('/t/bad', '[2]string')));
    expect([bad.cmd, codeOf(bad)]).toEqual(['ERR', 500]);
    expect(codeOf(await raw.ask(frame('APPEND', topicData('/t/i16', Buffer.from([1, 2])))))).toBe(200);
    const no = await raw.ask(frame('APPEND', topicData('/t/i16', Buffer.from([1, 2, 3]))));
    expect([no.cmd, codeOf(no), textOf(no)]).toEqual(['ERR', 503, 'Data does not conform to int16']);
    // a sub-topic inherits its parent's schema
    const sub = await raw.ask(frame('APPEND', topicData('/t/i16/child', 'abc')));
    expect(textOf(sub)).toBe('Data does not conform to int16');
    const q = await raw.ask(frame('QUERY', 'all in /t'));
    expect(listOf(q).map((l) => l.split('\t').slice(1))).toEqual([['/t/i16', Buffer.from([1, 2]).toString('base64'), 'int16']]);
    const nc = await raw.ask(frame('QUERY', 'all in /nonconformant'));
    expect(listOf(nc).map((l) => Buffer.from(l.split('\t')[2]!, 'base64').toString('hex'))).toEqual(['010203', Buffer.from('abc').toString('hex')]);
  });

  it('LIST: "" and "databases" list the databases, "topics" the topics, "schemas" the non-string ones as "<topic> <schema>"', async () => {
    expect(listOf(await raw.ask(frame('LIST', '')))).toEqual(['default']);
    expect(listOf(await raw.ask(frame('LIST', 'databases')))).toEqual(['default']);
    const topics = listOf(await raw.ask(frame('LIST', 'topics')));
    expect(topics).toEqual(expect.arrayContaining(['/', '/after/use', '/no/slash', '/t/i16', '/t/arr']));
    expect(listOf(await raw.ask(frame('LIST', 'schemas'))).sort()).toEqual(['/t/arr [3]float64', '/t/i16 int16', '/t/i16/child int16']);
  });

  it('QUERY: QUERY with a count and one TAB-separated line per entry; an empty result is count 0; a bad query ERR 504 with its position', async () => {
    const empty = await raw.ask(frame('QUERY', 'all in /none'));
    expect(empty.raw.toString('hex')).toBe('0000000c5155455259000000' + '00000000');
    const bad = await raw.ask(frame('QUERY', 'all in /vm since yesterday'));
    expect([bad.cmd, codeOf(bad)]).toEqual(['ERR', 504]);
    expect(textOf(bad)).toContain('offset 17');
  });

  it('STATS: 4 big-endian u64 (heap, memory, records, topics) and the uptime as Go duration text', async () => {
    const a = await raw.ask(frame('STATS'));
    expect(a.cmd).toBe('STATS');
    expect(a.data.readBigUInt64BE(0)).toBeGreaterThan(0n);
    expect(a.data.readBigUInt64BE(16)).toBe(6n); // x, root, y, the int16, and the 2 refused ones under /nonconformant
    expect(Number(a.data.readBigUInt64BE(24))).toBeGreaterThanOrEqual(5);
    expect(a.data.subarray(32).toString()).toMatch(/^(\d+h)?(\d+m)?\d+(\.\d+)?(s|ms|µs|ns)$/);
  });

  it('an unknown command, or an answer command sent as a request: ERR 501 "command not found"; lower-case commands are taken', async () => {
    for (const c of ['FOO', 'OK', 'ERR', 'DELETE']) {
      const a = await raw.ask(frame(c, 'x'));
      expect([a.cmd, codeOf(a), textOf(a)]).toEqual(['ERR', 501, 'command not found']);
    }
    const v = await raw.ask(frame('version', ''));
    expect(v.cmd).toBe('VERSION');
    expect(raw.closed).toBe(false);
  });

  it('refusals are counted by reason under protocol "fossil"', () => {
    const e = ctx.server.stats().ingest.errors;
    expect(e['fossil unknown_database']).toBe(1);
    expect(e['fossil bad_append']).toBe(2);
    expect(e['fossil nonconformant']).toBe(2);
    expect(e['fossil unknown_command']).toBe(4);
    expect(e['fossil bad_schema']).toBe(1);
  });
});

describe('the inputs that crash the real fossil server are answered', () => {
  let ctx: Awaited<ReturnType<typeof startServer>>;
  beforeAll(async () => {
    ctx = await startServer();
  });
  afterAll(async () => {
    await ctx.server.close();
    ctx.store.close();
  });

  it('requests before any USE work on database "default" (fossil: nil pointer)', async () => {
    const raw = await Raw.open(ctx.port);
    expect(codeOf(await raw.ask(frame('QUERY', 'all')))).toBe(0); // count 0
    // and on this fresh, empty database: sample() and time predicates
    for (const q of ['sample(@minute)', 'all since ~now - @hour', 'all before ~now', 'all between ~(2020-01-01T00:00:00Z), ~now'])
      expect((await raw.ask(frame('QUERY', q))).data.toString('hex'), q).toBe('00000000');
    expect(listOf(await raw.ask(frame('LIST', 'topics')))).toEqual(['/']);
    expect((await raw.ask(frame('STATS'))).cmd).toBe('STATS');
    expect(codeOf(await raw.ask(frame('CREATE', topicData('/pre', 'string'))))).toBe(200);
    expect(codeOf(await raw.ask(frame('APPEND', topicData('/pre/use', 'early'))))).toBe(200);
    raw.end();
  });

  it('sample() and time predicates on an empty selection (fossil: index out of range, stack overflow)', async () => {
    const raw = await Raw.open(ctx.port);
    for (const q of ['sample(@minute) in /nothing', 'all in /nothing since ~now - @hour', 'all in /nothing before ~now', 'sample(@second) in /nothing between ~now - @day, ~now', 'all in /nothing | map x -> 1 | reduce a, b -> a + b']) {
      const a = await raw.ask(frame('QUERY', q));
      expect([a.cmd, a.data.toString('hex')], q).toEqual(['QUERY', '00000000']);
    }
    raw.end();
  });

  it('a string in a pipeline is evaluated (fossil: "Unknown type" panic)', async () => {
    const raw = await Raw.open(ctx.port);
    const a = await raw.ask(frame('QUERY', 'all in /pre | filter x -> x == "early"'));
    expect(listOf(a).map((l) => l.split('\t')[1])).toEqual(['/pre/use']);
    const b = await raw.ask(frame('QUERY', "all in /pre | map x -> x + '!'"));
    expect(listOf(b).map((l) => Buffer.from(l.split('\t')[2]!, 'base64').toString())).toEqual(['early!']);
    raw.end();
  });

  it('requests pipelined in one write before their USE is answered are answered in order (fossil: races, nil pointer)', async () => {
    const raw = await Raw.open(ctx.port);
    raw.write(
      Buffer.concat([
        frame('VERSION', 'v1.0.0'),
        frame('USE', 'default'),
        frame('APPEND', topicData('/pipe', 'a')),
        frame('APPEND', topicData('/pipe', 'b')),
        frame('QUERY', 'all in /pipe'),
        frame('LIST', 'topics'),
      ]),
    );
    const cmds: string[] = [];
    let q: Answer | undefined;
    for (let i = 0; i < 6; i++) {
      const a = (await raw.next())!;
      cmds.push(a.cmd);
      if (a.cmd === 'QUERY') q = a;
    }
    expect(cmds).toEqual(['VERSION', 'OK', 'OK', 'OK', 'QUERY', 'LIST']);
    expect(listOf(q!).map((l) => Buffer.from(l.split('\t')[2]!, 'base64').toString())).toEqual(['a', 'b']);
    raw.end();
  });
});

describe('malformed frames: fossil\'s error, the connection closed, the server serving others', () => {
  let ctx: Awaited<ReturnType<typeof startServer>>;
  beforeAll(async () => {
    ctx = await startServer();
  });
  afterAll(async () => {
    await ctx.server.close();
    ctx.store.close();
  });

  const cases: Array<[string, Buffer, boolean]> = [
    ['a length below the 8 command bytes', Buffer.from('00000003414243', 'hex'), false],
    ['a length of zero', Buffer.from('00000000', 'hex'), false],
    ['a length above 100 MiB', Buffer.from('06400001' + '5155455259000000', 'hex'), false],
    ['a length of 4 GiB - 1', Buffer.from('ffffffff', 'hex'), false],
    ['a length that lies: 100 bytes announced, 10 sent, then the end of the stream', Buffer.concat([Buffer.from('00000064', 'hex'), Buffer.from('APPEND\0\0ab')]), true],
  ];
  for (const [what, bytes, halfClose] of cases) {
    it(`${what}: ERR 502 "malformed message", closed; another connection is served`, async () => {
      const other = await Raw.open(ctx.port);
      expect(codeOf(await other.ask(frame('USE', 'default')))).toBe(201);
      const raw = await Raw.open(ctx.port);
      expect(codeOf(await raw.ask(frame('USE', 'default')))).toBe(201);
      raw.write(bytes);
      if (halfClose) raw.sock.end();
      const a = await raw.next();
      expect(a, 'an answer').not.toBeNull();
      expect([a!.cmd, codeOf(a!), textOf(a!)]).toEqual(['ERR', 502, 'malformed message']);
      expect(await raw.waitClosed()).toBe(true);
      // the other connection, opened before, and a new one are both served
      expect((await other.ask(frame('VERSION', 'v1.0.0'))).cmd).toBe('VERSION');
      const fresh = await Raw.open(ctx.port);
      expect((await fresh.ask(frame('QUERY', 'all'))).cmd).toBe('QUERY');
      other.end();
      fresh.end();
      raw.end();
    });
  }

  it('every malformed frame is counted', () => {
    const e = ctx.server.stats().ingest.errors;
    expect(e['fossil malformed_frame']).toBe(2);
    expect(e['fossil frame_too_large']).toBe(2);
    expect(e['fossil truncated_frame']).toBe(1);
  });
});

describe('client modes', () => {
  let ctx: Awaited<ReturnType<typeof startServer>>;
  beforeAll(async () => {
    ctx = await startServer();
  });
  afterAll(async () => {
    await ctx.server.close();
    ctx.store.close();
  });

  it('fire-and-forget: asked in VERSION, acknowledged there; appends get no answer; USE and CREATE are answered; reads get ERR 500', async () => {
    const raw = await Raw.open(ctx.port);
    const v = await raw.ask(frame('VERSION', 'v1.0.0 fire-and-forget'));
    expect([v.cmd, codeOf(v), textOf(v)]).toEqual(['VERSION', 200, 'v1.0.0 fire-and-forget']);
    expect(codeOf(await raw.ask(frame('USE', 'default')))).toBe(201);
    expect(codeOf(await raw.ask(frame('CREATE', topicData('/ff/n', 'int32'))))).toBe(200);
    const many: Buffer[] = [];
    for (let i = 0; i < 1000; i++) many.push(frame('APPEND', topicData('/ff/log', `line ${i}`)));
    many.push(frame('APPEND', topicData('/ff/n', 'not an int32'))); // refused, unanswered, counted
    many.push(frame('APPEND', Buffer.from('0000ffff', 'hex'))); // refused, unanswered, counted
    raw.write(Buffer.concat(many));
    for (const c of ['QUERY', 'LIST', 'STATS']) {
      const a = await raw.ask(frame(c, c === 'QUERY' ? 'all' : ''));
      // the first frame after 1002 appends is this answer: the appends were not answered
      expect([a.cmd, codeOf(a)], c).toEqual(['ERR', 500]);
      expect(textOf(a)).toContain('fire-and-forget');
    }
    raw.end();
    const active = await FossilClient.connect(`fossil://127.0.0.1:${ctx.port}/default`);
    const rows = await active.query('all in /ff/log');
    expect(rows.length).toBe(1000);
    expect(rows[999]!.data.toString()).toBe('line 999');
    await active.close();
    const e = ctx.server.stats().ingest.errors;
    expect(e['fossil not_allowed']).toBe(3);
    expect(e['fossil nonconformant']).toBe(1);
    expect(e['fossil bad_append']).toBe(1);
  });

  it('FossilClient in both modes: append, query, list, create, stats; ERR answers are FossilErrors', async () => {
    const ff = await FossilClient.connect(`fossil://127.0.0.1:${ctx.port}/default?mode=fire-and-forget`);
    expect(ff.fireAndForget).toBe(true);
    for (let i = 0; i < 500; i++) await ff.append('/cl/ff', `m${i}`);
    await ff.drain();
    await expect(ff.query('all')).rejects.toBeInstanceOf(FossilError);
    await ff.close();

    const c = await FossilClient.connect(`fossil://127.0.0.1:${ctx.port}`);
    expect(c.fireAndForget).toBe(false);
    await c.append('/cl/a', 'one');
    await c.append('/cl/a', Buffer.from([0, 255]));
    await c.createTopic('/cl/f', 'float64');
    const f = Buffer.alloc(8);
    f.writeDoubleLE(2.5);
    await c.append('/cl/f', f);
    await expect(c.append('/cl/f', 'x')).rejects.toMatchObject({ code: 503 });
    const rows = await c.query('all in /cl/a');
    expect(rows.map((r) => [r.topic, r.schema, r.data.toString('hex')])).toEqual([
      ['/cl/a', 'string', Buffer.from('one').toString('hex')],
      ['/cl/a', 'string', '00ff'],
    ]);
    // the fire-and-forget appends arrived, in order, once its socket drained (wait for the last)
    let got = 0;
    for (let i = 0; i < 100 && got < 500; i++) {
      got = (await c.query('all in /cl/ff')).length;
      if (got < 500) await new Promise((r) => setTimeout(r, 20));
    }
    expect(got).toBe(500);
    expect((await c.query('all in /cl/f | map x -> x * 2'))[0]!.data.readDoubleLE(0)).toBe(5);
    expect(await c.list('databases')).toEqual(['default']);
    expect((await c.list('schemas')).sort()).toEqual(['/cl/f float64', '/ff/n int32']);
    expect((await c.stats()).topics).toBeGreaterThan(3n);
    await expect(c.use('nope')).rejects.toMatchObject({ code: 505 });
    await c.close();
  });
});

describe('databases and the door\'s address', () => {
  it('USE switches among the stores under --fossil-root; "default" is the served store', async () => {
    const root = suiteTempDir('rondo-fossil-root-');
    Store.open(path.join(root, 'lab')).close();
    Store.open(path.join(root, 'prod')).close();
    fs.mkdirSync(path.join(root, 'not-a-store'));
    const { store, server, port } = await startServer({ fossilRoot: root });
    try {
      const c = await FossilClient.connect(`fossil://127.0.0.1:${port}/lab`);
      expect(await c.list()).toEqual(['default', 'lab', 'prod']);
      await c.append('/only/in/lab', 'x');
      await c.use('default');
      expect(await c.query('all in /only')).toEqual([]);
      await c.use('lab');
      expect((await c.query('all in /only')).length).toBe(1);
      await expect(c.use('not-a-store')).rejects.toMatchObject({ code: 505 });
      await expect(c.use('../lab')).rejects.toMatchObject({ code: 505 });
      await c.close();
    } finally {
      await server.close();
      store.close();
    }
  });

  it('a non-loopback address is refused without insecureListen, as for the other doors', async () => {
    const store = Store.open(suiteTempDir('rondo-fossil-lb-'), { events: true });
    try {
      await expect(serve(store, { listen: '127.0.0.1:0', fossil: '0.0.0.0:0', recordOwnMetrics: false })).rejects.toBeInstanceOf(ConfigError);
    } finally {
      store.close();
    }
  });
});

describe('the command line: rondo serve --fossil and rondo fossil-client', () => {
  const CLI = path.join(__dirname, '..', 'dist', 'src', 'cli', 'main.js');
  const run = (args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      const child = execFile(process.execPath, [CLI, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
        resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr });
      });
      if (input !== undefined) child.stdin!.end(input);
      else child.stdin!.end();
    });

  it('serves a store with a fossil door, and fossil-client appends, creates, lists, queries and reports stats through it', async () => {
    const dir = path.join(suiteTempDir('rondo-fossil-cli-'), 's');
    const child = spawn(process.execPath, [CLI, 'serve', dir, '--listen', '127.0.0.1:0', '--fossil', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout!.on('data', (c: Buffer) => {
          out += c.toString();
          if (out.includes('\n')) resolve(out);
        });
        child.on('exit', (code) => reject(new Error(`rondo serve exited ${code}`)));
      });
      const m = /\(and fossil on (fossil:\/\/127\.0\.0\.1:\d+)\)/.exec(line);
      expect(m, line).not.toBeNull();
      const url = m![1]!;
      expect((await run(['fossil-client', url, 'append', '/vm/7/console', 'hello', 'there'])).code).toBe(0);
      const script = ['create topic /vm/7/load float64', 'append /vm/7/load abc', 'list topics', 'list schemas', 'stats', 'query all in /vm/7'].join('\n');
      const r = await run(['fossil-client', `${url}/default`], `${script}\n`);
      expect(r.code, r.stderr).toBe(1); // the non-conforming append failed
      expect(r.stderr).toContain('503 Data does not conform to float64');
      const lines = r.stdout.trim().split('\n');
      expect(lines).toContain('/vm/7/console');
      expect(lines).toContain('/vm/7/load float64');
      expect(lines.some((l) => /^uptime\t/.test(l))).toBe(true);
      expect(lines.filter((l) => /^\d{4}-\d\d-\d\dT[\d:.]+Z\t\/vm\/7\/console\tstring\thello there$/.test(l))).toHaveLength(1);
      const j = await run(['fossil-client', url, '--output', 'json', 'query', 'all in /vm/7/console']);
      expect(JSON.parse(j.stdout).results.map((x: { data: string }) => Buffer.from(x.data, 'base64').toString())).toEqual(['hello there']);
      const ff = await run(['fossil-client', url, '--fire-and-forget'], 'append /ff one\nappend /ff two\nquery all\n');
      expect(ff.code).toBe(1);
      expect(ff.stderr).toContain('500 command not allowed in fire-and-forget mode');
      const back = await run(['fossil-client', url, 'query', 'all in /ff']);
      expect(back.stdout.trim().split('\n').map((l) => l.split('\t')[3])).toEqual(['one', 'two']);
      const bad = await run(['fossil-client', url, 'query', 'all in']);
      expect([bad.code, bad.stderr.split('\n')[0]]).toEqual([1, "504 unexpected the end of the query, expected a topic after 'in' (such as /vm/42/console) (at offset 6)"]);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    // the events are in the store after it closed
    const s = Store.openReadOnly(dir);
    try {
      expect(s.events({ topic: '/vm/7/console' }).map((e) => e.raw.toString())).toEqual(['hello there']);
    } finally {
      s.close();
    }
  }, 60_000);

  it('refuses a non-loopback --fossil without --insecure-listen, and a bad connection string', async () => {
    const dir = path.join(suiteTempDir('rondo-fossil-cli2-'), 's');
    const r = await run(['serve', dir, '--fossil', '0.0.0.0:8001']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--fossil');
    const c = await run(['fossil-client', 'http://127.0.0.1:1/x', 'stats']);
    expect(c.code).toBe(2);
  }, 60_000);
});
