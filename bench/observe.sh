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

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || need+=(nginx-light)
if [ ${#need[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

bin=${WHARF_BIN:-}
if [ -z "$bin" ]; then
  cargo build --profile perf --bin wharf >/dev/null
  bin="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/perf/wharf"
fi

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_http() { for _ in $(seq 1 200); do curl -fsS -o /dev/null -H "Host: $2" "http://127.0.0.1:$1/" 2>/dev/null && return 0; sleep 0.05; done; echo "nothing answers on $1" >&2; return 1; }

bport=$(free_port)
mkdir -p "$work/nginx"
cat > "$work/nginx/nginx.conf" <<NGX
worker_processes 1;
daemon off;
error_log $work/nginx/error.log crit;
pid $work/nginx/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$bport; location / { return 200 "hello from the backend\n"; } }
}
NGX
taskset -c 1 nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" &
pids+=($!)
wait_http "$bport" backend

cat > "$work/dynamic.yml" <<YML
http:
  routers:
    bench:
      rule: "Host(\`bench.local\`)"
      service: backend
  services:
    backend:
      loadBalancer:
        servers:
          - url: "http://127.0.0.1:$bport"
YML

cat > "$work/pct.lua" <<'LUA'
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %.3f %.3f %.3f %.3f\n", summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency:percentile(99.9) / 1000))
end
LUA
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

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
  printf "%-34s %10s %9s %9s %9s %11s\n" "$name" "$rps" "$p50" "$p99" "$p999" "$cpu"
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

echo "observability cost: small keep-alive responses, $conns connections, ${secs}s each; wharf on core 0"
printf "%-34s %10s %9s %9s %9s %11s\n" "row" "req/s" "p50 ms" "p99 ms" "p99.9 ms" "CPU us/req"
row "off"
row "metrics" --metrics.prometheus=true --metrics.prometheus.addRoutersLabels=true
row "access log (CLF) + metrics" --accessLog.filePath="$work/a.log" --metrics.prometheus=true --metrics.prometheus.addRoutersLabels=true
row "access log (JSON, headers) + metrics" --accessLog.filePath="$work/b.log" --accessLog.format=json \
  --accessLog.fields.headers.defaultMode=keep --metrics.prometheus=true --metrics.prometheus.addRoutersLabels=true
row "request ID + trace context (rate 0)" --requestId.enabled=true --tracing.sampleRate=0
echo "access-log lines written: $(cat "$work/a.log" | wc -l) (CLF), $(cat "$work/b.log" | wc -l) (JSON)"
