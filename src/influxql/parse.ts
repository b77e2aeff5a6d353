// InfluxQL parsed by recursive descent into rondo's own tree. The grammar (docs/ingest.md,
// "InfluxQL") is the part of InfluxDB 1.x's that rondo answers; anything else is refused with
// InfluxDB's wording ("found X, expected Y at line L, char C") or names what is not supported.
import { InfluxQLSyntaxError, Lexer, where, type Token } from './lex';

export { InfluxQLSyntaxError } from './lex';

export type Expr =
  | { k: 'num'; v: number; int: boolean }
  | { k: 'str'; v: string }
  | { k: 'bool'; v: boolean }
  | { k: 'regex'; src: string }
  | { k: 'dur'; ms: number }
  | { k: 'ref'; name: string; cast?: string }
  | { k: 'wild' }
  | { k: 'call'; name: string; args: Expr[] }
  | { k: 'bin'; op: string; l: Expr; r: Expr };

export interface Field {
  expr: Expr;
  alias?: string;
}

export type Source = { k: 'name'; name: string; db?: string; rp?: string } | { k: 'regex'; src: string };

export type Fill = { k: 'null' } | { k: 'none' } | { k: 'previous' } | { k: 'linear' } | { k: 'value'; v: number };

export interface SelectStatement {
  type: 'select';
  fields: Field[];
  sources: Source[];
  where?: Expr;
  /** GROUP BY time(interval[, offset]), ms. */
  interval?: { every: number; offset: number };
  /** GROUP BY tags; '*' for all. */
  dimensions: string[] | '*';
  fill: Fill;
  desc: boolean;
  limit: number;
  offset: number;
  slimit: number;
  soffset: number;
}

export type ShowStatement =
  | { type: 'show databases' }
  | { type: 'show retention policies' }
  | { type: 'show measurements'; measurement?: { op: string; value: Expr }; where?: Expr; limit: number; offset: number }
  | { type: 'show tag keys'; sources: Source[]; where?: Expr; limit: number; offset: number }
  | { type: 'show tag values'; sources: Source[]; keyOp: string; keys: Expr; where?: Expr; limit: number; offset: number }
  | { type: 'show field keys'; sources: Source[]; limit: number; offset: number }
  | { type: 'show series'; sources: Source[]; where?: Expr; limit: number; offset: number };

export type Statement = SelectStatement | ShowStatement | { type: 'create database'; name: string };

/** Binary operators and their precedence (higher binds tighter), as InfluxQL's token.go has them. */
const PRECEDENCE: Record<string, number> = {
  OR: 1, AND: 2,
  '=': 4, '!=': 4, '<>': 4, '<': 4, '<=': 4, '>': 4, '>=': 4, '=~': 4, '!~': 4,
  '+': 5, '-': 5, '|': 5, '^': 5,
  '*': 6, '/': 6, '%': 6, '&': 6,
};

const STATEMENT_STARTS = 'SELECT, DELETE, SHOW, CREATE, DROP, EXPLAIN, GRANT, REVOKE, ALTER, SET, KILL';

/** What each SHOW form that rondo answers starts with, for the "expected" list of errors. */
const SHOW_FORMS = 'CONTINUOUS, DATABASES, DIAGNOSTICS, FIELD, GRANTS, MEASUREMENT, MEASUREMENTS, QUERIES, RETENTION, SERIES, SHARD, SHARDS, STATS, SUBSCRIPTIONS, TAG, USERS';

/** Statement kinds InfluxDB has and rondo does not: refused with their name. */
const UNSUPPORTED_STARTS = new Set(['DELETE', 'DROP', 'EXPLAIN', 'GRANT', 'REVOKE', 'ALTER', 'SET', 'KILL']);

export class UnsupportedError extends Error {}

function describe(t: Token): string {
  if (t.kind === 'string') return t.text;
  return t.text;
}

export class Parser {
  private readonly lx: Lexer;
  constructor(private readonly src: string) {
    this.lx = new Lexer(src);
  }

  private fail(t: Token, expected: string): never {
    throw new InfluxQLSyntaxError(`found ${describe(t)}, expected ${expected} ${where(this.src, t.pos)}`);
  }

