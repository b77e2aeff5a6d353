// Security (docs/reliability.md, "Security"): what a store creates is private unless configured;
// a read-only open never writes; hostile selectors and labels are bounded or refused;
// remote-write credentials never show; the /metrics endpoint is loopback-only by default.
import { spawn, spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { inspect } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import {
  Agent,
  ConfigError,
  InvalidSelectorError,
  InvalidSeriesError,
  NotAStoreError,
  RemoteWriteClient,
  RemoteWriteError,
  Store,
  parseSelector,
} from '../src/index';
import { format as slabFormat } from '../src/store/native';
import { ROOT } from './fixtures/build';
import { suiteTempDir, tempDir } from './helpers';
import { startFaultServer, type FaultServer } from './support/receivers';


const DIST = path.join(ROOT, 'dist', 'src');

let forAnyone: string | undefined;
/**
 * The compiled package (dist/src) in a copy that any user may read: what a process that drops to
 * another uid loads. The checkout itself may sit under a directory only its owner can enter (a
 * clone in /root), where that process could not reach dist/. The copy holds what loading the
 * package needs: package.json (the package root is found by it), dist/, proto/, the addon
 * (build/<variant>/*.node) and the runtime dependencies in node_modules. Made once per file.
 */
function distForAnyone(): string {
  if (forAnyone !== undefined) return forAnyone;
  const to = suiteTempDir('rondo-pkg-');
  const copy = (rel: string) => fs.cpSync(path.join(ROOT, rel), path.join(to, rel), { recursive: true, dereference: true });
  for (const rel of ['package.json', 'dist', 'proto']) copy(rel);
  const variant = path.join('build', process.env.RONDO_ADDON_BUILD ?? 'Release');
  for (const f of fs.readdirSync(path.join(ROOT, variant))) if (f.endsWith('.node')) copy(path.join(variant, f));
  // The runtime dependencies and theirs, as installed (hoisted) in the checkout's node_modules.
  const pending = ['.'];
  const seen = new Set<string>();
  for (let pkg = pending.pop(); pkg !== undefined; pkg = pending.pop()) {
    const dir = pkg === '.' ? ROOT : path.join(ROOT, 'node_modules', pkg);
    const meta = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as Record<string, Record<string, string> | undefined>;
    for (const dep of [...Object.keys(meta.dependencies ?? {}), ...Object.keys(meta.peerDependencies ?? {})]) {
      if (seen.has(dep) || !fs.existsSync(path.join(ROOT, 'node_modules', dep, 'package.json'))) continue;
      seen.add(dep);
      copy(path.join('node_modules', dep));
      pending.push(dep);
    }
  }
  // Readable (and directories enterable) by all, the temporary directory itself included.
  const open = (p: string) => {
    const st = fs.statSync(p);
    fs.chmodSync(p, st.mode | (st.isDirectory() ? 0o555 : 0o444));
    if (st.isDirectory()) for (const e of fs.readdirSync(p)) open(path.join(p, e));
  };
  open(to);
  forAnyone = path.join(to, 'dist', 'src');
  return forAnyone;
}
const SCHEMA = {
  name: 'sec',
  match: {},
  maxSeries: 8,
  tiers: [
    { interval: '1s', retention: '10m' },
    { interval: '10s', retention: '1h', consolidate: 'avg' as const },
  ],
};

/** Runs node with args, without blocking this process (whose receivers must keep answering). */
function node(args: string[], timeoutMs = 60_000): Promise<{ status: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr });
    });
  });
}

/** The process umask, without changing it. */
function umask(): number {
  return parseInt(spawnSync('sh', ['-c', 'umask'], { encoding: 'utf8' }).stdout.trim(), 8);
}

/** Every entry under dir (dir itself included) with its permission bits. */
function modes(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (p: string, rel: string) => {
    out[rel] = (fs.statSync(p).mode & 0o777).toString(8);
    if (fs.statSync(p).isDirectory()) for (const e of fs.readdirSync(p).sort()) walk(path.join(p, e), rel === '.' ? e : `${rel}/${e}`);
  };
  walk(dir, '.');
  return out;
}

