// The runner of a list of hooks: in order, each over the schemas it names (all by default). A
// hook's fault (it throws, returns what the contract does not allow, or, for a WebAssembly hook,
// traps) is counted per hook, its sample kept or dropped per the hook's onError, and after
// maxConsecutiveFaults faults in a row the hook is disabled, with the reason logged once.
import { ConfigError } from '../errors';
import type { Hook, HookSample, RollupContext } from './types';

/** What a chain reports of one hook: rondo_hook_errors_total{hook} and whether it was disabled. */
export interface HookFigures {
  hook: string;
  /** Faults (throws, traps, bad results) so far: rondo_hook_errors_total{hook}. */
  errors: number;
  /** Samples the hook saw. */
  samples: number;
  /** Samples the hook dropped (returned false, or a fault with onError 'drop'). */
  dropped: number;
  disabled: boolean;
  /** Why it was disabled. */
  reason?: string;
}

export interface HookChainOptions {
  /** Where the disabling of a hook (and the first fault of each hook) is told. Default console.warn. */
  log?: (message: string) => void;
}

export type RollupFn = (timestamps: Float64Array, values: Float64Array, ctx: RollupContext) => number;

class Entry {
  errors = 0;
  consecutive = 0;
  samples = 0;
  dropped = 0;
  disabled = false;
  reason: string | undefined;
  readonly max: number;
  readonly dropOnError: boolean;
  readonly schemas: ReadonlySet<string> | undefined;
  constructor(readonly hook: Hook) {
    this.max = hook.maxConsecutiveFaults ?? 10;
    this.dropOnError = hook.onError === 'drop';
    this.schemas = hook.schemas === undefined ? undefined : new Set(hook.schemas);
  }
  appliesTo(schema: string): boolean {
    return this.schemas === undefined || this.schemas.has(schema);
  }
}

/** The sample a hook was given back as a new object: what it changed over what it left. */
function changed(s: HookSample, r: { name?: unknown; labels?: unknown; value?: unknown; timestamp?: unknown }): HookSample | string {
  const name = r.name === undefined ? s.name : r.name;
  const labels = r.labels === undefined ? s.labels : r.labels;
  const value = r.value === undefined ? s.value : r.value;
  const timestamp = r.timestamp === undefined ? s.timestamp : r.timestamp;
  if (typeof name !== 'string' || name === '') return `returned a name that is not a non-empty string (${typeof name})`;
  if (typeof labels !== 'object' || labels === null || Array.isArray(labels)) return 'returned labels that are not an object of strings';
  for (const k of Object.keys(labels)) if (typeof (labels as Record<string, unknown>)[k] !== 'string') return `returned label ${k} that is not a string`;
  if (typeof value !== 'number') return `returned a value that is not a number (${typeof value})`;
  if (typeof timestamp !== 'number' || !Number.isFinite(timestamp)) return 'returned a timestamp that is not a finite number of ms';
  return { name, labels: labels as Record<string, string>, value, timestamp, kind: s.kind, source: s.source };
}

export class HookChain {
  private readonly entries: Entry[];
  private readonly log: (message: string) => void;
  /** Per schema, the entries with an onSample that apply to it (cached). */
  private readonly bySchema = new Map<string, Entry[]>();
  private closed = false;

  constructor(hooks: readonly Hook[], options: HookChainOptions = {}) {
    if (!Array.isArray(hooks)) throw new ConfigError('hooks must be an array of hooks ({ name, onSample?, rollup?, ... })');
    const names = new Set<string>();
    this.entries = hooks.map((h, i) => {
      validateHook(h, i);
      if (names.has(h.name)) throw new ConfigError(`two hooks are named ${JSON.stringify(h.name)}; give each hook its own name`);
      names.add(h.name);
      return new Entry(h);
    });
    this.log = options.log ?? ((m) => console.warn(m));
  }

  /** The hooks, in order. */
  get hooks(): readonly Hook[] {
    return this.entries.map((e) => e.hook);
  }

  /** True when some hook has an onSample for this schema (disabled ones included: the check is made once). */
  samplesFor(schema: string): boolean {
    return this.sampleEntries(schema).length > 0;
  }

  /** True when some hook has an onSample (for any schema). */
  get hasSampleHooks(): boolean {
    return this.entries.some((e) => typeof e.hook.onSample === 'function');
  }

  private sampleEntries(schema: string): Entry[] {
    let list = this.bySchema.get(schema);
    if (list === undefined) {
      list = this.entries.filter((e) => typeof e.hook.onSample === 'function' && e.appliesTo(schema));
      this.bySchema.set(schema, list);
    }
    return list;
  }

  /**
   * Runs the hooks that apply to `schema` over a sample, in order: each sees what the one before
   * gave. Gives the sample (the same object when no hook changed it) or null when one dropped it.
   */
  run(sample: HookSample, schema: string): HookSample | null {
    const list = this.sampleEntries(schema);
    let s = sample;
    for (let i = 0; i < list.length; i++) {
      const e = list[i]!;
      if (e.disabled) continue;
      e.samples++;
      let r: unknown;
      try {
        r = e.hook.onSample!(s);
      } catch (err) {
        if (this.fault(e, err)) return null;
        continue;
      }
      if (r === false) {
        e.consecutive = 0;
        e.dropped++;
        return null;
      }
      if (typeof r === 'object' && r !== null) {
        const c = changed(s, r as Record<string, unknown>);
        if (typeof c === 'string') {
          if (this.fault(e, new Error(c))) return null;
          continue;
        }
        s = c;
      }
      e.consecutive = 0;
    }
    return s;
  }

