// The KVM addon (native/kvm/), loaded on first use: it is built only on Linux x64, so importing
// rondo/kvm elsewhere works, and the first call says why there is no KVM.
import * as path from 'node:path';
import { PACKAGE_ROOT } from '../package-root';

let loaded: unknown;

/** The addon's `kvm` object; `unavailable(message)` makes the error thrown when it cannot load. */
export function loadKvmAddon<T>(unavailable: (message: string) => Error): T {
  if (loaded === undefined) {
    if (process.platform !== 'linux' || process.arch !== 'x64')
      throw unavailable(`the KVM layer runs on Linux x64 only (this is ${process.platform} ${process.arch}); the store, export and agent work here without it`);
    const variant = process.env.RONDO_ADDON_BUILD ?? 'Release';
    const file = path.join(PACKAGE_ROOT, 'build', variant, 'rondo.node');
    try {
      loaded = (require(file) as { kvm: unknown }).kvm;
    } catch (e) {
      throw unavailable(`the KVM addon ${file} did not load (${(e as Error).message}); rebuild it with npm rebuild rondo`);
    }
  }
  return loaded as T;
}
