import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach } from 'vitest';
import type { SchemaOptions } from '../src/index';

const made: string[] = [];
afterEach(() => {
  while (made.length > 0) fs.rmSync(made.pop()!, { recursive: true, force: true });
});

/** A fresh directory for one test, removed after it. */
export function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'rondo-test-'));
  made.push(d);
  return d;
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
