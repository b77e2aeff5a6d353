// The Influx line protocol, parsed from bytes as InfluxDB 1.x parses it (its models/points.go):
// the same scanning rules, the same escapes, the same checks in the same order and the same
// error words, so a bad line is refused by rondo as by influxd and with the same message.
//
// One line: measurement[,tag=value...] field=value[,field=value...] [timestamp]
//   - measurement: `\,` and `\ ` escape (unescaped as influxd's Name(): `\,` `\ ` `\=` `\"`);
//   - tag keys and values: `\,` `\ ` `\=` escape (other backslashes stay);
//   - field keys: as the measurement; string field values: "..." with `\"` and `\\`;
//   - values: float (1, 1.5, -1e3), integer 1i, unsigned 1u, boolean t T true True TRUE f F
//     false False FALSE, string "...";
//   - timestamp: an integer in the request's precision (n, u, ms, s, m, h; anything else: n),
//     missing: the server's time.
// Differences from influxd 1.6, on purpose: a trailing CR is taken off a line (CRLF bodies),
// influxd 1.6 refuses such a line; `1u` is an unsigned integer (influxd 1.6 is built without
// unsigned support and refuses it as "invalid number", InfluxDB 1.8+ and 2.x accept it).
//
// The scanner works on a Buffer without regexes or string splitting: a line is scanned into a
// reusable LineScan (offsets into the buffer, numbers parsed in place); strings are made only for
// what a caller needs (the key's raw text, the names on first sight).

export type InfluxValueType = 'float' | 'integer' | 'unsigned' | 'boolean' | 'string';

