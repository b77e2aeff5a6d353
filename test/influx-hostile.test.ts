// Hostile input on the Influx doors of rondo serve: truncated, oversized (> 64 KiB lines), binary
// and fuzzed datagrams, TCP streams and HTTP bodies (also bad and oversized gzip). The server keeps
// serving, nothing is recorded from a refused line, and rondo_ingest_errors_total says why. Also
// the UDP example, verbatim (nc is not installed here: the same bytes go through dgram).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import * as zlib from 'node:zlib';
import { Store, type SchemaOptions } from '../src/index';
import { InfluxCatalog, parseInflux } from '../src/ingest';
import { serve, type RondoServer } from '../src/server';
import { suiteTempDir } from './helpers';
import { suiteSeed, xorshift32 } from './fixtures/random';

const SEED = suiteSeed('RONDO_FUZZ_SEED', 16016, 'influx-hostile');
const SCHEMAS: SchemaOptions[] = [{ name: 'all', match: {}, maxSeries: 5000, tiers: [{ interval: '1s', retention: '1h' }] }];
const MAX_BODY = 1024 * 1024;

function udp(port: number, payloads: Array<string | Buffer>): Promise<void> {
  const sock = dgram.createSocket('udp4');
  return new Promise((resolve, reject) => {
    let i = 0;
    const next = (): void => {
      if (i >= payloads.length) {
        sock.close();
        resolve();
        return;
      }
      const p = payloads[i++]!;
      sock.send(typeof p === 'string' ? Buffer.from(p) : p, port, '127.0.0.1', (e) => (e ? reject(e) : setImmediate(next)));
    };
    next();
  });
}

/** Writes chunks to one TCP connection (each after the last was flushed), then ends it. */
function tcp(port: number, chunks: Array<string | Buffer>): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', async () => {
      for (const c of chunks) await new Promise<void>((r) => s.write(c, () => r()));
      s.end();
    });
    s.on('error', reject);
    s.on('close', () => resolve());
    s.resume();
  });
}

async function settle(f: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!f() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
}

