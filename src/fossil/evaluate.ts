// Runs a parsed query over a store's events: select by topic and time, sample, then the
// pipeline's stages in order. The answer is what a QUERY frame carries: one row per entry.
import { decodeDatum, encodeValue, parseSchema, type Schema, type Value } from './datum';
import { FossilQueryError, parseQuery, type Expr, type Query, type TimeExpr } from './parse';
import type { EventRows, EventSource } from './source';

export interface QueryRow {
  tsNs: bigint;
  topic: string;
  schema: string;
  bytes: Buffer;
}

interface Item {
  tsNs: bigint;
  topic: string;
  schema: string;
  bytes?: Buffer;
  value?: Value;
}

export interface RunOptions {
  /** "now" in ns (default: the clock). */
  nowNs?: bigint;
  /** The most entries selected before the pipeline (default 10 000 000). */
  maxEntries?: number;
}

const schemaCache = new Map<string, Schema>();
function schemaOf(text: string): Schema {
  let s = schemaCache.get(text);
  if (s === undefined) {
    try {
      s = parseSchema(text);
    } catch {
      s = { kind: 'string' };
    }
    if (schemaCache.size < 10_000) schemaCache.set(text, s);
  }
  return s;
}

function timeOf(t: TimeExpr, now: bigint): bigint {
  return (t.whence === 'now' ? now : t.whence) + t.offsetNs;
}

/** The [start, end) range of a query's time predicate (undefined ends are open). */
export function timeRange(q: Query, nowNs: bigint): { start?: bigint; end?: bigint } {
  if (q.time === undefined) return {};
  const t = q.time;
  if (t.kind === 'between') return { start: timeOf(t.from, nowNs), end: timeOf(t.to, nowNs) };
  return t.kind === 'since' ? { start: timeOf(t.at, nowNs) } : { end: timeOf(t.at, nowNs) };
}

/** Parses and runs `text`; throws FossilQueryError (positioned) for a bad query or a value a
 *  stage cannot compute with. */
export function runQuery(source: EventSource, text: string, options: RunOptions = {}): QueryRow[] {
  return runParsed(source, parseQuery(text), options);
}

/**
 * runQuery(), answering a query without a pipeline (all or sample over the events) as columns,
 * with no object per entry: what the door encodes a large answer from.
 */
export function runQueryRows(source: EventSource, text: string, options: RunOptions = {}): QueryRow[] | EventRows {
  const q = parseQuery(text);
  if (q.stages.length > 0 || source.columns === undefined) return runParsed(source, q, options);
  const now = options.nowNs ?? BigInt(Date.now()) * 1_000_000n;
  const range = timeRange(q, now);
  const limit = options.maxEntries ?? 10_000_000;
  if (q.quantifier.kind === 'sample') {
    const fromTiers = source.sampleFromTiers?.(q.topic, q.quantifier.everyNs, range.start, range.end);
    if (fromTiers !== undefined) return runParsed(source, q, options);
  }
  const c = source.columns({
    ...(q.topic !== undefined && q.topic !== '/' ? { topic: q.topic } : {}),
    ...(range.start !== undefined ? { start: range.start } : {}),
    ...(range.end !== undefined ? { end: range.end } : {}),
    limit: limit + 1,
  });
  if (c.count > limit) throw new FossilQueryError(`the query selects more than ${limit} entries: narrow it with 'in' or a time`, 0, q.text);
  return q.quantifier.kind === 'sample' ? sampleRows(c, q.quantifier.everyNs) : c;
}

/** The entries of columns as QueryRows, one object each. */
export function queryRowsOf(c: EventRows): QueryRow[] {
  const out: QueryRow[] = new Array(c.count);
  const { tsNs, topicIndex, topics, schemas, start, end, data } = c;
  for (let i = 0; i < c.count; i++) {
    const k = topicIndex[i]!;
    out[i] = { tsNs: tsNs[i]!, topic: topics[k]!, schema: schemas[k]!, bytes: data.subarray(start[i]!, end[i]!) };
  }
  return out;
}

