import { describe, it, expect } from 'vitest';
import { InvalidSelectorError } from '../src/errors';
import { parseSelector, formatSeries } from '../src/selector/index';

/** Parses `text`, expecting an InvalidSelectorError, and returns it. */
function errorOf(text: string): InvalidSelectorError {
  try {
    parseSelector(text);
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidSelectorError);
    return err as InvalidSelectorError;
  }
  throw new Error(`expected ${JSON.stringify(text)} to be refused`);
}

/** The first line of an error's message: what a CLI prints alone. */
function firstLine(err: Error): string {
  return err.message.split('\n')[0] as string;
}

describe('parseSelector: forms', () => {
  it('turns a bare metric name into a __name__ = matcher', () => {
    const s = parseSelector('vcpu_exits_total');
    expect(s.source).toBe('vcpu_exits_total');
    expect(s.matchers).toEqual([{ name: '__name__', op: '=', value: 'vcpu_exits_total' }]);
  });

  it('accepts colons in metric names', () => {
    const s = parseSelector('job:vcpu_exits:rate5m');
    expect(s.matchers[0]?.value).toBe('job:vcpu_exits:rate5m');
  });

  it('accepts empty braces after a metric name', () => {
    expect(parseSelector('up{}').matchers).toEqual([{ name: '__name__', op: '=', value: 'up' }]);
  });

  it('puts the metric name first, then label matchers in written order, with every op', () => {
    const s = parseSelector('m{a="x", b!="y", c=~"re", d!~"re"}');
    expect(s.matchers).toEqual([
      { name: '__name__', op: '=', value: 'm' },
      { name: 'a', op: '=', value: 'x' },
      { name: 'b', op: '!=', value: 'y' },
      { name: 'c', op: '=~', value: 're' },
      { name: 'd', op: '!~', value: 're' },
    ]);
  });

  it('accepts the {__name__="m"} form and __name__ regexes', () => {
    const s = parseSelector('{__name__="m", a="x"}');
    expect(s.matchers).toEqual([
      { name: '__name__', op: '=', value: 'm' },
      { name: 'a', op: '=', value: 'x' },
    ]);
    const r = parseSelector('{__name__=~"vcpu_.*"}');
    expect(r.matches('vcpu_exits_total', {})).toBe(true);
    expect(r.matches('vcpu_halt_ns', { vm: 'a' })).toBe(true);
    expect(r.matches('mem_bytes', {})).toBe(false);
  });

  it('allows a trailing comma and whitespace anywhere between tokens', () => {
    const s = parseSelector(' \t m \n{ a = "x" ,\r\n b !~ "y" , } ');
    expect(s.matchers).toEqual([
      { name: '__name__', op: '=', value: 'm' },
      { name: 'a', op: '=', value: 'x' },
      { name: 'b', op: '!~', value: 'y' },
    ]);
  });

  it('returns frozen matchers', () => {
    const s = parseSelector('m{a="x"}');
    expect(Object.isFrozen(s.matchers)).toBe(true);
    expect(Object.isFrozen(s.matchers[1])).toBe(true);
  });
});

describe('parseSelector: string literals', () => {
  it('accepts double quotes, single quotes and backticks', () => {
    const s = parseSelector(`m{a="x", b='y', c=\`z\`}`);
    expect(s.matchers.slice(1).map((m) => m.value)).toEqual(['x', 'y', 'z']);
  });

  it('decodes the simple Go escapes', () => {
    const s = parseSelector(String.raw`m{a="\\ \" \' \n \t \r \a \b \f \v"}`);
    expect(s.matchers[1]?.value).toBe('\\ " \' \n \t \r \x07 \b \f \v');
    const q = parseSelector(String.raw`m{a='it\'s \"q\"'}`);
    expect(q.matchers[1]?.value).toBe(`it's "q"`);
  });

  it('decodes \\x, \\u, \\U and octal escapes, combining byte escapes as UTF-8', () => {
    const s = parseSelector(String.raw`m{a="\x41\u00e9\U0001F600\101", b="\xc3\xa9", c="\303\251"}`);
    expect(s.matchers.slice(1).map((m) => m.value)).toEqual(['A\u00e9\u{1F600}A', '\u00e9', '\u00e9']);
  });

  it('keeps backslashes in backtick strings (no escapes) and allows newlines in them', () => {
    const s = parseSelector('m{path=~`C:\\\\dir\\.d`, note=`two\nlines`}');
    expect(s.matchers[1]?.value).toBe('C:\\\\dir\\.d');
    expect(s.matchers[2]?.value).toBe('two\nlines');
    expect(s.matches('m', { path: 'C:\\dir.d', note: 'two\nlines' })).toBe(true);
  });

  it('keeps non-ASCII text and unescaped control characters inside strings', () => {
    const s = parseSelector('m{vm="déjà-vu 😀", raw="a\u0001b"}');
    expect(s.matches('m', { vm: 'déjà-vu 😀', raw: 'a\u0001b' })).toBe(true);
  });
});

