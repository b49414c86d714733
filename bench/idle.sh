#!/usr/bin/env bash
# Resident memory of an idle proxy, split into its own heap (RssAnon) and mapped file pages
# (RssFile: the binary's text and shared libraries, shared page cache that the kernel can drop),
# for wharf with 1 and with 10,000 host routers, and for nginx and HAProxy with one route.
# Prints figures, asserts nothing. Each process is started fresh, sampled once it answers and
# then again after SETTLE seconds of idleness (the figure in the table).
#   bench/idle.sh
# Environment: WHARF_BIN (default: the release build, built if missing); SETTLE (default 3).
set -euo pipefail
cd "$(dirname "$0")/.."
settle=${SETTLE:-3}
# shellcheck source=bench/lib.sh
. bench/lib.sh
bench_need nginx:nginx-light haproxy:haproxy
wharf_bin release
bench_workdir

mem() { # pid -> "rss anon file" in KiB
  awk '/^VmRSS/{r=$2} /^RssAnon/{a=$2} /^RssFile/{f=$2} END{print r, a, f}' "/proc/$1/status"
}
row() { # name pid
  sleep "$settle"
  read -r rss anon file <<<"$(mem "$2")"
  awk -v n="$1" -v r="$rss" -v a="$anon" -v f="$file" 'BEGIN{printf "%-28s %9.1f %9.1f %9.1f\n", n, r/1024, a/1024, f/1024}'
}
# Until the last router answers (502: no backend runs, which is the idle state measured).
wait_route() { # port host
  local code
  for _ in $(seq 1 600); do
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "Host: $2" "http://127.0.0.1:$1/" || true)
    [ "$code" != 000 ] && [ "$code" != 404 ] && return 0
    sleep 0.05
  done
  echo "no router for $2 on $1" >&2
  return 1
}
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

bport=$(free_port)
routes() { # n file: n host routers to one service
  {
    echo "http:"
    echo "  routers:"
    for i in $(seq 1 "$1"); do
      printf '    r%d:\n      rule: Host(`h%d.example.com`)\n      service: s\n' "$i" "$i"
    done
    printf '  services:\n    s:\n      loadBalancer:\n        servers:\n          - url: http://127.0.0.1:%s\n' "$bport"
  } >"$2"
}

printf "%-28s %9s %9s %9s\n" "idle process" "RSS MiB" "anon MiB" "file MiB"
for n in 1 10000; do
  routes "$n" "$work/dyn-$n.yml"
  port=$(free_port)
  taskset -c 0 "$bin" --entryPoints.web.address="127.0.0.1:$port" \
    --providers.file.filename="$work/dyn-$n.yml" --log.level=ERROR &
  pid=$!
  pids+=("$pid")
  wait_route "$port" "h$n.example.com"
  row "wharf, $n router(s)" "$pid"
  stop "$pid"
done

port=$(free_port)
mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<NGX
worker_processes 1;
master_process off;
daemon off;
error_log $work/nginx/error.log crit;
pid $work/nginx/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  upstream b { server 127.0.0.1:$bport; keepalive 32; }
  server { listen 127.0.0.1:$port; location / { proxy_pass http://b; } }
}
NGX
taskset -c 0 nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" &
pid=$!
pids+=("$pid")
sleep 0.5
row "nginx, 1 route" "$pid"
stop "$pid"

port=$(free_port)
cat >"$work/haproxy.cfg" <<HAP
global
  nbthread 1
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend f
  bind 127.0.0.1:$port
  default_backend b
backend b
  server s1 127.0.0.1:$bport
HAP
taskset -c 0 haproxy -f "$work/haproxy.cfg" &
pid=$!
pids+=("$pid")
sleep 0.5
row "haproxy, 1 route" "$pid"
stop "$pid"
