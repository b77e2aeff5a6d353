// The JavaScript writer of an event ring: appends a record by writing it into the mapped ring
// directly, with no call into the addon, the steps of rondo::EventRing::Append
// (native/rondo/events.cc) one for one, so that JavaScript and native writers (the VMM's threads,
// other mappings) share one ring. docs/events.md, "Appending from JavaScript".
//
// - The lock: the same spinlock word in the mapped header (0 free, 1 held), taken with a
//   compare-and-swap of its low half (the high half is always 0, so that is the native
//   compare-and-swap of the whole word). A writer killed while holding it leaves it taken; the
//   next read-write open clears it, as for a native writer (its record was never published).
// - Torn reads: the tail is moved past every byte about to be overwritten before they are; the
//   record's words and payload are written, then its commit word, then `published`. Readers
//   check the commit word and, after copying, that the tail has not passed the record.
// - The check word (a 64-bit multiply fold) is computed by a small WebAssembly module
//   (events-check.wat): the record is put together in its memory, checked, and copied into the
//   ring in one copy.
// - Memory order: as the slabs' JavaScript row claim (write.ts, JS_CLAIM), this relies on x64:
//   plain typed-array stores are seen by other cores in program order, and Atomics are locked
//   instructions. Elsewhere (and for what this writer does not handle: a payload over 64 KiB,
//   a ring over 2 GiB, positions past 2^53, a lock held by another writer for long) the addon's
//   append is used: append() returns false and the caller calls it.
import { addon } from './native';
import { EVENTS_CHECK_WASM } from './events-check-wasm';

/** Whether JavaScript appends write the ring themselves (x64: see above). */
export const JS_EVENT_APPEND = process.arch === 'x64';

const F = addon.eventFormat;
const HEADER = F.headerBytes;
const TAIL = F.offsets.tail / 4;
const PUB = F.offsets.published / 4;
const LOCK = F.offsets.lock / 4;
const APPENDS = F.offsets.appends / 4;
const DROPPED = F.offsets.dropped / 4;
const LAST = F.offsets.last / 4;
const TWO32 = 4294967296;
/** 2^-32: multiplying by it is exact (a power of two) and quicker than dividing by 2^32. */
const INV32 = 1 / TWO32;
/** Positions (bytes ever appended) this writer handles: doubles hold them exactly below 2^53. */
const MAX_POSITION = 2 ** 53 - 2 ** 33;
/** The scratch record in the module's memory: 64 KiB, the record's 32-byte header included. */
const SCRATCH = 65536;
const MAX_JS_PAYLOAD = SCRATCH - 32;
const MAX_STRING = Math.floor(MAX_JS_PAYLOAD / 3);
/** Spins on a lock another writer holds before handing the append to the addon (which yields). */
const SPINS = 256;

// The WebAssembly JS API, as much as this file uses (the project's libs are ES2022 without the DOM).
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (m: object, imports: object) => { exports: { memory: { buffer: ArrayBuffer }; check: (len: number) => number } };
}
const Wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

let module_: object | undefined;
function checkModule(): object {
  module_ ??= new Wasm.Module(Buffer.from(EVENTS_CHECK_WASM, 'base64'));
  return module_;
}

const encoder = new TextEncoder();
const hrtime = process.hrtime;
/** How often the clock's base is taken again (ns). */
const REBASE_NS = 10e9;

/** The high and low 32 bits of a position below 2^53 (as i32, for comparing with the mapped words). */
const hiOf = (x: number): number => Math.floor(x * INV32) | 0;

export class JsEventWriter {
  // Declared and set in the constructor (see write.ts on why: fields V8 sees as one kind).
  declare private u8: Uint8Array;
  declare private i32: Int32Array;
  declare private i64: BigInt64Array;
  declare private damage: Uint32Array;
  declare private readonly cap: number;
  declare private readonly maxPayload: number;
  declare private readonly check: (len: number) => number;
  declare private readonly w8: Uint8Array;
  declare private readonly w32: Int32Array;
  declare private readonly w64: BigInt64Array;
  /** The scratch from byte 32 on (TextEncoder.encodeInto's target). */
  declare private readonly wPayload: Uint8Array;
  /** views[n]: the scratch record's bytes 8 .. 32 + 8n (words 1..3 and n payload words), made on first use. */
  declare private readonly views: Array<Uint8Array | undefined>;
  /** The ring's offset of the last position this writer computed one for (saves a division). */
  declare private knownPos: number;
  declare private knownOff: number;
  declare private tailPos: number;
  declare private tailOff: number;
  /** The clock (see rebase()). */
  declare private baseHi: number;
  declare private baseLo: number;
  declare private monoS: number;
  declare private monoNs: number;
  /** Appends this writer made (tests read it). */
  declare taken: number;

