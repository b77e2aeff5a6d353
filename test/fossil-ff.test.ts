// The fossil door's fire-and-forget APPENDs taken straight from the bytes a chunk brings
// (src/fossil/door.ts, fastAppends): however the stream is cut into chunks, every APPEND is
// stored once, in order, frames of other commands among them are answered as before, a
// nonconforming datum goes to /nonconformant, and a malformed frame after a run of appends is
// answered with fossil's error and the connection closed.
import * as net from 'node:net';
import { describe, expect, it } from 'vitest';
import { serve } from '../src/server';
import { Store } from '../src/store';
import { encodeFrame } from '../src/fossil';
import { tempDir } from './helpers';
import { xorshift32 } from './fixtures/random';

function append(topic: string, data: Buffer): Buffer {
  const t = Buffer.from(topic, 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(t.length, 0);
  return encodeFrame('APPEND', Buffer.concat([len, t, data]));
}

/** Sends `stream` in chunks cut at the given sizes, each written on its own turn, then ends; resolves with what came back. */
async function exchange(port: number, stream: Buffer, cut: () => number): Promise<Buffer> {
  const sock = net.connect(port, '127.0.0.1');
  const got: Buffer[] = [];
  sock.on('data', (b) => got.push(b));
  const closed = new Promise<void>((resolve) => sock.on('close', () => resolve()));
  await new Promise<void>((resolve) => sock.once('connect', () => resolve()));
  for (let p = 0; p < stream.length; ) {
    const n = Math.max(1, cut());
    sock.write(stream.subarray(p, p + n));
    p += n;
    await new Promise((r) => setImmediate(r));
  }
  sock.end();
  await closed;
  return Buffer.concat(got);
}

describe('fire-and-forget appends over the fossil door', () => {
  it('stores every APPEND once and in order however the stream is cut, answering the other commands among them', async () => {
    const store = Store.open(tempDir(), { events: { size: '4MiB' } });
    store.createTopic('/n', 'int32');
    const srv = await serve(store, { listen: '127.0.0.1:0', fossil: '127.0.0.1:0', recordOwnMetrics: false });
    try {
      const rand = xorshift32(1801);
      const parts: Buffer[] = [encodeFrame('VERSION', 'v1.0.0 fire-and-forget')];
      const want: string[] = [];
      for (let i = 0; i < 3000; i++) {
        const topic = `/vm/${i % 3}/console`;
        const d = Buffer.from(`line ${i} ${'x'.repeat(i % 40)}`);
        parts.push(append(topic, d));
        want.push(`${topic} ${d.toString()}`);
        if (i === 1000) parts.push(encodeFrame('USE', 'default')); // answered, mid-stream
        if (i === 2000) {
          parts.push(append('/n', Buffer.from('no'))); // not an int32: kept under /nonconformant
        }
      }
      const stream = Buffer.concat(parts);
      for (const cut of [() => 1 + Math.floor(rand() * 7), () => 1 + Math.floor(rand() * 300), () => 65536]) {
        const before = store.eventStats().appended;
        const answer = await exchange(srv.fossil!.port, stream, cut);
        // VERSION's answer, then USE's: nothing for the appends
        expect(answer.subarray(4, 12).toString('latin1').replace(/\0/g, '')).toBe('VERSION');
        expect(answer.toString('latin1')).toContain('database changed');
        const got = store.events({ topic: '/vm', limit: 1e6 }).slice(-3000);
        expect(store.eventStats().appended - before).toBe(3001);
        expect(got.map((r) => `${r.topic} ${(r.data as Buffer).toString()}`)).toEqual(want);
        const nc = store.events({ topic: '/nonconformant' }).at(-1)!;
        expect(nc.origin).toBe('/n');
      }
    } finally {
      await srv.close();
      store.close();
    }
  });

  it('answers a malformed frame after a run of appends with fossil error and closes, keeping the appends before it', async () => {
    const store = Store.open(tempDir(), { events: { size: '1MiB' } });
    const srv = await serve(store, { listen: '127.0.0.1:0', fossil: '127.0.0.1:0', recordOwnMetrics: false });
    try {
      const bad = Buffer.alloc(4);
      bad.writeUInt32BE(0x7fffffff, 0); // a length over the limit
      const stream = Buffer.concat([encodeFrame('VERSION', 'v1.0.0 fire-and-forget'), ...Array.from({ length: 50 }, (_, i) => append('/a', Buffer.from(`d${i}`))), bad, append('/a', Buffer.from('after'))]);
      const answer = await exchange(srv.fossil!.port, stream, () => 65536);
      expect(answer.toString('latin1')).toContain('malformed message');
      expect(store.events({ topic: '/a' }).map((r) => r.data)).toEqual(Array.from({ length: 50 }, (_, i) => Buffer.from(`d${i}`)));
    } finally {
      await srv.close();
      store.close();
    }
  });
});
