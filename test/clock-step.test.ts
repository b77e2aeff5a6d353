// The wall clock stepping under a running agent (an NTP step, a host that resumed): the agent is
// given a wall clock and a monotonic clock the test steps itself, and ticks when the test says.
import { describe, expect, it } from 'vitest';
import { Agent, ClockStepNotice, Store } from '../src/index';
import { alignedPast, tempDir } from './helpers';

const HOUR = 3_600_000;
const SCHEMAS = [{ name: 'a', match: {}, maxSeries: 16, tiers: [{ interval: '1s', retention: '3h' }] }];

/** A wall clock and a monotonic clock that advance together, until the test steps the wall clock. */
function clocks(start: number): { wall: () => number; mono: () => number; tick: (ms?: number, wallMs?: number) => void; stepWall: (ms: number) => void } {
  let w = start;
  let m = 5_000;
  return {
    wall: () => w,
    mono: () => m,
    tick: (ms = 1000, wallMs = ms) => {
      m += ms;
      w += wallMs;
    },
    stepWall: (ms) => {
      w += ms;
    },
  };
}

/** The points of one series, [ts, value], over a range. */
function points(dir: string, name: string, start: number, end: number): Array<[number, number]> {
  const store = Store.openReadOnly(dir);
  try {
    const h = store.find(name, {});
    if (h === undefined) return [];
    const r = store.query(h, { start, end, tier: 0 });
    const out: Array<[number, number]> = [];
    r.timestamps.forEach((t, i) => {
      const v = r.values[i];
      if (v !== undefined && !Number.isNaN(v)) out.push([t, v]);
    });
    return out;
  } finally {
    store.close();
  }
}

function start(dir: string, c: ReturnType<typeof clocks>, notes: Array<[string, unknown]>): Promise<Agent> {
  return Agent.start({
    dir,
    schemas: SCHEMAS,
    collectors: [],
    clock: c.wall,
    monotonicClock: c.mono,
    autoTick: false,
    onError: (source, e) => notes.push([source, e]),
  });
}

