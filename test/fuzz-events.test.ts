// Hostile event rings (docs/reliability.md, "Damaged and hostile files", and docs/storage-format.md,
// "The event ring"): copies of a store's events.slab and topics.json, each damaged in one random
// way — truncated, extended, bytes of its header, counters or records flipped, a counter given a
// hostile value, topics.json rewritten — and opened, for writing and read-only. Each open either
// fails with CorruptFileError, or opens a store whose events() either fails with CorruptFileError
// or gives only whole records (each the datum of its own index, in order): never another error, a
// crash or a hang. Damage the documented checks must catch (the header's bytes 0-59 without their
// crc, the file's size, tail or published out of bounds, a commit word between them) must fail.
// RONDO_FUZZ_CASES sets the number of cases (default 400), RONDO_FUZZ_SEED the seed.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CorruptFileError, Store } from '../src/index';
import { tempDir } from './helpers';
import { suiteSeed, xorshift32 } from './fixtures/random';
import { datum } from './fixtures/events-datum';

const CASES = Number(process.env.RONDO_FUZZ_CASES ?? 400);
const SEED = suiteSeed('RONDO_FUZZ_SEED', 1800, 'fuzz-events');
const RING = 8192;

describe('hostile event rings', () => {
  it('are refused with CorruptFileError or read as whole records, never anything else', () => {
    const pristine = tempDir();
    const s = Store.open(pristine, { events: { size: RING } });
    // Enough events to lap the ring twice, so that a pad marker and overwritten records are in it.
    for (let i = 0; i < 200; i++) s.append(`/w/${i % 3}`, datum(i), BigInt(i));
    s.close();
    const ring = fs.readFileSync(path.join(pristine, 'events.slab'));
    const rand = xorshift32(SEED);
    const int = (n: number) => Math.floor(rand() * n);
    const work = tempDir();
    const outcomes: Record<string, number> = {};
    for (let c = 0; c < CASES; c++) {
      const dir = path.join(work, `c${c}`);
      fs.cpSync(pristine, dir, { recursive: true });
      const file = path.join(dir, 'events.slab');
      const b = Buffer.from(ring);
      let what: string;
      let mustFail = false;
      const kind = int(7);
      if (kind === 0) {
        const n = int(b.length);
        fs.writeFileSync(file, b.subarray(0, n));
        what = `truncated to ${n}`;
        mustFail = true;
      } else if (kind === 1) {
        fs.writeFileSync(file, Buffer.concat([b, Buffer.alloc(1 + int(9000))]));
        what = 'extended';
        mustFail = true;
      } else if (kind === 2) {
        const at = int(60);
        b[at] = b[at]! ^ (1 << int(8));
        fs.writeFileSync(file, b);
        what = `header byte ${at} flipped`;
        mustFail = true;
      } else if (kind === 3) {
        // A counter (tail, published, lock, appends, dropped, last, repairs) given a hostile value.
        const at = 64 + 8 * int(7);
        const v = [0n, 1n, 7n, 2n ** 62n, 2n ** 64n - 1n, BigInt(int(3 * RING)), b.readBigUInt64LE(72) + 8n][int(7)]!;
        b.writeBigUInt64LE(v, at);
        fs.writeFileSync(file, b);
        what = `counter at ${at} = ${v}`;
        const tail = b.readBigUInt64LE(64);
        const pub = b.readBigUInt64LE(72);
        mustFail = pub > 2n ** 62n || tail > pub || pub - tail > BigInt(RING) || tail % 8n !== 0n || pub % 8n !== 0n;
      } else if (kind === 4 || kind === 5) {
        // Bytes of the record area flipped.
        const n = 1 + int(kind === 4 ? 1 : 16);
        for (let k = 0; k < n; k++) {
          const at = 512 + int(RING);
          b[at] = b[at]! ^ (1 << int(8));
        }
        fs.writeFileSync(file, b);
        what = `${n} record bytes flipped`;
      } else {
        fs.writeFileSync(path.join(dir, 'topics.json'), ['', '{', '{"format":"rondo-topics","version":2,"crc32":0,"body":{}}'][int(3)]!);
        what = 'topics.json rewritten';
        mustFail = true;
      }
      for (const ro of [false, true]) {
        let outcome: string;
        let st: Store | undefined;
        try {
          st = ro ? Store.openReadOnly(dir) : Store.open(dir);
          outcome = 'opened';
        } catch (e) {
          if (!(e instanceof CorruptFileError)) throw new Error(`case ${c} (${what}, ${ro ? 'ro' : 'rw'}): ${String(e)}`);
          outcome = 'refused';
        }
        if (st !== undefined) {
          try {
            if (mustFail) throw new Error(`case ${c} (${what}) opened; its damage must be refused`);
            try {
              const got = st.events();
              let prev = -1n;
              for (const r of got) {
                if (r.tsNs <= prev || !datum(Number(r.tsNs)).equals(r.data as Buffer))
                  throw new Error(`case ${c} (${what}): record ${r.tsNs} is not whole: ${JSON.stringify(r)}`);
                prev = r.tsNs;
              }
              if (!ro) {
                st.append('/w/0', datum(1000), 1000n);
                st.events();
              }
              outcome += ', read';
            } catch (e) {
              if (!(e instanceof CorruptFileError)) throw e;
              outcome += ', refused on read';
            }
          } finally {
            st.close();
          }
        }
        outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    }
    console.log(`fuzz-events: ${CASES} cases: ${JSON.stringify(outcomes)}`);
    expect(outcomes.refused).toBeGreaterThan(0);
    expect(outcomes['opened, read']).toBeGreaterThan(0);
  }, 300_000);
});
