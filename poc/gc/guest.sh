#!/bin/sh
# The guest side of the F2FS GC experiment (npm run poc:gc, scripts/poc-gc.sh
# boots the guest once and runs this with a plan). For each line of the
# plan it makes a fresh memory-backed null_blk device through configfs, a
# fresh F2FS on it in lfs mode, selects the kernel's victim policy, fills
# it, runs the warm-up (in chunks, to see whether it reached steady state)
# and the measured phase, and prints one line
#     POCGC name=.. policy=.. dist=.. util=.. seed=.. key=value ...
# with the measured phase's counters, then removes the device.
#
#   sh poc/gc/guest.sh PLAN
#
# A plan line (key=value words; '#' comments):
#   name=NAME policy=greedy|cb|ioctl|ioctl@S:T|kf:POLICY dist=hotcold:90/10|hotcold:80/20|zipf|uniform
#   util=PCT seed=N warmup=OPS ops=OPS [workload=PROG] [minhot=N] [record=1]
# policy: greedy/cb = F2FS's own (sysfs gc_idle=2/1, for foreground and
# background GC alike); ioctl = greedy F2FS plus poc/gc/cleaner.c driving
# F2FS_IOC_GARBAGE_COLLECT_RANGE from another process during the warm-up
# and the measured phase, cleaning from S to T free segments above the GC
# reserved count (ioctl@S:T; ioctl is ioctl@8:12); kf:POLICY = koffloadd
# serving dist/examples/f2fs-POLICY.js (greedy, cost-benefit, learned) to
# the patched F2FS, started after the mount and before the fill, stopped
# after the measured phase, over F2FS's cost-benefit (gc_idle=1, or
# POCGC_KF_GC_IDLE) for whatever it does not decide. workload=PROG runs
# PROG fill DIR UTIL SEED and PROG run DIR OPS SEED instead of the built-in
# workload (dist unused). minhot=N writes N to sysfs min_hot_blocks after
# the mount (F2FS's default is 16; 0 keeps user data out of the hot data
# log). record=1 runs koffloadd with --record /tmp/record-<dev>.jsonl (its
# size is reported; the guest's /tmp does not outlive the run).
# fault=kill (kf: only): the measured phase in three thirds: the policy
# serving; koffloadd SIGKILLed 2 s into the second third and started again
# 5 s later (a fresh process: no state but what it polls); SIGKILLed 2 s
# into the last third for good. The line adds waf_gc_part1..3, advised_part1..3
# and fallback_part1..3 (the patch's counters per third), kill_at_s and
# kill2_at_s (from the measured phase's start), rebound_s (kill to the new
# process's binding), and write_max_us / fsync_max_us over the three; its
# percentiles are the last third's.
# A koffload configuration runs in a batch of its own kind only once:
# one handler binds f2fs_gc, and it serves one policy.
#
# Environment: POCGC_DEV_MB (default 1024), POCGC_CLEANER_ARGS (extra
# cleaner options; default thresholds from mkfs's GC reserved count),
# POCGC_JOBS (configurations run at once, each on its own device; default
# 1). Jobs share the guest's CPUs: latencies depend on it.
# POCGC_WARM_CHUNK (default 500000): the warm-up runs in chunks of this many
# writes and the POCGC line lists each chunk's GC data WAF (warm_waf_gc).
# Exit status: 0, or 1 when a configuration failed (the others still run).

dev_mb="${POCGC_DEV_MB:-1024}"
jobs="${POCGC_JOBS:-1}"
chunk="${POCGC_WARM_CHUNK:-500000}"
status=0

say() { echo "poc-gc: $*"; }
now() { awk '{ print $1 }' /proc/uptime; }

