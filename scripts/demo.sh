#!/usr/bin/env bash
# npm run demo: a 10-second VM on KVM with the rondo agent embedded, then the exits it recorded
# every second, drawn in the terminal by `rondo query --format chart`, and the VM's lifecycle as
# its event ring kept it (`rondo events`).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f build/Release/rondo.node ] && [ -f build/Release/rondo_kvm.node ] || npx node-gyp rebuild
npx tsc -p tsconfig.json
node dist/demo-vmm/cli.js run --duration 10s --store vm-metrics --id demo "$@"
echo
echo "vCPU 0's exits per second, as recorded (rondo query vm-metrics '...' --rate --tier 0 --format chart):"
echo
node dist/src/cli/main.js query vm-metrics 'vmm_vcpu_exits_total{vcpu="0",reason=~"io_in|io_out|mmio_read|mmio_write|hlt"}' \
  --rate --tier 0 --start -14s --end now --format chart
echo
echo "the VM's lifecycle, as its store kept it (rondo events vm-metrics --topic /vm/demo/lifecycle):"
echo
node dist/src/cli/main.js events vm-metrics --topic /vm/demo/lifecycle