/** A store with data in both tiers, an exporter with a cursor, closed. */
function filledStore(dir: string, options: { dirMode?: number; fileMode?: number } = {}): void {
  const s = Store.open(dir, { schemas: [SCHEMA], ...options });
  const t0 = Math.floor(Date.now() / 10_000) * 10_000 - 120_000;
  const hs = [0, 1, 2].map((c) => s.register('sec_value', { col: String(c) }));
  for (let i = 0; i < 100; i++) hs.forEach((h, c) => s.record(h, i * 10 + c, t0 + i * 1000));
  s.consolidate({ now: t0 + 100_000 });
  s.exporter('ex').next({ until: t0 + 50_000 }).commit();
  s.close();
}

describe('permissions of what a store creates', () => {
  it('directories 0700 and files 0600 by default, whatever is in the store', () => {
    const root = tempDir();
    const dir = path.join(root, 'a', 'b', 'store'); // missing parents are made too
    filledStore(dir);
    const mask = umask();
    const want = (m: number) => (m & ~mask).toString(8);
    expect(modes(path.join(root, 'a'))).toEqual({
      '.': want(0o700),
      b: want(0o700),
      'b/store': want(0o700),
      'b/store/LOCK': want(0o600),
      'b/store/exporters': want(0o700),
      'b/store/exporters/ex.json': want(0o600),
      'b/store/exporters/ex.lock': want(0o600),
      'b/store/rondo.json': want(0o600),
      'b/store/sec.t0.slab': want(0o600),
      'b/store/sec.t1.slab': want(0o600),
      'b/store/series.json': want(0o600),
    });
  });

  it('dirMode and fileMode when configured (the exporters directory stays 0700)', () => {
    const dir = path.join(tempDir(), 'shared');
    filledStore(dir, { dirMode: 0o750, fileMode: 0o640 });
    const mask = umask();
    const want = (m: number) => (m & ~mask).toString(8);
    const got = modes(dir);
    expect(got['.']).toBe(want(0o750));
    expect(got.exporters).toBe(want(0o700));
    for (const f of ['LOCK', 'rondo.json', 'series.json', 'sec.t0.slab', 'sec.t1.slab', 'exporters/ex.json', 'exporters/ex.lock'])
      expect(got[f], f).toBe(want(0o640));
  });

  it('a symlink planted at a metadata file\'s temporary name is not followed', () => {
    const dir = tempDir();
    const s = Store.open(dir, { schemas: [SCHEMA] });
    const victim = path.join(tempDir(), 'victim');
    fs.writeFileSync(victim, 'precious');
    fs.symlinkSync(victim, path.join(dir, 'series.json.tmp'));
    expect(() => s.register('sec_value', { col: 'x' })).toThrow();
    expect(fs.readFileSync(victim, 'utf8')).toBe('precious');
    s.close();
  });
});

