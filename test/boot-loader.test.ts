// The Linux loaders (native/kvm/elf_loader.cc, pvh.cc, bzimage.cc, linux_boot.cc), without KVM:
// kernels made here byte by byte are loaded into scratch memory by prepareBoot(), and the
// structures the guest would find there are decoded with the offsets of the protocols' own
// definitions (hvm_start_info, hvm_memmap_table_entry; boot_params, setup_header, e820).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../src/errors';
import { KernelImageError, KvmVm, inspectKernel, parseCpuidBit, prepareBoot, probeKvm } from '../src/kvm/index';
import { tempDir } from './helpers';

const MiB = 1024 * 1024;
const PVH_NOTE = 18; // XEN_ELFNOTE_PHYS32_ENTRY

interface Segment {
  paddr: number;
  data: Buffer;
  memsz?: number;
}

interface Note {
  name: string;
  type: number;
  desc: Buffer;
}

const pad4 = (n: number) => (n + 3) & ~3;

function noteBytes(notes: Note[]): Buffer {
  const parts = notes.map((n) => {
    const name = Buffer.from(`${n.name}\0`);
    const b = Buffer.alloc(12 + pad4(name.length) + pad4(n.desc.length));
    b.writeUInt32LE(name.length, 0);
    b.writeUInt32LE(n.desc.length, 4);
    b.writeUInt32LE(n.type, 8);
    name.copy(b, 12);
    n.desc.copy(b, 12 + pad4(name.length));
    return b;
  });
  return Buffer.concat(parts);
}

function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v);
  return b;
}

function u64(v: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(v));
  return b;
}

/** A 64-bit x86 ELF executable: program headers for each segment and one PT_NOTE. */
function elf(o: { segments: Segment[]; notes?: Note[]; elfClass?: number; machine?: number }): Buffer {
  const notes = noteBytes(o.notes ?? []);
  const phnum = o.segments.length + (notes.length > 0 ? 1 : 0);
  const header = Buffer.alloc(64 + phnum * 56);
  header.write('\x7fELF', 0, 'latin1');
  header[4] = o.elfClass ?? 2; // ELFCLASS64
  header[5] = 1; // little-endian
  header[6] = 1;
  header.writeUInt16LE(2, 16); // ET_EXEC
  header.writeUInt16LE(o.machine ?? 62, 18); // EM_X86_64
  header.writeUInt32LE(1, 20);
  header.writeBigUInt64LE(0xffffffff81000000n, 24);
  header.writeBigUInt64LE(64n, 32); // e_phoff
  header.writeUInt16LE(64, 52);
  header.writeUInt16LE(56, 54);
  header.writeUInt16LE(phnum, 56);
  let offset = header.length;
  const body: Buffer[] = [];
  const ph = (i: number, type: number, off: number, paddr: number, filesz: number, memsz: number) => {
    const p = 64 + i * 56;
    header.writeUInt32LE(type, p);
    header.writeUInt32LE(5, p + 4);
    header.writeBigUInt64LE(BigInt(off), p + 8);
    header.writeBigUInt64LE(BigInt(paddr) + 0xffffffff80000000n, p + 16);
    header.writeBigUInt64LE(BigInt(paddr), p + 24);
    header.writeBigUInt64LE(BigInt(filesz), p + 32);
    header.writeBigUInt64LE(BigInt(memsz), p + 40);
  };
  o.segments.forEach((s, i) => {
    ph(i, 1, offset, s.paddr, s.data.length, s.memsz ?? s.data.length);
    body.push(s.data);
    offset += s.data.length;
  });
  if (notes.length > 0) {
    ph(o.segments.length, 4, offset, 0, notes.length, notes.length);
    body.push(notes);
  }
  return Buffer.concat([header, ...body]);
}

const KERNEL_AT = 0x1000000;
const PVH_ENTRY = KERNEL_AT + 0x850;
const kernelCode = Buffer.from(Array.from({ length: 0x2000 }, (_, i) => (i * 7 + 3) & 0xff));

