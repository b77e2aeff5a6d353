/**
 * Prometheus instant-vector selectors: `metric{label="value", other=~"re.*"}`.
 *
 * The syntax is PromQL's, without range, offset or `@` modifiers. Positions in errors are
 * 0-based offsets in UTF-16 code units (JavaScript string indices) into the selector text.
 */
import { InvalidSelectorError } from '../errors';
import { LinearRegex, RegexRefusal } from './regex';

export type MatchOp = '=' | '!=' | '=~' | '!~';

export interface LabelMatcher {
  readonly name: string;
  readonly op: MatchOp;
  /** The literal value, or for `=~` / `!~` the regex as written (without the implicit anchors). */
  readonly value: string;
}

export interface Selector {
  /** The selector text as given. */
  readonly source: string;
  /** The matchers, the metric name (if written outside braces) first as `__name__ = name`. */
  readonly matchers: readonly LabelMatcher[];
  /** True when the series `name{labels}` satisfies every matcher; a missing label counts as "". */
  matches(name: string, labels: Readonly<Record<string, string>>): boolean;
}

/** Longest selector text accepted, in UTF-16 code units. */
export const MAX_SELECTOR_LENGTH = 16 * 1024;
/** Longest regex accepted in a `=~` / `!~` matcher, in UTF-16 code units of the decoded string. */
export const MAX_REGEX_LENGTH = 4 * 1024;
/**
 * Flags for compiled regexes. 'u' gives code-point semantics like RE2. No 's': `.` does not match
 * a newline, as in Prometheus 2.x (Prometheus 3 matches newlines with `.`; add 's' to follow it).
 */
const REGEX_FLAGS = 'u';

const METRIC_NAME_START = /[a-zA-Z_:]/;
const METRIC_NAME_CHAR = /[a-zA-Z0-9_:]/;
const LABEL_NAME_START = /[a-zA-Z_]/;
const LABEL_NAME_CHAR = /[a-zA-Z0-9_]/;

const NAME_LABEL = '__name__';

/** How much of a long selector to show on each side of the caret. */
const CONTEXT_CHARS = 60;

interface CompiledMatcher {
  readonly name: string;
  readonly test: (value: string) => boolean;
}

export function parseSelector(text: string): Selector {
  if (typeof text !== 'string') {
    throw new InvalidSelectorError(
      `invalid selector: expected a string, got ${text === null ? 'null' : typeof text}`,
      String(text),
      0,
    );
  }
  return new Parser(text).parse();
}

/**
 * `name{a="x",b="y"}` with labels sorted by name and values escaped as in the Prometheus text
 * format (`\\`, `\"`, `\n`); just `name` when there are no labels.
 */
export function formatSeries(name: string, labels: Readonly<Record<string, string>>): string {
  const names = Object.keys(labels).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (names.length === 0) return name;
  const parts = names.map((k) => `${k}="${escapeLabelValue(labels[k] as string)}"`);
  return `${name}{${parts.join(',')}}`;
}

