// The demo VMM's legacy port devices (native/kvm/: uart, i8042, cmos, pci_stub, pit), driven one
// port access at a time through devAddon().kvmTesting.portBus() (the dev addon), which wires them as vm.cc does for a
// Linux guest, without /dev/kvm. Each test states what a Linux kernel relies on from the chip
// (16550A, i8042, MC146818, PCI configuration mechanism #1, 8254), not what the code happens to do.
//
// Written first, these tests found two faults, since fixed: loopback MSR crossed RTS/CTS with
// DTR/DSR (the 8250 probe read 0xa0, not 0x90), and the PIT stub ignored the latch command (a
// count's two bytes came from the live counter at two moments and could tear).
import { describe, expect, it } from 'vitest';
import { devAddon, type NativePortBus } from '../src/store/dev-addon';

const bus = (): NativePortBus => {
  const t = devAddon().kvmTesting;
  if (t === undefined) throw new Error('the dev addon has no kvmTesting: it is built with the device sources on Linux x64 only');
  return t.portBus();
};

const nowNs = (): bigint => process.hrtime.bigint(); // CLOCK_MONOTONIC, the PIT stub's clock
function spin(ms: number): void {
  const until = nowNs() + BigInt(Math.round(ms * 1e6));
  while (nowNs() < until) {
    // busy: a timer could sleep far longer than asked
  }
}

// ---------------------------------------------------------------------------------------------
// 16550A UART, COM1
// ---------------------------------------------------------------------------------------------
const COM1 = 0x3f8;
const THR = COM1, IER = COM1 + 1, IIR = COM1 + 2, FCR = COM1 + 2, LCR = COM1 + 3, MCR = COM1 + 4;
const LSR = COM1 + 5, MSR = COM1 + 6, SCR = COM1 + 7;
const DLL = COM1, DLM = COM1 + 1;
const LSR_DR = 0x01, LSR_THRE = 0x20, LSR_TEMT = 0x40;
const MCR_DTR = 0x01, MCR_RTS = 0x02, MCR_OUT1 = 0x04, MCR_OUT2 = 0x08, MCR_LOOP = 0x10;
const MSR_CTS = 0x10, MSR_DSR = 0x20, MSR_RI = 0x40, MSR_DCD = 0x80;
const IER_THRI = 0x02;
const IIR_NO_INT = 0x01, IIR_THRI = 0x02;
const UART_IRQ = 4;

function send(b: NativePortBus, text: string): void {
  for (const ch of Buffer.from(text, 'latin1')) b.out(THR, 1, ch);
}

