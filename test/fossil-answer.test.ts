// The fossil door's bulk answer (src/fossil/wire.ts, encodeAnswer): a QUERY answer written from
// columns in one pass must be byte for byte the list of `time<TAB>topic<TAB>base64<TAB>schema`
// lines the door made one string at a time before (Go's RFC 3339 with ns, Go's padded base64);
// and FrameReader cuts a large frame that comes in many small chunks.
import { describe, expect, it } from 'vitest';
import { encodeAnswer, formatTime, lengthPrefixedList, FrameReader, encodeFrame } from '../src/fossil/wire';
import { xorshift32 } from './fixtures/random';

describe('encodeAnswer', () => {
  it('writes what the line-at-a-time answer wrote, for times, topics and datums of every shape', () => {
    const rand = xorshift32(0x5eed);
    const topics = ['/', '/vm/1/console', '/vm/ünï/cödé', '/a'];
    const schemas = ['string', 'int32', '[2]float64', '{"x":int8,}'];
    const times = [0n, 1n, -1n, 999_999_999n, 1_000_000_000n, -1_000_000_000n, -1_500_000_000n, 1_796_557_273_238_162_554n, 1_796_557_273_000_000_000n,
      1_796_557_273_100_000_000n, 253402300799n * 1_000_000_000n + 5n, 253402300800n * 1_000_000_000n, -62135596800n * 1_000_000_000n - 1n, -(1n << 63n), (1n << 63n) - 1n];
    const n = 400;
    const tsNs = new BigInt64Array(n);
    const topicIndex = new Uint32Array(n);
    const start = new Uint32Array(n);
    const end = new Uint32Array(n);
    const parts: Buffer[] = [];
    let at = 0;
    for (let i = 0; i < n; i++) {
      tsNs[i] = i < times.length ? times[i]! : 1_796_000_000_000_000_000n + BigInt(Math.floor(rand() * 1e6)) * BigInt(1 + (i % 7) * 1000);
      topicIndex[i] = i % topics.length;
      const len = i % 13;
      const d = Buffer.from(Array.from({ length: len }, () => Math.floor(rand() * 256)));
      start[i] = at;
      end[i] = at + len;
      at += len + (i % 3); // gaps between datums, as a nonconformant one's prefix leaves
      parts.push(d, Buffer.alloc(i % 3));
    }
    const data = Buffer.concat(parts);
    const got = encodeAnswer({ count: n, tsNs, topicIndex, topics, schemas, start, end, data });
    const want = lengthPrefixedList(
      Array.from({ length: n }, (_, i) => {
        const k = topicIndex[i]!;
        return Buffer.from(`${formatTime(tsNs[i]!)}\t${topics[k]}\t${data.subarray(start[i]!, end[i]!).toString('base64')}\t${schemas[k]}`, 'utf8');
      }),
    );
    expect(got.toString('hex')).toBe(want.toString('hex'));
  });
});

describe('FrameReader', () => {
  it('cuts a large frame that comes in small chunks, and the frames after it', () => {
    const big = encodeFrame('QUERY', Buffer.alloc(3_000_000, 0x41));
    const small = encodeFrame('OK', Buffer.from('x'));
    const stream = Buffer.concat([big, small, big]);
    const r = new FrameReader();
    const frames: Array<{ command: string; length: number }> = [];
    for (let p = 0; p < stream.length; p += 65536)
      for (const ev of r.push(stream.subarray(p, p + 65536))) {
        if (!('frame' in ev)) throw new Error(`unexpected ${JSON.stringify(ev)}`);
        frames.push({ command: ev.frame.command, length: ev.frame.data.length });
      }
    expect(frames).toEqual([
      { command: 'QUERY', length: 3_000_000 },
      { command: 'OK', length: 1 },
      { command: 'QUERY', length: 3_000_000 },
    ]);
    expect(r.end()).toBeUndefined();
  });
});
