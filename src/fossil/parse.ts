// fossil's query language: tokens, grammar and the syntax tree (docs/events.md, "The query
// language"). Every error carries the offset of the character it is about.

export class FossilQueryError extends Error {
  /** 0-based offset into the query text. */
  readonly position: number;
  readonly query: string;
  constructor(message: string, position: number, query: string) {
    super(message);
    this.name = 'FossilQueryError';
    this.position = position;
    this.query = query;
  }
  /** The message, the query, and a caret under the position (ERR 504's text). */
  describe(): string {
    const line = this.query.replace(/[\r\n\t]/g, ' ');
    return `${this.message} (at offset ${this.position})\n${line}\n${' '.repeat(Math.min(this.position, line.length))}^`;
  }
}

type TokType =
  | 'word'
  | 'topic'
  | 'whence'
  | 'timespan'
  | 'int'
  | 'float'
  | 'string'
  | 'op'
  | 'end';

interface Tok {
  type: TokType;
  text: string;
  pos: number;
}

export const UNIT_NS: Record<string, bigint> = {
  '@nanosecond': 1n,
  '@microsecond': 1_000n,
  '@millisecond': 1_000_000n,
  '@second': 1_000_000_000n,
  '@minute': 60_000_000_000n,
  '@hour': 3_600_000_000_000n,
  '@day': 86_400_000_000_000n,
  '@week': 7n * 86_400_000_000_000n,
  '@month': 30n * 86_400_000_000_000n,
  '@year': 365n * 86_400_000_000_000n,
};

const OPS = ['->', '==', '!=', '>=', '<=', '>', '<', '+', '-', '*', '/', '(', ')', '[', ']', ',', ':', '|'];

function tokenize(q: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  const err = (m: string, p: number): never => {
    throw new FossilQueryError(m, p, q);
  };
  while (i < q.length) {
    const c = q[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const start = i;
    if (/[A-Za-z_]/.test(c)) {
      while (i < q.length && /[A-Za-z0-9_]/.test(q[i]!)) i++;
      out.push({ type: 'word', text: q.slice(start, i), pos: start });
    } else if (c === '/' && i + 1 < q.length && /[A-Za-z0-9_.:-]/.test(q[i + 1]!) && (out.at(-1)?.text === 'in')) {
      i++;
      while (i < q.length && /[A-Za-z0-9_.:\/-]/.test(q[i]!)) i++;
      out.push({ type: 'topic', text: q.slice(start, i), pos: start });
    } else if (c === '/' && out.at(-1)?.text === 'in') {
      i++;
      out.push({ type: 'topic', text: '/', pos: start });
    } else if (c === '~') {
      if (q.startsWith('~now', i) && !/[A-Za-z0-9_]/.test(q[i + 4] ?? '')) {
        i += 4;
        out.push({ type: 'whence', text: '~now', pos: start });
      } else if (q[i + 1] === '(') {
        const close = q.indexOf(')', i);
        if (close < 0) err("unterminated time '~(': expected ')'", start);
        i = close + 1;
        out.push({ type: 'whence', text: q.slice(start, i), pos: start });
      } else err("expected '~now' or '~(<RFC 3339 time>)'", start);
    } else if (c === '@') {
      i++;
      while (i < q.length && /[a-z]/.test(q[i]!)) i++;
      const t = q.slice(start, i);
      if (UNIT_NS[t.replace(/s$/, '')] === undefined) err(`unknown time unit '${t}': expected @second, @minute, @hour, @day, @week, @month or @year`, start);
      out.push({ type: 'timespan', text: t.replace(/s$/, ''), pos: start });
    } else if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(q[i + 1] ?? ''))) {
      while (i < q.length && /[0-9]/.test(q[i]!)) i++;
      let type: TokType = 'int';
      if (q[i] === '.' && /[0-9]/.test(q[i + 1] ?? '')) {
        i++;
        while (i < q.length && /[0-9]/.test(q[i]!)) i++;
        type = 'float';
      }
      if (/[A-Za-z_]/.test(q[i] ?? '')) err(`malformed number '${q.slice(start, i + 1)}'`, start);
      out.push({ type, text: q.slice(start, i), pos: start });
    } else if (c === '"' || c === "'") {
      i++;
      let s = '';
      while (i < q.length && q[i] !== c) {
        if (q[i] === '\\' && i + 1 < q.length) i++;
        s += q[i];
        i++;
      }
      if (i >= q.length) err(`unterminated string: expected a closing ${c}`, start);
      i++;
      out.push({ type: 'string', text: s, pos: start });
    } else {
      const op = OPS.find((o) => q.startsWith(o, i));
      if (op === undefined) err(`unexpected character '${c}'`, start);
      i += op!.length;
      out.push({ type: 'op', text: op!, pos: start });
    }
  }
  out.push({ type: 'end', text: '', pos: q.length });
  return out;
}

