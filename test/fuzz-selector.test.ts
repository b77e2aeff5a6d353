// Selector regexes are matched by rondo's linear-time matcher (src/selector/parse.ts), not by V8's
// backtracking RegExp (docs/reliability.md, "Security"). This checks that the two agree on which
// strings match: random regexes built from literals, `.`, classes, escapes, Unicode, groups,
// alternation, every quantifier (lazy ones too), `^`, `$`, `\b`, `\B`, with and without (?i),
// against random strings.
import { describe, expect, it } from 'vitest';
import { suiteSeed, xorshift32 } from './fixtures/random';
import { parseSelector } from '../src/index';

// RONDO_FUZZ_SEED replays a run; CI runs use 4000 (fixtures/random.js).
const SEED = suiteSeed('RONDO_FUZZ_SEED', 4000, 'fuzz-selector');
const REGEXES = 4000;
const STRINGS = 12;

const ATOMS = ['a', 'b', 'ab', '.', '[ab]', '[^a]', '\\d', '\\w', '\\s', '\\W', 'é', '\u{1F600}', '[a-c]', '\\.', 'A', '\\u0061', '\\x62', '\\u{1F600}', '\\p{L}', '\\P{L}', '[\\d_]', '[^\\s]', '\\b', '\\B', '^', '$', 'K', 'ſ'];
const QUANTIFIERS = ['*', '+', '?', '{2}', '{1,3}', '{0,}', '{2,}', '*?', '+?', '??', '{1,2}?'];
const CHARS = ['a', 'b', 'c', 'A', 'B', '1', ' ', '_', '.', 'é', 'É', '\u{1F600}', '\n', 'K', 'k', 's', 'S', 'ſ', '\u212a'];

describe(`regex matching in linear time agrees with JavaScript's RegExp (seed ${SEED})`, () => {
  it(`${REGEXES} random regexes × ${STRINGS} strings: the same answer for every pair`, () => {
    const random = xorshift32(SEED);
    const pick = <T>(a: readonly T[]): T => a[Math.floor(random() * a.length)]!;
    const gen = (depth: number): string => {
      const r = random();
      if (depth > 3 || r < 0.35) return pick(ATOMS);
      if (r < 0.55) return gen(depth + 1) + gen(depth + 1);
      if (r < 0.7) return `(?:${gen(depth + 1)}|${gen(depth + 1)})`;
      if (r < 0.78) return `(${gen(depth + 1)})`;
      if (r < 0.82) return `(?<n${depth}>${gen(depth + 1)})`;
      return `(?:${gen(depth + 1)})${pick(QUANTIFIERS)}`;
    };
    let compared = 0;
    const mismatches: string[] = [];
    for (let i = 0; i < REGEXES; i++) {
      const body = gen(0);
      const caseless = random() < 0.25;
      const flags = caseless ? 'ui' : 'u';
      let v8: RegExp;
      try {
        v8 = new RegExp(`^(?:${body})$`, flags);
        new RegExp(body, flags);
      } catch {
        continue; // not a regex at all (e.g. a quantified assertion): refused by both
      }
      const selector = parseSelector(`m{x=~${JSON.stringify((caseless ? '(?i)' : '') + body)}}`);
      for (let j = 0; j < STRINGS; j++) {
        let s = '';
        for (let n = Math.floor(random() * 7); n > 0; n--) s += pick(CHARS);
        const want = v8.test(s);
        const got = selector.matches('m', { x: s });
        compared++;
        if (want !== got && mismatches.length < 10) mismatches.push(`/${body}/${flags} on ${JSON.stringify(s)}: RegExp ${want}, rondo ${got}`);
      }
    }
    expect(mismatches).toEqual([]);
    expect(compared).toBeGreaterThan(REGEXES * STRINGS * 0.8);
  }, 60_000);
});