/** A vmlinux as Linux lays it out: other Xen and GNU notes around the PVH one. */
function vmlinux(entryBytes: 4 | 8 = 8, withPvh = true): Buffer {
  return elf({
    segments: [{ paddr: KERNEL_AT, data: kernelCode, memsz: 0x10000 }],
    notes: [
      { name: 'GNU', type: 3, desc: Buffer.alloc(20, 0xab) },
      { name: 'Xen', type: 6, desc: Buffer.from('linux\0') },
      ...(withPvh ? [{ name: 'Xen', type: PVH_NOTE, desc: entryBytes === 8 ? u64(PVH_ENTRY) : u32(PVH_ENTRY) }] : []),
      { name: 'Linux', type: 0x100, desc: Buffer.from('6.1.0-test\0') },
    ],
  });
}

/** A bzImage whose setup header is that of boot protocol `version`; the protected-mode part is `kernel`. */
function bzImage(o: { version?: number; xloadflags?: number; loadflags?: number; kernel?: Buffer; cmdlineSize?: number } = {}): Buffer {
  const setupSects = 2;
  const kernel = o.kernel ?? Buffer.from(Array.from({ length: 0x4000 }, (_, i) => (i * 13 + 1) & 0xff));
  const b = Buffer.alloc((setupSects + 1) * 512 + kernel.length);
  b[0x1f1] = setupSects;
  b.writeUInt32LE(kernel.length / 16, 0x1f4); // syssize
  b.writeUInt16LE(0xaa55, 0x1fe);
  b[0x200] = 0xeb;
  b[0x201] = 0x6a; // the setup header ends at 0x202 + 0x6a
  b.write('HdrS', 0x202, 'latin1');
  b.writeUInt16LE(o.version ?? 0x020f, 0x206);
  b[0x211] = o.loadflags ?? 0x01; // LOADED_HIGH
  b.writeUInt32LE(0x100000, 0x214);
  b.writeUInt32LE(0x7fffffff, 0x22c); // initrd_addr_max
  b.writeUInt32LE(0x200000, 0x230);
  b[0x234] = 1;
  b.writeUInt16LE(o.xloadflags ?? 0x7f, 0x236);
  b.writeUInt32LE(o.cmdlineSize ?? 255, 0x238);
  b.writeUInt32LE(0x3a0, 0x248); // payload_offset
  b.writeUInt32LE(0x1000, 0x24c);
  b.writeBigUInt64LE(0x1000000n, 0x258); // pref_address
  b.writeUInt32LE(0x800000, 0x260); // init_size
  kernel.copy(b, (setupSects + 1) * 512);
  return b;
}

function file(dir: string, name: string, bytes: Buffer | string): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, bytes);
  return p;
}

const initrdBytes = Buffer.concat([Buffer.from('070701'), Buffer.alloc(100_000, 0x42)]);

/** A C string at `at` in a buffer. */
function cString(b: Buffer, at: number): string {
  return b.subarray(at, b.indexOf(0, at)).toString('latin1');
}

function expectRefused(f: () => unknown, pattern: RegExp): void {
  let error: unknown;
  try {
    f();
  } catch (e) {
    error = e;
  }
  expect(error, `expected a KernelImageError matching ${pattern}`).toBeInstanceOf(KernelImageError);
  expect((error as Error).message).toMatch(pattern);
}

const expectedE820 = (memory: number) => [
  { addr: 0, size: 0x9fc00, type: 1 },
  { addr: 0x9fc00, size: 0x100000 - 0x9fc00, type: 2 },
  { addr: 0x100000, size: memory - 0x100000, type: 1 },
];