// ---- syntax tree ----

export type TimeQuantity = { ns: bigint; pos: number };

export interface TimeExpr {
  /** 'now' or the instant of a ~(...) in ns. */
  whence: 'now' | bigint;
  /** Added to the whence (negative for '-'). */
  offsetNs: bigint;
  pos: number;
}

export type Expr =
  | { t: 'num'; value: { k: 'int'; v: bigint } | { k: 'float'; v: number }; pos: number }
  | { t: 'str'; value: string; pos: number }
  | { t: 'id'; name: string; pos: number }
  | { t: 'index'; name: string; sub: bigint | string; pos: number }
  | { t: 'unary'; op: '-' | '+'; arg: Expr; pos: number }
  | { t: 'bin'; op: string; left: Expr; right: Expr; pos: number }
  | { t: 'call'; name: string; args: Expr[]; pos: number }
  | { t: 'tuple'; items: Expr[]; pos: number }
  | { t: 'composite'; keys: string[]; values: Expr[]; pos: number };

export interface Stage {
  kind: 'filter' | 'map' | 'reduce';
  args: string[];
  body: Expr;
  pos: number;
}

export interface Query {
  text: string;
  quantifier: { kind: 'all' } | { kind: 'sample'; everyNs: bigint; pos: number };
  topic?: string;
  time?: { kind: 'since' | 'before'; at: TimeExpr } | { kind: 'between'; from: TimeExpr; to: TimeExpr };
  stages: Stage[];
}

export const BUILTINS = new Set(['min', 'max', 'len']);