describe('Influx doors under hostile input', () => {
  let store: Store;
  let server: RondoServer;
  const rnd = xorshift32(SEED);
  const nowS = () => Math.floor(Date.now() / 1000);
  const measurements = () => new Set(InfluxCatalog.of(store).view().map((v) => v.measurement));
  const errors = () => server.stats().ingest.errors;
  const alive = async () => {
    const r = await fetch(`${server.url}/ping`);
    expect(r.status).toBe(204);
  };

  beforeAll(async () => {
    store = Store.open(suiteTempDir('rondo-influx-hostile-'), { schemas: SCHEMAS });
    server = await serve(store, { listen: '127.0.0.1:0', influxUdp: '127.0.0.1:0', influxTcp: '127.0.0.1:0', maxBodyBytes: MAX_BODY, recordOwnMetrics: false });
  });
  afterAll(async () => {
    await server?.close();
    store?.close();
  });

  it("the issue's example: the 2009 line is refused as too old and counted; the same line now is stored", async () => {
    // echo "test,host=server,region=us-east1 value=0.80 1234567890000000000" | nc -u 127.0.0.1 8089
    await udp(server.influxUdp!.port, ['test,host=server,region=us-east1 value=0.80 1234567890000000000\n']);
    await settle(() => errors()['influx_udp too_old'] === 1);
    expect(errors()['influx_udp too_old']).toBe(1);
    expect(store.find('test', { host: 'server', region: 'us-east1' })).toBeDefined(); // the series, with nothing in it
    expect(store.select('test', { start: 0, end: Date.now() })[0]!.values.every((v) => v !== v)).toBe(true);
    await udp(server.influxUdp!.port, [`test,host=server,region=us-east1 value=0.80 ${nowS()}000000000\n`]);
    await settle(() => server.stats().ingest.points.influx_udp === 1);
    const s = store.select('test{host="server",region="us-east1"}', { start: Date.now() - 60_000, end: Date.now() + 1000 });
    expect([...s[0]!.values].filter((v) => v === v)).toEqual([0.8]);
  });

  it('UDP: a datagram with good and bad lines keeps the good ones (influxd 1.6 drops the datagram)', async () => {
    await udp(server.influxUdp!.port, [`mixed_udp v=1 ${nowS()}000000000\nbroken line\nmixed_udp2 v=2 ${nowS()}000000000`]);
    await settle(() => measurements().has('mixed_udp2'));
    expect(measurements().has('mixed_udp')).toBe(true);
    expect(measurements().has('mixed_udp2')).toBe(true);
    expect(measurements().has('broken')).toBe(false);
  });

  it('binary, truncated and fuzzed datagrams: nothing from a refused line, counted, still serving', async () => {
    const before = errors()['influx_udp parse'] ?? 0;
    const payloads: Buffer[] = [];
    let refusedLines = 0;
    const expectAbsent: string[] = [];
    const expectPresent: string[] = [];
    // binary: random bytes without a space or '=', which no line can do without
    for (let i = 0; i < 150; i++) {
      const b = Buffer.alloc(1 + Math.floor(rnd() * 1400));
      for (let j = 0; j < b.length; j++) {
        let c = Math.floor(rnd() * 256);
        if (c === 0x20 || c === 0x3d) c = 0x41;
        b[j] = c;
      }
      payloads.push(b);
      refusedLines += parseInflux(b).errors.length;
    }
    // truncated and fuzzed lines, one per datagram, each of its own measurement
    const t = nowS();
    for (let i = 0; i < 300; i++) {
      const m = `fz${i}`;
      const full = `${m},host=h${i % 7},zone=z\\ ${i % 3} usage=${(rnd() * 100).toFixed(3)},count=${i}i,ok=${i % 2 === 0 ? 'T' : 'false'},note="n${i}" ${t}000000000`;
      let line: string;
      if (i % 3 === 0) line = full.slice(0, m.length + 1 + Math.floor(rnd() * (full.length - m.length - 1)));
      else {
        const chars = [...full];
        const flips = 1 + Math.floor(rnd() * 3);
        for (let k = 0; k < flips; k++) {
          const at = m.length + 1 + Math.floor(rnd() * (chars.length - m.length - 1));
          chars[at] = String.fromCharCode([0x20, 0x2c, 0x3d, 0x22, 0x5c, 0x0a, 0, 0xff, 0x41 + Math.floor(rnd() * 26)][Math.floor(rnd() * 9)]!);
        }
        line = chars.join('');
      }
      const parsed = parseInflux(line);
      refusedLines += parsed.errors.length;
      // a line that parses but is refused by the store (a type conflict with an earlier fuzz
      // line) is not a parse error; the rest must be there or absent as the parse says
      if (parsed.points.length === 0 && parsed.errors.length > 0) expectAbsent.push(m);
      if (parsed.points.length === 1 && parsed.errors.length === 0 && parsed.points[0]!.measurement === m && parsed.points[0]!.fields.some((f) => f.type !== 'string' && f.key !== 'time'))
        expectPresent.push(m);
      payloads.push(Buffer.from(line));
    }
    await udp(server.influxUdp!.port, payloads);
    await settle(() => (errors()['influx_udp parse'] ?? 0) - before >= refusedLines);
    expect((errors()['influx_udp parse'] ?? 0) - before).toBe(refusedLines);
    expect(refusedLines).toBeGreaterThan(150);
    const seen = measurements();
    for (const m of expectAbsent) expect(seen.has(m), `${m} was refused yet stored`).toBe(false);
    expect(expectAbsent.length).toBeGreaterThan(50);
    const present = expectPresent.filter((m) => seen.has(m));
    expect(present.length).toBeGreaterThan(expectPresent.length * 0.5);
    await alive();
  });

  it('TCP: a line over 64 KiB is refused and the stream resynchronised at the next newline', async () => {
    const before = errors()['influx_tcp line_too_long'] ?? 0;
    const t = nowS();
    const huge = `huge,tag=${'x'.repeat(70 * 1024)} v=1 ${t}000000000`;
    // the long line in pieces, the good line after it in the same last piece
    const chunks = [`tcp_before v=1 ${t}000000000\n`, huge.slice(0, 30_000), huge.slice(30_000, 60_000), `${huge.slice(60_000)}\ntcp_after v=2 ${t}000000000\n`];
    await tcp(server.influxTcp!.port, chunks);
    await settle(() => measurements().has('tcp_after'));
    expect(measurements().has('tcp_before')).toBe(true);
    expect(measurements().has('tcp_after')).toBe(true);
    expect(measurements().has('huge')).toBe(false);
    expect((errors()['influx_tcp line_too_long'] ?? 0) - before).toBe(1);
    // and a long line arriving in one piece with others
    await tcp(server.influxTcp!.port, [`${huge}\ntcp_after2 v=3 ${t}000000000\n`]);
    await settle(() => measurements().has('tcp_after2'));
    expect(measurements().has('huge')).toBe(false);
    expect((errors()['influx_tcp line_too_long'] ?? 0) - before).toBe(2);
  });

  it('TCP: lines split at every byte boundary, a stream cut mid-line, and binary garbage', async () => {
    const t = nowS();
    const text = `split_a,k=v x=1 ${t}000000000\nsplit_b y=2i ${t}000000000\n`;
    await tcp(server.influxTcp!.port, [...text].map((c) => c));
    await settle(() => measurements().has('split_b'));
    expect(measurements().has('split_a')).toBe(true);
    const before = errors()['influx_tcp parse'] ?? 0;
    // cut mid-line: the last piece is a line of its own at the end of the stream, and bad
    await tcp(server.influxTcp!.port, [`cut_ok v=1 ${t}000000000\ncut_bad,k=v usa`]);
    const garbage = Buffer.alloc(20_000);
    for (let j = 0; j < garbage.length; j++) garbage[j] = Math.floor(rnd() * 256);
    // the stream is newline-framed: each piece between newlines is a line of its own
    let garbageRefused = 0;
    let from = 0;
    for (let nl = garbage.indexOf(10); from < garbage.length; nl = garbage.indexOf(10, from)) {
      const end = nl < 0 ? garbage.length : nl;
      garbageRefused += parseInflux(garbage.subarray(from, end)).errors.length;
      from = end + 1;
    }
    await tcp(server.influxTcp!.port, [garbage]);
    await settle(() => (errors()['influx_tcp parse'] ?? 0) - before >= 1 + garbageRefused);
    expect(measurements().has('cut_ok')).toBe(true);
    expect(measurements().has('cut_bad')).toBe(false);
    expect((errors()['influx_tcp parse'] ?? 0) - before).toBe(1 + garbageRefused);
    await alive();
  });

  it('HTTP: bad gzip, truncated gzip, a gzip bomb and an oversized body are refused in InfluxDB\'s shape', async () => {
    const post = (body: Buffer | string, headers: Record<string, string> = {}) => fetch(`${server.url}/write?db=x`, { method: 'POST', body, headers });
    let r = await post('not gzip at all', { 'Content-Encoding': 'gzip' });
    expect(r.status).toBe(400);
    expect(await r.json()).toEqual({ error: 'gzip: invalid header' });
    const gz = zlib.gzipSync(`gz_trunc v=1 ${nowS()}000000000\n`);
    r = await post(gz.subarray(0, gz.length - 10), { 'Content-Encoding': 'gzip' });
    expect(r.status).toBe(400);
    expect(((await r.json()) as { error: string }).error).toMatch(/unexpected EOF|gzip/);
    expect(measurements().has('gz_trunc')).toBe(false);
    // 64 MiB of zeros in a few KiB: over the 1 MiB limit once inflated
    const bomb = zlib.gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x61));
    expect(bomb.length).toBeLessThan(MAX_BODY);
    r = await post(bomb, { 'Content-Encoding': 'gzip' });
    expect(r.status).toBe(413);
    expect(await r.json()).toEqual({ error: 'http: request body too large' });
    r = await post(Buffer.alloc(MAX_BODY + 1, 0x61));
    expect(r.status).toBe(413);
    r = await fetch(`${server.url}/api/v2/write?bucket=b`, { method: 'POST', body: Buffer.alloc(MAX_BODY + 1, 0x61) });
    expect(r.status).toBe(413);
    expect(await r.json()).toEqual({ code: 'request too large', message: 'http: request body too large' });
    r = await post(zlib.gzipSync(`gz_ok v=7 ${nowS()}`), { 'Content-Encoding': 'gzip' });
    expect(r.status).toBe(400); // precision ns: a seconds timestamp is 1970, older than the ring
    r = await fetch(`${server.url}/write?db=x&precision=s`, { method: 'POST', body: zlib.gzipSync(`gz_ok v=7 ${nowS()}`), headers: { 'Content-Encoding': 'gzip' } });
    expect(r.status).toBe(204);
    // v1 precision as influxd 1.x takes it: n u ms s m h, anything else (us too) nanoseconds
    const sec = nowS();
    r = await fetch(`${server.url}/write?db=x&precision=us`, { method: 'POST', body: `prec_us v=1 ${sec}000000` });
    expect(r.status).toBe(400); // microseconds read as nanoseconds: 1970, older than the ring
    r = await fetch(`${server.url}/write?db=x&precision=u`, { method: 'POST', body: `prec_u v=1 ${sec}000000` });
    expect(r.status).toBe(204);
    r = await fetch(`${server.url}/api/v2/write?bucket=x&precision=us`, { method: 'POST', body: `prec_v2us v=1 ${sec}000000` });
    expect(r.status).toBe(204);
    const e = errors();
    expect(e['influx_http bad_gzip']).toBe(2);
    expect(e['influx_http body_too_large']).toBe(3);
    await alive();
  });

  it('HTTP: fuzzed bodies are answered 204 or 400, never more, and the server keeps serving', async () => {
    const t = nowS();
    const codes = new Map<number, number>();
    for (let i = 0; i < 200; i++) {
      const lines: string[] = [];
      for (let k = 0; k < 5; k++) lines.push(`hf${i % 20},h=${k} a=${k}.5,b=${k}i,c=t ${t - 100 + i}`);
      const bytes = Buffer.from(lines.join('\n'));
      const flips = Math.floor(rnd() * 6);
      for (let k = 0; k < flips; k++) bytes[Math.floor(rnd() * bytes.length)] = Math.floor(rnd() * 256);
      const r = await fetch(`${server.url}/write?db=x&precision=s`, { method: 'POST', body: bytes });
      codes.set(r.status, (codes.get(r.status) ?? 0) + 1);
      const text = await r.text();
      if (r.status === 400) expect(JSON.parse(text)).toHaveProperty('error');
    }
    expect([...codes.keys()].every((c) => c === 204 || c === 400)).toBe(true);
    expect(codes.get(204)).toBeGreaterThan(0);
    expect(codes.get(400)).toBeGreaterThan(0);
    await alive();
    const m = await (await fetch(`${server.url}/metrics`)).text();
    expect(m).toMatch(/rondo_ingest_errors_total\{protocol="influx_http",reason="parse"\} \d+/);
    expect(m).toMatch(/rondo_ingest_errors_total\{protocol="influx_udp",reason="too_old"\} \d+/);
    expect(m).toMatch(/rondo_ingest_errors_total\{protocol="influx_tcp",reason="line_too_long"\} 2/);
  });
});