  private isKw(t: Token, ...kw: string[]): boolean {
    return t.kind === 'keyword' && kw.includes(t.text);
  }

  private isOp(t: Token, op: string): boolean {
    return t.kind === 'op' && t.text === op;
  }

  private kw(k: string): void {
    const t = this.lx.next();
    if (!this.isKw(t, k)) this.fail(t, k);
  }

  private op(o: string): void {
    const t = this.lx.next();
    if (!this.isOp(t, o)) this.fail(t, o);
  }

  private acceptKw(k: string): boolean {
    if (this.isKw(this.lx.peek(), k)) {
      this.lx.next();
      return true;
    }
    return false;
  }

  private acceptOp(o: string): boolean {
    if (this.isOp(this.lx.peek(), o)) {
      this.lx.next();
      return true;
    }
    return false;
  }

  private ident(): string {
    const t = this.lx.next();
    if (t.kind !== 'ident') this.fail(t, 'identifier');
    return t.text;
  }

  /** Statements separated by ';' (an empty query is refused as InfluxDB refuses it). */
  statements(): Statement[] {
    const out: Statement[] = [];
    for (;;) {
      while (this.acceptOp(';'));
      if (this.lx.peek().kind === 'eof') break;
      out.push(this.statement());
      const t = this.lx.peek();
      if (t.kind !== 'eof' && !this.isOp(t, ';')) this.fail(t, ';');
    }
    if (out.length === 0) throw new InfluxQLSyntaxError('missing required parameter "q"');
    return out;
  }

  private statement(): Statement {
    const t = this.lx.next();
    if (this.isKw(t, 'SELECT')) return this.select();
    if (this.isKw(t, 'SHOW')) return this.show();
    if (this.isKw(t, 'CREATE')) {
      const d = this.lx.next();
      if (!this.isKw(d, 'DATABASE')) {
        if (d.kind === 'keyword') throw new UnsupportedError(`CREATE ${d.text} is not supported by rondo (only CREATE DATABASE, accepted as a no-op)`);
        this.fail(d, 'CONTINUOUS, DATABASE, USER, RETENTION, SUBSCRIPTION');
      }
      const name = this.ident();
      // WITH DURATION ... and the like are accepted and ignored with the database itself.
      while (this.lx.peek().kind !== 'eof' && !this.isOp(this.lx.peek(), ';')) this.lx.next();
      return { type: 'create database', name };
    }
    if (t.kind === 'keyword' && UNSUPPORTED_STARTS.has(t.text)) throw new UnsupportedError(`${t.text} statements are not supported by rondo (a round-robin store: data ages out of its rings)`);
    this.fail(t, STATEMENT_STARTS);
  }

  private limits(): { limit: number; offset: number } {
    let limit = 0;
    let offset = 0;
    if (this.acceptKw('LIMIT')) limit = this.int('LIMIT');
    if (this.acceptKw('OFFSET')) offset = this.int('OFFSET');
    return { limit, offset };
  }

  private int(what: string): number {
    const t = this.lx.next();
    if (t.kind !== 'integer') this.fail(t, 'integer');
    if (!(t.num! >= 0)) throw new InfluxQLSyntaxError(`${what} must be >= 0 ${where(this.src, t.pos)}`);
    return t.num!;
  }

