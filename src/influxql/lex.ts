// InfluxQL's tokens, scanned as InfluxDB 1.x's scanner scans them (influxql/scanner.go): the
// keyword and operator tables below drive it. Regular expressions are scanned only where the
// parser asks for one (after =~ / !~, in FROM, in WITH MEASUREMENT =~), as InfluxDB does.

export type TokKind = 'ident' | 'keyword' | 'string' | 'number' | 'integer' | 'duration' | 'op' | 'regex' | 'eof';

export interface Token {
  kind: TokKind;
  /** Keywords upper-cased; identifiers and strings unquoted; operators as written. */
  text: string;
  /** Offset of the token in the query. */
  pos: number;
  /** Numbers: the value; durations: milliseconds. */
  num?: number;
  /** True for an identifier written in double quotes (never a keyword). */
  quoted?: boolean;
}

/** InfluxQL's keywords (the ones this parser knows as words; any other word is an identifier). */
export const KEYWORDS = new Set([
  'ALL', 'ALTER', 'AND', 'AS', 'ASC', 'BEGIN', 'BY', 'CARDINALITY', 'CREATE', 'CONTINUOUS', 'DATABASE', 'DATABASES',
  'DEFAULT', 'DELETE', 'DESC', 'DESTINATIONS', 'DIAGNOSTICS', 'DISTINCT', 'DROP', 'DURATION', 'END', 'EVERY',
  'EXACT', 'EXPLAIN', 'FIELD', 'FOR', 'FROM', 'GRANT', 'GRANTS', 'GROUP', 'GROUPS', 'IN', 'INF', 'INSERT', 'INTO',
  'KEY', 'KEYS', 'KILL', 'LIMIT', 'MEASUREMENT', 'MEASUREMENTS', 'NAME', 'OFFSET', 'ON', 'OR', 'ORDER', 'PASSWORD',
  'POLICIES', 'POLICY', 'PRIVILEGES', 'QUERIES', 'QUERY', 'READ', 'REPLICATION', 'RESAMPLE', 'RETENTION', 'REVOKE',
  'SELECT', 'SERIES', 'SET', 'SHARD', 'SHARDS', 'SHOW', 'SLIMIT', 'SOFFSET', 'STATS', 'SUBSCRIPTION',
  'SUBSCRIPTIONS', 'TAG', 'TO', 'USER', 'USERS', 'VALUES', 'WHERE', 'WITH', 'WRITE',
]);

/** Operators, longest first (the scanner takes the longest that matches). */
const OPERATORS = ['=~', '!~', '!=', '<>', '<=', '>=', '::', '+', '-', '*', '/', '%', '&', '|', '^', '=', '<', '>', '(', ')', ',', ';', '.'];