describe('vmlinux: ELF notes and the PVH entry', () => {
  it('finds XEN_ELFNOTE_PHYS32_ENTRY among other notes, in its 8- and 4-byte forms', () => {
    const dir = tempDir();
    for (const width of [8, 4] as const) {
      const k = inspectKernel(file(dir, `vmlinux${width}`, vmlinux(width)));
      expect(k.format).toBe('vmlinux-pvh');
      expect(k.pvhEntry).toBe(PVH_ENTRY);
      expect(k.segments).toEqual([{ paddr: KERNEL_AT, fileBytes: kernelCode.length, memoryBytes: 0x10000 }]);
      expect([k.loadStart, k.loadEnd]).toEqual([KERNEL_AT, KERNEL_AT + 0x10000]);
    }
  });

  it('refuses an ELF without the PVH note, a 32-bit ELF, a note that runs past its segment', () => {
    const dir = tempDir();
    expectRefused(() => inspectKernel(file(dir, 'nopvh', vmlinux(8, false))), /no PVH entry note \(XEN_ELFNOTE_PHYS32_ENTRY\).*CONFIG_PVH/);
    const i386 = vmlinux();
    i386[4] = 1; // ELFCLASS32
    expectRefused(() => inspectKernel(file(dir, 'i386', i386)), /not a 64-bit x86 one/);
    const arm = vmlinux();
    arm.writeUInt16LE(183, 18); // EM_AARCH64
    expectRefused(() => inspectKernel(file(dir, 'arm64', arm)), /not a 64-bit x86 one/);
    // A PT_NOTE whose first note claims a longer descriptor than the segment holds.
    const bad = vmlinux();
    const notesAt = Number(bad.readBigUInt64LE(64 + 56 + 8));
    const notesLen = Number(bad.readBigUInt64LE(64 + 56 + 32));
    expect(bad.toString('latin1', notesAt + 12, notesAt + 15)).toBe('GNU');
    bad.writeUInt32LE(notesLen, notesAt + 4);
    expectRefused(() => inspectKernel(file(dir, 'badnote', bad)), /runs past the end of its segment/);
  });

  it('refuses a truncated vmlinux: cut inside a segment, inside the program headers, inside the ELF header', () => {
    const dir = tempDir();
    const k = vmlinux();
    expectRefused(() => inspectKernel(file(dir, 'cut-segment', k.subarray(0, 64 + 2 * 56 + 100))), /is truncated: segment 0 ends at byte/);
    expectRefused(() => inspectKernel(file(dir, 'cut-phdrs', k.subarray(0, 100))), /is truncated: its program headers end past the end/);
    expectRefused(() => inspectKernel(file(dir, 'cut-header', k.subarray(0, 30))), /is truncated: 30 bytes, shorter than an ELF header/);
  });
});