function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`));
}

class ParsedSelector implements Selector {
  readonly source: string;
  readonly matchers: readonly LabelMatcher[];
  readonly #compiled: readonly CompiledMatcher[];

  constructor(source: string, matchers: readonly LabelMatcher[], compiled: readonly CompiledMatcher[]) {
    this.source = source;
    this.matchers = Object.freeze(matchers.slice());
    this.#compiled = compiled;
  }

  matches(name: string, labels: Readonly<Record<string, string>>): boolean {
    for (const m of this.#compiled) {
      let value: string;
      if (m.name === NAME_LABEL) {
        value = name;
      } else if (Object.hasOwn(labels, m.name)) {
        value = labels[m.name] ?? '';
      } else {
        value = '';
      }
      if (!m.test(value)) return false;
    }
    return true;
  }

  toString(): string {
    return this.source;
  }
}

class Parser {
  private pos = 0;
  private readonly matchers: LabelMatcher[] = [];
  private readonly compiled: CompiledMatcher[] = [];

  constructor(private readonly text: string) {}

  parse(): Selector {
    const text = this.text;
    if (text.length > MAX_SELECTOR_LENGTH) {
      this.fail(
        `selector is ${text.length} characters long; the limit is ${MAX_SELECTOR_LENGTH} (16 KiB)`,
        MAX_SELECTOR_LENGTH,
      );
    }

    this.skipSpace();
    let metricName: string | undefined;
    let braceAt = -1;

    if (this.atEnd()) {
      this.fail('expected a metric name or \'{\', but the selector is empty', this.pos);
    }

    if (METRIC_NAME_START.test(this.peek())) {
      const start = this.pos;
      metricName = this.readName(METRIC_NAME_CHAR);
      this.addMatcher({ name: NAME_LABEL, op: '=', value: metricName }, start);
      this.skipSpace();
    }

    if (!this.atEnd() && this.peek() === '{') {
      braceAt = this.pos;
      this.pos++;
      this.parseMatchers(metricName);
      this.skipSpace();
    } else if (metricName === undefined) {
      this.fail(`expected a metric name or '{' ${this.foundHere()}`, this.pos);
    }

    if (!this.atEnd()) {
      const what = braceAt >= 0 ? "after '}'" : `after metric name ${JSON.stringify(metricName)}`;
      const hint = braceAt >= 0 ? undefined : 'label matchers go in braces, e.g. name{label="value"}';
      this.fail(`expected the end of the selector ${what} ${this.foundHere()}`, this.pos, hint);
    }

    const anyNonEmpty = this.compiled.some((m) => !m.test(''));
    if (!anyNonEmpty) {
      this.fail(
        'a selector needs a metric name or at least one label matcher that does not match the empty string',
        braceAt >= 0 ? braceAt : 0,
        'this one would select every series (e.g. write {job="vmm"} or {__name__=~"vcpu_.*"})',
      );
    }

    return new ParsedSelector(text, this.matchers, this.compiled);
  }

  /** After '{': matchers separated by commas, an optional trailing comma, then '}'. */
  private parseMatchers(metricName: string | undefined): void {
    for (;;) {
      this.skipSpace();
      if (this.atEnd()) {
        this.fail(`expected a label name or '}' ${this.foundHere()}`, this.pos);
      }
      if (this.peek() === '}') {
        this.pos++;
        return;
      }
      this.parseMatcher(metricName);
      this.skipSpace();
      if (this.atEnd()) {
        this.fail(`expected ',' or '}' after the label matcher ${this.foundHere()}`, this.pos);
      }
      const c = this.peek();
      if (c === ',') {
        this.pos++;
        continue;
      }
      if (c === '}') {
        this.pos++;
        return;
      }
      this.fail(`expected ',' or '}' after the label matcher ${this.foundHere()}`, this.pos);
    }
  }

  private parseMatcher(metricName: string | undefined): void {
    const nameAt = this.pos;
    if (!LABEL_NAME_START.test(this.peek())) {
      const hint = /[0-9:]/.test(this.peek())
        ? "label names start with a letter or '_' and contain only letters, digits and '_'"
        : undefined;
      this.fail(`expected a label name or '}' ${this.foundHere()}`, nameAt, hint);
    }
    const name = this.readName(LABEL_NAME_CHAR);
    if (name === NAME_LABEL && metricName !== undefined) {
      this.fail(
        `metric name is set twice: ${JSON.stringify(metricName)} before the braces and ${NAME_LABEL} inside them`,
        nameAt,
      );
    }
    this.skipSpace();

    const opAt = this.pos;
    const op = this.readOp();
    if (op === undefined) {
      if (!this.atEnd() && this.peek() === ':') {
        this.fail(
          `label name ${JSON.stringify(name + ':')} contains ':', which only metric names may contain`,
          this.pos,
        );
      }
      this.fail(
        `expected '=', '!=', '=~' or '!~' after label name ${JSON.stringify(name)} ${this.foundHere()}`,
        opAt,
      );
    }
    this.skipSpace();

    const valueAt = this.pos;
    if (this.atEnd() || !isQuote(this.peek())) {
      this.fail(
        `expected a quoted string after ${JSON.stringify(name)}${op} ${this.foundHere()}`,
        valueAt,
        'values are written in double quotes, single quotes or backticks',
      );
    }
    const value = this.readString();
    this.addMatcher({ name, op, value }, valueAt);
  }

  private readOp(): MatchOp | undefined {
    const t = this.text;
    const c = t[this.pos];
    const n = t[this.pos + 1];
    if (c === '=') {
      if (n === '~') {
        this.pos += 2;
        return '=~';
      }
      if (n === '=') {
        this.fail("unexpected '==': label matchers use a single '='", this.pos);
      }
      this.pos += 1;
      return '=';
    }
    if (c === '!') {
      if (n === '=') {
        this.pos += 2;
        return '!=';
      }
      if (n === '~') {
        this.pos += 2;
        return '!~';
      }
    }
    return undefined;
  }

  private addMatcher(m: LabelMatcher, at: number): void {
    const matcher: LabelMatcher = Object.freeze({ name: m.name, op: m.op, value: m.value });
    this.matchers.push(matcher);
    this.compiled.push({ name: m.name, test: this.compile(matcher, at) });
  }

  private compile(m: LabelMatcher, at: number): (value: string) => boolean {
    const v = m.value;
    switch (m.op) {
      case '=':
        return (s) => s === v;
      case '!=':
        return (s) => s !== v;
      case '=~':
      case '!~': {
        if (v.length > MAX_REGEX_LENGTH) {
          this.fail(
            `regex for ${JSON.stringify(m.name)} is ${v.length} characters long; the limit is ${MAX_REGEX_LENGTH} (4 KiB)`,
            at,
          );
        }
        // A leading (?i), common in PromQL, becomes the 'i' flag; JavaScript has no inline flags.
        const caseless = v.startsWith('(?i)');
        const body = caseless ? v.slice(4) : v;
        const flags = caseless ? `${REGEX_FLAGS}i` : REGEX_FLAGS;
        try {
          // Checked by V8 first, for its syntax and its messages; a valid regex has balanced
          // groups, so anchoring it cannot be broken out of (e.g. 'x)|(.*' is refused).
          new RegExp(body, flags);
        } catch (err) {
          const text = err instanceof Error ? err.message : String(err);
          const reason = /^Invalid regular expression: \/[\s\S]*\/[a-z]*: (.*)$/.exec(text)?.[1] ?? text;
          this.fail(
            `invalid regex for ${JSON.stringify(m.name)}: ${reason}`,
            at,
            'regexes are JavaScript regexes, anchored at both ends; a leading (?i) is the only inline flag',
          );
        }
        let re: LinearRegex;
        try {
          re = new LinearRegex(body, flags);
        } catch (err) {
          if (!(err instanceof RegexRefusal)) throw err;
          this.fail(`regex for ${JSON.stringify(m.name)} ${err.message}`, at, err.hint);
        }
        return m.op === '=~' ? (s) => re.test(s) : (s) => !re.test(s);
      }
    }
  }

  /** Reads a quoted string starting at the opening quote; returns its decoded value. */
  private readString(): string {
    const t = this.text;
    const start = this.pos;
    const quote = t[start] as string;
    this.pos++;

    if (quote === '`') {
      const end = t.indexOf('`', this.pos);
      if (end < 0) this.fail("unterminated string: expected a closing '`'", start);
      const raw = t.slice(this.pos, end);
      this.pos = end + 1;
      // As in Go, carriage returns inside a raw string are dropped.
      return raw.replace(/\r/g, '');
    }

    // \x and octal escapes are bytes, as in Go: consecutive ones must form valid UTF-8.
    const parts: string[] = [];
    const pending: number[] = [];
    const flush = (): void => {
      if (pending.length === 0) return;
      try {
        parts.push(UTF8.decode(Uint8Array.from(pending)));
      } catch {
        this.fail('string escapes produce invalid UTF-8 (\\x and octal escapes are bytes)', start);
      }
      pending.length = 0;
    };
    let plainFrom = this.pos;
    for (;;) {
      if (this.atEnd()) {
        this.fail(`unterminated string: expected a closing ${quote} before the end of the selector`, start);
      }
      const c = t[this.pos] as string;
      if (c === quote || c === '\\') {
        if (plainFrom < this.pos) {
          flush();
          parts.push(t.slice(plainFrom, this.pos));
        }
        if (c === quote) {
          flush();
          this.pos++;
          return parts.join('');
        }
        this.readEscape(parts, pending, flush);
        plainFrom = this.pos;
        continue;
      }
      if (c === '\n') {
        this.fail(`unterminated string: a newline inside ${quote}...${quote}`, this.pos, 'write it as \\n');
      }
      this.pos++;
    }
  }

  /** At a backslash inside a quoted string: appends the escaped character (or byte). */
  private readEscape(parts: string[], pending: number[], flush: () => void): void {
    const t = this.text;
    const at = this.pos;
    this.pos++;
    if (this.atEnd()) this.fail('unterminated escape sequence at the end of the selector', at);
    const c = t[this.pos] as string;
    const simple = SIMPLE_ESCAPES[c];
    if (simple !== undefined) {
      flush();
      parts.push(simple);
      this.pos++;
      return;
    }
    if (c >= '0' && c <= '7') {
      const digits = t.slice(this.pos, this.pos + 3);
      if (!/^[0-7]{3}$/.test(digits)) {
        this.fail("invalid octal escape: expected three octal digits after '\\'", at, 'e.g. \\101 for "A"');
      }
      const v = parseInt(digits, 8);
      if (v > 255) this.fail(`invalid octal escape \\${digits}: the largest is \\377`, at);
      pending.push(v);
      this.pos += 3;
      return;
    }
    const hexLen = c === 'x' ? 2 : c === 'u' ? 4 : c === 'U' ? 8 : 0;
    if (hexLen > 0) {
      const digits = t.slice(this.pos + 1, this.pos + 1 + hexLen);
      if (digits.length !== hexLen || !/^[0-9a-fA-F]+$/.test(digits)) {
        this.fail(`invalid escape: expected ${hexLen} hex digits after '\\${c}'`, at);
      }
      const v = parseInt(digits, 16);
      this.pos += 1 + hexLen;
      if (c === 'x') {
        pending.push(v);
        return;
      }
      if (v > 0x10ffff || (v >= 0xd800 && v < 0xe000)) {
        this.fail(`invalid escape \\${c}${digits}: not a valid Unicode code point`, at);
      }
      flush();
      parts.push(String.fromCodePoint(v));
      return;
    }
    const shown = isControl(c.charCodeAt(0)) ? `U+${hex4(c.charCodeAt(0))}` : `'\\${String.fromCodePoint(t.codePointAt(this.pos) as number)}'`;
    this.fail(
      `unknown escape sequence ${shown} in a string`,
      at,
      'write \\\\ for a backslash, or use a backtick string for a raw value',
    );
  }

  private readName(rest: RegExp): string {
    const start = this.pos;
    this.pos++;
    while (!this.atEnd() && rest.test(this.peek())) this.pos++;
    return this.text.slice(start, this.pos);
  }

  private skipSpace(): void {
    const t = this.text;
    while (this.pos < t.length) {
      const c = t.charCodeAt(this.pos);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) {
        this.pos++;
      } else if (c < 0x20 || c === 0x7f) {
        this.fail(`control character U+${hex4(c)} is not allowed outside a string`, this.pos);
      } else {
        return;
      }
    }
  }

  private atEnd(): boolean {
    return this.pos >= this.text.length;
  }

  private peek(): string {
    return this.text[this.pos] as string;
  }

  /** "but found X at" — completed by fail()'s " at position N". */
  private foundHere(): string {
    if (this.atEnd()) return 'but the selector ended';
    const cp = this.text.codePointAt(this.pos) as number;
    if (cp < 0x20 || cp === 0x7f) return `but found control character U+${hex4(cp)}`;
    return `but found ${JSON.stringify(String.fromCodePoint(cp))}`;
  }

  /** Throws; the first line reads "invalid selector: <what> at position N[; <hint>]". */
  private fail(what: string, position: number, hint?: string): never {
    const sentence = `invalid selector: ${what} at position ${position}${hint === undefined ? '' : `; ${hint}`}`;
    throw new InvalidSelectorError(`${sentence}\n${caretLines(this.text, position)}`, this.text, position);
  }
}

