#!/usr/bin/env bash
# Builds the debug kernel that the fault-injection suite (npm run test:faults)
# boots: Debian's linux-source-6.1 of the same version as the
# linux-image-cloud-amd64 package, `make tinyconfig`, the committed fragment
# kernel-shim/debug/debug.config, `make olddefconfig`, then
# `make bzImage modules_prepare`. Out-of-tree modules build against the
# resulting tree (scripts/build-modules.sh with KOFFLOAD_KDIR).
#
# The build is cached outside the clone, keyed by the source version and the
# fragment's sha256, so a warm machine reuses it:
#     <cache>/<source-version>-<fragment-sha256[0:12]>/
#         linux/           the configured, built tree (KDIR for modules)
#         bzImage          the kernel image
#         build.log        the build's output
#         ok               written last; a directory without it is rebuilt
# A flock on <cache>/.lock keeps to one build at a time. The build runs under
# `nice -n 10` and takes every core (about 12 minutes on 2 cores).
#
# Usage:
#   bash scripts/build-debug-kernel.sh          build if needed; prints
#                                                KVER=, KDIR=, BZIMAGE=, CACHED=0|1
#   bash scripts/build-debug-kernel.sh --key    print only the cache key
#
# Environment:
#   KOFFLOAD_DEBUG_KERNEL_CACHE  cache root (default /var/cache/koffload/debug-kernel)
#   KOFFLOAD_DEBUG_KERNEL_JOBS   make -j (default: nproc)
#   KOFFLOAD_SKIP_DEPS=1         do not install the build's Debian packages
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
fragment="$repo/kernel-shim/debug/debug.config"

say() { echo "build-debug-kernel: $*" >&2; }
die() { say "$*"; exit 1; }

[ -f "$fragment" ] || die "missing $fragment"

# The Debian version of the cloud kernel package, e.g. 6.1.192-3: the source
# built is linux-source-6.1 of that same version.
source_version() {
	local v
	v="$(dpkg-query -W -f='${Version}' linux-image-cloud-amd64 2>/dev/null)" ||
		die "linux-image-cloud-amd64 is not installed (run scripts/install-kernel-deps.sh)"
	[ -n "$v" ] || die "linux-image-cloud-amd64 has no version"
	printf '%s\n' "$v"
}

install_deps() {
	local pkgs=(make gcc libc6-dev bc flex bison libelf-dev libssl-dev xz-utils cpio kmod) missing=() p
	for p in "${pkgs[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" -eq 0 ] || die "need root to install: ${missing[*]}"
	say "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Writes the source tarball linux-source-6.1.tar.xz of version $1 to $2:
# the installed package's if it is that version, else the downloaded .deb's.
fetch_source() {
	local ver="$1" out="$2" inst dl
	inst="$(dpkg-query -W -f='${Version}' linux-source-6.1 2>/dev/null || true)"
	if [ "$inst" = "$ver" ] && [ -f /usr/src/linux-source-6.1.tar.xz ]; then
		say "source: installed linux-source-6.1 $ver"
		cp /usr/src/linux-source-6.1.tar.xz "$out"
		return 0
	fi
	dl="$(mktemp -d)"
	say "source: apt-get download linux-source-6.1=$ver"
	(cd "$dl" && apt-get download -q "linux-source-6.1=$ver" >&2) ||
		{ apt-get update -qq && (cd "$dl" && apt-get download -q "linux-source-6.1=$ver" >&2); } ||
		die "cannot download linux-source-6.1=$ver"
	dpkg-deb --fsys-tarfile "$dl"/linux-source-6.1_*.deb |
		tar -xOf - ./usr/src/linux-source-6.1.tar.xz >"$out" ||
		die "no linux-source-6.1.tar.xz in the package"
	rm -rf "$dl"
}