  constructor(buffer: ArrayBuffer, damage: ArrayBuffer | undefined, capacity: number, maxPayload: number) {
    this.u8 = new Uint8Array(buffer);
    this.i32 = new Int32Array(buffer);
    this.i64 = new BigInt64Array(buffer, 0, HEADER / 8);
    this.damage = damage === undefined ? new Uint32Array(1) : new Uint32Array(damage);
    this.cap = capacity;
    this.maxPayload = maxPayload;
    const inst = new Wasm.Instance(checkModule(), {});
    const mem = inst.exports.memory;
    this.check = inst.exports.check;
    this.w8 = new Uint8Array(mem.buffer);
    this.w32 = new Int32Array(mem.buffer);
    this.w64 = new BigInt64Array(mem.buffer);
    this.wPayload = this.w8.subarray(32);
    this.views = [];
    this.knownPos = -1;
    this.knownOff = 0;
    this.tailPos = -1;
    this.tailOff = 0;
    this.baseHi = 0;
    this.baseLo = 0;
    this.monoS = -1; // the first append takes the base (d is then past REBASE_NS)
    this.monoNs = 0;
    this.taken = 0;
  }

  /** Forgets the mapping (the ring is being closed): appends go to the addon, which refuses them. */
  disable(): void {
    this.u8 = new Uint8Array(0);
    this.i32 = new Int32Array(0);
    this.i64 = new BigInt64Array(0);
  }

  /**
   * Appends one record; false when it is left to the addon's append (nothing written then).
   * typeFlags: type | flags << 8. tsNs: a bigint the caller checked, or undefined for the clock.
   */
  append(topic: number, typeFlags: number, data: Uint8Array | string, tsNs: bigint | undefined): boolean {
    if (this.damage[0] !== 0 || this.i32.length === 0) return false;
    const w8 = this.w8;
    const w32 = this.w32;
    let len: number;
    if (typeof data === 'string') {
      if (data.length > MAX_STRING) return false;
      len = encoder.encodeInto(data, this.wPayload).written;
    } else {
      len = data.length;
      if (len > MAX_JS_PAYLOAD) return false;
      w8.set(data, 32);
    }
    if (len > this.maxPayload) return false; // the addon's refusal says why
    for (let i = 32 + len; (i & 7) !== 0; i++) w8[i] = 0; // the padding is part of the check
    if (tsNs === undefined) {
      const mono = hrtime(); // the cheapest clock JavaScript has (an array of s and ns, monotonic)
      let d = (mono[0]! - this.monoS) * 1e9 + (mono[1]! - this.monoNs);
      if (d >= REBASE_NS) {
        this.rebase();
        d = 0;
      }
      const lo = this.baseLo + d;
      const carry = Math.floor(lo * INV32);
      w32[2] = lo | 0;
      w32[3] = (this.baseHi + carry) | 0;
    } else {
      this.w64[1] = tsNs;
    }
    w32[4] = topic;
    w32[5] = typeFlags & 0xffff;
    w32[6] = len;
    this.check(len);
    const words = (len + 7) >>> 3;
    const need = 32 + 8 * words;
    let view = this.views[words];
    if (view === undefined) view = this.views[words] = w8.subarray(8, 32 + 8 * words);

    const i32 = this.i32;
    if (Atomics.compareExchange(i32, LOCK, 0, 1) !== 0 && !this.spin()) return false;
    // From here to the unlock nothing throws.
    const pubLo = i32[PUB]! >>> 0;
    const pubHi = i32[PUB + 1]! >>> 0;
    const p = pubHi * TWO32 + pubLo;
    if (p > MAX_POSITION) {
      Atomics.store(i32, LOCK, 0);
      return false;
    }
    const cap = this.cap;
    const off = p === this.knownPos ? this.knownOff : p % cap;
    const pad = off + need > cap;
    const start = pad ? p + (cap - off) : p;
    const startOff = pad ? 0 : off;
    if (start + need > cap) this.advanceTail(start + need - cap, p);
    if (pad) {
      const q = (HEADER + off) >> 2;
      i32[q + 1] = hiOf(p + 1) | 0x80000000;
      i32[q] = (p + 1) | 0;
    }
    const at = HEADER + startOff;
    this.u8.set(view, at + 8);
    const q = at >> 2;
    const c = start + 1;
    i32[q + 1] = hiOf(c);
    i32[q] = c | 0; // the record is whole from here (a reader reaches it once published says so)
    i32[LAST + 1] = hiOf(c);
    i32[LAST] = c | 0;
    if ((i32[APPENDS] = (i32[APPENDS]! + 1) | 0) === 0) i32[APPENDS + 1] = (i32[APPENDS + 1]! + 1) | 0;
    const np = start + need;
    const npHi = hiOf(np);
    if (npHi === (pubHi | 0)) i32[PUB] = np | 0;
    else Atomics.store(this.i64, PUB / 2, BigInt(np)); // both halves at once (every 4 GiB)
    i32[LOCK] = 0; // a release store on x64: every store above is seen before the lock is free
    this.knownPos = np;
    this.knownOff = startOff + need === cap ? 0 : startOff + need;
    this.taken++;
    // A file cut short under the mapping while this wrote: the record went to zero pages. The
    // caller asks the addon, which says so.
    return this.damage[0] === 0;
  }