describe('Selector.matches', () => {
  const labels = { vm: 'web-1', reason: 'io', cpu: '3' };

  it('= and != compare the whole value', () => {
    expect(parseSelector('m{reason="io"}').matches('m', labels)).toBe(true);
    expect(parseSelector('m{reason="i"}').matches('m', labels)).toBe(false);
    expect(parseSelector('m{reason!="io"}').matches('m', labels)).toBe(false);
    expect(parseSelector('m{reason!="mmio"}').matches('m', labels)).toBe(true);
  });

  it('checks the metric name against __name__', () => {
    const s = parseSelector('vcpu_exits_total{reason="io"}');
    expect(s.matches('vcpu_exits_total', labels)).toBe(true);
    expect(s.matches('vcpu_halt_total', labels)).toBe(false);
  });

  it('requires every matcher to hold', () => {
    const s = parseSelector('m{reason="io", vm="web-2"}');
    expect(s.matches('m', labels)).toBe(false);
    expect(s.matches('m', { ...labels, vm: 'web-2' })).toBe(true);
  });

  it('anchors regexes at both ends: =~"io" does not match "mmio" or "iox"', () => {
    const s = parseSelector('m{reason=~"io"}');
    expect(s.matches('m', { reason: 'io' })).toBe(true);
    expect(s.matches('m', { reason: 'mmio' })).toBe(false);
    expect(s.matches('m', { reason: 'iox' })).toBe(false);
    const n = parseSelector('m{reason!~"io"}');
    expect(n.matches('m', { reason: 'mmio' })).toBe(true);
    expect(n.matches('m', { reason: 'io' })).toBe(false);
  });

  it('anchors the whole alternation, not just its ends', () => {
    const s = parseSelector('m{reason=~"io|mmio"}');
    expect(s.matches('m', { reason: 'mmio' })).toBe(true);
    expect(s.matches('m', { reason: 'iofoo' })).toBe(false);
    expect(s.matches('m', { reason: 'foommio' })).toBe(false);
  });

  it('treats a leading (?i) as case-insensitive matching, as RE2 does', () => {
    const s = parseSelector('m{reason=~"(?i)io|mmio"}');
    expect(s.matchers[1]?.value).toBe('(?i)io|mmio');
    expect(s.matches('m', { reason: 'IO' })).toBe(true);
    expect(s.matches('m', { reason: 'MmIo' })).toBe(true);
    expect(s.matches('m', { reason: 'xio' })).toBe(false);
    expect(parseSelector('m{reason=~"io"}').matches('m', { reason: 'IO' })).toBe(false);
  });

  it('matches by code point, so . matches one emoji', () => {
    expect(parseSelector('m{a=~"x.y"}').matches('m', { a: 'x\u{1F600}y' })).toBe(true);
  });

  it('keeps the regex value as written, without the anchors', () => {
    expect(parseSelector('m{a=~"x|y"}').matchers[1]).toEqual({ name: 'a', op: '=~', value: 'x|y' });
  });

  it('does not let . match a newline (RE2 default)', () => {
    const s = parseSelector('m{a=~"x.y"}');
    expect(s.matches('m', { a: 'x-y' })).toBe(true);
    expect(s.matches('m', { a: 'x\ny' })).toBe(false);
  });

  it('treats a missing label as the empty string', () => {
    expect(parseSelector('m{zone=""}').matches('m', labels)).toBe(true);
    expect(parseSelector('m{zone=""}').matches('m', { zone: 'a' })).toBe(false);
    expect(parseSelector('m{zone!=""}').matches('m', labels)).toBe(false);
    expect(parseSelector('m{zone!=""}').matches('m', { zone: 'a' })).toBe(true);
    expect(parseSelector('m{zone!="a"}').matches('m', labels)).toBe(true);
    expect(parseSelector('m{zone=~"a|"}').matches('m', labels)).toBe(true);
    expect(parseSelector('m{zone=~".+"}').matches('m', labels)).toBe(false);
    expect(parseSelector('m{zone!~".+"}').matches('m', labels)).toBe(true);
  });

  it('does not read inherited properties as labels', () => {
    expect(parseSelector('m{constructor=""}').matches('m', {})).toBe(true);
    expect(parseSelector('m{toString!=""}').matches('m', {})).toBe(false);
  });
});

