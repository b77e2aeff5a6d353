// The agent a VMM launcher embeds: every tick it runs its collectors, records what they return,
// and consolidates; on its own interval it pushes to a remote-write receiver. stop() runs a last
// tick and a last push, so the final second of a short-lived VM is kept. It never throws into the
// host's event loop: failures are counted, reported and recorded as the agent's own series.
import * as http from 'node:http';
import { SeriesHandle, Store, type Exporter, type Labels, type SchemaOptions, type SeriesKind, type StoreOptions } from '../store';
import { formatSeries } from '../selector';
import { ConfigError, CorruptFileError, StorageError } from '../errors';
import { parseDuration, type Duration } from '../duration';
import { RemoteWriteClient, pushExporter, exporterNameFor, type RemoteWriteOptions, type PushSummary } from '../export';
import type { Collector, CollectContext, OpenContext } from './collector';
import { processCollector } from './collectors/process';
import { resolveHooks, type Hook, type WasmHookSpec } from '../hooks';

export interface AgentRemoteWrite extends RemoteWriteOptions {
  /** How often to push. Default '15s'. */
  interval?: Duration;
  /** The exporter (cursor) name. Default: named after the URL. */
  exporter?: string;
}

export interface AgentOptions extends Omit<StoreOptions, 'schemas' | 'clock' | 'hooks'> {
  /** Hooks (docs/hooks.md), as Store.open's; a `{ wasm: bytes, ...options }` entry is a WebAssembly hook, loaded by start(). */
  hooks?: readonly (Hook | WasmHookSpec)[];
  /** The store directory (created if missing). */
  dir: string;
  /** Schemas for a new store (see Store.open). */
  schemas?: readonly SchemaOptions[];
  /** Tick period. Default 1000 ms; ticks are aligned to multiples of it. */
  tickMs?: number;
  /**
   * The agent's clock, ms since the epoch. Default Date.now. Every time the agent takes comes
   * from it: each tick's time (what collectors see as ctx.now and record at), the time its own
   * series are recorded at, consolidation's `now`, the `until` of an interval push, the stale
   * markers stop() queues, and when the next tick is due. A test passes a clock it steps itself
   * (with `autoTick: false`) and calls tick() at chosen times instead of sleeping. The store still
   * refuses points more than maxFutureMs ahead of the real Date.now(), so such a clock starts in
   * the recent past and steps forward.
   */
  clock?: () => number;
  /**
   * A monotonic clock, ms from any origin (it never steps). Default performance.now when `clock`
   * is left to its default; when `clock` is given without it, no step of the wall clock is looked
   * for (the given clock is taken as it is). Each time the agent reads `clock` it compares the
   * wall clock's advance with this one's: a difference of a second or more is a step. After a
   * step back the agent records on a timeline that never goes back (the time it had reached plus
   * the monotonic time since) until the wall clock has caught up with it; a step forward is
   * followed. Each step is counted (rondo_agent_clock_steps_total), the timeline's lead over the
   * wall clock recorded (rondo_agent_clock_offset_seconds) and one line reported through onError
   * with source 'clock'.
   */
  monotonicClock?: () => number;
  /**
   * Default true: start() runs the first tick and sets the tick timer (and the push timer when
   * remoteWrite is given). false: start() runs no tick and sets no timer; the host calls tick()
   * and push() itself. stop() does its last tick and last push either way.
   */
  autoTick?: boolean;
  /** Collectors run every tick. Default: [processCollector()]. Pass [] for none. */
  collectors?: readonly Collector[];
  /** Labels added to every series the agent records (e.g. { instance: 'vm1' }). */
  labels?: Labels;
  /** Push to a Prometheus remote-write receiver on an interval, and once more at stop(). */
  remoteWrite?: AgentRemoteWrite;
  /**
   * Serve the store's latest values on http://host:port/metrics: the Prometheus text format, or
   * OpenMetrics when the scraper's Accept asks for it; HELP and UNIT from the store's
   * descriptions.
   */
  metricsPort?: number;
  /**
   * /metrics leaves out a series whose last point is older than this: a series that ended (its
   * collector gone, its VM stopped) is not served as if it were live. Default: 3 × the longest
   * of the tick, the push interval (with remoteWrite: the push's own figures are recorded at
   * each push) and the tier-0 intervals of the store's schemas (3 s with the defaults and no
   * push). `0`: never leave one out.
   */
  metricsStaleAfter?: Duration;
  /** Default '127.0.0.1' (loopback only): whoever can reach the endpoint reads every series'
   *  latest value. Set '0.0.0.0' or an interface's address to serve other hosts. */
  metricsHost?: string;
  /**
   * Called for each failure (collector, tick, push). Default: one line on stderr, at most once a minute per source.
   * A CorruptFileError of the store while running (a slab file cut short under it) is reported once; the agent then
   * records nothing more into that store, and the process goes on.
   */
  onError?: (source: string, error: unknown) => void;
}

