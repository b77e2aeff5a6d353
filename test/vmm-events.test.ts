// The demo VMM's events (docs/events.md, "The demo VMM's topics") on the real /dev/kvm: what
// `rondo events` reads back from a VM's store is what the guest printed and what happened to it.
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { LIFECYCLE_SCHEMA, runVm, VM_EVENTS_SIZE, vmTopics, type RunReport } from '../demo-vmm/vmm';
import { parseSchema, schemaText, Store } from '../src/index';
import { probeKvm } from '../src/kvm/index';
import { ROOT } from './fixtures/build';
import { suiteTempDir } from './helpers';
import { runNode } from './support/run-cli';

const probe = probeKvm();
if (!probe.ok) console.warn(`skipping the demo VMM's event tests that need KVM: ${probe.reason}`);

const CLI = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');
const VMM = path.join(ROOT, 'dist', 'demo-vmm', 'cli.js');

const run = runNode;

interface JsonEvent {
  time: string;
  tsNs: string;
  topic: string;
  type: string;
  data: unknown;
}

async function events(dir: string, topic: string): Promise<JsonEvent[]> {
  const r = await run(CLI, ['events', dir, '--topic', topic, '--format', 'json']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return r.stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as JsonEvent);
}

describe.skipIf(!probe.ok)("the demo VMM's events on KVM", () => {
  const dir = path.join(suiteTempDir('rondo-vmm-events-'), 'vm');
  let printed = '';
  beforeAll(async () => {
    // rondo-vmm run prints the guest's console, then an empty line and the report.
    const r = await run(VMM, ['run', '--duration', '5s', '--vcpus', '2', '--store', dir, '--id', 'five']);
    expect(r.code, r.stderr).toBe(0);
    printed = r.stdout.slice(0, r.stdout.indexOf('\n\nVM ended: '));
  }, 90_000);

  it('rondo-vmm run: the whole console of a VM that lived 5 s is in its store, line for line, in order', async () => {
    const lines = printed.split('\n');
    // What the micro-guest prints: each vCPU's banner, then its goodbye.
    expect(lines).toContain('rondo micro-guest: vcpu 0 up');
    expect(lines).toContain('rondo micro-guest: vcpu 1 up');
    expect(lines).toContain('rondo micro-guest: bye');
    const got = await events(dir, '/vm/five/console');
    expect(got.map((e) => e.data)).toEqual(lines);
    expect(got.every((e) => e.type === 'string' && e.topic === '/vm/five/console')).toBe(true);
    // Times in the order appended, within the VM's life as the lifecycle records it.
    const life = await events(dir, '/vm/five/lifecycle');
    const ts = got.map((e) => BigInt(e.tsNs));
    for (let i = 1; i < ts.length; i++) expect(ts[i]! >= ts[i - 1]!).toBe(true);
    expect(ts[0]! >= BigInt(life[0]!.tsNs)).toBe(true);
    expect(ts.at(-1)! <= BigInt(life.at(-1)!.tsNs)).toBe(true);
    // The ring of the demo's size, nothing of this VM overwritten.
    const store = Store.openReadOnly(dir);
    try {
      const st = store.eventStats();
      expect(st.size).toBe(VM_EVENTS_SIZE);
      expect(st.overwritten).toBe(0);
      expect(st.records).toBe(got.length + life.length);
    } finally {
      store.close();
    }
  });

  it('the lifecycle: created, started, each vCPU up and its exit, ended with the exit reason; typed by its schema', async () => {
    const life = await events(dir, '/vm/five/lifecycle');
    expect(life.every((e) => e.type === schemaText(parseSchema(LIFECYCLE_SCHEMA)))).toBe(true);
    const data = life.map((e) => e.data as { event: string; vcpu: number; detail: string });
    expect(data[0]).toMatchObject({ event: 'created', vcpu: -1 });
    expect(data[0]!.detail).toMatch(/micro guest, 2 vCPUs, 5000 ms/);
    expect(data[1]).toMatchObject({ event: 'started', vcpu: -1 });
    expect(data.filter((d) => d.event === 'vcpu_up').map((d) => d.vcpu).sort()).toEqual([0, 1]);
    expect(data.filter((d) => d.event === 'vcpu_exit').map((d) => [d.vcpu, d.detail]).sort()).toEqual([
      [0, 'shutdown'],
      [1, 'shutdown'],
    ]);
    // Each vCPU came up before it exited, and the VM ended last.
    for (const v of [0, 1]) expect(data.findIndex((d) => d.event === 'vcpu_up' && d.vcpu === v)).toBeLessThan(data.findIndex((d) => d.event === 'vcpu_exit' && d.vcpu === v));
    expect(data.at(-1)!.event).toBe('ended');
    expect(data.at(-1)!.detail).toMatch(/^shutdown: .*after [45]\.\d\d s$/);
    expect(data).toHaveLength(7);
    // The whole VM under /vm/five, in the ring's order; no error topic for a clean end.
    const all = await events(dir, '/vm/five');
    expect(all.filter((e) => e.topic.endsWith('/lifecycle')).map((e) => e.tsNs)).toEqual(life.map((e) => e.tsNs));
    expect(all.some((e) => e.topic === '/vm/five/error')).toBe(false);
  });

  it("a KVM internal error: its details in /vm/<id>/error, the lifecycle's end names it", async () => {
    const storeDir = path.join(suiteTempDir('rondo-vmm-events-'), 'ie');
    const r: RunReport = await runVm({ durationMs: 2000, vcpus: 1, storeDir, guest: 'internal-error', vmId: 'ie' });
    expect(r.endReason).toBe('internal_error');
    const t = vmTopics('ie');
    const err = await events(storeDir, t.error);
    expect(err).toHaveLength(1);
    expect(JSON.parse(err[0]!.data as string)).toEqual(JSON.parse(JSON.stringify(r.endDetails)));
    const life = (await events(storeDir, t.lifecycle)).map((e) => e.data as { event: string; vcpu: number; detail: string });
    expect(life.at(-1)).toMatchObject({ event: 'ended', vcpu: r.endDetails!.vcpu });
    expect(life.at(-1)!.detail.startsWith(`internal_error: ${r.endDetails!.message}`)).toBe(true);
    expect(life.find((d) => d.event === 'vcpu_exit')).toMatchObject({ vcpu: 0, detail: 'internal_error' });
    // The store's own API reads the same records the command printed.
    const store = Store.openReadOnly(storeDir);
    try {
      expect(store.events({ topic: '/vm/ie' }).length).toBe((await events(storeDir, '/vm/ie')).length);
    } finally {
      store.close();
    }
  }, 60_000);
});

describe("the demo VMM's event options without KVM", () => {
  it('rondo-vmm run --id that cannot be a topic segment: exit 2 naming --id, before any VM is made', async () => {
    const r = await run(VMM, ['run', '--id', 'a/b', '--store', path.join(suiteTempDir('rondo-vmm-events-'), 'x'), '--device', '/dev/kvm-missing']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--id is letters, digits, '\.', '_' or '-'.*not "a\/b"/);
    expect(() => vmTopics('a b')).toThrow(/a VM id is letters/);
  });
});