/** Nanoseconds per unit of each precision InfluxDB 1.x accepts; anything else is nanoseconds. */
export const PRECISION_NS: Readonly<Record<string, number>> = { n: 1, ns: 1, u: 1e3, us: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

const MAX_KEY_LENGTH = 65535;
const MAX_NANO = 9223372036854775806n;
const MIN_NANO = -9223372036854775806n;
const TIME_RANGE = 'time outside range -9223372036854775806 - 9223372036854775806';

const BS = 0x5c; // backslash
const SP = 0x20;
const COMMA = 0x2c;
const EQ = 0x3d;
const QUOTE = 0x22;
const NL = 0x0a;
const CR = 0x0d;

/** One scanned line: offsets into the buffer, and the fields' values already parsed. Reused line
 *  after line (the arrays grow, fieldCount says how many are in use). */
export class LineScan {
  /** The line, without leading whitespace nor trailing newline/CR: [lineStart, lineEnd). */
  lineStart = 0;
  lineEnd = 0;
  /** measurement[,tags] as written: [keyStart, keyEnd). */
  keyStart = 0;
  keyEnd = 0;
  /** End of the measurement (the first unescaped comma, or keyEnd). */
  measurementEnd = 0;
  /** Whether the key holds a backslash (names need unescaping). */
  keyEscaped = false;
  fieldCount = 0;
  fieldKeyStart: number[] = [];
  fieldKeyEnd: number[] = [];
  fieldKeyEscaped: boolean[] = [];
  fieldType: InfluxValueType[] = [];
  /** The value as a number (booleans 1/0; strings NaN: see fieldValueStart/End). */
  fieldValue: number[] = [];
  fieldValueStart: number[] = [];
  fieldValueEnd: number[] = [];
  /** Milliseconds since the epoch (the timestamp, or the default time), floored. */
  timeMs = 0;
  /** Whether the line carried a timestamp. */
  hasTime = false;
}

const isNumeric = (b: number): boolean => (b >= 0x30 && b <= 0x39) || b === 0x2e;

function skipWhitespace(buf: Buffer, i: number, end: number): number {
  while (i < end) {
    const b = buf[i]!;
    if (b !== SP && b !== 0x09 && b !== 0) break;
    i++;
  }
  return i;
}

/** The end of the line starting at i (the position of its '\n' or end): a '\n' inside a quoted
 *  field value does not end it, as influxd's scanLine. */
export function lineEnd(buf: Buffer, i: number, end: number): number {
  let quoted = false;
  let fields = false;
  let equals = 0;
  let commas = 0;
  while (i < end) {
    const b = buf[i]!;
    if (b === BS) {
      i += 2;
      continue;
    }
    if (b === SP) fields = true;
    if (fields) {
      if (!quoted && b === EQ) {
        i++;
        equals++;
        continue;
      } else if (!quoted && b === COMMA) {
        i++;
        commas++;
        continue;
      } else if (b === QUOTE && equals > commas) {
        i++;
        quoted = !quoted;
        continue;
      }
    }
    if (b === NL && !quoted) break;
    i++;
  }
  return i > end ? end : i;
}

/**
 * Scans the line [start, end) (no newline in it; leading whitespace, comments and blank lines are
 * the caller's: see forEachLine). Returns null when the line is good (out holds it), else
 * influxd's reason, e.g. "missing fields".
 */
export function scanLine(buf: Buffer, start: number, end: number, precisionNs: number, defaultMs: number, out: LineScan): string | null {
  out.lineStart = start;
  out.lineEnd = end;
  out.fieldCount = 0;
  // ---- key: measurement[,tag=value...] ----
  let i = skipWhitespace(buf, start, end);
  const keyStart = i;
  out.keyStart = keyStart;
  let escaped = false;
  if (i >= end || buf[i] === COMMA) return 'missing measurement';
  let state: 'tags' | 'fields';
  for (;;) {
    i++;
    if (i >= end) return 'missing fields';
    if (buf[i - 1] === BS) {
      escaped = true;
      continue;
    }
    if (buf[i] === COMMA) {
      out.measurementEnd = i;
      i++;
      state = 'tags';
      break;
    }
    if (buf[i] === SP) {
      out.measurementEnd = i;
      state = 'fields';
      break;
    }
  }
  if (state === 'tags') {
    // tag keys' starts, for the duplicate check
    let tagCount = 0;
    const tagStarts = TAG_STARTS;
    const tagEqs = TAG_EQS;
    for (;;) {
      // key
      if (i >= end || buf[i] === SP || buf[i] === COMMA || buf[i] === EQ) return 'missing tag key';
      tagStarts[tagCount] = i;
      for (;;) {
        i++;
        if (i >= end || ((buf[i] === SP || buf[i] === COMMA) && buf[i - 1] !== BS)) return 'missing tag value';
        if (buf[i - 1] === BS) escaped = true;
        if (buf[i] === EQ && buf[i - 1] !== BS) break;
      }
      tagEqs[tagCount] = i;
      tagCount++;
      i++;
      // value
      if (i >= end || buf[i] === COMMA || buf[i] === SP) return 'missing tag value';
      let next: 'tag' | 'fields';
      for (;;) {
        i++;
        if (i >= end) return 'missing fields';
        if (buf[i - 1] === BS) escaped = true;
        if (buf[i] === EQ && buf[i - 1] !== BS) return 'invalid tag format';
        if (buf[i] === COMMA && buf[i - 1] !== BS) {
          next = 'tag';
          i++;
          break;
        }
        if (buf[i] === SP && buf[i - 1] !== BS) {
          next = 'fields';
          break;
        }
      }
      if (next === 'fields') break;
    }
    if (tagCount > 1 && duplicateTags(buf, tagStarts, tagEqs, tagCount)) return 'duplicate tags';
  }
  const keyEnd = i;
  out.keyEnd = keyEnd;
  out.keyEscaped = escaped;
  if (keyEnd === keyStart) return 'missing measurement';
  if (keyEnd - keyStart > MAX_KEY_LENGTH) return `max key length exceeded: ${keyEnd - keyStart} > ${MAX_KEY_LENGTH}`;

  // ---- fields ----
  i = skipWhitespace(buf, i, end);
  const fieldsStart = i;
  let quoted = false;
  let equals = 0;
  let commas = 0;
  let n = 0;
  let keyBegin = i;
  let keyEsc = false;
  let valueStart = -1;
  for (;;) {
    if (i >= end) break;
    const b = buf[i]!;
    if (b === BS && i + 1 < end) {
      if (!quoted && valueStart < 0) keyEsc = true;
      i += 2;
      continue;
    }
    if (b === QUOTE && equals > commas) {
      if (!quoted) valueStart = i;
      quoted = !quoted;
      i++;
      continue;
    }
    if (b === EQ && !quoted) {
      equals++;
      if (buf[i - 1] === SP && buf[i - 2] !== BS) return 'missing field key';
      if (buf[i - 1] === COMMA && buf[i - 2] !== BS) return 'missing field key';
      if (i + 1 >= end) return 'missing field value';
      const c = buf[i + 1]!;
      if (c === COMMA || c === SP) return 'missing field value';
      if (valueStart < 0) {
        // the end of a field key: record it
        growFields(out, n);
        out.fieldKeyStart[n] = keyBegin;
        out.fieldKeyEnd[n] = i;
        out.fieldKeyEscaped[n] = keyEsc;
        valueStart = i + 1;
      }
      if (isNumeric(c) || c === 0x2d || c === 0x4e || c === 0x6e) {
        const r = scanNumber(buf, i + 1, end, out, n);
        if (typeof r === 'string') return r;
        i = r;
        continue;
      }
      if (c !== QUOTE) {
        const r = scanBoolean(buf, i + 1, end, out, n);
        if (typeof r === 'string') return r;
        i = r;
        continue;
      }
    }
    if (b === COMMA && !quoted) {
      commas++;
      if (valueStart >= 0) {
        if (n < out.fieldKeyStart.length && out.fieldType[n] === undefined) out.fieldType[n] = 'string';
        finishField(buf, out, n, valueStart, i);
        n++;
        valueStart = -1;
        keyBegin = i + 1;
        keyEsc = false;
      }
    }
    if (b === SP && !quoted) break;
    i++;
  }
  if (quoted) return 'unbalanced quotes';
  if (equals === 0 || commas !== equals - 1) return 'invalid field format';
  if (valueStart >= 0) {
    finishField(buf, out, n, valueStart, i);
    n++;
  }
  if (i === fieldsStart || n === 0) return 'missing fields';
  out.fieldCount = n;
  for (let f = 0; f < n; f++) {
    const size = keyEnd - keyStart + 4 + (out.fieldKeyEnd[f]! - out.fieldKeyStart[f]!);
    if (size > MAX_KEY_LENGTH) return `max key length exceeded: ${size} > ${MAX_KEY_LENGTH}`;
  }

  // ---- timestamp ----
  i = skipWhitespace(buf, i, end);
  const tsStart = i;
  for (;;) {
    if (i >= end) break;
    const b = buf[i]!;
    if (b === NL || b === SP) break;
    if (i === tsStart && b === 0x2d) {
      i++;
      continue;
    }
    if (b < 0x30 || b > 0x39) return 'bad timestamp';
    i++;
  }
  if (i === tsStart) {
    out.hasTime = false;
    // influxd truncates the server's time to the precision
    const unitMs = precisionNs / 1e6;
    out.timeMs = unitMs > 1 ? Math.floor(defaultMs / unitMs) * unitMs : defaultMs;
    return null;
  }
  const t = timeOf(buf, tsStart, i, precisionNs);
  if (typeof t === 'string') return t;
  out.timeMs = t;
  out.hasTime = true;
  while (i < end) {
    if (buf[i] !== SP) return 'point is invalid';
    i++;
  }
  return null;
}

const TAG_STARTS: number[] = [];
const TAG_EQS: number[] = [];

function duplicateTags(buf: Buffer, starts: number[], eqs: number[], count: number): boolean {
  for (let a = 0; a < count; a++) {
    const la = eqs[a]! - starts[a]!;
    for (let b = a + 1; b < count; b++) {
      if (eqs[b]! - starts[b]! !== la) continue;
      let same = true;
      for (let k = 0; k < la; k++)
        if (buf[starts[a]! + k] !== buf[starts[b]! + k]) {
          same = false;
          break;
        }
      if (same) return true;
    }
  }
  return false;
}

function growFields(out: LineScan, n: number): void {
  if (n < out.fieldKeyStart.length) {
    out.fieldType[n] = undefined as unknown as InfluxValueType;
    return;
  }
  out.fieldKeyStart.push(0);
  out.fieldKeyEnd.push(0);
  out.fieldKeyEscaped.push(false);
  out.fieldType.push(undefined as unknown as InfluxValueType);
  out.fieldValue.push(0);
  out.fieldValueStart.push(0);
  out.fieldValueEnd.push(0);
}

function finishField(_buf: Buffer, out: LineScan, n: number, vs: number, ve: number): void {
  out.fieldValueStart[n] = vs;
  out.fieldValueEnd[n] = ve;
  if (out.fieldType[n] === undefined) out.fieldType[n] = 'string';
  if (out.fieldType[n] === 'string') out.fieldValue[n] = NaN;
}

/** influxd's scanNumber, parsing the value too. Returns the end, or the reason. */
function scanNumber(buf: Buffer, i: number, end: number, out: LineScan, n: number): number | string {
  const start = i;
  let isInt = false;
  let isUnsigned = false;
  if (i < end && buf[i] === 0x2d) {
    i++;
    if (i === end) return 'invalid number';
  }
  let decimal = false;
  let scientific = false;
  for (;;) {
    if (i >= end) break;
    const b = buf[i]!;
    if (b === COMMA || b === SP) break;
    if (b === 0x69 /* i */ && i > start && !(isInt || isUnsigned)) {
      isInt = true;
      i++;
      continue;
    } else if (b === 0x75 /* u */ && i > start && !(isInt || isUnsigned)) {
      isUnsigned = true;
      i++;
      continue;
    }
    if (b === 0x2e) {
      if (decimal) return 'invalid number';
      decimal = true;
    }
    if (i > start && (b === 0x65 || b === 0x45)) {
      scientific = true;
      i++;
      continue;
    }
    if ((b === 0x2b || b === 0x2d) && (buf[i - 1] === 0x65 || buf[i - 1] === 0x45)) {
      i++;
      continue;
    }
    if (i + 2 < end && (b === 0x4e || b === 0x6e)) return 'invalid number';
    if (!isNumeric(b)) return 'invalid number';
    i++;
  }
  if ((isInt || isUnsigned) && (decimal || scientific)) return 'invalid number';
  let digits = i - start;
  if (isInt) digits--;
  if (decimal) digits--;
  if (buf[start] === 0x2d) digits--;
  if (digits === 0) return 'invalid number';
  if (isInt) {
    if (buf[i - 1] !== 0x69) return 'invalid number';
    const v = parseInteger(buf, start, i - 1);
    if (typeof v === 'string') return `unable to parse integer ${latin(buf, start, i - 1)}: ${v}`;
    out.fieldType[n] = 'integer';
    out.fieldValue[n] = v;
  } else if (isUnsigned) {
    if (buf[i - 1] !== 0x75) return 'invalid number';
    if (buf[start] === 0x2d) return 'invalid number';
    const v = parseInteger(buf, start, i - 1, true);
    if (typeof v === 'string') return `unable to parse unsigned ${latin(buf, start, i - 1)}: ${v}`;
    out.fieldType[n] = 'unsigned';
    out.fieldValue[n] = v;
  } else {
    const v = parseFloatBytes(buf, start, i, scientific);
    if (v === undefined) return 'invalid float';
    out.fieldType[n] = 'float';
    out.fieldValue[n] = v;
  }
  return i;
}

/** A decimal integer of [s, e) (optional '-'); Go's ParseInt/ParseUint range and message. */
function parseInteger(buf: Buffer, s: number, e: number, unsigned = false): number | string {
  const neg = buf[s] === 0x2d;
  let i = neg ? s + 1 : s;
  // the number of significant digits decides whether the fast sum is exact
  let v = 0;
  for (; i < e; i++) {
    const d = buf[i]! - 0x30;
    if (d < 0 || d > 9) return `strconv.Parse${unsigned ? 'Uint' : 'Int'}: parsing ${JSON.stringify(latin(buf, s, e))}: invalid syntax`;
    v = v * 10 + d;
  }
  if (v >= 9e15) {
    // near the 64-bit limits: check exactly
    const big = BigInt(latin(buf, s, e));
    const ok = unsigned ? big <= 18446744073709551615n : big >= -9223372036854775808n && big <= 9223372036854775807n;
    if (!ok) return `strconv.Parse${unsigned ? 'Uint' : 'Int'}: parsing ${JSON.stringify(latin(buf, s, e))}: value out of range`;
    return Number(big);
  }
  return neg ? -v : v;
}

const POW10 = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22];