export interface AgentStats {
  ticks: number;
  /** Ticks skipped because the previous one was still running. */
  ticksSkipped: number;
  errors: number;
  pushes: number;
  pushErrors: number;
  lastTickMs: number | null;
  lastPush: PushSummary | null;
  /** Steps of the wall clock seen (back or forward, a second or more). */
  clockSteps: number;
  /** How far the agent's timeline is ahead of the wall clock after a step back, ms; 0 on the wall clock. */
  clockOffsetMs: number;
}

/** The agent's own series, described in the store when it starts. */
const AGENT_DESCRIPTIONS: ReadonlyArray<readonly [string, string, string?]> = [
  ['rondo_agent_ticks_total', "Ticks the agent has run (each runs every collector and records what they return)."],
  ['rondo_agent_tick_duration_seconds', 'How long the last tick took.', 'seconds'],
  ['rondo_agent_errors_total', 'Failures of the agent (collectors, series refused by the store, pushes), by source.'],
  ['rondo_agent_clock_steps_total', 'Steps of the wall clock (back or forward, a second or more) the agent has seen.'],
  ['rondo_agent_clock_offset_seconds', "How far the agent's timeline is ahead of the wall clock after a step back.", 'seconds'],
  ['rondo_hook_errors_total', 'Faults of each hook (it threw, trapped or returned what the contract does not allow).'],
];

/** The push's and exporter's figures, described when the agent has a remote write. */
const EXPORT_DESCRIPTIONS: ReadonlyArray<readonly [string, string, string?]> = [
  ['rondo_remote_write_samples_sent_total', 'Samples the remote-write receiver accepted, by exporter.'],
  ['rondo_remote_write_samples_failed_total', 'Samples of sends that ran out of retries (sent again by the next push), by exporter.'],
  ['rondo_remote_write_samples_retried_total', 'Samples of retried send attempts, by exporter.'],
  ['rondo_remote_write_samples_dropped_total', 'Samples the receiver refused for good (4xx other than 429), by exporter.'],
  ['rondo_remote_write_push_latency_seconds', "Round-trip time of the last push's last accepted request.", 'seconds'],
  ['rondo_remote_write_last_success_timestamp_seconds', 'When a push request was last accepted, seconds since the epoch.', 'seconds'],
  ['rondo_exporter_backlog_seconds', 'Recorded time not yet exported, in the schema furthest behind.', 'seconds'],
  ['rondo_exporter_backlog_ratio', "Share of the exported tier's ring that unexported samples fill; at 1 the ring overwrites them.", 'ratio'],
  ['rondo_exporter_lost_samples_total', 'Samples the ring overwrote before they were exported (an upper bound).'],
];

/** A difference of this much between the wall clock's advance and the monotonic clock's is a step. */
const CLOCK_STEP_MS = 1000;
/** The most the agent's timeline runs ahead of the wall clock after a step back: past it, the wall clock is followed. */
const MAX_LEAD_MS = 12 * 3_600_000;

