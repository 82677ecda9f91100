#!/usr/bin/env bash
# SIP through a private Kamailio (issue 6, "Benchmark"): REGISTER round trip
# and INVITE -> 200 OK setup time, Sotto and linphonec side by side in one
# run, and RSS per idle registered account. Prints a table with ratios.
# The measuring is done by bench/sip_bench.cpp (it drives `sotto rpc`,
# linphonec and the test Kamailio); this script builds and runs it.
# Usage: bench/sip_bench.sh [ROUNDS=10] [ACCOUNTS=10]   (BUILD_DIR=build/dev)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-10}
accounts=${2:-10}
build=${BUILD_DIR:-build/dev}
if [ ! -x "$build/apps/cli/sotto" ] || [ ! -x "$build/bench/sip_bench" ]; then
  cmake --build "$build" --target sotto sip_bench
fi
work=$(mktemp -d -t sotto-sip-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT
export XDG_CONFIG_HOME=$work/config  # nothing of yours is read or written
export XDG_CACHE_HOME=$work/cache
export DBUS_SESSION_BUS_ADDRESS=     # the bench profiles keep their key in a file, not your keyring
"$build/bench/sip_bench" "$(realpath "$build/apps/cli/sotto")" "$rounds" "$accounts"