describe('parseSelector: empty-matching selectors are refused', () => {
  it('refuses {} with a message saying a non-empty matcher is needed', () => {
    const err = errorOf('{}');
    expect(err.position).toBe(0);
    expect(firstLine(err)).toMatch(
      /^invalid selector: a selector needs a metric name or at least one label matcher that does not match the empty string at position 0; this one would select every series/,
    );
  });

  it('refuses selectors whose every matcher matches ""', () => {
    for (const text of ['{a=""}', '{a!="x"}', '{a=~".*"}', '{a!~"x"}', '{a="", b=~"x?"}']) {
      expect(errorOf(text).message).toMatch(/does not match the empty string/);
    }
  });

  it('points at the brace when there is leading whitespace', () => {
    expect(errorOf('  {a=""}').position).toBe(2);
  });

  it('accepts a selector once one matcher needs a non-empty value', () => {
    expect(() => parseSelector('{a="", b="x"}')).not.toThrow();
    expect(() => parseSelector('{a=~".+"}')).not.toThrow();
    expect(() => parseSelector('{a!=""}')).not.toThrow();
    expect(() => parseSelector('m{a=""}')).not.toThrow();
  });
});

describe('parseSelector: syntax errors give the position of the fault', () => {
  it('shows the selector and a caret under the fault', () => {
    const err = errorOf('vcpu_exits_total{reason~"io"}');
    expect(err.position).toBe(23);
    expect(err.selector).toBe('vcpu_exits_total{reason~"io"}');
    expect(err.message).toBe(
      `invalid selector: expected '=', '!=', '=~' or '!~' after label name "reason" but found "~" at position 23\n` +
        '  vcpu_exits_total{reason~"io"}\n' +
        `  ${' '.repeat(23)}^`,
    );
  });

  const cases: Array<[text: string, position: number, first: RegExp]> = [
    ['', 0, /expected a metric name or '\{', but the selector is empty at position 0/],
    ['   ', 3, /expected a metric name or '\{'/],
    ['9m', 0, /expected a metric name or '\{' but found "9" at position 0/],
    ['m{a="x"', 7, /expected ',' or '\}' after the label matcher but the selector ended at position 7/],
    ['m{', 2, /expected a label name or '\}' but the selector ended/],
    ['m{a="x" b="y"}', 8, /expected ',' or '\}' after the label matcher but found "b"/],
    ['m{a="x",,}', 8, /expected a label name or '\}' but found ","/],
    ['m{1a="x"}', 2, /expected a label name .*label names start with a letter/],
    ['m{a:b="x"}', 3, /contains ':', which only metric names may contain/],
    ['m{a}', 3, /expected '=', '!=', '=~' or '!~' after label name "a" but found "\}"/],
    ['m{a=="x"}', 3, /unexpected '=='/],
    ['m{a=x}', 4, /expected a quoted string after "a"= but found "x" at position 4; values are written in/],
    ['m{a=}', 4, /expected a quoted string/],
    ['m{a="x}', 4, /unterminated string: expected a closing "/],
    ["m{a='x}", 4, /unterminated string: expected a closing '/],
    ['m{a=`x}', 4, /unterminated string: expected a closing '`'/],
    ['m{a="x\ny"}', 6, /unterminated string: a newline inside/],
    ['m{a="\\q"}', 5, /unknown escape sequence '\\q' in a string at position 5; write \\\\ for a backslash/],
    ['m{a="\\x4"}', 5, /expected 2 hex digits after '\\x'/],
    ['m{a="\\u12"}', 5, /expected 4 hex digits after '\\u'/],
    ['m{a="\\U0000"}', 5, /expected 8 hex digits after '\\U'/],
    ['m{a="\\uD800"}', 5, /not a valid Unicode code point/],
    ['m{a="\\U00110000"}', 5, /not a valid Unicode code point/],
    ['m{a="\\12"}', 5, /three octal digits/],
    ['m{a="\\400"}', 5, /the largest is \\377/],
    ['m{a="\\xff"}', 4, /invalid UTF-8/],
    ['m{a="x"} extra', 9, /expected the end of the selector after '\}' but found "e"/],
    ['m n', 2, /expected the end of the selector after metric name "m"/],
    ['m{a="x"}}', 8, /expected the end of the selector/],
    ['m-1', 1, /after metric name "m" but found "-"/],
    ['m{__name__="n"}', 2, /metric name is set twice/],
    ['m{b="x", a=~"("}', 12, /invalid regex for "a": Unterminated group at position 12/],
    // Must not be wrapped into the valid but unanchored '^(?:x)|(.*)$'.
    ['m{a=~"x)|(.*"}', 5, /invalid regex for "a"/],
    ['m{a=~"[[:alpha:]]"}', 5, /invalid regex for "a"/],
    ['m{a=~"(?s)x"}', 5, /a leading \(\?i\) is the only inline flag/],
  ];
  for (const [text, position, first] of cases) {
    it(`refuses ${JSON.stringify(text)} at position ${position}`, () => {
      const err = errorOf(text);
      expect(err.position).toBe(position);
      expect(err.selector).toBe(text);
      const line = firstLine(err);
      expect(line).toMatch(/^invalid selector: /);
      expect(line).toMatch(first);
      expect(line).toMatch(new RegExp(`at position ${position}(; .*)?$`));
      const caret = err.message.split('\n')[2] as string;
      expect(caret.indexOf('^') - 2).toBe(position);
    });
  }
});

describe('parseSelector: bounds against hostile input', () => {
  it('refuses selectors longer than 16 KiB, saying the limit', () => {
    const text = `m{a="${'x'.repeat(16 * 1024)}"}`;
    const err = errorOf(text);
    expect(firstLine(err)).toMatch(/the limit is 16384 \(16 KiB\)/);
    expect(err.position).toBe(16384);
    // The message shows a window around the fault, not 16 KiB of selector.
    expect(err.message.length).toBeLessThan(400);
  });

  it('accepts a selector of exactly 16 KiB', () => {
    const text = `m{a="${'x'.repeat(16 * 1024 - 7)}"}`;
    expect(text.length).toBe(16 * 1024);
    expect(() => parseSelector(text)).not.toThrow();
  });

  it('refuses regexes longer than 4 KiB, pointing at the string and saying the limit', () => {
    const err = errorOf(`m{a=~"${'x'.repeat(4097)}"}`);
    expect(err.position).toBe(5);
    expect(firstLine(err)).toMatch(/regex for "a" is 4097 characters long; the limit is 4096 \(4 KiB\)/);
    expect(() => parseSelector(`m{a=~"${'x'.repeat(4096)}"}`)).not.toThrow();
    // Plain values are bounded only by the selector length.
    expect(() => parseSelector(`m{a="${'x'.repeat(8000)}"}`)).not.toThrow();
  });

  it('refuses control characters outside strings', () => {
    for (const [text, position, code] of [
      ['m\u0000', 1, '0000'],
      ['m{\u001ba="x"}', 2, '001B'],
      ['m{a="x"\u007f}', 7, '007F'],
      ['m{a\u0001="x"}', 3, '0001'],
    ] as const) {
      const err = errorOf(text);
      expect(err.position).toBe(position);
      expect(firstLine(err)).toContain(`control character U+${code}`);
      // The control character is not echoed raw to a terminal.
      expect(err.message).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f]/);
    }
  });
});

describe('formatSeries', () => {
  it('gives just the name when there are no labels', () => {
    expect(formatSeries('up', {})).toBe('up');
  });

  it('sorts labels by name and quotes values', () => {
    expect(formatSeries('m', { vm: 'web-1', cpu: '3', Zone: 'a' })).toBe('m{Zone="a",cpu="3",vm="web-1"}');
  });

  it('escapes backslashes, double quotes and newlines', () => {
    expect(formatSeries('m', { a: 'C:\\dir "x"\nnext' })).toBe('m{a="C:\\\\dir \\"x\\"\\nnext"}');
  });

  it('gives text that parses back to a selector matching the series', () => {
    const labels = { path: 'C:\\tmp\\"q"', note: 'a\nb', vm: 'déjà' };
    const s = parseSelector(formatSeries('m', labels));
    expect(s.matches('m', labels)).toBe(true);
    expect(s.matches('m', { ...labels, vm: 'deja' })).toBe(false);
  });
});