/** What the agent reports through onError (source 'clock') when the wall clock stepped. */
export class ClockStepNotice extends Error {
  override name = 'ClockStepNotice';
  constructor(
    message: string,
    /** The step, ms: negative for a step back. */
    readonly stepMs: number,
  ) {
    super(message);
  }
}

export class Agent {
  readonly store: Store;
  readonly tickMs: number;
  private readonly clock: () => number;
  private readonly monotonic: (() => number) | undefined;
  /** The last reading of both clocks and the time the agent took then. */
  private lastWall: number | undefined;
  private lastMono = 0;
  private lastTime = 0;
  /** After a step back, until the wall clock catches up: times come from the timeline. */
  private onTimeline = false;
  private readonly autoTick: boolean;
  private readonly collectors: readonly Collector[];
  private readonly labels: Labels;
  private readonly handles = new Map<string, SeriesHandle>();
  private readonly refused = new Set<string>();
  /** Descriptions given to the store: name → help and unit. */
  private readonly described = new Map<string, string>();
  private readonly pendingDescriptions = new Map<string, { help: string; unit?: string }>();
  /** Failures per source kind ('collector', 'push', ...): each is its own counter series. */
  private readonly errorsBySource = new Map<string, number>();
  /** The push's own figures, last values, recorded again every tick (recordCarried). */
  private readonly carried = new Map<string, { name: string; labels: Labels; kind: SeriesKind; value: number }>();
  private readonly statsData: AgentStats = { ticks: 0, ticksSkipped: 0, errors: 0, pushes: 0, pushErrors: 0, lastTickMs: null, lastPush: null, clockSteps: 0, clockOffsetMs: 0 };
  private tickTimer: NodeJS.Timeout | undefined;
  private pushTimer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private pushing: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private readonly client: RemoteWriteClient | undefined;
  private readonly exporter: Exporter | undefined;
  private readonly pushIntervalMs: number;
  private server: http.Server | undefined;
  /** metricsStaleAfter in ms (0: none left out); undefined: the default, from the tick and the schemas. */
  private metricsStaleAfterMs: number | undefined;
  private readonly onError: (source: string, error: unknown) => void;
  /**
   * The store's CorruptFileError while running (a slab file cut short under it, say): reported
   * once, after which the agent records nothing more into that store (its ticks do nothing) and
   * the process goes on.
   */
  private storeDamaged: CorruptFileError | undefined;
  private readonly lastReported = new Map<string, number>();

  /** Opens the store and the /metrics endpoint if asked, runs the first tick and starts the tick (and push) timers (neither with autoTick: false). */
  static async start(options: AgentOptions): Promise<Agent> {
    // `{ wasm, ...options }` entries are loaded here (loading a Wasm hook is asynchronous; the
    // store's open is not): the store is given hooks only.
    const hooks = options !== null && typeof options === 'object' && Array.isArray(options.hooks) ? await resolveHooks(options.hooks) : undefined;
    const agent = new Agent(hooks === undefined ? options : { ...options, hooks });
    try {
      if (options.metricsPort !== undefined) await agent.listen(options.metricsPort, options.metricsHost ?? '127.0.0.1');
      await agent.openCollectors();
      if (agent.autoTick) {
        await agent.tick();
        agent.schedule();
      }
      return agent;
    } catch (e) {
      agent.store.close();
      agent.client?.close();
      throw e;
    }
  }

