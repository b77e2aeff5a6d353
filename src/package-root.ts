// The package's root directory (where package.json, build/ and proto/ are), found from this
// file's own place, so compiled code works whatever the depth of the output directory.
import * as fs from 'node:fs';
import * as path from 'node:path';

function findRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: unknown };
      if (pkg.name === 'rondo') return dir;
    } catch {
      // not here: go up
    }
    if (path.dirname(dir) === dir) throw new Error(`rondo: cannot find the package root above ${from}`);
  }
}

export const PACKAGE_ROOT = findRoot(__dirname);

/**
 * The compiled addon `name` (rondo, rondo_kvm or rondo_dev): in $RONDO_ADDON_DIR when set, else
 * in build/<variant>/ of the package, the variant being $RONDO_ADDON_BUILD (default Release; the
 * ASan suite uses Asan). Both loaders (store/native.ts, kvm/native.ts) and the dev addon's use it.
 */
export function addonFile(name: 'rondo' | 'rondo_kvm' | 'rondo_dev'): string {
  const dir = process.env.RONDO_ADDON_DIR;
  if (dir !== undefined && dir !== '') return path.resolve(dir, `${name}.node`);
  return path.join(PACKAGE_ROOT, 'build', process.env.RONDO_ADDON_BUILD ?? 'Release', `${name}.node`);
}
