// WebAssembly hooks: a core Wasm module loaded into a Hook (./types), so whatever runs hooks runs
// both kinds alike. The ABI (docs/hooks.md, "WebAssembly hooks", with its WIT description):
//
//   exports  on_sample(value: f64, timestamp: f64, kind: i32, source: i32) -> i32   0 keep, 1 drop
//            rollup(tier: i32, ptr: i32, n: i32) -> f64     optional, with rollup_tiers and alloc
//            rollup_tiers() -> i32                           the tiers `rollup` serves, bit t = tier t
//            alloc(bytes: i32) -> i32                        8-aligned space for the host's writes
//            memory                                          needed by the imports that touch memory
//   imports  env.log(ptr, len)                               a UTF-8 message to the host's log
//   ("env")  env.sample_name(ptr, cap) -> len                the sample's name, UTF-8, written at ptr
//            env.sample_labels(ptr, cap) -> len              its labels, the label encoding below
//            env.set_value(f64), env.set_timestamp(f64)      change the sample (kept only on 0)
//            env.set_name(ptr, len), env.set_labels(ptr, len)
//            env.abort(msg, file, line, col)                 AssemblyScript's abort: a fault
//
// The label encoding: u32 count, then per label (sorted by name) u32 length + UTF-8 name, u32
// length + UTF-8 value; little-endian. The host writes a name or labels only when the module asks
// (a hook that only looks at values never pays for them), at most `cap` bytes, and returns the full
// length, so a module whose buffer was short can ask again with a larger one.
//
// Isolation: the module is instrumented when it is loaded (binaryen's log-execution pass, its
// calls turned into an inlined fuel counter): every function entry, function exit and loop header
// spends one unit of fuel, and an exhausted counter traps, so an endless loop is stopped; fuel is
// reset on every call. Its memory gets a maximum of memoryLimitPages (a larger declared maximum is
// lowered to it, a larger initial size is refused at load), so memory.grow past it returns -1. A
// trap, a fault of an import, or a bad result throws out of onSample/rollup (the runner counts it
// and applies onError) and the instance is replaced by a fresh one of the same compiled module,
// its memory and globals starting over: a fault never leaves a half-updated instance behind.
import * as fs from 'node:fs';
import { ConfigError } from '../errors';
import { pathToFileURL } from 'node:url';
import type { Hook, HookResult, HookSample, RollupContext, SampleSource } from './types';

// The WebAssembly JS API, as much as this file uses (the project's libs, ES2022 without the DOM,
// do not declare it).
interface WasmMemory { readonly buffer: ArrayBuffer }
interface WasmGlobal { value: unknown }
interface WasmModuleDescriptor { name: string; kind: string; module: string }
interface WasmModule { readonly __wasmModule?: never }
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: { new (bytes: Uint8Array): WasmModule; exports(m: WasmModule): WasmModuleDescriptor[]; imports(m: WasmModule): WasmModuleDescriptor[] };
  Instance: new (m: WasmModule, imports: object) => { exports: Record<string, unknown> };
  Memory: abstract new (...args: never[]) => WasmMemory;
  RuntimeError: abstract new (...args: never[]) => Error;
}
const WebAssembly = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

export interface WasmHookOptions {
  /** The hook's name (errors, the rondo_hook_errors_total{hook} label); default: the file's base
   *  name, or "wasm". */
  name?: string;
  /** The most 64 KiB pages its memory may have (default 256: 16 MiB). */
  memoryLimitPages?: number;
  /** Fuel per on_sample call: function entries + exits + loop iterations (default 1 000 000). */
  fuel?: number;
  /** Fuel per rollup call: this plus 256 per point (default 10 000 000). */
  rollupFuel?: number;
  /** Leave the module uninstrumented: no fuel, an endless loop hangs the host. For measuring. */
  unmetered?: boolean;
  onError?: 'keep' | 'drop';
  maxConsecutiveFaults?: number;
  /** Schemas the hook applies to (default: all). */
  schemas?: readonly string[];
  /** Where env.log's messages go (default: stderr, "rondo: hook NAME: message"). */
  log?: (hook: string, message: string) => void;
}

