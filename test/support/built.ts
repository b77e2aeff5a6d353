// Child-process fixtures (test/fixtures/*.js), the CLI and the package tests load the compiled
// package, dist/, not src/. No test compiles it: `npm test` (and `npm run test:integration` /
// `test:kvm`) run `tsc -p tsconfig.json` before vitest. The integration and kvm projects of
// vitest.config.ts run this file as their globalSetup, once before any test: when dist/ is
// missing or older than a source file, the run stops at once with what to do, rather than tests
// failing one by one on old or missing JavaScript. No vitest import here: it also runs outside a
// test file.
import * as fs from 'node:fs';
import * as path from 'node:path';

export const ROOT = path.join(__dirname, '..', '..');

/** The TypeScript sources tsconfig.json compiles (src/ and demo-vmm/), relative to ROOT. */
function sources(rel: string): string[] {
  const out: string[] = [];
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(path.join(ROOT, rel), { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const r = path.join(rel, e.name);
    if (e.isDirectory()) out.push(...sources(r));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(r);
  }
  return out;
}

/** Source files whose compiled dist/ file is missing or older than they are (at most `limit`). */
export function staleOutputs(limit = 5): string[] {
  const stale: string[] = [];
  for (const src of [...sources('src'), ...sources('demo-vmm')]) {
    const js = path.join(ROOT, 'dist', src.replace(/\.ts$/, '.js'));
    let built: number;
    try {
      built = fs.statSync(js).mtimeMs;
    } catch {
      built = -1;
    }
    if (built < fs.statSync(path.join(ROOT, src)).mtimeMs) stale.push(built < 0 ? `${src} (no ${path.relative(ROOT, js)})` : src);
    if (stale.length >= limit) break;
  }
  return stale;
}

/** Throws, saying what to run, unless every source under src/ and demo-vmm/ has a current dist/ file. */
export function assertBuilt(): void {
  const stale = staleOutputs();
  if (stale.length > 0)
    throw new Error(
      `dist/ is missing or older than src/: run \`npx tsc -p tsconfig.json\` (npm test does it). ` +
        `Not compiled since their last change: ${stale.join(', ')}${stale.length >= 5 ? ', ...' : ''}`,
    );
}

/** vitest globalSetup: the check, once per run. */
export default function setup(): void {
  assertBuilt();
}