describe('16550A UART on 0x3f8..0x3ff', () => {
  it('turns the bytes written to THR into console lines split at \\n, dropping \\r, the unfinished one flushed', () => {
    const b = bus();
    send(b, 'Linux version 6.1\r\nsecond line\n\nno newline');
    expect(b.lines()).toEqual(['Linux version 6.1', 'second line', '', 'no newline']);
  });

  it('reports in LSR that the holding register and the transmitter are empty, and nothing was received', () => {
    const b = bus();
    for (const step of [() => {}, () => send(b, 'x'), () => send(b, 'yz\n')]) {
      step();
      const lsr = b.in(LSR, 1);
      expect(lsr & (LSR_THRE | LSR_TEMT)).toBe(LSR_THRE | LSR_TEMT);
      expect(lsr & LSR_DR).toBe(0);
    }
  });

  it('reads back what was written to the scratch register', () => {
    const b = bus();
    for (const v of [0x00, 0x55, 0xaa, 0xff, 0x5a]) {
      b.out(SCR, 1, v);
      expect(b.in(SCR, 1)).toBe(v);
    }
  });

  it("keeps IER's four enable bits, as the 8250 probe's IER test (0 then 0x0f) expects, and LCR reads back", () => {
    const b = bus();
    b.out(IER, 1, 0x00);
    expect(b.in(IER, 1) & 0x0f).toBe(0x00);
    b.out(IER, 1, 0x0f);
    expect(b.in(IER, 1) & 0x0f).toBe(0x0f);
    b.out(LCR, 1, 0x1b);
    expect(b.in(LCR, 1)).toBe(0x1b);
  });

  it('with DLAB set, 0x3f8/0x3f9 are the divisor latch: it reads back, transmits nothing and leaves IER alone', () => {
    const b = bus();
    b.out(IER, 1, 0x05);
    b.out(LCR, 1, 0x83); // DLAB, 8N1
    b.out(DLL, 1, 0x01); // 115200 baud
    b.out(DLM, 1, 0x00);
    expect(b.in(DLL, 1)).toBe(0x01);
    expect(b.in(DLM, 1)).toBe(0x00);
    b.out(DLL, 1, 0x0c);
    b.out(DLM, 1, 0x02);
    expect([b.in(DLL, 1), b.in(DLM, 1)]).toEqual([0x0c, 0x02]);
    expect(b.lines()).toEqual([]);
    b.out(LCR, 1, 0x03); // DLAB off
    expect(b.in(IER, 1)).toBe(0x05);
    send(b, 'A\n');
    expect(b.lines()).toEqual(['A']);
    b.out(LCR, 1, 0x83);
    expect([b.in(DLL, 1), b.in(DLM, 1)]).toEqual([0x0c, 0x02]);
  });

  it("has FIFOs: with FCR bit 0 set, IIR's top two bits read 11, which the 8250 probe takes for a 16550A", () => {
    const b = bus();
    expect(b.in(IIR, 1) >> 6).toBe(0);
    b.out(FCR, 1, 0x01);
    expect(b.in(IIR, 1) >> 6).toBe(3);
    expect(b.in(IIR, 1) & 0x0f).toBe(IIR_NO_INT);
  });

  // Without UPF_SKIP_TEST, the 8250 driver decides there is no UART when this reads otherwise.
  it("passes the 8250 driver's loopback probe: MCR = LOOP|OUT2|RTS makes MSR's top nibble 0x90 (DCD|CTS)", () => {
    const b = bus();
    b.out(MCR, 1, MCR_LOOP | MCR_OUT2 | MCR_RTS);
    expect(b.in(MSR, 1) & 0xf0).toBe(MSR_DCD | MSR_CTS);
  });

  it('in loopback, MSR reflects each MCR output on its input: RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD', () => {
    const b = bus();
    const wiring: Array<[number, number]> = [
      [MCR_RTS, MSR_CTS],
      [MCR_DTR, MSR_DSR],
      [MCR_OUT1, MSR_RI],
      [MCR_OUT2, MSR_DCD],
    ];
    for (const [out, input] of wiring) {
      b.out(MCR, 1, MCR_LOOP | out);
      expect({ mcr: out, msr: b.in(MSR, 1) & 0xf0 }).toEqual({ mcr: out, msr: input });
    }
    b.out(MCR, 1, MCR_LOOP);
    expect(b.in(MSR, 1) & 0xf0).toBe(0);
    b.out(MCR, 1, MCR_LOOP | 0x0f);
    expect(b.in(MSR, 1) & 0xf0).toBe(0xf0);
  });

  it('out of loopback, MSR shows a modem that is there (CTS, DSR, DCD), and MCR reads back', () => {
    const b = bus();
    b.out(MCR, 1, MCR_DTR | MCR_RTS | MCR_OUT2);
    expect(b.in(MCR, 1)).toBe(MCR_DTR | MCR_RTS | MCR_OUT2);
    expect(b.in(MSR, 1) & (MSR_CTS | MSR_DSR | MSR_DCD)).toBe(MSR_CTS | MSR_DSR | MSR_DCD);
  });

  it('in loopback, what is written to THR never reaches the console', () => {
    const b = bus();
    b.out(MCR, 1, MCR_LOOP);
    send(b, 'probe\n');
    b.out(MCR, 1, MCR_DTR | MCR_RTS | MCR_OUT2);
    send(b, 'console\n');
    expect(b.lines()).toEqual(['console']);
  });

  it('raises IRQ 4 when the THR-empty interrupt is enabled; IIR names it (0x02) and reading IIR lowers the line', () => {
    const b = bus();
    b.out(MCR, 1, MCR_DTR | MCR_RTS | MCR_OUT2); // as Linux sets it for an interrupt-driven port
    expect(b.in(IIR, 1) & 0x0f).toBe(IIR_NO_INT);
    expect(b.irqs()).toEqual([]);
    b.out(IER, 1, IER_THRI);
    expect(b.irqs()).toEqual([[UART_IRQ, true]]);
    expect(b.in(IIR, 1) & 0x0f).toBe(IIR_THRI);
    expect(b.irqs()).toEqual([[UART_IRQ, true], [UART_IRQ, false]]);
    expect(b.in(IIR, 1) & 0x0f).toBe(IIR_NO_INT);
    expect(b.irqs()).toHaveLength(2);
  });

  it('raises IRQ 4 again for each byte written while the interrupt is enabled (THR empties at once)', () => {
    const b = bus();
    b.out(IER, 1, IER_THRI);
    b.in(IIR, 1);
    send(b, 'a');
    expect(b.irqs()).toEqual([[UART_IRQ, true], [UART_IRQ, false], [UART_IRQ, true]]);
    expect(b.in(IIR, 1) & 0x0f).toBe(IIR_THRI);
    send(b, 'b');
    expect(b.irqs().slice(3)).toEqual([[UART_IRQ, false], [UART_IRQ, true]]);
  });

  it('lowers IRQ 4 when the interrupt is disabled in IER, after which IIR reads "no interrupt pending"', () => {
    const b = bus();
    b.out(IER, 1, IER_THRI);
    expect(b.irqs()).toEqual([[UART_IRQ, true]]);
    b.out(IER, 1, 0);
    expect(b.irqs()).toEqual([[UART_IRQ, true], [UART_IRQ, false]]);
    expect(b.in(IIR, 1) & 0x0f).toBe(IIR_NO_INT);
  });

  it('with the THR-empty interrupt disabled, transmitting raises nothing', () => {
    const b = bus();
    b.out(IER, 1, 0x01); // received-data interrupt only: nothing is ever received
    send(b, 'quiet\n');
    expect(b.irqs()).toEqual([]);
    expect(b.in(IIR, 1) & 0x0f).toBe(IIR_NO_INT);
    expect(b.lines()).toEqual(['quiet']);
  });
});

