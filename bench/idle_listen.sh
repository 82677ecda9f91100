#!/usr/bin/env bash
# `sotto listen` with two accounts online against a private Prosody: time from
# process start to both accounts online, then RSS and CPU over an idle period.
# Usage: bench/idle_listen.sh [IDLE_SECONDS=60]
set -euo pipefail
cd "$(dirname "$0")/.."
idle=${1:-60}
sotto=$PWD/build/dev/apps/cli/sotto
[ -x "$sotto" ] || scripts/setup
work=$(mktemp -d -t sotto-bench-XXXXXX)
export XDG_DATA_HOME=$work/data
export DBUS_SESSION_BUS_ADDRESS=   # the bench profile keeps its key in a file, not your keyring
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

mkfifo "$work/ctl"
build/dev/tests/harness/sotto-test-prosody <"$work/ctl" >"$work/info" &
pids+=($!)
exec 3>"$work/ctl"
for _ in $(seq 1 100); do [ -s "$work/info" ] && break; sleep 0.1; done
read -r info <"$work/info"
port=$(sed -n 's/.*c2s_port=\([0-9]*\).*/\1/p' <<<"$info")
fp=$(sed -n 's/.*sha256=\([0-9a-f]*\).*/\1/p' <<<"$info")
for user in one two; do
  printf 'pw-%s\n' "$user" | "$sotto" --profile bench account register "$user@localhost" \
    --host 127.0.0.1 --port "$port" --pin "$fp" --remember --password-stdin >/dev/null
done

# The first start makes each account's OTR key (on a worker thread); the
# figures below are for a later start, the usual one.
"$sotto" --profile bench listen >"$work/first.log" 2>&1 &
first=$!
until [ "$(grep -c 'key for private conversations is ready' "$work/first.log" 2>/dev/null)" -ge 2 ]; do
  kill -0 "$first" 2>/dev/null || { cat "$work/first.log"; exit 1; }
  sleep 0.01
done
kill -INT "$first"
wait "$first" || true

start=$(date +%s%N)
"$sotto" --profile bench listen >"$work/listen.log" 2>&1 &
pid=$!
pids+=($pid)
until [ "$(grep -c ' is online' "$work/listen.log" 2>/dev/null)" -ge 2 ]; do
  kill -0 "$pid" 2>/dev/null || { cat "$work/listen.log"; exit 1; }
  sleep 0.002
done
online_ms=$(( ($(date +%s%N) - start) / 1000000 ))

ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
before=$(cpu)
sleep "$idle"
after=$(cpu)
rss_kb=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
cpu_pct=$(awk -v d=$((after - before)) -v t="$ticks" -v s="$idle" 'BEGIN {printf "%.3f", 100 * d / t / s}')
echo "start to two accounts online: ${online_ms} ms"
echo "idle ${idle}s with two accounts online: RSS $((rss_kb / 1024)) MB (${rss_kb} kB), CPU ${cpu_pct}%"
