/**
 * Prometheus instant-vector selectors: `metric{label="value", other=~"re.*"}`.
 *
 * The syntax is PromQL's, without range, offset or `@` modifiers. Positions in errors are
 * 0-based offsets in UTF-16 code units (JavaScript string indices) into the selector text.
 */
import { InvalidSelectorError } from './errors';

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
 * Regexes are matched in linear time (a Thompson NFA, as RE2 and so Prometheus do), never by
 * backtracking: matching a value costs at most its length times the regex's program size, which
 * is bounded here (repetitions expanded). `(a+)+b`, `(a|a)*b` or `.*.*.*.*x` cannot blow up.
 */
export const MAX_REGEX_PROGRAM = 10_000;
/** Largest count in `{n}`, `{n,}`, `{n,m}`, as in RE2. */
export const MAX_REGEX_REPEAT = 1000;
/** Deepest nesting of groups. */
export const MAX_REGEX_DEPTH = 100;

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

// ---- linear-time regex matching ----

/** A regex this matcher will not run: the reason completes "regex for "a" …". */
class RegexRefusal extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

/** Tests one code point (a literal, `.`, a class or an escape). */
type CharTest = (cp: number) => boolean;

type RegexNode =
  | { readonly t: 'char'; readonly test: CharTest }
  | { readonly t: 'cat'; readonly items: readonly RegexNode[] }
  | { readonly t: 'alt'; readonly alts: readonly RegexNode[] }
  | { readonly t: 'rep'; readonly node: RegexNode; readonly min: number; readonly max: number }
  | { readonly t: 'assert'; readonly kind: AssertKind };

type AssertKind = 'start' | 'end' | 'word' | 'notword';

const OP_CHAR = 0;
const OP_SPLIT = 1;
const OP_JMP = 2;
const OP_ASSERT = 3;
const OP_MATCH = 4;

const NO_ASSERTIONS_HINT = 'Prometheus regexes (RE2) have no lookaround or backreferences either';

/**
 * A JavaScript regex (flags 'u' or 'ui'), anchored at both ends, matched by a Pike VM: every
 * position of the value is visited once, with at most one thread per instruction. What each
 * single character matches (literals, `.`, classes, escapes, case folding) is asked of V8 itself,
 * one code point at a time, so the language matched is the one JavaScript's RegExp matches.
 * Lookaround and backreferences are refused: they are not regular.
 */
class LinearRegex {
  private readonly op: number[] = [];
  private readonly x: number[] = [];
  private readonly y: number[] = [];
  private readonly tests: Array<CharTest | undefined> = [];
  private readonly asserts: Array<AssertKind | undefined> = [];
  private readonly isWord: CharTest;
  // Reused between calls (a match never re-enters another).
  private readonly mark: Int32Array;
  private cur: Int32Array;
  private next: Int32Array;
  private readonly stack: Int32Array;
  private gen = 0;

  constructor(body: string, flags: string) {
    const parser = new RegexParser(body, flags);
    const tree = parser.parse();
    const size = programSize(tree);
    if (size > MAX_REGEX_PROGRAM)
      throw new RegexRefusal(
        `is too large once its repetitions are expanded (more than ${MAX_REGEX_PROGRAM} steps)`,
        'use smaller repetition counts, or fewer of them',
      );
    this.isWord = parser.charTest('\\w');
    this.emit(tree);
    this.push(OP_MATCH, 0, 0);
    const n = this.op.length;
    this.mark = new Int32Array(n).fill(-1);
    this.cur = new Int32Array(n);
    this.next = new Int32Array(n);
    // Each instruction, followed once per step, pushes at most two others.
    this.stack = new Int32Array(2 * n + 2);
  }

