#!/usr/bin/env bash
# Runs the conformance suite (dist/test/conformance/**/*.test.js) against the real
# koffload.ko inside Debian's cloud kernel, booted in QEMU with software
# emulation (no KVM here).
#
#   npm run test:kernel            (builds dist/ first, then runs this)
#   bash scripts/kernel-test.sh    (from anywhere; dist/ must be built)
#
# Steps: install the Debian packages (scripts/install-kernel-deps.sh), build
# the modules (scripts/build-modules.sh), pack an initramfs (busybox-static,
# node and the libraries it and every *.node addon need, the project's dist/
# with its own addon dist/native/koffload_nl.node, node_modules/,
# package.json, proto/ and kernel-shim/*.ko, with scripts/guest-init.sh as
# /init), boot it and stream the guest console here and into a log file.
# The guest loads koffload.ko then koffload_test.ko, runs mocha in
# /koffload with KOFFLOAD_TARGET=kernel and
# KOFFLOAD_KMOD_DIR=/koffload/kernel-shim, checks the kernel did not warn or
# oops, unloads the modules, and prints KOFFLOAD_GUEST_EXIT=<status>. This
# script exits with that status; without the line (kernel panic, hang) it
# fails.
#
# Exit status: the suite's status (mocha: number of failed tests), or
#   2    a module failed to load (or harness error before boot)
#   3    the kernel warned, oopsed or hit a bad page while the suite passed
#   4    a module would not unload after the suite
#   124  timed out (inside the guest or the whole QEMU run)
#   125  no KOFFLOAD_GUEST_EXIT line: the guest crashed or never finished
#
# Environment:
#   KOFFLOAD_GUEST_CMD       shell command run in /koffload instead of mocha
#   KOFFLOAD_GUEST_ESBUILD=0 leave esbuild out (packed by default: koffloadd's policy
#                            loader needs it, and the conformance suite's pressure test,
#                            test/conformance/pressure.test.ts, runs koffloadd)
#   KOFFLOAD_MOCHA_ARGS      extra mocha arguments (shell words), e.g. "--grep unload"
#   KOFFLOAD_KERNEL_SPEC     spec glob (default 'dist/test/conformance/**/*.test.js')
#   KOFFLOAD_QEMU_TIMEOUT    limit for the whole QEMU run: seconds or 40m/2h (default 40m);
#                            the suite itself gets 90 s less, then blocked tasks are dumped
#   KOFFLOAD_QEMU_MEM        guest RAM in MiB (default 2048)
#   KOFFLOAD_QEMU_SMP        guest CPUs (default 2)
#   KOFFLOAD_KERNEL_APPEND   extra kernel command line
#   KOFFLOAD_KERNEL_LOGLEVEL console loglevel (default 5: warnings and worse reach the console)
#   KOFFLOAD_KERNEL_LOG      log file (default build/kernel-test.log)
#   KOFFLOAD_KMOD_SRC        module sources (default kernel-shim), see build-modules.sh
#   KOFFLOAD_KDIR            kernel tree to build the modules against (default: the
#                            cloud kernel's headers), see build-modules.sh
#   KOFFLOAD_KMOD_MAKE_ARGS  extra make arguments of the module build, see build-modules.sh
#   KOFFLOAD_KERNEL_IMAGE    kernel image to boot (default /boot/vmlinuz-<KVER>); with
#                            KOFFLOAD_KDIR, the image built from that tree
#   KOFFLOAD_KMOD_NAMES      modules to build, pack and insmod in order
#                            (default "koffload koffload_test"; empty: load none)
#   KOFFLOAD_FAIL_TAINT_MASK taint bits that fail a passing run (default 672 = B|D|W)
#   KOFFLOAD_SKIP_UNLOAD=1   do not rmmod the modules after the suite
#   KOFFLOAD_INITRAMFS_COMPRESS  zstd (default), gzip or none
#   KOFFLOAD_KEEP_IMAGE=1    keep the temporary directory with the initramfs
#   KOFFLOAD_SKIP_DEPS=1     do not run scripts/install-kernel-deps.sh
#   KOFFLOAD_GUEST_PASS      names of further host variables to pass into the guest
#   KOFFLOAD_QEMU_LOCK       lock file that keeps to one QEMU at a time on this machine
#                            (default /tmp/koffload-qemu.lock; two guests share two cores)
#
# Extras (the F2FS experiment, npm run poc:gc, uses them):
#   KOFFLOAD_CLOUD_KMODS     modules of the cloud kernel itself, taken from the installed
#                            linux-image-<kver> package, loaded in this order before the
#                            project's modules, each after the modules it depends on
#                            (modinfo); "name:arg=val,arg=val" passes module parameters,
#                            e.g. "crc32_generic null_blk:nr_devices=0" (default "nlmon zram
#                            lzo-rle": the conformance suite runs the calling contexts with a
#                            netlink tap up, and its pressure test swaps to zram, whose
#                            default compressor is lzo-rle; empty: none)
#   KOFFLOAD_EXTRA_KOS       paths of further built modules (e.g. the f2fs.ko that
#                            scripts/build-f2fs.sh prints), loaded in this order after the
#                            project's modules; all are unloaded in reverse after the run
#   KOFFLOAD_GUEST_BINS      programs (names on the PATH or paths) copied with the
#                            libraries ldd lists into the guest's /usr/local/bin, e.g. mkfs.f2fs
#   KOFFLOAD_GUEST_OPTIONAL_BINS  the same for programs the suite can do without: copied when
#                            installed, else left out with a line saying so (`npm run
#                            test:kernel` names prometheus here, ~48 MiB: the suite's
#                            test/conformance/prometheus.test.ts skips without it)
#   KOFFLOAD_GUEST_FILES     files or directories of the repository copied to the same
#                            path under the guest's /koffload, e.g. poc/gc
#   Every other KOFFLOAD_* variable of the host is passed into the guest as is.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
cd "$repo"

