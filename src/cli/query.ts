// rondo query <dir> '<selector>' [--range D | --start T --end T] [--tier auto|stitch|N] [--rate]
//                                [--format csv|json|table|chart]
import { Store, type SelectResult } from '../store';
import { parseSelector, formatSeries, type Selector } from '../selector';
import { formatDuration } from '../duration';
import { CapacityError, InvalidQueryError, InvalidSelectorError } from '../errors';
import { flag, parseArgs, UsageError } from './common';
import { alignTable, csvField, formatTime, formatTimeMs, formatValue, renderChart, terminalWidth, writeOut } from './format';
import { parseRange } from './time';

export const QUERY_HELP = `usage: rondo query <dir> '<selector>' [--range D | --start T [--end T]] [--tier auto|stitch|N]
                   [--rate] [--format csv|json|table|chart]

Reads every series of the store in <dir> that a Prometheus selector matches, over a time range.
Opens the store read-only: it may be written by a running process meanwhile, and is never changed.

selector
  metric_name, metric_name{label="value"}, {__name__=~"vcpu_.*", reason!~"hlt|io"}: matchers
  = (equal), != (not equal), =~ (regex matches), !~ (regex does not match); a label a series
  does not have counts as "". Quote the selector for the shell.

range (default: the last hour, ending now)
  --range D        a duration ending at --end (default now), or starting at --start
  --start T        first time wanted (inclusive)
  --end T          last time wanted (inclusive); default now
  Give at most two of the three.

  A time T is one of
    RFC 3339            2024-05-01T12:00:00Z, 2024-05-01T14:00:00.5+02:00
    unix seconds        1714564800, 1714564800.25 (a number below 1e11)
    unix milliseconds   1714564800000 (a number from 1e11 on)
    relative to now     now, now-15m, -15m
  A duration D is like 30s, 15m, 1h30m or 7d (units ms, s, m, h, d, w, y; no fractions).

options
  --tier auto      the finest tier whose ring reaches back to the start (default)
  --tier stitch    fine data where the finest tier has it, coarser tiers before that
  --tier N         tier N (0 is the finest)
  --rate           per-second rates of counters (the increase between adjacent points, counter
                   resets handled; the first point of a series has no rate). Every series the
                   selector matches must be a counter: gauges are an error naming them.
  --format F       table (default when stdout is a terminal), csv (default otherwise), json, chart

formats
  csv    header "series,timestamp,value", then one row per point that has a value, series after
         series: the series key (name{label="value",...}, quoted as CSV), the start of the
         point's interval in RFC 3339 UTC with milliseconds, and the value in full precision.
         Missing points (nothing recorded, or no rate) have no row.
  json   one array: per series {"name", "labels", "kind", "tier", "step", "points"}, with step
         in ms and points [[timestamp_ms, value or null], ...]: every interval of the range,
         null where nothing was recorded.
  table  a line saying what was read, then a time column (RFC 3339 UTC) and one column per series,
         headed by its key: one row per timestamp, values to 6 significant digits, "-" where a
         series has no value.
  chart  per series: its key with min and max, a block chart 8 rows high as wide as the
         terminal (80 columns when not a terminal) with max and min on its axis, and the first
         and last timestamps under it. Each column covers an equal span of time; a column
         covering several points shows the largest, one without a value stays blank.
         Large values are shortened with k, M, G, T, P (61.16M).

exit status: 0 ok (also when nothing matches); 1 the store cannot be read (not a store,
damaged); 2 a mistake in the command: bad selector (with its position), time, range, tier or
format, --rate on gauges.

examples
  rondo query /var/lib/vmm/metrics 'vcpu_exits_total{reason=~"io|mmio"}' --range 15m --rate
  rondo query ./metrics process_resident_memory_bytes --start -5m --end now --format chart
  rondo query ./metrics '{vm="vm-42"}' --start 2024-05-01T12:00:00Z --end 2024-05-01T13:00:00Z --format json
  rondo query ./metrics 'nodejs_heap_size_used_bytes' --range 7d --tier stitch --format csv > heap.csv`;

type Format = 'csv' | 'json' | 'table' | 'chart';
const FORMATS: readonly Format[] = ['csv', 'json', 'table', 'chart'];