  test(s: string): boolean {
    const cps: number[] = [];
    for (let i = 0; i < s.length; ) {
      const c = s.codePointAt(i) as number;
      cps.push(c);
      i += c > 0xffff ? 2 : 1;
    }
    let ncur = this.follow(this.cur, 0, 0, cps);
    for (let p = 0; p < cps.length && ncur > 0; p++) {
      const cp = cps[p] as number;
      let nnext = 0;
      this.gen++;
      for (let i = 0; i < ncur; i++) {
        const pc = this.cur[i] as number;
        if (this.op[pc] === OP_CHAR && (this.tests[pc] as CharTest)(cp)) nnext = this.add(this.next, nnext, pc + 1, p + 1, cps);
      }
      [this.cur, this.next] = [this.next, this.cur];
      ncur = nnext;
    }
    for (let i = 0; i < ncur; i++) if (this.op[this.cur[i] as number] === OP_MATCH) return true;
    return false;
  }

  // The threads reachable from pc at position p without reading a character, into list.
  private follow(list: Int32Array, n: number, pc: number, cps: readonly number[]): number {
    this.gen++;
    return this.add(list, n, pc, 0, cps);
  }

  private add(list: Int32Array, n: number, start: number, p: number, cps: readonly number[]): number {
    const stack = this.stack;
    let sp = 0;
    stack[sp++] = start;
    while (sp > 0) {
      const pc = stack[--sp] as number;
      if (this.mark[pc] === this.gen) continue;
      this.mark[pc] = this.gen;
      switch (this.op[pc]) {
        case OP_JMP:
          stack[sp++] = this.x[pc] as number;
          break;
        case OP_SPLIT:
          // y first onto the stack so x is followed first (order does not change the answer).
          stack[sp++] = this.y[pc] as number;
          stack[sp++] = this.x[pc] as number;
          break;
        case OP_ASSERT:
          if (this.holds(this.asserts[pc] as AssertKind, p, cps)) stack[sp++] = pc + 1;
          break;
        default:
          list[n++] = pc;
      }
    }
    return n;
  }

  private holds(kind: AssertKind, p: number, cps: readonly number[]): boolean {
    if (kind === 'start') return p === 0;
    if (kind === 'end') return p === cps.length;
    const before = p > 0 && this.isWord(cps[p - 1] as number);
    const after = p < cps.length && this.isWord(cps[p] as number);
    return (before !== after) === (kind === 'word');
  }

  private push(op: number, x: number, y: number): number {
    this.op.push(op);
    this.x.push(x);
    this.y.push(y);
    this.tests.push(undefined);
    this.asserts.push(undefined);
    return this.op.length - 1;
  }

  private emit(node: RegexNode): void {
    switch (node.t) {
      case 'char':
        this.tests[this.push(OP_CHAR, 0, 0)] = node.test;
        return;
      case 'assert':
        this.asserts[this.push(OP_ASSERT, 0, 0)] = node.kind;
        return;
      case 'cat':
        for (const item of node.items) this.emit(item);
        return;
      case 'alt': {
        const jumps: number[] = [];
        node.alts.forEach((alt, i) => {
          if (i < node.alts.length - 1) {
            const split = this.push(OP_SPLIT, 0, 0);
            this.x[split] = split + 1;
            this.emit(alt);
            jumps.push(this.push(OP_JMP, 0, 0));
            this.y[split] = this.op.length;
          } else {
            this.emit(alt);
          }
        });
        for (const j of jumps) this.x[j] = this.op.length;
        return;
      }
      case 'rep': {
        for (let i = 0; i < node.min; i++) this.emit(node.node);
        if (node.max === Infinity) {
          const split = this.push(OP_SPLIT, 0, 0);
          this.x[split] = split + 1;
          this.emit(node.node);
          this.push(OP_JMP, split, 0);
          this.y[split] = this.op.length;
        } else {
          const splits: number[] = [];
          for (let i = node.min; i < node.max; i++) {
            const split = this.push(OP_SPLIT, 0, 0);
            this.x[split] = split + 1;
            splits.push(split);
            this.emit(node.node);
          }
          for (const sp of splits) this.y[sp] = this.op.length;
        }
        return;
      }
    }
  }
}