describe('a read-only open never writes', () => {
  /** Names, sizes, modes, mtimes, ctimes and hashes of every file under dir. */
  function snapshot(dir: string): unknown[] {
    const out: unknown[] = [];
    const walk = (p: string, rel: string) => {
      const st = fs.statSync(p);
      const sha = st.isFile() ? crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex') : null;
      out.push({ rel, size: st.size, mode: st.mode, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, sha });
      if (st.isDirectory()) for (const e of fs.readdirSync(p).sort()) walk(path.join(p, e), `${rel}/${e}`);
    };
    walk(dir, '.');
    return out;
  }

  /** Every read path of a read-only store. */
  function readEverything(dir: string): void {
    const r = Store.openReadOnly(dir);
    r.info();
    for (const h of r.series()) {
      for (const tier of [0, 1, 'auto', 'stitch'] as const) r.query(h, { start: Date.now() - 3_600_000, tier });
      r.lastPoint(h);
    }
    r.select('sec_value{col=~"0|2"}', { tier: 'stitch' });
    r.find('sec_value', { col: '1' });
    r.close();
  }

  it('same names, bytes, modes, mtimes and ctimes after every read path, also of a store a killed writer left mid-claim', () => {
    const dir = tempDir();
    filledStore(dir);
    // A row left mid-claim (odd seq): a writer's open would repair it; a reader must not.
    const slab = path.join(dir, 'sec.t0.slab');
    const fd = fs.openSync(slab, 'r+');
    const seq = Buffer.alloc(8);
    const at = slabFormat.headerBytes + 7 * (8 * (2 + 8)) + 8;
    fs.readSync(fd, seq, 0, 8, at);
    seq.writeBigUInt64LE(seq.readBigUInt64LE() + 1n);
    fs.writeSync(fd, seq, 0, 8, at);
    fs.closeSync(fd);
    const before = snapshot(dir);
    readEverything(dir);
    expect(snapshot(dir)).toEqual(before);
  });

  it('works for a user who may read the store and write nothing in it', () => {
    const root = tempDir();
    const dir = path.join(root, 'store');
    filledStore(dir);
    fs.rmSync(path.join(dir, 'exporters'), { recursive: true });
    // Readable by all, writable by none but root; when this test runs as root, the reader runs
    // as nobody (uid 65534), for whom any write would fail.
    for (const e of fs.readdirSync(dir)) fs.chmodSync(path.join(dir, e), 0o444);
    fs.chmodSync(dir, 0o555);
    fs.chmodSync(root, 0o755); // our own temporary directory, so nobody can reach the store
    const before = snapshot(dir);
    const code = `const { Store } = require(${JSON.stringify(distForAnyone())});
      const r = Store.openReadOnly(${JSON.stringify(dir)});
      const info = r.info();
      let points = 0;
      for (const h of r.series()) for (const tier of [0, 1, 'stitch']) points += r.query(h, { start: Date.now() - 3600000, tier }).values.filter((v) => !Number.isNaN(v)).length;
      r.close();
      console.log(JSON.stringify({ series: info.series.length, points }));`;
    const asNobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', cwd: '/', timeout: 30_000, ...asNobody });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ series: 3, points: 3 * 100 + 3 * 10 + 3 * 100 });
    expect(snapshot(dir)).toEqual(before);
    fs.chmodSync(dir, 0o700);
  });

  it('does not create a store, or anything, at a path that does not exist', () => {
    const missing = path.join(tempDir(), 'nothing', 'here');
    expect(() => Store.openReadOnly(missing)).toThrow(NotAStoreError);
    expect(fs.existsSync(path.dirname(missing))).toBe(false);
  });
});

