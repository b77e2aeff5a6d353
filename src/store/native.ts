// The compiled addon (native/), loaded once. Its API is internal: the Store wraps it.
import * as path from 'node:path';
import { PACKAGE_ROOT } from '../package-root';

export interface SlabCreateParams {
  consolidated: boolean;
  maxSeries: number;
  slots: number;
  intervalMs: number;
  tierIndex: number;
  createdMs: number;
  schemaName: string;
  fileMode?: number;
}

export interface SlabParams extends Omit<SlabCreateParams, 'fileMode'> {
  cellWords: number;
  rowWords: number;
  headerBytes: number;
  fileBytes: number;
}

export interface SlabCounters {
  /** Newest interval number a row was claimed for (0: none). */
  head: number;
  lateWrites: number;
  claims: number;
  repairs: number;
  /** Consolidated tiers: the next bucket number to fill (0: not started). */
  cursor: number;
}

export interface NativeSlab {
  buffer(): ArrayBuffer;
  /** 0: the row holds interval k; 1: refused, the slot holds a newer interval (counted). */
  claim(k: number): number;
  record(col: number, ts: number, value: number): number;
  readColumn(col: number, field: number, k0: number, n: number, out: Float64Array): void;
  readCell(col: number, k: number, out: Float64Array): boolean;
  /** Rows [k0, k0+n), columns [0, ncols), all cell words: out[(i*ncols + c)*cellWords + w]. */
  readRows(k0: number, n: number, ncols: number, out: Float64Array): number;
  consolidate(
    src: NativeSlab,
    fromBucket: number,
    toBucket: number,
    ncols: number,
    xff: number,
    expectedPoints: number,
  ): void;
  counters(): SlabCounters;
  setCursor(v: number): void;
  countLate(): void;
  params(): SlabParams;
  flush(): void;
  close(): void;
}

export interface WriterThreads {
  join(): Array<{ ok: number; late: number }>;
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

export interface Addon {
  Slab: new (path: string, mode: 'create' | 'rw' | 'ro', params?: SlabCreateParams) => NativeSlab;
  lockStore(path: string, mode?: number): number;
  unlockStore(fd: number): void;
  headerBytes: number;
  formatVersion: number;
  testing: {
    startWriters(
      slab: NativeSlab,
      threads: number,
      firstCol: number,
      startMs: number,
      stepMs: number,
      points: number,
    ): WriterThreads;
  };
  /** Test-only (native/kvm/devices_testing.cc): the Linux guest's port devices, without KVM. */
  kvmTesting: {
    /** A fresh bus with one of each device, wired as vm.cc wires them (PIT stub included). */
    portBus(): NativePortBus;
  };
  /** The native halves of `rondo bench` (native/bench.cc): a warm-up lap, then timed rounds. */
  bench: {
    /** Threads recording through rondo::Writer, each its own block of `columns`; round r at ts0Ms + r * stepMs. */
    startNative(
      slab: NativeSlab,
      columns: Uint32Array,
      ts0Ms: number,
      stepMs: number,
      threads: number,
      warmRounds: number,
      rounds: number,
      chunkOps: number,
    ): ReturnType<Addon['bench']['startCLoop']>;
    /** The physical limit: a raw store loop into a new mmap'd `file` of slots rows of rowWords words; join() removes it. */
    startCLoop(
      file: string,
      rowWords: number,
      slots: number,
      ncols: number,
      threads: number,
      warmRounds: number,
      rounds: number,
      chunkOps: number,
    ): {
      /** Ops done so far, warm-up included, all threads. */
      progress(): number;
      /** Ops of the whole run, warm-up included. */
      total(): number;
      done(): boolean;
      /** Waits for the threads. chunkNs: the per-op ns of every timed chunk of every thread. */
      join(): { ops: number; lateWrites: number; elapsedNs: number; threads: number; chunkNs: Float64Array };
    };
  };
}

function load(): Addon {
  const variant = process.env.RONDO_ADDON_BUILD ?? 'Release';
  return require(path.join(PACKAGE_ROOT, 'build', variant, 'rondo.node')) as Addon;
}

export const addon: Addon = load();
