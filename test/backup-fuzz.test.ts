// A hostile archive corpus (seeded): bit flips, truncations, garbage spans, records with huge
// lengths, records spliced, dropped and repeated, and records rewritten with valid checksums
// around hostile contents (manifests that lie, chunks whose counts or points do not fit). Neither
// restore nor verify may crash or throw anything but a named error (CorruptFileError,
// ConfigError); what they restore opens as a store, and every chunk they call intact is.
// RONDO_BACKUP_FUZZ_CASES sets the number of cases (default 400).
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, CorruptFileError, Store } from '../src/index';
import { suiteTempDir } from './helpers';

const CASES = Number(process.env.RONDO_BACKUP_FUZZ_CASES ?? 400);

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const crc = (b: Uint8Array): number => zlib.crc32(b) >>> 0;

/** The archive's records (docs/backup-format.md): [offset, type, body]. */
function records(bytes: Buffer): Array<{ at: number; type: number; body: Buffer }> {
  const out: Array<{ at: number; type: number; body: Buffer }> = [];
  let pos = 16;
  while (pos + 16 <= bytes.length) {
    const len = bytes.readUInt32LE(pos + 8);
    out.push({ at: pos, type: bytes[pos + 4]!, body: bytes.subarray(pos + 16, pos + 16 + len) });
    pos += 16 + len + 4;
  }
  return out;
}

/** A record with valid checksums around any body (what a hostile writer can make). */
function record(type: number, body: Buffer, claimedLength = body.length): Buffer {
  const head = Buffer.alloc(16);
  head.write('RBKR', 0, 'latin1');
  head[4] = type;
  head.writeUInt32LE(claimedLength >>> 0, 8);
  head.writeUInt32LE(crc(head.subarray(0, 12)), 12);
  const tail = Buffer.alloc(4);
  tail.writeUInt32LE(crc(body), 0);
  return Buffer.concat([head, body, tail]);
}

let dir = '';
let base: Buffer;
let incremental: Buffer;
let manifest: Record<string, unknown>;

beforeAll(async () => {
  dir = suiteTempDir();
  const store = Store.open(path.join(dir, 'store'), {
    schemas: [
      {
        name: 'f',
        maxSeries: 4,
        tiers: [
          { interval: '1s', retention: '5m' },
          { interval: '10s', retention: '1h', aggregates: ['avg', 'min', 'max', 'sum', 'count', 'last'] },
        ],
      },
    ],
    events: { size: 64 * 1024 },
  });
  // Events: typed, untyped and nonconformant records, enough for the ring to wrap and for
  // several events chunks (base and incremental).
  store.createTopic('/n', 'int32');
  const appendEvents = (from: number, n: number): void => {
    for (let i = from; i < from + n; i++) store.append(i % 4 === 0 ? '/n' : `/vm/${i % 3}/console`, i % 4 === 0 ? (i % 40 === 0 ? 'nc' : i) : `line ${i}`);
  };
  appendEvents(0, 5000);
  const g = store.register('g', { a: '1' });
  const c = store.register('c_total', {}, { kind: 'counter' });
  const t0 = Math.floor((Date.now() - 10 * 60_000) / 10_000) * 10_000;
  for (let t = t0; t < t0 + 4 * 60_000; t += 1000) {
    store.record(g, Math.cos(t / 9000) * 10, t);
    store.record(c, (t - t0) / 100, t);
  }
  store.consolidate({ now: t0 + 4 * 60_000 });
  await store.backup(path.join(dir, 'base.rbak'), { codec: 'gorilla' });
  appendEvents(5000, 300);
  for (let t = t0 + 4 * 60_000; t < t0 + 5 * 60_000; t += 1000) store.record(g, t % 13, t);
  store.consolidate({ now: t0 + 5 * 60_000 });
  await store.backup(path.join(dir, 'inc.rbak'), { since: path.join(dir, 'base.rbak'), codec: 'deflate' });
  store.close();
  base = fs.readFileSync(path.join(dir, 'base.rbak'));
  incremental = fs.readFileSync(path.join(dir, 'inc.rbak'));
  manifest = JSON.parse(records(base)[0]!.body.toString('utf8')) as Record<string, unknown>;
});