/** A loaded Wasm hook: the contract plus what a caller may want to know of it. */
export interface WasmHook extends Hook {
  readonly kind: 'wasm';
  /** Tiers served by the module's rollup. */
  readonly rollupTiers: readonly number[];
  /** Times a fault replaced the instance. */
  readonly restarts: number;
  /** Whether the module was instrumented with a fuel counter. */
  readonly metered: boolean;
}

/** Why a Wasm hook failed: a trap, exhausted fuel, a bad result or a bad memory access. */
export class WasmHookError extends Error {
  constructor(
    readonly hook: string,
    readonly reason: 'trap' | 'fuel' | 'result' | 'memory' | 'abort',
    message: string,
  ) {
    super(`hook ${hook}: ${message}`);
    this.name = 'WasmHookError';
  }
}

export const DEFAULT_MEMORY_LIMIT_PAGES = 256;
export const DEFAULT_FUEL = 1_000_000;
export const DEFAULT_ROLLUP_FUEL = 10_000_000;
const FUEL_PER_POINT = 256;

/** The ABI's numbers for a sample's kind and source. */
export const WASM_KIND = { gauge: 0, counter: 1 } as const;
export const WASM_SOURCE: Readonly<Record<SampleSource, number>> = {
  agent: 0,
  record: 1,
  'remote-write': 2,
  influx: 3,
  statsd: 4,
  fossil: 5,
};

const FUEL_GLOBAL = 'rondo_fuel';
const METER_IMPORT = 'log_execution';
const SAMPLE_IMPORTS = new Set(['sample_name', 'sample_labels', 'set_value', 'set_timestamp', 'set_name', 'set_labels']);
const IMPORTS = new Set(['log', 'sample_name', 'sample_labels', 'set_value', 'set_timestamp', 'set_name', 'set_labels', 'abort', 'seed']);

// binaryen is an ES module with top-level await: loaded once, by a real import() (TypeScript's
// CommonJS output would turn a plain `import()` into require(), which cannot load it).
type Binaryen = typeof import('binaryen').default;
let binaryenLoading: Promise<Binaryen> | undefined;
const importEsm = new Function('url', 'return import(url)') as (url: string) => Promise<{ default: Binaryen }>;
function binaryen(): Promise<Binaryen> {
  binaryenLoading ??= importEsm(pathToFileURL(require.resolve('binaryen')).href)
    // Where code runs in a vm context without a dynamic-import callback (vitest runs src/ so),
    // the import() written here is the one that works: such runners keep it as it is.
    .catch(() => import('binaryen'))
    .then((m) => m.default);
  return binaryenLoading;
}

/**
 * Instruments a module for metering: one unit of fuel per function entry, function exit and
 * loop header, an `unreachable` trap when the exported i32 global `rondo_fuel` goes below zero;
 * `rondo$on_sample` is added, which resets the fuel to `fuel` and calls on_sample (the host calls
 * it instead). Returns the new binary.
 */
