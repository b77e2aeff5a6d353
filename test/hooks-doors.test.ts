// Hooks at the doors that need a running agent or server (docs/hooks.md): the agent's tick goes on
// every second under a hook that always throws; `rondo serve --hook` runs a hook module on
// remote-write receive and Influx lines, and reports the hook's faults on /metrics.
import { describe, expect, it } from 'vitest';
import { Agent, Store, type Collector } from '../src/index';
import { tempDir } from './helpers';

const SCHEMAS = [
  { name: 'a', match: {}, maxSeries: 64, tiers: [{ interval: '1s', retention: '10m' }, { interval: '10s', retention: '1h' }] },
];
const INPUT: Array<[string, Record<string, string>, number]> = [
  ['keep_me', {}, 7],
  ['other', { vm: 'vm1' }, 4],
];

/** A collector recording INPUT every tick. */
function inputCollector(): Collector {
  return { name: 'input', collect: (ctx) => INPUT.forEach(([name, labels, v]) => ctx.record(name, labels, v)) };
}

describe('faults in the agent', () => {
  it("the agent keeps ticking every second with a hook that always throws, and counts its faults", async () => {
    const dir = tempDir();
    const agent = await Agent.start({
      dir,
      schemas: SCHEMAS,
      hooks: [{ name: 'broken', maxConsecutiveFaults: 1_000_000, onSample: () => { throw new Error('always'); } }],
      hookLog: () => {},
      collectors: [inputCollector()],
      onError: () => {},
    });
    const before = agent.stats.ticks;
    await new Promise((r) => setTimeout(r, 4500));
    const ticks = agent.stats.ticks - before;
    const errors = agent.store.hookFigures()[0]!.errors;
    await agent.stop();
    expect(ticks).toBeGreaterThanOrEqual(3);
    expect(errors).toBeGreaterThan(ticks * INPUT.length - 1);
    // The samples were kept (onError 'keep'), the hook's faults recorded by the agent.
    const store = Store.openReadOnly(dir);
    const h = store.find('keep_me')!;
    expect(store.query(h, { tier: 0 }).values.filter((v) => v === 7).length).toBeGreaterThanOrEqual(3);
    expect(store.find('rondo_hook_errors_total', { hook: 'broken' })).toBeDefined();
    store.close();
  });
});
