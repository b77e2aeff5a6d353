// The bench and test helpers' addon (build/<variant>/rondo_dev.node: native/testing.cc,
// native/bench.cc, native/kvm/devices_testing.cc), loaded on first use. `npm install` does not
// build it; `npm run build:native` (node-gyp rebuild --dev-addon=1) does, and `npm test` makes sure
// of it. Its functions take a slab by its file (Store.nativeTarget(h).file) and map that file
// themselves: a Slab object of the store's addon means nothing to another addon.
import * as fs from 'node:fs';
import { RondoError } from '../errors';
import { addonFile } from '../package-root';

/** What `rondo bench --path native`, the benchmarks and the tests need and a package install lacks. */
export const DEV_ADDON_MISSING = 'the native bench/test helpers are not built: run `npm run build:native` in a checkout';

/** The dev addon is not built (or does not load). */
export class DevAddonMissingError extends RondoError {
  override name = 'DevAddonMissingError';
}

export interface WriterThreads {
  join(): Array<{ ok: number; late: number }>;
}

/** A run of native/bench.cc's threads. */
export interface NativeBenchRun {
  /** Ops done so far, warm-up included, all threads. */
  progress(): number;
  /** Ops of the whole run, warm-up included. */
  total(): number;
  done(): boolean;
  /** Waits for the threads. chunkNs: the per-op ns of every timed chunk of every thread. */
  join(): { ops: number; lateWrites: number; elapsedNs: number; threads: number; chunkNs: Float64Array };
}

/** Port accesses as one vCPU's exits make them; an unclaimed port reads all ones. */
export interface NativePortBus {
  /** IN of `size` bytes (1, 2 or 4) at `port`: the value read, little-endian. */
  in(port: number, size: 1 | 2 | 4): number;
  /** OUT of `size` bytes: 'reset' when the write resets the machine (the VMM powers off). */
  out(port: number, size: 1 | 2 | 4, value: number): 'none' | 'reset';
  /** Every console line the UART produced since the bus was built, the unfinished one flushed. */
  lines(): string[];
  /** Every interrupt line change since the bus was built, in order. */
  irqs(): Array<[irq: number, level: boolean]>;
}

export interface DevAddon {
  /** Test-only (native/testing.cc): native threads recording through rondo::Writer into the slab `file`. */
  testing: {
    /** Thread t records column firstCol + t at ts = startMs + i * stepMs, value k * 1000 + col (k = ts / interval), i < points. */
    startWriters(file: string, threads: number, firstCol: number, startMs: number, stepMs: number, points: number): WriterThreads;
    /** Thread t records column firstCol + t at the wall clock, value k * 1000 + col, as fast as it can for durationMs. */
    startClockWriters(file: string, threads: number, firstCol: number, durationMs: number): WriterThreads;
    /** Thread t claims (Slab::Claim) every interval of [k0, k0 + count) once, in an order of its own (k0 + (p·i + t) % count, p a prime above 10^6); ok: claims that found or took the row, late: refused. */
    startClaimers(file: string, threads: number, k0: number, count: number): WriterThreads;
    /** Thread t adds 1 to the slab's lateWrites counter `times` times (atomic fetch_add); ok: times. */
    startLateCounters(file: string, threads: number, times: number): WriterThreads;
    /** Maps `file` (made one page long), truncates it and reads the page: a SIGBUS outside any slab, which kills the process. */
    faultOutsideSlab(file: string): number;
  };
  /** The native halves of `rondo bench` and bench/write.js (native/bench.cc): a warm-up lap, then timed rounds. */
  bench: {
    /** Threads recording through rondo::Writer into the slab `file`, each its own block of `columns`; round r at ts0Ms + r * stepMs. */
    startNative(
      file: string,
      columns: Uint32Array,
      ts0Ms: number,
      stepMs: number,
      threads: number,
      warmRounds: number,
      rounds: number,
      chunkOps: number,
    ): NativeBenchRun;
    /** The physical limit: a raw store loop into a new mmap'd `file` of slots rows of rowWords words; join() removes it. */
    startCLoop(file: string, rowWords: number, slots: number, ncols: number, threads: number, warmRounds: number, rounds: number, chunkOps: number): NativeBenchRun;
    /** Threads appending perThread events of payloadBytes each to the event ring `file` (the store has it open) through rondo::EventRing, at once; blocks until done. */
    eventAppends(file: string, threads: number, perThread: number, payloadBytes: number): { ns: number; appends: number };
    /** Native threads start appending to the ring at `file` (24-byte events: u32 thread, u32 0xE7E7E7E7, u64 i, u64 ~i; time i) and the call returns: an id for eventAppendsJoin. */
    eventAppendsStart(file: string, threads: number, perThread: number, topic: number): number;
    eventAppendsJoin(id: number): { appends: number; failed: boolean };
  };
  /** Test-only, Linux x64 builds (native/kvm/devices_testing.cc): the Linux guest's port devices, without KVM. */
  kvmTesting?: {
    /** A fresh bus with one of each device, wired as vm.cc wires them (PIT stub included). */
    portBus(): NativePortBus;
  };
}

let loaded: DevAddon | undefined;

/** The dev addon; DevAddonMissingError (DEV_ADDON_MISSING) when it is not built. */
export function devAddon(): DevAddon {
  if (loaded !== undefined) return loaded;
  const file = addonFile('rondo_dev');
  if (!fs.existsSync(file)) throw new DevAddonMissingError(`${DEV_ADDON_MISSING} (there is no ${file})`);
  try {
    loaded = require(file) as DevAddon;
  } catch (e) {
    throw new DevAddonMissingError(`${DEV_ADDON_MISSING} (${file} did not load: ${(e as Error).message})`, { cause: e });
  }
  return loaded;
}

/** True when devAddon() would load. */
export function hasDevAddon(): boolean {
  try {
    devAddon();
    return true;
  } catch (e) {
    if (e instanceof DevAddonMissingError) return false;
    throw e;
  }
}
