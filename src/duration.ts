/**
 * Durations as options take them: a positive whole number of milliseconds, or a Prometheus-style
 * string such as '10s', '6h', '1h30m', '7d'.
 */
import { ConfigError } from './errors';

export type Duration = number | string;

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const WEEK = 7 * DAY;
const YEAR = 365 * DAY;

/** The longest duration accepted: 100 years of 365 days. */
export const MAX_DURATION_MS = 100 * YEAR;

/** Units accepted in strings, largest first; a compound must use them in this order, each once. */
const UNITS: ReadonlyArray<readonly [unit: string, ms: number]> = [
  ['y', YEAR],
  ['w', WEEK],
  ['d', DAY],
  ['h', HOUR],
  ['m', MINUTE],
  ['s', SECOND],
  ['ms', 1],
];

/** Units used by formatDuration, largest first (weeks and years are not used). */
const FORMAT_UNITS: ReadonlyArray<readonly [unit: string, ms: number]> = [
  ['d', DAY],
  ['h', HOUR],
  ['m', MINUTE],
  ['s', SECOND],
  ['ms', 1],
];

const UNIT_LIST = "use ms, s, m, h, d, w or y (e.g. '10s', '6h') or a number of milliseconds";

/**
 * The duration `d` in milliseconds: an integer > 0 and at most 100 years. Throws ConfigError
 * naming `what` (e.g. 'tier 1 interval') for anything else.
 */
export function parseDuration(d: Duration, what: string): number {
  if (typeof d === 'number') return checkMs(d, what);
  if (typeof d !== 'string') {
    const got = d === null ? 'null' : Array.isArray(d) ? 'an array' : typeof d;
    throw new ConfigError(
      `${what} must be a duration: a number of milliseconds or a string like '10s' or '6h', not ${got}`,
    );
  }
  const fail = (reason: string): never => {
    throw new ConfigError(`${what} ${JSON.stringify(d)} is not a duration: ${reason}`);
  };

  if (d.length === 0) fail(`it is empty; ${UNIT_LIST}`);
  if (/\s/.test(d)) fail("it contains spaces; write it without them, e.g. '1h30m'");
  if (d[0] === '-') fail('it is negative; durations must be greater than zero');
  if (/^[0-9]+$/.test(d)) fail("add a unit, e.g. '10s', or pass a number of milliseconds");

  let total = 0;
  let pos = 0;
  let lastRank = -1;
  let lastUnit = '';
  while (pos < d.length) {
    const numMatch = /^[0-9]+/.exec(d.slice(pos));
    if (numMatch === null) {
      const c = d[pos] as string;
      if (c === '+') fail("remove the '+'; durations are always positive");
      fail(`expected a number at ${JSON.stringify(d.slice(pos))}; write it like '10s' or '1h30m'`);
    }
    const digits = (numMatch as RegExpExecArray)[0];
    pos += digits.length;

    const unitMatch = /^[a-zA-Zµμ]+/.exec(d.slice(pos));
    if (unitMatch === null) {
      if (pos >= d.length) fail(`the last number ${digits} has no unit; ${UNIT_LIST}`);
      const c = d[pos] as string;
      if (c === '.' || c === ',') {
        fail("fractions are not allowed; use a smaller unit, e.g. '1h30m' or '1500ms'");
      }
      fail(`unexpected ${JSON.stringify(c)} after ${digits}; ${UNIT_LIST}`);
    }
    const unit = (unitMatch as RegExpExecArray)[0];
    pos += unit.length;

    const rank = UNITS.findIndex(([u]) => u === unit);
    if (rank < 0) fail(`unknown unit ${JSON.stringify(unit)}; ${UNIT_LIST}`);
    if (rank <= lastRank) {
      fail(
        rank === lastRank
          ? `unit ${JSON.stringify(unit)} appears twice; write each unit once, largest first, e.g. '1h30m'`
          : `units must go from largest to smallest, e.g. '1h30m', but ${JSON.stringify(unit)} comes after ${JSON.stringify(lastUnit)}`,
      );
    }
    lastRank = rank;
    lastUnit = unit;
    total += Number(digits) * (UNITS[rank] as readonly [string, number])[1];
  }

  if (total === 0) fail('it must be greater than zero');
  if (!(total <= MAX_DURATION_MS)) fail('it is more than 100 years');
  return total;
}

function checkMs(n: number, what: string): number {
  const fail = (reason: string): never => {
    throw new ConfigError(`${what} ${String(n)} is not a duration: ${reason}`);
  };
  if (Number.isNaN(n)) fail("it is NaN; pass a number of milliseconds or a string like '10s'");
  if (!Number.isFinite(n)) fail('it is not finite');
  if (n < 0) fail('it is negative; durations must be greater than zero');
  if (n === 0) fail('it must be greater than zero');
  if (!Number.isInteger(n)) fail('it must be a whole number of milliseconds');
  if (n > MAX_DURATION_MS) fail('it is more than 100 years');
  return n;
}

/**
 * A duration in the largest units that divide it: 600000 → '10m', 5400000 → '1h30m',
 * 1500 → '1s500ms', 604800000 → '7d'. Meant for positive whole milliseconds (what parseDuration
 * returns, which it parses back to the same number); 0 gives '0ms', a negative number gets a '-',
 * fractions are rounded to the nearest millisecond, and NaN or Infinity come back as String(ms).
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  let rest = Math.round(Math.abs(ms));
  if (rest === 0) return '0ms';
  const sign = ms < 0 ? '-' : '';
  let out = '';
  for (const [unit, size] of FORMAT_UNITS) {
    if (rest >= size) {
      const count = Math.floor(rest / size);
      rest -= count * size;
      out += `${count}${unit}`;
    }
  }
  return sign + out;
}