/** Go's ParseFloat of [s, e): undefined when it fails (only possible in scientific notation or
 *  out of range). Plain decimals of at most 15 digits are summed exactly; others go to Number(). */
function parseFloatBytes(buf: Buffer, s: number, e: number, scientific: boolean): number | undefined {
  if (!scientific) {
    let i = s;
    const neg = buf[i] === 0x2d;
    if (neg) i++;
    let v = 0;
    let digits = 0;
    let frac = -1;
    let plain = true;
    for (; i < e; i++) {
      const b = buf[i]!;
      if (b === 0x2e) {
        frac = 0;
        continue;
      }
      if (b < 0x30 || b > 0x39) {
        plain = false;
        break;
      }
      v = v * 10 + (b - 0x30);
      digits++;
      if (frac >= 0) frac++;
    }
    if (plain && digits <= 15) {
      if (frac > 0) v /= POW10[frac]!;
      return neg ? -v : v;
    }
  }
  const text = latin(buf, s, e);
  // Number() takes what Go's ParseFloat takes here (digits, one '.', e/E with a sign), and
  // gives ±Infinity where Go says "value out of range".
  const v = Number(text);
  if (Number.isNaN(v) || !Number.isFinite(v)) return undefined;
  // Number('1e') is NaN, Number('.e1') NaN, Number('1.e5') 100000 (Go: 100000 too)
  return v;
}

