// The JavaScript writer of event rings (src/store/events-js.ts, docs/events.md, "Appending from
// JavaScript"): store.append() writes the record into the mapped ring itself, under the same lock
// word as the native append. Checked against the native side: every record JavaScript writes is
// read back through the addon's reader (which checks each record's check word), native threads
// and JavaScript append to one ring at once while a reader in another process follows it and
// sees every record whole and each writer's records all, in order; and the wasm module that
// computes the check is the one its source builds.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Store } from '../src/index';
import { devAddon } from '../src/store/dev-addon';
import { JS_EVENT_APPEND } from '../src/store/events-js';
import { tempDir } from './helpers';
import { runFixture } from './fixtures/child';

/** The 24-byte datum the native appenders of the dev addon write, for writer w's record i. */
function marked(w: number, i: number): Buffer {
  const b = Buffer.alloc(24);
  b.writeUInt32LE(w, 0);
  b.writeUInt32LE(0xe7e7e7e7, 4);
  b.writeBigUInt64LE(BigInt(i), 8);
  b.writeBigUInt64LE(~BigInt(i) & 0xffffffffffffffffn, 16);
  return b;
}

type WithLog = { eventLog: { writer?: { taken: number } } };

describe.skipIf(!JS_EVENT_APPEND)('appends written from JavaScript', () => {
  it('are the records the native append would write: read back through the native reader, every size and kind, across wraps', () => {
    const dir = tempDir();
    const store = Store.open(dir, { events: { size: 8192 } });
    const other = Store.open(tempDir(), { events: { size: 8192 } });
    (other as unknown as { eventLog: { writer: unknown } }).eventLog.writer = undefined; // the addon's append
    const data: Array<string | Buffer> = [];
    for (let n = 0; n < 70; n++) data.push(Buffer.from(Array.from({ length: n }, (_, k) => (n * 7 + k) & 0xff)));
    data.push('', 'a', 'héllo wörld', '日本語のテキスト', 'x'.repeat(300));
    for (let lap = 0; lap < 6; lap++)
      for (let k = 0; k < data.length; k++) {
        const ts = BigInt(lap * 1000 + k) - 500n; // negative times too
        store.append(`/t/${k % 5}`, data[k]!, ts);
        other.append(`/t/${k % 5}`, data[k]!, ts);
      }
    expect((store as unknown as WithLog).eventLog.writer!.taken).toBe(6 * data.length);
    const a = store.events({ limit: 1e6 });
    const b = other.events({ limit: 1e6 });
    expect(a.length).toBeGreaterThan(20);
    expect(a.map((r) => [r.tsNs, r.topic, r.type, r.raw.toString('hex')])).toEqual(b.map((r) => [r.tsNs, r.topic, r.type, r.raw.toString('hex')]));
    const sa = store.eventStats();
    const sb = other.eventStats();
    expect({ ...sa, nonconformant: 0 }).toEqual({ ...sb, nonconformant: 0 });
    // the ring's file, byte for byte, past its creation time
    store.close();
    other.close();
    const fa = fs.readFileSync(path.join(dir, 'events.slab'));
    const fb = fs.readFileSync(path.join((other as unknown as { dir: string }).dir, 'events.slab'));
    expect(fa.subarray(64).equals(fb.subarray(64))).toBe(true);
  });

  it('take the clock as the native append does: ns since the epoch, now', () => {
    const store = Store.open(tempDir(), { events: { size: 65536 } });
    const before = BigInt(Date.now() - 1) * 1_000_000n;
    for (let i = 0; i < 1000; i++) store.append('/clock', 'tick');
    const after = BigInt(Date.now() + 1) * 1_000_000n;
    const got = store.events({ topic: '/clock' });
    expect(got).toHaveLength(1000);
    let prev = 0n;
    for (const r of got) {
      expect(r.tsNs >= before && r.tsNs <= after).toBe(true);
      expect(r.tsNs >= prev).toBe(true); // the monotonic clock between rebases
      prev = r.tsNs;
    }
    expect(new Set(got.map((r) => r.tsNs)).size).toBeGreaterThan(100); // ns, not ms
    store.close();
  });

  it('leave to the addon what they do not take, which refuses it as before', () => {
    const store = Store.open(tempDir(), { events: { size: 65536 } });
    expect(() => store.append('/big', Buffer.alloc(16385))).toThrow(/larger than the ring/);
    expect(() => store.append('/t', 'x', 1n << 63n)).toThrow(/64-bit/);
    store.append('/t', 'y', -(1n << 63n));
    expect(store.events({ topic: '/t' }).map((r) => r.tsNs)).toEqual([-(1n << 63n)]);
    expect(store.eventStats().records).toBe(1);
    store.close();
  });

  it('share one ring with native threads appending at once: a reader in another process sees every record whole, and all of them', async () => {
    const dir = tempDir();
    const store = Store.open(dir, { events: { size: '16MiB' } });
    store.createTopic('/native', 'binary');
    store.append('/js', marked(0, 0), 0n);
    const ids = store.topics();
    const nativeId = ids.find((t) => t.name === '/native')!.id;
    const THREADS = 2;
    const PER = 100_000;
    const reader = runFixture('events-follow.js', [dir, '0', '60000']);
    await reader.waitFor((l) => l === 'reading');
    const job = devAddon().bench.eventAppendsStart(path.join(dir, 'events.slab'), THREADS, PER, nativeId);
    // JavaScript appends until the native threads are through (so the two run at once).
    let js = 0;
    while (store.eventStats().appended - 1 - js < THREADS * PER && js < 5_000_000)
      for (let k = 0; k < 500; k++) {
        js++;
        store.append('/js', marked(0, js), BigInt(js));
      }
    const done = devAddon().bench.eventAppendsJoin(job);
    expect(done).toEqual({ appends: THREADS * PER, failed: false });
    const total = 1 + js + THREADS * PER;
    store.append('/end', marked(9, total), BigInt(total));
    expect(store.eventStats().appended).toBe(total + 1);
    await reader.closed;
    const summary = JSON.parse(reader.lines.at(-1)!) as { seen: number; writers: Record<string, number>; violations: number; examples: string[] };
    expect(summary.examples).toEqual([]);
    expect(summary.violations).toBe(0);
    expect(summary.seen).toBe(total);
    expect(summary.writers).toEqual({ '/js/0': js + 1, '/native/0': PER, '/native/1': PER });
    // They did append at once: native records lie between the first and the last JavaScript one.
    const all = store.events({ limit: 1e7 });
    const firstJs = all.findIndex((r) => r.topic === '/js' && r.tsNs === 1n);
    const lastJs = all.findIndex((r) => r.topic === '/js' && r.tsNs === BigInt(js));
    const between = all.slice(firstJs, lastJs).filter((r) => r.topic === '/native').length;
    expect(between, 'the native threads ran before or after the JavaScript appends, not beside them').toBeGreaterThan(0);
    store.close();
  }, 90_000);
});