/** Duration units (InfluxQL: ns u µ ms s m h d w) in milliseconds. */
export const DURATION_UNITS: Record<string, number> = { ns: 1e-6, u: 1e-3, µ: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

export class InfluxQLSyntaxError extends Error {}

const isDigit = (c: string): boolean => c >= '0' && c <= '9';
const isIdentStart = (c: string): boolean => (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c === '_';
const isIdentChar = (c: string): boolean => isIdentStart(c) || isDigit(c);

/** Line and character (1-based) of an offset, as InfluxDB's errors give them. */
export function where(src: string, pos: number): string {
  let line = 1;
  let col = 1;
  for (let i = 0; i < pos && i < src.length; i++) {
    if (src[i] === '\n') {
      line++;
      col = 1;
    } else col++;
  }
  if (pos > src.length) col += pos - src.length;
  return `at line ${line}, char ${col}`;
}

export class Lexer {
  private pos = 0;
  private ahead: Token | undefined;
  constructor(readonly src: string) {}

  peek(): Token {
    this.ahead ??= this.scan();
    return this.ahead;
  }

  next(): Token {
    const t = this.peek();
    this.ahead = undefined;
    return t;
  }

  /** A regular expression /.../ at the next token, or undefined (nothing consumed). */
  regex(): Token | undefined {
    const t = this.peek();
    if (t.kind !== 'op' || t.text !== '/') return undefined;
    let i = t.pos + 1;
    let body = '';
    for (;;) {
      const c = this.src[i];
      if (c === undefined) throw new InfluxQLSyntaxError(`found ${this.src.slice(t.pos)}, expected regex ${where(this.src, t.pos)}`);
      if (c === '\\' && this.src[i + 1] === '/') {
        body += '/';
        i += 2;
        continue;
      }
      if (c === '\\') {
        body += c + (this.src[i + 1] ?? '');
        i += 2;
        continue;
      }
      if (c === '/') break;
      body += c;
      i++;
    }
    this.pos = i + 1;
    this.ahead = undefined;
    return { kind: 'regex', text: body, pos: t.pos };
  }

  private scan(): Token {
    const s = this.src;
    // White space and comments (-- to the end of the line, /* ... */).
    for (;;) {
      while (this.pos < s.length && /\s/.test(s[this.pos]!)) this.pos++;
      if (s.startsWith('--', this.pos)) {
        while (this.pos < s.length && s[this.pos] !== '\n') this.pos++;
        continue;
      }
      if (s.startsWith('/*', this.pos)) {
        const end = s.indexOf('*/', this.pos + 2);
        this.pos = end < 0 ? s.length : end + 2;
        continue;
      }
      break;
    }
    const pos = this.pos;
    // InfluxDB's scanner places EOF one character past the end.
    if (pos >= s.length) return { kind: 'eof', text: 'EOF', pos: s.length + 1 };
    const c = s[pos]!;
    if (c === '"' || c === "'") {
      const text = this.quoted(c);
      return c === '"' ? { kind: 'ident', text, pos, quoted: true } : { kind: 'string', text, pos };
    }
    if (isDigit(c) || (c === '.' && isDigit(s[pos + 1] ?? ''))) return this.number(pos);
    if (isIdentStart(c)) {
      let i = pos;
      while (i < s.length && isIdentChar(s[i]!)) i++;
      this.pos = i;
      const word = s.slice(pos, i);
      const up = word.toUpperCase();
      return KEYWORDS.has(up) ? { kind: 'keyword', text: up, pos } : { kind: 'ident', text: word, pos };
    }
    for (const op of OPERATORS)
      if (s.startsWith(op, pos)) {
        this.pos = pos + op.length;
        return { kind: 'op', text: op, pos };
      }
    this.pos = pos + 1;
    throw new InfluxQLSyntaxError(`found ${c}, expected identifier, string, number, bool ${where(s, pos)}`);
  }

  private quoted(q: string): string {
    const s = this.src;
    let i = this.pos + 1;
    let out = '';
    for (;;) {
      const c = s[i];
      if (c === undefined || c === '\n') throw new InfluxQLSyntaxError(`found ${s.slice(this.pos, i)}, expected ${q === '"' ? 'identifier' : 'string'} ${where(s, this.pos)}`);
      if (c === '\\') {
        const n = s[i + 1];
        if (n === 'n') out += '\n';
        else if (n === '\\' || n === q || n === '"' || n === "'") out += n;
        else throw new InfluxQLSyntaxError(`bad escape: \\${n ?? ''} ${where(s, i)}`);
        i += 2;
        continue;
      }
      if (c === q) break;
      out += c;
      i++;
    }
    this.pos = i + 1;
    return out;
  }

  private number(pos: number): Token {
    const s = this.src;
    let i = pos;
    while (isDigit(s[i] ?? '')) i++;
    let isFloat = false;
    if (s[i] === '.' && isDigit(s[i + 1] ?? '')) {
      isFloat = true;
      i++;
      while (isDigit(s[i] ?? '')) i++;
    }
    const digits = s.slice(pos, i);
    // A duration: an integer immediately followed by units, possibly several (1h30m).
    if (!isFloat) {
      let j = i;
      let total = 0;
      let part = Number(digits);
      let any = false;
      for (;;) {
        const unit = ['ns', 'ms', 'µ', 'u', 's', 'm', 'h', 'd', 'w'].find((u) => s.startsWith(u, j) && !(u === 'm' && s[j + 1] === 's'));
        if (unit === undefined || isIdentChar(s[j + unit.length] ?? '') && !isDigit(s[j + unit.length] ?? '')) break;
        total += part * DURATION_UNITS[unit]!;
        j += unit.length;
        any = true;
        let k = j;
        while (isDigit(s[k] ?? '')) k++;
        if (k === j) break;
        part = Number(s.slice(j, k));
        j = k;
      }
      if (any) {
        this.pos = j;
        return { kind: 'duration', text: s.slice(pos, j), pos, num: total };
      }
    }
    this.pos = i;
    return { kind: isFloat ? 'number' : 'integer', text: digits, pos, num: Number(digits) };
  }
}
