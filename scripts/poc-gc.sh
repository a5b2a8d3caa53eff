#!/usr/bin/env bash
# The F2FS GC experiment on a real F2FS in the QEMU guest (docs/poc-gc.md).
# Builds f2fs.ko (scripts/build-f2fs.sh), the workload and the userspace
# cleaner (poc/gc/*.c, gcc), writes a plan, boots the guest ONCE through
# scripts/kernel-test.sh and runs every configuration in it
# (poc/gc/guest.sh), then prints a table of the measured phases.
#
#   npm run poc:gc                       the full matrix (by hand, hours): greedy, cb,
#                                        ioctl and the three koffload policies x 4
#                                        workloads x 70/80/90% x seeds 1 2
#   npm run poc:gc -- --quick            hot/cold 90/10 at 80%, seed 1: greedy, cb and
#                                        kf:learned, min_hot_blocks 0, 3 jobs (the CI row)
#   npm run poc:gc -- [--policies "greedy cb ioctl kf:learned"] [--dists "hotcold:90/10 zipf"]
#                     [--utils "80"] [--seeds "1 2"] [--warmup N] [--ops N]
#                     [--min-hot-blocks N] [--record] [--fault kill] [--no-model]
#                     [--workload PATH] [--jobs N] [--plan FILE] [--dry-run]
#
# --dry-run prints the plan (one configuration a line, as the guest gets it)
# and exits without building or booting anything.
# --plan FILE runs the configurations FILE lists, one a line as
# `POLICY DIST UTIL SEED [fault=kill]` (# comments), in that order, instead of the
# product of --policies, --dists, --utils and --seeds (the other options
# apply to every line). Three jobs a batch and one koffload configuration a
# batch: order the lines so each batch has one.
#
# --workload PATH runs an external static workload program instead of the
# built-in ones: `PATH fill DIR FILL_PCT SEED` once, then `PATH run DIR OPS
# SEED` for the warm-up (in chunks of POCGC_WARM_CHUNK) and again for the
# measured phase; it must write only under DIR and exit 0 (poc/gc/workload.c
# is one).
# Policies: greedy, cb = F2FS's own (gc_idle=2, 1); ioctl = greedy F2FS with
# poc/gc/cleaner.c cleaning through F2FS_IOC_GARBAGE_COLLECT_RANGE from 8
# to 12 free segments above the GC reserved count; ioctl@S:T from S to T;
# kf:greedy, kf:cost-benefit, kf:learned = koffloadd serving
# examples/f2fs-<name>.ts to the patched F2FS (its fallback: F2FS's
# cost-benefit). --min-hot-blocks N sets sysfs min_hot_blocks after every
# mount, for every policy alike (F2FS's default, 16, when not given);
# --record runs koffloadd with --record in the guest. --fault kill: in
# every kf: configuration the measured phase runs in thirds: koffloadd
# SIGKILLed 2 s into the second and started again 5 s later, then
# SIGKILLed for good 2 s into the third (the line gives each third's WAF
# and the patch's advised and fallback counts; poc/gc/guest.sh). After the guest, the
# LFS model (src/sim/lfs) runs every configuration's policy and the
# future-knowledge bounds on the same trace, for the table (--no-model:
# not).
# --jobs N runs N configurations at a time in the guest, each on its own
# device (default 2, the guest's CPUs). A configuration's WAF should not
# depend on it (GC runs in the writers' own context and background GC never
# runs; not yet compared against --jobs 1), its latencies do: compare them
# only within one run, or use --jobs 1.
#
# Output: the table on stdout; the POCGC lines in build/poc-gc/results.txt;
# the guest console in build/poc-gc/guest.log. Exit status: that of
# kernel-test.sh (0 when every configuration ran).
#
# KOFFLOAD_KMOD_NAMES (default "koffload") names the koffload modules to
# load before f2fs.ko, which the patch makes depend on koffload; f2fs.ko is built
# with KBUILD_EXTRA_SYMBOLS=kernel-shim/Module.symvers (or the variable's
# value).
# Environment: POCGC_DEV_MB (null_blk size, default 1024), POCGC_CLEANER_ARGS
# (extra cleaner options), POCGC_WARM_CHUNK (warm-up chunk whose WAF is
# listed, default 500000), KOFFLOAD_QEMU_MEM (default here 2048 + 1280 a
# job), and the knobs of scripts/kernel-test.sh.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
cd "$repo"

say() { echo "poc-gc: $*" >&2; }
die() { say "$*"; exit 2; }

