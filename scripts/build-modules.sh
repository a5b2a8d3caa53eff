#!/usr/bin/env bash
# Builds the out-of-tree kernel modules in kernel-shim/ (koffload.ko and
# koffload_test.ko) against the headers of Debian's cloud kernel, the kernel
# that scripts/kernel-test.sh boots in QEMU.
#
# The kernel version comes from the installed linux-image-cloud-amd64
# package, never from `uname -r`: the host runs another kernel, one without
# module support.
#
# Usage:
#   bash scripts/build-modules.sh           build; prints KVER=... and the .ko paths
#   bash scripts/build-modules.sh --kver    print only the kernel version
#   bash scripts/build-modules.sh --clean   make clean in the module directory
#
# Environment:
#   KOFFLOAD_KVER          use this kernel version instead of the package's
#   KOFFLOAD_KDIR          build against this configured kernel tree instead of
#                          the cloud kernel's headers (the debug kernel of
#                          scripts/build-debug-kernel.sh); its kernel.release is KVER
#   KOFFLOAD_KMOD_MAKE_ARGS extra make arguments (shell words), e.g.
#                          KOFFLOAD_FAULT_INJECT=y for the fault points (kernel-shim/Kbuild)
#   KOFFLOAD_KMOD_SRC      module source directory (default: <repo>/kernel-shim)
#   KOFFLOAD_KMOD_NAMES    modules that must result (default: "koffload koffload_test")
#   KOFFLOAD_SKIP_DEPS=1   do not run scripts/install-kernel-deps.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"

die() { echo "build-modules: $*" >&2; exit 1; }

# Prints the version of the kernel that the linux-image-cloud-amd64
# metapackage depends on, e.g. 6.1.0-56-cloud-amd64.
package_kver() {
	local deps kver
	deps="$(dpkg-query -W -f='${Depends}' linux-image-cloud-amd64 2>/dev/null)" ||
		die "package linux-image-cloud-amd64 is not installed (run scripts/install-kernel-deps.sh)"
	# "linux-image-6.1.0-56-cloud-amd64 (= 6.1.192-2)", possibly with
	# alternatives; the first versioned image package wins.
	kver="$(printf '%s\n' "$deps" | tr ',|' '\n\n' |
		sed -n 's/^[[:space:]]*linux-image-\([0-9][^[:space:]]*\).*/\1/p' | head -n 1)"
	kver="${kver%-unsigned}"
	[ -n "$kver" ] || die "cannot find a kernel version in linux-image-cloud-amd64's Depends: '$deps'"
	printf '%s\n' "$kver"
}

# Prints the kernel build directory for $1, or fails.
build_dir() {
	local kver="$1" d
	for d in "/lib/modules/$kver/build" "/usr/src/linux-headers-$kver"; do
		if [ -f "$d/Makefile" ]; then
			printf '%s\n' "$d"
			return 0
		fi
	done
	die "no kernel headers for $kver (looked in /lib/modules/$kver/build and /usr/src/linux-headers-$kver); install linux-headers-cloud-amd64"
}

kver_of_system() {
	local kver="${KOFFLOAD_KVER:-}"
	[ -n "$kver" ] || kver="$(package_kver)"
	[ -f "/boot/vmlinuz-$kver" ] || die "kernel image /boot/vmlinuz-$kver is missing"
	printf '%s\n' "$kver"
}

mode=build
case "${1:-}" in
	'') ;;
	--kver) mode=kver ;;
	--clean) mode=clean ;;
	-h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown argument '$1' (try --help)" ;;
esac

if [ "$mode" != kver ] && [ "${KOFFLOAD_SKIP_DEPS:-0}" != 1 ]; then
	bash "$here/install-kernel-deps.sh"
fi

if [ -n "${KOFFLOAD_KDIR:-}" ]; then
	kdir="$(cd "$KOFFLOAD_KDIR" && pwd)" || die "KOFFLOAD_KDIR $KOFFLOAD_KDIR does not exist"
	[ -f "$kdir/include/config/kernel.release" ] || die "$kdir is not a configured kernel tree (no include/config/kernel.release)"
	kver="$(cat "$kdir/include/config/kernel.release")"
else
	kver="$(kver_of_system)"
fi
if [ "$mode" = kver ]; then
	printf '%s\n' "$kver"
	exit 0
fi

[ -n "${KOFFLOAD_KDIR:-}" ] || kdir="$(build_dir "$kver")"
read -r -a make_args <<<"${KOFFLOAD_KMOD_MAKE_ARGS:-}"
src="${KOFFLOAD_KMOD_SRC:-$repo/kernel-shim}"
[ -d "$src" ] || die "module source directory $src does not exist"
src="$(cd "$src" && pwd)"
[ -f "$src/Kbuild" ] || [ -f "$src/Makefile" ] || die "no Kbuild or Makefile in $src"

if [ "$mode" = clean ]; then
	make -C "$kdir" M="$src" "${make_args[@]}" clean
	exit 0
fi

echo "build-modules: KVER=$kver headers=$kdir src=$src" >&2
make -C "$kdir" M="$src" -j"$(nproc 2>/dev/null || echo 2)" "${make_args[@]}" modules >&2

read -r -a names <<<"${KOFFLOAD_KMOD_NAMES-koffload koffload_test}"
kos=()
for n in "${names[@]}"; do
	ko="$src/$n.ko"
	[ -f "$ko" ] || die "the build did not produce $ko"
	vm="$(modinfo -F vermagic "$ko" 2>/dev/null || true)"
	case "$vm" in
		"$kver "*) ;;
		*) die "$ko has vermagic '$vm', expected kernel $kver" ;;
	esac
	kos+=("$ko")
done

echo "KVER=$kver"
for ko in "${kos[@]}"; do
	echo "KO=$ko"
done
