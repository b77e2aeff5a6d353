// Request parameters as Prometheus's HTTP API reads them: times (RFC 3339 or unix seconds with a
// fraction), durations (a Prometheus duration or float seconds), and the error shape. Every
// regular expression here is compiled once, at load.

/** An error answered in Prometheus's shape: {status:"error", errorType, error}. */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    readonly errorType: string,
    message: string,
  ) {
    super(message);
  }
}

export const badData = (message: string): ApiError => new ApiError(400, 'bad_data', message);

const FLOAT_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const SPECIAL_FLOAT_RE = /^[+-]?(?:inf|infinity|nan)$/i;
const RFC3339_RE = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|([+-])(\d{2}):(\d{2}))$/;
const PROM_DURATION_RE = /^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$/;
const DURATION_UNITS_MS = [365 * 86_400_000, 7 * 86_400_000, 86_400_000, 3_600_000, 60_000, 1000, 1];

/** Go's strconv.ParseFloat for decimal text (and Inf, NaN); undefined when it is not a float. */
export function parseFloatStrict(s: string): number | undefined {
  if (FLOAT_RE.test(s)) return Number(s);
  if (SPECIAL_FLOAT_RE.test(s)) {
    const neg = s[0] === '-';
    if (/nan/i.test(s)) return NaN;
    return neg ? -Infinity : Infinity;
  }
  return undefined;
}

// Prometheus's minTime and maxTime, as its API formats them (clients send them back).
const MIN_TIME_FORMATTED = '-292273086-05-16T16:47:06Z';
const MAX_TIME_FORMATTED = '292277025-08-18T07:12:54.999999999Z';
/** The earliest and latest times a query may name (ms): far enough for any store. */
export const MIN_TIME_MS = -62_135_596_800_000; // year 1
export const MAX_TIME_MS = 253_402_300_799_999; // year 9999

/** Milliseconds since the epoch from Prometheus's time formats; undefined when it is none. */
export function parseTimeMs(s: string): number | undefined {
  const f = parseFloatStrict(s);
  if (f !== undefined) {
    if (!Number.isFinite(f)) return undefined;
    const secs = Math.trunc(f);
    const ms = Math.round((f - secs) * 1000);
    const t = secs * 1000 + ms;
    return Math.min(MAX_TIME_MS, Math.max(MIN_TIME_MS, t));
  }
  const m = RFC3339_RE.exec(s);
  if (m !== null) {
    const [, y, mo, d, h, mi, sec, frac, , sign, oh, om] = m;
    let t = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(sec));
    if (!Number.isFinite(t) || Number(mo) > 12 || Number(d) > 31 || Number(h) > 23 || Number(mi) > 59 || Number(sec) > 60) return undefined;
    if (frac !== undefined) t += Math.floor(Number(`0${frac}`) * 1000);
    if (sign !== undefined) t -= (sign === '-' ? -1 : 1) * (Number(oh) * 3_600_000 + Number(om) * 60_000);
    return t;
  }
  if (s === MIN_TIME_FORMATTED) return MIN_TIME_MS;
  if (s === MAX_TIME_FORMATTED) return MAX_TIME_MS;
  return undefined;
}

/** A time parameter: `cannot parse "x" to a valid timestamp` as Prometheus words it. */
export function timeParam(params: URLSearchParams, name: string, dflt: number): number {
  const v = params.get(name);
  if (v === null || v === '') return dflt;
  const t = parseTimeMs(v);
  if (t === undefined) throw badData(`invalid parameter "${name}": cannot parse ${JSON.stringify(v)} to a valid timestamp`);
  return t;
}

/** Milliseconds from a Prometheus duration ('1m30s') or float seconds; undefined when neither. */
export function parseDurationMs(s: string): number | undefined {
  const f = parseFloatStrict(s);
  if (f !== undefined) {
    const ms = f * 1000;
    if (!Number.isFinite(ms) || Math.abs(ms) > 9.2e15) return undefined;
    return ms;
  }
  if (s === '' ) return undefined;
  const m = PROM_DURATION_RE.exec(s);
  if (m === null) return undefined;
  let ms = 0;
  for (let i = 0; i < DURATION_UNITS_MS.length; i++) {
    const part = m[i + 1];
    if (part !== undefined) ms += Number(part) * DURATION_UNITS_MS[i]!;
  }
  return ms;
}

export function durationParam(params: URLSearchParams, name: string): number | undefined {
  const v = params.get(name);
  if (v === null || v === '') return undefined;
  const d = parseDurationMs(v);
  if (d === undefined) throw badData(`invalid parameter "${name}": cannot parse ${JSON.stringify(v)} to a valid duration`);
  return d;
}

/** Seconds as Prometheus's API writes a timestamp: 1435781451.781 (ms resolution, no trailing zeros). */
export function formatTimestamp(ms: number): string {
  return String(ms / 1000);
}

/** A float for the Prometheus text format (/metrics): Go's 'g'-like shortest form. */
export function formatTextFloat(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}
