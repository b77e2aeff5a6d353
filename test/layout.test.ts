// The source tree's rooms (docs/architecture.md): a room imports another only through its
// index, the arrows between rooms point one way, and the package's main entry point never
// loads the KVM layer, so a store-only user on any machine never needs it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = path.join(__dirname, '..', 'src');
const SHARED = new Set(['errors', 'duration', 'package-root', 'index']);
/** Which rooms each room may import (through their index). */
const ALLOWED: Record<string, readonly string[]> = {
  selector: [],
  codec: [],
  hooks: [],
  store: ['selector', 'codec', 'hooks'],
  export: ['store'],
  ingest: ['store', 'selector', 'hooks'],
  promql: ['store', 'selector'],
  influxql: ['store', 'selector', 'ingest', 'promql'],
  fossil: ['store', 'ingest', 'promql'],
  server: ['store', 'selector', 'export', 'ingest', 'promql', 'influxql', 'fossil', 'hooks'],
  agent: ['store', 'selector', 'export', 'hooks'],
  kvm: ['agent'],
  cli: ['store', 'selector', 'export', 'server', 'codec', 'fossil', 'hooks'],
};

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

function relativeImports(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:from|import\(|require\()\s*'(\.[^']*)'/g)) out.push(m[1] as string);
  return out;
}

/** The room a file of src/ is in ('' for the shared files at the top). */
function roomOf(file: string): string {
  const rel = path.relative(SRC, file).split(path.sep);
  return rel.length > 1 ? (rel[0] as string) : '';
}

describe('the rooms of src/', () => {
  const files = sources(SRC);

  it('has the rooms the architecture document shows', () => {
    const rooms = new Set(files.map(roomOf).filter((r) => r !== ''));
    for (const r of rooms) expect(Object.keys(ALLOWED), `src/${r}/ is a room the test does not know`).toContain(r);
    for (const r of ['store', 'selector', 'export', 'agent', 'kvm', 'cli']) expect(rooms).toContain(r);
  });

  it("imports another room only through its index, and only along the allowed arrows", () => {
    const wrong: string[] = [];
    for (const file of files) {
      const from = roomOf(file);
      for (const spec of relativeImports(file)) {
        const target = path.resolve(path.dirname(file), spec);
        const isDir = fs.existsSync(target) && fs.statSync(target).isDirectory();
        const to = roomOf(isDir ? path.join(target, 'index.ts') : `${target}.ts`);
        const rel = path.relative(SRC, target).split(path.sep);
        const where = `${path.relative(SRC, file)} imports '${spec}'`;
        if (to === from) continue;
        if (to === '') {
          if (!SHARED.has(rel[0] as string) || rel[0] === 'index') wrong.push(`${where}: the package entry point is not for rooms`);
          continue;
        }
        if (!(rel.length === 1 || (rel.length === 2 && rel[1] === 'index'))) wrong.push(`${where}: another room's internals`);
        if (from !== '' && !(ALLOWED[from] ?? []).includes(to)) wrong.push(`${where}: ${from} may not depend on ${to}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('the main entry point loads no part of the KVM layer', () => {
    const seen = new Set<string>();
    const visit = (file: string): void => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const spec of relativeImports(file)) {
        const target = path.resolve(path.dirname(file), spec);
        const ts = fs.existsSync(`${target}.ts`) ? `${target}.ts` : path.join(target, 'index.ts');
        visit(ts);
      }
    };
    visit(path.join(SRC, 'index.ts'));
    const kvm = [...seen].filter((f) => roomOf(f) === 'kvm');
    expect(kvm).toEqual([]);
    expect(seen.size).toBeGreaterThan(20);
  });
});
