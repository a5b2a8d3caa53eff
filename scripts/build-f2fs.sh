#!/usr/bin/env bash
# Builds f2fs.ko out of tree from Debian's linux-source-6.1, patched with
# kernel-shim/f2fs/patches/, against the headers of Debian's cloud kernel
# (which has CONFIG_F2FS_FS unset), for the QEMU guest of
# scripts/kernel-test.sh.
#
# Symbol versions and vermagic refuse a module built from other sources, so
# the three Debian packages must have one version: linux-source-6.1, the
# linux-image-<kver> that linux-image-cloud-amd64 depends on, and
# linux-headers-<kver>. The kernel version comes from the package, never
# from `uname -r` (the host runs another kernel). A missing source package
# is installed at the image's version; a mismatch fails.
#
# Steps:
#   1. fs/f2fs/ of the source tarball is extracted once into
#      $KOFFLOAD_F2FS_CACHE/f2fs-src-<source version>/pristine/ (outside the
#      clone: the tarball is 140 MB and takes ~10 s to read).
#   2. It is copied to build-<key>/, key = hash of kernel-shim/f2fs/Kbuild and
#      the patches named in kernel-shim/f2fs/patches/series, which are
#      applied in order with `patch -p1` from the kernel tree's root. A patch
#      may touch only fs/f2fs/ (the rest of the tree comes from the headers).
#      An unchanged key reuses the tree, so a rebuild is incremental.
#   3. make M=build-<key>/fs/f2fs against the cloud headers with
#      kernel-shim/f2fs/Kbuild (the object list and CONFIG_F2FS_* options).
#
# The guest must load crc32_generic.ko before f2fs.ko: F2FS asks the crypto
# API for "crc32" at mount, and the initramfs has no /lib/modules to load it from.
#
# Usage:
#   bash scripts/build-f2fs.sh            build; prints KVER=, SRCVER=, NEEDS= and KO=<path>
#   bash scripts/build-f2fs.sh --check    only check the three package versions
#
# Environment:
#   KBUILD_EXTRA_SYMBOLS   Module.symvers of modules whose exports the patched
#                          F2FS calls (e.g. kernel-shim/Module.symvers after
#                          scripts/build-modules.sh); passed to make
#   KOFFLOAD_F2FS_CACHE    cache directory (default /var/cache/koffload)
#   KOFFLOAD_F2FS_PATCHES  patch directory with a series file
#                          (default <repo>/kernel-shim/f2fs/patches)
#   KOFFLOAD_KVER          use this kernel version instead of the package's
#   KOFFLOAD_SKIP_DEPS=1   do not run scripts/install-kernel-deps.sh --f2fs
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"

say() { echo "build-f2fs: $*" >&2; }
die() { say "$*"; exit 1; }

mode=build
case "${1:-}" in
	'') ;;
	--check) mode=check ;;
	-h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown argument '$1' (try --help)" ;;
esac

if [ "${KOFFLOAD_SKIP_DEPS:-0}" != 1 ]; then
	# Everything but the source package, whose version must be the image's.
	bash "$here/install-kernel-deps.sh"
	for p in xz-utils patch; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || {
			say "installing $p"
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$p" >/dev/null
		}
	done
fi

pkg_version() { dpkg-query -W -f='${Status} ${Version}' "$1" 2>/dev/null | sed -n 's/^install ok installed //p'; }

kver="$(KOFFLOAD_SKIP_DEPS=1 bash "$here/build-modules.sh" --kver)" || die "cannot find the cloud kernel version"
img_pkg="linux-image-$kver"
[ -n "$(pkg_version "$img_pkg")" ] || img_pkg="linux-image-$kver-unsigned"
img_ver="$(pkg_version "$img_pkg")"
hdr_ver="$(pkg_version "linux-headers-$kver")"
[ -n "$img_ver" ] || die "package linux-image-$kver is not installed"
[ -n "$hdr_ver" ] || die "package linux-headers-$kver is not installed (install linux-headers-cloud-amd64)"
[ "$img_ver" = "$hdr_ver" ] ||
	die "version mismatch: $img_pkg is $img_ver but linux-headers-$kver is $hdr_ver; install matching packages"

src_ver="$(pkg_version linux-source-6.1)"
if [ -z "$src_ver" ] && [ "${KOFFLOAD_SKIP_DEPS:-0}" != 1 ]; then
	say "installing linux-source-6.1=$img_ver (about 140 MB)"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -qq --no-install-recommends "linux-source-6.1=$img_ver" >/dev/null 2>&1 || {
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends "linux-source-6.1=$img_ver" >/dev/null ||
			die "cannot install linux-source-6.1=$img_ver (apt-cache policy linux-source-6.1 lists what there is)"
	}
	src_ver="$(pkg_version linux-source-6.1)"
fi
[ -n "$src_ver" ] || die "package linux-source-6.1 is not installed (apt-get install linux-source-6.1=$img_ver)"
[ "$src_ver" = "$img_ver" ] ||
	die "version mismatch: linux-source-6.1 is $src_ver but $img_pkg is $img_ver (apt-get install linux-source-6.1=$img_ver)"
