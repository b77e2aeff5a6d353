/**
 * The hook contract: what every hook is, JavaScript or WebAssembly (a Wasm hook is loaded into an
 * object of this same interface by `loadWasmHook`). See docs/hooks.md.
 */

/** Where a sample entered rondo. */
export type SampleSource = 'agent' | 'record' | 'remote-write' | 'influx' | 'statsd' | 'fossil';

/** A sample as a hook sees it. */
export interface HookSample {
  name: string;
  labels: Readonly<Record<string, string>>;
  value: number;
  /** Milliseconds since the epoch. */
  timestamp: number;
  kind: 'gauge' | 'counter';
  source: SampleSource;
}

/** `false`: drop; an object: change (any subset); anything else: keep. */
export type HookResult =
  | boolean
  | void
  | undefined
  | null
  | { name?: string; labels?: Record<string, string>; value?: number; timestamp?: number };

/** What a rollup function is told about the bucket it rolls up. */
export interface RollupContext {
  schema: string;
  tier: number;
  /** The series' canonical key, name{labels}. */
  series: string;
  /** The bucket, in ms: [start, end). */
  start: number;
  end: number;
}

export interface Hook {
  name: string;
  /** false: drop; an object: change (any subset); anything else: keep. */
  onSample?(sample: HookSample): HookResult;
  /** Per tier index (>= 1): the value stored for a bucket from its raw points (tier 0's). */
  rollup?: Record<number, (timestamps: Float64Array, values: Float64Array, ctx: RollupContext) => number>;
  /** Schemas this hook applies to (default: all). */
  schemas?: readonly string[];
  /** What happens to a sample when onSample throws/traps: 'keep' (default) or 'drop'. */
  onError?: 'keep' | 'drop';
  /** Disabled after this many consecutive faults (default 10), with a logged reason. */
  maxConsecutiveFaults?: number;
  /** Called once when the store/agent closes. */
  close?(): void;
}