type Mutation = (b: Buffer, r: () => number) => Buffer;
const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const int = (r: () => number, n: number): number => Math.floor(r() * n);

function hostileManifest(r: () => number): Buffer {
  const m = structuredClone(manifest) as Record<string, unknown> & { tiers: Array<Record<string, unknown>>; series: Array<Record<string, unknown>> };
  const big = pick(r, [-1, 0, 2 ** 53, 1e300, 'x', null, 4.5, 2 ** 31]);
  switch (int(r, 9)) {
    case 0:
      m.tiers[int(r, m.tiers.length)]![pick(r, ['from', 'to', 'chunkRows', 'columns', 'intervalMs', 'head', 'cursor'])] = big;
      break;
    case 1:
      m.series[int(r, m.series.length)]![pick(r, ['column', 'name', 'labels', 'kind', 'schema'])] = big;
      break;
    case 2:
      m.series.push({ ...m.series[0]!, column: 9 });
      break;
    case 3:
      m.files = { '../../etc/passwd': 'x', 'exporters/../x.json': 'y' };
      break;
    case 4:
      m.version = pick(r, [0, 1, 3, 99]);
      break;
    case 5:
      m.tiers = m.tiers.slice(1);
      break;
    case 6:
      m.base = pick(r, ['00', 'zz'.repeat(12), 42]);
      break;
    case 7: {
      const ev = m.events as Record<string, unknown> & { chunks: Array<Record<string, unknown>> };
      if (r() < 0.5) ev[pick(r, ['size', 'createdMs', 'tail', 'published', 'from', 'compression'])] = big;
      else if (ev.chunks.length > 0) ev.chunks[int(r, ev.chunks.length)]![pick(r, ['j', 'records', 'firstPos', 'lastPos', 'firstNs', 'lastNs'])] = big;
      else ev.chunks.push({ j: 0, records: big, firstPos: 0, lastPos: 0, firstNs: '0', lastNs: '0' });
      break;
    }
    default:
      m.asOfMs = big;
  }
  return Buffer.from(JSON.stringify(m), 'utf8');
}

