// Installing rondo where nothing can compile (issue 21): the packed tarball installed with
// --ignore-scripts (as pnpm and bun do, and `npm ci --ignore-scripts`) by a PATH of node and npm
// alone (test/support/packed-install.ts) records and queries a store with the prebuilt binary,
// loads rondo/kvm's, and runs both commands' --version. The prebuilt binaries need no glibc
// newer than 2.31 (Debian 11, Ubuntu 20.04) and no libstdc++ of the system's. What the tarball
// holds: the binaries, LICENSE, the sources its source maps name, no build/. And a copy of the
// package with neither prebuilds/ nor build/ fails with the loader's named error, which says
// what this machine is and what to do.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { suiteTempDir } from './helpers';
import { ROOT } from './support/built';
import { packAndInstall, type PackedInstall } from './support/packed-install';

let tmp = '';
let inst: PackedInstall;
let installed = '';

beforeAll(() => {
  tmp = suiteTempDir('rondo-install-');
  inst = packAndInstall(tmp);
  installed = path.join(inst.app, 'node_modules', 'rondo');
}, 900_000);

/** Runs a script with the app's node and environment (PATH: node and npm only). */
function run(script: string, cwd = inst.app): { status: number | null; stdout: string; stderr: string } {
  const file = path.join(cwd, `script-${Math.random().toString(36).slice(2)}.js`);
  fs.writeFileSync(file, script);
  const r = spawnSync(path.join(inst.bin, 'node'), [file], { cwd, env: inst.env, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const PREBUILT = ['rondo.glibc.node', 'rondo_kvm.glibc.node'];

describe('rondo installed from its tarball, nothing on PATH but node and npm', () => {
  it('has no compiler to fall back on, and nothing was compiled', () => {
    for (const tool of ['cc', 'gcc', 'g++', 'c++', 'clang', 'make', 'python3', 'python'])
      expect(fs.existsSync(path.join(inst.bin, tool)), tool).toBe(false);
    expect(fs.readdirSync(inst.bin).sort()).toEqual(['node', 'npm']);
    expect(fs.existsSync(path.join(installed, 'build'))).toBe(false);
    expect(fs.readdirSync(path.join(installed, 'prebuilds', 'linux-x64')).sort()).toEqual(PREBUILT);
  });

  it("records and queries a store through require('rondo'), on the prebuilt binary", () => {
    const store = path.join(tmp, 'store');
    const r = run(`
      const assert = require('node:assert');
      const { Store } = require('rondo');
      const s = Store.open(${JSON.stringify(store)});
      const h = s.register('cpu_seconds', { vm: 'a' });
      const g = s.register('queue_depth', { vm: 'a' });
      const { step } = s.query(h, { start: Date.now(), end: Date.now() });
      const t0 = Math.floor(Date.now() / step) * step - 10 * step;
      const values = [1.5, 2.25, -3, 1e300, 7];
      values.forEach((v, i) => s.record(g, v, t0 + i * step));
      [10, 20, 40].forEach((v, i) => s.record(h, v, t0 + i * step));
      const q = s.query(g, { start: t0, end: t0 + 4 * step, tier: 0 });
      assert.deepStrictEqual(Array.from(q.values), values);
      assert.deepStrictEqual(Array.from(q.timestamps), values.map((_, i) => t0 + i * step));
      s.close();
      const ro = Store.openReadOnly(${JSON.stringify(store)});
      const back = ro.query(ro.find('cpu_seconds', { vm: 'a' }), { start: t0, end: t0 + 2 * step, tier: 0 });
      const addons = process.report.getReport().sharedObjects.filter((f) => f.endsWith('.node'));
      console.log(JSON.stringify({ step, values: Array.from(back.values), series: ro.series().length, addons }));
      ro.close();
    `);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as { step: number; values: number[]; series: number; addons: string[] };
    expect(out.addons).toEqual([path.join(fs.realpathSync(installed), 'prebuilds', 'linux-x64', 'rondo.glibc.node')]);
    expect(out.step).toBeGreaterThan(0);
    expect(out.values).toEqual([10, 20, 40]);
    expect(out.series).toBe(2);
    // The store's files are those of a build from source: the checkout's own build reads them.
    const check = execFileSync(process.execPath, ['-e', `const { Store } = require(${JSON.stringify(ROOT)}); const s = Store.openReadOnly(${JSON.stringify(store)}); console.log(s.lastPoint(s.find('queue_depth', { vm: 'a' }))[1]); s.close();`], { encoding: 'utf8' });
    expect(check.trim()).toBe('7');
  });

  it("turns the prebuilt binary's C++ exceptions into rondo's named errors (its static libstdc++ at work)", () => {
    const store = path.join(tmp, 'damaged');
    const r = run(`
      const fs = require('node:fs');
      const { Store } = require('rondo');
      const s = Store.open(${JSON.stringify(store)});
      s.register('x');
      s.close();
      const slab = ${JSON.stringify(store)} + '/default.t0.slab';
      const b = fs.readFileSync(slab);
      b.write('XXXX', 0);
      fs.writeFileSync(slab, b);
      try { Store.openReadOnly(${JSON.stringify(store)}); } catch (e) { console.log(JSON.stringify({ name: e.name, message: e.message })); }
    `);
    expect(r.stderr).toBe('');
    const e = JSON.parse(r.stdout) as { name: string; message: string };
    expect(e.name).toBe('CorruptFileError');
    expect(e.message).toContain('default.t0.slab: not a rondo slab (bad magic)');
  });

  it("loads rondo/kvm's prebuilt addon", () => {
    const r = run(`
      const { probeKvm, KvmUnavailableError } = require('rondo/kvm');
      const p = probeKvm('/nonexistent/kvm');
      console.log(JSON.stringify({ ok: p.ok, reason: p.reason, named: typeof KvmUnavailableError }));
    `);
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout) as { ok: boolean; reason: string; named: string };
    // The addon answered (a missing device is its answer, not a load failure).
    expect(out.ok).toBe(false);
    expect(out.reason).toContain('/nonexistent/kvm does not exist');
    expect(out.named).toBe('function');
  });

  it('rondo --version and rondo-vmm --version print the package version', () => {
    const version = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    for (const cmd of ['rondo', 'rondo-vmm']) {
      const r = spawnSync(path.join(inst.app, 'node_modules', '.bin', cmd), ['--version'], { env: inst.env, encoding: 'utf8' });
      expect(r.stderr, cmd).toBe('');
      expect(r.status, cmd).toBe(0);
      expect(r.stdout, cmd).toBe(`${version}\n`);
    }
  });
});

describe('the prebuilt binaries', () => {
  /** The highest GLIBC_ version a file's dynamic symbols ask for, and whether it needs libstdc++. */
  function needs(file: string): { glibc: string; libstdcxx: boolean; versions: string[] } {
    const syms = execFileSync('objdump', ['-T', file], { encoding: 'utf8' });
    const versions = [...new Set([...syms.matchAll(/\b(GLIBC|GLIBCXX|CXXABI)_([0-9.]+)/g)].map((m) => `${m[1]}_${m[2]}`))];
    const glibc = versions
      .filter((v) => v.startsWith('GLIBC_'))
      .map((v) => v.slice('GLIBC_'.length))
      .sort((a, b) => {
        const x = a.split('.').map(Number);
        const y = b.split('.').map(Number);
        for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0);
        return 0;
      })
      .pop() as string;
    const libstdcxx = /NEEDED\s+libstdc\+\+/.test(execFileSync('objdump', ['-p', file], { encoding: 'utf8' }));
    return { glibc, libstdcxx, versions };
  }

  it('need glibc 2.31 at most and none of the system libstdc++ (as shipped in the tarball)', () => {
    for (const f of PREBUILT) {
      const n = needs(path.join(installed, 'prebuilds', 'linux-x64', f));
      const [major, minor] = n.glibc.split('.').map(Number);
      expect(major, f).toBe(2);
      expect(minor, `${f} needs GLIBC_${n.glibc}`).toBeLessThanOrEqual(31);
      expect(n.libstdcxx, `${f} needs libstdc++.so`).toBe(false);
      expect(n.versions.filter((v) => !v.startsWith('GLIBC_')), f).toEqual([]);
    }
  });
});

describe('the tarball', () => {
  it('holds LICENSE, the sources every source map names, and no build output of a checkout', () => {
    expect(fs.readFileSync(path.join(installed, 'LICENSE'), 'utf8')).toContain('Apache License');
    expect(fs.existsSync(path.join(installed, 'build'))).toBe(false);
    for (const f of ['.stamp', '.lock']) expect(fs.existsSync(path.join(installed, 'prebuilds', 'linux-x64', f)), f).toBe(false);
    const maps: string[] = [];
    const walk = (dir: string): void => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.name.endsWith('.js.map')) maps.push(p);
      }
    };
    walk(path.join(installed, 'dist'));
    expect(maps.length).toBeGreaterThan(50);
    const missing: string[] = [];
    for (const m of maps) {
      const map = JSON.parse(fs.readFileSync(m, 'utf8')) as { sources: string[]; sourceRoot?: string };
      for (const s of map.sources) {
        const src = path.resolve(path.dirname(m), map.sourceRoot ?? '', s);
        if (!src.startsWith(installed + path.sep) || !fs.existsSync(src)) missing.push(`${path.relative(installed, m)} -> ${s}`);
      }
    }
    expect(missing).toEqual([]);
    console.log(`rondo's tarball: ${fs.statSync(inst.tarball).size} bytes`);
  });
});