describe('a read-only server refuses Influx writes', () => {
  it('HTTP 405 in InfluxDB\'s shape; UDP and TCP input counted as read_only, nothing stored', async () => {
    const dir = suiteTempDir('rondo-influx-ro-');
    Store.open(dir, { schemas: SCHEMAS }).close();
    const ro = Store.openReadOnly(dir);
    const server = await serve(ro, { listen: '127.0.0.1:0', influxUdp: '127.0.0.1:0', influxTcp: '127.0.0.1:0' });
    try {
      const r = await fetch(`${server.url}/write?db=x`, { method: 'POST', body: 'm v=1' });
      expect(r.status).toBe(405);
      expect(((await r.json()) as { error: string }).error).toMatch(/read-only/);
      const r2 = await fetch(`${server.url}/api/v2/write?bucket=x`, { method: 'POST', body: 'm v=1' });
      expect(r2.status).toBe(405);
      expect(((await r2.json()) as { code: string }).code).toBe('invalid');
      await udp(server.influxUdp!.port, ['m v=1']);
      await tcp(server.influxTcp!.port, ['m v=1\n']);
      await settle(() => server.stats().ingest.errors['influx_tcp read_only'] === 1 && server.stats().ingest.errors['influx_udp read_only'] === 1);
      expect(server.stats().ingest.errors).toEqual({ 'influx_http read_only': 2, 'influx_udp read_only': 1, 'influx_tcp read_only': 1 });
      expect(ro.series()).toEqual([]);
    } finally {
      await server.close();
      ro.close();
    }
  });
});