  private select(): SelectStatement {
    const fields: Field[] = [];
    do {
      const expr = this.expr(0);
      const f: Field = { expr };
      if (this.acceptKw('AS')) f.alias = this.ident();
      fields.push(f);
    } while (this.acceptOp(','));
    const t = this.lx.peek();
    if (this.isKw(t, 'INTO')) throw new UnsupportedError('SELECT ... INTO is not supported by rondo (it writes nothing from a query)');
    this.kw('FROM');
    const sources = this.sources();
    const st: SelectStatement = { type: 'select', fields, sources, dimensions: [], fill: { k: 'null' }, desc: false, limit: 0, offset: 0, slimit: 0, soffset: 0 };
    if (this.acceptKw('WHERE')) st.where = this.expr(0);
    if (this.acceptKw('GROUP')) {
      this.kw('BY');
      this.groupBy(st);
    }
    if (this.isIdentWord(this.lx.peek(), 'fill')) this.fill(st);
    if (this.acceptKw('ORDER')) {
      this.kw('BY');
      const f = this.lx.next();
      if (!(f.kind === 'ident' && f.text.toLowerCase() === 'time')) {
        if (f.kind === 'ident') throw new UnsupportedError('only ORDER BY time supported at this time');
        this.fail(f, 'identifier');
      }
      if (this.acceptKw('DESC')) st.desc = true;
      else this.acceptKw('ASC');
    }
    if (this.acceptKw('LIMIT')) st.limit = this.int('LIMIT');
    if (this.acceptKw('OFFSET')) st.offset = this.int('OFFSET');
    if (this.acceptKw('SLIMIT')) st.slimit = this.int('SLIMIT');
    if (this.acceptKw('SOFFSET')) st.soffset = this.int('SOFFSET');
    if (this.isIdentWord(this.lx.peek(), 'tz')) {
      this.lx.next();
      this.op('(');
      const z = this.lx.next();
      if (z.kind !== 'string') this.fail(z, 'string');
      if (z.text !== 'UTC' && z.text !== 'Etc/UTC') throw new UnsupportedError(`tz('${z.text}') is not supported by rondo: answers are in UTC`);
      this.op(')');
    }
    return st;
  }

  private isIdentWord(t: Token, w: string): boolean {
    return t.kind === 'ident' && !t.quoted && t.text.toLowerCase() === w;
  }

  private groupBy(st: SelectStatement): void {
    const dims: string[] = [];
    do {
      const t = this.lx.peek();
      if (this.isOp(t, '*')) {
        this.lx.next();
        st.dimensions = '*';
        continue;
      }
      if (this.isIdentWord(t, 'time') && !t.quoted) {
        this.lx.next();
        if (!this.acceptOp('(')) {
          dims.push('time');
          continue;
        }
        const every = this.lx.next();
        if (every.kind !== 'duration') this.fail(every, 'duration');
        let offset = 0;
        if (this.acceptOp(',')) {
          const neg = this.acceptOp('-');
          const o = this.lx.next();
          if (o.kind === 'duration') offset = (neg ? -1 : 1) * o.num!;
          else if (this.isIdentWord(o, 'now')) {
            throw new UnsupportedError('GROUP BY time(..., now()) is not supported by rondo');
          } else this.fail(o, 'duration');
        }
        this.op(')');
        if (!(every.num! > 0)) throw new InfluxQLSyntaxError('time dimension must have positive duration');
        st.interval = { every: every.num!, offset: ((offset % every.num!) + every.num!) % every.num! };
        continue;
      }
      if (this.lx.regex() !== undefined) throw new UnsupportedError('GROUP BY /regex/ is not supported by rondo; name the tags or use GROUP BY *');
      dims.push(this.ident());
    } while (this.acceptOp(','));
    if (st.dimensions !== '*') st.dimensions = dims;
  }

  private fill(st: SelectStatement): void {
    this.lx.next();
    this.op('(');
    const t = this.lx.next();
    const neg = t.kind === 'op' && t.text === '-';
    const v = neg ? this.lx.next() : t;
    if (v.kind === 'integer' || v.kind === 'number') st.fill = { k: 'value', v: neg ? -v.num! : v.num! };
    else if (v.kind === 'ident' && ['null', 'none', 'previous', 'linear'].includes(v.text.toLowerCase()))
      st.fill = { k: v.text.toLowerCase() } as Fill;
    else throw new InfluxQLSyntaxError(`fill must be a function call`);
    this.op(')');
  }

