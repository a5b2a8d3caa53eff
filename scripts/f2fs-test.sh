#!/usr/bin/env bash
# The F2FS patch's suite (test/f2fs/) on a real F2FS in the QEMU guest:
# builds koffload.ko, the patched f2fs.ko (scripts/build-f2fs.sh) and the
# workload (poc/gc/workload.c), boots Debian's cloud kernel through
# scripts/kernel-test.sh with null_blk, mkfs.f2fs and the modules, and runs
# mocha on dist/test/f2fs/ there (KOFFLOAD_F2FS_TEST=1).
#
#   npm run test:f2fs          (builds dist/ first)
#   bash scripts/f2fs-test.sh  (dist/ built)
#
# Environment: the knobs of scripts/kernel-test.sh (KOFFLOAD_MOCHA_ARGS,
# for example "--grep background"); KOFFLOAD_SKIP_DEPS=1 skips the package
# check. Exit status: that of kernel-test.sh.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
cd "$repo"

say() { echo "f2fs-test: $*" >&2; }
die() { say "$*"; exit 2; }

if [ "${KOFFLOAD_SKIP_DEPS:-0}" != 1 ]; then
	bash "$here/install-kernel-deps.sh" --f2fs
fi
out="$repo/build/f2fs-test"
mkdir -p "$out"
say "building koffload.ko, the patched f2fs.ko and the workload"
KOFFLOAD_SKIP_DEPS=1 KOFFLOAD_KMOD_NAMES=koffload bash "$here/build-modules.sh" >/dev/null ||
	die "building koffload.ko failed"
f2fs_ko="$(KBUILD_EXTRA_SYMBOLS="$repo/kernel-shim/Module.symvers" KOFFLOAD_SKIP_DEPS=1 \
	bash "$here/build-f2fs.sh" | sed -n 's/^KO=//p')"
[ -n "$f2fs_ko" ] || die "building f2fs.ko failed"
gcc -O2 -Wall -Wextra -Werror -o "$out/workload" poc/gc/workload.c || die "building the workload failed"

export KOFFLOAD_KMOD_NAMES=koffload
export KOFFLOAD_CLOUD_KMODS="crc32_generic null_blk:nr_devices=0"
export KOFFLOAD_EXTRA_KOS="$f2fs_ko"
export KOFFLOAD_GUEST_BINS="mkfs.f2fs $out/workload"
export KOFFLOAD_KERNEL_SPEC='dist/test/f2fs/**/*.test.js'
export KOFFLOAD_F2FS_TEST=1
export KOFFLOAD_QEMU_MEM="${KOFFLOAD_QEMU_MEM:-2560}"
export KOFFLOAD_KERNEL_LOG="${KOFFLOAD_KERNEL_LOG:-$repo/build/f2fs-test.log}"
KOFFLOAD_SKIP_DEPS=1 exec bash "$here/kernel-test.sh"