say() { echo "kernel-test: $*" >&2; }
die() { say "$*"; exit 2; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# Seconds in a timeout(1)-style duration: 90, 90s, 40m, 2h.
to_seconds() {
	local v="$1"
	[[ "$v" =~ ^([0-9]+)([smhd]?)$ ]] || die "bad duration '$v' (want e.g. 2400, 40m, 2h)"
	case "${BASH_REMATCH[2]}" in
		m) echo $(( BASH_REMATCH[1] * 60 )) ;;
		h) echo $(( BASH_REMATCH[1] * 3600 )) ;;
		d) echo $(( BASH_REMATCH[1] * 86400 )) ;;
		*) echo $(( BASH_REMATCH[1] )) ;;
	esac
}

# Single-quotes $1 for a POSIX shell.
shquote() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

t_start="$(now)"

# ---------------------------------------------------------------- checks
[ -d dist ] || die "dist/ is missing: run 'npm run build' first (or use 'npm run test:kernel')"
[ -f node_modules/mocha/bin/mocha.js ] || die "node_modules/mocha is missing: run 'npm ci'"
[ -n "${KOFFLOAD_GUEST_CMD:-}" ] || [ -d dist/test/conformance ] ||
	say "warning: dist/test/conformance does not exist; mocha will find no tests"

if [ "${KOFFLOAD_SKIP_DEPS:-0}" != 1 ]; then
	bash "$here/install-kernel-deps.sh"
fi
for tool in qemu-system-x86_64 busybox cpio timeout ldd; do
	command -v "$tool" >/dev/null || die "$tool is not installed (run scripts/install-kernel-deps.sh)"
done

qemu_timeout="$(to_seconds "${KOFFLOAD_QEMU_TIMEOUT:-40m}")"
[ "$qemu_timeout" -ge 60 ] || die "KOFFLOAD_QEMU_TIMEOUT must be at least 60 seconds"
guest_timeout=$(( qemu_timeout - 90 ))
[ "$guest_timeout" -ge 30 ] || guest_timeout=30

log="${KOFFLOAD_KERNEL_LOG:-$repo/build/kernel-test.log}"
mkdir -p "$(dirname "$log")"
: >"$log"

