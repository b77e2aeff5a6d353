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