/** sample() over columns: the first entry, then each next one at least `every` after the last one kept. */
function sampleRows(c: EventRows, every: bigint): EventRows {
  const keep: number[] = [];
  let next: bigint | undefined;
  for (let i = 0; i < c.count; i++) {
    const t = c.tsNs[i]!;
    if (next === undefined || t >= next) {
      keep.push(i);
      next = t + every;
    }
  }
  const pick = <T extends BigInt64Array | Uint32Array>(a: T, make: (n: number) => T): T => {
    const out = make(keep.length);
    keep.forEach((i, j) => (out[j] = a[i]!));
    return out;
  };
  return {
    ...c,
    count: keep.length,
    tsNs: pick(c.tsNs, (n) => new BigInt64Array(n)),
    topicIndex: pick(c.topicIndex, (n) => new Uint32Array(n)),
    start: pick(c.start, (n) => new Uint32Array(n)),
    end: pick(c.end, (n) => new Uint32Array(n)),
  };
}

export function runParsed(source: EventSource, q: Query, options: RunOptions = {}): QueryRow[] {
  const now = options.nowNs ?? BigInt(Date.now()) * 1_000_000n;
  const range = timeRange(q, now);
  const limit = options.maxEntries ?? 10_000_000;
  const fromTiers =
    q.quantifier.kind === 'sample' ? source.sampleFromTiers?.(q.topic, q.quantifier.everyNs, range.start, range.end) : undefined;
  const select = {
    ...(q.topic !== undefined && q.topic !== '/' ? { topic: q.topic } : {}),
    ...(range.start !== undefined ? { start: range.start } : {}),
    ...(range.end !== undefined ? { end: range.end } : {}),
    limit: limit + 1,
  };
  if (fromTiers === undefined && q.stages.length === 0 && source.columns !== undefined) {
    // No pipeline: the selected entries are the answer, made from the columns in one pass.
    const c = source.columns(select);
    if (c.count > limit) throw new FossilQueryError(`the query selects more than ${limit} entries: narrow it with 'in' or a time`, 0, q.text);
    return queryRowsOf(q.quantifier.kind === 'sample' ? sampleRows(c, q.quantifier.everyNs) : c);
  }
  const rows = fromTiers ?? source.events(select);
  if (rows.length > limit) throw new FossilQueryError(`the query selects more than ${limit} entries: narrow it with 'in' or a time`, 0, q.text);
  let items: Item[] = rows.map((r) => ({
    tsNs: r.tsNs,
    topic: r.topic,
    schema: r.schema,
    bytes: r.data,
  }));
  if (q.quantifier.kind === 'sample' && fromTiers === undefined) items = sample(items, q.quantifier.everyNs);
  for (const st of q.stages) {
    const valueOf = (it: Item): Value => (it.value ??= decodeDatum(it.bytes!, schemaOf(it.schema)));
    if (st.kind === 'filter') {
      items = items.filter((it) => truthy(call(st.args, [valueOf(it)], st.body, q.text), st.body, q.text));
    } else if (st.kind === 'map') {
      items = items.map((it) => ({ tsNs: it.tsNs, topic: it.topic, schema: '', value: call(st.args, [valueOf(it)], st.body, q.text) }));
    } else {
      if (items.length <= 1) continue;
      let acc = valueOf(items[0]!);
      for (let i = 1; i < items.length; i++) acc = call(st.args, [acc, valueOf(items[i]!)], st.body, q.text);
      items = [{ tsNs: items[items.length - 1]!.tsNs, topic: 'N/A', schema: '', value: acc }];
    }
  }
  return items.map((it) => {
    if (it.bytes !== undefined && it.value === undefined) return { tsNs: it.tsNs, topic: it.topic, schema: it.schema, bytes: it.bytes };
    if (it.bytes !== undefined && it.schema !== '') return { tsNs: it.tsNs, topic: it.topic, schema: it.schema, bytes: it.bytes };
    let enc: { bytes: Buffer; schema: string };
    try {
      enc = encodeValue(it.value!);
    } catch (e) {
      throw new FossilQueryError((e as Error).message, q.stages.at(-1)?.pos ?? 0, q.text);
    }
    return { tsNs: it.tsNs, topic: it.topic, schema: enc.schema, bytes: enc.bytes };
  });
}

