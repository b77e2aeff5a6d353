// A store's latest values as a /metrics body: the Prometheus text format (0.0.4), or OpenMetrics
// 1.0 when the scraper asks for it (Accept). Families are typed from the series' kinds and
// shapes (counters and gauges; `<x>_bucket{le}` with `<x>_sum`/`<x>_count` counters as a
// histogram; `<x>{quantile}` gauges with `<x>_sum`/`<x>_count` counters as a summary), with HELP
// and UNIT from the store's description table (store.describe). A series whose last point is
// older than `staleAfterMs` is not exposed: it ended, and /metrics says so by leaving it out.
import { CorruptFileError } from '../errors';
import type { MetricDescription, SeriesHandle, Store } from '../store';

export const TEXT_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
export const OPENMETRICS_CONTENT_TYPE = 'application/openmetrics-text; version=1.0.0; charset=utf-8';

export interface ExpositionOptions {
  /** OpenMetrics 1.0 (with UNIT, `# EOF`) instead of the Prometheus text format. Default false. */
  openMetrics?: boolean;
  /** Leave out a series whose last point is older than this, ms. Default: none left out. */
  staleAfterMs?: number;
  /** The time staleness is measured from, ms since the epoch. Default Date.now(). */
  now?: number;
}

/**
 * Whether an Accept header asks for OpenMetrics: `application/openmetrics-text` with a q above
 * 0 and not below the best q of the text format (`text/plain`, `*\/*`). Prometheus sends
 * `application/openmetrics-text;version=1.0.0,…;q=0.75,text/plain;version=0.0.4;q=0.5,*\/*;q=0.1`.
 */
export function wantsOpenMetrics(accept: string | undefined): boolean {
  if (typeof accept !== 'string' || accept === '') return false;
  let om = 0;
  let text = 0;
  for (const part of accept.split(',')) {
    const [type = '', ...params] = part.split(';').map((s) => s.trim().toLowerCase());
    let q = 1;
    for (const p of params) {
      const m = /^q=([0-9.]+)$/.exec(p);
      if (m !== null) q = Number(m[1]);
    }
    if (!Number.isFinite(q)) continue;
    if (type === 'application/openmetrics-text') om = Math.max(om, q);
    else if (type === 'text/plain' || type === '*/*' || type === 'text/*') text = Math.max(text, q);
  }
  return om > 0 && om >= text;
}

interface Sample {
  name: string;
  labels: Readonly<Record<string, string>>;
  value: number;
}

interface Family {
  /** The name on HELP/TYPE/UNIT lines. */
  name: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'unknown';
  /** The name whose description gives HELP and UNIT. */
  described: readonly string[];
  samples: Sample[];
}

const esc = (v: string): string => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
const escHelp = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');