ver="$(source_version)"
frag_sha="$(sha256sum "$fragment" | cut -c1-12)"
key="$ver-$frag_sha"
if [ "${1:-}" = --key ]; then
	echo "$key"
	exit 0
fi
[ $# -eq 0 ] || die "unknown argument '$1'"

cache="${KOFFLOAD_DEBUG_KERNEL_CACHE:-/var/cache/koffload/debug-kernel}"
dir="$cache/$key"
mkdir -p "$cache"
exec 8>>"$cache/.lock"
if ! flock -n 8; then
	say "another build holds $cache/.lock; waiting for it"
	flock 8
fi

report() {
	local kver
	kver="$(cat "$dir/linux/include/config/kernel.release")"
	echo "KVER=$kver"
	echo "KDIR=$dir/linux"
	echo "BZIMAGE=$dir/bzImage"
	echo "CACHED=$1"
}

if [ -f "$dir/ok" ]; then
	say "cached: $dir"
	report 1
	exit 0
fi

[ "${KOFFLOAD_SKIP_DEPS:-0}" = 1 ] || install_deps
rm -rf "$dir"
mkdir -p "$dir"
t0=$SECONDS
fetch_source "$ver" "$dir/linux-source.tar.xz"
say "unpacking"
tar -C "$dir" -xJf "$dir/linux-source.tar.xz"
rm -f "$dir/linux-source.tar.xz"
mv "$dir/linux-source-6.1" "$dir/linux"
t_src=$((SECONDS - t0))

jobs="${KOFFLOAD_DEBUG_KERNEL_JOBS:-$(nproc)}"
log="$dir/build.log"
k() { nice -n 10 make -C "$dir/linux" -j"$jobs" "$@" >>"$log" 2>&1; }
say "configuring (tinyconfig + $(basename "$fragment") + olddefconfig); log: $log"
k tinyconfig || die "make tinyconfig failed (see $log)"
(cd "$dir/linux" && ./scripts/kconfig/merge_config.sh -m .config "$fragment" >>"$log" 2>&1) ||
	die "merge_config.sh failed (see $log)"
k olddefconfig || die "make olddefconfig failed (see $log)"

# Every line of the fragment must have taken: a symbol whose dependencies
# are missing is dropped silently by olddefconfig.
bad=0
while IFS= read -r line; do
	case "$line" in
		CONFIG_*=*) want="$line"; sym="${line%%=*}" ;;
		'# CONFIG_'*' is not set') want="$line"; sym="${line#\# }"; sym="${sym%% *}" ;;
		*) continue ;;
	esac
	if [[ "$want" == '#'* ]]; then
		grep -q "^$sym=" "$dir/linux/.config" && { say "$sym is set, the fragment unsets it"; bad=1; }
	else
		grep -qxF "$want" "$dir/linux/.config" ||
			{ say "$want did not take (.config has: $(grep "^$sym=\|^# $sym " "$dir/linux/.config" || echo nothing))"; bad=1; }
	fi
done <"$fragment"
[ "$bad" -eq 0 ] || die "the fragment does not apply cleanly to $ver"

say "building bzImage and modules_prepare with -j$jobs under nice -n 10"
t1=$SECONDS
k bzImage modules_prepare || { tail -n 40 "$log" >&2; die "the kernel build failed (see $log)"; }
# Out-of-tree modules resolve the kernel's symbols from Module.symvers.
cp "$dir/linux/vmlinux.symvers" "$dir/linux/Module.symvers" 2>/dev/null || true
cp "$dir/linux/arch/x86/boot/bzImage" "$dir/bzImage"
t_build=$((SECONDS - t1))
printf 'source %s\nfragment_sha256 %s\nunpack_s %d\nbuild_s %d\n' \
	"$ver" "$(sha256sum "$fragment" | cut -d' ' -f1)" "$t_src" "$t_build" >"$dir/ok"
say "built $key in $((SECONDS - t0)) s (unpack $t_src s, make $t_build s)"
report 0
