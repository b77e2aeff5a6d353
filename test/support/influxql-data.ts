// The data test/influxql-diff.test.ts writes to a real influxd and to rondo serve, and the query
// corpus it runs against both (test/fixtures/influxql/queries.txt).
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * Line protocol, precision s, starting at `base` (ms, a whole minute) and spanning 30 minutes:
 * cpu (three hosts, two regions; two float fields and an integer one, every 10 s), temp (no tags,
 * every 20 s with gaps), mem (an integer, a float and a boolean field, every 15 s) and "disk io"
 * (a measurement, tag key, tag values and a field key that need escaping, every 30 s).
 */
export function influxqlData(base: number): string {
  const s0 = Math.floor(base / 1000);
  const lines: string[] = [];
  const hosts = [
    ['a', 'us'],
    ['b', 'eu'],
    ['c', 'us'],
  ] as const;
  for (let i = 0; i < 180; i++) {
    hosts.forEach(([host, region], h) => {
      const user = ((i * 37 + h * 101) % 97) + ((i * 13 + h) % 10) / 10;
      const system = ((i * 17 + h * 29) % 53) + 0.25;
      const load = (i + h) % 8;
      lines.push(`cpu,host=${host},region=${region} usage_user=${user},usage_system=${system},load=${load}i ${s0 + i * 10}`);
    });
  }
  for (let i = 0; i < 90; i++) {
    if (i % 7 === 3 || i % 11 === 5) continue;
    lines.push(`temp value=${(20 + ((i * 7) % 13) / 4).toFixed(2)} ${s0 + i * 20}`);
  }
  for (let i = 0; i < 120; i++) {
    lines.push(`mem,host=a used=${(i * 53) % 1000}i,free=${(i * 3.5) % 77},ok=${i % 3 === 0 ? 'true' : 'false'} ${s0 + i * 15}`);
    lines.push(`mem,host=b used=${(i * 29 + 7) % 1000}i,free=${(i * 1.25) % 51},ok=${i % 4 === 0 ? 'T' : 'f'} ${s0 + i * 15}`);
  }
  for (let i = 0; i < 60; i++) {
    lines.push(`disk\\ io,dc-name=east\\ 1,path=/var/log read\\ bytes=${(i * 4096) % 65536} ${s0 + i * 30}`);
    lines.push(`disk\\ io,dc-name=west\\,2,path=/srv read\\ bytes=${(i * 1000 + 17) % 40000} ${s0 + i * 30}`);
  }
  return `${lines.join('\n')}\n`;
}

export interface CorpusQuery {
  /** The line as written, for the test's name. */
  text: string;
  /** Expected to be refused by rondo as unsupported (a "!" line). */
  unsupported: boolean;
}

export function loadCorpus(): CorpusQuery[] {
  const file = path.join(__dirname, '..', 'fixtures', 'influxql', 'queries.txt');
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#'))
    .map((l) => (l.startsWith('!') ? { text: l.slice(1), unsupported: true } : { text: l, unsupported: false }));
}

/** The query with {t+N}, {ns+N}, {ms+N} and {s+N} replaced for data starting at `base` (ms). */
export function instantiate(q: string, base: number): string {
  return q.replace(/\{(t|ns|ms|s)\+(\d+)\}/g, (_m, kind: string, n: string) => {
    const ms = base + Number(n) * 1000;
    if (kind === 't') return new Date(ms).toISOString().replace('.000Z', 'Z');
    if (kind === 's') return String(ms / 1000);
    if (kind === 'ms') return String(ms);
    return `${BigInt(ms) * 1_000_000n}`;
  });
}

/** Equal JSON, numbers within 1e-9 relative; the first difference's path, or undefined. */
export function jsonDiff(a: unknown, b: unknown, at = '$'): string | undefined {
  if (typeof a === 'number' && typeof b === 'number') {
    if (a === b) return undefined;
    const scale = Math.max(Math.abs(a), Math.abs(b));
    return Math.abs(a - b) <= 1e-9 * scale ? undefined : `${at}: ${a} != ${b}`;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) return `${at}: length ${a.length} != ${b.length}`;
    for (let i = 0; i < a.length; i++) {
      const d = jsonDiff(a[i], b[i], `${at}[${i}]`);
      if (d !== undefined) return d;
    }
    return undefined;
  }
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const ka = Object.keys(a).sort();
    const kb = Object.keys(b).sort();
    if (ka.join(',') !== kb.join(',')) return `${at}: keys ${ka.join(',')} != ${kb.join(',')}`;
    for (const k of ka) {
      const d = jsonDiff((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${at}.${k}`);
      if (d !== undefined) return d;
    }
    return undefined;
  }
  return a === b ? undefined : `${at}: ${JSON.stringify(a)} != ${JSON.stringify(b)}`;
}