policies="greedy cb ioctl kf:greedy kf:cost-benefit kf:learned"
dists="hotcold:90/10 hotcold:80/20 zipf uniform"
utils="70 80 90"
seeds="1 2"
warmup=1000000
ops=1000000
workload=
planfile=
dry=0
jobs=2
minhot=
record=0
fault=
model=1
while [ $# -gt 0 ]; do
	case "$1" in
		--quick) policies="greedy cb kf:learned"; dists="hotcold:90/10"; utils=80; seeds=1; minhot=0; jobs=3; shift ;;
		--min-hot-blocks) minhot="$2"; shift 2 ;;
		--record) record=1; shift ;;
		--fault) fault="$2"; shift 2 ;;
		--no-model) model=0; shift ;;
		--policies) policies="$2"; shift 2 ;;
		--dists) dists="$2"; shift 2 ;;
		--utils) utils="$2"; shift 2 ;;
		--seeds) seeds="$2"; shift 2 ;;
		--warmup) warmup="$2"; shift 2 ;;
		--ops) ops="$2"; shift 2 ;;
		--workload) workload="$2"; shift 2 ;;
		--jobs) jobs="$2"; shift 2 ;;
		--plan) planfile="$2"; shift 2 ;;
		--dry-run) dry=1; shift ;;
		-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
		*) die "unknown argument '$1' (try --help)" ;;
	esac