describe('PVH: hvm_start_info, the memory map and the initrd module', () => {
  it('writes hvm_start_info v1 with the command line, the initrd as its one module and the e820 map', () => {
    const dir = tempDir();
    const memory = 128 * MiB;
    const cmdline = 'console=ttyS0 rdinit=/init rondo.test=1';
    const b = prepareBoot({ kernel: file(dir, 'vmlinux', vmlinux()), initrd: file(dir, 'initrd', initrdBytes), cmdline, memoryBytes: memory });
    expect(b.format).toBe('vmlinux-pvh');
    expect(b.entryMode).toBe('protected32');
    expect(b.entry).toBe(PVH_ENTRY);
    expect(b.e820).toEqual(expectedE820(memory));

    const si = b.low.subarray(b.bootInfo);
    expect(si.readUInt32LE(0)).toBe(0x336ec578); // magic
    expect(si.readUInt32LE(4)).toBe(1); // version: has the memory map
    expect(si.readUInt32LE(8)).toBe(0); // flags
    expect(si.readUInt32LE(12)).toBe(1); // nr_modules
    const modlist = Number(si.readBigUInt64LE(16));
    const cmdlineAt = Number(si.readBigUInt64LE(24));
    expect(si.readBigUInt64LE(32)).toBe(0n); // rsdp_paddr: no ACPI
    const memmap = Number(si.readBigUInt64LE(40));
    const entries = si.readUInt32LE(48);

    expect(cString(b.low, cmdlineAt)).toBe(cmdline);
    expect(cmdlineAt).toBe(b.cmdlineAddr);
    // The module: the initrd, page-aligned at the top of RAM, its bytes where the entry says.
    const mod = b.low.subarray(modlist);
    expect(Number(mod.readBigUInt64LE(0))).toBe(b.initrdAddr);
    expect(Number(mod.readBigUInt64LE(8))).toBe(initrdBytes.length);
    expect(mod.readBigUInt64LE(16)).toBe(0n); // no module command line
    expect(b.initrdAddr % 4096).toBe(0);
    expect(b.initrdAddr + initrdBytes.length).toBeLessThanOrEqual(memory);
    expect(b.initrdAddr + initrdBytes.length).toBeGreaterThan(memory - 4096);
    expect(b.initrdAddr).toBeGreaterThanOrEqual(b.kernelEnd);
    expect(b.initrdHead).toEqual(initrdBytes.subarray(0, 64));
    // hvm_memmap_table_entry: addr, size, type, reserved (24 bytes each).
    const map = Array.from({ length: entries }, (_, i) => {
      const e = b.low.subarray(memmap + i * 24);
      return { addr: Number(e.readBigUInt64LE(0)), size: Number(e.readBigUInt64LE(8)), type: e.readUInt32LE(16) };
    });
    expect(map).toEqual(expectedE820(memory));
    // The kernel's segment where its program header put it, the rest of its memory size zeroed.
    expect(b.kernelHead).toEqual(kernelCode.subarray(0, 64));
    expect([b.kernelStart, b.kernelEnd]).toEqual([KERNEL_AT, KERNEL_AT + 0x10000]);
    // The GDT has the flat 32-bit code segment the PVH entry runs in.
    expect(b.low.readBigUInt64LE(0x1000 + 0x08)).toBe(0x00cf9b000000ffffn);
  });

  it('without an initrd: no module; the memory map follows the memory size', () => {
    const dir = tempDir();
    for (const memory of [64 * MiB, 3 * 1024 * MiB]) {
      const b = prepareBoot({ kernel: file(dir, 'vmlinux', vmlinux()), cmdline: '', memoryBytes: memory });
      const si = b.low.subarray(b.bootInfo);
      expect(si.readUInt32LE(12)).toBe(0);
      expect(si.readBigUInt64LE(16)).toBe(0n);
      expect(b.initrdBytes).toBe(0);
      expect(b.e820).toEqual(expectedE820(memory));
      expect(si.readUInt32LE(48)).toBe(3);
    }
  });

  it('refuses a kernel or initrd that does not fit in guest memory, saying how much to give', () => {
    const dir = tempDir();
    const big = elf({ segments: [{ paddr: KERNEL_AT, data: kernelCode, memsz: 64 * MiB }], notes: [{ name: 'Xen', type: PVH_NOTE, desc: u32(PVH_ENTRY) }] });
    expectRefused(() => prepareBoot({ kernel: file(dir, 'big', big), memoryBytes: 64 * MiB }), /does not fit in guest memory.*give the VM more memory/);
    const initrd = file(dir, 'initrd', Buffer.alloc(60 * MiB, 1));
    expectRefused(() => prepareBoot({ kernel: file(dir, 'vmlinux', vmlinux()), initrd, memoryBytes: 64 * MiB }), /do not fit in 64 MiB of guest memory: give the VM at least \d+ MiB/);
  });
});