const SIMPLE_ESCAPES: Readonly<Record<string, string>> = {
  a: '\x07',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
  '\\': '\\',
  '"': '"',
  "'": "'",
};

const UTF8 = new TextDecoder('utf-8', { fatal: true });

function isQuote(c: string): boolean {
  return c === '"' || c === "'" || c === '`';
}

function hex4(n: number): string {
  return n.toString(16).toUpperCase().padStart(4, '0');
}

function isControl(code: number): boolean {
  return code < 0x20 || code === 0x7f;
}

/**
 * Two lines: the selector (indented two spaces, control characters shown as spaces, long ones cut
 * to a window around the position) and a caret under the position.
 */
function caretLines(text: string, position: number): string {
  let from = 0;
  let to = text.length;
  if (text.length > CONTEXT_CHARS * 2) {
    from = Math.max(0, position - CONTEXT_CHARS);
    to = Math.min(text.length, position + CONTEXT_CHARS);
  }
  const prefix = from > 0 ? '…' : '';
  const suffix = to < text.length ? '…' : '';
  const shown = text.slice(from, to).replace(/[\u0000-\u001f\u007f]/g, ' ');
  const column = prefix.length + Math.max(0, position - from);
  return `  ${prefix}${shown}${suffix}\n  ${' '.repeat(column)}^`;
}
