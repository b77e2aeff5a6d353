// rondo-vmm's argument parsing, on node:util's parseArgs: the demo VMM uses only rondo's public
// entry points, so it does not borrow the rondo command's internals.
import { parseArgs as parseNodeArgs } from 'node:util';
import { RondoError } from '../src/index';

/** A mistake in how the command was called: printed as one line, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export interface ParsedArgs {
  positional: string[];
  /** Every value of each valued flag, in order. */
  values: Map<string, string[]>;
  switches: Set<string>;
}

/** Parses `--name value`, `--name=value` and `--switch`; anything unknown is a UsageError naming `rondo-vmm <cmd> --help`. */
export function parseArgs(cmd: string, argv: readonly string[], valued: readonly string[], booleans: readonly string[]): ParsedArgs {
  const options: Record<string, { type: 'string' | 'boolean'; multiple: boolean }> = {};
  for (const v of valued) options[v] = { type: 'string', multiple: true };
  for (const b of booleans) options[b] = { type: 'boolean', multiple: false };
  let parsed: ReturnType<typeof parseNodeArgs>;
  try {
    parsed = parseNodeArgs({ args: [...argv], options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(`rondo-vmm ${cmd}: ${(e as Error).message.split('\n')[0]}; see rondo-vmm ${cmd} --help`);
  }
  const out: ParsedArgs = { positional: parsed.positionals, values: new Map(), switches: new Set() };
  for (const [name, v] of Object.entries(parsed.values)) {
    if (Array.isArray(v)) out.values.set(name, v.map(String));
    else if (v === true) out.switches.add(name);
  }
  return out;
}

/** The last value of a flag, or undefined. */
export function flag(args: ParsedArgs, name: string): string | undefined {
  const v = args.values.get(name);
  return v === undefined ? undefined : v[v.length - 1];
}

/** One line for stderr from any error, with its class name. */
export function errorLine(e: unknown): string {
  if (e instanceof UsageError) return e.message;
  const err = e as Error;
  const name = e instanceof RondoError ? e.name : (err?.name ?? 'Error');
  return `rondo-vmm: ${name}: ${String(err?.message ?? e).split('\n')[0]}`;
}