// ---------------------------------------------------------------------------------------------
// i8042 keyboard controller
// ---------------------------------------------------------------------------------------------
const KBD_DATA = 0x60, KBD_STATUS = 0x64, KBD_CMD = 0x64;
const STR_OBF = 0x01;
const KBD_IRQ = 1;

/** What the guest reads from 0x60, as long as the status says the output buffer is full. */
function drain(b: NativePortBus): number[] {
  const got: number[] = [];
  for (let i = 0; i < 16 && b.in(KBD_STATUS, 1) & STR_OBF; i++) got.push(b.in(KBD_DATA, 1));
  return got;
}

describe('i8042 on 0x60 and 0x64', () => {
  it('answers the controller self-test (0xaa) with 0x55, the status showing the output buffer full until read', () => {
    const b = bus();
    expect(b.in(KBD_STATUS, 1) & STR_OBF).toBe(0);
    expect(b.out(KBD_CMD, 1, 0xaa)).toBe('none');
    expect(b.in(KBD_STATUS, 1) & STR_OBF).toBe(STR_OBF);
    expect(b.in(KBD_DATA, 1)).toBe(0x55);
    expect(b.in(KBD_STATUS, 1) & STR_OBF).toBe(0);
  });

  it('keeps a bounded queue of replies: a guest that never reads cannot grow the host\'s memory', () => {
    const b = bus();
    for (let i = 0; i < 10_000; i++) b.out(KBD_CMD, 1, 0xaa); // self-tests, never read
    const got: number[] = [];
    for (let i = 0; i < 100 && b.in(KBD_STATUS, 1) & STR_OBF; i++) got.push(b.in(KBD_DATA, 1));
    expect(got.length).toBeGreaterThan(0);
    expect(got.length).toBeLessThanOrEqual(16);
    expect(got.every((v) => v === 0x55)).toBe(true);
    // and it works on: a new command is answered once there is room
    b.out(KBD_CMD, 1, 0xaa);
    expect(drain(b)).toEqual([0x55]);
  });

  it('reads back with 0x20 the command byte written with 0x60', () => {
    const b = bus();
    for (const ctr of [0x47, 0x65, 0x00]) {
      b.out(KBD_CMD, 1, 0x60);
      expect(b.out(KBD_DATA, 1, ctr)).toBe('none');
      expect(drain(b)).toEqual([]); // writing the command byte answers nothing
      b.out(KBD_CMD, 1, 0x20);
      expect(drain(b)).toEqual([ctr]);
    }
  });

  it('has a keyboard that acknowledges a command with 0xfa, and a reset (0xff) also with its self-test 0xaa', () => {
    const b = bus();
    b.out(KBD_DATA, 1, 0xf4); // enable scanning
    expect(drain(b)).toEqual([0xfa]);
    b.out(KBD_DATA, 1, 0xed); // set LEDs, then its argument
    expect(drain(b)).toEqual([0xfa]);
    b.out(KBD_DATA, 1, 0x00);
    expect(drain(b)).toEqual([0xfa]);
    b.out(KBD_DATA, 1, 0xff);
    expect(drain(b)).toEqual([0xfa, 0xaa]);
  });

  it('pulses IRQ 1 for a keyboard reply when the command byte enables the keyboard interrupt, and not otherwise', () => {
    const b = bus();
    b.out(KBD_CMD, 1, 0x60);
    b.out(KBD_DATA, 1, 0x45); // keyboard interrupt on, translation, system flag
    b.out(KBD_DATA, 1, 0xf4);
    expect(b.irqs()).toEqual([[KBD_IRQ, true], [KBD_IRQ, false]]);
    expect(drain(b)).toEqual([0xfa]);
    b.out(KBD_CMD, 1, 0x60);
    b.out(KBD_DATA, 1, 0x44); // keyboard interrupt off
    b.out(KBD_DATA, 1, 0xf4);
    expect(drain(b)).toEqual([0xfa]);
    expect(b.irqs()).toHaveLength(2);
  });

  it('resets the machine on command 0xfe (pulse the reset line), and on no other controller command', () => {
    const b = bus();
    for (const cmd of [0x20, 0xaa, 0xab, 0xa7, 0xa8, 0xad, 0xae, 0xd0]) expect(b.out(KBD_CMD, 1, cmd)).toBe('none');
    expect(b.out(KBD_CMD, 1, 0xfe)).toBe('reset');
  });

  it('resets the machine when the output port is written (0xd1) with bit 0 clear, but not with bit 0 set (A20 gate)', () => {
    const b = bus();
    expect(b.out(KBD_CMD, 1, 0xd1)).toBe('none');
    expect(b.out(KBD_DATA, 1, 0xdf)).toBe('none'); // A20 on, not in reset
    expect(drain(b)).toEqual([]); // nor is it taken for a keyboard command
    expect(b.out(KBD_CMD, 1, 0xd1)).toBe('none');
    expect(b.out(KBD_DATA, 1, 0xfe)).toBe('reset');
  });
});

