#!/usr/bin/env bash
# Runs the C baseline and koffload's userspace path back to back on this
# host and prints both and their ratios. Needs root (unicast between two
# userspace NETLINK_GENERIC sockets) and a built dist/ (npm run build).
# Timing on a shared machine is noisy: compare the ratios of one run.
#
#   bash bench/run.sh [rounds] [inflight] [total]
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rounds="${1:-5000}" inflight="${2:-32}" total="${3:-50000}"
out="$repo/build/bench"
mkdir -p "$out"

gcc -O2 -Wall -Wextra -pthread -o "$out/genl-pingpong" "$repo/bench/genl-pingpong.c"
[ -f "$repo/dist/bench/echo-rtt.js" ] || (cd "$repo" && npm run build >/dev/null)

c="$("$out/genl-pingpong" "$rounds" "$inflight" "$total")"
node="$(node "$repo/dist/bench/echo-rtt.js" --rounds "$rounds" --inflight "$inflight" --total "$total")"
echo "$c"
echo "$node"
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<<"$2"; }
awk -v cr="$(field rtt_us "$c")" -v nr="$(field rtt_us "$node")" \
	-v ct="$(field msg_per_s "$c")" -v nt="$(field msg_per_s "$node")" \
	'BEGIN { printf "ratio node/c: round trip %.2fx, throughput %.2fx\n", nr / cr, nt / ct }'
