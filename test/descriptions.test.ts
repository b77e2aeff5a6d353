import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Agent, CorruptFileError, InvalidSeriesError, ReadOnlyError, Store } from '../src/index';
import { tempDir, VMM_SCHEMA } from './helpers';

describe('store descriptions (descriptions.json)', () => {
  it('keeps help and unit per metric name, across reopen and for a read-only reader in step with the writer', () => {
    const dir = tempDir();
    const w = Store.open(dir, { schemas: [VMM_SCHEMA] });
    w.register('vmm_vcpu_run_seconds_total', { vcpu: '0' }, { kind: 'counter' });
    expect(w.describe('vmm_vcpu_run_seconds_total')).toEqual({ kind: 'counter' });
    w.describe('vmm_vcpu_run_seconds_total', { help: 'Time in KVM_RUN.', unit: 'seconds' });
    w.describe('described_only', { help: 'no series yet' });
    expect(w.describe('vmm_vcpu_run_seconds_total')).toEqual({ help: 'Time in KVM_RUN.', unit: 'seconds', kind: 'counter' });

    const r = Store.openReadOnly(dir);
    expect(r.describe('vmm_vcpu_run_seconds_total')).toEqual({ help: 'Time in KVM_RUN.', unit: 'seconds', kind: 'counter' });
    expect([...r.descriptions()]).toEqual([
      ['described_only', { help: 'no series yet' }],
      ['vmm_vcpu_run_seconds_total', { help: 'Time in KVM_RUN.', unit: 'seconds', kind: 'counter' }],
    ]);
    // The writer changes one: the reader sees it at its next look.
    w.describe('described_only', { help: 'changed', unit: 'bytes' });
    w.register('described_only', {});
    expect(r.describe('described_only')).toEqual({ help: 'changed', unit: 'bytes', kind: 'gauge' });
    // Neither help nor unit removes a description.
    w.describe('described_only', {});
    expect(r.describe('described_only')).toEqual({ kind: 'gauge' });
    expect(() => r.describe('x', { help: 'y' })).toThrow(ReadOnlyError);
    r.close();
    w.close();

    const again = Store.open(dir);
    expect(again.describe('vmm_vcpu_run_seconds_total')?.help).toBe('Time in KVM_RUN.');
    expect(again.describe('nothing_here')).toBeUndefined();
    again.close();
  });

  it('a backup carries the descriptions to the restored store', () => {
    const dir = tempDir();
    const w = Store.open(path.join(dir, 's'), { schemas: [VMM_SCHEMA] });
    w.register('a_seconds', {});
    w.describe('a_seconds', { help: 'A.', unit: 'seconds' });
    w.backupSync(path.join(dir, 'b.rbak'));
    w.close();
    Store.restore(path.join(dir, 'b.rbak'), path.join(dir, 'r'));
    const r = Store.openReadOnly(path.join(dir, 'r'));
    expect(r.describe('a_seconds')).toEqual({ help: 'A.', unit: 'seconds', kind: 'gauge' });
    r.close();
  });

  it('writes the file only when a description changes', () => {
    const dir = tempDir();
    const w = Store.open(dir, { schemas: [VMM_SCHEMA] });
    w.describe('a_bytes', { help: 'A.', unit: 'bytes' });
    const file = path.join(dir, 'descriptions.json');
    const ino = fs.statSync(file).ino;
    w.describe('a_bytes', { help: 'A.', unit: 'bytes' });
    expect(fs.statSync(file).ino).toBe(ino); // no new file renamed into place
    w.describe('a_bytes', { help: 'B.', unit: 'bytes' });
    expect(fs.statSync(file).ino).not.toBe(ino);
    w.close();
  });

  it('describeMany writes many in one replace of the file, and refuses the bad entries alone', () => {
    const dir = tempDir();
    const w = Store.open(dir, { schemas: [VMM_SCHEMA] });
    const errors = w.describeMany([
      ['a_seconds', { help: 'A.', unit: 'seconds' }],
      ['9bad', { help: 'no' }],
      ['b_bytes', { help: 'B.', unit: 'bytes' }],
      ['c', { unit: 'Not A Unit' }],
    ]);
    expect(errors.map((e) => e?.name)).toEqual([undefined, 'InvalidSeriesError', undefined, 'InvalidSeriesError']);
    expect([...w.descriptions().keys()]).toEqual(['a_seconds', 'b_bytes']);
    const ino = fs.statSync(path.join(dir, 'descriptions.json')).ino;
    expect(w.describeMany([['a_seconds', { help: 'A.', unit: 'seconds' }]])).toEqual([undefined]);
    expect(fs.statSync(path.join(dir, 'descriptions.json')).ino).toBe(ino); // unchanged: not written
    w.close();
    const r = Store.openReadOnly(dir);
    expect(r.describe('b_bytes')).toEqual({ help: 'B.', unit: 'bytes' });
    r.close();
  });

  it('refuses what is not a name, a help text or a unit, with a message, and records nothing of it', () => {
    const dir = tempDir();
    const w = Store.open(dir, { schemas: [VMM_SCHEMA] });
    expect(() => w.describe('9bad', { help: 'x' })).toThrow(/not a metric name/);
    expect(() => w.describe('ok', { unit: 'Seconds!' })).toThrow(InvalidSeriesError);
    expect(() => w.describe('ok', { help: 'x'.repeat(1025) })).toThrow(/at most 1024/);
    expect(() => w.describe('ok', { help: 'x', colour: 'red' } as never)).toThrow(/unknown field "colour"/);
    expect(() => w.describe('ok', null as never)).toThrow(/must be an object/);
    expect(w.descriptions().size).toBe(0);
    expect(fs.existsSync(path.join(dir, 'descriptions.json'))).toBe(false);
    w.close();
  });

  it('a store without the file has no descriptions; a damaged file is a CorruptFileError, not a crash', () => {
    const dir = tempDir();
    const w = Store.open(dir, { schemas: [VMM_SCHEMA] });
    w.register('g', {});
    expect([...w.descriptions()]).toEqual([['g', { kind: 'gauge' }]]);
    w.close();
    fs.writeFileSync(path.join(dir, 'descriptions.json'), '{"format":"rondo-descriptions","version":2,"crc32":1,"body":{}}\n');
    const again = Store.open(dir);
    expect(() => again.descriptions()).toThrow(CorruptFileError);
    again.close();
  });

  it("an agent's collectors describe what they record through ctx.describe", async () => {
    const dir = tempDir();
    const agent = await Agent.start({
      dir,
      schemas: [VMM_SCHEMA],
      autoTick: false,
      collectors: [
        {
          name: 'mine',
          collect(ctx) {
            ctx.describe('mine_bytes', 'Bytes of mine.', 'bytes');
            ctx.record('mine_bytes', {}, 42);
          },
        },
      ],
    });
    await agent.tick();
    expect(agent.store.describe('mine_bytes')).toEqual({ help: 'Bytes of mine.', unit: 'bytes', kind: 'gauge' });
    expect(agent.store.describe('rondo_agent_ticks_total')?.help).toMatch(/Ticks/);
    await agent.stop();
  });
});
