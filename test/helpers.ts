import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach } from 'vitest';
import type { SchemaOptions } from '../src/index';

// Every temporary directory a test file makes comes from here, so each is removed once its
// test (tempDir) or its file (suiteTempDir) is done, whatever the outcome.
const forTest = new Set<string>();
const forFile = new Set<string>();
const removeAll = (dirs: Set<string>) => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  dirs.clear();
};
afterEach(() => removeAll(forTest));
afterAll(() => removeAll(forFile));

function make(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A fresh directory for one test, removed after it. */
export function tempDir(prefix = 'rondo-test-'): string {
  const d = make(prefix);
  forTest.add(d);
  return d;
}

/**
 * A fresh directory that outlives a single test (made in beforeAll, or for a receiver daemon a
 * describe block shares), removed after the test file's last test, or earlier by removeTempDir().
 */
export function suiteTempDir(prefix = 'rondo-test-'): string {
  const d = make(prefix);
  forFile.add(d);
  return d;
}

/** Removes a directory made by tempDir() or suiteTempDir() now, rather than at the end. */
export function removeTempDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
  forTest.delete(dir);
  forFile.delete(dir);
}

/** A time aligned to `step` ms, `ago` ms in the past. */
export function alignedPast(ago: number, step = 300_000): number {
  return Math.floor((Date.now() - ago) / step) * step;
}

export const VMM_SCHEMA: SchemaOptions = {
  name: 'vmm',
  match: {},
  maxSeries: 64,
  tiers: [
    { interval: '1s', retention: '10m' },
    { interval: '10s', retention: '6h', consolidate: 'avg' },
    { interval: '5m', retention: '7d', consolidate: 'avg', xff: 0.5 },
  ],
};

/** Threads and open file descriptors of this process: what a VM must give back when it ends. */
export interface ProcessCounts {
  threads: number;
  fds: number;
}

export function processCounts(): ProcessCounts {
  return { threads: fs.readdirSync('/proc/self/task').length, fds: fs.readdirSync('/proc/self/fd').length };
}

/** The VMM's vCPU threads alive in this process (they are named rondo-vcpu<N>). */
export function vcpuThreads(): number {
  let n = 0;
  for (const t of fs.readdirSync('/proc/self/task')) {
    try {
      if (fs.readFileSync(`/proc/self/task/${t}/comm`, 'utf8').startsWith('rondo-vcpu')) n++;
    } catch {
      // the thread ended meanwhile
    }
  }
  return n;
}

/**
 * Runs `node <args>` with a terminal for stdin, stdout and stderr (util-linux's `script` gives it
 * a pty): what a person at the terminal sees, both streams in the order written.
 */
export function underTerminal(args: readonly string[]): Promise<{ code: number | null; text: string }> {
  const quoted = [process.execPath, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qec', quoted, '/dev/null'], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, COLUMNS: '100' } });
    const out: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 50_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, text: Buffer.concat(out).toString('utf8') });
    });
  });
}