export async function queryCommand(argv: readonly string[]): Promise<number> {
  const args = parseArgs('query', argv, ['range', 'start', 'end', 'tier', 'format'], ['rate']);
  if (args.positional.length !== 2)
    throw new UsageError(
      `rondo query: give a store directory and a selector (got ${args.positional.length} argument${args.positional.length === 1 ? '' : 's'}); see rondo query --help`,
    );
  const [dir, selectorText] = args.positional as [string, string];
  const formatFlag = flag(args, 'format');
  const format = (formatFlag ?? (process.stdout.isTTY ? 'table' : 'csv')) as Format;
  if (!FORMATS.includes(format)) throw new UsageError(`rondo query: --format must be csv, json, table or chart, not ${JSON.stringify(formatFlag)}`);
  const tier = parseTier(flag(args, 'tier'));
  const rate = args.switches.has('rate');
  const now = Date.now();
  const { start, end } = parseRange('query', { start: flag(args, 'start'), end: flag(args, 'end'), range: flag(args, 'range') }, now);
  const selector = parseSelectorArg(selectorText);

  const store = Store.openReadOnly(dir);
  try {
    if (rate) {
      const gauges = store.series().filter((h) => h.kind === 'gauge' && selector.matches(h.name, h.labels));
      if (gauges.length > 0)
        throw new UsageError(
          `rondo query: --rate is for counters, but the selector also matches ${gauges.length === 1 ? 'the gauge' : `${gauges.length} gauges:`} ` +
            `${gauges.slice(0, 3).map((h) => h.key).join(', ')}${gauges.length > 3 ? ', …' : ''}; narrow the selector (e.g. to a counter's name) or drop --rate`,
        );
    }
    let results: SelectResult[];
    try {
      results = store.select(selectorText, { start, end, tier, rate });
    } catch (e) {
      if (e instanceof InvalidQueryError || e instanceof CapacityError) throw new UsageError(`rondo query: ${e.message.split('\n')[0]}`);
      throw e;
    }
    const text =
      format === 'csv'
        ? toCsv(results)
        : format === 'json'
          ? toJson(results)
          : format === 'table'
            ? toTable(results, selectorText, start, end, rate)
            : toCharts(results, selectorText, rate);
    writeOut(text);
    return 0;
  } finally {
    store.close();
  }
}

function parseTier(v: string | undefined): 'auto' | 'stitch' | number {
  if (v === undefined || v === 'auto' || v === 'stitch') return v ?? 'auto';
  if (/^\d+$/.test(v)) return Number(v);
  throw new UsageError(`rondo query: --tier must be auto, stitch or a tier index (0 is the finest), not ${JSON.stringify(v)}`);
}

/** The selector, or a UsageError whose one line says what is wrong and at which position. */
function parseSelectorArg(text: string): Selector {
  try {
    return parseSelector(text);
  } catch (e) {
    if (!(e instanceof InvalidSelectorError)) throw e;
    const shown = text.length <= 120 ? text : `${text.slice(0, 117)}...`;
    throw new UsageError(`rondo query: ${e.message.split('\n')[0]} (in ${JSON.stringify(shown)})`);
  }
}

function keyOf(r: SelectResult): string {
  return formatSeries(r.name, r.labels);
}

export function toCsv(results: readonly SelectResult[]): string {
  const out: string[] = ['series,timestamp,value'];
  for (const r of results) {
    const key = csvField(keyOf(r));
    for (let i = 0; i < r.timestamps.length; i++) {
      const v = r.values[i];
      if (Number.isNaN(v)) continue;
      out.push(`${key},${formatTimeMs(r.timestamps[i]!)},${String(v)}`);
    }
  }
  return `${out.join('\n')}\n`;
}

function toJson(results: readonly SelectResult[]): string {
  const list = results.map((r) => ({
    name: r.name,
    labels: r.labels,
    kind: r.kind,
    tier: r.tier,
    step: r.step,
    points: Array.from(r.timestamps, (t, i) => {
      const v = r.values[i];
      return [t, Number.isNaN(v) ? null : v];
    }),
  }));
  return `${JSON.stringify(list)}\n`;
}

/** "tier 0, step 1s" or "tiers 2 (step 5m), 0 (step 1s)": what a set of results read, oldest part first. */
function tiersRead(results: readonly SelectResult[]): string {
  const seen: string[] = [];
  for (const r of results) {
    const parts = r.segments.length > 0 ? r.segments : [{ tier: r.tier, step: r.step }];
    for (const s of parts) {
      const t = `${s.tier}, step ${formatDuration(s.step)}`;
      if (!seen.includes(t)) seen.push(t);
    }
  }
  return seen.length === 1 ? `tier ${seen[0]}` : `tiers ${seen.map((t) => t.replace(', ', ' (') + ')').join(', ')}`;
}

function toTable(results: readonly SelectResult[], selector: string, start: number, end: number, rate: boolean): string {
  if (results.length === 0) return `no series match ${selector}\n`;
  const stamps = new Set<number>();
  for (const r of results) for (const t of r.timestamps) stamps.add(t);
  const times = [...stamps].sort((a, b) => a - b);
  const byTime = results.map((r) => {
    const m = new Map<number, number>();
    r.timestamps.forEach((t, i) => m.set(t, r.values[i]!));
    return m;
  });
  const rows = times.map((t) => [formatTime(t), ...byTime.map((m) => formatValue(m.get(t) ?? NaN))]);
  const title =
    `${results.length} series, ${times.length} timestamps from ${formatTime(start)} to ${formatTime(end)}, ` +
    `${tiersRead(results)}${rate ? ', per-second rates' : ''}`;
  const lines = alignTable(['time', ...results.map(keyOf)], rows, [false, ...results.map(() => true)]);
  return `${title}\n${lines.join('\n')}\n`;
}

function toCharts(results: readonly SelectResult[], selector: string, rate: boolean): string {
  if (results.length === 0) return `no series match ${selector}\n`;
  const width = terminalWidth();
  const blocks = results.map((r) =>
    renderChart(
      {
        title: `${keyOf(r)}${rate ? ' (rate/s)' : ''}`,
        timestamps: r.timestamps,
        values: r.values,
        step: r.segments.length > 0 ? r.segments[r.segments.length - 1]!.step : r.step,
        note: `${r.timestamps.length} points, ${tiersRead([r])}`,
      },
      width,
    ).join('\n'),
  );
  return `${blocks.join('\n\n')}\n`;
}
