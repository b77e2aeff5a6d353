// Output helpers of the rondo command: times, numbers, sizes, CSV fields, aligned tables,
// terminal charts, and a stdout writer that stops quietly when the reader goes away.
import { formatDuration } from '../duration';

/** RFC 3339 in UTC, without the milliseconds when they are zero: 2024-05-01T12:00:00Z. */
export function formatTime(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  const iso = new Date(ms).toISOString();
  return iso.endsWith('.000Z') ? `${iso.slice(0, -5)}Z` : iso;
}

/** RFC 3339 in UTC with milliseconds, always the same width: for machines (CSV). */
export function formatTimeMs(ms: number): string {
  return new Date(ms).toISOString();
}

/** "3s ago", "2h5m ago", "in 4s": how far a time is from now, in its two largest units. */
export function formatAge(ms: number, now: number): string {
  const d = Math.round((now - ms) / 1000) * 1000;
  if (d === 0) return 'now';
  const terms = formatDuration(Math.abs(d)).match(/\d+[a-z]+/g) ?? [];
  const text = terms.slice(0, 2).join('');
  return d > 0 ? `${text} ago` : `in ${text}`;
}

/**
 * A value for people: integers as they are, others to 6 significant digits but keeping every
 * digit before the point (44842449.7, 3.14159, 0.000123457); '-' when missing.
 */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return '-';
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return String(v);
  const a = Math.abs(v);
  const intDigits = a >= 1 && a < 1e15 ? Math.floor(Math.log10(a)) + 1 : 0;
  return String(Number(v.toPrecision(Math.min(17, Math.max(6, intDigits + 1)))));
}

/** A short value for chart labels: 4 significant digits, with k, M, G, T, P from 10,000 on (61.16M). */
export function formatCompact(v: number): string {
  if (Number.isNaN(v)) return '-';
  const a = Math.abs(v);
  if (a < 1e4) return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(4)));
  const units = ['k', 'M', 'G', 'T', 'P'];
  let u = -1;
  let x = a;
  while (x >= 1000 && u < units.length - 1) {
    x /= 1000;
    u++;
  }
  return `${v < 0 ? '-' : ''}${Number(x.toPrecision(4))}${units[u]}`;
}

/** A size for people: 1.5 MiB, 312 KiB, 4096 B. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  if (u === 0) return `${n} B`;
  return `${v >= 100 ? Math.round(v) : Number(v.toFixed(1))} ${units[u]}`;
}

/** 1234567 → "1,234,567". */
export function formatCount(n: number): string {
  return Math.round(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** A CSV field (RFC 4180): quoted when it holds a comma, a quote or a line break. */
export function csvField(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Width of a string on a terminal, counted in code points (labels are mostly ASCII). */
export function textWidth(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

export function padEnd(s: string, width: number): string {
  return s + ' '.repeat(Math.max(0, width - textWidth(s)));
}

export function padStart(s: string, width: number): string {
  return ' '.repeat(Math.max(0, width - textWidth(s))) + s;
}

/**
 * Lines of an aligned table: columns separated by two spaces, the header then the rows.
 * `right[i]` right-aligns column i (numbers). Trailing spaces are trimmed.
 */
export function alignTable(header: readonly string[], rows: readonly (readonly string[])[], right: readonly boolean[] = []): string[] {
  const widths = header.map((h) => textWidth(h));
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, textWidth(c))));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (right[i] === true ? padStart(c, widths[i]!) : padEnd(c, widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

/** The width of the terminal stdout writes to, or 80. */
export function terminalWidth(): number {
  const c = process.stdout.columns;
  return typeof c === 'number' && c >= 20 ? c : 80;
}

/** Eighths of a cell, from empty to full. */
const BLOCKS = [' ', '▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

export interface ChartSeries {
  /** What the chart is of: the series key and anything to add (e.g. "(rate/s)"). */
  title: string;
  timestamps: Float64Array;
  values: Float64Array;
  /** Step of the last point, ms (the interval each point stands for). */
  step: number;
  /** Shown after min and max, e.g. "600 points, tier 0, step 1s". */
  note: string;
}

/**
 * A block-character chart of one series, `height` rows high and `width` characters wide in
 * all: a title line with min and max (formatCompact), the plot with max and min labelled on its axis, and a
 * time axis with the first and last timestamps. Each column of the plot covers an equal span of
 * time and shows the largest value of the points in it; columns without a point stay blank.
 */
export function renderChart(s: ChartSeries, width: number, height = 8): string[] {
  const n = s.timestamps.length;
  let min = Infinity;
  let max = -Infinity;
  let present = 0;
  for (let i = 0; i < n; i++) {
    const v = s.values[i]!;
    if (Number.isNaN(v)) continue;
    present++;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (present === 0) return [`${s.title}  no data  (${s.note})`];
  const top = formatCompact(max);
  const bottom = formatCompact(min);
  const lw = Math.max(textWidth(top), textWidth(bottom));
  const plotWidth = Math.max(10, width - lw - 2);

  // Column c covers [t0 + span·c/W, t0 + span·(c+1)/W); point i covers [ts_i, ts_{i+1}).
  const t0 = s.timestamps[0]!;
  const t1 = s.timestamps[n - 1]! + s.step;
  const span = t1 - t0;
  const cols = new Float64Array(plotWidth).fill(NaN);
  let i = 0;
  for (let c = 0; c < plotWidth; c++) {
    const a = t0 + (span * c) / plotWidth;
    const b = t0 + (span * (c + 1)) / plotWidth;
    while (i < n - 1 && s.timestamps[i + 1]! <= a) i++;
    let best = NaN;
    for (let j = i; j < n && s.timestamps[j]! < b; j++) {
      const v = s.values[j]!;
      if (!Number.isNaN(v) && !(v <= best)) best = v;
    }
    cols[c] = best;
  }

  const levels = height * 8;
  const eighths = Array.from(cols, (v) => {
    if (Number.isNaN(v)) return 0;
    const f = max === min ? 0.5 : (v - min) / (max - min);
    return 1 + Math.round(f * (levels - 1));
  });
  const lines = [`${s.title}  min ${bottom}  max ${top}  (${s.note})`];
  for (let r = 0; r < height; r++) {
    const base = (height - 1 - r) * 8;
    const label = r === 0 ? top : r === height - 1 ? bottom : '';
    const tick = r === 0 || r === height - 1 ? '┤' : '│';
    const cells = eighths.map((e) => BLOCKS[Math.min(8, Math.max(0, e - base))]).join('');
    lines.push(`${padStart(label, lw)} ${tick}${cells}`.trimEnd());
  }
  lines.push(`${' '.repeat(lw)} └${'─'.repeat(plotWidth)}`);
  const from = formatTime(t0);
  const to = formatTime(s.timestamps[n - 1]!);
  const room = plotWidth + 1;
  lines.push(
    textWidth(from) + textWidth(to) + 1 <= room
      ? `${' '.repeat(lw + 1)}${from}${' '.repeat(room - textWidth(from) - textWidth(to))}${to}`
      : `${' '.repeat(lw + 1)}${from} → ${to}`,
  );
  return lines;
}

let pipeClosed = false;

/**
 * Writes to stdout. When the reader has gone (`rondo query … | head`), the rest is dropped and
 * the command ends quietly instead of failing with EPIPE.
 */
export function writeOut(text: string): void {
  if (pipeClosed) return;
  if (process.stdout.listenerCount('error') === 0)
    process.stdout.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') {
        pipeClosed = true;
        return;
      }
      throw e;
    });
  process.stdout.write(text);
}