// ---------------------------------------------------------------------------------------------
// MC146818 CMOS RTC
// ---------------------------------------------------------------------------------------------
function cmos(b: NativePortBus, index: number): number {
  b.out(0x70, 1, index);
  return b.in(0x71, 1);
}

function fromBcd(v: number, what: string): number {
  expect({ what, high: v >> 4 <= 9, low: (v & 0x0f) <= 9 }).toEqual({ what, high: true, low: true });
  return (v >> 4) * 10 + (v & 0x0f);
}

interface RtcTime {
  year: number;
  month: number;
  day: number;
  hours: number;
  minutes: number;
  seconds: number;
}

function readRtc(b: NativePortBus): RtcTime {
  return {
    seconds: fromBcd(cmos(b, 0x00), 'seconds'),
    minutes: fromBcd(cmos(b, 0x02), 'minutes'),
    hours: fromBcd(cmos(b, 0x04), 'hours'),
    day: fromBcd(cmos(b, 0x07), 'day'),
    month: fromBcd(cmos(b, 0x08), 'month'),
    year: fromBcd(cmos(b, 0x32), 'century') * 100 + fromBcd(cmos(b, 0x09), 'year'),
  };
}

/** The clock read twice until both reads agree (the second may tick in between), with the host's time around it. */
function readRtcStable(b: NativePortBus): { rtc: RtcTime; beforeMs: number; afterMs: number } {
  for (let i = 0; ; i++) {
    const beforeMs = Date.now();
    const a = readRtc(b);
    const c = readRtc(b);
    const afterMs = Date.now();
    if (JSON.stringify(a) === JSON.stringify(c) || i === 4) return { rtc: c, beforeMs, afterMs };
  }
}

