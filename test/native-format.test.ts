// The slab format's one source is the store's addon (native/rondo/slab.h, exported as format):
// src/store/native.ts refuses at load an addon whose format is not the one the TypeScript side
// was written for, and the TypeScript side's numbers are the addon's.
import { describe, expect, it } from 'vitest';
import { STORE_ERROR_CODES } from '../src/errors';
import { addon, format, formatProblems, type SlabFormat } from '../src/store/native';
import { LIMITS } from '../src/store/schema';

const changed = (patch: (f: SlabFormat) => void): SlabFormat => {
  const f = structuredClone(addon.format) as SlabFormat;
  patch(f);
  return f;
};

describe('the slab format the addon exports', () => {
  it('is the one this TypeScript was written for, and what the store uses', () => {
    expect(formatProblems(addon.format)).toEqual([]);
    expect(format.errorCodes.slice().sort()).toEqual([...STORE_ERROR_CODES].sort());
    expect(LIMITS.maxSeries).toBe(format.limits.maxSeries);
    expect(LIMITS.slots).toBe(format.limits.slots);
    expect(Object.isFrozen(format) && Object.isFrozen(format.offsets)).toBe(true);
  });

  it('an addon of another version or layout is refused, saying what differs', () => {
    expect(formatProblems(undefined)).toEqual([expect.stringContaining('exports no slab format')]);
    expect(formatProblems(changed((f) => (f.formatVersion = 1)))).toEqual([expect.stringContaining('slab format version 1, this rondo reads version 2')]);
    expect(formatProblems(changed((f) => (f.offsets.head = 132)))).toEqual([expect.stringContaining('counter head at byte 132')]);
    expect(formatProblems(changed((f) => (f.rowStampWord = 1)))).toEqual(expect.arrayContaining([expect.stringContaining('row stamp at word 1')]));
    expect(formatProblems(changed((f) => (f.aggregates.last = 4)))).toEqual([expect.stringContaining('aggregate numbers')]);
    expect(formatProblems(changed((f) => f.errorCodes.push('RONDO_NEW')))).toEqual([expect.stringContaining('error codes')]);
  });
});