export async function instrumentWasm(bytes: Uint8Array, fuel: number): Promise<Uint8Array> {
  const b = await binaryen();
  // The features Node 20's V8 runs (Features.All would also let binaryen write proposals it does
  // not, compact imports for one). readBinary takes them as a second argument (the typings lag).
  const F = b.Features;
  const features =
    F.MutableGlobals | F.NontrappingFPToInt | F.SIMD128 | F.BulkMemory | F.BulkMemoryOpt | F.SignExt | F.TailCall | F.ReferenceTypes | F.Multivalue | F.ExtendedConst | F.Atomics;
  const m = (b.readBinary as (data: Uint8Array, features: number) => InstanceType<Binaryen['Module']>)(bytes, features);
  try {
    for (let i = 0; i < m.getNumFunctions(); i++) {
      const f = b.getFunctionInfo(m.getFunctionByIndex(i));
      if (f.module === 'env' && f.base === METER_IMPORT) throw new Error(`the module imports env.${METER_IMPORT}, a name the host keeps for itself`);
    }
    m.runPasses(['log-execution']);
    // The pass imports env.log_execution(i32); a defined function of the same name takes its place.
    m.removeFunction(METER_IMPORT);
    m.addGlobal(FUEL_GLOBAL, b.i32, true, m.i32.const(fuel));
    m.addGlobalExport(FUEL_GLOBAL, FUEL_GLOBAL);
    m.addFunction(
      METER_IMPORT,
      b.i32,
      b.none,
      [],
      m.block(null, [
        m.global.set(FUEL_GLOBAL, m.i32.sub(m.global.get(FUEL_GLOBAL, b.i32), m.i32.const(1))),
        m.if(m.i32.lt_s(m.global.get(FUEL_GLOBAL, b.i32), m.i32.const(0)), m.unreachable()),
      ]),
    );
    const onSample = exportedFunction(b, m, 'on_sample');
    if (onSample !== undefined) {
      const info = b.getFunctionInfo(m.getFunction(onSample));
      if (info.params !== b.createType([b.f64, b.f64, b.i32, b.i32]) || info.results !== b.i32) {
        throw new Error('on_sample must be (f64 value, f64 timestamp, i32 kind, i32 source) -> i32');
      }
      const args = [m.local.get(0, b.f64), m.local.get(1, b.f64), m.local.get(2, b.i32), m.local.get(3, b.i32)];
      m.addFunction(
        'rondo$on_sample',
        info.params,
        b.i32,
        [],
        m.block(null, [m.global.set(FUEL_GLOBAL, m.i32.const(fuel)), m.call(onSample, args, b.i32)], b.i32),
      );
      m.addFunctionExport('rondo$on_sample', 'rondo$on_sample');
    }
    // The meter is inlined where it is called (a call per loop iteration would cost more).
    const inlineMax = b.getAlwaysInlineMaxSize();
    b.setAlwaysInlineMaxSize(16);
    try {
      m.runPasses(['inlining']);
    } finally {
      b.setAlwaysInlineMaxSize(inlineMax);
    }
    if (!m.validate()) throw new Error('the instrumented module does not validate');
    return m.emitBinary();
  } finally {
    m.dispose();
  }
}

function exportedFunction(b: Binaryen, m: InstanceType<Binaryen['Module']>, name: string): string | undefined {
  for (let i = 0; i < m.getNumExports(); i++) {
    const e = b.getExportInfo(m.getExportByIndex(i));
    if (e.name === name && e.kind === b.ExternalFunction) return e.value;
  }
  return undefined;
}

/**
 * Lowers the maximum of a module's own memory to `limitPages` (adding one when it declares
 * none), rewriting the memory section of the binary. Throws when the module needs more at start
 * (its initial size), imports its memory, or is not a Wasm binary.
 */
