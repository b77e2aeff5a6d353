#!/usr/bin/env bash
# Installs what the tests run for real: Debian's prometheus and victoria-metrics (remote-write
# receivers started by the tests on loopback; prometheus also brings promtool, which checks and
# unit-tests the alert rules of mixin/ in test/mixin.test.ts), influxdb and influxdb-client (the InfluxDB 1.x
# reference the Influx doors are compared against, and its `influx` CLI), netcat-openbsd (`nc`, for
# the shell examples of the Influx and StatsD doors), and busybox-static and linux-image-amd64 (the
# Linux guest that demo-vmm/guest/build.sh makes for test/linux-boot.test.ts), and clang and lld (the C
# example WebAssembly hook, examples/hooks/p99, compiled for wasm32 by test/hooks-wasm.test.ts),
# binutils (objdump: the glibc versions the prebuilt binaries need, test/install.test.ts), openssl
# (the test CA and certificates of test/push-tls.test.ts; victoria-metrics also brings the vmagent of
# test/scale-out.test.ts), and chromium (the browser test/page.test.ts drives headless through
# puppeteer-core). Run by `npm test`; does nothing when present.
set -euo pipefail
missing=()
command -v prometheus >/dev/null 2>&1 || [ -x /usr/bin/prometheus ] || missing+=(prometheus)
command -v victoria-metrics >/dev/null 2>&1 || [ -x /usr/bin/victoria-metrics ] || missing+=(victoria-metrics)
[ -x /usr/bin/influxd ] || missing+=(influxdb)
[ -x /usr/bin/influx ] || missing+=(influxdb-client)
[ -x /usr/bin/nc.openbsd ] || missing+=(netcat-openbsd)
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q "ok installed" || missing+=(busybox-static)
ls /boot/vmlinuz-* >/dev/null 2>&1 || missing+=(linux-image-amd64)
command -v clang >/dev/null 2>&1 || missing+=(clang)
command -v wasm-ld >/dev/null 2>&1 || missing+=(lld)
command -v objdump >/dev/null 2>&1 || missing+=(binutils)
[ -x /usr/bin/openssl ] || missing+=(openssl)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "rondo tests need: ${missing[*]} (Debian packages). Install them as root: apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "installing ${missing[*]} for the tests" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# INITRD=No: the Linux guest brings its own initramfs; the host's /boot needs none.
INITRD=No apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
