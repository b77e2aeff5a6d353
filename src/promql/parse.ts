// PromQL text -> AST, through the lezer grammar of @prometheus-io/lezer-promql (no parser of our
// own): the tree is walked, checked as Prometheus's parser checks it, and turned into Node.
import { parseSelector, type Selector } from '../selector';
import { badData, PromqlError } from './errors';

export type ValueType = 'scalar' | 'string' | 'vector' | 'matrix';
/** `@` modifier: a time in ms, or the query's start()/end(). */
export type AtMod = number | 'start' | 'end' | undefined;

export interface VectorSelectorNode {
  type: 'vector';
  text: string;
  selector: Selector;
  /** The matchers as written (for absent()). */
  matchers: ReadonlyArray<{ name: string; op: string; value: string }>;
  offset: number;
  at: AtMod;
  offsetSet: boolean;
}
export interface MatrixSelectorNode {
  type: 'matrix';
  vs: VectorSelectorNode;
  range: number;
  text: string;
}
export interface SubqueryNode {
  type: 'subquery';
  expr: Node;
  range: number;
  step: number | undefined;
  offset: number;
  at: AtMod;
  offsetSet: boolean;
  text: string;
}
export interface Matching {
  card: 'one-to-one' | 'many-to-one' | 'one-to-many' | 'many-to-many';
  on: boolean;
  labels: string[];
  include: string[];
}
export type Node =
  | { type: 'number'; value: number }
  | { type: 'string'; value: string }
  | VectorSelectorNode
  | MatrixSelectorNode
  | SubqueryNode
  | { type: 'call'; fn: string; args: Node[] }
  | { type: 'agg'; op: string; param: Node | undefined; expr: Node; grouping: string[]; without: boolean }
  | { type: 'binary'; op: string; lhs: Node; rhs: Node; bool: boolean; matching: Matching | undefined }
  | { type: 'unary'; op: '-' | '+'; expr: Node }
  | { type: 'paren'; expr: Node };

interface FnSig {
  args: ValueType[];
  /** 0: exactly args; n > 0: the last n args optional; -1: the last arg repeats any number of times. */
  variadic: number;
  ret: ValueType;
}
const V: ValueType = 'vector';
const M: ValueType = 'matrix';
const S: ValueType = 'scalar';
const STR: ValueType = 'string';

/** The functions rondo evaluates. */
export const FUNCTIONS: Readonly<Record<string, FnSig>> = {
  abs: { args: [V], variadic: 0, ret: V },
  ceil: { args: [V], variadic: 0, ret: V },
  floor: { args: [V], variadic: 0, ret: V },
  exp: { args: [V], variadic: 0, ret: V },
  ln: { args: [V], variadic: 0, ret: V },
  log2: { args: [V], variadic: 0, ret: V },
  log10: { args: [V], variadic: 0, ret: V },
  sqrt: { args: [V], variadic: 0, ret: V },
  round: { args: [V, S], variadic: 1, ret: V },
  clamp: { args: [V, S, S], variadic: 0, ret: V },
  clamp_min: { args: [V, S], variadic: 0, ret: V },
  clamp_max: { args: [V, S], variadic: 0, ret: V },
  time: { args: [], variadic: 0, ret: S },
  timestamp: { args: [V], variadic: 0, ret: V },
  vector: { args: [S], variadic: 0, ret: V },
  scalar: { args: [V], variadic: 0, ret: S },
  label_replace: { args: [V, STR, STR, STR, STR], variadic: 0, ret: V },
  label_join: { args: [V, STR, STR, STR], variadic: -1, ret: V },
  sort: { args: [V], variadic: 0, ret: V },
  sort_desc: { args: [V], variadic: 0, ret: V },
  histogram_quantile: { args: [S, V], variadic: 0, ret: V },
  absent: { args: [V], variadic: 0, ret: V },
  absent_over_time: { args: [M], variadic: 0, ret: V },
  rate: { args: [M], variadic: 0, ret: V },
  irate: { args: [M], variadic: 0, ret: V },
  increase: { args: [M], variadic: 0, ret: V },
  delta: { args: [M], variadic: 0, ret: V },
  idelta: { args: [M], variadic: 0, ret: V },
  deriv: { args: [M], variadic: 0, ret: V },
  resets: { args: [M], variadic: 0, ret: V },
  changes: { args: [M], variadic: 0, ret: V },
  avg_over_time: { args: [M], variadic: 0, ret: V },
  min_over_time: { args: [M], variadic: 0, ret: V },
  max_over_time: { args: [M], variadic: 0, ret: V },
  sum_over_time: { args: [M], variadic: 0, ret: V },
  count_over_time: { args: [M], variadic: 0, ret: V },
  stddev_over_time: { args: [M], variadic: 0, ret: V },
  stdvar_over_time: { args: [M], variadic: 0, ret: V },
  last_over_time: { args: [M], variadic: 0, ret: V },
  present_over_time: { args: [M], variadic: 0, ret: V },
  quantile_over_time: { args: [S, M], variadic: 0, ret: V },
};