  private constructor(o: AgentOptions) {
    if (typeof o !== 'object' || o === null || typeof o.dir !== 'string') throw new ConfigError('Agent.start needs options with a dir');
    this.tickMs = o.tickMs ?? 1000;
    if (!Number.isInteger(this.tickMs) || this.tickMs < 10 || this.tickMs > 3_600_000)
      throw new ConfigError(`tickMs ${String(o.tickMs)} must be an integer from 10 to 3600000`);
    if (o.clock !== undefined && typeof o.clock !== 'function') throw new ConfigError('clock must be a function returning ms since the epoch, like Date.now');
    if (o.autoTick !== undefined && typeof o.autoTick !== 'boolean') throw new ConfigError(`autoTick ${String(o.autoTick)} must be true or false`);
    if (o.monotonicClock !== undefined && typeof o.monotonicClock !== 'function')
      throw new ConfigError('monotonicClock must be a function returning ms from any origin that never steps, like performance.now');
    this.clock = o.clock ?? Date.now;
    this.monotonic = o.monotonicClock ?? (o.clock === undefined ? () => performance.now() : undefined);
    this.autoTick = o.autoTick ?? true;
    if (o.metricsPort !== undefined && !(Number.isInteger(o.metricsPort) && o.metricsPort >= 0 && o.metricsPort <= 65535))
      throw new ConfigError(`metricsPort ${String(o.metricsPort)} must be a TCP port from 0 to 65535 (0: any free port)`);
    if (o.metricsStaleAfter !== undefined) {
      this.metricsStaleAfterMs = o.metricsStaleAfter === 0 || o.metricsStaleAfter === '0' ? 0 : parseDuration(o.metricsStaleAfter, 'metricsStaleAfter');
    }
    if (o.metricsHost !== undefined && (typeof o.metricsHost !== 'string' || o.metricsHost === ''))
      throw new ConfigError('metricsHost must be an address to listen on, e.g. "127.0.0.1" (the default: loopback only)');
    this.onError = o.onError ?? ((source, e) => this.reportOnce(source, e));
    this.collectors = o.collectors ?? [processCollector()];
    this.labels = { ...(o.labels ?? {}) };
    const storeOptions: StoreOptions = {
      ...(o.schemas === undefined ? {} : { schemas: o.schemas }),
      ...(o.maxFutureMs === undefined ? {} : { maxFutureMs: o.maxFutureMs }),
      ...(o.dirMode === undefined ? {} : { dirMode: o.dirMode }),
      ...(o.fileMode === undefined ? {} : { fileMode: o.fileMode }),
      ...(o.events === undefined ? {} : { events: o.events }),
      ...(o.hooks === undefined ? {} : { hooks: o.hooks as readonly Hook[] }),
      ...(o.hookLog === undefined ? {} : { hookLog: o.hookLog }),
      // The future limit follows the agent's lead over the wall clock after a step back, so the
      // timeline's points are not refused as ahead of the clock.
      clock: () => Date.now() + this.statsData.clockOffsetMs,
    };
    this.store = Store.open(o.dir, storeOptions);
    if (o.remoteWrite !== undefined) {
      const { interval, exporter, ...clientOptions } = o.remoteWrite;
      this.pushIntervalMs = parseDuration(interval ?? '15s', 'remoteWrite.interval');
      try {
        this.client = new RemoteWriteClient(clientOptions);
        this.exporter = this.store.exporter(exporter ?? exporterNameFor(clientOptions.url));
      } catch (e) {
        this.client?.close();
        this.store.close();
        throw e;
      }
    } else {
      this.pushIntervalMs = 0;
    }
  }

  get stats(): Readonly<AgentStats> {
    return { ...this.statsData };
  }

  /** Runs one tick now: collect, record, consolidate. Never rejects. */
  tick(): Promise<void> {
    if (this.ticking !== undefined) {
      this.statsData.ticksSkipped++;
      return this.ticking;
    }
    this.ticking = this.runTick().finally(() => {
      this.ticking = undefined;
    });
    return this.ticking;
  }