const MUTATIONS: Array<[string, Mutation]> = [
  [
    'bit flips',
    (b, r) => {
      const o = Buffer.from(b);
      for (let i = 1 + int(r, 16); i > 0; i--) o[int(r, o.length)]! ^= 1 << int(r, 8);
      return o;
    },
  ],
  ['truncation', (b, r) => b.subarray(0, int(r, b.length))],
  [
    'garbage span',
    (b, r) => {
      const o = Buffer.from(b);
      const at = int(r, o.length);
      for (let i = at; i < Math.min(o.length, at + 1 + int(r, 300)); i++) o[i] = int(r, 256);
      return o;
    },
  ],
  [
    'huge length',
    (b, r) => {
      const recs = records(b);
      const rec = pick(r, recs);
      const o = Buffer.from(b);
      o.writeUInt32LE(pick(r, [0xffffffff, 0x7fffffff, 2 ** 30 + 1, rec.body.length + 1 + int(r, 1000)]) >>> 0, rec.at + 8);
      o.writeUInt32LE(crc(o.subarray(rec.at, rec.at + 12)), rec.at + 12); // a header that checks out
      return o;
    },
  ],
  [
    'records dropped, repeated, reordered',
    (b, r) => {
      const recs = records(b).map((x) => b.subarray(x.at, x.at + 16 + x.body.length + 4));
      const out: Buffer[] = [b.subarray(0, 16)];
      for (const x of recs) {
        const roll = r();
        if (roll < 0.1) continue;
        out.push(x);
        if (roll > 0.9) out.push(x);
      }
      if (r() < 0.5) out.splice(1 + int(r, out.length - 1), 0, out[1 + int(r, out.length - 1)]!);
      return Buffer.concat(out);
    },
  ],
  [
    'a hostile manifest with valid checksums',
    (b, r) => {
      const recs = records(b);
      const first = recs[0]!;
      const body = hostileManifest(r);
      // Both copies replaced (the end record holds the other), or only the first.
      const end = recs[recs.length - 1]!;
      const tail = r() < 0.5 ? record(3, body) : b.subarray(end.at);
      return Buffer.concat([b.subarray(0, 16), record(1, body), b.subarray(first.at + 16 + first.body.length + 4, end.at), tail]);
    },
  ],
  [
    'a chunk rewritten with valid checksums around hostile contents',
    (b, r) => {
      const recs = records(b).filter((x) => x.type === 2);
      const rec = pick(r, recs);
      const body = Buffer.from(rec.body);
      switch (int(r, 4)) {
        case 0: {
          // the chunk frame's point count, huge (its own CRC fixed up)
          const nameLen = body[12 + 2]!;
          body.writeUInt32LE(pick(r, [2 ** 24, 2 ** 24 + 1, 0xffffffff, 5000]), 12 + 3 + nameLen);
          const fl = body.length - 4;
          body.writeUInt32LE(crc(body.subarray(12, fl)), fl);
          break;
        }
        case 1:
          // the key: another tier, field, column or chunk number
          body.writeUInt32LE(int(r, 2 ** 32), 4 + 4 * int(r, 2));
          body[2 + int(r, 2)] = int(r, 256);
          break;
        case 2: {
          // the payload scrambled, the frame's CRC fixed up: only the codec can tell
          for (let i = 12 + 14; i < body.length - 4; i++) if (r() < 0.2) body[i] = int(r, 256);
          const fl = body.length - 4;
          body.writeUInt32LE(crc(body.subarray(12, fl)), fl);
          break;
        }
        default:
          return Buffer.concat([b.subarray(0, rec.at), record(2, body.subarray(0, int(r, body.length))), b.subarray(rec.at + 16 + rec.body.length + 4)]);
      }
      return Buffer.concat([b.subarray(0, rec.at), record(2, body), b.subarray(rec.at + 16 + rec.body.length + 4)]);
    },
  ],
  [
    'an events chunk rewritten with valid checksums around hostile contents',
    (b, r) => {
      const recs = records(b).filter((x) => x.type === 4);
      const rec = pick(r, recs);
      const body = Buffer.from(rec.body);
      switch (int(r, 4)) {
        case 0:
          // the header: chunk number, compression, count or raw length
          body.writeUInt32LE(pick(r, [0, 1, 2 ** 31, 0xffffffff, int(r, 5000)]) >>> 0, 4 * int(r, 4));
          break;
        case 1:
          body[4] = int(r, 256);
          break;
        case 2:
          // the payload scrambled (its own CRC no longer checks out, the record's does)
          for (let i = 20; i < body.length; i++) if (r() < 0.05) body[i] = int(r, 256);
          break;
        default:
          return Buffer.concat([b.subarray(0, rec.at), record(4, body.subarray(0, int(r, body.length))), b.subarray(rec.at + 16 + rec.body.length + 4)]);
      }
      return Buffer.concat([b.subarray(0, rec.at), record(4, body), b.subarray(rec.at + 16 + rec.body.length + 4)]);
    },
  ],
  ['random bytes', (_b, r) => Buffer.from(Array.from({ length: int(r, 4000) }, () => int(r, 256)))],
  ['random records', (_b, r) => Buffer.concat([Buffer.from('RONDOBAK\x02\0\0\0\0\0\0\0', 'latin1'), ...Array.from({ length: 1 + int(r, 5) }, () => record(1 + int(r, 4), Buffer.from(Array.from({ length: int(r, 200) }, () => int(r, 256)))))])],
];

function named(e: unknown): boolean {
  return e instanceof CorruptFileError || e instanceof ConfigError;
}

