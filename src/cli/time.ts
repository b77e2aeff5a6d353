// Times and ranges on the command line: RFC 3339, unix seconds or milliseconds, now, now-15m,
// -15m; durations as parseDuration reads them.
import { parseDuration } from '../duration';
import { ConfigError } from '../errors';
import { MIN_TIMESTAMP } from '../store';
import { UsageError } from './common';

/** The forms a time may take, for messages and help. */
export const TIME_FORMS =
  'RFC 3339 (2024-05-01T12:00:00Z, 2024-05-01T14:00:00.5+02:00), unix seconds (1714564800, fractions allowed), ' +
  'unix milliseconds (1714564800000), now, now-15m or -15m';

/** The forms a duration may take. */
export const DURATION_FORMS = 'a duration such as 30s, 15m, 1h30m or 7d (units ms, s, m, h, d, w, y)';

/** Numbers below this are seconds, from it on milliseconds (1e11 s is the year 5138; 1e11 ms is 1973). */
const SECONDS_BELOW = 1e11;
/** The largest time a Date can hold. */
const MAX_TIME = 8.64e15;

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/**
 * A time given to `--<flag>` as milliseconds since the epoch. `now` is the command's one
 * reading of the clock, so that `--start -5m --end now` is exactly five minutes.
 * Throws UsageError naming the flag, the value and the accepted forms.
 */
export function parseTime(cmd: string, flagName: string, value: string, now: number): number {
  const bad = (why?: string): never => {
    throw new UsageError(
      `rondo ${cmd}: --${flagName} ${JSON.stringify(value)} is not a time${why === undefined ? '' : ` (${why})`}; use ${TIME_FORMS}`,
    );
  };
  const v = value.trim();
  let ms: number;
  const rel = /^(now)?([-+])(.*)$/.exec(v);
  if (v === 'now') {
    ms = now;
  } else if (rel !== null && (rel[1] !== undefined || rel[2] === '-')) {
    // now-15m, now+1m, -15m (a bare "+15m" is not accepted: it reads like a typo)
    if (/^\d+$/.test(rel[3]!)) bad('an offset needs a unit, e.g. -15m or now-90s');
    let d = 0;
    try {
      d = parseDuration(rel[3]!, 'offset');
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      bad(durationReason(e));
    }
    ms = rel[2] === '-' ? now - d : now + d;
  } else if (/^\d+(\.\d+)?$/.test(v)) {
    const n = Number(v);
    if (n < SECONDS_BELOW) ms = Math.round(n * 1000);
    else if (Number.isInteger(n)) ms = n;
    else return bad('a number this large is milliseconds, which take no fraction');
  } else {
    const m = RFC3339.exec(v);
    if (m === null) return bad();
    const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
    const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
    if (month < 1 || month > 12 || day < 1 || day > daysInMonth || hour > 23 || minute > 59 || second > 59)
      return bad('no such date or time of day');
    const frac = m[7] === undefined ? 0 : Number(m[7].slice(0, 3).padEnd(3, '0'));
    let offset = 0;
    if (m[8] === undefined) {
      const oh = Number(m[10]);
      const om = Number(m[11]);
      if (oh > 23 || om > 59) return bad('no such time zone offset');
      offset = (m[9] === '-' ? -1 : 1) * (oh * 60 + om) * 60_000;
    }
    const utc = new Date(0);
    utc.setUTCFullYear(year, month - 1, day);
    utc.setUTCHours(hour, minute, second, frac);
    ms = utc.getTime() - offset;
  }
  if (!Number.isFinite(ms) || Math.abs(ms) > MAX_TIME) return bad('out of range');
  if (ms < MIN_TIMESTAMP) return bad('before 2000-01-01, where no store has data; is it seconds given as milliseconds?');
  return ms;
}

/** A duration given to `--<flag>`, in ms. Throws UsageError naming the value and the accepted forms. */
export function parseDurationFlag(cmd: string, flagName: string, value: string): number {
  try {
    return parseDuration(value, `--${flagName}`);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    throw new UsageError(
      `rondo ${cmd}: --${flagName} ${JSON.stringify(value)} is not a duration (${durationReason(e)}); use ${DURATION_FORMS}`,
    );
  }
}

// "offset "x" is not a duration: <reason>" → "<reason>"
function durationReason(e: Error): string {
  const at = e.message.indexOf('is not a duration: ');
  return at < 0 ? e.message : e.message.slice(at + 'is not a duration: '.length);
}

export interface TimeRange {
  start: number;
  end: number;
}

/**
 * The range of `--start`, `--end` and `--range` (at most two of them): by default the last
 * hour; `--range D` alone ends now; with one end given, the range reaches D (default 1 hour)
 * from it. Throws UsageError for a bad time, a bad duration, three flags, or start after end.
 */
export function parseRange(
  cmd: string,
  given: { start?: string | undefined; end?: string | undefined; range?: string | undefined },
  now: number,
  defaultRangeMs = 3_600_000,
): TimeRange {
  if (given.start !== undefined && given.end !== undefined && given.range !== undefined)
    throw new UsageError(`rondo ${cmd}: give at most two of --start, --end and --range; see rondo ${cmd} --help`);
  const range = given.range === undefined ? undefined : parseDurationFlag(cmd, 'range', given.range);
  const start = given.start === undefined ? undefined : parseTime(cmd, 'start', given.start, now);
  const end = given.end === undefined ? undefined : parseTime(cmd, 'end', given.end, now);
  let r: TimeRange;
  if (start !== undefined && end !== undefined) r = { start, end };
  else if (start !== undefined) r = { start, end: range === undefined ? now : start + range };
  else {
    const e = end ?? now;
    r = { start: e - (range ?? defaultRangeMs), end: e };
  }
  if (r.start > r.end)
    throw new UsageError(
      `rondo ${cmd}: the range is empty: --start ${JSON.stringify(given.start)} (${formatIso(r.start)}) is after ` +
        `${given.end === undefined ? 'now' : `--end ${JSON.stringify(given.end)}`} (${formatIso(r.end)}); give a start before the end`,
    );
  return r;
}

function formatIso(ms: number): string {
  return new Date(ms).toISOString();
}
