// The "tenant" hook in JavaScript: the twin of examples/hooks/tenant/assembly/index.ts (the
// AssemblyScript hook, compiled to WebAssembly), deciding exactly the same; the tests check both on
// the same 10 000 samples. Load it with `rondo serve --hook examples/hooks/tenant/tenant.js` or
// `Store.open(dir, { hooks: [require('./tenant.js')] })`.
//
//   - drops every series whose name starts with "debug_";
//   - renames "*_ns" to "*_seconds" and divides the value by 1e9 (nanoseconds to seconds);
//   - caps "wild_total" at 1e12;
//   - adds a "tenant" label from the "vm" label ("acme-7" -> "acme", no "-" -> "default"),
//     unless the sample has a tenant already;
//   - moves StatsD samples to the start of their second;
//   - keeps everything else as it is.
'use strict';

/** @type {import('rondo').Hook} */
module.exports = {
  name: 'tenant',
  onSample(sample) {
    const { name } = sample;
    if (name.startsWith('debug_')) return false;
    const change = {};
    let value = sample.value;
    if (name.endsWith('_ns')) {
      change.name = `${name.slice(0, -3)}_seconds`;
      value = value / 1e9;
      change.value = value;
    }
    if (name === 'wild_total' && value > 1e12) change.value = 1e12;
    const vm = sample.labels.vm;
    if (vm !== undefined && sample.labels.tenant === undefined) {
      const dash = vm.lastIndexOf('-');
      change.labels = { ...sample.labels, tenant: dash > 0 ? vm.slice(0, dash) : 'default' };
    }
    if (sample.source === 'statsd') {
      const second = Math.floor(sample.timestamp / 1000) * 1000;
      if (second !== sample.timestamp) change.timestamp = second;
    }
    return Object.keys(change).length > 0 ? change : undefined;
  },
};