describe('hostile selectors and labels are bounded or refused', () => {
  // Classic catastrophic patterns for a backtracking engine, against a 1024-character value that
  // almost matches. Run in a child with a time limit: whatever happens, this test cannot hang.
  const PATHOLOGICAL = ['(a+)+b', '(a|a)*b', '(a|aa)*b', '(.*a){20}b', '(.*.*.*.*.*.*.*.*.*.*)b', '((a*)*)*b', '(?i)(A+)+B', '(\\w+\\s?)*b'];

  it('catastrophic regexes match a long value in linear time: each select completes, and says no', () => {
    const dir = tempDir();
    const s = Store.open(dir, { schemas: [SCHEMA] });
    s.register('long_label', { v: 'a'.repeat(1024) });
    s.register('long_label', { v: `${'a'.repeat(1023)}!` });
    s.close();
    const code = `const { Store } = require(${JSON.stringify(DIST)});
      const r = Store.openReadOnly(${JSON.stringify(dir)});
      const out = {};
      for (const re of ${JSON.stringify(PATHOLOGICAL)}) {
        const t = process.hrtime.bigint();
        out[re] = { matched: r.select('long_label{v=~' + JSON.stringify(re) + '}').length, ms: Number(process.hrtime.bigint() - t) / 1e6 };
      }
      out.control = r.select('long_label{v=~"a+!"}').length;
      r.close();
      console.log(JSON.stringify(out));`;
    const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', timeout: 60_000 });
    expect(r.signal, 'the selects did not finish within 60 s').toBeNull();
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout) as Record<string, { matched: number; ms: number }> & { control: number };
    for (const re of PATHOLOGICAL) expect(out[re]!.matched, re).toBe(0);
    expect(out.control).toBe(1);
    console.log(`pathological regexes against a 1024-character value, ms each: ${PATHOLOGICAL.map((re) => `${re} ${out[re]!.ms.toFixed(1)}`).join(', ')}`);
  });

  it('regexes that cannot be matched in linear time, or would expand too far, are refused with the reason', () => {
    for (const [re, why] of [
      ['(a)\\\\1', /backreference/],
      ['(?<x>a)\\\\k<x>', /backreference/],
      ['(?=a)a', /lookaround/],
      ['(?<!b)a', /lookaround/],
      ['a{1001}', /repeats 1001 times; the limit is 1000/],
      ['(a{1000}){1000}', /too large once its repetitions are expanded/],
      [`${'('.repeat(101)}a${')'.repeat(101)}`, /nests groups more than 100 deep/],
      ['x'.repeat(4097), /4097 characters long; the limit is 4096/],
    ] as const) {
      let err: unknown;
      try {
        parseSelector(`m{a=~"${re}"}`);
      } catch (e) {
        err = e;
      }
      expect(err, re.slice(0, 40)).toBeInstanceOf(InvalidSelectorError);
      expect((err as Error).message.split('\n')[0], re.slice(0, 40)).toMatch(why);
    }
  });

  it('selectors: huge ones and control characters outside strings are refused; inside strings they only fail to match', () => {
    expect(() => parseSelector(`m{a="${'x'.repeat(20_000)}"}`)).toThrow(/the limit is 16384/);
    expect(() => parseSelector('m{a="x"}\u001b[2J')).toThrow(/control character U\+001B/);
    const s = parseSelector('m{a="\\u001b[2J"}');
    expect(s.matches('m', { a: 'x' })).toBe(false);
  });

  it('labels: huge names and values, control characters (C0, DEL, C1), lone surrogates and too many labels are refused by name', () => {
    const s = Store.open(tempDir(), { schemas: [SCHEMA] });
    const refused = (name: string, labels: Record<string, string>, why: RegExp) => {
      let err: unknown;
      try {
        s.register(name, labels);
      } catch (e) {
        err = e;
      }
      expect(err, why.source).toBeInstanceOf(InvalidSeriesError);
      const msg = (err as Error).message;
      expect(msg).toMatch(why);
      // The message neither echoes a control character nor grows with the input.
      expect(msg).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
      expect(msg.length).toBeLessThan(400);
    };
    refused('m'.repeat(100_000), {}, /100000 characters; the limit is 256/);
    refused('m', { v: 'x'.repeat(1_000_000) }, /1000000 characters long; the limit is 1024/);
    refused('m', { ['l'.repeat(1_000_000)]: 'x' }, /a label name of m is 1000000 characters .*; the limit is 256/);
    refused('m', { v: 'a\u0000b' }, /control character/);
    refused('m', { v: 'ok\u001b]0;owned\u0007' }, /control character/);
    refused('m', { v: 'a\u007fb' }, /control character/);
    refused('m', { v: 'csi\u009b31m' }, /control character/);
    refused('m', { v: 'half \ud83d' }, /lone UTF-16 surrogate/);
    refused('m', Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`l${i}`, 'x'])), /100000 labels; the limit is 32/);
    refused('m', { __name2: 'x' }, /starts with "__"/);
    refused('m', { 'bad-name': 'x' }, /is not valid/);
    // Well-formed text of any script is fine.
    expect(s.register('m', { v: 'déjà vu \u{1F600} 中文' }).labels.v).toBe('déjà vu \u{1F600} 中文');
    expect(s.series().length).toBe(1);
    s.close();
  });

  it('an agent collector recording hostile labels: refused and counted, never thrown into the host', async () => {
    const errors: string[] = [];
    const agent = await Agent.start({
      dir: tempDir(),
      schemas: [SCHEMA],
      collectors: [
        {
          name: 'hostile',
          collect: (ctx) => {
            ctx.record('vm_ok', { vm: '1' }, 1);
            ctx.record('vm_bad', { vm: 'x'.repeat(5000) }, 1);
            ctx.record('vm_bad', { vm: 'a\u001b[31m' }, 1);
          },
        },
      ],
      onError: (source, e) => errors.push(`${source}: ${(e as Error).name}`),
    });
    await agent.tick();
    await agent.stop();
    expect(errors.length).toBeGreaterThanOrEqual(2);
    expect(errors.every((e) => e.endsWith('InvalidSeriesError'))).toBe(true);
    expect(agent.stats.errors).toBe(errors.length);
  });
});

