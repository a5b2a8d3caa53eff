#!/bin/sh
# /init of the QEMU guest that scripts/kernel-test.sh boots (busybox ash,
# PID 1). It mounts the pseudo filesystems, loads the koffload modules, runs
# the kernel suite from /koffload, prints
#     KOFFLOAD_GUEST_EXIT=<status>
# on the console and powers the machine off. The host script takes the
# status from that line; no line (panic, hang) counts as a failure.
#
# Inputs written by the host into the image:
#   /koffload/.guest/env      shell assignments (see kernel-test.sh)
#   /koffload/.guest/cmd.sh   the command to run in /koffload
#   /koffload/kmods/*.ko      extra modules (KOFFLOAD_CLOUD_KMODS, KOFFLOAD_EXTRA_KOS):
#                             KOFFLOAD_GUEST_KMODS_FIRST load before the project's
#                             modules, KOFFLOAD_GUEST_KMODS_LAST after them
#
# PID 1 must never exit (that panics the kernel), so no `set -e` here: every
# step checks its own status.

PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
HOME=/root
TERM=dumb
export PATH HOME TERM

mkdir -p /proc /sys /dev /tmp /run /root
mount -t devtmpfs devtmpfs /dev 2>/dev/null
# The image carries /dev/console, but be sure the console is ours.
[ -c /dev/console ] && exec </dev/console >/dev/console 2>&1

say() { echo "koffload-guest: $*"; }

mount -t proc proc /proc || say "mount /proc failed"
mount -t sysfs sysfs /sys || say "mount /sys failed"
mount -t debugfs debugfs /sys/kernel/debug || say "mount debugfs failed"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp || say "mount /tmp failed"
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run || say "mount /run failed"
mkdir -p /dev/pts /dev/shm
mount -t devpts -o gid=5,mode=620 devpts /dev/pts 2>/dev/null
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm 2>/dev/null
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd
hostname koffload-guest
ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up || say "cannot bring up lo"

KOFFLOAD_TARGET=kernel
KOFFLOAD_KMOD_DIR=/koffload/kernel-shim
KOFFLOAD_GUEST_MODULES="koffload koffload_test"
KOFFLOAD_GUEST_KMODS_FIRST=
KOFFLOAD_GUEST_KMODS_LAST=
KOFFLOAD_GUEST_TIMEOUT=0
KOFFLOAD_FAIL_TAINT_MASK=672
KOFFLOAD_SKIP_UNLOAD=0
[ -f /koffload/.guest/env ] && . /koffload/.guest/env
export KOFFLOAD_TARGET KOFFLOAD_KMOD_DIR

status=0
stage=
dmesg_lines=50

dmesg_tail() {
	echo "----- guest dmesg (last ${1:-50} lines) -----"
	dmesg | tail -n "${1:-50}"
	echo "----- end of guest dmesg -----"
}

# Ends the run: reports, prints the marker, powers off. Never returns.
finish() {
	status="$1"
	if [ "$status" -ne 0 ]; then
		[ -n "$stage" ] && echo "KOFFLOAD_GUEST_FAILED_STAGE=$stage"
		dmesg_tail "$dmesg_lines"
	fi
	read -r up _ </proc/uptime
	echo "KOFFLOAD_GUEST_UPTIME=$up"
	# Keep kernel messages from splitting the marker line.
	echo 1 >/proc/sys/kernel/printk 2>/dev/null
	echo
	echo "KOFFLOAD_GUEST_EXIT=$status"
	sync
	# Let the serial port drain before the machine goes away.
	sleep 1
	poweroff -f
	echo o >/proc/sysrq-trigger 2>/dev/null
	sleep 10
	exit "$status" # PID 1 exiting panics; with panic=-1 and -no-reboot QEMU stops
}

read -r up _ </proc/uptime
say "kernel $(uname -r), up ${up}s, $(grep -c ^processor /proc/cpuinfo) cpus, $(sed -n 's/^MemTotal: *//p' /proc/meminfo) RAM"
taint0=$(cat /proc/sys/kernel/tainted)  # not `read`: sysctl files do not do 1-byte reads

