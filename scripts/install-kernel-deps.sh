#!/usr/bin/env bash
# Installs the Debian packages the real-kernel suite needs, if missing:
# QEMU (software emulation), a static busybox for the guest's userland,
# Debian's cloud kernel and the matching headers to build koffload.ko
# against, and the toolchain Kbuild uses; and what `npm test` needs beyond
# npm: Debian's prometheus (the server and promtool, for the metrics, rules
# and end-to-end Prometheus tests) and tmux (koffloadctl top's test in a real
# terminal). Idempotent; needs root.
#
#   bash scripts/install-kernel-deps.sh          the suite's packages and npm test's
#   bash scripts/install-kernel-deps.sh --test   only npm test's (prometheus, tmux);
#       `npm test` runs this itself as root (scripts/ensure-deps.mjs --test)
#   bash scripts/install-kernel-deps.sh --f2fs   also what the F2FS experiment
#       needs (scripts/build-f2fs.sh, npm run poc:gc): the kernel source
#       package f2fs.ko is built from, and mkfs.f2fs for the guest
set -euo pipefail

test_pkgs=(prometheus tmux)
pkgs=(qemu-system-x86 busybox-static linux-image-cloud-amd64
      linux-headers-cloud-amd64 make gcc libc6-dev cpio zstd xz-utils kmod bc flex bison
      iproute2 dkms "${test_pkgs[@]}")
case "${1:-}" in
	'') ;;
	--f2fs) pkgs+=(linux-source-6.1 patch f2fs-tools) ;;
	--test) pkgs=("${test_pkgs[@]}") ;;
	*) echo "install-kernel-deps: unknown argument '$1' (want --f2fs, --test or nothing)" >&2; exit 2 ;;
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
# the prometheus package enables and starts its system service (on :9090);
# nothing here needs it, the tests start their own server on a free
# loopback port: on a machine run by systemd it is stopped and disabled
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
if [[ " ${missing[*]} " == *" prometheus "* ]] && [ -d /run/systemd/system ]; then
	systemctl disable --now prometheus.service >/dev/null 2>&1 || true
fi
