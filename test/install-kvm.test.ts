// The prebuilt KVM binary at work (issue 21): rondo installed from its tarball with nothing on
// PATH but node and npm (test/support/packed-install.ts), `rondo-vmm run` boots the micro-guest
// on two vCPUs through prebuilds/linux-x64/rondo_kvm.glibc.node: its vCPU threads, their signal
// masks and kicks, the sampler thread and the store's capture run through the old glibc symbol
// versions native/portable/glibc_compat.cc pins, resolved at load (LD_BIND_NOW). The store it
// wrote is read back by the checkout's own build.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { suiteTempDir } from './helpers';
import { ROOT } from './support/built';
import { packAndInstall, type PackedInstall } from './support/packed-install';

let tmp = '';
let inst: PackedInstall;

beforeAll(() => {
  tmp = suiteTempDir('rondo-install-kvm-');
  inst = packAndInstall(tmp);
}, 900_000);

describe('rondo-vmm installed from the tarball', () => {
  it('boots the micro-guest on the prebuilt KVM binary and records it', () => {
    const store = path.join(tmp, 'vm');
    const loaded = path.join(tmp, 'loaded.json');
    // Which .node files the process had loaded, written as it exits.
    const probe = path.join(tmp, 'probe.js');
    fs.writeFileSync(
      probe,
      `process.on('exit', () => require('node:fs').writeFileSync(${JSON.stringify(loaded)}, JSON.stringify(process.report.getReport().sharedObjects.filter((f) => f.endsWith('.node')))));`,
    );
    const r = spawnSync(path.join(inst.app, 'node_modules', '.bin', 'rondo-vmm'), ['run', '--duration', '2s', '--vcpus', '2', '--store', store], {
      cwd: inst.app,
      env: { ...inst.env, NODE_OPTIONS: `--require ${probe}` },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/shutdown\s+2\s+vcpu0 1\s+vcpu1 1/);
    const prebuilds = path.join(fs.realpathSync(path.join(inst.app, 'node_modules', 'rondo')), 'prebuilds', 'linux-x64');
    expect((JSON.parse(fs.readFileSync(loaded, 'utf8')) as string[]).sort()).toEqual([
      path.join(prebuilds, 'rondo.glibc.node'),
      path.join(prebuilds, 'rondo_kvm.glibc.node'),
    ]);
    const check = spawnSync(
      process.execPath,
      ['-e', `const { Store } = require(${JSON.stringify(ROOT)}); const s = Store.openReadOnly(${JSON.stringify(store)}); const h = s.series(); console.log(JSON.stringify({ n: h.length, withPoints: h.filter((x) => s.lastPoint(x) !== undefined).length })); s.close();`],
      { encoding: 'utf8' },
    );
    expect(check.stderr).toBe('');
    const { n, withPoints } = JSON.parse(check.stdout) as { n: number; withPoints: number };
    expect(n).toBeGreaterThan(20);
    expect(withPoints).toBeGreaterThan(20);
  });
});