/** influxd's scanBoolean (t T true True TRUE f F false False FALSE). */
function scanBoolean(buf: Buffer, i: number, end: number, out: LineScan, n: number): number | string {
  const start = i;
  const c = buf[i]!;
  if (i < end && c !== 0x74 && c !== 0x66 && c !== 0x54 && c !== 0x46) return 'invalid boolean';
  i++;
  while (i < end && buf[i] !== COMMA && buf[i] !== SP) i++;
  const len = i - start;
  let valid = len === 1;
  if (!valid) {
    const w = latin(buf, start, i);
    valid = c === 0x74 || c === 0x54 ? w === 'true' || w === 'TRUE' || w === 'True' : w === 'false' || w === 'FALSE' || w === 'False';
  }
  if (!valid) return 'invalid boolean';
  out.fieldType[n] = 'boolean';
  out.fieldValue[n] = c === 0x74 || c === 0x54 ? 1 : 0;
  return i;
}

const MAX_NS_TEXT = Buffer.from('9223372036854775806', 'latin1');

/** Whether the 19 digits at s are at most 9223372036854775806. */
function withinMaxNs(buf: Buffer, s: number): boolean {
  for (let k = 0; k < 19; k++) {
    const a = buf[s + k]!;
    const b = MAX_NS_TEXT[k]!;
    if (a !== b) return a < b;
  }
  return true;
}

