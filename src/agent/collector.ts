// The contract between the agent and what it collects each tick.
import type { Labels, SeriesKind } from '../store';

/** What a collector gets each tick. */
export interface CollectContext {
  /** The tick's time, ms: what ctx.record() records at. */
  readonly now: number;
  /**
   * Records a value (registering the series on first use; handles are cached). The agent adds
   * its `labels`, ends the series with stale markers at stop(), and counts a refused series as
   * an error of the agent (rondo_agent_errors_total) instead of throwing.
   */
  record(name: string, labels: Labels, value: number, kind?: SeriesKind): void;
}

/** Something the agent runs every tick: it reads figures and records them through ctx.record(). */
export interface Collector {
  readonly name: string;
  /** Called every tick. May be async; a tick waits for all collectors. */
  collect(ctx: CollectContext): void | Promise<void>;
  /** Called once by agent.stop(). */
  close?(): void | Promise<void>;
}
