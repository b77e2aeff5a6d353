// A linear-time regex matcher for the selectors' `=~` and `!~`: a Pike VM over a program
// compiled from the regex, asking V8 what each single code point matches.

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


/** A regex this matcher will not run: the reason completes "regex for "a" …". */
export class RegexRefusal extends Error {
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
export class LinearRegex {
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