describe('the loader when no binary fits', () => {
  it('throws NativeAddonMissingError naming the platform, the libc, Node and the way out', () => {
    const app = path.join(tmp, 'bare');
    const copy = path.join(app, 'node_modules', 'rondo');
    fs.mkdirSync(path.dirname(copy), { recursive: true });
    fs.cpSync(installed, copy, { recursive: true });
    // Its dependencies, as installed.
    for (const e of fs.readdirSync(path.join(inst.app, 'node_modules')))
      if (e !== 'rondo' && !e.startsWith('.')) fs.symlinkSync(path.join(inst.app, 'node_modules', e), path.join(app, 'node_modules', e));
    const attempt = `
      let store, kvm;
      try { require('rondo'); } catch (e) { store = { name: e.name, message: e.message }; }
      try { require('rondo/kvm').probeKvm('/nonexistent/kvm'); } catch (e) { kvm = { name: e.name, message: e.message }; }
      console.log(JSON.stringify({ store, kvm }));
    `;
    type Outcome = { store?: { name: string; message: string }; kvm?: { name: string; message: string } };

    // The KVM layer's binary missing: the store works, rondo/kvm says which binary and what to do.
    fs.rmSync(path.join(copy, 'prebuilds', 'linux-x64', 'rondo_kvm.glibc.node'));
    let r = run(attempt, app);
    expect(r.stderr).toBe('');
    let out = JSON.parse(r.stdout) as Outcome;
    expect(out.store).toBeUndefined();
    expect(out.kvm?.name).toBe('KvmUnavailableError');
    expect(out.kvm?.message).toContain('no compiled rondo_kvm.node fits this machine');
    expect(out.kvm?.message).toContain('npm rebuild rondo');

    // No binary at all: the package's entry point throws the loader's named error.
    fs.rmSync(path.join(copy, 'prebuilds'), { recursive: true });
    r = run(attempt, app);
    expect(r.stderr).toBe('');
    out = JSON.parse(r.stdout) as Outcome;
    expect(out.store?.name).toBe('NativeAddonMissingError');
    const m = out.store?.message ?? '';
    expect(m).toContain('no compiled rondo.node fits this machine');
    expect(m).toContain(`(${process.platform}-${process.arch}, glibc `);
    expect(m).toMatch(/glibc \d+\.\d+/);
    expect(m).toContain(`Node ${process.versions.node}, ABI ${process.versions.modules}, N-API ${process.versions.napi}`);
    expect(m).toContain(path.join(copy, 'prebuilds'));
    expect(m).toContain('npm rebuild rondo');
    expect(m).toContain('python3, make and a C++ compiler');
    expect(m).toContain('linux-x64 with glibc 2.31 or later');
  });
});