const AGGREGATORS = new Set(['sum', 'avg', 'min', 'max', 'count', 'stddev', 'stdvar', 'topk', 'bottomk', 'quantile', 'count_values', 'group']);
const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset', 'start', 'end', 'and', 'or', 'unless', 'atan2']);
const COMPARISONS = new Set(['==', '!=', '>', '<', '>=', '<=']);
const SET_OPS = new Set(['and', 'or', 'unless']);
const EXPR_NODES = new Set([
  'BinaryExpr', 'AggregateExpr', 'FunctionCall', 'ParenExpr', 'UnaryExpr', 'VectorSelector', 'MatrixSelector',
  'SubqueryExpr', 'OffsetExpr', 'StepInvariantExpr', 'NumberDurationLiteral', 'StringLiteral',
]);

// The lezer tree's node, as much of it as we use.
interface LNode {
  type: { name: string; isError: boolean };
  from: number;
  to: number;
  firstChild: LNode | null;
  nextSibling: LNode | null;
}
interface LTree {
  topNode: LNode;
  iterate(spec: { enter(n: { type: { isError: boolean }; from: number; to: number }): boolean | void }): void;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const lezer = require('@prometheus-io/lezer-promql') as { parser: { parse(text: string): LTree } };

function children(n: LNode): LNode[] {
  const out: LNode[] = [];
  for (let c = n.firstChild; c !== null; c = c.nextSibling) out.push(c);
  return out;
}

/** "line:col" of a position, 1-based, as Prometheus reports it. */
function where(text: string, pos: number): string {
  const before = text.slice(0, pos);
  const line = before.split('\n').length;
  const col = pos - (before.lastIndexOf('\n') + 1) + 1;
  return `${line}:${col}`;
}

const DURATION_RE = /^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$/;
const DURATION_UNITS = [365 * 86_400_000, 7 * 86_400_000, 86_400_000, 3_600_000, 60_000, 1000, 1];

/** A Prometheus duration ("5m", "1h30m", "100ms"; a plain number is seconds) in ms. */
export function parsePromDuration(s: string): number {
  const t = s.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Math.round(Number(t) * 1000);
  const m = DURATION_RE.exec(t);
  if (t === '' || m === null) throw badData(`parse error: bad duration syntax: "${s}"`);
  let ms = 0;
  for (let i = 0; i < DURATION_UNITS.length; i++) if (m[i + 1] !== undefined) ms += Number(m[i + 1]) * (DURATION_UNITS[i] as number);
  return ms;
}

/** Go's strconv.ParseFloat, as PromQL number literals and `le` labels use it; NaN when it fails. */
export function parseGoFloat(s: string): number {
  const t = s.replace(/_/g, '');
  if (/^[+-]?(inf|infinity)$/i.test(t)) return t.startsWith('-') ? -Infinity : Infinity;
  if (/^[+-]?nan$/i.test(t)) return NaN;
  if (/^[+-]?0x[0-9a-f]+$/i.test(t)) return t.startsWith('-') ? -parseInt(t.slice(3), 16) : parseInt(t.replace(/^\+/, '').slice(2), 16);
  if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(t)) return NaN;
  return Number(t);
}