/** Parses a query; throws FossilQueryError with the offset of what is wrong. */
export function parseQuery(text: string): Query {
  const toks = tokenize(text);
  let i = 0;
  const peek = (): Tok => toks[i]!;
  const next = (): Tok => toks[i++]!;
  const show = (t: Tok): string => (t.type === 'end' ? 'the end of the query' : `'${t.type === 'string' ? JSON.stringify(t.text) : t.text}'`);
  const fail = (t: Tok, what: string): never => {
    throw new FossilQueryError(`unexpected ${show(t)}, expected ${what}`, t.pos, text);
  };
  const isOp = (t: Tok, op: string): boolean => t.type === 'op' && t.text === op;
  const isWord = (t: Tok, w: string): boolean => t.type === 'word' && t.text === w;
  const expectOp = (op: string, what = `'${op}'`): Tok => {
    const t = next();
    if (!isOp(t, op)) fail(t, what);
    return t;
  };

  // time-quantity = time-term *( ("-" / "+") time-term ); time-term = atom *( "*" atom )
  const timeAtom = (): bigint => {
    const t = next();
    if (t.type === 'int') return BigInt(t.text);
    if (t.type === 'timespan') return UNIT_NS[t.text]!;
    return fail(t, 'a number or a time unit (@second ... @year)');
  };
  const timeTerm = (): bigint => {
    let v = timeAtom();
    while (isOp(peek(), '*')) {
      next();
      v *= timeAtom();
    }
    return v;
  };
  const timeQuantity = (): TimeQuantity => {
    const pos = peek().pos;
    let v = timeTerm();
    while (isOp(peek(), '+') || isOp(peek(), '-')) {
      const op = next().text;
      const r = timeTerm();
      v = op === '+' ? v + r : v - r;
    }
    return { ns: v, pos };
  };
  const timeExpr = (): TimeExpr => {
    const t = peek();
    if (t.type === 'timespan' || t.type === 'int') {
      // "since @week": a bare quantity counts back from now (the grammar's own example)
      const q = timeQuantity();
      return { whence: 'now', offsetNs: -q.ns, pos: t.pos };
    }
    next();
    if (t.type !== 'whence') fail(t, "a time: '~now', '~(<RFC 3339 time>)' or a quantity such as @day");
    const whence = t.text === '~now' ? 'now' : parseInstant(t.text.slice(2, -1).trim(), t.pos + 2, text);
    let offsetNs = 0n;
    if (isOp(peek(), '-') || isOp(peek(), '+')) {
      const op = next().text;
      const q = timeQuantity();
      offsetNs = op === '+' ? q.ns : -q.ns;
    }
    return { whence, offsetNs, pos: t.pos };
  };

  // expressions
  const primary = (): Expr => {
    const t = next();
    if (t.type === 'int') return { t: 'num', value: { k: 'int', v: BigInt(t.text) }, pos: t.pos };
    if (t.type === 'float') return { t: 'num', value: { k: 'float', v: Number(t.text) }, pos: t.pos };
    if (t.type === 'string') return { t: 'str', value: t.text, pos: t.pos };
    if (isOp(t, '(')) {
      const e = expression();
      expectOp(')');
      return e;
    }
    if (t.type === 'word') {
      if (isOp(peek(), '(')) {
        next();
        if (!BUILTINS.has(t.text)) throw new FossilQueryError(`unknown builtin function '${t.text}' (there are ${[...BUILTINS].join(', ')})`, t.pos, text);
        const args = [expression()];
        while (isOp(peek(), ',')) {
          next();
          args.push(expression());
        }
        expectOp(')', "')' or ','");
        return { t: 'call', name: t.text, args, pos: t.pos };
      }
      if (isOp(peek(), '[')) {
        next();
        const s = next();
        let sub: bigint | string;
        if (s.type === 'int') sub = BigInt(s.text);
        else if (s.type === 'string' || s.type === 'word') sub = s.text;
        else return fail(s, 'an index (an integer) or a key (a string)');
        expectOp(']');
        return { t: 'index', name: t.text, sub, pos: t.pos };
      }
      return { t: 'id', name: t.text, pos: t.pos };
    }
    return fail(t, 'a name, a number, a string or (');
  };
  const unary = (): Expr => {
    const t = peek();
    if (isOp(t, '-') || isOp(t, '+')) {
      next();
      return { t: 'unary', op: t.text as '-' | '+', arg: unary(), pos: t.pos };
    }
    return primary();
  };
  const binaryLevel = (ops: readonly string[], sub: () => Expr) => (): Expr => {
    let left = sub();
    while (peek().type === 'op' && ops.includes(peek().text)) {
      const op = next();
      left = { t: 'bin', op: op.text, left, right: sub(), pos: op.pos };
    }
    return left;
  };
  const product = binaryLevel(['*', '/'], unary);
  const sum = binaryLevel(['+', '-'], product);
  const comparison = binaryLevel(['>', '>=', '<', '<='], sum);
  const expression: () => Expr = binaryLevel(['==', '!='], comparison);

  const body = (): Expr => {
    const t = peek();
    const t2 = toks[i + 1]!;
    if ((t.type === 'string' || t.type === 'word') && isOp(t2, ':')) {
      const keys: string[] = [];
      const values: Expr[] = [];
      for (;;) {
        const k = next();
        if (k.type !== 'string' && k.type !== 'word') fail(k, 'a key');
        expectOp(':');
        keys.push(k.text);
        values.push(expression());
        if (!isOp(peek(), ',')) break;
        next();
      }
      return { t: 'composite', keys, values, pos: t.pos };
    }
    const first = expression();
    if (!isOp(peek(), ',')) return first;
    const items = [first];
    while (isOp(peek(), ',')) {
      next();
      items.push(expression());
    }
    return { t: 'tuple', items, pos: t.pos };
  };

  // query
  const q0 = next();
  let quantifier: Query['quantifier'];
  if (isWord(q0, 'all')) quantifier = { kind: 'all' };
  else if (isWord(q0, 'sample')) {
    expectOp('(');
    const tq = timeQuantity();
    expectOp(')');
    if (tq.ns <= 0n) throw new FossilQueryError('sample() needs a positive time quantity', tq.pos, text);
    quantifier = { kind: 'sample', everyNs: tq.ns, pos: q0.pos };
  } else return fail(q0, "a quantifier ('all' or 'sample(...)')");
  const query: Query = { text, quantifier, stages: [] };

  if (isWord(peek(), 'in')) {
    next();
    const t = next();
    if (t.type !== 'topic') fail(t, "a topic after 'in' (such as /vm/42/console)");
    query.topic = t.text.length > 1 ? t.text.replace(/\/+$/, '') : '/';
  }
  const tp = peek();
  if (isWord(tp, 'since') || isWord(tp, 'before')) {
    next();
    query.time = { kind: tp.text as 'since' | 'before', at: timeExpr() };
  } else if (isWord(tp, 'between')) {
    next();
    const from = timeExpr();
    expectOp(',', "',' between the two times");
    query.time = { kind: 'between', from, to: timeExpr() };
  }
  while (isOp(peek(), '|')) {
    next();
    const f = next();
    if (!(isWord(f, 'filter') || isWord(f, 'map') || isWord(f, 'reduce'))) fail(f, "'filter', 'map' or 'reduce'");
    const args: string[] = [];
    for (;;) {
      const a = next();
      if (a.type !== 'word') fail(a, 'an argument name');
      args.push(a.text);
      if (isOp(peek(), ',')) {
        next();
        continue;
      }
      if (isOp(peek(), '->')) break;
      fail(peek(), "',' or '->'");
    }
    if (f.text === 'reduce' && args.length !== 2) throw new FossilQueryError(`reduce takes two arguments, not ${args.length}`, f.pos, text);
    next();
    query.stages.push({ kind: f.text as Stage['kind'], args, body: body(), pos: f.pos });
  }
  const end = peek();
  if (end.type !== 'end') {
    if (isWord(end, 'in') || isWord(end, 'since') || isWord(end, 'before') || isWord(end, 'between'))
      fail(end, `'|' or the end of the query ('${end.text}' comes earlier: quantifier, in, time, then pipeline)`);
    fail(end, "'|' or the end of the query");
  }
  return query;
}

/** An RFC 3339 time (fraction to ns; "Z" or an offset), or a date YYYY-MM-DD (UTC midnight), in ns. */
export function parseInstant(s: string, pos: number, text: string): bigint {
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2}))?$/.exec(s);
  if (m === null) throw new FossilQueryError(`'${s}' is not an RFC 3339 time such as 2026-12-06T10:00:00Z`, pos, text);
  const [, y, mo, d, h = '00', mi = '00', se = '00', frac = '', zone = 'Z'] = m;
  const ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(se));
  const check = new Date(ms);
  if (Number.isNaN(ms) || check.getUTCDate() !== Number(d) || check.getUTCMonth() !== Number(mo) - 1 || Number(h) > 23 || Number(mi) > 59 || Number(se) > 60)
    throw new FossilQueryError(`'${s}' is not a valid date and time`, pos, text);
  let off = 0;
  if (zone !== 'Z' && zone !== 'z') off = (zone[0] === '-' ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6)));
  return (BigInt(ms) - BigInt(off) * 60_000n) * 1_000_000n + BigInt(frac.padEnd(9, '0') || '0');
}