describe('bzImage: the setup header and boot_params', () => {
  it('reads the setup header', () => {
    const dir = tempDir();
    const k = inspectKernel(file(dir, 'bzImage', bzImage()));
    expect(k).toMatchObject({ format: 'bzimage', bootProtocol: '2.15', setupBytes: 3 * 512, kernelBytes: 0x4000, prefAddress: 0x1000000, initSize: 0x800000, cmdlineMax: 255 });
    expect(k.payloadOffset).toBe(3 * 512 + 0x3a0);
  });

  it('fills boot_params: the setup header, loader type, command line, initrd, e820; kernel at 1 MiB, 64-bit entry, identity map', () => {
    const dir = tempDir();
    const memory = 256 * MiB;
    const image = bzImage();
    const cmdline = 'console=ttyS0 reboot=k';
    const b = prepareBoot({ kernel: file(dir, 'bzImage', image), initrd: file(dir, 'initrd', initrdBytes), cmdline, memoryBytes: memory });
    expect(b).toMatchObject({ format: 'bzimage', entryMode: 'long64', entry: 0x100200, bootProtocol: '2.15', kernelStart: 0x100000 });
    expect(b.kernelEnd).toBe(0x1000000 + 0x800000); // pref_address + init_size: where it decompresses
    const bp = b.low.subarray(b.bootInfo, b.bootInfo + 4096);
    // The setup header as the file has it, but for the fields the loader fills.
    const filled = new Set([0x210, 0x214, 0x215, 0x216, 0x217, 0x218, 0x219, 0x21a, 0x21b, 0x21c, 0x21d, 0x21e, 0x21f, 0x228, 0x229, 0x22a, 0x22b]);
    for (let i = 0x1f1; i < 0x26c; i++) if (!filled.has(i)) expect(bp[i], `boot_params byte 0x${i.toString(16)}`).toBe(image[i]);
    expect(bp.toString('latin1', 0x202, 0x206)).toBe('HdrS');
    expect(bp[0x210]).toBe(0xff); // type_of_loader: undefined
    expect(bp.readUInt32LE(0x214)).toBe(0x100000); // code32_start
    expect(bp.readUInt32LE(0x218)).toBe(b.initrdAddr); // ramdisk_image
    expect(bp.readUInt32LE(0x21c)).toBe(initrdBytes.length); // ramdisk_size
    expect(bp.readUInt32LE(0x0c0)).toBe(0); // ext_ramdisk_image
    expect(bp.readUInt32LE(0x228)).toBe(b.cmdlineAddr); // cmd_line_ptr
    expect(cString(b.low, b.cmdlineAddr)).toBe(cmdline);
    expect(b.initrdAddr + initrdBytes.length).toBeLessThanOrEqual(memory);
    expect(b.initrdAddr).toBeGreaterThanOrEqual(b.kernelEnd);
    expect(b.initrdHead).toEqual(initrdBytes.subarray(0, 64));
    // e820: the count at 0x1e8, the table at 0x2d0 (addr, size, type: 20 bytes each).
    expect(bp[0x1e8]).toBe(3);
    const table = Array.from({ length: 3 }, (_, i) => ({
      addr: Number(bp.readBigUInt64LE(0x2d0 + i * 20)),
      size: Number(bp.readBigUInt64LE(0x2d0 + i * 20 + 8)),
      type: bp.readUInt32LE(0x2d0 + i * 20 + 16),
    }));
    expect(table).toEqual(expectedE820(memory));
    // The protected-mode part at 1 MiB; the real-mode setup code is not loaded.
    expect(b.kernelHead).toEqual(image.subarray(3 * 512, 3 * 512 + 64));
    // Page tables: PML4[0] -> PDPT, 4 page directories of 2 MiB pages, identity.
    expect(b.low.readBigUInt64LE(0x2000)).toBe(0x3003n);
    expect(b.low.readBigUInt64LE(0x3000 + 8 * 3)).toBe(0x7003n);
    expect(b.low.readBigUInt64LE(0x4000 + 8 * 1)).toBe(0x200000n | 0x83n);
    expect(b.low.readBigUInt64LE(0x7000 + 8 * 511)).toBe(0xffe00000n | 0x83n);
    // GDT: __BOOT_CS (0x10) 64-bit code, __BOOT_DS (0x18) data.
    expect(b.low.readBigUInt64LE(0x1000 + 0x10)).toBe(0x00af9b000000ffffn);
    expect(b.low.readBigUInt64LE(0x1000 + 0x18)).toBe(0x00cf93000000ffffn);
  });

  it('refuses what the 64-bit boot protocol cannot boot, and a command line longer than the kernel takes', () => {
    const dir = tempDir();
    expectRefused(() => inspectKernel(file(dir, 'old', bzImage({ version: 0x0206 }))), /boot protocol 2\.6; the 64-bit entry needs 2\.12/);
    expectRefused(() => inspectKernel(file(dir, 'no64', bzImage({ xloadflags: 0 }))), /no 64-bit entry point \(XLF_KERNEL_64\)/);
    expectRefused(() => inspectKernel(file(dir, 'zimage', bzImage({ loadflags: 0 }))), /zImage/);
    expectRefused(
      () => prepareBoot({ kernel: file(dir, 'bz', bzImage({ cmdlineSize: 255 })), cmdline: 'x'.repeat(300) }),
      /command line has 300 bytes; this kernel takes at most 255/,
    );
  });

  it('refuses a truncated bzImage', () => {
    const dir = tempDir();
    const image = bzImage();
    expectRefused(() => inspectKernel(file(dir, 'cut', image.subarray(0, image.length - 1000))), /is truncated: its header says 17920 bytes, the file has 16920/);
    expectRefused(() => inspectKernel(file(dir, 'cut-header', image.subarray(0, 0x220))), /is truncated: it ends inside its setup header/);
    // Cut right after "HdrS", before the protocol version: refused without reading past the end.
    for (const n of [0x206, 0x207])
      expectRefused(() => inspectKernel(file(dir, `cut-${n}`, image.subarray(0, n))), /is truncated: it ends inside its setup header/);
  });
});

