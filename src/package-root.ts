// The package's root directory (where package.json, build/ and proto/ are), found from this
// file's own place, so compiled code works whatever the depth of the output directory.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NativeAddonMissingError } from './errors';

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

/** The package's version, from its package.json (what `rondo --version` prints). */
export function packageVersion(): string {
  return String((JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version?: unknown }).version);
}

/** What node-gyp-build exports besides its loader: the matching of prebuilds/ by platform and tags. */
interface PrebuildMatcher {
  parseTuple(name: string): { name: string } | undefined;
  matchTuple(platform: string, arch: string): (t: { name: string } | undefined) => boolean;
  compareTuples(a: { name: string }, b: { name: string }): number;
  parseTags(file: string): { file: string } | undefined;
  matchTags(runtime: string, abi: string): (t: { file: string } | undefined) => boolean;
  compareTags(runtime: string): (a: { file: string }, b: { file: string }) => number;
}

function entries(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

/**
 * The prebuilt binary of addon `name` for this machine in prebuilds/<platform>-<arch>/ (made by
 * scripts/prebuild.sh with prebuildify: `<name>.glibc.node`, N-API, any Node version), chosen by
 * node-gyp-build's own rules (platform, arch, libc, runtime). node-gyp-build's loader takes the
 * first .node file it finds, and the package has two addons: hence its rules, with the name here.
 */
function prebuildFile(name: string): string | undefined {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const m = require('node-gyp-build') as PrebuildMatcher;
  const dir = path.join(PACKAGE_ROOT, 'prebuilds');
  const tuple = entries(dir)
    .map((e) => m.parseTuple(e))
    .filter(m.matchTuple(process.platform, process.arch))
    .sort((a, b) => m.compareTuples(a as { name: string }, b as { name: string }))[0];
  if (tuple === undefined) return undefined;
  const winner = entries(path.join(dir, tuple.name))
    .filter((f) => f.startsWith(`${name}.`))
    .map((f) => m.parseTags(f))
    .filter(m.matchTags('node', process.versions.modules))
    .sort((a, b) => m.compareTags('node')(a as { file: string }, b as { file: string }))[0];
  return winner === undefined ? undefined : path.join(dir, tuple.name, winner.file);
}

/** This process's libc as the error names it: glibc and its version, else what it must be. */
function libcName(): string {
  if (process.platform !== 'linux') return process.platform;
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return header?.glibcVersionRuntime !== undefined ? `glibc ${header.glibcVersionRuntime}` : 'not glibc (musl?)';
}

/**
 * The compiled addon `name` (rondo, rondo_kvm or rondo_dev): in $RONDO_ADDON_DIR when set; in
 * build/$RONDO_ADDON_BUILD/ when that is set (the ASan suite's Asan); else build/Release/'s when
 * one was compiled there (by `npm install` where no prebuilt binary fits, or in a checkout), else
 * the prebuilt one for this platform (prebuildFile). When none fits, NativeAddonMissingError says
 * what this machine is and the ways out. The dev addon is never prebuilt: its path in build/
 * Release/ is returned, and its loader says when it is missing. Both loaders (store/native.ts,
 * kvm/native.ts), the codec's and the dev addon's use it.
 */
export function addonFile(name: 'rondo' | 'rondo_kvm' | 'rondo_dev'): string {
  const dir = process.env.RONDO_ADDON_DIR;
  if (dir !== undefined && dir !== '') return path.resolve(dir, `${name}.node`);
  const variant = process.env.RONDO_ADDON_BUILD;
  if (variant !== undefined && variant !== '') return path.join(PACKAGE_ROOT, 'build', variant, `${name}.node`);
  const built = path.join(PACKAGE_ROOT, 'build', 'Release', `${name}.node`);
  if (name === 'rondo_dev' || fs.existsSync(built)) return built;
  const prebuilt = prebuildFile(name);
  if (prebuilt !== undefined) return prebuilt;
  throw new NativeAddonMissingError(
    `rondo: no compiled ${name}.node fits this machine (${process.platform}-${process.arch}, ${libcName()}, ` +
      `Node ${process.versions.node}, ABI ${process.versions.modules}, N-API ${process.versions.napi ?? '?'}): ` +
      `there is no prebuilt binary for it in ${path.join(PACKAGE_ROOT, 'prebuilds')} (rondo ships them for linux-x64 ` +
      `with glibc 2.31 or later) and none was compiled into ${path.dirname(built)} at install. ` +
      'Install python3, make and a C++ compiler (g++ 10 or later) and run `npm rebuild rondo` ' +
      '(pnpm, bun and --ignore-scripts skip the compile: run it by hand), or use linux-x64 with glibc 2.31 or later',
  );
}