/** A Go string literal ("...", '...' with escapes, `...` raw). */
export function unquote(lit: string): string {
  const q = lit[0];
  if (q === '`') return lit.slice(1, -1);
  const body = lit.slice(1, -1);
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const c = body[i] as string;
    if (c !== '\\') {
      out += c;
      continue;
    }
    const e = body[++i];
    switch (e) {
      case 'a': out += '\x07'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'v': out += '\v'; break;
      case '\\': out += '\\'; break;
      case '"': out += '"'; break;
      case "'": out += "'"; break;
      case 'x': out += String.fromCharCode(parseInt(body.slice(i + 1, i + 3), 16)); i += 2; break;
      case 'u': out += String.fromCodePoint(parseInt(body.slice(i + 1, i + 5), 16)); i += 4; break;
      case 'U': out += String.fromCodePoint(parseInt(body.slice(i + 1, i + 9), 16)); i += 8; break;
      default:
        if (e !== undefined && /[0-7]/.test(e)) {
          out += String.fromCharCode(parseInt(body.slice(i, i + 3), 8));
          i += 2;
        } else throw badData(`parse error: unknown escape sequence in string ${lit}`);
    }
  }
  return out;
}

/** Names a function-like identifier the grammar did not know, if the text has one. */
function unknownFunction(text: string): string | undefined {
  const re = /("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)|([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\(/g;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const name = m[2];
    if (name === undefined) continue;
    const prev = text.slice(0, m.index).trimEnd();
    if (prev.endsWith('@')) continue;
    if (name in FUNCTIONS || AGGREGATORS.has(name) || KEYWORDS.has(name.toLowerCase())) continue;
    return name;
  }
  return undefined;
}

export function typeOf(n: Node): ValueType {
  switch (n.type) {
    case 'number': return 'scalar';
    case 'string': return 'string';
    case 'vector': return 'vector';
    case 'matrix':
    case 'subquery': return 'matrix';
    case 'call': return (FUNCTIONS[n.fn] as FnSig).ret;
    case 'agg': return 'vector';
    case 'binary': return typeOf(n.lhs) === 'scalar' && typeOf(n.rhs) === 'scalar' ? 'scalar' : 'vector';
    case 'unary':
    case 'paren': return typeOf(n.expr);
  }
}

const TYPE_NAMES: Record<ValueType, string> = { scalar: 'scalar', string: 'string', vector: 'instant vector', matrix: 'range vector' };

class Builder {
  constructor(private readonly text: string) {}

  src(n: LNode): string {
    return this.text.slice(n.from, n.to);
  }

  fail(n: LNode, msg: string): PromqlError {
    return badData(`${where(this.text, n.from)}: parse error: ${msg}`);
  }

  exprChildren(n: LNode): LNode[] {
    return children(n).filter((c) => EXPR_NODES.has(c.type.name));
  }

