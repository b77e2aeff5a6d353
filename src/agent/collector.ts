// The contract between the agent and what it collects each tick.
import type { Labels, SeriesHandle, SeriesKind, Store } from '../store';

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
  /**
   * Describes a metric name in the store (store.describe): what it measures and its unit
   * ('seconds', 'bytes', …; OpenMetrics shows it when the name ends with it). Cheap to call
   * every tick: the agent writes the store's description table only when a description changes.
   * A refused description is counted as an error of the agent, never thrown.
   */
  describe(name: string, help: string, unit?: string): void;
}

/** What a collector gets once, when the agent starts: for series that native code records. */
export interface OpenContext {
  /** The agent's store, open for writing (e.g. for `store.nativeTarget(handle)`). */
  readonly store: Store;
  /**
   * Registers a series without recording, as ctx.record() would register it: the agent adds its
   * `labels`, ends the series with stale markers at stop(), and counts a series the store
   * refuses as an error of the agent and returns undefined instead of throwing.
   */
  register(name: string, labels: Labels, kind?: SeriesKind): SeriesHandle | undefined;
  /** register() for many series, with one write of the store's series index for the new ones. */
  registerMany(entries: ReadonlyArray<{ name: string; labels: Labels; kind?: SeriesKind }>): Array<SeriesHandle | undefined>;
  /** As CollectContext.describe. */
  describe(name: string, help: string, unit?: string): void;
}

/** Something the agent runs every tick: it reads figures and records them through ctx.record(). */
export interface Collector {
  readonly name: string;
  /**
   * Called once by Agent.start(), before the first tick: a collector whose figures native code
   * records (rather than collect()) registers its series here and hands their nativeTarget()s
   * to that code. A throw is counted as the collector's failure; the agent starts anyway.
   */
  open?(ctx: OpenContext): void | Promise<void>;
  /** Called every tick. May be async; a tick waits for all collectors. */
  collect(ctx: CollectContext): void | Promise<void>;
  /** Called once by agent.stop(). */
  close?(): void | Promise<void>;
}