describe('MC146818 CMOS RTC on 0x70/0x71', () => {
  it("reads seconds, minutes, hours, day, month and year in BCD equal to the host's UTC time", () => {
    const b = bus();
    const { rtc, beforeMs, afterMs } = readRtcStable(b);
    const rtcS = Date.UTC(rtc.year, rtc.month - 1, rtc.day, rtc.hours, rtc.minutes, rtc.seconds) / 1000;
    // time(2) may lag the clock Date.now() reads by a tick: one second of slack below.
    const lo = Math.floor(beforeMs / 1000) - 1;
    const hi = Math.floor(afterMs / 1000);
    const iso = (s: number) => new Date(s * 1000).toISOString();
    expect({ rtc: iso(rtcS), inWindow: rtcS >= lo && rtcS <= hi }).toEqual({ rtc: iso(rtcS), inWindow: true });
    expect(rtc.hours).toBeLessThan(24);
  });

  it('reads the day of the week (1 = Sunday) of the same UTC date', () => {
    const b = bus();
    for (let i = 0; i < 5; i++) {
      const before = new Date();
      const wday = fromBcd(cmos(b, 0x06), 'weekday');
      const after = new Date();
      if (before.getUTCDate() !== after.getUTCDate()) continue; // midnight passed
      expect(wday).toBe(before.getUTCDay() + 1);
      return;
    }
  });

  it('says in status register B that it counts 24-hour, in BCD; A shows no update in progress; D a good battery', () => {
    const b = bus();
    const regB = cmos(b, 0x0b);
    expect(regB & 0x02).toBe(0x02); // 24-hour
    expect(regB & 0x04).toBe(0); // DM = 0: BCD
    expect(regB & 0x80).toBe(0); // not halted for setting
    expect(cmos(b, 0x0a) & 0x80).toBe(0); // UIP clear
    expect(cmos(b, 0x0d) & 0x80).toBe(0x80); // VRT
  });

  it('reads back a byte written to its RAM', () => {
    const b = bus();
    const cells: Array<[number, number]> = [
      [0x0e, 0x12],
      [0x10, 0x34],
      [0x40, 0x5a],
      [0x7f, 0xa5],
    ];
    for (const [i, v] of cells) {
      b.out(0x70, 1, i);
      b.out(0x71, 1, v);
    }
    for (const [i, v] of cells) expect(cmos(b, i)).toBe(v);
  });

  it('reads and writes the same register whether or not bit 7 of the index (NMI disable) is set', () => {
    const b = bus();
    expect(cmos(b, 0x80 | 0x0b)).toBe(cmos(b, 0x0b));
    expect(cmos(b, 0x80 | 0x0d)).toBe(cmos(b, 0x0d));
    b.out(0x70, 1, 0x80 | 0x41);
    b.out(0x71, 1, 0x77);
    expect(cmos(b, 0x41)).toBe(0x77);
    expect(cmos(b, 0x80 | 0x41)).toBe(0x77);
    b.out(0x70, 1, 0x42);
    b.out(0x71, 1, 0x99);
    expect(cmos(b, 0x80 | 0x42)).toBe(0x99);
    expect(cmos(b, 0x80 | 0x0a)).toBe(cmos(b, 0x0a));
  });
});

// ---------------------------------------------------------------------------------------------
// PCI configuration mechanism #1, empty bus
// ---------------------------------------------------------------------------------------------
const CONFIG_ADDRESS = 0xcf8, CONFIG_DATA = 0xcfc;
const cfg = (bus: number, dev: number, fn: number, reg: number): number =>
  (0x80000000 | (bus << 16) | (dev << 11) | (fn << 8) | (reg & 0xfc)) >>> 0;