  private sources(): Source[] {
    const out: Source[] = [];
    do {
      const re = this.lx.regex();
      if (re !== undefined) {
        out.push({ k: 'regex', src: re.text });
        continue;
      }
      // [db.][rp.]measurement, any part quoted; db..m for the default policy.
      const parts: string[] = [];
      let regexAfter = false;
      for (;;) {
        if (parts.length > 0 && this.isOp(this.lx.peek(), '.')) {
          this.lx.next();
          parts.push('');
          continue;
        }
        const r = parts.length > 0 ? this.lx.regex() : undefined;
        if (r !== undefined) {
          out.push({ k: 'regex', src: r.text });
          regexAfter = true;
          break;
        }
        parts.push(this.ident());
        if (!this.acceptOp('.')) break;
      }
      if (regexAfter) continue;
      if (parts.length === 0) continue;
      if (parts.length > 3) throw new InfluxQLSyntaxError(`too many segments in ${parts.join('.')}`);
      const name = parts[parts.length - 1]!;
      const s: Source = { k: 'name', name };
      if (parts.length === 3) {
        s.db = parts[0]!;
        s.rp = parts[1]!;
      } else if (parts.length === 2) s.rp = parts[0]!;
      out.push(s);
    } while (this.acceptOp(','));
    return out;
  }

  private optionalFrom(): Source[] {
    return this.acceptKw('FROM') ? this.sources() : [];
  }

  private show(): ShowStatement {
    const t = this.lx.next();
    if (this.isKw(t, 'DATABASES')) return { type: 'show databases' };
    if (this.isKw(t, 'RETENTION')) {
      this.kw('POLICIES');
      if (this.acceptKw('ON')) this.ident();
      return { type: 'show retention policies' };
    }
    if (this.isKw(t, 'MEASUREMENTS')) {
      if (this.acceptKw('ON')) this.ident();
      const st: ShowStatement = { type: 'show measurements', limit: 0, offset: 0 };
      if (this.acceptKw('WITH')) {
        this.kw('MEASUREMENT');
        const o = this.lx.next();
        if (!(o.kind === 'op' && ['=', '!=', '=~', '!~'].includes(o.text))) this.fail(o, '=, !=, =~, !~');
        const value: Expr = o.text === '=~' || o.text === '!~' ? this.regexExpr() : { k: 'str', v: this.ident() };
        st.measurement = { op: o.text, value };
      }
      if (this.acceptKw('WHERE')) st.where = this.expr(0);
      Object.assign(st, this.limits());
      return st;
    }
    if (this.isKw(t, 'TAG')) {
      const w = this.lx.next();
      if (this.isKw(w, 'KEYS')) {
        if (this.acceptKw('ON')) this.ident();
        const sources = this.optionalFrom();
        const st: ShowStatement = { type: 'show tag keys', sources, limit: 0, offset: 0 };
        if (this.acceptKw('WHERE')) st.where = this.expr(0);
        Object.assign(st, this.limits());
        return st;
      }
      if (this.isKw(w, 'VALUES')) {
        if (this.acceptKw('ON')) this.ident();
        const sources = this.optionalFrom();
        this.kw('WITH');
        this.kw('KEY');
        const o = this.lx.next();
        let keys: Expr;
        if (this.isKw(o, 'IN')) {
          this.op('(');
          const names: Expr[] = [];
          do names.push({ k: 'str', v: this.ident() });
          while (this.acceptOp(','));
          this.op(')');
          keys = names.reduceRight<Expr | undefined>((acc, e) => (acc === undefined ? e : { k: 'bin', op: ',', l: e, r: acc }), undefined)!;
        } else if (o.kind === 'op' && ['=', '!=', '=~', '!~'].includes(o.text)) {
          keys = o.text === '=~' || o.text === '!~' ? this.regexExpr() : { k: 'str', v: this.ident() };
        } else this.fail(o, '=, !=, =~, !~, IN');
        const st: ShowStatement = { type: 'show tag values', sources, keyOp: this.isKw(o, 'IN') ? 'IN' : o.text, keys, limit: 0, offset: 0 };
        if (this.acceptKw('WHERE')) st.where = this.expr(0);
        Object.assign(st, this.limits());
        return st;
      }
      this.fail(w, 'KEYS, VALUES');
    }
    if (this.isKw(t, 'FIELD')) {
      this.kw('KEYS');
      if (this.acceptKw('ON')) this.ident();
      const sources = this.optionalFrom();
      return { type: 'show field keys', sources, ...this.limits() };
    }
    if (this.isKw(t, 'SERIES')) {
      if (this.acceptKw('ON')) this.ident();
      const sources = this.optionalFrom();
      const st: ShowStatement = { type: 'show series', sources, limit: 0, offset: 0 };
      if (this.acceptKw('WHERE')) st.where = this.expr(0);
      Object.assign(st, this.limits());
      return st;
    }
    if (t.kind === 'keyword' || t.kind === 'ident') {
      const known = SHOW_FORMS.split(', ');
      if (known.includes(t.text)) throw new UnsupportedError(`SHOW ${t.text} is not supported by rondo`);
    }
    this.fail(t, SHOW_FORMS);
  }

