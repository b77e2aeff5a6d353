// Disk faults under a running store, on real file systems this test makes (root only): a small
// tmpfs filled to the brim, and an ext4 image on a device-mapper device switched to the `error`
// target (every I/O fails with EIO; ext4 then goes read-only by itself, errors=remount-ro).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent, StorageError, Store, type Collector } from '../src/index';
import { readMetaFile, writeMetaFile } from '../src/store/metafile';

const SMALL = {
  name: 'small',
  match: {},
  maxSeries: 8,
  tiers: [{ interval: '1s', retention: '10m' }],
};

const run = (cmd: string, args: string[]): string => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const which = (cmd: string): boolean => {
  try {
    run('which', [cmd]);
    return true;
  } catch {
    return false;
  }
};

const cleanups: Array<() => void> = [];
afterEach(() => {
  while (cleanups.length > 0) {
    try {
      cleanups.pop()!();
    } catch (e) {
      console.warn(`faults-disk cleanup: ${(e as Error).message}`);
    }
  }
});

/** A tmpfs of `size` mounted on a new directory; undefined (with the reason printed) if it cannot be. */
function tmpfs(size: string): string | undefined {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rondo-faults-disk-'));
  try {
    run('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
  } catch (e) {
    console.warn(`faults-disk: cannot mount a tmpfs (${(e as Error).message.split('\n')[0]}): skipped`);
    fs.rmdirSync(dir);
    return undefined;
  }
  cleanups.push(() => {
    run('umount', ['-l', dir]);
    fs.rmdirSync(dir);
  });
  return dir;
}

/** Takes every free block of the file system at `dir` with one file; returns its path. */
function fillUp(dir: string): string {
  const filler = path.join(dir, 'filler');
  const st = fs.statfsSync(dir);
  run('fallocate', ['-l', String(st.bavail * st.bsize), filler]);
  // tmpfs may keep a page or so back: write until the file system says no more.
  const fd = fs.openSync(filler, 'a');
  try {
    const page = Buffer.alloc(4096);
    for (;;) fs.writeSync(fd, page);
  } catch (e) {
    expect((e as NodeJS.ErrnoException).code).toBe('ENOSPC');
  } finally {
    fs.closeSync(fd);
  }
  return filler;
}

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('faults-disk: not root, so no file systems can be mounted: every test skipped');

describe.skipIf(!isRoot)('a full disk', () => {
  it('creating a store on a disk too small fails with StorageError and leaves no slab or temporary file', () => {
    const mnt = tmpfs('1m');
    if (mnt === undefined) return;
    const dir = path.join(mnt, 'store');
    expect(() => Store.open(dir, { schemas: [{ ...SMALL, maxSeries: 64, tiers: [{ interval: '1s', retention: '1h' }] }] })).toThrow(StorageError);
    // The lock file alone: no slab, no .tmp, no series index, no store file.
    expect(fs.readdirSync(dir).filter((f) => f !== 'LOCK')).toEqual([]);
    // And the space is given back: a store that fits is made in the same directory.
    const store = Store.open(dir, { schemas: [SMALL] });
    store.record(store.register('up'), 1);
    store.close();
  });

  it('a store whose slabs fit but whose series index does not: StorageError, and its slabs removed again', () => {
    const mnt = tmpfs('4m');
    if (mnt === undefined) return;
    // The space a store of SMALL takes, in pages: made once, measured, removed.
    const ref = Store.open(path.join(mnt, 'ref'), { schemas: [SMALL] });
    ref.close();
    const pages = (f: string) => Math.ceil(fs.statSync(path.join(mnt, 'ref', f)).size / 4096);
    const slabs = fs.readdirSync(path.join(mnt, 'ref')).filter((f) => f.endsWith('.slab'));
    const room = (slabs.reduce((n, f) => n + pages(f), 0) + pages('LOCK')) * 4096;
    fs.rmSync(path.join(mnt, 'ref'), { recursive: true });
    const filler = fillUp(mnt);
    fs.truncateSync(filler, fs.statSync(filler).size - room);

    const dir = path.join(mnt, 'store');
    let err: unknown;
    try {
      Store.open(dir, { schemas: [SMALL] });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StorageError);
    expect((err as Error).message).toMatch(/series\.json.*ENOSPC.*disk is full/s);
    expect(fs.readdirSync(dir).filter((f) => f !== 'LOCK')).toEqual([]);
    // (Their blocks come back once the failed store's mapped buffers are garbage collected.)
  });

  it('register() on a full disk: StorageError, the previous series.json kept, counted, the rings still recording; freed space lets it through', () => {
    const mnt = tmpfs('4m');
    if (mnt === undefined) return;
    const dir = path.join(mnt, 'store');
    const store = Store.open(dir, { schemas: [SMALL] });
    cleanups.push(() => store.close());
    const a = store.register('a');
    const t0 = Math.floor(Date.now() / 1000) * 1000 - 5000;
    store.record(a, 1, t0);
    const filler = fillUp(mnt);

    let err: unknown;
    try {
      store.register('b');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StorageError);
    expect((err as Error).message).toContain('series.json');
    expect((err as Error).message).toContain('disk is full');
    expect(store.find('b')).toBeUndefined();
    expect(fs.existsSync(path.join(dir, 'series.json.tmp'))).toBe(false);
    const index = readMetaFile(path.join(dir, 'series.json'), 'rondo-series') as { series: Array<{ name: string }> };
    expect(index.series.map((s) => s.name)).toEqual(['a']);
    expect(store.info({ series: false }).totals.storageErrors).toBe(1);

    // The rings are mapped and their blocks reserved: recording needs no new space.
    store.record(a, 2, t0 + 1000);
    expect(Array.from(store.query(a, { start: t0, end: t0 + 2000 }).values.slice(0, 2))).toEqual([1, 2]);
    store.flush();

    fs.rmSync(filler);
    const b = store.register('b');
    store.record(b, 3, t0 + 1000);
    store.close();
    const again = Store.openReadOnly(dir);
    expect(again.series().map((h) => h.name)).toEqual(['a', 'b']);
    again.close();
  });
  it('the agent counts a series the full disk refused and registers it on a later tick once there is room', async () => {
    const mnt = tmpfs('4m');
    if (mnt === undefined) return;
    let t = Math.floor(Date.now() / 1000) * 1000 - 600_000;
    let late = false;
    const collector: Collector = {
      name: 'vm',
      collect(ctx) {
        ctx.record('vm_up', {}, 1);
        if (late) ctx.record('vm_late', {}, 2);
      },
    };
    const errors: string[] = [];
    const agent = await Agent.start({
      dir: path.join(mnt, 'store'),
      schemas: [{ ...SMALL, maxSeries: 64 }],
      collectors: [collector],
      onError: (source) => errors.push(source),
      clock: () => t,
      autoTick: false,
    });
    cleanups.push(() => void agent.stop());
    await agent.tick();
    const filler = fillUp(mnt);
    late = true;
    t += 1000;
    await agent.tick();
    expect(errors).toContain('series vm_late');
    expect(agent.store.find('vm_late')).toBeUndefined();
    // The series already registered go on recording on the full disk.
    expect(agent.store.lastPoint(agent.store.find('vm_up')!)).toEqual([t, 1]);
    fs.rmSync(filler);
    t += 1000;
    await agent.tick();
    const h = agent.store.find('vm_late');
    expect(h).toBeDefined();
    expect(agent.store.lastPoint(h!)).toEqual([t, 2]);
    expect(agent.store.info({ series: false }).totals.storageErrors).toBeGreaterThanOrEqual(1);
    await agent.stop();
  });
});

/**
 * ext4 on a loop device; fail() shuts the file system down (the EXT4_IOC_SHUTDOWN ioctl, with no
 * log flush, what a dying disk looks like to the file system): from then on every write, fsync and
 * msync to it fails with EIO. undefined (with the reason printed) when that cannot be made here.
 */
function failingExt4(): { mnt: string; fail: () => void } | undefined {
  for (const cmd of ['losetup', 'mkfs.ext4', 'python3'])
    if (!which(cmd)) {
      console.warn(`faults-disk: ${cmd} is not installed (util-linux, e2fsprogs, python3): EIO tests skipped`);
      return undefined;
    }
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'rondo-faults-eio-'));
  const img = path.join(work, 'disk.img');
  const mnt = path.join(work, 'mnt');
  fs.mkdirSync(mnt);
  const steps: Array<() => void> = [];
  cleanups.push(() => {
    for (const s of steps.reverse()) {
      try {
        s();
      } catch (e) {
        console.warn(`faults-disk cleanup: ${(e as Error).message.split('\n')[0]}`);
      }
    }
    fs.rmSync(work, { recursive: true, force: true });
  });
  try {
    fs.writeFileSync(img, '');
    fs.truncateSync(img, 64 * 1024 * 1024);
    run('mkfs.ext4', ['-q', '-F', img]);
    run('mount', ['-o', 'loop', img, mnt]);
    // Lazily: the slabs' pages stay mapped while JavaScript still holds their buffers.
    steps.push(() => run('umount', ['-l', mnt]));
  } catch (e) {
    console.warn(`faults-disk: cannot loop-mount an ext4 image (${(e as Error).message.split('\n')[0]}): EIO tests skipped`);
    return undefined;
  }
  // EXT4_IOC_SHUTDOWN = _IOR('X', 125, __u32); EXT4_GOING_FLAGS_NOLOGFLUSH = 2.
  const shutdown = `import fcntl, os, struct\nfd = os.open(${JSON.stringify(mnt)}, os.O_RDONLY)\nfcntl.ioctl(fd, 0x8004587d, struct.pack('I', 2))`;
  return { mnt, fail: () => run('python3', ['-c', shutdown]) };
}