describe('remote-write credentials never show', () => {
  const TOKEN = 'tok-7f3a9c1e-very-secret';
  const PASSWORD = 'pw-31337-hunter2';
  const API_KEY = 'key-5a5a5a5a-secret';
  const QUERY_KEY = 'q-9d8c7b6a-secret';
  const basic = Buffer.from(`hv-01:${PASSWORD}`).toString('base64');
  const SECRETS = [TOKEN, PASSWORD, API_KEY, QUERY_KEY, basic];

  /** A receiver that echoes every credential it gets back in its error answers. */
  async function echoing(statuses: number[]): Promise<FaultServer> {
    const server = await startFaultServer((i, r) => ({
      status: statuses[Math.min(i, statuses.length - 1)]!,
      body: `denied: authorization=${String(r.headers.authorization)} x-api-key=${String(r.headers['x-api-key'])} url=${r.url}`,
      headers: { 'retry-after': '0' },
    }));
    servers.push(server);
    return server;
  }
  const servers: FaultServer[] = [];
  afterAll(async () => {
    for (const s of servers) await s.stop();
  });

  const leaks = (text: string) => SECRETS.filter((s) => text.includes(s));

  it('not in log lines, errors, causes, stacks, String(), JSON, inspect() or the options, whatever the receiver echoes', async () => {
    const server = await echoing([503, 503, 401]);
    const lines: string[] = [];
    const texts: string[] = [];
    for (const auth of [{ bearerToken: TOKEN }, { basicAuth: { username: 'hv-01', password: PASSWORD } }]) {
      const client = new RemoteWriteClient({
        url: `${server.url}?api_key=${QUERY_KEY}`,
        ...auth,
        headers: { 'X-Api-Key': API_KEY, 'X-Scope-OrgID': 'tenant-1' },
        maxRetries: 2,
        minBackoffMs: 1,
        maxBackoffMs: 2,
        logger: (level, m) => lines.push(`${level}: ${m}`),
      });
      const series = [{ id: 1, name: 'm', labels: {}, kind: 'gauge' as const, timestamps: [Date.now()], values: [1] }];
      const dropped = await client.send(series); // 503, 503, then 401: dropped with the echoed body
      expect(dropped.outcome).toBe('dropped');
      texts.push(JSON.stringify(dropped), String(client), JSON.stringify(client), inspect(client, { depth: 5 }), JSON.stringify(client.options));
      // And an error: nothing listens there.
      const down = new RemoteWriteClient({ url: `http://127.0.0.1:9/api/v1/write?api_key=${QUERY_KEY}`, ...auth, maxRetries: 0, logger: (l, m) => lines.push(m) });
      const err = await down.send(series).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RemoteWriteError);
      texts.push(String(err), (err as Error).stack ?? '', inspect(err, { depth: 5 }), JSON.stringify(err));
      client.close();
      down.close();
    }
    // The receiver got them (they were sent)...
    expect(server.requests.some((r) => r.headers.authorization === `Bearer ${TOKEN}`)).toBe(true);
    expect(server.requests.some((r) => r.headers.authorization === `Basic ${basic}`)).toBe(true);
    expect(server.requests.every((r) => r.url.includes(QUERY_KEY) && r.headers['x-api-key'] === API_KEY)).toBe(true);
    // ...and none shows anywhere.
    expect(lines.some((l) => l.includes('denied'))).toBe(true);
    expect(leaks([...lines, ...texts].join('\n'))).toEqual([]);
    // Credentials in the URL itself are refused, and the refusal does not repeat them.
    const e = (() => {
      try {
        return new RemoteWriteClient({ url: `http://hv-01:${PASSWORD}@127.0.0.1:9/api/v1/write` });
      } catch (x) {
        return x as Error;
      }
    })();
    expect(e).toBeInstanceOf(ConfigError);
    expect(leaks(String(e))).toEqual([]);
  });

  it('not in what an agent reports (errors, stats, stderr), nor in the store, its files or `rondo info`', async () => {
    const server = await echoing([500]);
    const dir = tempDir();
    const tokenFile = path.join(tempDir(), 'token');
    fs.writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
    // The agent in a child process, with its default error reporting (stderr).
    const code = `const { Agent } = require(${JSON.stringify(DIST)});
      (async () => {
        const agent = await Agent.start({ dir: ${JSON.stringify(dir)}, collectors: [],
          remoteWrite: { url: ${JSON.stringify(`${server.url}?api_key=${QUERY_KEY}`)}, bearerTokenFile: ${JSON.stringify(tokenFile)},
            headers: { 'X-Api-Key': ${JSON.stringify(API_KEY)} }, maxRetries: 1, minBackoffMs: 1, maxBackoffMs: 2 } });
        await agent.push(true);
        await agent.stop();
        console.log(JSON.stringify({ stats: agent.stats, info: agent.store.isClosed }));
      })();`;
    const r = await node(['-e', code]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/HTTP 500/); // it did report the failure...
    expect(r.stderr).toMatch(/denied/); // ...with the receiver's words...
    expect(server.requests.some((q) => q.headers.authorization === `Bearer ${TOKEN}`)).toBe(true);
    const info = await node([path.join(DIST, 'cli', 'main.js'), 'info', dir, '--format', 'json']);
    expect(info.status, info.stderr).toBe(0);
    const files: string[] = [];
    const walk = (p: string) => {
      for (const e of fs.readdirSync(p, { withFileTypes: true })) {
        const f = path.join(p, e.name);
        if (e.isDirectory()) walk(f);
        else files.push(fs.readFileSync(f).toString('latin1'));
      }
    };
    walk(dir);
    // ...but no credential shows in any of it.
    expect(leaks([r.stdout, r.stderr, info.stdout, info.stderr, ...files].join('\n'))).toEqual([]);
  }, 90_000);

  it('not in what `rondo push` prints when the receiver refuses and echoes them', async () => {
    const server = await echoing([500, 400]);
    const store = tempDir();
    filledStore(store);
    const secrets = tempDir();
    fs.writeFileSync(path.join(secrets, 'token'), TOKEN);
    fs.writeFileSync(path.join(secrets, 'basic'), `hv-01:${PASSWORD}\n`);
    for (const auth of [['--bearer-token-file', path.join(secrets, 'token')], ['--basic-auth-file', path.join(secrets, 'basic')]]) {
      const r = await node([path.join(DIST, 'cli', 'main.js'), 'push', store, '--url', `${server.url}?api_key=${QUERY_KEY}`, ...auth, '--verbose']);
      expect(`${r.stdout}${r.stderr}`).toMatch(/denied|refused|dropped/);
      expect(leaks(`${r.stdout}\n${r.stderr}`)).toEqual([]);
    }
  }, 90_000);
});

