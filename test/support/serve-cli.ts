// `rondo serve` as a user runs it: the built CLI in a child process, started and stopped by the
// tests that need the command itself (its flags, its start line, its signals).
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';

export const CLI = path.join(__dirname, '..', '..', 'dist', 'src', 'cli', 'main.js');

const children = new Set<ChildProcess>();
// Servers still running when the test process exits are killed, so none outlive a failed test.
process.on('exit', () => killServes());

/** SIGKILL every server startServe() started and no stopServe() ended (for afterAll). */
export function killServes(): void {
  for (const c of children) c.kill('SIGKILL');
  children.clear();
}

export interface RunningServe {
  child: ChildProcess;
  /** The URL the start line names. */
  url: string;
  /** The start line, whole. */
  line: string;
  /** What the server printed on stderr so far. */
  stderr: () => string;
}

/** Starts rondo serve with these arguments; resolves once its start line says where it listens. */
export function startServe(args: string[], timeoutMs = 30_000): Promise<RunningServe> {
  const child = spawn(process.execPath, [CLI, 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`rondo serve did not start: ${err}`)), timeoutMs);
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /on (https?:\/\/\S+)/.exec(out);
      if (m !== null && out.includes('\n')) {
        clearTimeout(timer);
        resolve({ child, url: m[1]!, line: out.split('\n')[0]!, stderr: () => err });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`rondo serve exited with ${code}: ${err}`));
    });
  });
}

/** Sends `signal` (SIGTERM by default) and resolves with the exit code. */
export function stopServe(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  return new Promise((resolve) => {
    child.once('exit', (code) => {
      children.delete(child);
      resolve(code);
    });
    child.kill(signal);
  });
}
