// A slab file truncated from outside while a store has it mapped (docs/reliability.md, "Faults
// while running"): the touch of a lost page raises SIGBUS, which used to kill the process and
// every VM it hosts. rondo's handler (native/rondo/sigbus.h) maps zero pages over the lost range
// and marks the slab damaged; the store then refuses it with CorruptFileError naming the file.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Store } from '../src/index';
import { tempDir } from './helpers';
import { runFixture } from './fixtures/child';

const IV = 1000;

function makeStore(): { dir: string; file: string } {
  const dir = tempDir();
  Store.open(dir, {
    schemas: [
      {
        name: 'trunc',
        match: {},
        maxSeries: 8,
        tiers: [
          { interval: IV, retention: 2_000_000 * IV },
          { interval: 60 * IV, retention: 30 * 86_400_000 },
        ],
      },
    ],
  }).close();
  return { dir, file: path.join(dir, 'trunc.t0.slab') };
}

/** The line of a call's outcome the fixture printed: "<call> <error name> <message>" or "<call> ok". */
function outcome(lines: string[], call: string): string {
  const l = lines.find((x) => x.startsWith(call + ' '));
  expect(l, `no "${call}" line in ${JSON.stringify(lines)}`).toBeDefined();
  return l!.slice(call.length + 1);
}

describe('a slab truncated under a running store', () => {
  it('a writer (the JavaScript thread and 4 native threads) survives; its next calls throw CorruptFileError naming the file', async () => {
    const { dir, file } = makeStore();
    const child = runFixture('truncate.js', ['writer', dir]);
    await child.waitFor((l) => l === 'recording');
    fs.truncateSync(file, 0);
    const { code, signal } = await child.closed;
    expect(signal, child.stderr()).toBeNull();
    expect(code, child.stderr()).toBe(0);
    expect(child.lines).toContain('done');
    // The native threads ran to their end (they were refused, not killed).
    expect(child.lines).toContain('joined 4');
    for (const call of ['record', 'flush', 'query', 'info', 'consolidate']) {
      const o = outcome(child.lines, call);
      expect(o.startsWith('CorruptFileError '), `${call}: ${o}`).toBe(true);
      expect(o).toContain(file);
      expect(o).toContain('cut short');
    }
  });

  it('a writer survives a slab cut to its first page (the header kept, the rows lost) too', async () => {
    const { dir, file } = makeStore();
    const child = runFixture('truncate.js', ['writer', dir]);
    await child.waitFor((l) => l === 'recording');
    fs.truncateSync(file, 4096);
    const { code, signal } = await child.closed;
    expect(signal, child.stderr()).toBeNull();
    expect(code, child.stderr()).toBe(0);
    const o = outcome(child.lines, 'flush');
    expect(o.startsWith('CorruptFileError '), o).toBe(true);
    expect(o).toContain(file);
  });

  it('a reader (Store.openReadOnly) survives; its next query throws CorruptFileError naming the file', async () => {
    const { dir, file } = makeStore();
    const w = Store.open(dir);
    const h = w.register('trunc', { col: '4' });
    const t0 = Math.floor(Date.now() / IV) * IV - 100 * IV;
    for (let i = 0; i < 50; i++) w.record(h, i, t0 + i * IV);
    w.close();
    const child = runFixture('truncate.js', ['reader', dir]);
    await child.waitFor((l) => l === 'reading');
    fs.truncateSync(file, 0);
    child.proc.stdin.write('go\n');
    const { code, signal } = await child.closed;
    expect(signal, child.stderr()).toBeNull();
    expect(code, child.stderr()).toBe(0);
    for (const call of ['query', 'info']) {
      const o = outcome(child.lines, call);
      expect(o.startsWith('CorruptFileError '), `${call}: ${o}`).toBe(true);
      expect(o).toContain(file);
    }
  });

  it('an agent reports the CorruptFileError once (onError, counted) and stops recording into that store; the process goes on', async () => {
    const dir = tempDir();
    const child = runFixture('truncate.js', ['agent', dir]);
    await child.waitFor((l) => l === 'ticking');
    const slabs = fs.readdirSync(dir).filter((f) => f.endsWith('.t0.slab'));
    expect(slabs.length).toBeGreaterThan(0);
    for (const f of slabs) fs.truncateSync(path.join(dir, f), 0);
    child.proc.stdin.write('go\n');
    const { code, signal } = await child.closed;
    expect(signal, child.stderr()).toBeNull();
    expect(code, child.stderr()).toBe(0);
    expect(child.lines).toContain('done');
    const errors = JSON.parse(outcome(child.lines, 'errors')) as Array<[string, string, string]>;
    expect(errors).toHaveLength(1);
    expect(errors[0]![1]).toBe('CorruptFileError');
    expect(slabs.some((f) => errors[0]![2].includes(path.join(dir, f)))).toBe(true);
    expect(outcome(child.lines, 'stats')).toBe('1');
  });

  it('a SIGBUS that is not a fault in a slab still kills the process, as without rondo', async () => {
    const { dir } = makeStore();
    const child = runFixture('truncate.js', ['unrelated', dir]);
    const { signal } = await child.closed;
    expect(child.lines).toContain('open');
    expect(child.lines).not.toContain('survived');
    expect(signal).toBe('SIGBUS');
  });

  it('a fault on a truncated mapping that is no slab still kills the process with SIGBUS', async () => {
    const { dir } = makeStore();
    const child = runFixture('truncate.js', ['unrelated-fault', dir]);
    const { signal } = await child.closed;
    expect(child.lines).toContain('open');
    expect(child.lines.some((l) => l.startsWith('survived'))).toBe(false);
    expect(signal, child.stderr()).toBe('SIGBUS');
  });
});