describe.skipIf(!isRoot)('fsync and msync failures', () => {
  it('flush() and register() on a disk that fails every I/O throw StorageError, are counted, and recording and reading go on in memory', () => {
    const disk = failingExt4();
    if (disk === undefined) return;
    const dir = path.join(disk.mnt, 'store');
    const store = Store.open(dir, { schemas: [SMALL] });
    const a = store.register('a');
    const t0 = Math.floor(Date.now() / 1000) * 1000 - 700_000;
    store.record(a, 1, t0);
    store.flush();
    const exporter = store.exporter('dest');
    const batch = exporter.next({ maxSamples: 10 });
    expect(batch.samples).toBe(1);

    disk.fail();
    store.record(a, 2, t0 + 1000);
    let flushErr: unknown;
    try {
      store.flush();
    } catch (e) {
      flushErr = e;
    }
    expect(flushErr).toBeInstanceOf(StorageError);
    expect((flushErr as Error).message).toContain('may not be on disk');

    let regErr: unknown;
    try {
      store.register('b');
    } catch (e) {
      regErr = e;
    }
    expect(regErr).toBeInstanceOf(StorageError);
    expect((regErr as Error).message).toContain('series.json');
    expect(store.find('b')).toBeUndefined();
    expect(store.info({ series: false }).totals.storageErrors).toBe(2);

    // The mapped ring still takes points and answers queries from memory.
    store.record(a, 3, t0 + 2000);
    expect(Array.from(store.query(a, { start: t0, end: t0 + 3000 }).values.slice(0, 3))).toEqual([1, 2, 3]);
    // A whole lap of the ring, every page of the slab written again after the flush made them
    // clean: the write faults on the shut-down file system are taken (no SIGBUS on this kernel).
    for (let i = 3; i < 603; i++) store.record(a, i + 1, t0 + i * 1000);
    expect(store.lastPoint(a)).toEqual([t0 + 602_000, 603]);
    // Each further flush says so again: an earlier failure is not forgotten as if it were written.
    expect(() => store.flush()).toThrow(StorageError);
    expect(store.info({ series: false }).totals.storageErrors).toBe(3);
    // An exporter's cursor cannot be saved: commit() says so, and the batch is sent again later.
    expect(() => batch.commit()).toThrow(/exporters.*dest\.json.*I\/O error/s);
    // close() flushes once more and reports the failure; the store is closed all the same.
    expect(() => store.close()).toThrow(StorageError);
    expect(store.isClosed).toBe(true);
  });
});

