// The store builds and works without the KVM layer, as on another OS or architecture: binding.gyp
// and native/ copied to a temporary directory and built with kvm=0 (the variable that turns the
// KVM target off; `npm install` on anything but Linux x64 leaves it out the same way, and never
// builds the dev addon) give rondo.node alone. Loaded from there (RONDO_ADDON_DIR) in a child
// process, the package's main entry opens a store, records, reads and closes, while rondo/kvm says
// which addon is missing. `rondo bench` without the dev addon: --path native is a one-line error,
// --path all runs what it can and says what it left out.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEV_ADDON_MISSING } from '../src/store/dev-addon';
import type { BenchReport } from '../src/cli/bench';
import { ROOT } from './fixtures/build';
import { suiteTempDir } from './helpers';

let tmp = '';
let addonDir = '';

beforeAll(() => {
  tmp = suiteTempDir('rondo-store-only-');
  const src = path.join(tmp, 'src');
  fs.mkdirSync(src);
  fs.copyFileSync(path.join(ROOT, 'binding.gyp'), path.join(src, 'binding.gyp'));
  fs.cpSync(path.join(ROOT, 'native'), path.join(src, 'native'), { recursive: true });
  // binding.gyp asks node for node-addon-api's headers: the copy needs the package's modules.
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(src, 'node_modules'), 'dir');
  // The node headers the package's own build used (no download), when it says where they were.
  let nodedir: string[] = [];
  try {
    const m = /"nodedir": "([^"]+)"/.exec(fs.readFileSync(path.join(ROOT, 'build', 'config.gypi'), 'utf8'));
    if (m !== null) nodedir = [`--nodedir=${m[1]}`];
  } catch {
    // no build/config.gypi: node-gyp finds the headers as it would for `npm install`
  }
  const nodeGyp = path.join(ROOT, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  execFileSync(process.execPath, [nodeGyp, 'rebuild', '--kvm=0', ...nodedir, '--loglevel=warn', '-j', '2'], { cwd: src, stdio: ['ignore', 'ignore', 'pipe'] });
  addonDir = path.join(src, 'build', 'Release');
}, 180_000);

/** Runs `script` in a child node, cwd an app with the package installed, the store-only addon in RONDO_ADDON_DIR. */
function child(script: string): { status: number | null; stdout: string; stderr: string } {
  const app = path.join(tmp, 'app');
  if (!fs.existsSync(app)) {
    fs.mkdirSync(path.join(app, 'node_modules'), { recursive: true });
    fs.symlinkSync(ROOT, path.join(app, 'node_modules', 'rondo'), 'dir');
  }
  const r = spawnSync(process.execPath, ['-e', script], { cwd: app, env: { ...process.env, RONDO_ADDON_DIR: addonDir }, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function bench(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'dist', 'src', 'cli', 'main.js'), 'bench', ...args], {
    env: { ...process.env, RONDO_ADDON_DIR: addonDir, TMPDIR: tmp },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('a store-only build (no KVM target)', () => {
  it('produces rondo.node and nothing else', () => {
    expect(fs.readdirSync(addonDir).filter((f) => f.endsWith('.node'))).toEqual(['rondo.node']);
  });

  it("require('rondo') opens, records, queries and closes a store with it; rondo/kvm names the missing addon", () => {
    const store = path.join(tmp, 'store');
    const r = child(`
      const { Store } = require('rondo');
      const s = Store.open(${JSON.stringify(store)}, { schemas: [{ name: 'only', match: {}, maxSeries: 4, tiers: [{ interval: '1s', retention: '10m' }, { interval: '10s', retention: '1h' }] }] });
      const h = s.register('store_only_value', { a: '1' });
      const t0 = (Math.floor(Date.now() / 10000) - 6) * 10000;
      for (let i = 0; i < 30; i++) s.record(h, i, t0 + i * 1000);
      s.consolidate({ now: t0 + 30000 });
      const raw = Array.from(s.query(h, { start: t0, end: t0 + 29000, tier: 0 }).values);
      const avg = Array.from(s.query(h, { start: t0, end: t0 + 20000, tier: 1 }).values);
      s.close();
      let kvm = null;
      try { require('rondo/kvm').probeKvm(); } catch (e) { kvm = { name: e.name, message: e.message }; }
      const addons = Object.keys(require.cache).filter((k) => k.endsWith('.node'));
      console.log(JSON.stringify({ raw, avg, kvm, addons }));
    `);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as { raw: number[]; avg: number[]; kvm: { name: string; message: string } | null; addons: string[] };
    expect(out.raw).toEqual(Array.from({ length: 30 }, (_, i) => i));
    expect(out.avg).toEqual([4.5, 14.5, 24.5]);
    expect(out.addons).toEqual([path.join(addonDir, 'rondo.node')]);
    expect(out.kvm?.name).toBe('KvmUnavailableError');
    expect(out.kvm?.message).toContain(path.join(addonDir, 'rondo_kvm.node'));
  });

  it('rondo bench --path native fails in one line, saying how to build the native helpers', () => {
    const r = bench('--path', 'native', '--points', '2048', '--series', '2');
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(DEV_ADDON_MISSING);
  });

  it('rondo bench --path all runs js, napi and batch, and says it skipped the C loop and native', () => {
    const json = bench('--path', 'all', '--points', '20000', '--series', '4', '--format', 'json');
    expect(json.stderr).toBe('');
    expect(json.status).toBe(0);
    const rep = JSON.parse(json.stdout) as BenchReport;
    expect(rep.rows.map((x) => x.path)).toEqual(['js', 'napi', 'batch']);
    for (const row of rep.rows) {
      expect(row.p50Ns).toBeGreaterThan(0);
      expect(row.ratio).toBeNull();
      expect(row.lateWrites).toBe(0);
    }
    expect(rep.skipped.map((s) => s.path)).toEqual(['c-loop', 'native']);
    for (const s of rep.skipped) expect(s.reason).toContain(DEV_ADDON_MISSING);

    const text = bench('--path', 'all', '--points', '20000', '--series', '4');
    expect(text.status).toBe(0);
    expect(text.stdout).toContain(`note: skipped the C loop and the native path: ${DEV_ADDON_MISSING}`);
    expect(fs.readdirSync(tmp).filter((f) => f.startsWith('rondo-bench-'))).toEqual([]);
  });
});