say "versions agree: linux-source-6.1, $img_pkg and linux-headers-$kver are $img_ver"
[ "$mode" = check ] && exit 0

tarball="$(ls /usr/src/linux-source-6.1.tar.* 2>/dev/null | head -n 1)"
[ -n "$tarball" ] || die "linux-source-6.1 is installed but /usr/src/linux-source-6.1.tar.* is missing"

cache="${KOFFLOAD_F2FS_CACHE:-/var/cache/koffload}/f2fs-src-$src_ver"
pristine="$cache/pristine"
if [ ! -f "$pristine/.complete" ]; then
	say "extracting fs/f2fs from $tarball into $pristine"
	rm -rf "$pristine"
	mkdir -p "$pristine"
	tar -x -C "$pristine" -f "$tarball" --strip-components=1 linux-source-6.1/fs/f2fs linux-source-6.1/Makefile
	[ -f "$pristine/fs/f2fs/gc.c" ] || die "the tarball has no fs/f2fs/gc.c"
	# The tarball's top Makefile says which upstream release it is.
	up="$(awk -F' = ' '$1=="VERSION"{v=$2} $1=="PATCHLEVEL"{p=$2} $1=="SUBLEVEL"{s=$2} END{print v"."p"."s}' "$pristine/Makefile")"
	case "$src_ver" in
		"$up"-*) ;;
		*) die "the tarball is Linux $up, not what package version $src_ver says" ;;
	esac
	touch "$pristine/.complete"
fi

# The patch series.
pdir="${KOFFLOAD_F2FS_PATCHES:-$repo/kernel-shim/f2fs/patches}"
kbuild="$repo/kernel-shim/f2fs/Kbuild"
[ -f "$kbuild" ] || die "$kbuild is missing"
patches=()
if [ -f "$pdir/series" ]; then
	while IFS= read -r line; do
		line="${line%%#*}"
		line="$(printf '%s' "$line" | tr -d '[:space:]')"
		[ -n "$line" ] || continue
		[ -f "$pdir/$line" ] || die "series names $line but $pdir/$line does not exist"
		patches+=("$pdir/$line")
	done <"$pdir/series"
fi
for p in "${patches[@]}"; do
	# Only fs/f2fs/ is ours to patch: headers come from the cloud kernel.
	bad="$(sed -n 's/^+++ [^/]*\/\([^[:space:]]*\).*/\1/p' "$p" | grep -v '^fs/f2fs/' || true)"
	[ -z "$bad" ] || die "$(basename "$p") touches files outside fs/f2fs/: $bad"
done

key="$( { cat "$kbuild"; for p in "${patches[@]}"; do basename "$p"; cat "$p"; done; } | sha256sum | cut -c1-16)"
tree="$cache/build-$key"
if [ ! -f "$tree/.complete" ]; then
	rm -rf "$tree"
	mkdir -p "$tree"
	cp -a "$pristine/fs" "$tree/"
	for p in "${patches[@]}"; do
		say "applying $(basename "$p")"
		patch -p1 --batch --forward --fuzz=0 --quiet -d "$tree" <"$p" ||
			die "$(basename "$p") does not apply to linux-source-6.1 $src_ver"
	done
	cp "$kbuild" "$tree/fs/f2fs/Kbuild"
	touch "$tree/.complete"
	# Trees of older series go; the current one is the only one kept.
	for old in "$cache"/build-*; do
		[ "$old" = "$tree" ] || rm -rf "$old"
	done
fi
say "${#patches[@]} patch(es) applied; tree $tree"

kdir=
for d in "/lib/modules/$kver/build" "/usr/src/linux-headers-$kver"; do
	[ -f "$d/Makefile" ] && { kdir="$d"; break; }
done
[ -n "$kdir" ] || die "no kernel headers for $kver"

margs=("KOFFLOAD_SHIM=$repo/kernel-shim")
if [ -n "${KBUILD_EXTRA_SYMBOLS:-}" ]; then
	for s in $KBUILD_EXTRA_SYMBOLS; do
		[ -f "$s" ] || die "KBUILD_EXTRA_SYMBOLS names $s, which does not exist"
	done
	margs+=("KBUILD_EXTRA_SYMBOLS=$KBUILD_EXTRA_SYMBOLS")
fi
t0=$SECONDS
make -C "$kdir" M="$tree/fs/f2fs" -j"$(nproc 2>/dev/null || echo 2)" "${margs[@]}" modules >&2 ||
	die "the build failed"
ko="$tree/fs/f2fs/f2fs.ko"
[ -f "$ko" ] || die "the build did not produce $ko"
vm="$(modinfo -F vermagic "$ko" 2>/dev/null || true)"
case "$vm" in
	"$kver "*) ;;
	*) die "$ko has vermagic '$vm', expected kernel $kver" ;;
esac
say "built in $((SECONDS - t0)) s"

echo "KVER=$kver"
echo "SRCVER=$src_ver"
echo "NEEDS=crc32_generic"
echo "KO=$ko"
