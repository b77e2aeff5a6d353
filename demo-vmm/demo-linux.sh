#!/usr/bin/env bash
# npm run demo:linux: builds the Linux guest (Debian's kernel and a busybox initramfs, see
# demo-vmm/guest/build.sh), boots its vmlinux through the PVH entry on KVM with the rondo agent
# embedded, then charts the exits the agent recorded every second. Arguments go to `rondo-vmm run`
# (e.g. --kernel demo-vmm/guest/out/bzImage, --hide-cpuid cx16, --duration 10m).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f build/Release/rondo.node ] && [ -f build/Release/rondo_kvm.node ] || npx node-gyp rebuild
npx tsc -p tsconfig.json
out="$(bash demo-vmm/guest/build.sh)"
status=0
node dist/demo-vmm/cli.js run --kernel "$out/vmlinux" --initrd "$out/initramfs.cpio.gz" --store vm-metrics \
  --duration "${RONDO_DEMO_LIMIT:-5m}" "$@" || status=$?
[ "$status" -le 1 ] || exit "$status"
echo
echo "vCPU 0's exits per second, as recorded (rondo query vm-metrics '...' --rate --tier 0 --format chart):"
echo
node dist/src/cli/main.js query vm-metrics 'vmm_vcpu_exits_total{vcpu="0",reason=~"io_in|io_out"}' \
  --rate --tier 0 --start -90s --end now --format chart
node dist/src/cli/main.js query vm-metrics 'kvm_vcpu_exits_total{vcpu="0"}' --rate --tier 0 --start -90s --end now --format chart
# Exit 1 from the run means the guest ended in error (here: the emulated KVM's internal error,
# reported above); the demo itself went fine.
exit 0