export function limitWasmMemory(bytes: Uint8Array, limitPages: number): Uint8Array {
  if (bytes.length < 8 || bytes[0] !== 0 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) throw new Error('not a WebAssembly binary');
  let p = 8;
  const readU32 = (): number => {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (p >= bytes.length) throw new Error('truncated WebAssembly binary');
      const byte = bytes[p++]!;
      result += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7;
    }
  };
  const readName = (): void => {
    const n = readU32();
    p += n;
  };
  while (p < bytes.length) {
    const id = bytes[p++]!;
    const size = readU32();
    const start = p;
    if (id === 2) {
      const n = readU32();
      for (let i = 0; i < n; i++) {
        readName();
        readName();
        if (bytes[p] === 2) throw new Error('the module imports its memory; a hook must define its own');
        const kind = bytes[p++]!;
        if (kind === 0) readU32();
        else if (kind === 1) {
          p++;
          const flags = readU32();
          readU32();
          if (flags & 1) readU32();
        } else if (kind === 3) p += 2;
        else if (kind === 4) {
          p++;
          readU32();
        } else throw new Error(`unknown import kind ${kind}`);
      }
    } else if (id === 5) {
      const n = readU32();
      if (n > 1) throw new Error('the module has more than one memory');
      if (n === 0) return bytes;
      const flags = readU32();
      if (flags & ~1) throw new Error('a shared or 64-bit memory cannot be a hook memory');
      const initial = readU32();
      const max = flags & 1 ? readU32() : Infinity;
      if (initial > limitPages) throw new Error(`the module starts with ${initial} pages of memory, over the limit of ${limitPages}`);
      if (max <= limitPages) return bytes;
      const body = [1, 1, ...leb(initial), ...leb(limitPages)];
      const out = [...bytes.subarray(0, start - 1 - lebLength(size)), 5, ...leb(body.length), ...body, ...bytes.subarray(start + size)];
      return Uint8Array.from(out);
    }
    p = start + size;
  }
  return bytes;
}

function leb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n = Math.floor(n / 128);
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

/** The length of the LEB128 as it was read (the encoder may pad; binaryen does not). */
function lebLength(n: number): number {
  return leb(n).length;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** The ABI's label encoding of a label set (names sorted). */
export function encodeWasmLabels(labels: Readonly<Record<string, string>>): Uint8Array {
  const keys = Object.keys(labels).sort();
  const parts: Uint8Array[] = [];
  let size = 4;
  for (const k of keys) {
    const kb = encoder.encode(k);
    const vb = encoder.encode(labels[k]!);
    parts.push(kb, vb);
    size += 8 + kb.length + vb.length;
  }
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, keys.length, true);
  let p = 4;
  for (const part of parts) {
    dv.setUint32(p, part.length, true);
    out.set(part, p + 4);
    p += 4 + part.length;
  }
  return out;
}

/** Reads the ABI's label encoding; throws on a malformed one. */
export function decodeWasmLabels(bytes: Uint8Array): Record<string, string> {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 4) throw new Error('labels: shorter than their count');
  const n = dv.getUint32(0, true);
  const out: Record<string, string> = {};
  let p = 4;
  const str = (): string => {
    if (p + 4 > bytes.length) throw new Error('labels: truncated');
    const len = dv.getUint32(p, true);
    p += 4;
    if (p + len > bytes.length) throw new Error('labels: truncated');
    const s = decoder.decode(bytes.subarray(p, p + len));
    p += len;
    return s;
  };
  for (let i = 0; i < n; i++) {
    const k = str();
    out[k] = str();
  }
  if (p !== bytes.length) throw new Error('labels: bytes after the last label');
  return out;
}

interface Exports {
  memory?: WasmMemory;
  on_sample?: (value: number, timestamp: number, kind: number, source: number) => number;
  'rondo$on_sample'?: (value: number, timestamp: number, kind: number, source: number) => number;
  rollup?: (tier: number, ptr: number, n: number) => number;
  rollup_tiers?: () => number;
  alloc?: (bytes: number) => number;
  rondo_fuel?: WasmGlobal;
}

/**
 * Loads a core WebAssembly module (its bytes, or the path of a .wasm file) as a Hook. The module
 * is checked, instrumented (fuel, unless `unmetered`), given its memory limit and instantiated.
 */