/** Instructions the program of `node` takes; stops counting once past the limit. */
function programSize(node: RegexNode): number {
  switch (node.t) {
    case 'char':
    case 'assert':
      return 1;
    case 'cat': {
      let n = 0;
      for (const item of node.items) if ((n += programSize(item)) > MAX_REGEX_PROGRAM) break;
      return n;
    }
    case 'alt': {
      let n = 2 * (node.alts.length - 1);
      for (const alt of node.alts) if ((n += programSize(alt)) > MAX_REGEX_PROGRAM) break;
      return n;
    }
    case 'rep': {
      const body = programSize(node.node);
      return node.min * body + (node.max === Infinity ? body + 2 : (node.max - node.min) * (body + 1));
    }
  }
}

const LINE_TERMINATORS = new Set([0x0a, 0x0d, 0x2028, 0x2029]);
const QUANTIFIER_RE = /\{(\d+)(,(\d*))?\}/y;

/**
 * Parses a regex that V8 has already accepted with the same flags into a tree, leaving what
 * each character matches to V8 (charTest). Only the structure is read here: alternation, groups,
 * quantifiers and assertions.
 */
class RegexParser {
  private pos = 0;
  private depth = 0;
  private readonly tests = new Map<string, CharTest>();

  constructor(
    private readonly src: string,
    private readonly flags: string,
  ) {}

  parse(): RegexNode {
    const node = this.disjunction();
    // Cannot happen for a regex V8 accepted; kept so a gap in this parser is refused, not misread.
    if (this.pos !== this.src.length) throw new RegexRefusal(`has syntax this matcher does not read at offset ${this.pos}`);
    return node;
  }

  /** The test of one character as `text` (a literal, `.`, a class or an escape) matches it. */
  charTest(text: string): CharTest {
    let t = this.tests.get(text);
    if (t !== undefined) return t;
    const caseless = this.flags.includes('i');
    const cp = text.codePointAt(0) as number;
    if (text === '.') {
      t = (c) => !LINE_TERMINATORS.has(c);
    } else if (!caseless && text.length === (cp > 0xffff ? 2 : 1) && text !== '\\') {
      t = (c) => c === cp;
    } else {
      const re = new RegExp(`^(?:${text})$`, this.flags);
      const seen = new Map<number, boolean>();
      t = (c) => {
        let r = seen.get(c);
        if (r === undefined) {
          r = re.test(String.fromCodePoint(c));
          if (seen.size < 4096) seen.set(c, r);
        }
        return r;
      };
    }
    this.tests.set(text, t);
    return t;
  }

  private peek(offset = 0): string | undefined {
    return this.src[this.pos + offset];
  }

  private disjunction(): RegexNode {
    const alts = [this.alternative()];
    while (this.peek() === '|') {
      this.pos++;
      alts.push(this.alternative());
    }
    return alts.length === 1 ? (alts[0] as RegexNode) : { t: 'alt', alts };
  }

  private alternative(): RegexNode {
    const items: RegexNode[] = [];
    for (let c = this.peek(); c !== undefined && c !== '|' && c !== ')'; c = this.peek()) items.push(this.term());
    return items.length === 1 ? (items[0] as RegexNode) : { t: 'cat', items };
  }

  private term(): RegexNode {
    const c = this.peek();
    if (c === '^' || c === '$') {
      this.pos++;
      return { t: 'assert', kind: c === '^' ? 'start' : 'end' };
    }
    if (c === '\\' && (this.peek(1) === 'b' || this.peek(1) === 'B')) {
      const kind = this.peek(1) === 'b' ? 'word' : 'notword';
      this.pos += 2;
      return { t: 'assert', kind };
    }
    let node = this.atom();
    for (let q = this.quantifier(); q !== undefined; q = this.quantifier()) node = { t: 'rep', node, ...q };
    return node;
  }

