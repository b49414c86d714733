#!/usr/bin/env bash
# TLS handshakes per second, full and resumed, through wharf, nginx and haproxy with the same
# certificate (ECDSA P-256) on the same machine. Server pinned to core 0, `openssl s_time` on
# core 1; each row sends `GET /` so TLS 1.3 tickets arrive before the connection closes.
# s_time sends no SNI, so all serve the certificate as their default one. nginx and haproxy
# answer `GET /` themselves; wharf proxies it to an nginx backend on core 1 (pooled upstream
# connection), so its rows include one proxied request per connection. s_time reports
# whole real seconds, so use runs of several seconds.
# Prints figures, asserts nothing.
#   bench/tls.sh [seconds-per-run]
# Environment: WHARF_BIN (default: the `perf` profile's wharf, built if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}

command -v nginx >/dev/null || { DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null; }
command -v haproxy >/dev/null || { DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null; }
command -v openssl >/dev/null || { echo "openssl is needed" >&2; exit 1; }

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
wait_tls() { for _ in $(seq 1 200); do curl -sk -o /dev/null --resolve "bench.local:$1:127.0.0.1" "https://bench.local:$1/" 2>/dev/null && return 0; sleep 0.05; done; echo "nothing answers TLS on $1" >&2; return 1; }

# One certificate for both servers.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
  -subj "/CN=bench.local" -addext "subjectAltName=DNS:bench.local" \
  -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null

# The backend wharf forwards to (nginx, plain HTTP, core 1).
bport=$(free_port)
# nginx terminating TLS itself (core 0), the reference row.
nport=$(free_port)
mkdir -p "$work/nginx"
cat > "$work/nginx/backend.conf" <<NGX
worker_processes 1;
daemon off;
error_log $work/nginx/backend-error.log crit;
pid $work/nginx/backend.pid;
events { worker_connections 4096; }
http { access_log off; server { listen 127.0.0.1:$bport; location / { return 200 "hello\n"; } } }
NGX
cat > "$work/nginx/tls.conf" <<NGX
worker_processes 1;
daemon off;
error_log $work/nginx/tls-error.log crit;
pid $work/nginx/tls.pid;
events { worker_connections 4096; }
http {
  access_log off;
  ssl_session_cache shared:SSL:10m;
  ssl_session_tickets on;
  ssl_protocols TLSv1.2 TLSv1.3;
  server {
    listen 127.0.0.1:$nport ssl;
    server_name bench.local;
    ssl_certificate $work/cert.pem;
    ssl_certificate_key $work/key.pem;
    location / { return 200 "hello\n"; }
  }
}
NGX
taskset -c 1 nginx -c "$work/nginx/backend.conf" -p "$work/nginx" & pids+=($!)
taskset -c 0 nginx -c "$work/nginx/tls.conf" -p "$work/nginx" & pids+=($!); npid=$!

# haproxy terminating TLS itself (one thread, core 0), answering from the frontend.
hport=$(free_port)
cat "$work/cert.pem" "$work/key.pem" > "$work/haproxy.pem"
cat > "$work/haproxy.cfg" <<HAP
global
  nbthread 1
  log stderr format short local0 crit
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend tls
  bind 127.0.0.1:$hport ssl crt $work/haproxy.pem alpn http/1.1 ssl-min-ver TLSv1.2
  http-request return status 200 content-type text/plain string "hello"
HAP
taskset -c 0 haproxy -db -f "$work/haproxy.cfg" & pids+=($!); hpid=$!

wport=$(free_port)
cat > "$work/dynamic.yml" <<YML
http:
  routers:
    bench:
      rule: Host(\`bench.local\`)
      service: backend
      tls: {}
  services:
    backend:
      loadBalancer:
        servers:
          - url: "http://127.0.0.1:$bport"
tls:
  certificates:
    - certFile: $work/cert.pem
      keyFile: $work/key.pem
  # s_time sends no SNI: make the same certificate the default one.
  stores:
    default:
      defaultCertificate:
        certFile: $work/cert.pem
        keyFile: $work/key.pem
YML
taskset -c 0 "$bin" --entryPoints.websecure.address="127.0.0.1:$wport" \
  --providers.file.filename="$work/dynamic.yml" --log.level=ERROR & pids+=($!); wpid=$!
wait_tls "$wport"
wait_tls "$nport"
wait_tls "$hport"

# CPU time (clock ticks) of a server process and its children (nginx's worker).
ticks() {
  local t=0 p
  for p in "$1" $(pgrep -P "$1"); do
    t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo "$t"
}

# One s_time run → "connections per wall second / per second of the server's CPU". The second
# figure is what one dedicated core would do, and holds on a machine busy with other work.
rate() { # port pid mode(-new|-reuse) version(-tls1_3|-tls1_2)
  local out t0 t1
  t0=$(ticks "$2")
  out=$(taskset -c 1 openssl s_time -connect "127.0.0.1:$1" "$3" "$4" \
        -www / -time "$secs" 2>/dev/null | grep 'connections in' | tail -1)
  t1=$(ticks "$2")
  # "N connections in T real seconds, ..." (or "... in Ts;" on older builds)
  python3 - "$out" "$((t1 - t0))" "$(getconf CLK_TCK)" <<'PY'
import re, sys
m = re.search(r'(\d+) connections in ([\d.]+)', sys.argv[1])
ticks, hz = int(sys.argv[2]), int(sys.argv[3])
if not m or float(m.group(2)) <= 0:
    print("-")
else:
    n = int(m.group(1))
    cpu = f"{round(n * hz / ticks)}" if ticks > 0 else "-"
    print(f"{round(n / float(m.group(2)))}/{cpu}")
PY
}

echo "TLS handshakes per second, ECDSA P-256, server on core 0, openssl s_time on core 1, ${secs}s each"
echo "each cell: per wall-clock second / per second of the server's own CPU time"
printf "%-10s %-8s %16s %16s\n" "server" "version" "full" "resumed"
for v in -tls1_3 -tls1_2; do
  printf "%-10s %-8s %16s %16s\n" wharf "${v#-}" "$(rate "$wport" "$wpid" -new "$v")" "$(rate "$wport" "$wpid" -reuse "$v")"
  printf "%-10s %-8s %16s %16s\n" nginx "${v#-}" "$(rate "$nport" "$npid" -new "$v")" "$(rate "$nport" "$npid" -reuse "$v")"
  printf "%-10s %-8s %16s %16s\n" haproxy "${v#-}" "$(rate "$hport" "$hpid" -new "$v")" "$(rate "$hport" "$hpid" -reuse "$v")"
done