  build(n: LNode): Node {
    const kids = children(n);
    switch (n.type.name) {
      case 'NumberDurationLiteral': {
        const t = this.src(n);
        let v = parseGoFloat(t);
        if (Number.isNaN(v) && !/nan/i.test(t)) v = parsePromDuration(t) / 1000;
        return { type: 'number', value: v };
      }
      case 'StringLiteral':
        return { type: 'string', value: unquote(this.src(n)) };
      case 'ParenExpr': {
        const e = this.exprChildren(n)[0];
        if (e === undefined) throw this.fail(n, 'unexpected ")"');
        return { type: 'paren', expr: this.build(e) };
      }
      case 'UnaryExpr': {
        const op = kids.find((c) => c.type.name === 'UnaryOp');
        const e = this.exprChildren(n)[0] as LNode;
        const expr = this.build(e);
        const t = typeOf(expr);
        if (t !== 'scalar' && t !== 'vector') throw this.fail(n, `unary expression only allowed on expressions of type scalar or instant vector, got "${TYPE_NAMES[t]}"`);
        return { type: 'unary', op: op !== undefined && this.src(op).trim() === '-' ? '-' : '+', expr };
      }
      case 'VectorSelector':
        return this.vectorSelector(n);
      case 'MatrixSelector': {
        const e = this.exprChildren(n)[0] as LNode;
        const vs = this.build(e);
        if (vs.type !== 'vector') throw this.fail(n, 'ranges only allowed for vector selectors');
        if (vs.offsetSet || vs.at !== undefined) throw this.fail(n, 'no offset or @ modifiers allowed before range');
        const d = kids.find((c) => c.type.name === 'DurationExpr');
        if (d === undefined) throw this.fail(n, 'missing range');
        return { type: 'matrix', vs, range: this.duration(d), text: this.src(n) };
      }
      case 'SubqueryExpr': {
        const e = this.exprChildren(n)[0] as LNode;
        const expr = this.build(e);
        const t = typeOf(expr);
        if (t !== 'vector') throw this.fail(n, `subquery is only allowed on instant vector, got ${TYPE_NAMES[t]} instead`);
        const ds = kids.filter((c) => c.type.name === 'DurationExpr');
        const range = this.duration(ds[0] as LNode);
        const step = ds[1] !== undefined ? this.duration(ds[1]) : undefined;
        if (step === 0) throw this.fail(n, 'zero step in subquery');
        return { type: 'subquery', expr, range, step, offset: 0, at: undefined, offsetSet: false, text: this.src(n) };
      }
      case 'OffsetExpr': {
        const e = this.exprChildren(n)[0] as LNode;
        const inner = this.build(e);
        const d = kids.find((c) => c.type.name === 'OffsetDurationExpr');
        if (d === undefined) throw this.fail(n, 'missing offset');
        const t = this.src(d).replace(/\s+/g, '');
        const ms = t.startsWith('-') ? -parsePromDuration(t.slice(1)) : parsePromDuration(t.replace(/^\+/, ''));
        const target = this.modifierTarget(n, inner, 'offset');
        if (target.offsetSet) throw this.fail(n, 'offset may not be set multiple times');
        target.offset = ms;
        target.offsetSet = true;
        return inner;
      }
      case 'StepInvariantExpr': {
        const e = this.exprChildren(n)[0] as LNode;
        const inner = this.build(e);
        const atIdx = kids.findIndex((c) => c.type.name === 'At');
        const rest = kids.slice(atIdx + 1);
        const restText = rest.map((c) => this.src(c)).join('').replace(/\s+/g, '');
        let at: AtMod;
        if (/^start(\(\))?$/.test(restText)) at = 'start';
        else if (/^end(\(\))?$/.test(restText)) at = 'end';
        else {
          const v = parseGoFloat(restText);
          if (!Number.isFinite(v)) throw this.fail(n, `invalid timestamp for @ modifier: ${restText}`);
          at = Math.round(v * 1000);
        }
        const target = this.modifierTarget(n, inner, '@');
        if (target.at !== undefined) throw this.fail(n, '@ <timestamp> may not be set multiple times');
        target.at = at;
        return inner;
      }
      case 'FunctionCall':
        return this.call(n);
      case 'AggregateExpr':
        return this.aggregate(n);
      case 'BinaryExpr':
        return this.binary(n);
      default:
        throw this.fail(n, `unexpected ${JSON.stringify(this.src(n))}`);
    }
  }

  modifierTarget(n: LNode, inner: Node, what: string): VectorSelectorNode | SubqueryNode {
    if (inner.type === 'vector' || inner.type === 'subquery') return inner;
    if (inner.type === 'matrix') return inner.vs;
    // The grammar binds a trailing modifier looser than Prometheus does: `a - b offset 1m` is
    // `a - (b offset 1m)` in Prometheus.
    if (inner.type === 'binary') return this.modifierTarget(n, inner.rhs, what);
    if (inner.type === 'unary') return this.modifierTarget(n, inner.expr, what);
    throw this.fail(n, `${what} modifier must be preceded by an instant vector selector or range vector selector or a subquery`);
  }

  duration(n: LNode): number {
    const ms = parsePromDuration(this.src(n));
    return ms;
  }