describe.skipIf(!JS_EVENT_APPEND)('a ring cut short under the JavaScript writer', () => {
  it('is refused with CorruptFileError on the next append, and the process lives on', () => {
    const dir = tempDir();
    Store.open(dir, { events: { size: '1MiB' } }).close();
    // In a process of its own: the SIGBUS of the first touch of a lost page is the handler's to
    // take (native/rondo/sigbus.h), which maps zero pages and marks the ring damaged.
    const script = `
      const { Store } = require(${JSON.stringify(path.join(__dirname, '..', 'dist', 'src'))});
      const fs = require('node:fs');
      const s = Store.open(${JSON.stringify(dir)});
      for (let i = 0; i < 100; i++) s.append('/a', Buffer.alloc(64, i));
      if (s.eventLog.writer.taken !== 100) throw new Error('not the JavaScript writer');
      fs.truncateSync(${JSON.stringify(path.join(dir, 'events.slab'))}, 4096);
      let got = 'no error';
      try { for (let i = 0; i < 20000; i++) s.append('/a', Buffer.alloc(64, i)); } catch (e) { got = e.name + ': ' + e.message; }
      console.log(got);
      try { s.events(); console.log('read ok'); } catch (e) { console.log('read ' + e.name); }
      console.log('alive');`;
    const out = execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    expect(out).toMatch(/^CorruptFileError: .*events\.slab.*cut short/m);
    expect(out).toContain('read CorruptFileError');
    expect(out).toContain('alive');
  });
});

describe('the check module', () => {
  it('is what scripts/build-events-check.mjs makes of events-check.wat', () => {
    const root = path.join(__dirname, '..');
    const made = execFileSync(process.execPath, [path.join(root, 'scripts/build-events-check.mjs'), '--print'], { encoding: 'utf8' });
    expect(made).toBe(fs.readFileSync(path.join(root, 'src/store/events-check-wasm.ts'), 'utf8'));
  });
});
