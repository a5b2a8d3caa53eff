#!/usr/bin/env bash
# The F2FS GC experiment on a real F2FS in the QEMU guest (docs/poc-gc.md).
# Builds f2fs.ko (scripts/build-f2fs.sh), the workload and the userspace
# cleaner (poc/gc/*.c, gcc), writes a plan, boots the guest ONCE through
# scripts/kernel-test.sh and runs every configuration in it
# (poc/gc/guest.sh), then prints a table of the measured phases.
#
#   npm run poc:gc                       the full matrix (by hand, hours): greedy, cb
#                                        and ioctl x 4 workloads x 70/80/90% x seeds 1 2
#   npm run poc:gc -- --quick            hot/cold 90/10 at 80%, greedy and cb, seed 1
#                                        (the CI row; about 8 minutes on an idle host)
#   npm run poc:gc -- [--policies "greedy cb ioctl"] [--dists "hotcold:90/10 zipf"]
#                     [--utils "80"] [--seeds "1 2"] [--warmup N] [--ops N]
#                     [--workload PATH] [--jobs N]
#
# --workload PATH runs an external static workload program instead of the
# built-in ones: `PATH fill DIR FILL_PCT SEED` once, then `PATH run DIR OPS
# SEED` for the warm-up (in chunks of POCGC_WARM_CHUNK) and again for the
# measured phase; it must write only under DIR and exit 0 (poc/gc/workload.c
# is one).
# Policies: greedy, cb = F2FS's own (gc_idle=2, 1); ioctl = greedy F2FS with
# poc/gc/cleaner.c cleaning through F2FS_IOC_GARBAGE_COLLECT_RANGE from 8
# to 12 free segments above the GC reserved count; ioctl@S:T from S to T.
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

policies="greedy cb ioctl"
dists="hotcold:90/10 hotcold:80/20 zipf uniform"
utils="70 80 90"
seeds="1 2"
warmup=1000000
ops=1000000
workload=
jobs=2
while [ $# -gt 0 ]; do
	case "$1" in
		--quick) policies="greedy cb"; dists="hotcold:90/10"; utils=80; seeds=1; shift ;;
		--policies) policies="$2"; shift 2 ;;
		--dists) dists="$2"; shift 2 ;;
		--utils) utils="$2"; shift 2 ;;
		--seeds) seeds="$2"; shift 2 ;;
		--warmup) warmup="$2"; shift 2 ;;
		--ops) ops="$2"; shift 2 ;;
		--workload) workload="$2"; shift 2 ;;
		--jobs) jobs="$2"; shift 2 ;;
		-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
		*) die "unknown argument '$1' (try --help)" ;;
	esac
done
for p in $policies; do
	[[ "$p" =~ ^(greedy|cb|ioctl|ioctl@[0-9]+:[0-9]+)$ ]] || die "unknown policy '$p' (greedy, cb, ioctl, ioctl@S:T)"
done
[[ "$warmup" =~ ^[0-9]+$ && "$ops" =~ ^[0-9]+$ && "$ops" -gt 0 ]] || die "--warmup and --ops want counts"
[[ "$jobs" =~ ^[1-9][0-9]*$ ]] || die "--jobs wants a positive count"

out="$repo/build/poc-gc"
mkdir -p "$out"
t_start=$SECONDS

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
bins="mkfs.f2fs $out/workload $out/cleaner"
wl_guest=
if [ -n "$workload" ]; then
	[ -x "$workload" ] || die "--workload $workload is not an executable"
	workload="$(readlink -f "$workload")"
	bins="$bins $workload"
	wl_guest="/usr/local/bin/$(basename "$workload")"
	dists=external
fi

# ---------------------------------------------------------------- plan
plan="$out/plan"
: >"$plan"
n=0
for dist in $dists; do
	for util in $utils; do
		for seed in $seeds; do
			for p in $policies; do
				n=$((n + 1))
				printf 'name=c%02d policy=%s dist=%s util=%s seed=%s warmup=%s ops=%s%s\n' \
					"$n" "$p" "$dist" "$util" "$seed" "$warmup" "$ops" \
					"${wl_guest:+ workload=$wl_guest}" >>"$plan"
			done
		done
	done
