#!/usr/bin/env bash
# Cost of a chain of 5 common middlewares through the proxy (issue 4 point 4): the same wharf,
# backend and load on a route without middlewares and on one with headers, stripPrefix,
# rateLimit (limit never reached), compress and basicAuth (bcrypt, cached credential).
# Rows: a small answer (23 bytes, under compress's threshold: only the negotiation and the
# decision run) and a 4 KiB HTML page (compressed with gzip on the chain route). Then the
# chain runner alone (bench/src/bin/chain_cost.rs: ns and allocations per request).
# Proxy pinned to core 0, wrk and the nginx backend to core 1. Prints figures, asserts nothing.
#   bench/chain.sh [seconds-per-run]
# Environment: WHARF_BIN, CHAIN_COST (default: the `perf` profile's wharf and chain_cost, built
# if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
conns=${CONNS:-50}

# shellcheck source=bench/lib.sh
. bench/lib.sh

bench_need wrk:wrk nginx:nginx-light
wharf_bin perf
chain_cost=${CHAIN_COST:-}
if [ -z "$chain_cost" ]; then
  cargo build --profile perf -p wharf-bench --bin chain_cost >/dev/null
  chain_cost="$(target_dir)/perf/chain_cost"
fi
bench_workdir

# Sends the chain route's credentials (`u:password`) and takes a path, unlike lib.sh's.
wait_http() { for _ in $(seq 1 200); do curl -fsS -o /dev/null -H "Host: $2" -H "Authorization: Basic dTpwYXNzd29yZA==" "http://127.0.0.1:$1$3" 2>/dev/null && return 0; sleep 0.05; done; echo "nothing answers on $1" >&2; return 1; }

# The backend: nginx, a small answer on every path and a 4 KiB page at /page.html.
bport=$(free_port)
mkdir -p "$work/nginx"
mkdir -p "$work/www"
chmod a+rx "$work" "$work/www"  # nginx workers read the page as an unprivileged user
python3 -c 'import sys; sys.stdout.write("".join("<p>line %d of the benchmark page, value %d</p>\n" % (i, i * 7919 % 1000) for i in range(200))[:4096])' > "$work/www/page.html"
chmod a+r "$work/www/page.html"
cat > "$work/nginx/nginx.conf" <<NGX
worker_processes 1;
daemon off;
error_log $work/nginx/error.log crit;
pid $work/nginx/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  default_type text/html;
  server {
    listen 127.0.0.1:$bport;
    location / { return 200 "hello from the backend\n"; }
    location = /page.html { root $work/www; }
  }
}
NGX
taskset -c 1 nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" &
pids+=($!)
wait_http "$bport" backend /

# wharf: the same backend behind a plain route and a chain route. The bcrypt hash is made here
# (cost 10, as `htpasswd -B` writes it).
hash=$("$chain_cost" --bcrypt password)
wport=$(free_port)
cat > "$work/dynamic.yml" <<YML
http:
  routers:
    plain:
      rule: "Host(\`plain.local\`)"
      service: backend
    chain:
      rule: "Host(\`chain.local\`)"
      service: backend
      middlewares: [hdr, strip, rl, gz, auth]
  middlewares:
    hdr:
      headers:
        customRequestHeaders: {X-Env: prod}
        customResponseHeaders: {X-Served-By: wharf}
        frameDeny: true
    strip:
      stripPrefix:
        prefixes: ["/api"]
    rl:
      rateLimit:
        average: 1000000000
        burst: 1000000000
    gz:
      compress: {}
    auth:
      basicAuth:
        users: ['u:$hash']
  services:
    backend:
      loadBalancer:
        servers:
          - url: "http://127.0.0.1:$bport"
YML
taskset -c 0 "$bin" --entryPoints.web.address="127.0.0.1:$wport" --providers.file.filename="$work/dynamic.yml" --log.level=ERROR &
wpid=$!
pids+=($wpid)
wait_http "$wport" plain.local /
wait_http "$wport" chain.local /api/
# The chain route really compresses the page (and authenticates).
enc=$(curl -fsS -o /dev/null -D - -H "Host: chain.local" -H "Authorization: Basic dTpwYXNzd29yZA==" -H "Accept-Encoding: gzip, deflate, br, zstd" "http://127.0.0.1:$wport/api/page.html" | tr -d '\r' | awk -F': ' 'tolower($1)=="content-encoding"{print $2}')
echo "chain route /api/page.html answers Content-Encoding: ${enc:-none}"

write_pct_lua
hz=$(getconf CLK_TCK)

run() { # name host path
  local name=$1 host=$2 path=$3
  local t0 t1 out
  t0=$(cpu_ticks "$wpid")
  out=$(taskset -c 1 wrk -t1 -c"$conns" -d"${secs}s" -H "Host: $host" -H "Authorization: Basic dTpwYXNzd29yZA==" \
    -H "Accept-Encoding: gzip, deflate, br, zstd" -s "$work/pct.lua" "http://127.0.0.1:$wport$path" | grep '^RESULT')
  t1=$(cpu_ticks "$wpid")
  read -r _ reqs dur p50 p99 p999 <<<"$out"
  local rps cpu
  rps=$(python3 -c "print(round($reqs/$dur))")
  cpu=$(python3 -c "print(round(($t1-$t0)/$hz*1e6/$reqs, 1))")
  printf "%-34s %10s %9s %9s %9s %10s\n" "$name" "$rps" "$p50" "$p99" "$p999" "$cpu"
}

echo "keep-alive, $conns connections, ${secs}s each; wharf on core 0, wrk and nginx on core 1"
printf "%-34s %10s %9s %9s %9s %10s\n" "row" "req/s" "p50 ms" "p99 ms" "p99.9 ms" "CPU us/req"
run "small, no middlewares" plain.local /api/x
run "small, 5-middleware chain" chain.local /api/x
run "4 KiB page, no middlewares" plain.local /page.html
run "4 KiB page, chain (gzip)" chain.local /api/page.html

echo
taskset -c 0 "$chain_cost"