/** The timestamp of [s, e) in ms (floored), or influxd's reason. */
function timeOf(buf: Buffer, s: number, e: number, precisionNs: number): number | string {
  const neg = buf[s] === 0x2d;
  const ds = neg ? s + 1 : s;
  const digits = e - ds;
  if (digits === 0) return `strconv.ParseInt: parsing ${JSON.stringify(latin(buf, s, e))}: invalid syntax`;
  if (!neg) {
    if (precisionNs === 1 && (digits < 19 || (digits === 19 && withinMaxNs(buf, ds)))) {
      // ms = the leading digits (all but the last six): exact, no division
      let v = 0;
      for (let i = ds; i < e - 6; i++) v = v * 10 + (buf[i]! - 0x30);
      return v;
    }
    if (precisionNs === 1e3 && digits <= 15) {
      let v = 0;
      for (let i = ds; i < e; i++) v = v * 10 + (buf[i]! - 0x30);
      return Math.floor(v / 1000);
    }
    if (precisionNs >= 1e6 && digits <= 12) {
      let v = 0;
      for (let i = ds; i < e; i++) v = v * 10 + (buf[i]! - 0x30);
      const ms = v * (precisionNs / 1e6);
      if (ms <= 9_000_000_000_000) return ms;
    }
  }
  // negative or long: exactly, as influxd (ParseInt, then the range of a time in ns)
  const text = latin(buf, s, e);
  const big = BigInt(text);
  if (big > 9223372036854775807n || big < -9223372036854775808n) return `strconv.ParseInt: parsing ${JSON.stringify(text)}: value out of range`;
  const mult = BigInt(precisionNs);
  if (big < MIN_NANO / mult || big > MAX_NANO / mult) return TIME_RANGE;
  const ns = big * mult;
  let ms = ns / 1000000n;
  if (ns < 0n && ms * 1000000n !== ns) ms -= 1n;
  return Number(ms);
}