done
say "$n configurations (plan: $plan)"

# At most 12 minutes a batch of jobs of 2M ops under TCG, plus the boot.
batches=$(( (n + jobs - 1) / jobs ))
limit="${KOFFLOAD_QEMU_TIMEOUT:-$(( batches * (720 * (warmup + ops) / 2000000 + 60) + 300 ))}"
log="$out/guest.log"
export KOFFLOAD_KMOD_NAMES="${KOFFLOAD_KMOD_NAMES-koffload}"
export KOFFLOAD_CLOUD_KMODS="crc32_generic null_blk:nr_devices=0"
export KOFFLOAD_EXTRA_KOS="$f2fs_ko"
export KOFFLOAD_GUEST_BINS="$bins"
export KOFFLOAD_GUEST_FILES="poc/gc/guest.sh build/poc-gc/plan"
export KOFFLOAD_GUEST_CMD="sh poc/gc/guest.sh build/poc-gc/plan"
# Each job: its device in RAM, plus page cache for its files.
export KOFFLOAD_QEMU_MEM="${KOFFLOAD_QEMU_MEM:-$(( 2048 + jobs * 1280 ))}"
export POCGC_JOBS="$jobs"
export KOFFLOAD_QEMU_TIMEOUT="$limit"
export KOFFLOAD_KERNEL_LOG="$log"
export KOFFLOAD_GUEST_PASS="POCGC_DEV_MB POCGC_CLEANER_ARGS POCGC_JOBS POCGC_WARM_CHUNK"
rc=0
KOFFLOAD_SKIP_DEPS=1 bash "$here/kernel-test.sh" >"$out/kernel-test.out" 2>&1 || rc=$?
grep '^POCGC ' "$log" | sed 's/\r//' >"$out/results.txt" || true
grep -E '^kernel-test: (image|PASS|FAIL)' "$out/kernel-test.out" >&2 || true

# ---------------------------------------------------------------- table
awk '
	function lastwarm(l,   n, p) { n = split(l, p, ","); return n ? sprintf("%.3f", p[n]) : "-" }
	function v(k,   i, kv) {
		for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) return kv[2] }
		return "-"
	}
	BEGIN {
		printf "%-5s %-10s %-14s %4s %4s %7s %7s %8s %6s %6s %6s %6s %8s %7s %6s\n",
			"name", "policy", "workload", "util", "seed", "waf_gc", "waf_dev", "warmlast",
			"gc", "bg_gc", "dsegs", "nsegs", "user_gc%", "w_p99us", "run_s"
	}
	{
		gc = v("gc_calls"); cv = v("cleaner_victims")
		share = (cv != "-" && gc > 0) ? sprintf("%.1f", 100 * cv / gc) : "-"
		printf "%-5s %-10s %-14s %4s %4s %7s %7s %8s %6s %6s %6s %6s %8s %7s %6s\n",
			v("name"), v("policy"), v("dist"), v("util"), v("seed"),
			sprintf("%.3f", v("waf_gc")), sprintf("%.3f", v("waf_dev")), lastwarm(v("warm_waf_gc")),
			gc, v("bg_gc_calls"), v("gc_data_segs"), v("gc_node_segs"), share,
			v("write_p99_us"), v("run_s")
		key = v("policy") " " v("dist") " " v("util")
		sum[key] += v("waf_gc"); cnt[key]++
		if (!(key in lo) || v("waf_gc") < lo[key]) lo[key] = v("waf_gc")
		if (!(key in hi) || v("waf_gc") > hi[key]) hi[key] = v("waf_gc")
	}
	END {
		for (k in cnt) if (cnt[k] > 1)
			printf "seeds: %-32s waf_gc mean %.3f, spread %.2f%% over %d seeds\n",
				k, sum[k] / cnt[k], 100 * (hi[k] - lo[k]) / (sum[k] / cnt[k]), cnt[k]
	}
' "$out/results.txt"
got="$(wc -l <"$out/results.txt")"
say "$got of $n configurations measured in $((SECONDS - t_start)) s (guest log: $log)"
[ "$got" -eq "$n" ] || { say "some configurations did not finish"; [ "$rc" -ne 0 ] || rc=1; }
exit "$rc"
