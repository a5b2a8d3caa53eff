#!/usr/bin/env bash
# The fault-injection suite (npm run test:faults): builds (or reuses) the
# debug kernel (scripts/build-debug-kernel.sh), builds koffload.ko with its
# fault points, koffload_test.ko and koffload_kunit.ko against it, boots it
# with the QEMU harness (scripts/kernel-test.sh) and runs
# dist/test/faults/run.js in the guest. Prints the fault matrix, keeps it
# in build/faults-matrix.md, and ends with the suite's summary line:
#   fault_kinds=N fuzzed=M faulted_calls=K over_deadline=0 lost=0 leaks=0 reports=0
#
#   npm run test:faults            (builds dist/ first, then runs this)
#   bash scripts/fault-test.sh     (dist/ must be built)
#
# Exit status: kernel-test.sh's (the suite's status inside the guest, 125 if
# the guest crashed), or 1 when the summary line is missing.
#
# Environment (besides kernel-test.sh's and build-debug-kernel.sh's):
#   KOFFLOAD_FAULTS_SCALE         scales every scenario's calls (default 1)
#   KOFFLOAD_FAULTS_FUZZ          hostile genl messages (default 100000)
#   KOFFLOAD_FAULTS_DECODER_FUZZ  mutated REQUESTs for the daemon (default 400)
#   KOFFLOAD_FAULTS_SLACK_MS      stated slack over a caller's deadline (default 300)
#   KOFFLOAD_FAULTS_ONLY          regexp: run only the scenarios it matches
#                                 (then the totals are not held to the bar)
#
# CI (CI=true) on a machine that had to build the debug kernel in this run
# (20 to 29 minutes) runs the suite smaller to stay within CI's 90 minutes:
# KOFFLOAD_FAULTS_SCALE and KOFFLOAD_FAULTS_DECODER_FUZZ default to 0.5 and
# 100 there (what is set wins). The issue's bar still holds and is still
# checked: every fault kind runs, 100,000 hostile genl messages, and far
# more than 10,000 faulted calls. See docs/faults.md, "CI".
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
cd "$repo"

say() { echo "fault-test: $*" >&2; }

[ -f dist/test/faults/run.js ] || { say "dist/test/faults/run.js is missing: run 'npm run build' first"; exit 2; }
[ "${KOFFLOAD_SKIP_DEPS:-0}" = 1 ] || bash "$here/install-kernel-deps.sh"

t0=$SECONDS
kernel_out="$(KOFFLOAD_SKIP_DEPS="${KOFFLOAD_SKIP_DEPS:-0}" bash "$here/build-debug-kernel.sh")"
kdir="$(printf '%s\n' "$kernel_out" | sed -n 's/^KDIR=//p')"
bzimage="$(printf '%s\n' "$kernel_out" | sed -n 's/^BZIMAGE=//p')"
cached="$(printf '%s\n' "$kernel_out" | sed -n 's/^CACHED=//p')"
t_kernel=$((SECONDS - t0))
say "debug kernel: $bzimage ($([ "$cached" = 1 ] && echo cached || echo built) in ${t_kernel}s)"
if [ "${CI:-}" = true ] && [ "$cached" != 1 ]; then
	export KOFFLOAD_FAULTS_SCALE="${KOFFLOAD_FAULTS_SCALE:-0.5}"
	export KOFFLOAD_FAULTS_DECODER_FUZZ="${KOFFLOAD_FAULTS_DECODER_FUZZ:-100}"
	say "CI with a cold-built kernel: KOFFLOAD_FAULTS_SCALE=$KOFFLOAD_FAULTS_SCALE KOFFLOAD_FAULTS_DECODER_FUZZ=$KOFFLOAD_FAULTS_DECODER_FUZZ"
fi

# The modules build in a copy of kernel-shim/, so the objects of the cloud
# kernel's build (npm run test:kernel) stay as they are.
src="$repo/build/kmod-debug"
mkdir -p "$src"
tar -C "$repo/kernel-shim" --exclude='*.o' --exclude='*.ko' --exclude='*.mod*' \
	--exclude='.*.cmd' --exclude='modules.order' --exclude='Module.symvers' -cf - . |
	tar -C "$src" -xf -

log="${KOFFLOAD_KERNEL_LOG:-$repo/build/fault-test.log}"
matrix="$repo/build/faults-matrix.md"
rc=0
# No module of the cloud kernel loads into the debug kernel (nlmon and the
# rest are built in): none to pack.
KOFFLOAD_SKIP_DEPS=1 \
	KOFFLOAD_KERNEL_IMAGE="$bzimage" \
	KOFFLOAD_KDIR="$kdir" \
	KOFFLOAD_KMOD_SRC="$src" \
	KOFFLOAD_KMOD_MAKE_ARGS="KOFFLOAD_FAULT_INJECT=y" \
	KOFFLOAD_KMOD_NAMES="koffload koffload_kunit koffload_test" \
	KOFFLOAD_CLOUD_KMODS="" \
	KOFFLOAD_GUEST_ESBUILD=1 \
	KOFFLOAD_KERNEL_LOG="$log" \
	KOFFLOAD_QEMU_MEM="${KOFFLOAD_QEMU_MEM:-4096}" \
	KOFFLOAD_QEMU_TIMEOUT="${KOFFLOAD_QEMU_TIMEOUT:-60m}" \
	KOFFLOAD_KERNEL_APPEND="kasan_multi_shot hung_task_panic=0 ${KOFFLOAD_KERNEL_APPEND:-}" \
	KOFFLOAD_GUEST_CMD="exec node dist/test/faults/run.js" \
	bash "$here/kernel-test.sh" || rc=$?

sed -n '/KOFFLOAD_FAULT_MATRIX_BEGIN/,/KOFFLOAD_FAULT_MATRIX_END/p' "$log" |
	sed -e '1d' -e '$d' >"$matrix" || true
summary="$(grep -E '^fault_kinds=[0-9]+ fuzzed=[0-9]+ faulted_calls=[0-9]+ over_deadline=[0-9]+ lost=[0-9]+ leaks=[0-9]+ reports=[0-9]+$' "$log" | tail -n 1 || true)"
echo
if [ -s "$matrix" ]; then
	say "fault matrix (also in $matrix):"
	cat "$matrix"
fi
say "debug kernel ${t_kernel}s ($([ "$cached" = 1 ] && echo cached || echo cold build)); total $((SECONDS - t0))s; status $rc"
if [ -z "$summary" ]; then
	say "FAIL: the suite printed no summary line (see $log)"
	[ "$rc" -ne 0 ] || rc=1
	exit "$rc"
fi
echo "$summary"
exit "$rc"