  private async runTick(): Promise<void> {
    if (this.store.isClosed || this.storeDamaged !== undefined) return;
    const started = performance.now();
    const now = this.now();
    const ctx: CollectContext = {
      now,
      record: (name, labels, value, kind) => this.recordOne(name, labels, value, kind ?? 'gauge', now),
      describe: (name, help, unit) => this.describe(name, help, unit),
    };
    for (const c of this.collectors) {
      try {
        await c.collect(ctx);
      } catch (e) {
        this.failed(`collector ${c.name}`, e);
      }
    }
    this.flushDescriptions();
    this.statsData.ticks++;
    this.statsData.lastTickMs = now;
    this.recordOne('rondo_agent_ticks_total', {}, this.statsData.ticks, 'counter', now);
    this.recordOne('rondo_agent_tick_duration_seconds', {}, (performance.now() - started) / 1000, 'gauge', now);
    for (const f of this.store.hookFigures()) this.recordOne('rondo_hook_errors_total', { hook: f.hook }, f.errors, 'counter', now);
    // Every tick, not only when one fails: /metrics leaves out a series with no recent point.
    for (const [source, n] of this.errorsBySource) this.recordOne('rondo_agent_errors_total', { source }, n, 'counter', now);
    this.recordCarried(now);
    if (this.storeDamaged !== undefined) return;
    if (this.statsData.clockSteps > 0) {
      // Only once the wall clock has stepped: an agent whose clock never steps has no such series.
      this.recordOne('rondo_agent_clock_steps_total', {}, this.statsData.clockSteps, 'counter', now);
      this.recordOne('rondo_agent_clock_offset_seconds', {}, this.statsData.clockOffsetMs / 1000, 'gauge', now);
    }
    try {
      this.store.consolidate({ now });
    } catch (e) {
      this.failed('consolidate', e);
    }
  }

  /**
   * The push's figures, which change only when a push runs, are recorded again every tick with
   * their last value, with the export backlog and lost count: a series with a
   * point every tick, which /metrics keeps serving (it leaves out series not recorded for
   * metricsStaleAfter) and a scraping Prometheus sees without gaps between pushes.
   */
  private recordCarried(now: number): void {
    for (const c of this.carried.values()) this.recordOne(c.name, c.labels, c.value, c.kind, now);
    if (this.exporter === undefined || this.exporter.isClosed) return;
    try {
      const labels = { exporter: this.exporter.name };
      const b = this.exporter.backlog();
      this.recordOne('rondo_exporter_backlog_seconds', labels, b.seconds, 'gauge', now);
      this.recordOne('rondo_exporter_backlog_ratio', labels, b.ratio, 'gauge', now);
      const lost = this.exporter.lostSamples;
      if (lost > 0) this.recordOne('rondo_exporter_lost_samples_total', labels, lost, 'counter', now);
    } catch (e) {
      this.failed('export figures', e);
    }
  }

  /**
   * The time the agent takes, ms since the epoch: the wall clock, except after a step back, when
   * it is the time reached before the step plus the monotonic time since, until the wall clock
   * catches up. Never earlier than the last time it returned while on that timeline.
   */
  private now(): number {
    const wall = this.clock();
    if (this.monotonic === undefined) return wall;
    const mono = this.monotonic();
    if (this.lastWall === undefined) {
      this.lastWall = wall;
      this.lastMono = mono;
      this.lastTime = wall;
      return wall;
    }
    const elapsed = Math.max(0, mono - this.lastMono);
    const step = wall - this.lastWall - elapsed;
    const timeline = this.lastTime + elapsed;
    let t = wall;
    if (this.onTimeline || step <= -CLOCK_STEP_MS) {
      // A lead past MAX_LEAD_MS is given up: the store refuses, on open, a ring more than a day
      // ahead of the clock.
      this.onTimeline = wall < timeline && timeline - wall <= MAX_LEAD_MS;
      if (this.onTimeline) t = timeline;
    }
    this.lastWall = wall;
    this.lastMono = mono;
    this.lastTime = t;
    this.statsData.clockOffsetMs = t - wall;
    if (Math.abs(step) >= CLOCK_STEP_MS) this.clockStepped(step, wall, t, timeline);
    return t;
  }