describe('the wall clock stepped under a running agent', () => {
  it('a step back by an hour: no tick lost or refused, times keep rising, it says so, and it returns to the wall clock once that has caught up', async () => {
    const dir = tempDir();
    const base = alignedPast(2 * HOUR, 1000);
    const c = clocks(base);
    const notes: Array<[string, unknown]> = [];
    const agent = await start(dir, c, notes);
    for (let i = 0; i < 5; i++) {
      await agent.tick();
      c.tick();
    }
    c.stepWall(-HOUR); // NTP steps the clock back an hour
    for (let i = 0; i < 10; i++) {
      await agent.tick();
      c.tick();
    }
    // One notice, through onError, for the one step; nothing refused.
    expect(notes.map(([s]) => s)).toEqual(['clock']);
    const notice = notes[0]![1];
    expect(notice).toBeInstanceOf(ClockStepNotice);
    expect((notice as ClockStepNotice).stepMs).toBe(-HOUR);
    expect((notice as Error).message).toMatch(/stepped back 3600\.000 s/);
    expect(agent.stats.errors).toBe(0);
    expect(agent.stats.clockSteps).toBe(1);
    expect(agent.stats.clockOffsetMs).toBe(HOUR);

    // NTP corrects it again, 5 s past where the timeline is: back on the wall clock.
    c.stepWall(HOUR + 5000);
    for (let i = 0; i < 3; i++) {
      await agent.tick();
      c.tick();
    }
    expect(agent.stats.clockSteps).toBe(2);
    expect(agent.stats.clockOffsetMs).toBe(0);
    await agent.stop();
    expect(notes.map(([s]) => s)).toEqual(['clock', 'clock']);

    // Every tick is in the store, at times that only rise: the 15 before the correction one a
    // second apart from the start, the rest on the wall clock after a 5 s gap.
    const ticks = points(dir, 'rondo_agent_ticks_total', base - HOUR, base + 60_000);
    const expected: Array<[number, number]> = [];
    for (let i = 0; i < 15; i++) expected.push([base + i * 1000, i + 1]);
    for (let i = 0; i < 4; i++) expected.push([base + 20_000 + i * 1000, 16 + i]); // the 4th is stop()'s
    expect(ticks).toEqual(expected);
    // The steps and the lead are series from the first step on: 3600 s ahead, then 0.
    const steps = points(dir, 'rondo_agent_clock_steps_total', base - HOUR, base + 60_000);
    expect(steps[0]).toEqual([base + 5000, 1]);
    expect(steps.at(-1)).toEqual([base + 23_000, 2]);
    const offset = points(dir, 'rondo_agent_clock_offset_seconds', base - HOUR, base + 60_000);
    expect(offset.slice(0, 10)).toEqual(expected.slice(5, 15).map(([t]) => [t, 3600]));
    expect(offset.slice(10)).toEqual(expected.slice(15).map(([t]) => [t, 0]));
  });

  it('the timeline may run ahead of the real clock by its lead: its points are not refused as in the future', async () => {
    const dir = tempDir();
    const base = alignedPast(5000, 1000); // the wall clock is right, to a few seconds
    const c = clocks(base);
    const notes: Array<[string, unknown]> = [];
    const agent = await start(dir, c, notes);
    await agent.tick();
    c.tick();
    c.stepWall(-HOUR);
    // 90 s on: the timeline is past the real clock by more than maxFutureMs (1 minute).
    for (let i = 0; i < 90; i++) {
      await agent.tick();
      c.tick();
    }
    await agent.stop();
    expect(agent.stats.lastTickMs).toBeGreaterThan(Date.now() + 60_000);
    expect(notes.map(([s]) => s)).toEqual(['clock']);
    expect(agent.stats.errors).toBe(0);
    const ticks = points(dir, 'rondo_agent_ticks_total', base, base + 200_000);
    expect(ticks.map(([t]) => t)).toEqual(Array.from({ length: 92 }, (_, i) => base + i * 1000));
  });

  it('a step back of more than 12 h is followed (the store would refuse a ring a day ahead of the clock)', async () => {
    const dir = tempDir();
    const base = alignedPast(2 * HOUR, 1000);
    const c = clocks(base);
    const notes: Array<[string, unknown]> = [];
    const agent = await start(dir, c, notes);
    await agent.tick();
    c.tick();
    c.stepWall(-13 * HOUR);
    await agent.tick();
    expect(agent.stats.clockSteps).toBe(1);
    expect(agent.stats.clockOffsetMs).toBe(0);
    expect(agent.stats.lastTickMs).toBe(base + 1000 - 13 * HOUR);
    expect((notes[0]![1] as Error).message).toMatch(/more than the 12 h/);
    await agent.stop();
  });

  it('a wall clock running fast after a small step back catches up, and the agent returns to it without a second step', async () => {
    const dir = tempDir();
    const base = alignedPast(HOUR, 1000);
    const c = clocks(base);
    const notes: Array<[string, unknown]> = [];
    const agent = await start(dir, c, notes);
    await agent.tick();
    c.tick();
    c.stepWall(-3000);
    const seen: Array<[number, number]> = [];
    // The wall clock slews: 1.5 s for every monotonic second, so it gains 0.5 s a tick.
    for (let i = 0; i < 10; i++) {
      await agent.tick();
      seen.push([agent.stats.lastTickMs!, agent.stats.clockOffsetMs]);
      c.tick(1000, 1500);
    }
    await agent.stop();
    expect(notes.map(([s]) => s)).toEqual(['clock']);
    expect(agent.stats.clockSteps).toBe(1);
    // On the timeline (a second a tick) while the wall clock is behind it, then the wall clock.
    expect(seen).toEqual([
      [base + 1000, 3000],
      [base + 2000, 2500],
      [base + 3000, 2000],
      [base + 4000, 1500],
      [base + 5000, 1000],
      [base + 6000, 500],
      [base + 7000, 0],
      [base + 8500, 0],
      [base + 10_000, 0],
      [base + 11_500, 0],
    ]);
    const ticks = points(dir, 'rondo_agent_ticks_total', base - 60_000, base + 60_000);
    expect(ticks.map(([, v]) => v)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(agent.stats.errors).toBe(0);
  });

  it('a step forward is followed: the skipped seconds are missing, what came before stays', async () => {
    const dir = tempDir();
    const base = alignedPast(2 * HOUR, 1000);
    const c = clocks(base);
    const notes: Array<[string, unknown]> = [];
    const agent = await start(dir, c, notes);
    for (let i = 0; i < 5; i++) {
      await agent.tick();
      c.tick();
    }
    c.stepWall(HOUR); // an hour forward: within the 3 h the ring holds
    for (let i = 0; i < 3; i++) {
      await agent.tick();
      c.tick();
    }
    await agent.stop();
    expect(notes.map(([s]) => s)).toEqual(['clock']);
    expect((notes[0]![1] as ClockStepNotice).stepMs).toBe(HOUR);
    expect((notes[0]![1] as Error).message).toMatch(/stepped forward 3600\.000 s/);
    expect(agent.stats.clockOffsetMs).toBe(0);
    expect(agent.stats.errors).toBe(0);
    const ticks = points(dir, 'rondo_agent_ticks_total', base - 60_000, base + HOUR + 60_000);
    expect(ticks).toEqual([
      [base, 1],
      [base + 1000, 2],
      [base + 2000, 3],
      [base + 3000, 4],
      [base + 4000, 5],
      [base + HOUR + 5000, 6],
      [base + HOUR + 6000, 7],
      [base + HOUR + 7000, 8],
      [base + HOUR + 8000, 9],
    ]);
  });

  it('without a monotonic clock, a given clock is taken as it is (no step is looked for)', async () => {
    const dir = tempDir();
    const base = alignedPast(2 * HOUR, 1000);
    let w = base;
    const notes: Array<[string, unknown]> = [];
    const agent = await Agent.start({ dir, schemas: SCHEMAS, collectors: [], clock: () => w, autoTick: false, onError: (s, e) => notes.push([s, e]) });
    await agent.tick();
    w += HOUR;
    await agent.tick();
    await agent.stop();
    expect(notes).toEqual([]);
    expect(agent.stats.clockSteps).toBe(0);
    expect(points(dir, 'rondo_agent_ticks_total', base, base + 2 * HOUR).map(([t]) => t)).toEqual([base, base + HOUR]);
  });

  it('refuses a monotonicClock that is not a function', async () => {
    await expect(Agent.start({ dir: tempDir(), monotonicClock: 5 as unknown as () => number })).rejects.toThrow(/monotonicClock must be a function/);
  });
});