export async function loadWasmHook(source: Uint8Array | ArrayBuffer | string, options: WasmHookOptions = {}): Promise<WasmHook> {
  const name = options.name ?? (typeof source === 'string' ? (source.split('/').pop() ?? 'wasm').replace(/\.wasm$/, '') : 'wasm');
  const original: Uint8Array = typeof source === 'string' ? new Uint8Array(fs.readFileSync(source)) : source instanceof Uint8Array ? source : new Uint8Array(source);
  const fuel = options.fuel ?? DEFAULT_FUEL;
  const rollupFuel = options.rollupFuel ?? DEFAULT_ROLLUP_FUEL;
  const limit = options.memoryLimitPages ?? DEFAULT_MEMORY_LIMIT_PAGES;
  for (const [k, v] of [['fuel', fuel], ['rollupFuel', rollupFuel], ['memoryLimitPages', limit]] as const) {
    if (!Number.isInteger(v) || v < 1 || v > 0x7fffffff) throw new RangeError(`loadWasmHook: ${k} must be an integer from 1 to 2^31-1, not ${v}`);
  }
  const fail = (message: string): never => {
    throw new Error(`hook ${name}: ${message}`);
  };
  if (!WebAssembly.validate(original)) fail('not a valid WebAssembly module');
  const declared = new WebAssembly.Module(original);
  const exported = new Map(WebAssembly.Module.exports(declared).map((e) => [e.name, e.kind]));
  for (const i of WebAssembly.Module.imports(declared)) {
    if (i.module !== 'env' || !IMPORTS.has(i.name) || i.kind !== 'function') {
      fail(`imports ${i.module}.${i.name} (${i.kind}); a hook may import only these functions of "env": ${[...IMPORTS].join(', ')}`);
    }
  }
  if (exported.get('on_sample') !== 'function' && exported.get('rollup') !== 'function') fail('exports neither on_sample nor rollup');
  if (exported.get('rollup') === 'function' && (exported.get('rollup_tiers') !== 'function' || exported.get('alloc') !== 'function')) {
    fail('exports rollup without rollup_tiers and alloc');
  }
  let bytes: Uint8Array;
  try {
    bytes = limitWasmMemory(options.unmetered ? original : await instrumentWasm(original, fuel), limit);
  } catch (e) {
    return fail((e as Error).message);
  }
  const module = new WebAssembly.Module(bytes);

  const log = options.log ?? ((hook: string, message: string) => process.stderr.write(`rondo: hook ${hook}: ${message}\n`));
  // The sample being decided and the changes the module asked for.
  let current: HookSample | undefined;
  let change: { name?: string; labels?: Record<string, string>; value?: number; timestamp?: number } | null = null;
  let labelsFor: Readonly<Record<string, string>> | undefined;
  let labelsBytes: Uint8Array = new Uint8Array(4);
  let ex: Exports = {};
  let u8: Uint8Array = new Uint8Array(0);
  const mem = (ptr: number, len: number): Uint8Array => {
    const memory = ex.memory;
    if (memory === undefined) throw new WasmHookError(name, 'memory', 'the module exports no memory');
    if (u8.buffer !== memory.buffer) u8 = new Uint8Array(memory.buffer);
    ptr >>>= 0;
    len >>>= 0;
    if (ptr + len > u8.length) throw new WasmHookError(name, 'memory', `[${ptr}, ${ptr + len}) is outside its memory of ${u8.length} bytes`);
    return u8.subarray(ptr, ptr + len);
  };
  const sample = (what: string): HookSample => {
    if (current === undefined) throw new WasmHookError(name, 'trap', `env.${what} called outside on_sample`);
    return current;
  };
  const changes = (): NonNullable<typeof change> => (change ??= {});
  const env = {
    log: (ptr: number, len: number): void => log(name, decoder.decode(mem(ptr, len))),
    sample_name: (ptr: number, cap: number): number => {
      const s = sample('sample_name').name;
      const r = encoder.encodeInto(s, mem(ptr, cap));
      return r.read === s.length ? r.written : Buffer.byteLength(s);
    },
    sample_labels: (ptr: number, cap: number): number => {
      const labels = sample('sample_labels').labels;
      if (labels !== labelsFor) {
        labelsBytes = encodeWasmLabels(labels);
        labelsFor = labels;
      }
      mem(ptr, cap).set(labelsBytes.subarray(0, Math.min(cap >>> 0, labelsBytes.length)));
      return labelsBytes.length;
    },
    set_value: (v: number): void => {
      sample('set_value');
      changes().value = v;
    },
    set_timestamp: (t: number): void => {
      sample('set_timestamp');
      changes().timestamp = t;
    },
    set_name: (ptr: number, len: number): void => {
      sample('set_name');
      changes().name = decoder.decode(mem(ptr, len));
    },
    set_labels: (ptr: number, len: number): void => {
      sample('set_labels');
      changes().labels = decodeWasmLabels(mem(ptr, len).slice());
    },
    abort: (msg: number, file: number, line: number, col: number): never => {
      throw new WasmHookError(name, 'abort', `aborted: ${asString(msg)} at ${asString(file)}:${line}:${col}`);
    },
    seed: (): number => 0x5eed,
  };
  /** An AssemblyScript string (UTF-16, its byte length at ptr - 4), best effort. */
  const asString = (ptr: number): string => {
    try {
      if (ptr === 0) return '?';
      const n = new DataView(mem(ptr - 4, 4).slice().buffer).getUint32(0, true);
      return Buffer.from(mem(ptr, Math.min(n, 1024))).toString('utf16le');
    } catch {
      return '?';
    }
  };
  let restarts = 0;
  let onSampleCall: Exports['on_sample'];
  const instantiate = (): void => {
    ex = new WebAssembly.Instance(module, { env }).exports as Exports;
    onSampleCall = ex['rondo$on_sample'] ?? ex.on_sample;
    u8 = new Uint8Array(0);
    labelsFor = undefined;
  };
  try {
    instantiate();
  } catch (e) {
    fail(`could not be instantiated: ${(e as Error).message}`);
  }
  if (ex.memory !== undefined && !(ex.memory instanceof WebAssembly.Memory)) fail('exports "memory" that is not a memory');
  const metered = !options.unmetered;
  /** A thrown fault, named; the instance is replaced. */
  const fault = (e: unknown): WasmHookError => {
    const fuelLeft = metered ? (ex.rondo_fuel?.value as number | undefined) : undefined;
    restarts++;
    instantiate();
    if (e instanceof WasmHookError) return e;
    if (fuelLeft !== undefined && fuelLeft < 0) return new WasmHookError(name, 'fuel', 'stopped: out of fuel (an endless loop?)');
    if (e instanceof WebAssembly.RuntimeError) return new WasmHookError(name, 'trap', `trapped: ${e.message}`);
    if (e instanceof RangeError && /call stack/i.test(e.message)) return new WasmHookError(name, 'trap', `trapped: ${e.message}`);
    return new WasmHookError(name, 'trap', e instanceof Error ? e.message : String(e));
  };

  let rollupTiers: number[] = [];
  if (ex.rollup !== undefined) {
    let mask: number;
    try {
      if (ex.rondo_fuel) ex.rondo_fuel.value = rollupFuel;
      mask = ex.rollup_tiers!() >>> 0;
    } catch (e) {
      return fail(`rollup_tiers() failed: ${fault(e).message}`);
    }
    for (let t = 1; t < 32; t++) if (mask & (2 ** t)) rollupTiers.push(t);
  }

  const hook: WasmHook = {
    name,
    kind: 'wasm',
    metered,
    get restarts() {
      return restarts;
    },
    rollupTiers,
    ...(options.schemas !== undefined ? { schemas: options.schemas } : {}),
    ...(options.onError !== undefined ? { onError: options.onError } : {}),
    ...(options.maxConsecutiveFaults !== undefined ? { maxConsecutiveFaults: options.maxConsecutiveFaults } : {}),
  };
  if (exported.get('on_sample') === 'function') {
    const badResult = (r: number): never => {
      throw new WasmHookError(name, 'result', `on_sample returned ${r} (0 keeps, 1 drops)`);
    };
    const source = (s: HookSample): number => WASM_SOURCE[s.source] ?? -1;
    // A module that imports none of the sample's functions needs no sample kept for them: the
    // call alone (the common no-op or value-only hook pays nothing more).
    const usesSample = WebAssembly.Module.imports(declared).some((i) => SAMPLE_IMPORTS.has(i.name));
    hook.onSample = usesSample
      ? (s: HookSample): HookResult => {
          current = s;
          change = null;
          let r: number;
          try {
            r = onSampleCall!(s.value, s.timestamp, s.kind === 'counter' ? 1 : 0, source(s));
          } catch (e) {
            throw fault(e);
          }
          if (r === 0) return change ?? undefined;
          return r === 1 ? false : badResult(r);
        }
      : (s: HookSample): HookResult => {
          let r: number;
          try {
            r = onSampleCall!(s.value, s.timestamp, s.kind === 'counter' ? 1 : 0, source(s));
          } catch (e) {
            throw fault(e);
          }
          return r === 0 ? undefined : r === 1 ? false : badResult(r);
        };
  }
  if (rollupTiers.length > 0) {
    const rollup = (tier: number, timestamps: Float64Array, values: Float64Array, _ctx: RollupContext): number => {
      const n = Math.min(timestamps.length, values.length);
      current = undefined;
      try {
        if (ex.rondo_fuel) ex.rondo_fuel.value = Math.min(0x7fffffff, rollupFuel + FUEL_PER_POINT * n);
        const ptr = ex.alloc!(16 * n) >>> 0;
        if (ptr % 8 !== 0) throw new WasmHookError(name, 'result', `alloc returned ${ptr}, not 8-aligned`);
        mem(ptr, 16 * n);
        const buf = ex.memory!.buffer;
        new Float64Array(buf, ptr, n).set(timestamps.subarray(0, n));
        new Float64Array(buf, ptr + 8 * n, n).set(values.subarray(0, n));
        return ex.rollup!(tier, ptr, n);
      } catch (e) {
        throw fault(e);
      }
    };
    hook.rollup = {};
    for (const t of rollupTiers) hook.rollup[t] = (ts, vs, ctx) => rollup(t, ts, vs, ctx);
  }
  return hook;
}

