#!/usr/bin/env bash
# wharf's benchmark harness: prints figures, asserts nothing. Proxy pinned to core 0, load
# generator (wrk) to core 1, the same nginx backend for every row. Every figure in the table is
# measured in this run.
#   bench/run.sh [seconds-per-run]
# Environment: WHARF_BIN (default: target/release/wharf, built if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
conns=${CONNS:-50}

# shellcheck source=bench/lib.sh
. bench/lib.sh
bench_init release

# wharf with one route to the backend.
wport=$(free_port)
taskset -c 0 "$bin" --entryPoints.web.address="127.0.0.1:$wport" --providers.file.filename="$work/dynamic.yml" --log.level=ERROR &
wpid=$!
pids+=($wpid)
wait_http "$wport" bench.local

run() { # name port host [pid-to-measure]
  local name=$1 port=$2 host=$3 pid=${4:-}
  local t0=0 t1=0
  [ -n "$pid" ] && t0=$(cpu_ticks "$pid")
  local out
  out=$(taskset -c 1 wrk -t1 -c"$conns" -d"${secs}s" -H "Host: $host" -s "$work/pct.lua" "http://127.0.0.1:$port/" | grep '^RESULT')
  [ -n "$pid" ] && t1=$(cpu_ticks "$pid")
  read -r _ reqs dur p50 p99 p999 <<<"$out"
  local rps cpu="-"
  rps=$(python3 -c "print(round($reqs/$dur))")
  [ -n "$pid" ] && cpu=$(python3 -c "print(round(($t1-$t0)/$hz*1e6/$reqs, 1))")
  local rss="-"
  [ -n "$pid" ] && rss=$(awk '/VmHWM/{print $2}' "/proc/$pid/status")
  printf "%-24s %10s %9s %9s %9s %10s %12s\n" "$name" "$rps" "$p50" "$p99" "$p999" "$cpu" "$rss"
}

echo "small keep-alive responses, $conns connections, ${secs}s each; proxy on core 0, wrk on core 1"
printf "%-24s %10s %9s %9s %9s %10s %12s\n" "row" "req/s" "p50 ms" "p99 ms" "p99.9 ms" "CPU us/req" "peak RSS KiB"
run "direct (nginx)" "$bport" backend
run "wharf" "$wport" bench.local "$wpid"