function num(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

function labelText(labels: Readonly<Record<string, string>>, first?: string): string {
  let keys = Object.keys(labels).filter((k) => labels[k] !== '');
  if (first !== undefined && keys.includes(first)) keys = [...keys.filter((k) => k !== first), first]; // `le`/`quantile` last, as clients print it
  if (keys.length === 0) return '';
  return `{${keys.map((k) => `${k}="${esc(labels[k] as string)}"`).join(',')}}`;
}

/** The labels of a sample without `drop`, as a key for grouping a histogram's or summary's points. */
function groupKey(labels: Readonly<Record<string, string>>, drop: string): string {
  return Object.keys(labels)
    .filter((k) => k !== drop)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`)
    .join(',');
}

const leOf = (s: Sample): number => (s.labels.le === '+Inf' ? Infinity : Number(s.labels.le));

/**
 * The store's last points as a /metrics body (see ExpositionOptions). Families come in the order
 * their first series was registered. A damaged description table leaves HELP generic rather than
 * failing the scrape.
 */
export function storeExposition(store: Store, options: ExpositionOptions = {}): string {
  const om = options.openMetrics === true;
  const now = options.now ?? Date.now();
  const staleAfter = options.staleAfterMs;
  let descriptions: Map<string, MetricDescription>;
  try {
    descriptions = store.descriptions();
  } catch (e) {
    if (!(e instanceof CorruptFileError)) throw e;
    descriptions = new Map();
  }

  // Every fresh series, by name, in registration order.
  const byName = new Map<string, Array<{ h: SeriesHandle; value: number }>>();
  const all = store.series();
  const names = new Set<string>();
  const bucketNames = new Set<string>();
  const quantileNames = new Set<string>();
  for (const h of all) {
    names.add(h.name);
    if (h.kind === 'counter' && h.name.endsWith('_bucket') && h.labels.le !== undefined) bucketNames.add(h.name.slice(0, -'_bucket'.length));
    if (h.kind === 'gauge' && h.labels.quantile !== undefined) quantileNames.add(h.name);
    const p = store.lastPoint(h);
    if (p === undefined) continue;
    if (staleAfter !== undefined && now - p[0] > staleAfter) continue;
    let list = byName.get(h.name);
    if (list === undefined) byName.set(h.name, (list = []));
    list.push({ h, value: p[1] });
  }

  // Families: histograms and summaries take their parts; the rest are what their kind says.
  const families = new Map<string, Family>();
  const familyOf = (name: string, kind: 'counter' | 'gauge', labels: Readonly<Record<string, string>>): { key: string; make: () => Family } => {
    for (const [suffix, base] of [
      ['_bucket', name.slice(0, -7)],
      ['_sum', name.slice(0, -4)],
      ['_count', name.slice(0, -6)],
    ] as const) {
      if (!name.endsWith(suffix) || kind !== 'counter') continue;
      if (bucketNames.has(base) && (suffix !== '_bucket' || labels.le !== undefined))
        return { key: `h ${base}`, make: () => ({ name: base, type: 'histogram', described: [base, `${base}_bucket`], samples: [] }) };
      if (suffix !== '_bucket' && quantileNames.has(base))
        return { key: `s ${base}`, make: () => ({ name: base, type: 'summary', described: [base], samples: [] }) };
    }
    if (kind === 'gauge' && quantileNames.has(name) && labels.quantile !== undefined && (names.has(`${name}_sum`) || names.has(`${name}_count`)))
      return { key: `s ${name}`, make: () => ({ name, type: 'summary', described: [name], samples: [] }) };
    if (kind === 'counter') {
      // OpenMetrics: a counter's family is its name without `_total`, every sample `<family>_total`;
      // a counter not so named is exposed under its own name as `unknown` there.
      if (om && !name.endsWith('_total')) return { key: `u ${name}`, make: () => ({ name, type: 'unknown', described: [name], samples: [] }) };
      const fam = om ? name.slice(0, -'_total'.length) : name;
      return { key: `c ${name}`, make: () => ({ name: fam, type: 'counter', described: [name], samples: [] }) };
    }
    return { key: `g ${name}`, make: () => ({ name, type: 'gauge', described: [name], samples: [] }) };
  };
  for (const [name, list] of byName) {
    for (const { h, value } of list) {
      const { key, make } = familyOf(name, h.kind, h.labels);
      let f = families.get(key);
      if (f === undefined) families.set(key, (f = make()));
      f.samples.push({ name, labels: h.labels, value });
    }
  }

  const lines: string[] = [];
  const taken = new Set<string>();
  for (const f of families.values()) {
    // Two families under one name (a gauge `x` and a counter `x_total` in OpenMetrics): the later is left out.
    if (taken.has(f.name)) continue;
    taken.add(f.name);
    const d = f.described.map((n) => descriptions.get(n)).find((x) => x?.help !== undefined || x?.unit !== undefined);
    const help = d?.help ?? `rondo series ${f.name}`;
    lines.push(`# HELP ${f.name} ${escHelp(help)}`);
    lines.push(`# TYPE ${f.name} ${f.type}`);
    if (om && d?.unit !== undefined && f.name.endsWith(`_${d.unit}`)) lines.push(`# UNIT ${f.name} ${d.unit}`);
    if (f.type === 'histogram' || f.type === 'summary') {
      const inner = f.type === 'histogram' ? 'le' : 'quantile';
      const groups = new Map<string, Sample[]>();
      for (const s of f.samples) {
        const k = groupKey(s.labels, inner);
        let g = groups.get(k);
        if (g === undefined) groups.set(k, (g = []));
        g.push(s);
      }
      for (const g of groups.values()) {
        const parts = (suffix: string) => g.filter((s) => s.name === `${f.name}${suffix}`);
        const main = f.type === 'histogram' ? parts('_bucket').sort((a, b) => leOf(a) - leOf(b)) : parts('').sort((a, b) => Number(a.labels.quantile) - Number(b.labels.quantile));
        if (om && f.type === 'histogram' && (main.length === 0 || main[main.length - 1]!.labels.le !== '+Inf')) continue; // OpenMetrics needs the +Inf bucket
        for (const s of [...main, ...parts('_count'), ...parts('_sum')]) lines.push(`${s.name}${labelText(s.labels, inner)} ${num(s.value)}`);
      }
    } else {
      for (const s of f.samples) lines.push(`${s.name}${labelText(s.labels)} ${num(s.value)}`);
    }
  }
  if (om) lines.push('# EOF');
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

/** Units put on an OpenMetrics family by toOpenMetrics() when its name ends with them. */
const TEXT_UNITS = ['seconds', 'bytes'] as const;

/**
 * A Prometheus text body (HELP, TYPE and samples, as rondo serve writes its own figures) as
 * OpenMetrics 1.0: a counter's family named without `_total` (its samples keep it; a counter not
 * so named becomes `unknown`), `untyped` as `unknown`, UNIT for a family whose name ends in
 * `_seconds` or `_bytes`, and `# EOF`.
 */
export function toOpenMetrics(text: string): string {
  const lines = text.split('\n').filter((l) => l !== '');
  const types = new Map<string, string>();
  for (const l of lines) {
    const m = /^# TYPE (\S+) (\S+)$/.exec(l);
    if (m !== null) types.set(m[1]!, m[2]!);
  }
  const familyName = (name: string): string => (types.get(name) === 'counter' && name.endsWith('_total') ? name.slice(0, -'_total'.length) : name);
  const out: string[] = [];
  for (const l of lines) {
    const help = /^# HELP (\S+) (.*)$/.exec(l);
    if (help !== null) {
      out.push(`# HELP ${familyName(help[1]!)} ${help[2]}`);
      continue;
    }
    const type = /^# TYPE (\S+) (\S+)$/.exec(l);
    if (type !== null) {
      const [, name, t] = type as unknown as [string, string, string];
      const fam = familyName(name);
      const omType = t === 'untyped' || (t === 'counter' && fam === name) ? 'unknown' : t;
      out.push(`# TYPE ${fam} ${omType}`);
      const unit = TEXT_UNITS.find((u) => fam.endsWith(`_${u}`));
      if (unit !== undefined && omType !== 'unknown') out.push(`# UNIT ${fam} ${unit}`);
      continue;
    }
    if (l.startsWith('#')) continue; // other comments are not OpenMetrics'
    out.push(l);
  }
  out.push('# EOF');
  return `${out.join('\n')}\n`;
}