describe.skipIf(!isRoot)('a read-only file system', () => {
  it('the kernel will not remount a store being written read-only; a read-only view of it serves readers and refuses writers with StorageError', () => {
    const mnt = tmpfs('4m');
    if (mnt === undefined) return;
    const dir = path.join(mnt, 'store');
    const store = Store.open(dir, { schemas: [SMALL] });
    cleanups.push(() => store.close());
    const a = store.register('a');
    const t0 = Math.floor(Date.now() / 1000) * 1000 - 5000;
    store.record(a, 1, t0);

    // The slabs are mapped shared and writable, the lock file open for writing: the file system
    // has writers, and `mount -o remount,ro` fails with EBUSY rather than stranding dirty pages.
    expect(() => run('mount', ['-o', 'remount,ro', mnt])).toThrow(/busy/);
    const b = store.register('b');
    store.record(b, 2, t0);
    store.flush();

    // A read-only bind mount of the same file system (no writers through it) can be made.
    const view = fs.mkdtempSync(path.join(os.tmpdir(), 'rondo-faults-ro-'));
    run('mount', ['--bind', mnt, view]);
    cleanups.push(() => {
      run('umount', ['-l', view]);
      fs.rmdirSync(view);
    });
    run('mount', ['-o', 'remount,bind,ro', view]);
    const roDir = path.join(view, 'store');

    // Readers work through it, and see what the writer records after it went read-only.
    store.record(a, 3, t0 + 1000);
    const reader = Store.openReadOnly(roDir);
    expect(reader.series().map((h) => h.name)).toEqual(['a', 'b']);
    expect(Array.from(reader.query(reader.find('a')!, { start: t0, end: t0 + 2000 }).values.slice(0, 2))).toEqual([1, 3]);
    reader.close();

    // A writer cannot take it: its lock file cannot be opened for writing.
    expect(() => Store.open(roDir)).toThrow(StorageError);
    // A metadata file written there: StorageError that says read-only, and the file as it was.
    const before = fs.readFileSync(path.join(roDir, 'series.json'), 'utf8');
    expect(() => writeMetaFile(path.join(roDir, 'series.json'), 'rondo-series', { series: [] })).toThrow(/series\.json.*read-only.*remount it read-write/s);
    expect(fs.readFileSync(path.join(roDir, 'series.json'), 'utf8')).toBe(before);
  });
});
