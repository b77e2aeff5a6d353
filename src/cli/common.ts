// Shared pieces of the rondo command: argument parsing, errors, output.
import { RondoError } from '../errors';

/** A mistake in how the command was called: printed as one line, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export interface ParsedArgs {
  /** Positional arguments, in order. */
  positional: string[];
  /** Flags with values (`--format json`, `--format=json`); repeated flags keep every value. */
  values: Map<string, string[]>;
  /** Flags without values (`--rate`). */
  switches: Set<string>;
}

/**
 * Parses argv against the flags a command knows: `valued` take a value, `booleans` do not.
 * Unknown flags are a UsageError naming the command's --help.
 */
export function parseArgs(cmd: string, argv: readonly string[], valued: readonly string[], booleans: readonly string[]): ParsedArgs {
  const out: ParsedArgs = { positional: [], values: new Map(), switches: new Set() };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      out.positional.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith('--') || a === '-') {
      out.positional.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
    if (booleans.includes(name)) {
      if (eq >= 0) throw new UsageError(`rondo ${cmd}: --${name} takes no value`);
      out.switches.add(name);
    } else if (valued.includes(name)) {
      const v = eq >= 0 ? a.slice(eq + 1) : argv[++i];
      if (v === undefined) throw new UsageError(`rondo ${cmd}: --${name} needs a value; see rondo ${cmd} --help`);
      const list = out.values.get(name) ?? [];
      list.push(v);
      out.values.set(name, list);
    } else {
      throw new UsageError(`rondo ${cmd}: unknown option --${name}; see rondo ${cmd} --help`);
    }
  }
  return out;
}

/** The last value of a flag, or undefined. */
export function flag(args: ParsedArgs, name: string): string | undefined {
  const v = args.values.get(name);
  return v === undefined ? undefined : v[v.length - 1];
}

/** One line for stderr from any error: the first line of its message, with its class name. */
export function errorLine(e: unknown): string {
  if (e instanceof UsageError) return e.message;
  if (e instanceof RondoError) return `rondo: ${e.name}: ${e.message.split('\n')[0]}`;
  const err = e as Error;
  return `rondo: ${err?.name ?? 'Error'}: ${String(err?.message ?? e).split('\n')[0]}`;
}
