// The package as a user gets it from a registry: the prebuilt binaries made (scripts/prebuild.sh,
// at once when they are current), `npm pack`, and the tarball installed into a fresh directory by
// `npm ci --ignore-scripts --offline` with a PATH that holds node and npm and nothing else (no cc,
// gcc, g++, make, python3: nothing could compile). No vitest import: test files call it.
//
// Offline: the app's lockfile names rondo's dependencies at the versions and integrity hashes of
// the repository's own package-lock.json (its entries that are not dev-only), so npm takes their
// tarballs from its cache, where the repository's own `npm ci` put them; npm is not asked to
// reach the registry (when the cache lacks one, the install fails with npm's ENOTCACHED, and
// RONDO_INSTALL_ONLINE=1 lets it fetch what is missing).
import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT } from './built';

export interface PackedInstall {
  /** The tarball `npm pack` made. */
  tarball: string;
  /** The app directory: node_modules/rondo installed from the tarball. */
  app: string;
  /** The environment its commands run in: PATH is `bin` alone, LD_BIND_NOW set. */
  env: NodeJS.ProcessEnv;
  /** The directory on PATH: node and npm, nothing else. */
  bin: string;
}

/** Where npm's own script is (npm on PATH, followed through its symlinks). */
function npmCli(): string {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const p = path.join(dir, 'npm');
    if (dir !== '' && fs.existsSync(p)) return fs.realpathSync(p);
  }
  throw new Error('npm is not on PATH');
}

/** Runs npm with `env` (node from process.execPath, so it works with PATH stripped). */
export function npm(args: string[], cwd: string, env: NodeJS.ProcessEnv): string {
  return execFileSync(process.execPath, [npmCli(), ...args], { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

interface LockEntry {
  version: string;
  resolved?: string;
  integrity?: string;
  dev?: boolean;
  devOptional?: boolean;
  [k: string]: unknown;
}

export function packAndInstall(tmp: string): PackedInstall {
  execFileSync('bash', [path.join(ROOT, 'scripts', 'prebuild.sh')], { stdio: ['ignore', 'pipe', 'pipe'] });
  const bin = path.join(tmp, 'bin');
  fs.mkdirSync(bin);
  fs.symlinkSync(process.execPath, path.join(bin, 'node'));
  fs.symlinkSync(npmCli(), path.join(bin, 'npm'));
  // LD_BIND_NOW: every symbol a binary names (the old glibc versions native/portable/ pins among
  // them) is resolved when it loads, not at its first call.
  const env: NodeJS.ProcessEnv = { PATH: bin, HOME: process.env.HOME, TMPDIR: tmp, LD_BIND_NOW: '1' };
  if (process.env.npm_config_cache !== undefined) env.npm_config_cache = process.env.npm_config_cache;

  // --ignore-scripts: prepack would build the prebuilds and dist/ again, done already (above, and
  // before vitest started).
  const packed = JSON.parse(npm(['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], ROOT, env)) as { filename: string }[];
  const tarball = path.join(tmp, (packed[0] as { filename: string }).filename);

  const app = path.join(tmp, 'app');
  fs.mkdirSync(app);
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as Record<string, unknown>;
  const repoLock = JSON.parse(fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
  const spec = `file:${path.relative(app, tarball)}`;
  const root = { name: 'app', version: '1.0.0', dependencies: { rondo: spec } };
  const packages: Record<string, unknown> = {
    '': root,
    'node_modules/rondo': {
      version: pkg.version,
      resolved: spec,
      integrity: `sha512-${crypto.createHash('sha512').update(fs.readFileSync(tarball)).digest('base64')}`,
      license: pkg.license,
      dependencies: pkg.dependencies,
      engines: pkg.engines,
      os: pkg.os,
      bin: pkg.bin,
    },
  };
  for (const [where, entry] of Object.entries(repoLock.packages)) {
    if (where === '' || entry.dev === true || entry.devOptional === true) continue;
    const name = where.slice(where.lastIndexOf('node_modules/') + 'node_modules/'.length);
    packages[where] = { ...entry, resolved: entry.resolved ?? `https://registry.npmjs.org/${name}/-/${name.split('/').pop()}-${entry.version}.tgz` };
  }
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify(root, null, 2));
  fs.writeFileSync(path.join(app, 'package-lock.json'), JSON.stringify({ name: 'app', version: '1.0.0', lockfileVersion: 3, requires: true, packages }, null, 2));
  const online = process.env.RONDO_INSTALL_ONLINE === '1';
  try {
    npm(['ci', '--ignore-scripts', online ? '--prefer-offline' : '--offline', '--no-audit', '--no-fund'], app, env);
  } catch (e) {
    const stderr = String((e as { stderr?: unknown }).stderr ?? '');
    if (!online && stderr.includes('ENOTCACHED'))
      throw new Error(`npm's cache lacks a dependency of rondo (run npm ci in the checkout, or set RONDO_INSTALL_ONLINE=1 to let this test fetch it): ${stderr}`);
    throw e;
  }
  return { tarball, app, env, bin };
}