# Loads $1/<name>.ko for each "name" or "name:arg=val,arg=val" in $2.
load_modules() {
	dir="$1"
	for spec in $2; do
		m="${spec%%:*}"
		args=
		case "$spec" in *:*) args="$(echo "${spec#*:}" | tr ',' ' ')" ;; esac
		ko="$dir/$m.ko"
		stage="insmod:$m.ko"
		if [ ! -f "$ko" ]; then
			say "module file $ko is missing from the image"
			finish 2
		fi
		# $args unquoted: one word per parameter.
		if ! insmod "$ko" $args; then
			say "insmod $ko $args FAILED: the module did not load"
			finish 2
		fi
		say "loaded $m${args:+ ($args)}"
	done
}
load_modules /koffload/kmods "$KOFFLOAD_GUEST_KMODS_FIRST"
load_modules "$KOFFLOAD_KMOD_DIR" "$KOFFLOAD_GUEST_MODULES"
load_modules /koffload/kmods "$KOFFLOAD_GUEST_KMODS_LAST"
all_modules=
for spec in $KOFFLOAD_GUEST_KMODS_FIRST $KOFFLOAD_GUEST_MODULES $KOFFLOAD_GUEST_KMODS_LAST; do
	all_modules="$all_modules ${spec%%:*}"
done
[ -n "$all_modules" ] && grep -E "^($(echo $all_modules | tr ' ' '|')) " /proc/modules

cd /koffload || finish 2
stage=suite
read -r up _ </proc/uptime
say "running the suite at ${up}s: $(cat /koffload/.guest/cmd.sh | grep -v '^#' | tr '\n' ' ')"
if [ "$KOFFLOAD_GUEST_TIMEOUT" -gt 0 ] 2>/dev/null; then
	timeout -s TERM -k 30 "$KOFFLOAD_GUEST_TIMEOUT" sh /koffload/.guest/cmd.sh
	rc=$?
	# busybox timeout reports a killed command as 128+signal.
	if [ "$rc" -eq 143 ] || [ "$rc" -eq 137 ]; then
		say "the suite ran past ${KOFFLOAD_GUEST_TIMEOUT}s and was killed; blocked tasks follow"
		echo w >/proc/sysrq-trigger 2>/dev/null
		sleep 1
		dmesg_lines=200
		# Leftovers (children of the suite) go too; PID 1 survives kill -1.
		kill -TERM -1 2>/dev/null
		sleep 1
		kill -KILL -1 2>/dev/null
		rc=124
	fi
else
	sh /koffload/.guest/cmd.sh
	rc=$?
fi
cd /
say "suite exited with status $rc"
[ "$rc" -ne 0 ] && finish "$rc"

# The suite passed; check the kernel took no damage along the way.
stage=taint
taint1=$(cat /proc/sys/kernel/tainted)  # not `read`: sysctl files do not do 1-byte reads
new=$(( taint1 & ~taint0 ))
# 12288 = O|E: out-of-tree, unsigned module; expected.
if [ $(( new & ~12288 )) -ne 0 ]; then
	say "kernel taint went from $taint0 to $taint1 (new bits $new)"
	if [ $(( new & KOFFLOAD_FAIL_TAINT_MASK )) -ne 0 ]; then
		say "the kernel warned, oopsed or saw a bad page during the run (taint mask $KOFFLOAD_FAIL_TAINT_MASK)"
		finish 3
	fi
fi

if [ "$KOFFLOAD_SKIP_UNLOAD" != 1 ]; then
	stage=rmmod
	unload=
	for m in $all_modules; do unload="$m $unload"; done
	for m in $unload; do
		grep -q "^$m " /proc/modules || continue
		if ! rmmod "$m"; then
			say "rmmod $m FAILED after the suite"
			grep "^$m " /proc/modules
			finish 4
		fi
		say "unloaded $m"
	done
	taint2=$(cat /proc/sys/kernel/tainted)  # not `read`: sysctl files do not do 1-byte reads
	if [ $(( (taint2 & ~taint0) & KOFFLOAD_FAIL_TAINT_MASK )) -ne 0 ]; then
		say "the kernel warned or oopsed while unloading (taint $taint2)"
		finish 3
	fi
fi

stage=
finish 0
