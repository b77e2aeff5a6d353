// A rondo hook (docs/hooks.md): KVM's nanosecond statistics in seconds.
//
// The kernel's binary statistics in nanoseconds (halt_poll_success_ns, halt_wait_ns, ...) are
// recorded by the KVM collector as kvm_vm_<stat> / kvm_vcpu_<stat>. This hook renames each
// `<name>_ns` to `<name>_seconds` (`<name>_seconds_total` for a counter, Prometheus's way) and
// divides its value by 1e9. Everything else passes unchanged.
//
//   rondo-vmm run --hook examples/hooks/ns-to-seconds.js      (npm run demo -- --hook ...)
//   rondo serve ./metrics --hook examples/hooks/ns-to-seconds.js
'use strict';

/** The name in seconds for a name in nanoseconds, or undefined when it is not one. */
function secondsName(name, kind) {
  const m = /^(.*)_(ns|nanoseconds)(_total)?$/.exec(name);
  if (m === null) return undefined;
  return kind === 'counter' ? `${m[1]}_seconds_total` : `${m[1]}_seconds`;
}

module.exports = {
  name: 'ns-to-seconds',
  secondsName,
  onSample(sample) {
    const name = secondsName(sample.name, sample.kind);
    if (name === undefined) return undefined; // keep
    return { name, value: sample.value / 1e9 };
  },
};
