// The KVM addon (build/<variant>/rondo_kvm.node or its prebuilt binary; native/kvm/), loaded on first use: it is built
// only on Linux x64, so importing rondo/kvm elsewhere works, and the first call says why there
// is no KVM. It is its own addon: the store's (rondo.node) works without it.
import { addonFile } from '../package-root';

let loaded: unknown;

/** The KVM addon's exports; `unavailable(message)` makes the error thrown when it cannot load. */
export function loadKvmAddon<T>(unavailable: (message: string) => Error): T {
  if (loaded === undefined) {
    if (process.platform !== 'linux' || process.arch !== 'x64')
      throw unavailable(`the KVM layer runs on Linux x64 only (this is ${process.platform} ${process.arch}); the store, export and agent work here without it`);
    let file: string;
    try {
      file = addonFile('rondo_kvm');
    } catch (e) {
      throw unavailable((e as Error).message); // none fits: the loader's message says why and what to do
    }
    try {
      loaded = require(file) as unknown;
    } catch (e) {
      throw unavailable(`the KVM addon ${file} did not load (${(e as Error).message}); rebuild it with npm rebuild rondo`);
    }
  }
  return loaded as T;
}