# ---------------------------------------------------------------- modules
say "building the modules"
t0="$(now)"
build_out="$(KOFFLOAD_SKIP_DEPS=1 bash "$here/build-modules.sh")" || die "building the modules failed"
kver="$(printf '%s\n' "$build_out" | sed -n 's/^KVER=//p')"
mapfile -t kos < <(printf '%s\n' "$build_out" | sed -n 's/^KO=//p')
[ -n "$kver" ] || die "build-modules.sh printed no KVER"
vmlinuz="${KOFFLOAD_KERNEL_IMAGE:-/boot/vmlinuz-$kver}"
[ -r "$vmlinuz" ] || die "cannot read $vmlinuz"
say "kernel $kver; modules: ${kos[*]:-(none)} ($(elapsed "$t0" "$(now)") s)"

# The cloud kernel's own modules named in KOFFLOAD_CLOUD_KMODS, with what
# they depend on first; "name.ko" paths from the image package, "name:args".
cloud_kos=()
cloud_load=()
declare -A cloud_seen=()
cloud_pkg=
cloud_files=
add_cloud_kmod() {
	local name="$1" args="${2:-}" path dep
	[ -z "${cloud_seen[$name]:-}" ] || return 0
	cloud_seen[$name]=1
	path="$(printf '%s\n' "$cloud_files" | grep -E "/${name//_/[_-]}\.ko(\.xz|\.zst|\.gz)?\$" | head -n 1)"
	[ -n "$path" ] || die "module $name is not in package $cloud_pkg"
	for dep in $(modinfo -F depends "$path" 2>/dev/null | tr ',' ' '); do
		add_cloud_kmod "$dep"
	done
	cloud_kos+=("$path")
	cloud_load+=("$name${args:+:$args}")
}
cloud_kmods="${KOFFLOAD_CLOUD_KMODS-nlmon zram lzo-rle}"
if [ -n "$cloud_kmods" ]; then
	cloud_pkg="linux-image-$kver"
	cloud_files="$(dpkg -L "$cloud_pkg" 2>/dev/null || dpkg -L "$cloud_pkg-unsigned" 2>/dev/null)" ||
		die "cannot list the files of package $cloud_pkg"
	for spec in $cloud_kmods; do
		if [[ "$spec" == *:* ]]; then
			add_cloud_kmod "${spec%%:*}" "${spec#*:}"
		else
			add_cloud_kmod "$spec"
		fi
	done
	say "cloud kernel modules: ${cloud_load[*]}"
fi
extra_kos=()
for ko in ${KOFFLOAD_EXTRA_KOS:-}; do
	[ -f "$ko" ] || die "KOFFLOAD_EXTRA_KOS names $ko, which does not exist"
	vm="$(modinfo -F vermagic "$ko" 2>/dev/null || true)"
	[[ "$vm" == "$kver "* ]] || die "$ko has vermagic '$vm', not kernel $kver"
	extra_kos+=("$ko")
done

# ---------------------------------------------------------------- image
work="$(mktemp -d "${TMPDIR:-/tmp}/koffload-kernel-test.XXXXXX")"
qpid=
cleanup() {
	if [ -n "$qpid" ] && kill -0 "$qpid" 2>/dev/null; then
		kill -TERM "$qpid" 2>/dev/null || true
	fi
	if [ "${KOFFLOAD_KEEP_IMAGE:-0}" = 1 ]; then
		say "kept $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM

root="$work/root"
img="$work/initramfs.img"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,etc,proc,sys,tmp,run,root,koffload/kernel-shim,koffload/.guest}
chmod 1777 "$root/tmp"

t0="$(now)"
say "packing the initramfs"

# busybox and its applets.
bb="$(readlink -f "$(command -v busybox)")"
if ldd "$bb" >/dev/null 2>&1; then
	die "$bb is dynamically linked; install busybox-static"
fi
cp "$bb" "$root/bin/busybox"
while IFS= read -r applet; do
	[ -n "$applet" ] || continue
	[ -e "$root/$applet" ] && continue
	mkdir -p "$root/$(dirname "$applet")"
	ln -s /bin/busybox "$root/$applet"
done < <("$bb" --list-full)

# The project. Dev-only tools (compiler, bundler) stay out: the guest runs
# compiled JS. The bundler comes in only when the guest runs koffloadd with
# a policy (its loader needs it).
cp package.json "$root/koffload/"
[ -d proto ] && cp -a proto "$root/koffload/"
tar -C "$repo" -cf - \
	--exclude='*.d.ts' --exclude='*.d.ts.map' --exclude='*.tsbuildinfo' dist |
	tar -C "$root/koffload" -xf -
esbuild_excludes=(--exclude='node_modules/esbuild' --exclude='node_modules/@esbuild' --exclude='node_modules/.bin/esbuild')
[ "${KOFFLOAD_GUEST_ESBUILD:-1}" = 1 ] && esbuild_excludes=(--exclude='node_modules/@esbuild/linux-arm*' --exclude='node_modules/@esbuild/linux-ia32' --exclude='node_modules/@esbuild/darwin-*' --exclude='node_modules/@esbuild/win32-*')
tar -C "$repo" -cf - \
	--exclude='node_modules/.cache' \
	--exclude='node_modules/typescript' \
	--exclude='node_modules/tsx' \
	"${esbuild_excludes[@]}" \
	--exclude='node_modules/@types' \
	--exclude='node_modules/.bin/tsc' \
	--exclude='node_modules/.bin/tsserver' \
	--exclude='node_modules/.bin/tsx' \
	--exclude='prebuilds/linux-arm*' \
	--exclude='prebuilds/linux-ia32' \
	--exclude='prebuilds/darwin-*' \
	--exclude='prebuilds/win32-*' \
	--exclude='prebuilds/android-*' \
	node_modules |
	tar -C "$root/koffload" -xf -
for ko in "${kos[@]}"; do
	cp "$ko" "$root/koffload/kernel-shim/"
done
# Extra modules go to /koffload/kmods, decompressed (busybox insmod reads plain .ko).
if [ ${#cloud_kos[@]} -gt 0 ] || [ ${#extra_kos[@]} -gt 0 ]; then
	mkdir -p "$root/koffload/kmods"
fi
for ko in "${cloud_kos[@]}" "${extra_kos[@]}"; do
	base="$(basename "$ko")"
	case "$ko" in
		*.ko.xz) xz -dc "$ko" >"$root/koffload/kmods/${base%.xz}" ;;
		*.ko.zst) zstd -q -dc "$ko" >"$root/koffload/kmods/${base%.zst}" ;;
		*.ko.gz) gzip -dc "$ko" >"$root/koffload/kmods/${base%.gz}" ;;
		*) cp "$ko" "$root/koffload/kmods/$base" ;;
	esac
