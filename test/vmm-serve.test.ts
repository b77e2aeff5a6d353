// rondo-vmm run --serve on the real /dev/kvm: the VM's store is served (its API and its page)
// while the VM runs, the page's URL for the VM is printed once it has ended, and the command keeps
// serving until SIGTERM, then exits 0. A --serve address that is not loopback is refused.
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { probeKvm } from '../src/kvm/index';
import { ROOT } from './fixtures/build';
import { suiteTempDir } from './helpers';
import { freePort } from './support/receivers';

const probe = probeKvm();
if (!probe.ok) console.warn(`skipping rondo-vmm run --serve on KVM: ${probe.reason}`);

const VMM = path.join(ROOT, 'dist', 'demo-vmm', 'cli.js');

describe("rondo-vmm run --serve", () => {
  it.skipIf(!probe.ok)('serves the VM\'s store while it runs, prints its page\'s URL when it ends, and serves until SIGTERM', async () => {
    const port = await freePort();
    const dir = path.join(suiteTempDir('rondo-vmm-serve-'), 'vm');
    const child = spawn(process.execPath, [VMM, 'run', '--duration', '3s', '--vcpus', '1', '--store', dir, '--id', 'served', '--serve', `127.0.0.1:${port}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    const until = async (cond: () => boolean, what: string): Promise<void> => {
      for (let i = 0; i < 300 && !cond(); i++) await new Promise((r) => setTimeout(r, 100));
      if (!cond()) throw new Error(`${what} did not happen: ${stdout}\n${stderr}`);
    };
    const base = `http://127.0.0.1:${port}`;
    await until(() => stderr.includes(`the page of VM served, live: ${base}/?vm=served`), 'the live page line');
    // While the VM runs: its exits reach the API (the first second's once it is recorded)...
    let exits = 0;
    while (exits === 0 && !stdout.includes('VM ended')) {
      const r = (await (await fetch(`${base}/api/v1/query?query=sum(vmm_vcpu_exits_total)`)).json()) as { data: { result: Array<{ value: [number, string] }> } };
      exits = Number(r.data.result[0]?.value[1] ?? 0);
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(exits).toBeGreaterThan(0);
    expect(stdout).not.toContain('VM ended');
    // ...and its lifecycle the event route.
    const life = (await (await fetch(`${base}/api/v1/rondo/events?topic=/vm/served/lifecycle`)).json()) as { data: Array<{ data: { event: string } }> };
    expect(life.data[0]!.data.event).toBe('created');
    await until(() => stdout.includes('(serving its store until Ctrl-C or SIGTERM)'), 'the end of the VM');
    expect(stdout).toContain(`the page of VM served: ${base}/?vm=served (serving its store until Ctrl-C or SIGTERM)`);
    const page = await fetch(`${base}/?vm=served`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('/assets/app.js');
    const ended = (await (await fetch(`${base}/api/v1/rondo/events?topic=/vm/served/lifecycle&last=1`)).json()) as { data: Array<{ data: { event: string } }> };
    expect(ended.data[0]!.data.event).toBe('ended');
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  }, 60_000);

  it('refuses a --serve address that is not loopback', async () => {
    const child = spawn(process.execPath, [VMM, 'run', '--serve', '0.0.0.0:9464', '--store', path.join(suiteTempDir('rondo-vmm-serve-'), 'x')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(2);
    expect(stderr).toContain('--serve takes a loopback HOST:PORT');
  });
});