  private clockStepped(step: number, wall: number, t: number, timeline: number): void {
    this.statsData.clockSteps++;
    const secs = (Math.abs(step) / 1000).toFixed(3);
    const message =
      step < 0
        ? t > wall
          ? `the wall clock stepped back ${secs} s: recording on a timeline ${((t - wall) / 1000).toFixed(3)} s ahead of it (the time before the step plus the monotonic time since) until the wall clock catches up; rondo_agent_clock_offset_seconds shows the lead`
          : timeline - wall > MAX_LEAD_MS
            ? `the wall clock stepped back ${secs} s, more than the ${MAX_LEAD_MS / 3_600_000} h the agent runs ahead of it: following it (points older than the ring's newest are refused as late)`
            : `the wall clock stepped back ${secs} s, not behind the time already recorded: following it`
        : t > wall
          ? `the wall clock stepped forward ${secs} s, still ${((t - wall) / 1000).toFixed(3)} s behind the timeline the agent records on`
          : `the wall clock stepped forward ${secs} s: following it (the skipped intervals are left empty)`;
    try {
      this.onError('clock', new ClockStepNotice(message, step));
    } catch {
      // A throwing onError must not take the agent down.
    }
  }

  /** recordOne() when the store has hooks: they see the sample (source 'agent') before its series is registered. */
  private recordHooked(name: string, labels: Labels, value: number, kind: SeriesKind, now: number): void {
    let key = formatSeries(name, labels);
    let h: SeriesHandle | undefined;
    try {
      const r = this.store.applyHooks({ name, labels, value, timestamp: now, kind, source: 'agent' });
      if (r === null) return;
      key = formatSeries(r.name, r.labels);
      h = this.handles.get(key);
      if (h === undefined) {
        if (this.refused.has(key)) return;
        h = this.store.register(r.name, r.labels, { kind });
        this.handles.set(key, h);
      }
      this.store.recordUnhooked(h, r.value, r.timestamp);
    } catch (e) {
      if (h === undefined && !(e instanceof StorageError)) this.refused.add(key);
      this.failed(`series ${key}`, e);
    }
  }

  private recordOne(name: string, labels: Labels, value: number, kind: SeriesKind, now: number): void {
    if (this.storeDamaged !== undefined) return;
    const all = this.withLabels(labels);
    if (this.store.hasSampleHooks) {
      this.recordHooked(name, all, value, kind, now);
      return;
    }
    const key = formatSeries(name, all);
    let h = this.handles.get(key);
    try {
      if (h === undefined) {
        if (this.refused.has(key)) return;
        h = this.store.register(name, all, { kind });
        this.handles.set(key, h);
      }
      this.store.record(h, value, now);
    } catch (e) {
      // A refused series is reported once and left out; one the disk could not take (StorageError:
      // full, read-only, failing) is tried again next tick.
      if (h === undefined && !(e instanceof StorageError)) this.refused.add(key);
      this.failed(`series ${key}`, e);
    }
  }

  /** Each collector's open(), once, in order; a throw is that collector's failure. */
  private async openCollectors(): Promise<void> {
    const registerMany: OpenContext['registerMany'] = (entries) => {
      const out: Array<SeriesHandle | undefined> = [];
      const todo: Array<{ at: number; key: string; name: string; labels: Labels; kind: SeriesKind }> = [];
      for (const e of entries) {
        const all = this.withLabels(e.labels);
        const key = formatSeries(e.name, all);
        out.push(this.handles.get(key));
        if (out[out.length - 1] === undefined && !this.refused.has(key)) todo.push({ at: out.length - 1, key, name: e.name, labels: all, kind: e.kind ?? 'gauge' });
      }
      if (todo.length === 0) return out;
      let got: ReturnType<Store['registerMany']>;
      try {
        got = this.store.registerMany(todo);
      } catch (e) {
        this.failed(`series ${todo[0]!.key}`, e); // the index could not be written: none of them
        return out;
      }
      todo.forEach((t, i) => {
        const h = got[i];
        if (h instanceof SeriesHandle) {
          this.handles.set(t.key, h);
          out[t.at] = h;
        } else {
          this.refused.add(t.key);
          this.failed(`series ${t.key}`, h);
        }
      });
      return out;
    };
    const ctx: OpenContext = {
      store: this.store,
      register: (name, labels, kind) => registerMany([{ name, labels, ...(kind === undefined ? {} : { kind }) }])[0],
      registerMany,
      describe: (name, help, unit) => this.describe(name, help, unit),
    };
    for (const [name, help, unit] of AGENT_DESCRIPTIONS) this.describe(name, help, unit);
    if (this.exporter !== undefined) for (const [name, help, unit] of EXPORT_DESCRIPTIONS) this.describe(name, help, unit);
    for (const c of this.collectors) {
      if (c.open === undefined) continue;
      try {
        await c.open(ctx);
      } catch (e) {
        this.failed(`collector ${c.name}`, e);
      }
    }
    this.flushDescriptions();
  }

