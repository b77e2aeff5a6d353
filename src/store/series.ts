// Series identity: Prometheus's rules for names and labels, and the canonical key.
import { InvalidSeriesError } from '../errors';

export const METRIC_NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
export const LABEL_NAME_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
// C0 and C1 control characters: a terminal takes some of them (ESC, CSI) as commands, so a label
// value holding one could rewrite what `rondo info` or `rondo query` prints.
// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f]/;
// A lone surrogate has no UTF-8 form: a receiver would get U+FFFD instead of the value recorded.
const LONE_SURROGATE_RE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

export const SERIES_LIMITS = { nameLength: 256, labels: 32, labelNameLength: 256, labelValueLength: 1024 } as const;

export type SeriesKind = 'gauge' | 'counter';
export type Labels = Readonly<Record<string, string>>;

// Quoted and cut to 80 characters; JSON escapes C0 controls, DEL and C1 are escaped here too.
const show = (s: string) =>
  JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s).replace(
    /[\u007f-\u009f]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );

/** Checks a name and labels; returns the labels as a fresh object sorted by name. */
export function validateSeries(name: unknown, labels: unknown): Record<string, string> {
  if (typeof name !== 'string' || !METRIC_NAME_RE.test(name))
    throw new InvalidSeriesError(
      `metric name ${typeof name === 'string' ? show(name) : String(name)} is not valid; use letters, digits, '_' and ':', not starting with a digit (e.g. "vcpu_exits_total")`,
    );
  if (name.length > SERIES_LIMITS.nameLength)
    throw new InvalidSeriesError(`metric name ${show(name)} is ${name.length} characters; the limit is ${SERIES_LIMITS.nameLength}`);
  if (labels === undefined || labels === null) return {};
  if (typeof labels !== 'object' || Array.isArray(labels))
    throw new InvalidSeriesError(`labels of ${name} must be an object of strings, e.g. { reason: "io" }`);
  const keys = Object.keys(labels);
  if (keys.length > SERIES_LIMITS.labels)
    throw new InvalidSeriesError(`${name} has ${keys.length} labels; the limit is ${SERIES_LIMITS.labels}`);
  keys.sort();
  const out: Record<string, string> = {};
  for (const k of keys) {
    const v = (labels as Record<string, unknown>)[k];
    if (k.length > SERIES_LIMITS.labelNameLength)
      throw new InvalidSeriesError(`a label name of ${name} is ${k.length} characters (${show(k)}); the limit is ${SERIES_LIMITS.labelNameLength}`);
    if (!LABEL_NAME_RE.test(k))
      throw new InvalidSeriesError(`label name ${show(k)} of ${name} is not valid; use letters, digits and '_', not starting with a digit`);
    if (k.startsWith('__'))
      throw new InvalidSeriesError(`label name ${show(k)} of ${name} starts with "__", which Prometheus reserves; rename it`);
    if (typeof v !== 'string')
      throw new InvalidSeriesError(`label ${k} of ${name} is ${typeof v}; label values must be strings (use String(x))`);
    if (v.length > SERIES_LIMITS.labelValueLength)
      throw new InvalidSeriesError(`label ${k} of ${name} is ${v.length} characters long; the limit is ${SERIES_LIMITS.labelValueLength}`);
    if (v === '') continue; // Prometheus: an empty label value is the same as no label
    if (CONTROL_RE.test(v))
      throw new InvalidSeriesError(`label ${k} of ${name} holds a control character (${show(v)}); remove it`);
    if (LONE_SURROGATE_RE.test(v))
      throw new InvalidSeriesError(`label ${k} of ${name} holds a lone UTF-16 surrogate, which has no UTF-8 form; pass well-formed text`);
    out[k] = v;
  }
  return out;
}