function latin(buf: Buffer, s: number, e: number): string {
  return buf.toString('latin1', s, e);
}

// ---- names out of a scanned line ----

/** UTF-8 text of [s, e) with influxd's unescaping for a measurement or field key (`\,` `\ ` `\=` `\"`). */
export function unescapeName(buf: Buffer, s: number, e: number): string {
  return unescapeWith(buf, s, e, true);
}

/** UTF-8 text of [s, e) with influxd's unescaping for a tag key or value (`\,` `\ ` `\=`). */
export function unescapeTag(buf: Buffer, s: number, e: number): string {
  return unescapeWith(buf, s, e, false);
}

function unescapeWith(buf: Buffer, s: number, e: number, quotes: boolean): string {
  let hasBs = false;
  for (let i = s; i < e; i++)
    if (buf[i] === BS) {
      hasBs = true;
      break;
    }
  if (!hasBs) return buf.toString('utf8', s, e);
  const outBytes: number[] = [];
  for (let i = s; i < e; i++) {
    const c = buf[i]!;
    if (c === BS && i + 1 < e) {
      const d = buf[i + 1]!;
      if (d === COMMA || d === SP || d === EQ || (quotes && d === QUOTE)) {
        outBytes.push(d);
        i++;
        continue;
      }
    }
    outBytes.push(c);
  }
  return Buffer.from(outBytes).toString('utf8');
}

/** The string value of a field ("..." with `\"` and `\\` unescaped). */
export function stringValue(buf: Buffer, s: number, e: number): string {
  if (buf[s] === QUOTE) s++;
  if (e > s && buf[e - 1] === QUOTE) e--;
  const outBytes: number[] = [];
  for (let i = s; i < e; i++) {
    const c = buf[i]!;
    if (c === BS && i + 1 < e && (buf[i + 1] === BS || buf[i + 1] === QUOTE)) {
      outBytes.push(buf[i + 1]!);
      i++;
      continue;
    }
    outBytes.push(c);
  }
  return Buffer.from(outBytes).toString('utf8');
}

/** The measurement and tags (unescaped, in the order written) of a scanned line. */
export function keyOf(buf: Buffer, scan: LineScan): { measurement: string; tags: Array<[string, string]> } {
  const measurement = unescapeName(buf, scan.keyStart, scan.measurementEnd);
  const tags: Array<[string, string]> = [];
  let i = scan.measurementEnd + 1;
  const end = scan.keyEnd;
  while (i < end) {
    const ks = i;
    while (!(buf[i] === EQ && buf[i - 1] !== BS)) i++;
    const ke = i;
    i++;
    const vs = i;
    while (i < end && !(buf[i] === COMMA && buf[i - 1] !== BS)) i++;
    tags.push([unescapeTag(buf, ks, ke), unescapeTag(buf, vs, i)]);
    i++;
  }
  return { measurement, tags };
}