  /** Queues a description for the store when it differs from the last one given (flushDescriptions writes them). */
  private describe(name: string, help: string, unit?: string): void {
    const key = `${help}\0${unit ?? ''}`;
    if (this.described.get(name) === key) return;
    this.described.set(name, key); // a refused one is reported once, not every tick
    this.pendingDescriptions.set(name, unit === undefined ? { help } : { help, unit });
  }

  /** The queued descriptions, in one write of the store's description table; a refusal is the agent's error. */
  private flushDescriptions(): void {
    if (this.pendingDescriptions.size === 0 || this.storeDamaged !== undefined || this.store.isClosed) return;
    const entries = [...this.pendingDescriptions];
    this.pendingDescriptions.clear();
    try {
      this.store.describeMany(entries).forEach((e, i) => {
        if (e !== undefined) this.failed(`describe ${entries[i]![0]}`, e);
      });
    } catch (e) {
      this.failed('describe', e);
    }
  }

  private withLabels(labels: Labels): Labels {
    return Object.keys(this.labels).length === 0 ? labels : { ...labels, ...this.labels };
  }

  private failed(source: string, e: unknown): void {
    this.statsData.errors++;
    const space = source.indexOf(' ');
    const kind = space < 0 ? source : source.slice(0, space);
    const ofKind = (this.errorsBySource.get(kind) ?? 0) + 1;
    this.errorsBySource.set(kind, ofKind);
    if (e instanceof CorruptFileError) this.storeDamaged = e;
    try {
      this.onError(source, e);
    } catch {
      // A throwing onError must not take the agent down.
    }
    if (!this.store.isClosed && !source.startsWith('series rondo_agent_errors_total'))
      this.recordOne('rondo_agent_errors_total', { source: kind }, ofKind, 'counter', this.now());
  }

  private reportOnce(source: string, e: unknown): void {
    // Rate-limited on the monotonic clock when there is one: a wall clock stepped back would
    // otherwise silence every report until it had caught up.
    const now = (this.monotonic ?? this.clock)();
    const last = this.lastReported.get(source);
    if (last !== undefined && now - last < 60_000) return;
    this.lastReported.set(source, now);
    const msg = e instanceof Error ? `${e.name}: ${e.message.split('\n')[0]}` : String(e);
    process.stderr.write(`rondo agent: ${source}${e instanceof ClockStepNotice ? '' : ' failed'}: ${msg}\n`);
  }

  // Ticks land just after each multiple of tickMs, so each 1 s tick has its own interval.
  private schedule(): void {
    const next = () => {
      const delay = this.tickMs - (this.now() % this.tickMs) + 2;
      this.tickTimer = setTimeout(() => {
        void this.tick();
        next();
      }, delay);
      this.tickTimer.unref();
    };
    next();
    if (this.client !== undefined) {
      this.pushTimer = setInterval(() => void this.push(), this.pushIntervalMs);
      this.pushTimer.unref();
    }
  }

