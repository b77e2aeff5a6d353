#!/usr/bin/env bash
# Builds the demo Linux guest from Debian's packages into demo-vmm/guest/out/ (or $RONDO_GUEST_OUT):
#   bzImage             the kernel of linux-image-amd64 as Debian ships it (/boot/vmlinuz-*)
#   vmlinux             the same kernel uncompressed, extracted from the bzImage (for the PVH entry)
#   initramfs.cpio.gz   busybox-static and demo-vmm/guest/init
#   kernel-release      the kernel's release, e.g. 6.1.0-56-amd64
# Installs busybox-static and linux-image-amd64 (and xz-utils/zstd to unpack it) with apt when
# they are missing and it runs as root; exits 3 when they are missing and it cannot. Outputs are
# rebuilt only when their inputs changed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${RONDO_GUEST_OUT:-$here/out}"
mkdir -p "$out"
log() { echo "guest build: $*" >&2; }

apt_updated=0
apt_install() {
  if [ "$(id -u)" -ne 0 ]; then
    log "missing: $* (Debian packages); run as root to install them: apt-get install $*"
    exit 3
  fi
  export DEBIAN_FRONTEND=noninteractive
  if [ "$apt_updated" -eq 0 ]; then apt-get update -qq; apt_updated=1; fi
  log "installing $*"
  # INITRD=No: the guest brings its own initramfs; skip building one for the host's /boot.
  INITRD=No apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

newest_kernel() { ls /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1; }

# --- inputs -------------------------------------------------------------------------------------
busybox=/bin/busybox
if ! dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q "ok installed"; then
  apt_install busybox-static
fi
kernel="$(newest_kernel)"
if [ -z "$kernel" ]; then
  apt_install linux-image-amd64
  kernel="$(newest_kernel)"
fi
[ -n "$kernel" ] || { log "no /boot/vmlinuz-* after installing linux-image-amd64"; exit 1; }
release="${kernel#/boot/vmlinuz-}"

# --- the bzImage and the vmlinux inside it ------------------------------------------------------
u8() { od -An -tu1 -j "$2" -N 1 "$1" | tr -d ' '; }
u32() { od -An -tu4 -j "$2" -N 4 "$1" | tr -d ' '; }

if [ ! -f "$out/vmlinux" ] || [ "$(cat "$out/kernel-release" 2>/dev/null)" != "$release" ] || [ "$kernel" -nt "$out/vmlinux" ]; then
  log "kernel $kernel ($release)"
  cp "$kernel" "$out/bzImage.tmp" && mv "$out/bzImage.tmp" "$out/bzImage"
  [ "$(od -An -c -j 514 -N 4 "$out/bzImage" | tr -d ' ')" = "HdrS" ] || { log "$kernel is not a bzImage"; exit 1; }
  # The setup header says where the compressed vmlinux is: payload_offset (0x248) and
  # payload_length (0x24c), from the start of the protected-mode code after the setup sectors.
  sects=$(u8 "$out/bzImage" $((0x1f1))); [ "$sects" -eq 0 ] && sects=4
  start=$(( (sects + 1) * 512 + $(u32 "$out/bzImage" $((0x248))) ))
  length=$(u32 "$out/bzImage" $((0x24c)))
  magic=$(od -An -tx1 -j "$start" -N 6 "$out/bzImage" | tr -d ' ')
  payload() { { tail -c +$((start + 1)) "$out/bzImage" || true; } | head -c "$1"; }  # tail: SIGPIPE
  # Every format but gzip has the uncompressed size appended (4 bytes) after its stream.
  case "$magic" in
    1f8b*) payload "$length" | gzip -dc > "$out/vmlinux.tmp" || true ;;
    fd377a585a00)
      command -v xz >/dev/null || apt_install xz-utils
      payload $((length - 4)) | xz -dc --single-stream > "$out/vmlinux.tmp" ;;
    28b52ffd*)
      command -v zstd >/dev/null || apt_install zstd
      payload $((length - 4)) | zstd -dc -q > "$out/vmlinux.tmp" ;;
    *) log "the kernel's payload is compressed in a way this script does not know (magic $magic): use the bzImage"; exit 1 ;;
  esac
  [ "$(od -An -c -N 4 "$out/vmlinux.tmp" | tr -d ' ')" = "177ELF" ] || { log "the payload of $kernel did not unpack to an ELF vmlinux"; exit 1; }
  mv "$out/vmlinux.tmp" "$out/vmlinux"
  echo "$release" > "$out/kernel-release"
  log "vmlinux: $(stat -c %s "$out/vmlinux") bytes (from a ${magic:0:4}... payload of $length bytes)"
fi

# --- the initramfs ------------------------------------------------------------------------------
if [ ! -f "$out/initramfs.cpio.gz" ] || [ "$here/init" -nt "$out/initramfs.cpio.gz" ] || [ "$busybox" -nt "$out/initramfs.cpio.gz" ]; then
  root="$(mktemp -d)"
  trap 'rm -rf "$root"' EXIT
  mkdir -p "$root/bin" "$root/dev" "$root/proc" "$root/sys" "$root/tmp"
  cp "$busybox" "$root/bin/busybox"
  cp "$here/init" "$root/init"
  chmod 755 "$root/init" "$root/bin/busybox"
  ln -s busybox "$root/bin/sh"
  # busybox's own cpio writes the newc archive: no cpio package needed. /dev/console comes from
  # the kernel's built-in initramfs; init mounts devtmpfs over /dev.
  (cd "$root" && find . | LC_ALL=C sort | "$busybox" cpio -o -H newc 2>/dev/null) | gzip -9 > "$out/initramfs.cpio.gz.tmp"
  mv "$out/initramfs.cpio.gz.tmp" "$out/initramfs.cpio.gz"
  log "initramfs: $(stat -c %s "$out/initramfs.cpio.gz") bytes"
fi
echo "$out"