  vectorSelector(n: LNode): VectorSelectorNode {
    const text = this.src(n);
    let selector: Selector;
    try {
      selector = parseSelector(text);
    } catch (e) {
      const msg = (e as Error).message.split('\n')[0] as string;
      throw this.fail(n, msg.replace(/^invalid selector: /, ''));
    }
    return { type: 'vector', text, selector, matchers: selector.matchers, offset: 0, at: undefined, offsetSet: false };
  }

  grouping(n: LNode | undefined): string[] {
    if (n === undefined) return [];
    return children(n)
      .filter((c) => c.type.name === 'LabelName' || c.type.name === 'QuotedLabelName' || c.type.name === 'StringLiteral')
      .map((c) => (c.type.name === 'LabelName' ? this.src(c) : unquote(this.src(c).trim())));
  }

  call(n: LNode): Node {
    const kids = children(n);
    const id = kids.find((c) => c.type.name === 'FunctionIdentifier') as LNode;
    const fn = this.src(id);
    const body = kids.find((c) => c.type.name === 'FunctionCallBody');
    const args = body === undefined ? [] : this.exprChildren(body).map((c) => this.build(c));
    const sig = FUNCTIONS[fn];
    if (sig === undefined) throw badData(`${where(this.text, n.from)}: parse error: function "${fn}" is not supported by rondo (unknown function "${fn}")`);
    const want = sig.args;
    if (sig.variadic === 0 && args.length !== want.length)
      throw this.fail(n, `expected ${want.length} argument(s) in call to "${fn}", got ${args.length}`);
    if (sig.variadic > 0 && (args.length < want.length - sig.variadic || args.length > want.length))
      throw this.fail(n, `expected at most ${want.length} argument(s) in call to "${fn}", got ${args.length}`);
    if (sig.variadic < 0 && args.length < want.length - 1)
      throw this.fail(n, `expected at least ${want.length - 1} argument(s) in call to "${fn}", got ${args.length}`);
    args.forEach((a, i) => {
      const w = want[Math.min(i, want.length - 1)] as ValueType;
      const t = typeOf(a);
      if (t !== w) throw this.fail(n, `expected type ${TYPE_NAMES[w]} in call to function "${fn}", got ${TYPE_NAMES[t]}`);
    });
    return { type: 'call', fn, args };
  }

  aggregate(n: LNode): Node {
    const kids = children(n);
    const op = this.src(kids.find((c) => c.type.name === 'AggregateOp') as LNode).toLowerCase();
    if (!AGGREGATORS.has(op)) throw badData(`${where(this.text, n.from)}: parse error: aggregation "${op}" is not supported by rondo`);
    const mod = kids.find((c) => c.type.name === 'AggregateModifier');
    let without = false;
    let grouping: string[] = [];
    if (mod !== undefined) {
      const mk = children(mod);
      without = mk.some((c) => c.type.name === 'Without');
      grouping = this.grouping(mk.find((c) => c.type.name === 'GroupingLabels'));
    }
    const body = kids.find((c) => c.type.name === 'FunctionCallBody');
    const args = body === undefined ? [] : this.exprChildren(body).map((c) => this.build(c));
    const needsParam = op === 'topk' || op === 'bottomk' || op === 'quantile' || op === 'count_values';
    if (args.length !== (needsParam ? 2 : 1))
      throw this.fail(n, `wrong number of arguments for aggregate expression provided, expected ${needsParam ? 2 : 1}, got ${args.length}`);
    const expr = args[args.length - 1] as Node;
    const param = needsParam ? args[0] : undefined;
    if (typeOf(expr) !== 'vector') throw this.fail(n, `expected type instant vector in aggregation expression, got ${TYPE_NAMES[typeOf(expr)]}`);
    if (param !== undefined) {
      const want: ValueType = op === 'count_values' ? 'string' : 'scalar';
      if (typeOf(param) !== want) throw this.fail(n, `expected type ${TYPE_NAMES[want]} in aggregation parameter, got ${TYPE_NAMES[typeOf(param)]}`);
    }
    return { type: 'agg', op, param, expr, grouping, without };
  }