# Counters, one "key=value" per word: the [WRITE] part of iostat_info
# (bytes), the device's written sectors, the GC counters of debugfs status.
snapshot() {
	awk '
		/^\[READ\]/ { exit }
		/^app buffered data:/ { printf "app=%s ", $4 }
		/^fs data:/ { printf "fsdata=%s ", $3 }
		/^fs node:/ { printf "fsnode=%s ", $3 }
		/^fs meta:/ { printf "fsmeta=%s ", $3 }
		/^fs gc data:/ { printf "gcdata=%s ", $4 }
		/^fs gc node:/ { printf "gcnode=%s ", $4 }
		/^fs cp data:/ { printf "cpdata=%s ", $4 }
		/^fs cp node:/ { printf "cpnode=%s ", $4 }
		/^fs cp meta:/ { printf "cpmeta=%s ", $4 }
	' "/proc/fs/f2fs/$dev/iostat_info"
	awk '{ printf "wsect=%s ", $7 }' "/sys/block/$dev/stat"
	# status has a block per mounted F2FS; ours is the one naming $dev.
	awk -v want="($dev)." '
		/^=====\[ partition info/ { mine = index($0, want) > 0; next }
		!mine { next }
		/^GC calls:/ { gsub(/[()]/, ""); printf "gccalls=%s bgcalls=%s ", $3, $5 }
		/^  - data segments :/ { gsub(/[()]/, ""); printf "gcdatasegs=%s bgdatasegs=%s ", $5, $6 }
		/^  - node segments :/ { gsub(/[()]/, ""); printf "gcnodesegs=%s bgnodesegs=%s ", $5, $6 }
		/^CP calls:/ { gsub(/[()]/, ""); printf "cpcalls=%s ", $3 }
	' /sys/kernel/debug/f2fs/status
	echo
}

# $1, $2: snapshots before and after; prints the derived numbers.
derive() {
	echo "$1" "|" "$2" | awk '
		{
			half = 1
			for (i = 1; i <= NF; i++) {
				if ($i == "|") { half = 2; continue }
				split($i, kv, "=")
				if (half == 1) a[kv[1]] = kv[2]; else b[kv[1]] = kv[2]
			}
			for (k in b) d[k] = b[k] - a[k]
			fs = d["fsdata"] + d["fsnode"] + d["fsmeta"] + d["gcdata"] + d["gcnode"] + d["cpdata"] + d["cpnode"] + d["cpmeta"]
			dev = d["wsect"] * 512
			if (d["fsdata"] <= 0) { print "waf_gc=nan"; exit }
			printf "waf_gc=%.4f waf_dev=%.4f waf_dev_app=%.4f fs_sum_over_dev=%.4f", \
				(d["fsdata"] + d["gcdata"]) / d["fsdata"], dev / d["fsdata"], \
				(d["app"] > 0 ? dev / d["app"] : 0), (dev > 0 ? fs / dev : 0)
			printf " app_mib=%.1f fsdata_mib=%.1f gcdata_mib=%.1f node_mib=%.1f gcnode_mib=%.1f meta_mib=%.1f dev_mib=%.1f", \
				d["app"] / 1048576, d["fsdata"] / 1048576, d["gcdata"] / 1048576, \
				d["fsnode"] / 1048576, d["gcnode"] / 1048576, \
				(d["fsmeta"] + d["cpdata"] + d["cpnode"] + d["cpmeta"]) / 1048576, dev / 1048576
			printf " gc_calls=%d bg_gc_calls=%d gc_data_segs=%d gc_node_segs=%d bg_gc_segs=%d cp_calls=%d\n", \
				d["gccalls"], d["bgcalls"], d["gcdatasegs"], d["gcnodesegs"], \
				d["bgdatasegs"] + d["bgnodesegs"], d["cpcalls"]
		}'
}

kv() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1; }

# koffloadd of a kf: configuration: stop it (SIGTERM: unbind, exit 0).
stop_kf() {
	if [ -n "${kf_pid:-}" ] && kill -TERM "$kf_pid" 2>/dev/null; then
		wait "$kf_pid" || say "$name: koffloadd exited with status $? ($(tail -n 5 "/tmp/koffloadd-$dev.log"))"
	fi
	kf_pid=
}