/** The first entry, then each next one at least `every` after the last one kept. */
function sample(items: Item[], every: bigint): Item[] {
  const out: Item[] = [];
  let next: bigint | undefined;
  for (const it of items) {
    if (next === undefined || it.tsNs >= next) {
      out.push(it);
      next = it.tsNs + every;
    }
  }
  return out;
}

/** Binds a stage's arguments: one argument per value, or one value that is a tuple spread over
 *  several arguments (map count, sum -> sum / count). */
function call(args: string[], values: Value[], body: Expr, text: string): Value {
  const env = new Map<string, Value>();
  if (args.length === values.length) args.forEach((a, i) => env.set(a, values[i]!));
  else if (values.length === 1 && values[0]!.k === 'tuple' && values[0]!.v.length === args.length) args.forEach((a, i) => env.set(a, (values[0] as { v: Value[] }).v[i]!));
  else throw new FossilQueryError(`the stage takes ${args.length} arguments but its input is ${describe(values[0]!)}`, body.pos, text);
  return evaluate(body, env, text);
}

function describe(v: Value): string {
  return v.k === 'tuple' ? `a tuple of ${v.v.length}` : `a single ${kindName(v)}`;
}

function kindName(v: Value): string {
  return { int: 'integer', float: 'float', bool: 'boolean', string: 'string', tuple: 'tuple', composite: 'composite' }[v.k];
}

function truthy(v: Value, at: Expr, text: string): boolean {
  if (v.k === 'bool') return v.v;
  if (v.k === 'int') return v.v !== 0n;
  if (v.k === 'float') return v.v !== 0;
  throw new FossilQueryError(`a filter must give a boolean or a number, not a ${kindName(v)}`, at.pos, text);
}

const num = (v: Value): number => (v.k === 'int' ? Number(v.v) : v.k === 'float' ? v.v : NaN);

function evaluate(e: Expr, env: Map<string, Value>, text: string): Value {
  const fail = (m: string, pos = e.pos): never => {
    throw new FossilQueryError(m, pos, text);
  };
  switch (e.t) {
    case 'num':
      return e.value;
    case 'str':
      return { k: 'string', v: e.value };
    case 'id': {
      const v = env.get(e.name);
      if (v === undefined) return fail(`unknown name '${e.name}' (the stage's arguments are ${[...env.keys()].join(', ')})`);
      return v;
    }
    case 'index': {
      const v = env.get(e.name);
      if (v === undefined) return fail(`unknown name '${e.name}'`);
      if (v.k === 'tuple' && typeof e.sub === 'bigint') {
        const x = v.v[Number(e.sub)];
        return x ?? fail(`index ${e.sub} is outside the tuple of ${v.v.length}`);
      }
      if (v.k === 'composite' && typeof e.sub === 'string') {
        const x = v.v.get(e.sub);
        return x ?? fail(`the composite has no key '${e.sub}'`);
      }
      return fail(`'${e.name}' is a ${kindName(v)}: it cannot be indexed by ${typeof e.sub === 'bigint' ? 'a number' : 'a key'}`);
    }
    case 'unary': {
      const v = evaluate(e.arg, env, text);
      if (v.k === 'int') return e.op === '-' ? { k: 'int', v: -v.v } : v;
      if (v.k === 'float') return e.op === '-' ? { k: 'float', v: -v.v } : v;
      return fail(`unary '${e.op}' needs a number, not a ${kindName(v)}`);
    }
    case 'tuple':
      return { k: 'tuple', v: e.items.map((x) => evaluate(x, env, text)) };
    case 'composite':
      return { k: 'composite', v: new Map(e.keys.map((k, i) => [k, evaluate(e.values[i]!, env, text)])) };
    case 'call': {
      const args = e.args.map((x) => evaluate(x, env, text));
      const flat = args.length === 1 && args[0]!.k === 'tuple' ? args[0]!.v : args;
      if (e.name === 'len') {
        if (args.length !== 1) return fail('len takes one argument');
        const a = args[0]!;
        if (a.k === 'string') return { k: 'int', v: BigInt(Buffer.byteLength(a.v, 'utf8')) };
        if (a.k === 'tuple') return { k: 'int', v: BigInt(a.v.length) };
        return fail(`len needs a string or a tuple, not a ${kindName(a)}`);
      }
      if (flat.length === 0) return fail(`${e.name} needs at least one value`);
      let best = flat[0]!;
      for (const v of flat) {
        if (v.k !== 'int' && v.k !== 'float') return fail(`${e.name} needs numbers, not a ${kindName(v)}`);
        if (best.k !== 'int' && best.k !== 'float') return fail(`${e.name} needs numbers`);
        const less = compare(v, best) < 0;
        if (e.name === 'min' ? less : compare(v, best) > 0) best = v;
      }
      return best;
    }
    case 'bin': {
      const a = evaluate(e.left, env, text);
      const b = evaluate(e.right, env, text);
      const op = e.op;
      if (op === '==' || op === '!=') {
        const eq = equal(a, b);
        if (eq === undefined) return fail(`operands of '${op}' must be comparable: a ${kindName(a)} and a ${kindName(b)}`);
        return { k: 'bool', v: op === '==' ? eq : !eq };
      }
      if (op === '<' || op === '<=' || op === '>' || op === '>=') {
        const ok = (a.k === 'int' || a.k === 'float') && (b.k === 'int' || b.k === 'float');
        const strs = a.k === 'string' && b.k === 'string';
        if (!ok && !strs) return fail(`operands of '${op}' must be two numbers or two strings: a ${kindName(a)} and a ${kindName(b)}`);
        const c = strs ? (a.v < (b.v as string) ? -1 : a.v > (b.v as string) ? 1 : 0) : compare(a, b);
        return { k: 'bool', v: op === '<' ? c < 0 : op === '<=' ? c <= 0 : op === '>' ? c > 0 : c >= 0 };
      }
      if (op === '+' && a.k === 'string' && b.k === 'string') return { k: 'string', v: a.v + b.v };
      if (a.k === 'tuple' && b.k === 'tuple' && a.v.length === b.v.length)
        return { k: 'tuple', v: a.v.map((x, i) => arith(op, x, b.v[i]!, fail)) };
      return arith(op, a, b, fail);
    }
  }
}