done
for f in ${KOFFLOAD_GUEST_FILES:-}; do
	[ -e "$repo/$f" ] || die "KOFFLOAD_GUEST_FILES names $f, which is not in $repo"
	mkdir -p "$root/koffload/$(dirname "$f")"
	cp -a "$repo/$f" "$root/koffload/$(dirname "$f")/"
done


# Userspace helpers the suite uses: iproute2's ip (nlmon devices), and the
# C netlink probe of the identity, reply-failure and deadline tests.
ip_bin="$(command -v ip || true)"
[ -n "$ip_bin" ] && cp "$(readlink -f "$ip_bin")" "$root/usr/sbin/ip"
# Every C fixture of the suites (test/*/fixtures/*.c) is built next to
# its compiled JS.
c_fixtures=()
for c_src in "$repo"/test/*/fixtures/*.c; do
	[ -f "$c_src" ] || continue
	rel="${c_src#"$repo"/}"
	out="$root/koffload/dist/${rel%.c}"
	mkdir -p "$(dirname "$out")"
	gcc -O2 -Wall -Werror -I "$repo/kernel-shim/include" -o "$out" "$c_src" ||
		die "cannot build $c_src"
	c_fixtures+=("$out")
done

# node, its native addons (the dependencies' and koffload's own
# dist/native/koffload_nl.node), and every shared library they need.
node_bin="$(readlink -f "${KOFFLOAD_NODE:-$(command -v node)}")"
[ -x "$node_bin" ] || die "node not found"
cp "$node_bin" "$root/usr/bin/node"
[ -f "$root/koffload/dist/native/koffload_nl.node" ] ||
	die "dist/native/koffload_nl.node is missing: run 'npm run build' first"
elfs=("$node_bin")
[ -x "$root/usr/sbin/ip" ] && elfs+=("$root/usr/sbin/ip")
elfs+=("${c_fixtures[@]}")
guest_bins=(${KOFFLOAD_GUEST_BINS:-})
for b in ${KOFFLOAD_GUEST_OPTIONAL_BINS:-}; do
	if command -v "$b" >/dev/null 2>&1; then
		guest_bins+=("$b")
	else
		say "$b is not installed: the guest runs without it (KOFFLOAD_GUEST_OPTIONAL_BINS)"
	fi
done
for b in "${guest_bins[@]}"; do
	p="$(command -v "$b" 2>/dev/null || true)"
	[ -n "$p" ] && [ -x "$p" ] || die "KOFFLOAD_GUEST_BINS names $b, which is not an executable"
	p="$(readlink -f "$p")"
	cp "$p" "$root/usr/local/bin/$(basename "$b")"
	elfs+=("$p")
done
while IFS= read -r -d '' addon; do
	elfs+=("$addon")
done < <(find "$root/koffload/node_modules" "$root/koffload/dist" -name '*.node' -type f -print0)
libs=()
for elf in "${elfs[@]}"; do
	out="$(ldd "$elf" 2>&1)" || {
		# Not a dynamic x86-64 object (e.g. a prebuild for another libc).
		[ "$elf" = "$node_bin" ] && die "ldd $elf failed: $out"
		continue
	}
	if printf '%s\n' "$out" | grep -q 'not found'; then
		die "missing libraries for $elf: $(printf '%s\n' "$out" | grep 'not found' | tr -s ' \t' ' ')"
	fi
	while IFS= read -r lib; do
		libs+=("$lib")
	done < <(printf '%s\n' "$out" | awk '
		$2 == "=>" && $3 ~ /^\// { print $3; next }
		$1 ~ /^\// { print $1 }')
done
for lib in $(printf '%s\n' "${libs[@]}" | sort -u); do
	mkdir -p "$root$(dirname "$lib")"
	cp -L "$lib" "$root$lib"
done

# A minimal /etc.
cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$root/etc/group" <<'EOF'
root:x:0:
tty:x:5:
nogroup:x:65534:
EOF
cat >"$root/etc/hosts" <<'EOF'
127.0.0.1 localhost koffload-guest
::1 localhost ip6-localhost ip6-loopback
EOF
cat >"$root/etc/nsswitch.conf" <<'EOF'
passwd: files
group: files
hosts: files
EOF
: >"$root/etc/resolv.conf"
echo koffload-guest >"$root/etc/hostname"

# What the guest runs.
install -m 0755 "$here/guest-init.sh" "$root/init"
mods="${KOFFLOAD_KMOD_NAMES-koffload koffload_test}"
{
	echo "# written by scripts/kernel-test.sh"
	# Every KOFFLOAD_* variable of the host, plus KOFFLOAD_GUEST_PASS.
	while IFS= read -r name; do
		case "$name" in
			KOFFLOAD_GUEST_CMD | KOFFLOAD_TARGET | KOFFLOAD_KMOD_DIR | KOFFLOAD_KMOD_SRC) continue ;;
			KOFFLOAD_CLOUD_KMODS | KOFFLOAD_EXTRA_KOS | KOFFLOAD_GUEST_BINS | KOFFLOAD_GUEST_OPTIONAL_BINS | KOFFLOAD_GUEST_FILES) continue ;;
		esac
		printf 'export %s=%s\n' "$name" "$(shquote "${!name}")"
	done < <(compgen -e | grep -E '^KOFFLOAD_[A-Za-z0-9_]*$' || true)
	for name in ${KOFFLOAD_GUEST_PASS:-}; do
		[[ "$name" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "bad name '$name' in KOFFLOAD_GUEST_PASS"
		[ -n "${!name+set}" ] && printf 'export %s=%s\n' "$name" "$(shquote "${!name}")"
	done
	echo "KOFFLOAD_TARGET=kernel"
	echo "KOFFLOAD_KMOD_DIR=/koffload/kernel-shim"
	echo "KOFFLOAD_GUEST_MODULES=$(shquote "$mods")"
	echo "KOFFLOAD_GUEST_KMODS_FIRST=$(shquote "${cloud_load[*]}")"
	extra_names=()
	for ko in "${extra_kos[@]}"; do
		b="$(basename "$ko")"
		extra_names+=("${b%.ko}")
	done
	echo "KOFFLOAD_GUEST_KMODS_LAST=$(shquote "${extra_names[*]}")"
	echo "KOFFLOAD_GUEST_TIMEOUT=$guest_timeout"
	echo "KOFFLOAD_FAIL_TAINT_MASK=$(shquote "${KOFFLOAD_FAIL_TAINT_MASK:-672}")"
	echo "KOFFLOAD_SKIP_UNLOAD=$(shquote "${KOFFLOAD_SKIP_UNLOAD:-0}")"
	[ -n "${NODE_OPTIONS+set}" ] || echo "export NODE_OPTIONS=--enable-source-maps"
	echo "export CI=$(shquote "${CI:-}")"
} >"$root/koffload/.guest/env"
{
	echo "# written by scripts/kernel-test.sh"
	if [ -n "${KOFFLOAD_GUEST_CMD:-}" ]; then
		printf '%s\n' "$KOFFLOAD_GUEST_CMD"
	else
		printf 'exec node node_modules/mocha/bin/mocha.js --timeout 120000 --exit %s %s\n' \
			"${KOFFLOAD_MOCHA_ARGS:-}" "$(shquote "${KOFFLOAD_KERNEL_SPEC:-dist/test/conformance/**/*.test.js}")"
	fi
} >"$root/koffload/.guest/cmd.sh"

