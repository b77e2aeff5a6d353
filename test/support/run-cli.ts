// The built commands run as a user runs them: a child process whose exit code and output the
// tests look at. One runner for every command test (rondo's and rondo-vmm's).
import { spawn } from 'node:child_process';
import { CLI } from './serve-cli';

export interface CliRun {
  code: number | null;
  /** stdout as UTF-8 text. */
  stdout: string;
  /** stdout as it came (binary formats). */
  stdoutBytes: Buffer;
  stderr: string;
}

export interface RunOptions {
  /** Added to this process's environment. */
  env?: Record<string, string>;
  cwd?: string;
  /** SIGKILL the child after this many ms (a hung command fails its test rather than the run). */
  killAfterMs?: number;
}

/** Runs `node file ...args` and resolves with its exit code and output once it has closed. */
export function runNode(file: string, args: readonly string[], options: RunOptions = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [file, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
      ...(options.env === undefined ? {} : { env: { ...process.env, ...options.env } }),
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    const timer = options.killAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), options.killAfterMs);
    child.on('error', reject);
    child.on('close', (code) => {
      if (timer !== undefined) clearTimeout(timer);
      const bytes = Buffer.concat(out);
      resolve({ code, stdout: bytes.toString('utf8'), stdoutBytes: bytes, stderr: Buffer.concat(err).toString('utf8') });
    });
  });
}

/** Runs the built `rondo` command with these arguments. */
export function rondo(args: readonly string[], options: RunOptions = {}): Promise<CliRun> {
  return runNode(CLI, args, options);
}