/**
 * Calls `line` for every line of buf[start, end) that is not blank nor a comment (`#` after
 * optional whitespace), with the line's bounds (leading whitespace, the newline and one trailing
 * CR taken off). Lines end as influxd ends them (a '\n' inside a quoted string value or after a
 * backslash does not), or, newlineFramed, at every '\n'.
 */
export function forEachLine(buf: Buffer, start: number, end: number, line: (s: number, e: number) => void, newlineFramed = false): void {
  let pos = start;
  if (newlineFramed) {
    // every '\n' ends a line (a stream's framing), whatever quotes and backslashes say
    while (pos < end) {
      let le = buf.indexOf(NL, pos);
      if (le < 0 || le > end) le = end;
      const s = skipWhitespace(buf, pos, le);
      pos = le + 1;
      if (s >= le || buf[s] === 0x23) continue;
      let e = le;
      if (buf[e - 1] === CR) e--;
      if (e > s) line(s, e);
    }
    return;
  }
  // The next '"' at or after pos (end when none): a line without one ends at its '\n' (found by
  // indexOf, native), unless a backslash stands before that '\n' (influxd joins the next line).
  let quote = -1;
  while (pos < end) {
    if (quote < pos) {
      quote = buf.indexOf(QUOTE, pos);
      if (quote < 0 || quote >= end) quote = end;
    }
    let le = buf.indexOf(NL, pos);
    if (le < 0 || le > end) le = end;
    if (quote < le || (le > pos && buf[le - 1] === BS)) le = lineEnd(buf, pos, end);
    const s = skipWhitespace(buf, pos, le);
    pos = le + 1;
    if (s >= le || buf[s] === 0x23) continue;
    let e = le;
    if (buf[e - 1] === CR) e--;
    if (e > s) line(s, e);
  }
}

// ---- a convenient whole-body parse (tests, tools) ----

export interface InfluxPoint {
  measurement: string;
  tags: Array<[string, string]>;
  fields: Array<{ key: string; type: InfluxValueType; value: number | string }>;
  timeMs: number;
  hasTime: boolean;
}

export interface InfluxParseError {
  /** The line as influxd quotes it. */
  line: string;
  /** influxd's reason, e.g. "missing fields". */
  reason: string;
}

/** Parses a body of lines. `precision`: n (default), u, ms, s, m, h (also ns, us). */
export function parseInflux(body: string | Uint8Array, options: { precision?: string; nowMs?: number } = {}): { points: InfluxPoint[]; errors: InfluxParseError[] } {
  const buf = typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.length);
  const precisionNs = PRECISION_NS[options.precision ?? 'n'] ?? 1;
  const now = options.nowMs ?? Date.now();
  const scan = new LineScan();
  const points: InfluxPoint[] = [];
  const errors: InfluxParseError[] = [];
  forEachLine(buf, 0, buf.length, (s, e) => {
    const why = scanLine(buf, s, e, precisionNs, now, scan);
    if (why !== null) {
      errors.push({ line: buf.toString('utf8', s, e), reason: why });
      return;
    }
    const { measurement, tags } = keyOf(buf, scan);
    const fields: InfluxPoint['fields'] = [];
    for (let f = 0; f < scan.fieldCount; f++) {
      const type = scan.fieldType[f]!;
      fields.push({
        key: unescapeName(buf, scan.fieldKeyStart[f]!, scan.fieldKeyEnd[f]!),
        type,
        value: type === 'string' ? stringValue(buf, scan.fieldValueStart[f]!, scan.fieldValueEnd[f]!) : scan.fieldValue[f]!,
      });
    }
    points.push({ measurement, tags, fields, timeMs: scan.timeMs, hasTime: scan.hasTime });
  });
  return { points, errors };
}
