#!/usr/bin/env bash
# Installs the Debian packages the real-kernel suite needs, if missing:
# QEMU (software emulation), a static busybox for the guest's userland,
# Debian's cloud kernel and the matching headers to build koffload.ko
# against, and the toolchain Kbuild uses. Idempotent; needs root.
#
#   bash scripts/install-kernel-deps.sh          the suite's packages
#   bash scripts/install-kernel-deps.sh --f2fs   also what the F2FS experiment
#       needs (scripts/build-f2fs.sh, npm run poc:gc): the kernel source
#       package f2fs.ko is built from, and mkfs.f2fs for the guest
set -euo pipefail

pkgs=(qemu-system-x86 busybox-static linux-image-cloud-amd64
      linux-headers-cloud-amd64 make gcc libc6-dev cpio zstd xz-utils kmod bc flex bison
      iproute2)
case "${1:-}" in
	'') ;;
	--f2fs) pkgs+=(linux-source-6.1 patch f2fs-tools) ;;
	*) echo "install-kernel-deps: unknown argument '$1' (want --f2fs or nothing)" >&2; exit 2 ;;
esac
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-kernel-deps: need root to install: ${missing[*]}" >&2
	exit 1
fi
echo "install-kernel-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