done
check_policy() {
	[[ "$1" =~ ^(greedy|cb|ioctl|ioctl@[0-9]+:[0-9]+|kf:(greedy|cost-benefit|learned))$ ]] ||
		die "unknown policy '$1' (greedy, cb, ioctl, ioctl@S:T, kf:greedy, kf:cost-benefit, kf:learned)"
}
for p in $policies; do check_policy "$p"; done
configs=()
if [ -n "$planfile" ]; then
	[ -r "$planfile" ] || die "--plan $planfile: cannot read it"
	while read -r p d u s rest; do
		p="${p%%#*}"
		[ -n "$p" ] || continue
		rest="$(echo "${rest%%#*}" | tr -d ' \t')"
		[ -n "$s" ] && { [ -z "$rest" ] || [[ "$rest" = fault=kill && "$p" == kf:* ]]; } ||
			die "--plan $planfile: want 'POLICY DIST UTIL SEED [fault=kill]' a line (fault for kf: only), got '$p $d $u $s $rest'"
		check_policy "$p"
		[[ "$d" =~ ^(hotcold:[0-9]+/[0-9]+|zipf|uniform)$ && "$u" =~ ^[0-9]+$ && "$s" =~ ^[0-9]+$ ]] ||
			die "--plan $planfile: bad line '$p $d $u $s'"
		configs+=("$p $d $u $s ${rest#fault=}")
	done <"$planfile"
	[ "${#configs[@]}" -gt 0 ] || die "--plan $planfile: no configuration in it"
fi
[ -z "$fault" ] || [ "$fault" = kill ] || die "--fault wants kill"
[ -z "$minhot" ] || [[ "$minhot" =~ ^[0-9]+$ ]] || die "--min-hot-blocks wants a count"
[[ "$warmup" =~ ^[0-9]+$ && "$ops" =~ ^[0-9]+$ && "$ops" -gt 0 ]] || die "--warmup and --ops want counts"
[[ "$jobs" =~ ^[1-9][0-9]*$ ]] || die "--jobs wants a positive count"

out="$repo/build/poc-gc"
mkdir -p "$out"
t_start=$SECONDS

# ---------------------------------------------------------------- plan
wl_guest=
if [ -n "$workload" ]; then
	[ -x "$workload" ] || die "--workload $workload is not an executable"
	workload="$(readlink -f "$workload")"
	wl_guest="/usr/local/bin/$(basename "$workload")"
	dists=external
fi
plan="$out/plan"
: >"$plan"
if [ "${#configs[@]}" -eq 0 ]; then
	for dist in $dists; do
		for util in $utils; do
			for seed in $seeds; do
				for p in $policies; do
					configs+=("$p $dist $util $seed")
				done
			done
		done
	done
fi
n=0
for c in "${configs[@]}"; do
	read -r p dist util seed f <<<"$c"
	[ -z "$workload" ] || dist=external
	f="${f:-$fault}"
	n=$((n + 1))
	rec=
	[ "$record" = 1 ] && [[ "$p" == kf:* ]] && rec=" record=1"
	[ -n "$f" ] && [[ "$p" == kf:* ]] && rec="$rec fault=$f"
	printf 'name=c%02d policy=%s dist=%s util=%s seed=%s warmup=%s ops=%s%s%s%s\n' \
		"$n" "$p" "$dist" "$util" "$seed" "$warmup" "$ops" \
		"${wl_guest:+ workload=$wl_guest}" "${minhot:+ minhot=$minhot}" "$rec" >>"$plan"
done
say "$n configurations (plan: $plan)"
if [ "$dry" = 1 ]; then cat "$plan"; exit 0; fi

# ---------------------------------------------------------------- build
if [ "${KOFFLOAD_SKIP_DEPS:-0}" != 1 ]; then
	bash "$here/install-kernel-deps.sh" --f2fs
fi
# koffload's modules first: a patched F2FS links against their exports.
say "building the koffload modules, then f2fs.ko"
KOFFLOAD_SKIP_DEPS=1 bash "$here/build-modules.sh" >/dev/null || die "building the koffload modules failed"
f2fs_out="$(KBUILD_EXTRA_SYMBOLS="${KBUILD_EXTRA_SYMBOLS:-$repo/kernel-shim/Module.symvers}" \
	KOFFLOAD_SKIP_DEPS=1 bash "$here/build-f2fs.sh")" || die "building f2fs.ko failed"
f2fs_ko="$(printf '%s\n' "$f2fs_out" | sed -n 's/^KO=//p')"
for prog in workload cleaner; do
	gcc -O2 -Wall -Wextra -Werror -o "$out/$prog" "poc/gc/$prog.c" || die "building poc/gc/$prog.c failed"
done
bins="mkfs.f2fs $out/workload $out/cleaner${workload:+ $workload}"

# At most 12 minutes a batch of jobs of 2M ops under TCG, plus the boot; a
# koffload configuration may start a batch of its own.
nkf=$(grep -c 'policy=kf:' "$plan" || true)
batches=$(( (n + jobs - 1) / jobs + nkf ))
limit="${KOFFLOAD_QEMU_TIMEOUT:-$(( batches * (720 * (warmup + ops) / 2000000 + 60) + 300 ))}"
log="$out/guest.log"
export KOFFLOAD_KMOD_NAMES="${KOFFLOAD_KMOD_NAMES-koffload}"
export KOFFLOAD_CLOUD_KMODS="crc32_generic null_blk:nr_devices=0"
export KOFFLOAD_EXTRA_KOS="$f2fs_ko"
export KOFFLOAD_GUEST_BINS="$bins"
export KOFFLOAD_GUEST_FILES="poc/gc/guest.sh poc/gc/kf.mjs build/poc-gc/plan"
# koffloadd's policy loader bundles the policy with esbuild
[ "$nkf" -gt 0 ] && export KOFFLOAD_GUEST_ESBUILD=1
export KOFFLOAD_GUEST_CMD="sh poc/gc/guest.sh build/poc-gc/plan"
# Each job: its device in RAM, plus page cache for its files.
export KOFFLOAD_QEMU_MEM="${KOFFLOAD_QEMU_MEM:-$(( 2048 + jobs * 1280 ))}"
export POCGC_JOBS="$jobs"
export KOFFLOAD_QEMU_TIMEOUT="$limit"
export KOFFLOAD_KERNEL_LOG="$log"
export KOFFLOAD_GUEST_PASS="POCGC_DEV_MB POCGC_CLEANER_ARGS POCGC_JOBS POCGC_WARM_CHUNK POCGC_KF_GC_IDLE"
rc=0
KOFFLOAD_SKIP_DEPS=1 bash "$here/kernel-test.sh" >"$out/kernel-test.out" 2>&1 || rc=$?
grep '^POCGC ' "$log" | sed 's/\r//' >"$out/results.txt" || true
grep -E '^kernel-test: (image|PASS|FAIL)' "$out/kernel-test.out" >&2 || true

# ---------------------------------------------------------------- table
# The tables, the model on the same traces (the policy of each row and the
# future-knowledge bounds) and issue 7's summary line.
node dist/scripts/poc-gc-report.js "$out/results.txt" --json "$out/report.json" --svg "$out" $([ "$model" = 1 ] || echo --no-model) ||
	say "the report failed"
got="$(wc -l <"$out/results.txt")"
say "$got of $n configurations measured in $((SECONDS - t_start)) s (guest log: $log)"
[ "$got" -eq "$n" ] || { say "some configurations did not finish"; [ "$rc" -ne 0 ] || rc=1; }
exit "$rc"
