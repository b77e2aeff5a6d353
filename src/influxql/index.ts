// The influxql room: InfluxQL (InfluxDB 1.x's query language) over a rondo store, answering in
// InfluxDB 1.x's JSON shape. The server's /query route calls runInfluxQL().
import type { Store } from '../store';
import { executeStatement, StatementError, type Cell, type ExecContext, type OutSeries } from './exec';
import { InfluxQLSyntaxError, parseInfluxQL, UnsupportedError, type Statement } from './parse';

export { parseInfluxQL, InfluxQLSyntaxError, UnsupportedError } from './parse';
export type { Statement, SelectStatement, ShowStatement, Expr } from './parse';
export { parseTimeString } from './exec';

/** The database rondo names when none was created or written (every name sees the one store). */
export const DEFAULT_DATABASE = 'rondo';

const databases = new WeakMap<Store, Set<string>>();

/** The databases created or written on this store (SHOW DATABASES lists them, or the default when none). */
export function databasesOf(store: Store): Set<string> {
  let s = databases.get(store);
  if (s === undefined) databases.set(store, (s = new Set()));
  return s;
}

/** A database a client named (a write's db=, a query's db=): SHOW DATABASES lists it from then on. */
export function noteDatabase(store: Store, name: string): void {
  if (name !== '') databasesOf(store).add(name);
}

export interface InfluxQLOptions {
  /** epoch= : ns, u, µ, ms, s, m, h; default: RFC 3339 strings. */
  epoch?: string;
  /** The time now() means, ms; default Date.now(). */
  now?: number;
  /** Indent the JSON (pretty=true). */
  pretty?: boolean;
  /** Most intervals (points or empty slots) one query may read; default 50,000,000. */
  maxPoints?: number;
}

export interface InfluxQLAnswer {
  /** 200 with results (a statement's error inside), 400 for a query that does not parse. */
  status: number;
  body: string;
  /** The tiers read ("tier 0:raw", "tier 1:sum,count" ...), for tests and figures. */
  plan: string[];
}

/** Nanoseconds per unit of epoch=. */
const EPOCH_NS: Record<string, bigint> = { ns: 1n, n: 1n, u: 1000n, µ: 1000n, ms: 1_000_000n, s: 1_000_000_000n, m: 60_000_000_000n, h: 3_600_000_000_000n };

/** A time as InfluxDB writes it: RFC 3339 with as many fraction digits as needed (none for whole seconds). */
export function rfc3339(ms: number): string {
  const iso = new Date(ms).toISOString(); // 2026-01-02T03:04:05.678Z
  const frac = iso.slice(20, 23).replace(/0+$/, '');
  const sub = ms - Math.floor(ms);
  let f = frac;
  if (sub !== 0) f = (iso.slice(20, 23) + String(Math.round(sub * 1e6)).padStart(6, '0')).replace(/0+$/, '');
  return `${iso.slice(0, 19)}${f === '' ? '' : `.${f}`}Z`;
}

function timeJson(ms: number, epoch: bigint | undefined): string {
  if (epoch === undefined) return JSON.stringify(rfc3339(ms));
  const ns = BigInt(Math.round(ms * 1e6));
  // Division toward minus infinity, as Go's integer division of positive times.
  return (ns >= 0n ? ns / epoch : -((-ns + epoch - 1n) / epoch)).toString();
}

function cellJson(c: Cell): string {
  if (typeof c === 'number') return Number.isFinite(c) ? JSON.stringify(c) : 'null';
  return JSON.stringify(c);
}

function seriesJson(s: OutSeries, epoch: bigint | undefined): string {
  const parts: string[] = [];
  if (s.name !== undefined) parts.push(`"name":${JSON.stringify(s.name)}`);
  if (s.tags !== undefined) parts.push(`"tags":${JSON.stringify(s.tags)}`);
  parts.push(`"columns":${JSON.stringify(s.columns)}`);
  const rows = s.values.map((r) => `[${r.map((c, i) => (i === 0 && s.time ? timeJson(c as number, epoch) : cellJson(c))).join(',')}]`);
  parts.push(`"values":[${rows.join(',')}]`);
  return `{${parts.join(',')}}`;
}

const err = (status: number, message: string): InfluxQLAnswer => ({ status, body: JSON.stringify({ error: message }), plan: [] });

/** Runs the statements of `q` against `store`, as InfluxDB 1.x's /query answers them. */
export function runInfluxQL(store: Store, q: string, opts: InfluxQLOptions = {}): InfluxQLAnswer {
  let epoch: bigint | undefined;
  if (opts.epoch !== undefined && opts.epoch !== '') {
    epoch = EPOCH_NS[opts.epoch];
    if (epoch === undefined) epoch = 1n; // InfluxDB answers nanoseconds for an unknown epoch
  }
  if (q.trim() === '') return err(400, 'missing required parameter "q"');
  let statements: Statement[];
  try {
    statements = parseInfluxQL(q);
  } catch (e) {
    if (e instanceof InfluxQLSyntaxError || e instanceof UnsupportedError) return err(400, `error parsing query: ${e.message}`);
    throw e;
  }
  const ctx: ExecContext = { store, now: opts.now ?? Date.now(), databases: databasesOf(store), defaultDatabase: DEFAULT_DATABASE, maxPoints: opts.maxPoints ?? 50_000_000, plan: [] };
  const results: string[] = [];
  for (let i = 0; i < statements.length; i++) {
    try {
      const series = executeStatement(statements[i]!, ctx);
      results.push(series.length === 0 ? `{"statement_id":${i}}` : `{"statement_id":${i},"series":[${series.map((s) => seriesJson(s, epoch)).join(',')}]}`);
    } catch (e) {
      if (!(e instanceof StatementError)) throw e;
      // InfluxDB stops at a statement's error: the statements after it are not run.
      results.push(`{"statement_id":${i},"error":${JSON.stringify(e.message)}}`);
      break;
    }
  }
  let body = `{"results":[${results.join(',')}]}`;
  if (opts.pretty === true && (epoch === undefined || epoch >= 1_000_000n)) body = JSON.stringify(JSON.parse(body), null, 4);
  return { status: 200, body, plan: ctx.plan };
}
