import { describe, expect, it } from 'vitest';
import * as snappyjs from 'snappyjs';
import { compressSnappy, maxCompressedLength } from '../src/export/snappy';
import { suiteSeed, xorshift32 } from './fixtures/random';

// RONDO_FUZZ_SEED replays a run; CI runs use 65536 (fixtures/random.js).
const SEED = suiteSeed('RONDO_FUZZ_SEED', 65536, 'snappy');

/** Inputs of a kind that defeat or favour a compressor: noise, runs, text, short repeats. */
function inputs(seed: number): Array<[string, Uint8Array]> {
  const rand = xorshift32(seed);
  const noise = (n: number) => Uint8Array.from({ length: n }, () => Math.floor(rand() * 256));
  const repeats = (n: number, period: number) => {
    const unit = noise(period);
    return Uint8Array.from({ length: n }, (_, i) => unit[i % period]!);
  };
  const text = (n: number) => new TextEncoder().encode('vcpu_exits_total{reason="io",vcpu="0"} '.repeat(Math.ceil(n / 40))).subarray(0, n);
  const mixed = (n: number) => Uint8Array.from({ length: n }, (_, i) => (Math.floor(i / 97) % 3 === 0 ? Math.floor(rand() * 256) : i % 13));
  const out: Array<[string, Uint8Array]> = [];
  // Sizes around the edges the compressor has: its margin (15), a fragment (64 KiB).
  for (const n of [0, 1, 4, 14, 15, 16, 17, 100, 4096, 65535, 65536, 65537, 200_000]) {
    out.push([`noise ${n}`, noise(n)], [`zeros ${n}`, new Uint8Array(n)], [`text ${n}`, text(n)], [`mixed ${n}`, mixed(n)]);
    for (const p of [1, 3, 4, 5, 8, 61, 64, 65, 2049]) out.push([`period ${p}, ${n}`, repeats(n, p)]);
  }
  return out;
}

describe('the snappy block compressor remote-write sends with', () => {
  it(`gives blocks that snappyjs decodes back to the input, byte for byte, within the bound (seed ${SEED})`, () => {
    const wrong: string[] = [];
    for (const [what, input] of inputs(SEED)) {
      const block = compressSnappy(input);
      if (block.length > maxCompressedLength(input.length)) wrong.push(`${what}: ${block.length} bytes, over the bound`);
      const back = new Uint8Array(snappyjs.uncompress(block));
      if (back.length !== input.length || back.some((b, i) => b !== input[i])) wrong.push(`${what}: decodes to other bytes`);
    }
    expect(wrong).toEqual([]);
  });

  it('compresses what repeats: a run of zeros and a repeated label set shrink', () => {
    expect(compressSnappy(new Uint8Array(65536)).length).toBeLessThan(4000);
    const labels = new TextEncoder().encode('__name__vcpu_exits_total reason io vcpu 0 '.repeat(1000));
    expect(compressSnappy(labels).length).toBeLessThan(labels.length / 10);
  });
});