describe('PCI configuration mechanism #1 on 0xcf8..0xcff, nothing on the bus', () => {
  it('reads back at 0xcf8 the address written, whole or byte by byte (the kernel\'s type 1 check)', () => {
    const b = bus();
    b.out(CONFIG_ADDRESS, 4, 0x80000000);
    expect(b.in(CONFIG_ADDRESS, 4)).toBe(0x80000000);
    const a = cfg(0, 31, 3, 0x3c);
    b.out(CONFIG_ADDRESS, 4, a);
    expect(b.in(CONFIG_ADDRESS, 4)).toBe(a);
    const bytes = [0, 1, 2, 3].map((i) => b.in(CONFIG_ADDRESS + i, 1));
    expect(bytes).toEqual([a & 0xff, (a >>> 8) & 0xff, (a >>> 16) & 0xff, a >>> 24]);
    b.out(CONFIG_ADDRESS, 4, 0);
    expect(b.in(CONFIG_ADDRESS, 4)).toBe(0);
  });

  it('answers a configuration read with all ones ("no device") for any device, register and size', () => {
    const b = bus();
    const addrs = [cfg(0, 0, 0, 0), cfg(0, 0, 0, 0x08), cfg(0, 1, 0, 0), cfg(0, 31, 7, 0xfc), cfg(1, 0, 0, 0), cfg(255, 5, 2, 0x10)];
    for (let dev = 0; dev < 32; dev++) addrs.push(cfg(0, dev, 0, 0));
    for (const a of addrs) {
      b.out(CONFIG_ADDRESS, 4, a);
      expect(b.in(CONFIG_DATA, 4)).toBe(0xffffffff);
      expect(b.in(CONFIG_DATA, 2)).toBe(0xffff);
      expect(b.in(CONFIG_DATA + 2, 2)).toBe(0xffff);
      for (let i = 0; i < 4; i++) expect(b.in(CONFIG_DATA + i, 1)).toBe(0xff);
    }
  });

  it('drops writes to the data port: reads stay all ones and the address is untouched', () => {
    const b = bus();
    const a = cfg(0, 0, 0, 0x04);
    b.out(CONFIG_ADDRESS, 4, a);
    expect(b.out(CONFIG_DATA, 4, 0x00000007)).toBe('none'); // command register: enable I/O, memory, bus master
    expect(b.out(CONFIG_DATA + 2, 2, 0x1234)).toBe('none');
    expect(b.out(CONFIG_DATA + 3, 1, 0x56)).toBe('none');
    expect(b.in(CONFIG_DATA, 4)).toBe(0xffffffff);
    expect(b.in(CONFIG_ADDRESS, 4)).toBe(a);
  });
});

// ---------------------------------------------------------------------------------------------
// 8254 PIT stub (a KVM without an in-kernel PIT)
// ---------------------------------------------------------------------------------------------
const PIT_HZ = 1193182;
const ticks = (ns: bigint): number => (Number(ns) * PIT_HZ) / 1e9;
const PORT61_GATE2 = 0x01, PORT61_SPEAKER = 0x02, PORT61_OUT2 = 0x20;

/** Control word for `channel`: LSB then MSB, `mode`, binary; then the count. */
function load(b: NativePortBus, channel: number, mode: number, count: number): void {
  b.out(0x43, 1, (channel << 6) | 0x30 | (mode << 1));
  b.out(0x40 + channel, 1, count & 0xff);
  b.out(0x40 + channel, 1, (count >> 8) & 0xff);
}

function latch(b: NativePortBus, channel: number): void {
  b.out(0x43, 1, channel << 6); // counter latch command
}

function readCount(b: NativePortBus, channel: number): number {
  const lo = b.in(0x40 + channel, 1);
  const hi = b.in(0x40 + channel, 1);
  return (hi << 8) | lo;
}