  binary(n: LNode): Node {
    const kids = children(n);
    const exprs = this.exprChildren(n);
    const lhs = this.build(exprs[0] as LNode);
    const rhs = this.build(exprs[exprs.length - 1] as LNode);
    const opNode = kids.find((c) => !EXPR_NODES.has(c.type.name) && c.type.name !== 'BoolModifier' && c.type.name !== 'MatchingModifierClause') as LNode;
    const op = this.src(opNode).toLowerCase();
    const bool = kids.some((c) => c.type.name === 'BoolModifier');
    const mm = kids.find((c) => c.type.name === 'MatchingModifierClause');
    const lt = typeOf(lhs);
    const rt = typeOf(rhs);
    if (op === 'atan2') throw badData(`${where(this.text, n.from)}: parse error: operator "atan2" is not supported by rondo`);
    for (const t of [lt, rt]) if (t !== 'scalar' && t !== 'vector') throw this.fail(n, `binary expression must contain only scalar and instant vector types`);
    const isCmp = COMPARISONS.has(op);
    const isSet = SET_OPS.has(op);
    if (bool && !isCmp) throw this.fail(n, 'bool modifier can only be used on comparison operators');
    if (isCmp && lt === 'scalar' && rt === 'scalar' && !bool) throw this.fail(n, 'comparisons between scalars must use BOOL modifier');
    if (isSet && (lt !== 'vector' || rt !== 'vector')) throw this.fail(n, `set operator "${op}" not allowed in binary scalar expression`);
    let matching: Matching | undefined;
    if (lt === 'vector' && rt === 'vector') matching = { card: isSet ? 'many-to-many' : 'one-to-one', on: false, labels: [], include: [] };
    if (mm !== undefined) {
      if (matching === undefined) throw this.fail(n, 'vector matching only allowed between instant vectors');
      const mk = children(mm);
      const groups = mk.filter((c) => c.type.name === 'GroupingLabels');
      matching.on = mk.some((c) => c.type.name === 'On');
      matching.labels = this.grouping(groups[0]);
      const left = mk.some((c) => c.type.name === 'GroupLeft');
      const right = mk.some((c) => c.type.name === 'GroupRight');
      if (left || right) {
        if (isSet) throw this.fail(n, `no grouping allowed for "${op}" operation`);
        matching.card = left ? 'many-to-one' : 'one-to-many';
        matching.include = this.grouping(groups[1]);
        if (matching.on) for (const l of matching.include) if (matching.labels.includes(l)) throw this.fail(n, `label "${l}" must not occur in ON and GROUP clause at once`);
      }
    }
    return { type: 'binary', op, lhs, rhs, bool, matching };
  }
}

/** Parses a PromQL expression; throws PromqlError (bad_data) as Prometheus's parser would. */
export function parseExpr(text: string): Node {
  if (typeof text !== 'string') throw badData('parse error: expression must be a string');
  if (text.trim() === '') throw badData('1:1: parse error: no expression found in input');
  const tree = lezer.parser.parse(text);
  let errAt = -1;
  tree.iterate({
    enter(n) {
      if (errAt >= 0) return false;
      if (n.type.isError) {
        errAt = n.from;
        return false;
      }
      return undefined;
    },
  });
  if (errAt >= 0) {
    const fn = unknownFunction(text);
    if (fn !== undefined) throw badData(`1:${text.indexOf(fn) + 1}: parse error: unknown function with name "${fn}" (not supported by rondo)`);
    const rest = text.slice(errAt).trim();
    const what = rest === '' ? 'unexpected end of input' : `unexpected character or token at ${JSON.stringify(rest.slice(0, 20))}`;
    throw badData(`${where(text, errAt)}: parse error: ${what}`);
  }
  const top = tree.topNode;
  const kids = children(top).filter((c) => EXPR_NODES.has(c.type.name));
  if (kids.length !== 1) throw badData('1:1: parse error: no expression found in input');
  return new Builder(text).build(kids[0] as LNode);
}