describe('the /metrics endpoint', () => {
  it('binds loopback by default: reachable on 127.0.0.1, refused on the machine\'s other addresses', async () => {
    const agent = await Agent.start({ dir: tempDir(), schemas: [SCHEMA], metricsPort: 0, collectors: [] });
    try {
      const { host, port } = agent.metricsAddress!;
      expect(host).toBe('127.0.0.1');
      expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(200);
      const others = Object.values(os.networkInterfaces())
        .flat()
        .filter((a) => a !== undefined && a.family === 'IPv4' && !a.internal)
        .map((a) => a!.address);
      for (const address of others) {
        const outcome = await new Promise<string>((resolve) => {
          const sock = net.connect({ host: address, port, timeout: 2000 });
          sock.once('connect', () => {
            sock.destroy();
            resolve('connected');
          });
          sock.once('timeout', () => {
            sock.destroy();
            resolve('timeout');
          });
          sock.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
        });
        expect(outcome, address).not.toBe('connected');
      }
    } finally {
      await agent.stop();
    }
  });

  it('refuses a port or host that cannot work with ConfigError, before opening anything', async () => {
    for (const bad of [{ metricsPort: -1 }, { metricsPort: 70_000 }, { metricsPort: 1.5 }, { metricsHost: '' }]) {
      const dir = path.join(tempDir(), 'not-made');
      await expect(Agent.start({ dir, collectors: [], ...bad })).rejects.toBeInstanceOf(ConfigError);
      expect(fs.existsSync(dir)).toBe(false);
    }
  });
});


