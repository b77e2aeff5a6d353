// Remote read (SAMPLES) and remote-write receive: the protobuf messages, snappy framing, and the
// step from matchers to series.
import * as path from 'node:path';
import type { Root, Type } from 'protobufjs';
import { PACKAGE_ROOT } from '../package-root';
import { parseSelector, type Selector } from '../selector';
import type { Store } from '../store';
import { badData } from './params';

export const REMOTE_READ_PROTO_PATH = path.join(PACKAGE_ROOT, 'proto', 'remote-read.proto');

let root: Root | undefined;
let readRequestType: Type | undefined;
let readResponseType: Type | undefined;

function types(): { req: Type; res: Type } {
  if (root === undefined) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const protobuf = require('protobufjs') as typeof import('protobufjs');
    root = protobuf.loadSync(REMOTE_READ_PROTO_PATH);
    readRequestType = root.lookupType('prometheus.ReadRequest');
    readResponseType = root.lookupType('prometheus.ReadResponse');
  }
  return { req: readRequestType!, res: readResponseType! };
}

export interface ReadQuery {
  startMs: number;
  endMs: number;
  selector: Selector;
}

const MATCH_OPS = ['=', '!=', '=~', '!~'] as const;

function toNumber(v: unknown): number {
  if (typeof v === 'number') return v;
  if (v !== null && typeof v === 'object' && 'toNumber' in v) return (v as { toNumber(): number }).toNumber();
  return Number(v ?? 0);
}

/** The queries of a ReadRequest (decompressed), each with its matchers as a selector. */
export function decodeReadRequest(body: Uint8Array): ReadQuery[] {
  const { req } = types();
  let msg: { queries?: Array<{ startTimestampMs?: unknown; endTimestampMs?: unknown; matchers?: Array<{ type?: number; name?: string; value?: string }> }> };
  try {
    msg = req.toObject(req.decode(body), { defaults: false }) as typeof msg;
  } catch (e) {
    throw badData(`cannot decode the ReadRequest: ${(e as Error).message}`);
  }
  const queries = msg.queries ?? [];
  if (queries.length === 0) throw badData('the ReadRequest holds no query');
  return queries.map((q, i) => {
    const matchers = q.matchers ?? [];
    if (matchers.length === 0) throw badData(`query ${i} of the ReadRequest has no matcher`);
    const text = `{${matchers
      .map((m) => {
        const op = MATCH_OPS[m.type ?? 0];
        if (op === undefined) throw badData(`query ${i}: matcher type ${String(m.type)} is not EQ, NEQ, RE or NRE`);
        return `${m.name ?? ''}${op}${JSON.stringify(m.value ?? '')}`;
      })
      .join(',')}}`;
    let selector: Selector;
    try {
      selector = parseSelector(text);
    } catch (e) {
      throw badData(`query ${i}: ${(e as Error).message}`);
    }
    const startMs = toNumber(q.startTimestampMs);
    const endMs = toNumber(q.endTimestampMs);
    if (!(startMs <= endMs)) throw badData(`query ${i}: start_timestamp_ms ${startMs} is after end_timestamp_ms ${endMs}`);
    return { startMs, endMs, selector };
  });
}

interface WireSeries {
  labels: Array<{ name: string; value: string }>;
  samples: Array<{ value: number; timestamp: number }>;
}

/**
 * The series a query's matchers select, with their samples in [startMs, endMs] from the finest
 * tier whose ring reaches back to startMs (NaN, "nothing recorded", is left out).
 */
export function readSeries(store: Store, q: ReadQuery, budget: { samples: number }): WireSeries[] {
  const out: WireSeries[] = [];
  for (const h of store.series()) {
    if (!q.selector.matches(h.name, h.labels)) continue;
    const r = store.query(h, { start: q.startMs, end: q.endMs, tier: 'auto' });
    const samples: WireSeries['samples'] = [];
    const ts = r.timestamps;
    const vs = r.values;
    for (let i = 0; i < ts.length; i++) {
      const v = vs[i]!;
      const t = ts[i]!;
      if (v !== v || t < q.startMs || t > q.endMs) continue;
      samples.push({ value: v, timestamp: t });
    }
    if (samples.length === 0) continue;
    budget.samples -= samples.length;
    if (budget.samples < 0) throw badData('the read selects more samples than this server answers in one request; narrow the matchers or the time range');
    const labels = [{ name: '__name__', value: h.name }, ...Object.keys(h.labels).map((n) => ({ name: n, value: h.labels[n]! }))];
    labels.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    out.push({ labels, samples });
  }
  return out;
}

export function encodeReadResponse(results: WireSeries[][]): Uint8Array {
  const { res } = types();
  return res.encode(res.fromObject({ results: results.map((timeseries) => ({ timeseries })) })).finish();
}

