// Label sets as PromQL sees them: sorted (name, value) pairs, `__name__` included.
export type Lbls = ReadonlyArray<readonly [string, string]>;

export const NAME = '__name__';

export function fromSeries(name: string, labels: Readonly<Record<string, string>>): Lbls {
  const out: Array<[string, string]> = [[NAME, name]];
  for (const k of Object.keys(labels)) out.push([k, labels[k] as string]);
  return sortLbls(out);
}

export function sortLbls(l: Array<[string, string]>): Lbls {
  return l.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

export function keyOf(l: Lbls): string {
  let s = '';
  for (const [n, v] of l) s += `${n}\x00${v}\x01`;
  return s;
}

export function getLabel(l: Lbls, name: string): string {
  for (const [n, v] of l) if (n === name) return v;
  return '';
}

export function dropName(l: Lbls): Lbls {
  return l[0] !== undefined && l.some(([n]) => n === NAME) ? l.filter(([n]) => n !== NAME) : l;
}

export function keepOnly(l: Lbls, names: readonly string[]): Lbls {
  return l.filter(([n]) => names.includes(n));
}

export function without(l: Lbls, names: readonly string[]): Lbls {
  return l.filter(([n]) => !names.includes(n));
}

/** Sets (or, for '', deletes) a label. */
export function setLabel(l: Lbls, name: string, value: string): Lbls {
  const out = l.filter(([n]) => n !== name) as Array<[string, string]>;
  if (value !== '') out.push([name, value]);
  return sortLbls(out);
}

/** Prometheus's labels.Compare. */
export function compareLbls(a: Lbls, b: Lbls): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i] as readonly [string, string];
    const y = b[i] as readonly [string, string];
    if (x[0] !== y[0]) return x[0] < y[0] ? -1 : 1;
    if (x[1] !== y[1]) return x[1] < y[1] ? -1 : 1;
  }
  return a.length - b.length;
}

export function toObject(l: Lbls): Record<string, string> {
  const o: Record<string, string> = {};
  for (const [n, v] of l) o[n] = v;
  return o;
}

export function formatLbls(l: Lbls): string {
  const name = getLabel(l, NAME);
  const rest = l.filter(([n]) => n !== NAME).map(([n, v]) => `${n}=${JSON.stringify(v)}`);
  return `${name}{${rest.join(', ')}}`;
}