describe('files that are not kernels', () => {
  it('refuses text, an empty file, a missing file and a directory, with the path and the way out', () => {
    const dir = tempDir();
    expectRefused(() => inspectKernel(file(dir, 'notes.txt', 'just some text, no kernel here\n'.repeat(40))), /notes\.txt is neither a vmlinux \(ELF\) nor a bzImage/);
    expectRefused(() => inspectKernel(file(dir, 'empty', '')), /kernel .*empty is empty/);
    expectRefused(() => inspectKernel(path.join(dir, 'missing')), /missing does not exist: build the guest with demo-vmm\/guest\/build\.sh/);
    expectRefused(() => inspectKernel(dir), /is not a regular file/);
    expectRefused(() => prepareBoot({ kernel: file(dir, 'vmlinux', vmlinux()), initrd: path.join(dir, 'no-initrd') }), /initrd .*no-initrd does not exist/);
  });

  it('the real Debian kernel, when built: a vmlinux with its PVH entry, a bzImage of protocol 2.12+', () => {
    const out = path.join(__dirname, '..', 'demo-vmm', 'guest', 'out');
    if (!['vmlinux', 'bzImage', 'initramfs.cpio.gz'].every((f) => fs.existsSync(path.join(out, f)))) {
      console.warn('demo-vmm/guest/out has no kernel yet (linux-boot.test.ts builds it): only the synthetic kernels were checked');
      return;
    }
    const v = inspectKernel(path.join(out, 'vmlinux'));
    expect(v.format).toBe('vmlinux-pvh');
    expect(v.pvhEntry).toBeGreaterThanOrEqual(v.loadStart!);
    expect(v.pvhEntry).toBeLessThan(v.loadEnd!);
    const z = inspectKernel(path.join(out, 'bzImage'));
    expect(z.format).toBe('bzimage');
    expect(Number(z.bootProtocol!.split('.')[1])).toBeGreaterThanOrEqual(12);
    const b = prepareBoot({ kernel: path.join(out, 'vmlinux'), initrd: path.join(out, 'initramfs.cpio.gz'), cmdline: 'console=ttyS0' });
    expect(b.initrdHead!.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b])); // gzip
  });
});

describe('CPUID features to hide', () => {
  it('by name or as leaf[.subleaf]:register:bit; anything else is a ConfigError that lists the names', () => {
    expect(parseCpuidBit('cx16')).toEqual({ function: 1, index: 0, register: 2, bit: 13 });
    expect(parseCpuidBit('AVX2')).toEqual({ function: 7, index: 0, register: 1, bit: 5 });
    expect(parseCpuidBit('0x80000001:edx:26')).toEqual({ function: 0x80000001, index: 0, register: 3, bit: 26 });
    expect(parseCpuidBit('7.1:eax:4')).toEqual({ function: 7, index: 1, register: 0, bit: 4 });
    expect(() => parseCpuidBit('cx17')).toThrow(ConfigError);
    expect(() => parseCpuidBit('1:ecx:32')).toThrow(/give a name \(pcid, cx16, .*\) or leaf\[\.subleaf\]:register:bit/);
  });
});

const kvm = probeKvm();

describe.skipIf(!kvm.ok)('a Linux VM that cannot be built', () => {
  it('a file that is not a kernel: KernelImageError from the VM constructor, nothing left open', () => {
    const dir = tempDir();
    const notKernel = file(dir, 'README', 'not a kernel');
    const fds = fs.readdirSync('/proc/self/fd').length;
    expect(() => new KvmVm({ kernel: notKernel })).toThrow(KernelImageError);
    expect(fs.readdirSync('/proc/self/fd').length).toBe(fds);
  });

  it('a Linux guest takes one vCPU and 64 MiB to 3 GiB of memory', () => {
    const dir = tempDir();
    const kernel = file(dir, 'vmlinux', vmlinux());
    expect(() => new KvmVm({ kernel, vcpus: 2 })).toThrow(ConfigError);
    expect(() => new KvmVm({ kernel, vcpus: 2 })).toThrow(/1 vCPU/);
    expect(() => new KvmVm({ kernel, memoryBytes: 32 * MiB })).toThrow(/from 64 MiB to 3072 MiB/);
  });
});
