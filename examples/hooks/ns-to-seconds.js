// A rondo hook (docs/hooks.md): KVM's nanosecond statistics in seconds.
//
// Series in nanoseconds (a statsd or Influx client's `request_ns`, a remote-write sender's
// `…_ns_total`) in Prometheus's base unit. This hook renames each `<name>_ns` to
// `<name>_seconds` (`<name>_seconds_total` for a counter, Prometheus's way) and divides its value
// by 1e9. Everything else passes unchanged. (rondo's KVM collector scales KVM's nanosecond
// statistics to seconds itself: with this hook on a VMM's store it finds nothing to rename.)
//
//   rondo serve ./metrics --hook examples/hooks/ns-to-seconds.js
//   rondo-vmm run --hook examples/hooks/ns-to-seconds.js      (npm run demo -- --hook ...)
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