  private quantifier(): { min: number; max: number } | undefined {
    const c = this.peek();
    let min: number;
    let max: number;
    if (c === '*' || c === '+' || c === '?') {
      this.pos++;
      [min, max] = c === '*' ? [0, Infinity] : c === '+' ? [1, Infinity] : [0, 1];
    } else if (c === '{') {
      QUANTIFIER_RE.lastIndex = this.pos;
      const m = QUANTIFIER_RE.exec(this.src);
      if (m === null) return undefined;
      this.pos += m[0].length;
      min = Number(m[1]);
      max = m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3]);
      const biggest = Math.max(min, max === Infinity ? 0 : max);
      if (biggest > MAX_REGEX_REPEAT)
        throw new RegexRefusal(`repeats ${biggest} times; the limit is ${MAX_REGEX_REPEAT}`, 'as in RE2, counts go up to 1000');
    } else {
      return undefined;
    }
    if (this.peek() === '?') this.pos++; // lazy: the same strings match in full
    return { min, max };
  }

  private atom(): RegexNode {
    const start = this.pos;
    const c = this.peek() as string;
    if (c === '(') return this.group();
    if (c === '[') {
      let i = this.pos + 1;
      if (this.src[i] === '^') i++;
      while (i < this.src.length && this.src[i] !== ']') i += this.src[i] === '\\' ? 2 : 1;
      this.pos = i + 1;
    } else if (c === '\\') {
      this.pos += this.escapeLength();
    } else {
      this.pos += (this.src.codePointAt(this.pos) as number) > 0xffff ? 2 : 1;
    }
    return { t: 'char', test: this.charTest(this.src.slice(start, this.pos)) };
  }

  private group(): RegexNode {
    if (++this.depth > MAX_REGEX_DEPTH)
      throw new RegexRefusal(`nests groups more than ${MAX_REGEX_DEPTH} deep`);
    const rest = this.src.slice(this.pos, this.pos + 4);
    if (/^\(\?(=|!|<=|<!)/.test(rest))
      throw new RegexRefusal('uses a lookaround assertion, which cannot be matched in linear time', NO_ASSERTIONS_HINT);
    if (rest.startsWith('(?:')) this.pos += 3;
    else if (rest.startsWith('(?<')) this.pos = this.src.indexOf('>', this.pos) + 1;
    else if (rest.startsWith('(?'))
      // e.g. the modifier groups (?i:…) of newer V8s: this matcher does not know what they mean
      throw new RegexRefusal(`uses the group ${JSON.stringify(rest.slice(0, 3))}…, which this matcher does not support`, 'use (?:…) or a character class such as [Aa]');
    else this.pos += 1;
    const inner = this.disjunction();
    this.pos++; // ')'
    this.depth--;
    return inner;
  }

  /** Length of the escape at pos (a backslash), as one atom. */
  private escapeLength(): number {
    const src = this.src;
    const n = src[this.pos + 1] as string;
    if ((n >= '1' && n <= '9') || n === 'k')
      throw new RegexRefusal('uses a backreference, which cannot be matched in linear time', NO_ASSERTIONS_HINT);
    if (n === 'p' || n === 'P' || (n === 'u' && src[this.pos + 2] === '{')) return src.indexOf('}', this.pos) + 1 - this.pos;
    if (n === 'u') {
      const lead = parseInt(src.slice(this.pos + 2, this.pos + 6), 16);
      const trail = src.startsWith('\\u', this.pos + 6) ? parseInt(src.slice(this.pos + 8, this.pos + 12), 16) : NaN;
      // With the u flag, an escaped surrogate pair is one code point.
      return lead >= 0xd800 && lead <= 0xdbff && trail >= 0xdc00 && trail <= 0xdfff ? 12 : 6;
    }
    if (n === 'x') return 4;
    if (n === 'c') return 3;
    return 2;
  }
}