# newc cpio entry with no data: $1 name, $2 mode (octal), $3 rdev major, $4 minor.
cpio_node() {
	local name="$1" mode=$((8#$2)) major="$3" minor="$4" namesize hdr pad
	namesize=$(( ${#name} + 1 ))
	printf -v hdr '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X' \
		$(( 0x7000 + RANDOM )) "$mode" 0 0 1 0 0 0 0 "$major" "$minor" "$namesize" 0
	printf '%s%s\0' "$hdr" "$name"
	pad=$(( (4 - (110 + namesize) % 4) % 4 ))
	[ "$pad" -eq 0 ] || head -c "$pad" /dev/zero
}

compression="${KOFFLOAD_INITRAMFS_COMPRESS:-zstd}"
[ "$compression" != zstd ] || command -v zstd >/dev/null || compression=gzip
case "$compression" in
	zstd) compress=(zstd -q -T0 -3 -c) ;;
	gzip) compress=(gzip -6 -c) ;;
	none) compress=(cat) ;;
	*) die "KOFFLOAD_INITRAMFS_COMPRESS must be zstd, gzip or none" ;;
esac
# The kernel opens /dev/console for /init before anything is mounted, so the
# archive carries it; writing the entry by hand needs no mknod (no root).
{
	cpio_node dev 040755 0 0
	cpio_node dev/console 020600 5 1
	(cd "$root" && find . -mindepth 1 -print0 | LC_ALL=C sort -z |
		cpio --null -o -H newc -R 0:0 --quiet)
} | "${compress[@]}" >"$img"

img_bytes="$(stat -c %s "$img")"
raw_kb="$(du -sk "$root" | cut -f1)"
t_pack="$(elapsed "$t0" "$(now)")"
say "initramfs: $(( img_bytes / 1048576 )) MiB compressed ($compression), $(( raw_kb / 1024 )) MiB unpacked, packed in $t_pack s"

# ---------------------------------------------------------------- boot
append="console=ttyS0 panic=-1 rdinit=/init loglevel=${KOFFLOAD_KERNEL_LOGLEVEL:-5} mitigations=off edd=off ${KOFFLOAD_KERNEL_APPEND:-}"
qemu=(qemu-system-x86_64
	-accel tcg,thread=multi -cpu max
	-m "${KOFFLOAD_QEMU_MEM:-2048}" -smp "${KOFFLOAD_QEMU_SMP:-2}"
	-nographic -no-reboot -net none
	-kernel "$vmlinuz" -initrd "$img" -append "$append")
say "booting: ${qemu[*]}"
say "console log: $log (QEMU limit ${qemu_timeout}s, suite limit ${guest_timeout}s)"

# One guest at a time on this machine: a second run waits here for the first.
lock="${KOFFLOAD_QEMU_LOCK:-/tmp/koffload-qemu.lock}"
exec 9>>"$lock" || die "cannot open the QEMU lock $lock"
if ! flock -n 9; then
	say "another QEMU run holds $lock; waiting for it"
	flock 9
fi

t_boot="$(now)"
# QEMU writes the log; tail streams it here. QEMU gets /dev/null as stdin
# so it never stops on terminal input (timeout runs it in its own group).
timeout -k 20 "$qemu_timeout" "${qemu[@]}" </dev/null >"$log" 2>&1 &
qpid=$!
trap 'say "interrupted; stopping QEMU"; kill -TERM "$qpid" 2>/dev/null || true; exit 130' INT TERM
# Drop carriage returns and the firmware's terminal escapes.
tail -n +1 -f --pid="$qpid" "$log" |
	sed -u -e 's/\r//g' -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\x1bc//g' -e 's/\x1b[()][0-9A-Za-z]//g' &
tpid=$!
qrc=0
wait "$qpid" || qrc=$?
qpid=
wait "$tpid" || true
t_run="$(elapsed "$t_boot" "$(now)")"

# ---------------------------------------------------------------- verdict
# Keep the log as plain text, like the streamed copy.
sed -i -e 's/\r//g' -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\x1bc//g' -e 's/\x1b[()][0-9A-Za-z]//g' "$log" || true
clean_log() { cat "$log"; }
marker="$(clean_log | sed -n 's/.*KOFFLOAD_GUEST_EXIT=\([0-9][0-9]*\).*/\1/p' | tail -n 1)"
stage="$(clean_log | sed -n 's/.*KOFFLOAD_GUEST_FAILED_STAGE=\([^[:space:]]*\).*/\1/p' | tail -n 1)"
uptime="$(clean_log | sed -n 's/.*KOFFLOAD_GUEST_UPTIME=\([0-9.]*\).*/\1/p' | tail -n 1)"

echo >&2
say "image $(( img_bytes / 1048576 )) MiB; pack ${t_pack}s; QEMU ${t_run}s (guest uptime at marker: ${uptime:-?}s); total $(elapsed "$t_start" "$(now)")s"

if [ "$qrc" -eq 124 ] || [ "$qrc" -eq 137 ]; then
	say "FAIL: QEMU ran past KOFFLOAD_QEMU_TIMEOUT (${qemu_timeout}s) and was killed"
	exit 124
fi
if [ -z "$marker" ]; then
	if clean_log | grep -q 'Kernel panic'; then
		say "FAIL: the guest kernel panicked (see above or $log)"
	else
		say "FAIL: the guest ended without KOFFLOAD_GUEST_EXIT (QEMU status $qrc; see $log)"
	fi
	exit 125
fi
case "$marker:$stage" in
	0:*) say "PASS" ;;
	*:insmod:*) say "FAIL: module ${stage#insmod:} did not load (status $marker)" ;;
	*:taint) say "FAIL: the suite passed but the kernel warned or oopsed (status $marker)" ;;
	*:rmmod) say "FAIL: a module would not unload after the suite (status $marker)" ;;
	*) say "FAIL: the suite exited with status $marker" ;;
esac
[ "$marker" -le 255 ] || marker=255
exit "$marker"