# koffloadd of a kf: configuration: start it and wait until it has bound
# f2fs_gc. The patch asks the bound policy about every F2FS: this one
# decides for its own device only, the others of the batch keep F2FS's own
# choice.
start_kf() {
	# shellcheck disable=SC2046
	KOFFLOAD_F2FS_DEVICES=$dev node dist/src/cli/koffloadd.js --policy "$kf" --metrics-port $((9464 + job)) --log-level warn \
		$([ "$record" = 1 ] && echo "--record /tmp/record-$dev.jsonl") >>"/tmp/koffloadd-$dev.log" 2>&1 &
	kf_pid=$!
	node poc/gc/kf.mjs wait "$kf_url" 180 ||
		{ say "$name: koffloadd did not bind f2fs_gc: $(cat "/tmp/koffloadd-$dev.log")"; return 1; }
}

# A measured third of a fault run: $1 writes in the background, koffloadd
# SIGKILLed $2 s in (none: not killed), the output kept in /tmp/wl-$dev-$3.out.
fault_part() {
	# shellcheck disable=SC2086
	$wl run "$mnt" "$1" "$seed" >"/tmp/wl-$dev-$3.out" 2>&1 &
	wl_pid=$!
	if [ "$2" != none ]; then
		sleep "$2"
		kill -KILL "$kf_pid"
		wait "$kf_pid" 2>/dev/null
		kf_pid=
		t_killed=$(now)
	fi
	wait "$wl_pid" || { say "$name: run of part $3 failed: $(cat "/tmp/wl-$dev-$3.out")"; return 1; }
}

setup_device() {
	mkdir "$cfg" || return 1
	echo 1 >"$cfg/memory_backed" && echo 4096 >"$cfg/blocksize" &&
		echo "$dev_mb" >"$cfg/size" && echo 1 >"$cfg/power" || return 1
	[ -b "/dev/$dev" ] || { sleep 1; [ -b "/dev/$dev" ]; }
}

teardown_device() {
	stop_kf
	if [ -n "${cleaner_pid:-}" ] && kill -TERM "$cleaner_pid" 2>/dev/null; then
		wait "$cleaner_pid"
	fi
	cleaner_pid=
	grep -q " $mnt " /proc/mounts && umount "$mnt"
	if [ -d "$cfg" ]; then
		echo 0 >"$cfg/power"
		rmdir "$cfg"
	fi
}