describe('8254 PIT stub on 0x40..0x43 and 0x61', () => {
  it('counts a loaded channel down at 1.193182 MHz: latched reads decrease by the ticks elapsed', () => {
    const b = bus();
    for (let attempt = 0; ; attempt++) {
      const t0 = nowNs();
      load(b, 0, 0, 0xffff); // mode 0, interrupt on terminal count
      const t1 = nowNs();
      const tA = nowNs();
      latch(b, 0);
      const c1 = readCount(b, 0);
      const tB = nowNs();
      spin(3);
      const tC = nowNs();
      latch(b, 0);
      const c2 = readCount(b, 0);
      const tD = nowNs();
      if (ticks(tD - t0) > 60000 && attempt < 3) continue; // preempted for most of a period: again
      // The count is taken somewhere inside each latch-and-read window.
      const down1 = 0xffff - c1;
      expect(down1).toBeGreaterThanOrEqual(Math.floor(ticks(tA - t1)) - 1);
      expect(down1).toBeLessThanOrEqual(Math.ceil(ticks(tB - t0)) + 1);
      const step = c1 - c2;
      expect(step).toBeGreaterThanOrEqual(Math.floor(ticks(tC - tB)) - 1); // ~3580 for 3 ms
      expect(step).toBeLessThanOrEqual(Math.ceil(ticks(tD - tA)) + 1);
      return;
    }
  });

  // Linux's PIT clocksource (pit_read) latches, then reads LSB then MSB: the pair must not tear.
  it('holds a latched count until both its bytes are read, however long the guest takes', () => {
    const b = bus();
    const t0 = nowNs();
    load(b, 0, 2, 0xffff); // mode 2, as Linux programs channel 0
    const t1 = nowNs();
    const tA = nowNs();
    latch(b, 0);
    const tB = nowNs();
    spin(2);
    const lo = b.in(0x40, 1);
    spin(2);
    const hi = b.in(0x40, 1);
    const down = 0xffff - ((hi << 8) | lo);
    expect({ down, latched: down <= Math.ceil(ticks(tB - t0)) + 1 }).toEqual({ down, latched: true });
    expect(down).toBeGreaterThanOrEqual(Math.floor(ticks(tA - t1)) - 1);
    // and the latch is gone once read: the next latch takes a later count
    latch(b, 0);
    expect(readCount(b, 0)).toBeLessThan(0xffff - down);
  });

  it('raises OUT2 (bit 5 of 0x61) once channel 2, gated on by bit 0, has counted out, and not before', () => {
    const b = bus();
    // As Linux's PIT calibration does: gate on, speaker off, channel 2 in mode 0.
    b.out(0x61, 1, (b.in(0x61, 1) & ~PORT61_SPEAKER) | PORT61_GATE2);
    const count = 2 * 1193; // ~2 ms
    const t0 = nowNs();
    load(b, 2, 0, count);
    const early = b.in(0x61, 1);
    const tEarly = nowNs();
    if (ticks(tEarly - t0) < count) expect(early & PORT61_OUT2).toBe(0);
    let risenAt = 0n;
    const deadline = nowNs() + 1_000_000_000n;
    while (nowNs() < deadline) {
      if (b.in(0x61, 1) & PORT61_OUT2) {
        risenAt = nowNs();
        break;
      }
    }
    expect(risenAt).not.toBe(0n);
    expect(ticks(risenAt - t0)).toBeGreaterThanOrEqual(count);
    expect(ticks(risenAt - t0)).toBeLessThan(count + PIT_HZ / 10); // within 100 ms of the terminal count
    expect(b.in(0x61, 1) & PORT61_OUT2).toBe(PORT61_OUT2); // mode 0: stays high until reloaded
    load(b, 2, 0, 0xffff);
    expect(b.in(0x61, 1) & PORT61_OUT2).toBe(0); // reloaded: low again
  });

  it('keeps OUT2 low while the gate (bit 0 of 0x61) is low, however long channel 2 waits', () => {
    const b = bus();
    b.out(0x61, 1, 0x00);
    load(b, 2, 0, 100); // ~84 us
    spin(3);
    expect(b.in(0x61, 1) & PORT61_OUT2).toBe(0);
  });

  it('reads back the gate and speaker bits of port 0x61', () => {
    const b = bus();
    for (const v of [0x00, 0x01, 0x02, 0x03]) {
      b.out(0x61, 1, v);
      expect(b.in(0x61, 1) & 0x03).toBe(v);
    }
  });
});
