#!/usr/bin/env bash
# Request cost of observability: the same wharf, backend and load with access log + metrics off
# and on (access log to a file, CLF and JSON with headers kept; Prometheus with router labels).
# Prints figures only. Proxy pinned to core 0, wrk and the nginx backend to core 1.
#   bench/observe.sh [seconds-per-run]
# Environment: WHARF_BIN (default: the `perf` profile build, built if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
conns=${CONNS:-50}

# shellcheck source=bench/lib.sh
. bench/lib.sh
bench_init perf

row() { # name extra-flags...
  local name=$1; shift
  local port; port=$(free_port)
  taskset -c 0 "$bin" --entryPoints.web.address="127.0.0.1:$port" --entryPoints.traefik.address="127.0.0.1:$(free_port)" \
    --providers.file.filename="$work/dynamic.yml" --log.level=ERROR "$@" >/dev/null 2>&1 &
  local pid=$!
  pids+=($pid)
  wait_http "$port" bench.local
  taskset -c 1 wrk -t1 -c"$conns" -d2s -H "Host: bench.local" "http://127.0.0.1:$port/" >/dev/null # warm-up
  local t0; t0=$(cpu_ticks "$pid")
  local out
  out=$(taskset -c 1 wrk -t1 -c"$conns" -d"${secs}s" -H "Host: bench.local" -s "$work/pct.lua" "http://127.0.0.1:$port/" | grep '^RESULT')
  local t1; t1=$(cpu_ticks "$pid")
  read -r _ reqs dur p50 p99 p999 <<<"$out"
  local rps cpu
  rps=$(python3 -c "print(round($reqs/$dur))")
  cpu=$(python3 -c "print(round(($t1-$t0)/$hz*1e6/$reqs, 2))")
  local delta="-"
  if [ -z "${base_cpu:-}" ]; then base_cpu=$cpu; base_rps=$rps; else
    delta=$(python3 -c "print(f'{($cpu/$base_cpu-1)*100:+.1f}% / {($rps/$base_rps-1)*100:+.1f}%')"); fi
  printf "%-38s %10s %9s %9s %9s %11s  %s\n" "$name" "$rps" "$p50" "$p99" "$p999" "$cpu" "$delta"
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

echo "observability cost: small keep-alive responses, $conns connections, ${secs}s each; wharf on core 0"
printf "%-38s %10s %9s %9s %9s %11s  %s\n" "row" "req/s" "p50 ms" "p99 ms" "p99.9 ms" "CPU us/req" "CPU / req/s vs off"
row "off"
row "metrics" --metrics.prometheus=true --metrics.prometheus.addRoutersLabels=true
row "access log (CLF) + metrics" --accessLog.filePath="$work/a.log" --metrics.prometheus=true --metrics.prometheus.addRoutersLabels=true
row "access log (JSON, headers) + metrics" --accessLog.filePath="$work/b.log" --accessLog.format=json \
  --accessLog.fields.headers.defaultMode=keep --metrics.prometheus=true --metrics.prometheus.addRoutersLabels=true
row "request ID + trace context (rate 0)" --requestId.enabled=true --tracing.sampleRate=0
echo "access-log lines written: $(cat "$work/a.log" | wc -l) (CLF), $(cat "$work/b.log" | wc -l) (JSON)"
