#!/usr/bin/env bash
# Encrypted calls through a private Kamailio (issue 7, "Benchmark"): Sotto
# and linphonec side by side in one run, each calling its own kind with ZRTP
# and WAV audio: set-up time to ZRTP secure, CPU per process in a call, RSS in
# a call. Prints a table with ratios. The measuring is done by
# bench/call_bench.cpp; this script builds and runs it. Sotto's added delay on
# a lossy link is measured by bench/media_call_bench (simulated link).
# Usage: bench/call_bench.sh [ROUNDS=5] [SECONDS=20]   (BUILD_DIR=build/dev)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
seconds=${2:-20}
build=${BUILD_DIR:-build/dev}
if [ ! -x "$build/apps/cli/sotto" ] || [ ! -x "$build/bench/call_bench" ]; then
  cmake --build "$build" --target sotto call_bench
fi
work=$(mktemp -d -t sotto-call-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT
export XDG_CONFIG_HOME=$work/config  # nothing of yours is read or written
export XDG_CACHE_HOME=$work/cache
export DBUS_SESSION_BUS_ADDRESS=     # the bench profiles keep their key in a file, not your keyring
"$build/bench/call_bench" "$(realpath "$build/apps/cli/sotto")" "$rounds" "$seconds"
