// The live agent's /metrics with the real KVM collector on /dev/kvm (issue 21): clean by
// `promtool check metrics`; scraped by a real Prometheus, which asks for OpenMetrics and gets
// it (the units it keeps come only from OpenMetrics' UNIT lines), and finds the series; and the
// VM's series leave /metrics once the VM has ended, while the process's stay.
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { vmSchemas } from '../demo-vmm/vmm';
import { Agent, processCollector, Store } from '../src/index';
import { KvmVm, probeKvm, kvmCollector, kvmStatSeries, kvmStatValue } from '../src/kvm/index';
import { promtoolCheck, promtoolCheckOpenMetrics } from './support/promtool';
import { getJson, startPrometheus, type PrometheusReceiver } from './support/receivers';
import { tempDir } from './helpers';
import { ROOT } from './fixtures/build';

const probe = probeKvm();
if (!probe.ok) console.log(`metrics-kvm.test.ts skipped: ${probe.reason ?? 'no usable /dev/kvm'}`);

const OM_ACCEPT = 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let prom: PrometheusReceiver | undefined;
afterAll(async () => {
  await prom?.stop();
});

describe.skipIf(!probe.ok)("the agent's /metrics with the KVM collector on /dev/kvm", () => {
  it('is promtool-clean, is scraped as OpenMetrics by Prometheus with its units, and drops the VM once it has ended', async () => {
    const vm = new KvmVm({ vcpus: 1, durationMs: 8000 });
    const agent = await Agent.start({
      dir: tempDir(),
      schemas: vmSchemas(1, vm.statsDescriptors()),
      metricsPort: 0,
      collectors: [processCollector(), kvmCollector(vm)],
    });
    try {
      vm.start();
      const url = `http://127.0.0.1:${agent.metricsAddress!.port}/metrics`;
      prom = await startPrometheus({ scrape: { target: `127.0.0.1:${agent.metricsAddress!.port}`, interval: '1s' } });
      await sleep(1500);

      const text = await (await fetch(url)).text();
      expect(text).toMatch(/^kvm_vcpu_exits_total\{vcpu="0"\} \d+$/m);
      expect(text).toMatch(/^kvm_vcpu_halt_wait_hist_seconds_bucket\{vcpu="0",le="\+Inf"\} \d+$/m);
      expect(text).toMatch(/^vmm_vcpu_exits_total\{reason="io_out",vcpu="0"\} \d+$/m);
      expect(promtoolCheck(text)).toEqual({ code: 0, output: '' });

      const om = await fetch(url, { headers: { accept: OM_ACCEPT } });
      expect(om.headers.get('content-type')).toMatch(/^application\/openmetrics-text; version=1.0.0/);
      const omBody = await om.text();
      expect(omBody).toContain('# TYPE kvm_vcpu_halt_wait_seconds counter\n# UNIT kvm_vcpu_halt_wait_seconds seconds\n');
      expect(promtoolCheckOpenMetrics(omBody).findings).toEqual([]);

      // Prometheus scrapes (its Accept asks for OpenMetrics first) and ingests the series.
      type Vector = { status: string; data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
      type Meta = { status: string; data: Array<{ metric?: string; type: string; unit: string; help: string }> };
      let exits: Vector['data']['result'] = [];
      let meta: Meta['data'] = [];
      for (let i = 0; i < 100 && (exits.length === 0 || meta.length === 0); i++) {
        await sleep(200);
        exits = (await getJson<Vector>(`${prom.api}/api/v1/query?query=${encodeURIComponent('kvm_vcpu_exits_total{job="rondo"}')}`)).data.result;
        meta = (await getJson<Meta>(`${prom.api}/api/v1/targets/metadata?metric=kvm_vcpu_halt_wait_seconds`)).data;
      }
      expect(exits.length).toBe(1);
      expect(Number(exits[0]!.value[1])).toBeGreaterThan(0);
      // The unit reaches Prometheus only through OpenMetrics' UNIT line: it was negotiated.
      expect(meta[0]).toMatchObject({ type: 'counter', unit: 'seconds' });
      const hist = (await getJson<Vector>(`${prom.api}/api/v1/query?query=${encodeURIComponent('kvm_vcpu_halt_wait_hist_seconds_bucket{le="+Inf"}')}`)).data.result;
      expect(hist.length).toBe(1);

      // The VM ends; 3 s later (3 ticks) its series are no longer on /metrics, the process's are.
      await vm.wait();
      await sleep(4500);
      const after = await (await fetch(url)).text();
      expect(after).not.toMatch(/^(kvm|vmm)_/m);
      expect(after).toMatch(/^process_resident_memory_bytes \d+/m);
      expect(promtoolCheck(after)).toEqual({ code: 0, output: '' });
    } finally {
      vm.stop();
      await agent.stop();
    }
  }, 60_000);

  it("the native capture's KVM series end on the values JavaScript computes from the same words (differential)", async () => {
    const vm = new KvmVm({ vcpus: 2, durationMs: 2000 });
    const d = vm.statsDescriptors();
    const dir = tempDir();
    const agent = await Agent.start({ dir, schemas: vmSchemas(2, d), collectors: [kvmCollector(vm)] });
    expect(vm.capturing).toBe(true);
    vm.start();
    await vm.wait();
    await agent.stop();
    const words = vm.statsWords();
    const store = Store.openReadOnly(dir);
    try {
      let checked = 0;
      const check = (series: ReturnType<typeof kvmStatSeries>, w: Float64Array, extra: Record<string, string>) => {
        for (const s of series) {
          const h = store.find(s.name, { ...s.labels, ...extra });
          expect(h, s.name).toBeDefined();
          expect(store.lastPoint(h!)?.[1], `${s.name}${JSON.stringify({ ...s.labels, ...extra })}`).toBe(kvmStatValue(s, w));
          checked++;
        }
      };
      check(kvmStatSeries('vm', d.vm), words.vm, {});
      words.vcpus.forEach((w, i) => check(kvmStatSeries('vcpu', d.vcpu), w, { vcpu: String(i) }));
      expect(checked).toBeGreaterThan(100);
      // And the raw words agree with the kernel's own sums: exits as stats() gives them.
      expect(store.lastPoint(store.find('kvm_vcpu_exits_total', { vcpu: '0' })!)?.[1]).toBe(vm.stats().vcpus[0]!.exits);
    } finally {
      store.close();
    }
  }, 60_000);

  it('rondo-vmm run --metrics-port serves a promtool-clean /metrics while the VM runs', async () => {
    const child = spawn(process.execPath, [path.join(ROOT, 'dist', 'demo-vmm', 'cli.js'), 'run', '--store', path.join(tempDir(), 'vm'), '--duration', '4s', '--vcpus', '1', '--metrics-port', '0'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    const url = await new Promise<string>((resolve, reject) => {
      child.stderr!.on('data', (c: Buffer) => {
        err += c.toString();
        const m = /metrics on (http:\S+)/.exec(err);
        if (m !== null) resolve(m[1]!);
      });
      child.once('exit', (code) => reject(new Error(`rondo-vmm exited with ${code}: ${err}`)));
    });
    await sleep(1500);
    const body = await (await fetch(url)).text();
    expect(body).toMatch(/^kvm_vcpu_exits_total\{vcpu="0"\} \d+$/m);
    expect(body).toMatch(/^nodejs_heap_size_used_bytes \d+$/m);
    expect(promtoolCheck(body)).toEqual({ code: 0, output: '' });
    const code = await new Promise<number | null>((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', resolve)));
    expect(code).toBe(0);
  }, 60_000);
});