  /** A fault of e's hook: counted, maybe disabling it. True when the sample is to be dropped. */
  private fault(e: Entry, err: unknown): boolean {
    e.errors++;
    e.consecutive++;
    const what = err instanceof Error ? err.message : String(err);
    if (e.errors === 1) this.log(`rondo: hook ${e.hook.name} failed: ${what} (the sample is ${e.dropOnError ? 'dropped' : 'kept'}; faults are counted in rondo_hook_errors_total{hook="${e.hook.name}"})`);
    if (e.consecutive >= e.max && !e.disabled) {
      e.disabled = true;
      e.reason = `${e.consecutive} consecutive faults (maxConsecutiveFaults ${e.max}); the last: ${what}`;
      this.log(`rondo: hook ${e.hook.name} disabled after ${e.reason}`);
    }
    if (e.dropOnError) e.dropped++;
    return e.dropOnError;
  }

  /**
   * The rollup of tier `tier` for a schema: the last hook in order that declares one for that
   * tier and applies to the schema (and is not disabled), or undefined.
   */
  rollupFor(schema: string, tier: number): { hook: string; fn: RollupFn } | undefined {
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const e = this.entries[i]!;
      const fn = e.hook.rollup?.[tier];
      if (typeof fn === 'function' && !e.disabled && e.appliesTo(schema)) return { hook: e.hook.name, fn };
    }
    return undefined;
  }

  /** True when some hook declares a rollup for some tier of this schema. */
  hasRollups(schema: string): boolean {
    return this.entries.some((e) => e.hook.rollup !== undefined && Object.keys(e.hook.rollup).length > 0 && e.appliesTo(schema));
  }

  /** Calls a rollup: its number, or undefined on a fault (counted against the hook, as onSample's). */
  callRollup(hook: string, fn: RollupFn, ts: Float64Array, vs: Float64Array, ctx: RollupContext): number | undefined {
    const e = this.entries.find((x) => x.hook.name === hook)!;
    if (e.disabled) return undefined;
    try {
      const v = fn.call(e.hook.rollup, ts, vs, ctx);
      if (typeof v !== 'number') throw new Error(`rollup of tier ${ctx.tier} returned ${typeof v}, not a number`);
      e.consecutive = 0;
      return v;
    } catch (err) {
      e.errors++;
      e.consecutive++;
      const what = err instanceof Error ? err.message : String(err);
      if (e.errors === 1) this.log(`rondo: hook ${e.hook.name} rollup failed for ${ctx.series} tier ${ctx.tier}: ${what} (the bucket keeps the built-in aggregates)`);
      if (e.consecutive >= e.max && !e.disabled) {
        e.disabled = true;
        e.reason = `${e.consecutive} consecutive faults (maxConsecutiveFaults ${e.max}); the last: ${what}`;
        this.log(`rondo: hook ${e.hook.name} disabled after ${e.reason}`);
      }
      return undefined;
    }
  }

  /** Each hook's figures, in order. */
  figures(): HookFigures[] {
    return this.entries.map((e) => ({
      hook: e.hook.name,
      errors: e.errors,
      samples: e.samples,
      dropped: e.dropped,
      disabled: e.disabled,
      ...(e.reason === undefined ? {} : { reason: e.reason }),
    }));
  }

  /** Calls each hook's close() once (a close that throws is logged). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const e of this.entries) {
      try {
        e.hook.close?.();
      } catch (err) {
        this.log(`rondo: hook ${e.hook.name} close failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }
}

function validateHook(h: unknown, i: number): asserts h is Hook {
  const at = `hooks[${i}]`;
  if (typeof h !== 'object' || h === null) throw new ConfigError(`${at} must be an object ({ name, onSample?, rollup?, ... })`);
  const o = h as Record<string, unknown>;
  if (o.wasm !== undefined)
    throw new ConfigError(
      `${at} is a WebAssembly module ({ wasm }): Store.open is synchronous and loading a Wasm hook is not; ` +
        'load it first and give the hook: hooks: [await loadWasmHook(bytes, options)] (Agent.start loads { wasm } entries itself)',
    );
  if (typeof o.name !== 'string' || o.name === '') throw new ConfigError(`${at} needs a name (a non-empty string)`);
  const n = `hook ${JSON.stringify(o.name)}`;
  if (o.onSample !== undefined && typeof o.onSample !== 'function') throw new ConfigError(`${n}: onSample must be a function`);
  if (o.rollup !== undefined) {
    if (typeof o.rollup !== 'object' || o.rollup === null) throw new ConfigError(`${n}: rollup must be an object of tier index → function`);
    for (const [k, f] of Object.entries(o.rollup)) {
      if (!/^[1-9][0-9]*$/.test(k)) throw new ConfigError(`${n}: rollup tier ${JSON.stringify(k)} must be a tier index of 1 or more (tier 0 is raw)`);
      if (typeof f !== 'function') throw new ConfigError(`${n}: rollup[${k}] must be a function (timestamps, values, ctx) => number`);
    }
  }
  if (o.schemas !== undefined && (!Array.isArray(o.schemas) || o.schemas.some((s) => typeof s !== 'string')))
    throw new ConfigError(`${n}: schemas must be an array of schema names`);
  if (o.onError !== undefined && o.onError !== 'keep' && o.onError !== 'drop') throw new ConfigError(`${n}: onError must be 'keep' or 'drop'`);
  const m = o.maxConsecutiveFaults;
  if (m !== undefined && !(typeof m === 'number' && Number.isInteger(m) && m >= 1)) throw new ConfigError(`${n}: maxConsecutiveFaults must be an integer of 1 or more`);
  if (o.close !== undefined && typeof o.close !== 'function') throw new ConfigError(`${n}: close must be a function`);
}