  /** Waits a little for the lock another writer holds; false (lock not taken) after SPINS tries. */
  private spin(): boolean {
    const i32 = this.i32;
    for (let i = 0; i < SPINS; i++) {
      if (Atomics.load(i32, LOCK) === 0 && Atomics.compareExchange(i32, LOCK, 0, 1) === 0) return true;
    }
    return false;
  }

  /**
   * Moves the tail to the first record boundary at or after `limit` (never past published `pub`),
   * counting the records it passes, before the bytes below limit + a lap are overwritten: what
   * EventRing::AdvanceTail does. Called with the lock held.
   */
  private advanceTail(limit: number, pub: number): void {
    const i32 = this.i32;
    const cap = this.cap;
    const tLo = i32[TAIL]! >>> 0;
    const tHi = i32[TAIL + 1]! >>> 0;
    let t = tHi * TWO32 + tLo;
    let off = t === this.tailPos ? this.tailOff : t % cap;
    let dropped = 0;
    while (t < limit && t < pub) {
      const q = (HEADER + off) >> 2;
      const c = t + 1;
      const cLo = i32[q]!;
      const cHi = i32[q + 1]!;
      if (cLo === (c | 0) && cHi === (hiOf(c) | 0x80000000)) {
        t += cap - off;
        off = 0;
        continue;
      }
      const len = i32[q + 6]! >>> 0;
      const bytes = 32 + ((len + 7) & ~7);
      if (cLo !== (c | 0) || cHi !== hiOf(c) || len > this.maxPayload || off + bytes > cap) {
        // Not a record where one must be (written over from outside): the rest is given up whole.
        t = pub;
        break;
      }
      t += bytes;
      off += bytes;
      if (off === cap) off = 0;
      dropped++;
    }
    if (t > pub) t = pub;
    // A plain store (x64 keeps stores in order: every reader that sees a byte written after this
    // sees this tail too), as the native append's relaxed store and release fence.
    if (hiOf(t) === (tHi | 0)) i32[TAIL] = t | 0;
    else Atomics.store(this.i64, TAIL / 2, BigInt(t)); // both halves at once (every 4 GiB)
    this.tailPos = t;
    this.tailOff = t === pub ? pub % cap : off;
    if (dropped > 0) {
      const lo = i32[DROPPED]! >>> 0;
      const sum = lo + dropped;
      i32[DROPPED] = sum | 0;
      if (sum >= TWO32) i32[DROPPED + 1] = (i32[DROPPED + 1]! + 1) | 0;
    }
  }

  /**
   * The clock: a record's time is the wall clock's at the base (baseHi, baseLo: ns since the
   * epoch) plus the monotonic clock's ns since (monoS, monoNs). Every 10 s the base moves up to
   * now, kept on the monotonic clock unless the wall clock (Date.now) is over 2 ms away (it was
   * stepped): CLOCK_REALTIME, as the native append reads, with its steps seen within 10 s.
   */
  private rebase(): void {
    const mono = hrtime();
    let wall: bigint;
    if (this.monoS === -1) {
      wall = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000)) * 1000n;
    } else {
      const lapsed = BigInt(mono[0]! - this.monoS) * 1_000_000_000n + BigInt(mono[1]! - this.monoNs);
      wall = ((BigInt(this.baseHi) << 32n) | BigInt(this.baseLo)) + lapsed;
      const now = BigInt(Date.now()) * 1_000_000n;
      if (wall - now > 2_000_000n || now - wall > 2_000_000n) wall = now;
    }
    this.baseHi = Number(wall >> 32n);
    this.baseLo = Number(wall & 0xffffffffn);
    this.monoS = mono[0]!;
    this.monoNs = mono[1]!;
  }
}
