// rondo events, run for real (node dist/src/cli/main.js) against a store with an event ring
// that this process writes: what it prints equals what was appended, picked by topic, time and
// limit; --follow prints what is appended after it started and stops on SIGINT; bad input is
// exit 2 with a message naming the flag.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Store } from '../src/index';
import { ROOT } from './fixtures/build';
import { suiteTempDir } from './helpers';
import { rondo } from './support/run-cli';

const CLI = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');


interface JsonEvent {
  time: string;
  tsNs: string;
  topic: string;
  type: string;
  data: unknown;
  origin?: string;
}

const json = (stdout: string): JsonEvent[] =>
  stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as JsonEvent);

/** RFC 3339 with ns, computed independently of the command's own formatter. */
function rfc3339Ns(ns: bigint): string {
  const s = ns / 1_000_000_000n;
  return `${new Date(Number(s) * 1000).toISOString().slice(0, 19)}.${(ns % 1_000_000_000n).toString().padStart(9, '0')}Z`;
}

describe('rondo events', () => {
  const dir = path.join(suiteTempDir('rondo-cli-events-'), 'store');
  let store: Store;
  // Records at fixed times, an hour ago and on: a minute apart, with a ns part.
  const base = (BigInt(Date.now()) - 3_600_000n) * 1_000_000n + 123_456_789n;
  const at = (min: number) => base + BigInt(min) * 60_000_000_000n;
  const appended: Array<{ topic: string; data: unknown; tsNs: bigint }> = [
    { topic: '/vm/1/console', data: 'Linux version 6.1', tsNs: at(0) },
    { topic: '/vm/1/lifecycle', data: { event: 'created', vcpu: -1, detail: 'micro' }, tsNs: at(1) },
    { topic: '/vm/10/console', data: 'another VM', tsNs: at(2) },
    { topic: '/vm/1/console', data: 'tab\there', tsNs: at(3) },
    { topic: '/vm/1/temp', data: 41.5, tsNs: at(4) },
    { topic: '/vm/1/flag', data: true, tsNs: at(5) },
    { topic: '/vm/1/blob', data: Buffer.from([0, 1, 2, 255]), tsNs: at(6) },
    { topic: '/vm/1/lifecycle', data: 'not a map', tsNs: at(7) }, // nonconformant
    { topic: '/vm/1/console', data: 'bell\x07', tsNs: at(8) },
  ];

  beforeAll(() => {
    store = Store.open(dir, { events: { size: '1MiB' } });
    store.createTopic('/vm/1/lifecycle', '{"event": string, "vcpu": int32, "detail": string}');
    store.createTopic('/vm/1/temp', 'float64');
    for (const a of appended) store.append(a.topic, a.data, a.tsNs);
    store.flush();
  });
  afterAll(() => store.close());

  it('prints every record, oldest first: time with ns, topic, the datum (strings as they are, others as JSON, binary as base64)', async () => {
    const r = await rondo(['events', dir]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n').slice(0, -1)).toEqual([
      `${rfc3339Ns(at(0))}  /vm/1/console  Linux version 6.1`,
      `${rfc3339Ns(at(1))}  /vm/1/lifecycle  {"event":"created","vcpu":-1,"detail":"micro"}`,
      `${rfc3339Ns(at(2))}  /vm/10/console  another VM`,
      `${rfc3339Ns(at(3))}  /vm/1/console  tab\there`,
      `${rfc3339Ns(at(4))}  /vm/1/temp  41.5`,
      `${rfc3339Ns(at(5))}  /vm/1/flag  true`,
      `${rfc3339Ns(at(6))}  /vm/1/blob  base64:AAEC/w==`,
      `${rfc3339Ns(at(7))}  /nonconformant  not a map  (appended to /vm/1/lifecycle)`,
      `${rfc3339Ns(at(8))}  /vm/1/console  "bell\\u0007"`,
    ]);
  });

  it('--format json: one object a line, with the exact ns, the type and the decoded datum', async () => {
    const r = await rondo(['events', dir, '--format', 'json']);
    expect(r.code).toBe(0);
    const got = json(r.stdout);
    expect(got.map((e) => BigInt(e.tsNs))).toEqual(appended.map((a) => a.tsNs));
    expect(got.map((e) => e.time)).toEqual(appended.map((a) => rfc3339Ns(a.tsNs)));
    expect(got.map((e) => e.type)).toEqual(['string', '{"event":string,"vcpu":int32,"detail":string,}', 'string', 'string', 'float64', 'boolean', 'binary', 'string', 'string']);
    expect(got[1]!.data).toEqual({ event: 'created', vcpu: -1, detail: 'micro' });
    expect(got[4]!.data).toBe(41.5);
    expect(got[6]!.data).toBe(Buffer.from([0, 1, 2, 255]).toString('base64'));
    expect(got[7]).toMatchObject({ topic: '/nonconformant', origin: '/vm/1/lifecycle', data: 'not a map' });
    expect(got[8]!.data).toBe('bell\x07');
  });

  it('--topic takes the topic and those below it (not /vm/10 for /vm/1)', async () => {
    const sub = json((await rondo(['events', dir, '--topic', '/vm/1', '--format', 'json'])).stdout);
    // The datum that did not conform to /vm/1/lifecycle's schema is on /nonconformant, not below /vm/1.
    expect(sub.map((e) => e.tsNs)).toEqual(appended.filter((a, i) => a.topic.startsWith('/vm/1/') && i !== 7).map((a) => a.tsNs.toString()));
    const one = json((await rondo(['events', dir, '--topic', '/vm/1/console', '--format', 'json'])).stdout);
    expect(one.map((e) => e.data)).toEqual(['Linux version 6.1', 'tab\there', 'bell\x07']);
    const none = await rondo(['events', dir, '--topic', '/vm/2']);
    expect(none).toMatchObject({ code: 0, stdout: '', stderr: '' });
  });

  it('--since (inclusive), --until (exclusive), relative times, and --limit (the oldest that match)', async () => {
    const ms = (ns: bigint) => String(ns / 1_000_000n);
    // Times to the ms: --since at(2)'s ms takes at(2) (its ns part is later), --until at(5)'s ms ends before at(5).
    const r = json((await rondo(['events', dir, '--since', ms(at(2)), '--until', ms(at(5)), '--format', 'json'])).stdout);
    expect(r.map((e) => BigInt(e.tsNs))).toEqual([at(2), at(3), at(4)]);
    const rfc = json((await rondo(['events', dir, '--since', new Date(Number(at(7) / 1_000_000n)).toISOString(), '--format', 'json'])).stdout);
    expect(rfc.map((e) => BigInt(e.tsNs))).toEqual([at(7), at(8)]);
    // base is an hour ago (when the suite began): -55m30s leaves the first five minutes' records out.
    const rel = json((await rondo(['events', dir, '--since', '-55m30s', '--format', 'json'])).stdout);
    expect(rel.map((e) => BigInt(e.tsNs))).toEqual([at(5), at(6), at(7), at(8)]);
    const lim = json((await rondo(['events', dir, '--topic', '/vm/1', '--limit', '2', '--format', 'json'])).stdout);
    expect(lim.map((e) => BigInt(e.tsNs))).toEqual([at(0), at(1)]);
  });

  describe('--follow', () => {
    function follow(args: readonly string[]): { child: ChildProcessWithoutNullStreams; lines: () => string[]; closed: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> } {
      const child = spawn(process.execPath, [CLI, 'events', dir, '--follow', '--interval', '20ms', '--format', 'json', ...args]);
      let out = '';
      let err = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
      child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
      const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stderr: err })));
      return { child, lines: () => out.split('\n').filter((l) => l !== ''), closed };
    }
    async function until(cond: () => boolean, what: string): Promise<void> {
      for (let i = 0; i < 3000 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
      expect(cond(), what).toBe(true);
    }

    it('prints the records there are, then each one appended afterwards (its topic only), and exits 0 on SIGINT', async () => {
      const f = follow(['--topic', '/vm/7']);
      store.append('/vm/7/console', 'before');
      await until(() => f.lines().length >= 1, 'the record appended before');
      const more = ['one', 'two', 'three'];
      for (const m of more) {
        store.append('/vm/8/console', `other ${m}`); // another VM: not printed
        store.append('/vm/7/console', m);
      }
      await until(() => f.lines().length >= 4, 'the records appended while following');
      // A record of another topic does not come late either.
      await new Promise((r) => setTimeout(r, 100));
      f.child.kill('SIGINT');
      const end = await f.closed;
      expect(end).toMatchObject({ code: 0, stderr: '' });
      expect(f.lines().map((l) => (JSON.parse(l) as JsonEvent).data)).toEqual(['before', ...more]);
    }, 60_000);

    it('--limit N stops by itself after N records', async () => {
      const f = follow(['--topic', '/vm/9', '--limit', '3']);
      store.append('/vm/9/console', 'a');
      await until(() => f.lines().length >= 1, 'the first record');
      store.append('/vm/9/console', 'b');
      store.append('/vm/9/console', 'c');
      store.append('/vm/9/console', 'd');
      const end = await f.closed;
      expect(end).toMatchObject({ code: 0, stderr: '' });
      expect(f.lines().map((l) => (JSON.parse(l) as JsonEvent).data)).toEqual(['a', 'b', 'c']);
    }, 60_000);
  });

  it.each([
    [['--limit', '0'], /--limit must be a whole number from 1, not "0"/],
    [['--limit', 'ten'], /--limit must be a whole number/],
    [['--since', 'yesterday'], /--since "yesterday" is not a time/],
    [['--until', '5 past'], /--until "5 past" is not a time/],
    [['--since', '-5m', '--until', '-10m'], /--until .* must be after --since/],
    [['--topic', 'vm/1'], /--topic: topic "vm\/1" must be a path starting with \//],
    [['--topic', '/vm//1'], /--topic: .*empty segment/],
    [['--format', 'xml'], /--format must be text or json, not "xml"/],
    [['--follow', '--until', 'now'], /--follow .* no --until/],
    [['--interval', '1s'], /--interval goes with --follow/],
    [['--follow', '--interval', 'soon'], /--interval must be from 10ms to 60s/],
    [['--bogus'], /unknown option --bogus/],
    [['--limit'], /--limit needs a value/],
  ])('bad input %j: exit 2, one line naming the flag, nothing printed', async (args, message) => {
    const r = await rondo(['events', dir, ...args]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('no directory is exit 2; a store without an event ring or no store at all is exit 1', async () => {
    expect((await rondo(['events'])).code).toBe(2);
    const plain = path.join(suiteTempDir('rondo-cli-events-'), 'plain');
    Store.open(plain).close();
    const r = await rondo(['events', plain]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/has no event ring/);
    const missing = await rondo(['events', path.join(plain, 'nope')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/not a rondo store/);
  });
});