/**
 * A WebAssembly hook given as an entry of a hooks list, `{ wasm: bytes, ...options }` (or the
 * path of a .wasm file): loaded by loadWasmHook where loading can wait — `Agent.start`. A
 * synchronous `Store.open` refuses it (ConfigError): give it `await loadWasmHook(bytes, options)`.
 */
export interface WasmHookSpec extends WasmHookOptions {
  wasm: Uint8Array | ArrayBuffer | string;
}

/** True for a `{ wasm }` entry not yet loaded (a loaded hook has no `wasm` field). */
export function isWasmHookSpec(h: unknown): h is WasmHookSpec {
  return typeof h === 'object' && h !== null && 'wasm' in h && (h as { wasm?: unknown }).wasm !== undefined;
}

/** The hooks of a list with each `{ wasm, ...options }` entry loaded (in order; others as given). */
export async function resolveHooks(hooks: readonly (Hook | WasmHookSpec)[]): Promise<Hook[]> {
  if (!Array.isArray(hooks)) return hooks as unknown as Hook[];
  const out: Hook[] = [];
  for (let i = 0; i < hooks.length; i++) {
    const h = hooks[i];
    if (!isWasmHookSpec(h)) {
      out.push(h as Hook);
      continue;
    }
    const { wasm, ...options } = h;
    if (!(typeof wasm === 'string' || wasm instanceof Uint8Array || wasm instanceof ArrayBuffer))
      throw new ConfigError(`hooks[${i}].wasm must be the module's bytes (a Uint8Array or ArrayBuffer) or the path of a .wasm file`);
    try {
      out.push(await loadWasmHook(wasm, options));
    } catch (e) {
      if (e instanceof RangeError) throw new ConfigError(`hooks[${i}]: ${e.message}`);
      throw new ConfigError(`hooks[${i}] is not a WebAssembly hook: ${String((e as Error).message).split('\n')[0]}`);
    }
  }
  return out;
}