describe('hostile archives', () => {
  it(`never crash restore or verify (${CASES} seeded cases): a report naming the damage, or a named error`, () => {
    const r = rng(0xbac0);
    const seen = new Map<string, { reports: number; errors: number }>();
    for (let i = 0; i < CASES; i++) {
      const [what, mutate] = MUTATIONS[i % MUTATIONS.length]!;
      const useInc = r() < 0.25;
      const bad = mutate(useInc ? incremental : base, r);
      const file = path.join(dir, `case-${i}.rbak`);
      fs.writeFileSync(file, bad);
      const tally = seen.get(what) ?? { reports: 0, errors: 0 };
      seen.set(what, tally);
      const label = `case ${i} (${what}${useInc ? ', incremental' : ''})`;
      try {
        const v = Store.verifyBackup(file);
        expect(v.intactChunks, label).toBeLessThanOrEqual(v.chunks);
        if (bad.equals(useInc ? incremental : base)) expect(v.damaged, label).toEqual([]);
        tally.reports++;
      } catch (e) {
        if (!named(e)) throw new Error(`${label}: verify threw ${(e as Error)?.name}: ${(e as Error)?.message}`, { cause: e });
        tally.errors++;
      }
      const target = path.join(dir, `restored-${i}`);
      try {
        const files = useInc ? [path.join(dir, 'base.rbak'), file] : [file];
        const rep = Store.restore(files, target);
        expect(rep.restoredChunks, label).toBeLessThanOrEqual(rep.chunks);
        const s = Store.openReadOnly(target);
        for (const h of s.series()) s.query(h, { start: 0, end: Date.now(), tier: 'stitch' });
        s.close();
      } catch (e) {
        if (!named(e)) throw new Error(`${label}: restore threw ${(e as Error)?.name}: ${(e as Error)?.message}`, { cause: e });
        expect(fs.existsSync(target), `${label}: a failed restore leaves no directory`).toBe(false);
      }
      fs.rmSync(target, { recursive: true, force: true });
      fs.rmSync(file, { force: true });
    }
    // Every kind of damage was tried, and the tolerant reader got reports out of most of it.
    expect([...seen.keys()].sort()).toEqual(MUTATIONS.map(([w]) => w).sort());
    expect(seen.get('bit flips')!.reports).toBeGreaterThan(0);
    expect(seen.get('truncation')!.reports).toBeGreaterThan(0);
  }, 600_000);

  it('names the damage: a flipped chunk is listed by series, tier, aggregate and span; no manifest is a CorruptFileError', () => {
    const recs = records(base);
    const chunk = recs.filter((x) => x.type === 2)[5]!;
    const o = Buffer.from(base);
    o[chunk.at + 16 + chunk.body.length - 6]! ^= 0x40;
    fs.writeFileSync(path.join(dir, 'one.rbak'), o);
    const v = Store.verifyBackup(path.join(dir, 'one.rbak'));
    expect(v.damaged).toHaveLength(1);
    expect(v.damaged[0]).toMatch(/^schema f tier \d (rows|g\{a="1"\} \w+|c_total \w+), \d{4}-.* to \d{4}-.* \(chunk \d+\)$/);
    expect(v.problems.join('\n')).toMatch(/fails its checksum/);
    // An events chunk: named by its records' span.
    const ev = recs.filter((x) => x.type === 4)[0]!;
    const oe = Buffer.from(base);
    oe[ev.at + 16 + 30]! ^= 0x08;
    fs.writeFileSync(path.join(dir, 'one-ev.rbak'), oe);
    const ve = Store.verifyBackup(path.join(dir, 'one-ev.rbak'));
    expect(ve.damaged).toEqual([expect.stringMatching(/^events \d+ records, \d{4}-.* to \d{4}-.* \(events chunk 0\)$/)]);

    // Both manifest copies gone: nothing to restore by.
    const first = recs[0]!;
    const last = recs[recs.length - 1]!;
    const none = Buffer.concat([base.subarray(0, first.at), base.subarray(first.at + 16 + first.body.length + 4, last.at)]);
    fs.writeFileSync(path.join(dir, 'none.rbak'), none);
    expect(() => Store.verifyBackup(path.join(dir, 'none.rbak'))).toThrow(CorruptFileError);
    expect(() => Store.restore(path.join(dir, 'none.rbak'), path.join(dir, 'rn'))).toThrow(/manifest is damaged in both copies/);
    // Only the first one gone: the end record's copy serves.
    const endOnly = Buffer.concat([base.subarray(0, first.at), base.subarray(first.at + 16 + first.body.length + 4)]);
    fs.writeFileSync(path.join(dir, 'end-only.rbak'), endOnly);
    const rep = Store.restore(path.join(dir, 'end-only.rbak'), path.join(dir, 're'));
    expect(rep.damaged).toEqual([]);
    expect(() => Store.verifyBackup(path.join(dir, 'no-such.rbak'))).toThrow(ConfigError);
  });
});