function arith(op: string, a: Value, b: Value, fail: (m: string) => never): Value {
  if (a.k === 'int' && b.k === 'int') {
    switch (op) {
      case '+':
        return { k: 'int', v: BigInt.asIntN(64, a.v + b.v) };
      case '-':
        return { k: 'int', v: BigInt.asIntN(64, a.v - b.v) };
      case '*':
        return { k: 'int', v: BigInt.asIntN(64, a.v * b.v) };
      case '/':
        if (b.v === 0n) return fail('division by zero');
        return { k: 'int', v: a.v / b.v };
    }
  }
  if ((a.k === 'int' || a.k === 'float') && (b.k === 'int' || b.k === 'float')) {
    const x = num(a);
    const y = num(b);
    switch (op) {
      case '+':
        return { k: 'float', v: x + y };
      case '-':
        return { k: 'float', v: x - y };
      case '*':
        return { k: 'float', v: x * y };
      case '/':
        return { k: 'float', v: x / y };
    }
  }
  return fail(`operands of '${op}' must be numbers: a ${kindName(a)} and a ${kindName(b)}`);
}

function compare(a: Value, b: Value): number {
  if (a.k === 'int' && b.k === 'int') return a.v < b.v ? -1 : a.v > b.v ? 1 : 0;
  const x = num(a);
  const y = num(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

function equal(a: Value, b: Value): boolean | undefined {
  if ((a.k === 'int' || a.k === 'float') && (b.k === 'int' || b.k === 'float')) return compare(a, b) === 0;
  if (a.k !== b.k) return undefined;
  if (a.k === 'tuple') {
    const bv = b.v as Value[];
    if (a.v.length !== bv.length) return false;
    for (let i = 0; i < a.v.length; i++) {
      const e = equal(a.v[i]!, bv[i]!);
      if (e !== true) return e;
    }
    return true;
  }
  if (a.k === 'composite') return undefined;
  return a.v === b.v;
}