# One configuration on /dev/nullb$1; prints the POCGC line. $2...: the plan
# line's words.
run_one() {
	job=$1
	dev=nullb$1
	cfg=/sys/kernel/config/nullb/$dev
	mnt=/mnt/poc$1
	shift
	line="$*"
	name=$(kv "$line" name); policy=$(kv "$line" policy); dist=$(kv "$line" dist)
	util=$(kv "$line" util); seed=$(kv "$line" seed); warmup=$(kv "$line" warmup)
	ops=$(kv "$line" ops); prog=$(kv "$line" workload)
	minhot=$(kv "$line" minhot); record=$(kv "$line" record); fault=$(kv "$line" fault)
	band=8:12
	kf=
	case "$policy" in
		greedy | ioctl) gc_idle=2 ;;
		ioctl@*:*) gc_idle=2; band=${policy#ioctl@} ;;
		cb) gc_idle=1 ;;
		kf:*)
			gc_idle=${POCGC_KF_GC_IDLE:-1}
			kf=dist/examples/f2fs-${policy#kf:}.js
			[ -f "$kf" ] || { say "$name: no policy $kf"; return 1; }
			;;
		*) say "$name: unknown policy '$policy'"; return 1 ;;
	esac
	t0=$(now)
	setup_device || { say "$name: cannot create /dev/$dev"; return 1; }
	mkfs_out=$(mkfs.f2fs -f "/dev/$dev" 2>&1) || { say "$name: mkfs.f2fs failed: $mkfs_out"; return 1; }
	if [ "$mkfs_shown" = 0 ]; then
		echo "----- mkfs.f2fs -f /dev/$dev ($dev_mb MiB null_blk, 4 KiB blocks) -----"
		echo "$mkfs_out"
		echo "----- end of mkfs.f2fs -----"
	fi
	reserved=$(echo "$mkfs_out" | sed -n 's/.*GC reserved = \([0-9]*\).*/\1/p')
	mkdir -p "$mnt"
	mount -t f2fs -o mode=lfs "/dev/$dev" "$mnt" || { say "$name: mount failed"; return 1; }
	sys=/sys/fs/f2fs/$dev
	echo "$gc_idle" >"$sys/gc_idle" || { say "$name: cannot set gc_idle=$gc_idle"; return 1; }
	echo 1 >"$sys/iostat_enable" || { say "$name: cannot enable iostat"; return 1; }
	if [ -n "$minhot" ]; then
		echo "$minhot" >"$sys/min_hot_blocks" || { say "$name: cannot set min_hot_blocks=$minhot"; return 1; }
	fi
	kf_pid=
	kf_url=
	if [ -n "$kf" ]; then
		# Before the fill: the policy sees the filesystem from its start.
		# Its record and log go to the guest's /tmp, never to $mnt.
		kf_url=http://127.0.0.1:$((9464 + job))/metrics
		start_kf || return 1
	fi
	if [ "$mkfs_shown" = 0 ]; then
		# The geometry, once: what statfs and F2FS say about the fresh filesystem.
		echo "----- geometry -----"
		stat -f -c 'statfs: block size %S, blocks %b, free %f, available %a' "$mnt"
		awk -v want="($dev)." '
			/^=====\[ partition info/ { mine = index($0, want) > 0; next }
			mine && /^Main area:|^  - Free:|^  - Prefree/
		' /sys/kernel/debug/f2fs/status
		for f in main_blkaddr ovp_segments free_segments reserved_blocks max_victim_search; do
			echo "$f: $(cat "$sys/$f")"
		done
		echo "----- end of geometry -----"
	fi
	if [ -n "$prog" ]; then
		wl="$prog"
		wl_opts=
	else
		wl=workload
		wl_opts="--dist $dist"
	fi
	# shellcheck disable=SC2086
	out=$($wl $wl_opts fill "$mnt" "$util" "$seed") || { say "$name: fill failed: $out"; return 1; }
	[ -n "$out" ] && echo "$out"
	t_fill=$(now)

	cleaner_pid=
	if [ "${policy%%@*}" = ioctl ]; then
		# By default just above the kernel's own foreground trigger
		# (free sections at about the GC reserved count).
		cleaner --start-free $((reserved + ${band%:*})) --stop-free $((reserved + ${band#*:})) \
			$POCGC_CLEANER_ARGS "$mnt" "$dev" >"/tmp/cleaner-$dev.out" 2>&1 &
		cleaner_pid=$!
	fi
	# The warm-up in chunks, each chunk's GC data WAF kept: whether the
	# measured phase is steady state shows in the last ones.
	done_ops=0
	warm_wafs=
	s2=$(snapshot)
	while [ "$done_ops" -lt "$warmup" ]; do
		c=$((warmup - done_ops))
		[ "$c" -le "$chunk" ] || c=$chunk
		out=$($wl run "$mnt" "$c" "$seed") || { say "$name: warm-up failed: $out"; return 1; }
		s=$(snapshot)
		warm_wafs="$warm_wafs${warm_wafs:+,}$(derive "$s2" "$s" | sed 's/ .*//; s/waf_gc=//')"
		s2=$s
		done_ops=$((done_ops + c))
	done
	# The cleaner's counters at the start of the measured phase.
	[ -n "$cleaner_pid" ] && kill -USR1 "$cleaner_pid"
	# every configuration: the patch's counters show whether anything advised it
	node poc/gc/kf.mjs snap "${kf_url:--}" "$dev" "/tmp/kf-a-$dev.json"
	t_warm=$(now)
	fw=
	if [ "$fault" = kill ] && [ -n "$kf_pid" ]; then
		third=$((ops / 3))
		p0=$s2
		fault_part "$third" none 1 || return 1
		p1=$(snapshot)
		node poc/gc/kf.mjs snap - "$dev" "/tmp/kf-p1-$dev.json"
		# killed 2 s in, a new koffloadd 5 s later (the writes go on)
		$wl run "$mnt" "$third" "$seed" >"/tmp/wl-$dev-2.out" 2>&1 &
		wl_pid=$!
		sleep 2
		kill -KILL "$kf_pid"
		wait "$kf_pid" 2>/dev/null
		t_kill=$(now)
		sleep 5
		start_kf || return 1
		t_bound=$(now)
		wait "$wl_pid" || { say "$name: run of part 2 failed: $(cat "/tmp/wl-$dev-2.out")"; return 1; }
		p2=$(snapshot)
		node poc/gc/kf.mjs snap - "$dev" "/tmp/kf-p2-$dev.json"
		fault_part $((ops - 2 * third)) 2 3 || return 1
		s3=$(snapshot)
		node poc/gc/kf.mjs snap - "$dev" "/tmp/kf-p3-$dev.json"
		out=$(cat "/tmp/wl-$dev-3.out")
		waf_of() { derive "$1" "$2" | sed 's/ .*//; s/waf_gc=//'; }
		counter_of() { node poc/gc/kf.mjs diff "$1" "$2" | tr ' ' '\n' | sed -n "s/^kf_$3=//p"; }
		maxof() { cat "/tmp/wl-$dev-1.out" "/tmp/wl-$dev-2.out" "/tmp/wl-$dev-3.out" | tr ' ' '\n' | sed -n "s/^$1=//p" | sort -g | tail -n 1; }
		fw="fault=kill kill_at_s=$(awk -v a="$t_warm" -v b="$t_kill" 'BEGIN { printf "%.1f", b - a }')"
		fw="$fw rebound_s=$(awk -v a="$t_kill" -v b="$t_bound" 'BEGIN { printf "%.1f", b - a }')"
		fw="$fw kill2_at_s=$(awk -v a="$t_warm" -v b="$t_killed" 'BEGIN { printf "%.1f", b - a }')"
		fw="$fw waf_gc_part1=$(waf_of "$p0" "$p1") waf_gc_part2=$(waf_of "$p1" "$p2") waf_gc_part3=$(waf_of "$p2" "$s3")"
		a=/tmp/kf-a-$dev.json
		for k in 1 2 3; do
			b=/tmp/kf-p$k-$dev.json
			fw="$fw advised_part$k=$(counter_of "$a" "$b" victim_advised) fallback_part$k=$(counter_of "$a" "$b" victim_fallback_no_advice)"
			a=$b
		done
		fw="$fw write_max_us=$(maxof write_max_us) fsync_max_us=$(maxof fsync_max_us)"
		kf_url=
	else
		out=$($wl run "$mnt" "$ops" "$seed") || { say "$name: run failed: $out"; return 1; }
		s3=$(snapshot)
	fi
	t_run=$(now)
	echo "$out"
	kfw=
	if [ -z "$kf_url" ]; then
		node poc/gc/kf.mjs snap - "$dev" "/tmp/kf-b-$dev.json" &&
			kfw=$(node poc/gc/kf.mjs diff "/tmp/kf-a-$dev.json" "/tmp/kf-b-$dev.json")
	else
		# the kernel's counters reach /metrics within a second
		sleep 1
		node poc/gc/kf.mjs snap "$kf_url" "$dev" "/tmp/kf-b-$dev.json" &&
			kfw=$(node poc/gc/kf.mjs diff "/tmp/kf-a-$dev.json" "/tmp/kf-b-$dev.json")
		stop_kf
		[ "$record" = 1 ] && kfw="$kfw record_lines=$(wc -l <"/tmp/record-$dev.jsonl") record_bytes=$(wc -c <"/tmp/record-$dev.jsonl")"
	fi
	cl=
	if [ -n "$cleaner_pid" ]; then
		kill -TERM "$cleaner_pid"
		wait "$cleaner_pid"
		# Measured phase: the last line minus the first.
		cl=$(sed -n 's/^CLEANER //p' "/tmp/cleaner-$dev.out" | awk '
			NR == 1 { for (i = 1; i <= NF; i++) { split($i, kv, "="); a[kv[1]] = kv[2] } }
			{ last = $0 }
			END {
				n = split(last, f, " ")
				for (i = 1; i <= n; i++) { split(f[i], kv, "="); printf "%s=%d ", kv[1], kv[2] - a[kv[1]] }
			}')
		[ -n "$cl" ] && [ "$(grep -c '^CLEANER ' "/tmp/cleaner-$dev.out")" -eq 2 ] ||
			{ say "$name: the cleaner said: $(cat "/tmp/cleaner-$dev.out")"; cl=; }
		cleaner_pid=
	fi
	m=$(derive "$s2" "$s3")
	lat=$(echo "$out" | tr ' ' '\n' | grep -E '^(write_p50_us|write_p99_us|write_p999_us|fsync_p99_us)=' | tr '\n' ' ')
	victims=$(kv "$cl" victims)
	echo "POCGC name=$name policy=$policy dist=$dist util=$util seed=$seed warmup=$warmup ops=$ops minhot=${minhot:-16}" \
		"$m warm_waf_gc=${warm_wafs:-none} $lat $kfw $fw" \
		"${victims:+cleaner_victims=$victims cleaner_checkpoints=$(kv "$cl" checkpoints) cleaner_skipped=$(kv "$cl" skipped) cleaner_errors=$(kv "$cl" errors) }" \
		"fill_s=$(awk -v a="$t0" -v b="$t_fill" 'BEGIN { printf "%.1f", b - a }')" \
		"warmup_s=$(awk -v a="$t_fill" -v b="$t_warm" 'BEGIN { printf "%.1f", b - a }')" \
		"run_s=$(awk -v a="$t_warm" -v b="$t_run" 'BEGIN { printf "%.1f", b - a }')" | tr -s ' '
	teardown_device
	return 0
}

plan="$1"
[ -f "$plan" ] || { say "no plan file '$plan'"; exit 2; }
[ "$jobs" -ge 1 ] 2>/dev/null || { say "POCGC_JOBS must be a count"; exit 2; }

grep -q ' /sys/kernel/config ' /proc/mounts || mount -t configfs none /sys/kernel/config ||
	{ say "cannot mount configfs"; exit 1; }
[ -d /sys/kernel/config/nullb ] || { say "null_blk is not loaded (no /sys/kernel/config/nullb)"; exit 1; }

# Up to $jobs configurations at a time, job i on /dev/nullb<i>; a batch
# ends when all of its jobs have, then their output is printed in order.
mkfs_shown=0
n=0
flush_batch() {
	wait
	i=0
	while [ "$i" -lt "$n" ]; do
		cat "/tmp/job$i.out"
		grep -q '^POCGC ' "/tmp/job$i.out" || status=1
		i=$((i + 1))
	done
	n=0
	echo 3 >/proc/sys/vm/drop_caches
}
batch_kf=0
while IFS= read -r line; do
	line="${line%%#*}"
	[ -n "$(echo "$line" | tr -d ' \t')" ] || continue
	case " $line " in
		*" policy=kf:"*)
			# one handler per subsystem: one koffload configuration a batch
			[ "$batch_kf" = 0 ] || { flush_batch; batch_kf=0; }
			batch_kf=1
			;;
	esac
	say "start: $line"
	(
		run_one "$n" $line || { teardown_device; exit 1; }
	) >"/tmp/job$n.out" 2>&1 &
	mkfs_shown=1
	n=$((n + 1))
	if [ "$n" -ge "$jobs" ]; then
		flush_batch
		batch_kf=0
	fi
done <"$plan"
[ "$n" -eq 0 ] || flush_batch
grep -q ' /sys/kernel/config ' /proc/mounts && umount /sys/kernel/config
exit "$status"
