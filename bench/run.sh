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

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || need+=(nginx-light)
if [ ${#need[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

bin=${WHARF_BIN:-}
if [ -z "$bin" ]; then
  cargo build --release --bin wharf >/dev/null
  bin="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/wharf"
fi

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_http() { for _ in $(seq 1 200); do curl -fsS -o /dev/null -H "Host: $2" "http://127.0.0.1:$1/" 2>/dev/null && return 0; sleep 0.05; done; echo "nothing answers on $1" >&2; return 1; }

# The backend: nginx with a small keep-alive response, on core 1 (shared with wrk, as the
# backend's cost is the same for every row).
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

# wharf with one route to the backend.
wport=$(free_port)
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
taskset -c 0 "$bin" --entryPoints.web.address="127.0.0.1:$wport" --providers.file.filename="$work/dynamic.yml" --log.level=ERROR &
wpid=$!
pids+=($wpid)
wait_http "$wport" bench.local

cat > "$work/pct.lua" <<'LUA'
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %.3f %.3f %.3f %.3f\n", summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency:percentile(99.9) / 1000))
end
LUA

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

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
