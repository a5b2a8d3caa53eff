#!/usr/bin/env bash
# Installs koffload.ko through DKMS: copies kernel-shim/'s sources to
# /usr/src/koffload-<version>/ (version: package.json's), then dkms add,
# build and install for one kernel (the cloud kernel's, as
# scripts/build-modules.sh finds it, or KVER), and checks what landed: the
# installed module's vermagic names that kernel. Needs root and the dkms
# package (scripts/install-kernel-deps.sh installs it).
#
#   bash scripts/dkms-install.sh            add, build, install, check
#   bash scripts/dkms-install.sh --remove   dkms remove koffload/<version> --all
#   bash scripts/dkms-install.sh --test     install, check, remove (CI's step)
#
# Environment: KOFFLOAD_KVER (the kernel, default the package's).
# Exit status: 0, 1 when a dkms step or the check fails, 2 on bad usage or
# a missing prerequisite.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
say() { echo "dkms-install: $*" >&2; }
die() { say "$*"; exit "${2:-2}"; }

mode=install
case "${1:-}" in
	"") ;;
	--remove) mode=remove ;;
	--test) mode=test ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown argument '$1' (try --help)" ;;
esac
[ "$(id -u)" -eq 0 ] || die "needs root (dkms writes /usr/src, /var/lib/dkms and /lib/modules)"
command -v dkms >/dev/null || die "dkms is not installed (bash scripts/install-kernel-deps.sh installs it)"
version="$(node -p "require('$repo/package.json').version")"
kver="${KOFFLOAD_KVER:-$(KOFFLOAD_SKIP_DEPS=1 bash "$here/build-modules.sh" --kver)}"
src="/usr/src/koffload-$version"

remove() {
	if dkms status -m koffload -v "$version" 2>/dev/null | grep -q .; then
		dkms remove -m koffload -v "$version" --all >/dev/null
	fi
	rm -rf "$src"
}

if [ "$mode" = remove ]; then
	remove
	say "removed koffload/$version"
	exit 0
fi

# A fresh copy of the sources only: no build products of this checkout.
remove
mkdir -p "$src"
(cd "$repo/kernel-shim" && find . \( -name '*.c' -o -name '*.h' -o -name Kbuild -o -name Makefile \) \
	-not -path './f2fs/*' -not -path './debug/*' -print0 | cpio -0pdm --quiet "$src")
sed "s/@VERSION@/$version/" "$repo/kernel-shim/dkms.conf" >"$src/dkms.conf"

t0=$SECONDS
dkms add -m koffload -v "$version" >/dev/null || die "dkms add failed" 1
dkms build -m koffload -v "$version" -k "$kver" ||
	{ cat "/var/lib/dkms/koffload/$version/build/make.log" >&2 2>/dev/null; die "dkms build failed" 1; }
dkms install -m koffload -v "$version" -k "$kver" --force >/dev/null || die "dkms install failed" 1
status="$(dkms status -m koffload -v "$version" -k "$kver")"
say "dkms status: $status ($((SECONDS - t0)) s)"
[[ "$status" == *installed* ]] || die "dkms does not say installed: '$status'" 1

ko="$(find "/lib/modules/$kver/updates/dkms" -name 'koffload.ko*' | head -n 1)"
[ -n "$ko" ] || die "no koffload.ko under /lib/modules/$kver/updates/dkms" 1
vermagic="$(modinfo -F vermagic "$ko")"
[[ "$vermagic" == "$kver "* ]] || die "$ko has vermagic '$vermagic', not $kver" 1
find "/lib/modules/$kver/updates/dkms" -name 'koffload_test.ko*' | grep -q . && die "koffload_test.ko was installed; it must not be" 1
# the installed module is the one this checkout's sources make: the same
# exported symbols (from the sources, so no build of the checkout is needed)
want="$(sed -n 's/^EXPORT_SYMBOL\(_GPL\)\{0,1\}(\([a-z_0-9]*\));$/\2/p' "$repo"/kernel-shim/*.c | sort | tr '\n' ' ')"
[ -n "$want" ] || die "found no EXPORT_SYMBOL in kernel-shim/*.c" 1
plain="$(mktemp)"
case "$ko" in
	*.xz) xz -dc "$ko" >"$plain" ;;
	*.zst) zstd -qdc "$ko" >"$plain" ;;
	*.gz) gzip -dc "$ko" >"$plain" ;;
	*) cp "$ko" "$plain" ;;
esac
got="$(nm "$plain" | sed -n 's/.* __ksymtab_\(.*\)$/\1/p' | sort | tr '\n' ' ')"
rm -f "$plain"
[ "$got" = "$want" ] || die "the DKMS module exports '$got', kernel-shim/*.c '$want'" 1
say "installed $ko (vermagic $vermagic)"

if [ "$mode" = test ]; then
	remove
	[ -z "$(find "/lib/modules/$kver/updates/dkms" -name 'koffload*.ko*' 2>/dev/null)" ] || die "dkms remove left a module behind" 1
	say "PASS: add, build, install for $kver, then remove"
fi
