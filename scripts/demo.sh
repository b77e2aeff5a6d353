#!/usr/bin/env bash
# npm run demo: a 10-second VM on KVM with the rondo agent embedded, then the exits it recorded
# every second, drawn in the terminal by `rondo query --format chart`, and the VM's lifecycle as
# its event ring kept it (`rondo events`), and the URL of the VM's page in `rondo serve`.
# `npm run demo -- --serve` then keeps serving the page (rondo serve vm-metrics) until Ctrl-C;
# other arguments go to `rondo-vmm run`.
set -euo pipefail
cd "$(dirname "$0")/.."
serve=0
args=()
for a in "$@"; do
  if [ "$a" = "--serve" ]; then serve=1; else args+=("$a"); fi
done
[ -f build/Release/rondo.node ] && [ -f build/Release/rondo_kvm.node ] || npx node-gyp rebuild
npx tsc -p tsconfig.json
node dist/demo-vmm/cli.js run --duration 10s --store vm-metrics --id demo ${args[@]+"${args[@]}"}
echo
echo "vCPU 0's exits per second, as recorded (rondo query vm-metrics '...' --rate --tier 0 --format chart):"
echo
node dist/src/cli/main.js query vm-metrics 'vmm_vcpu_exits_total{vcpu="0",reason=~"io_in|io_out|mmio_read|mmio_write|hlt"}' \
  --rate --tier 0 --start -14s --end now --format chart
echo
echo "the VM's lifecycle, as its store kept it (rondo events vm-metrics --topic /vm/demo/lifecycle):"
echo
node dist/src/cli/main.js events vm-metrics --topic /vm/demo/lifecycle
echo
listen=${RONDO_DEMO_LISTEN:-127.0.0.1:9464}
if [ "$serve" = 1 ]; then
  echo "the VM's page: http://$listen/?vm=demo (rondo serve vm-metrics --read-only; Ctrl-C stops it)"
  exec node dist/src/cli/main.js serve vm-metrics --read-only --listen "$listen"
fi
echo "the VM's page: http://$listen/?vm=demo once served (npm run demo -- --serve, or rondo serve vm-metrics --read-only)"
