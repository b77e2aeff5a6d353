// `rondo backup` of a running demo VM's store (its vCPU threads recording natively, the agent
// ticking) restores to a store that `rondo query` reads identically over the archive's window,
// in every tier (docs/migrations.md, Backups).
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runVm } from '../demo-vmm/vmm';
import { probeKvm } from '../src/kvm/index';
import { tempDir } from './helpers';
import { rondo } from './support/run-cli';

const probe = probeKvm();
if (!probe.ok) console.warn(`skipping the demo VM backup test, which needs KVM: ${probe.reason}`);


describe.skipIf(!probe.ok)('a backup of a running demo VM', () => {
  it('restores to a store rondo query reads identically, every tier, over the archive window', async () => {
    const dir = tempDir();
    const storeDir = path.join(dir, 'vm');
    const vm = runVm({ durationMs: 7000, vcpus: 2, storeDir });
    // While the VM runs: its store exists once the agent has started; back it up mid-run.
    await new Promise((r) => setTimeout(r, 4000));
    const archive = path.join(dir, 'vm.rbak');
    const b = await rondo(['backup', storeDir, archive, '--format', 'json']);
    const report = await vm;
    expect(b.stderr).toBe('');
    expect(b.code).toBe(0);
    const sum = JSON.parse(b.stdout) as { asOfMs: number; points: number; tiers: Array<{ tier: number; from: number; complete: number; intervalMs: number }> };
    expect(sum.asOfMs).toBeGreaterThan(report.startedAtMs);
    expect(sum.asOfMs).toBeLessThan(report.endedAtMs);
    expect(sum.points).toBeGreaterThan(100);

    const restored = path.join(dir, 'restored');
    const r = await rondo(['restore', archive, restored]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    let compared = 0;
    for (const t of sum.tiers) {
      if (t.complete < t.from) continue;
      const range = ['--start', String(t.from * t.intervalMs), '--end', String(t.complete * t.intervalMs), '--tier', String(t.tier), '--format', 'csv'];
      const a = await rondo(['query', storeDir, '{__name__=~".+"}', ...range]);
      const c = await rondo(['query', restored, '{__name__=~".+"}', ...range]);
      expect(c.code).toBe(0);
      expect(c.stdout, `tier ${t.tier}`).toBe(a.stdout);
      compared += c.stdout.split('\n').length;
    }
    // The exit counters were among what was compared.
    expect(compared).toBeGreaterThan(100);
  }, 120_000);
});