  private regexExpr(): Expr {
    const re = this.lx.regex();
    if (re === undefined) this.fail(this.lx.peek(), 'regex');
    return { k: 'regex', src: re.text };
  }

  /** Precedence climbing over PRECEDENCE. */
  expr(minPrec: number): Expr {
    let lhs = this.unary();
    for (;;) {
      const t = this.lx.peek();
      const op = t.kind === 'keyword' ? t.text : t.kind === 'op' ? t.text : '';
      const p = PRECEDENCE[op];
      if (p === undefined || p <= minPrec) return lhs;
      this.lx.next();
      const rhs = op === '=~' || op === '!~' ? this.regexExpr() : this.expr(p);
      lhs = { k: 'bin', op: op === '<>' ? '!=' : op, l: lhs, r: rhs };
    }
  }

  private unary(): Expr {
    const t = this.lx.peek();
    if (this.isOp(t, '-') || this.isOp(t, '+')) {
      this.lx.next();
      const e = this.unary();
      if (t.text === '+') return e;
      if (e.k === 'num') return { ...e, v: -e.v };
      if (e.k === 'dur') return { k: 'dur', ms: -e.ms };
      return { k: 'bin', op: '*', l: { k: 'num', v: -1, int: true }, r: e };
    }
    return this.primary();
  }

  private primary(): Expr {
    const re = this.lx.regex();
    if (re !== undefined) return { k: 'regex', src: re.text };
    const t = this.lx.next();
    switch (t.kind) {
      case 'op':
        if (t.text === '(') {
          const e = this.expr(0);
          this.op(')');
          return e;
        }
        if (t.text === '*') return { k: 'wild' };
        break;
      case 'string':
        return { k: 'str', v: t.text };
      case 'integer':
        return { k: 'num', v: t.num!, int: true };
      case 'number':
        return { k: 'num', v: t.num!, int: false };
      case 'duration':
        return { k: 'dur', ms: t.num! };
      case 'keyword':
        if (t.text === 'DISTINCT') throw new UnsupportedError('DISTINCT is not supported by rondo');
        break;
      case 'ident': {
        if (!t.quoted) {
          const low = t.text.toLowerCase();
          if (low === 'true' || low === 'false') return { k: 'bool', v: low === 'true' };
          if (this.isOp(this.lx.peek(), '(')) {
            this.lx.next();
            const args: Expr[] = [];
            if (!this.acceptOp(')')) {
              do args.push(this.expr(0));
              while (this.acceptOp(','));
              this.op(')');
            }
            return { k: 'call', name: low, args };
          }
        }
        const ref: Expr = { k: 'ref', name: t.text };
        if (this.acceptOp('::')) {
          const c = this.lx.next();
          const cast = c.kind === 'keyword' ? c.text.toLowerCase() : c.text.toLowerCase();
          if (!['float', 'integer', 'unsigned', 'boolean', 'string', 'field', 'tag'].includes(cast)) this.fail(c, 'float, integer, string, boolean, field, tag');
          ref.cast = cast;
        }
        return ref;
      }
      default:
        break;
    }
    this.fail(t, 'identifier, string, number, bool');
  }
}

/** Parses a query of one or more statements. Throws InfluxQLSyntaxError or UnsupportedError. */
export function parseInfluxQL(q: string): Statement[] {
  return new Parser(q).statements();
}
