// `--hook FILE` (rondo serve): a JavaScript module exporting a hook or an array of hooks
// (module.exports = hook, or exports.default / exports.hooks), loaded into the server's process:
// trusted code, run on its thread (docs/hooks.md). A `.wasm` file is a WebAssembly hook.
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadWasmHook, type Hook } from '../hooks';
import { UsageError } from './common';

// A real dynamic import (the build is CommonJS, where `import()` becomes require()): for ES modules.
const importModule = new Function('u', 'return import(u)') as (u: string) => Promise<Record<string, unknown>>;

/** The hooks the files give, in the order given (a file's array in its order). */
export async function loadHookFiles(cmd: string, files: readonly string[]): Promise<Hook[]> {
  const out: Hook[] = [];
  for (const file of files) {
    const abs = path.resolve(file);
    if (abs.endsWith('.wasm')) {
      // A WebAssembly hook: checked, metered and given its memory limit (docs/hooks.md).
      try {
        out.push(await loadWasmHook(abs));
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        const why = err.code === 'ENOENT' ? 'cannot be read (ENOENT)' : `is not a WebAssembly hook: ${String(err.message).split('\n')[0]}`;
        throw new UsageError(`rondo ${cmd}: --hook ${JSON.stringify(file)} ${why}`);
      }
      continue;
    }
    let mod: unknown;
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      mod = abs.endsWith('.mjs') ? await importModule(pathToFileURL(abs).href) : require(abs);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code === 'ERR_REQUIRE_ESM') mod = await importModule(pathToFileURL(abs).href);
      else if (err.code === 'MODULE_NOT_FOUND' && String(err.message).includes(abs))
        throw new UsageError(`rondo ${cmd}: --hook ${JSON.stringify(file)} cannot be read (ENOENT)`);
      else throw new UsageError(`rondo ${cmd}: --hook ${JSON.stringify(file)} failed to load: ${String(err.message).split('\n')[0]}`);
    }
    const m = mod as Record<string, unknown> | undefined;
    const given = m !== undefined && m !== null && typeof m === 'object' && !('name' in m) ? (m.default ?? m.hooks ?? m) : m;
    const list = Array.isArray(given) ? given : [given];
    for (const h of list) {
      if (typeof h !== 'object' || h === null || typeof (h as Hook).name !== 'string')
        throw new UsageError(`rondo ${cmd}: --hook ${JSON.stringify(file)} must export a hook ({ name, onSample?, rollup? }) or an array of hooks`);
      out.push(h as Hook);
    }
  }
  return out;
}
