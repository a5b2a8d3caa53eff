#!/usr/bin/env bash
# The README's two commands as a newcomer runs them: an ordinary user (no
# root, no CAP_NET_ADMIN), a fresh clone of the commit under test that the
# user owns, and a clean HOME with its own empty npm cache and none of
# root's npm config (root's ~/.npmrc may set nodedir, which once hid an
# install that compiled and downloaded Node's headers). As that user:
#   npm start    installs (npm ci), builds, runs the demo to its end
#   npm test     unit tests and the conformance suite on the in-memory simulator
# then checks that nothing fetched node-gyp headers. Run by .ci/run before
# the root steps; runs anywhere as root:
#
#   bash scripts/newcomer-test.sh
#
# Environment:
#   KOFFLOAD_NEWCOMER_USER     the user (default koffload-newcomer; created,
#                              without privileges, if missing)
#   KOFFLOAD_NEWCOMER_TIMEOUT  limit for both commands, timeout(1) syntax
#                              (default 15m)
#   KOFFLOAD_NEWCOMER_KEEP=1   keep the clone and HOME (printed at the end)
#
# Exit status: 0, or the status of the first command that failed
# (124: timed out), or 2 for a setup error.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"

say() { echo "newcomer: $*" >&2; }
die() { say "$*"; exit 2; }

[ "$(id -u)" -eq 0 ] || die "needs root (it creates the user and gives it the clone)"
for tool in git runuser useradd timeout node npm; do
	command -v "$tool" >/dev/null || die "$tool is not installed"
done

user="${KOFFLOAD_NEWCOMER_USER:-koffload-newcomer}"
if ! id -u "$user" >/dev/null 2>&1; then
	say "creating the unprivileged user $user"
	useradd --user-group --create-home --shell /bin/bash "$user"
fi
[ "$(id -u "$user")" -ne 0 ] || die "$user is root"

# What the README names as the only build tool: gcc with the C library
# headers, for the project's native addon. A newcomer installs it first.
if ! command -v gcc >/dev/null || ! echo '#include <errno.h>' | gcc -E -x c - >/dev/null 2>&1; then
	say "installing gcc and libc6-dev (the README's prerequisites)"
	DEBIAN_FRONTEND=noninteractive apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gcc libc6-dev >/dev/null
fi

commit="$(git -C "$repo" rev-parse HEAD)"
if [ -n "$(git -C "$repo" status --porcelain --untracked-files=no)" ]; then
	say "warning: $repo has uncommitted changes; the newcomer gets commit ${commit:0:12} without them"
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/koffload-newcomer.XXXXXX")"
cleanup() {
	if [ "${KOFFLOAD_NEWCOMER_KEEP:-0}" = 1 ]; then
		say "kept $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
home="$work/home"
clone="$work/koffload"
mkdir "$home"
# --no-local copies the objects: hard links into this repository would be
# chowned to the user with the clone.
git clone --quiet --no-local --no-checkout "$repo" "$clone"
git -C "$clone" checkout --quiet --detach "$commit"
chown -R "$user:" "$work"

say "user $user (uid $(id -u "$user")), HOME $home, commit ${commit:0:12}, node $(node --version), npm $(npm --version)"

# Only what a login would set: none of root's environment (npm_config_*,
# NODE_OPTIONS, ...) reaches the user. CI is passed on, as CI sets it.
node_dir="$(dirname "$(command -v node)")"
as_user() {
	runuser -u "$user" -- env -i \
		HOME="$home" USER="$user" LOGNAME="$user" SHELL=/bin/bash \
		PATH="$node_dir:/usr/local/bin:/usr/bin:/bin" \
		LANG=C.UTF-8 ${CI:+CI="$CI"} \
		timeout -k 30 "${KOFFLOAD_NEWCOMER_TIMEOUT:-15m}" "$@"
}

t0=$SECONDS
as_user bash -c 'cd "$1" && npm start' _ "$clone" | tee "$work/start.log" || {
	rc=${PIPESTATUS[0]}
	say "FAIL: npm start exited with status $rc"
	exit "$rc"
}
t_start=$((SECONDS - t0))
grep -q '^after the daemon stopped, ' "$work/start.log" || {
	say "FAIL: npm start exited 0 but the demo did not print its last line"
	exit 1
}

t0=$SECONDS
as_user bash -c 'cd "$1" && npm test' _ "$clone" || {
	rc=$?
	say "FAIL: npm test exited with status $rc"
	exit "$rc"
}
t_test=$((SECONDS - t0))

# The install compiled nothing: node-gyp would have fetched Node's headers
# into the user's cache, and a dependency's own build lands in build/.
if [ -e "$home/.cache/node-gyp" ]; then
	say "FAIL: node-gyp fetched headers into $home/.cache/node-gyp during the install"
	exit 1
fi
built="$(find "$clone/node_modules" -path '*/build/Release/*.node' -print -quit)"
if [ -n "$built" ]; then
	say "FAIL: a dependency compiled an addon at install time: ${built#"$clone/"}"
	exit 1
fi

say "ok: npm start (npm ci, build, demo) ${t_start}s, npm test ${t_test}s, as $user"