  /** Pushes what is pending now (the agent does this on its interval). Never rejects. */
  push(final = false): Promise<void> {
    if (this.client === undefined || this.exporter === undefined) return Promise.resolve();
    if (this.pushing !== undefined) return final ? this.pushing.then(() => this.push(true)) : this.pushing;
    const client = this.client;
    const exporter = this.exporter;
    this.pushing = (async () => {
      try {
        const summary = await pushExporter(exporter, client, {
          until: final ? Infinity : this.now(),
          describe: (name) => this.store.describe(name), // each batch carries its families' type, help, unit
          recordOwn: (name, labels, kind, value, add) => {
            if (this.store.isClosed) return;
            const h = add === true ? this.handles.get(formatSeries(name, this.withLabels(labels))) : undefined;
            const base = h === undefined ? 0 : (this.store.lastPoint(h)?.[1] ?? 0);
            this.recordOne(name, labels, base + value, kind, this.now());
            // The backlog is measured afresh every tick.
            if (!name.startsWith('rondo_exporter_backlog_')) this.carried.set(formatSeries(name, labels), { name, labels, kind, value: base + value });
          },
        });
        this.statsData.pushes++;
        this.statsData.lastPush = summary;
      } catch (e) {
        this.statsData.pushErrors++;
        this.failed('push', e);
      }
    })().finally(() => {
      this.pushing = undefined;
    });
    return this.pushing;
  }

  private async listen(port: number, host: string): Promise<void> {
    const { storeExposition, wantsOpenMetrics, OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE } = await import('../export');
    // The push's own figures (rondo_remote_write_*) are recorded at each push: the default waits
    // for three of those too.
    const staleAfterMs = this.metricsStaleAfterMs ?? 3 * Math.max(this.tickMs, this.pushIntervalMs, ...this.store.info({ series: false }).schemas.map((s) => s.tiers[0]?.intervalMs ?? 0));
    this.server = http.createServer((req, res) => {
      if (req.url !== '/metrics' && !req.url?.startsWith('/metrics?')) {
        res.writeHead(404, { 'Content-Type': 'text/plain' });
        res.end('rondo agent: see /metrics\n');
        return;
      }
      try {
        const openMetrics = wantsOpenMetrics(req.headers.accept);
        const body = this.store.isClosed ? (openMetrics ? '# EOF\n' : '') : storeExposition(this.store, { openMetrics, now: this.now(), ...(staleAfterMs > 0 ? { staleAfterMs } : {}) });
        res.writeHead(200, { 'Content-Type': openMetrics ? OPENMETRICS_CONTENT_TYPE : TEXT_CONTENT_TYPE, 'Content-Length': Buffer.byteLength(body) });
        res.end(body);
      } catch (e) {
        this.failed('metrics endpoint', e);
        res.writeHead(500, { 'Content-Type': 'text/plain' });
        res.end('rondo agent: could not read the store\n');
      }
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, host, () => {
        this.server!.off('error', reject);
        resolve();
      });
    });
    this.server.unref();
  }

  /** The /metrics endpoint's address, when one was asked for. */
  get metricsAddress(): { host: string; port: number } | undefined {
    const a = this.server?.address();
    return a !== null && typeof a === 'object' && a !== undefined ? { host: a.address, port: a.port } : undefined;
  }

  /**
   * A last tick and a last push (the interval in progress included), stale markers for every
   * series the agent recorded (what they measured has ended), then closes everything. Never
   * rejects; calling it twice waits for the first.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      clearTimeout(this.tickTimer);
      clearInterval(this.pushTimer);
      await this.ticking;
      await this.tick();
      for (const c of this.collectors) {
        try {
          await c.close?.();
        } catch (e) {
          this.failed(`collector ${c.name}`, e);
        }
      }
      if (this.exporter !== undefined) {
        try {
          this.exporter.end([...this.handles.values()], this.now());
        } catch (e) {
          this.failed('push', e);
        }
        await this.push(true);
      }
      this.client?.close();
      await new Promise<void>((r) => (this.server === undefined ? r() : this.server.close(() => r())));
      try {
        this.store.close();
      } catch (e) {
        this.failed('close', e);
      }
    })();
    return this.stopping;
  }
}

