#!/usr/bin/env bash
# Instructions per request of the wharf binary on the plain proxy path, counted by callgrind
# (deterministic within a few percent, unaffected by other load on the machine): wharf runs under
# valgrind with one Host route to an nginx backend; after a warm-up the counters are zeroed, K
# requests are sent (h2load, HTTP/1.1 keep-alive, C connections), and the counters dumped.
# The figure for before/after comparisons of hot-path changes (bench/README.md).
#   bench/instr.sh [requests] [connections]
# Environment: WHARF_BIN (default: the `perf` profile build, built if missing);
# CHAIN=1: the route carries the 5-middleware chain of compare.sh; CG_KEEP=FILE keeps the dump
# (callgrind_annotate FILE shows where the instructions go); PIN=1 pins wharf to core 0, as
# compare.sh does (wharf then runs a single-threaded runtime).
set -euo pipefail
cd "$(dirname "$0")/.."
k=${1:-5000}
conns=${2:-10}
# shellcheck source=bench/lib.sh
. bench/lib.sh
bench_need valgrind:valgrind h2load:nghttp2-client nginx:nginx-light
bin=${WHARF_BIN:-}
if [ -z "$bin" ]; then
  # Build output shown (on stderr): a cold perf build is long.
  cargo build --profile perf -p wharf --bin wharf >&2
  bin="$(target_dir)/perf/wharf"
fi
bench_workdir
# Longer than lib.sh's: wharf starts slowly under valgrind. Takes a path.
wait_http() { for _ in $(seq 1 600); do curl -fsS -o /dev/null -H "Host: $2" "http://127.0.0.1:$1$3" 2>/dev/null && return 0; sleep 0.1; done; echo "nothing answers on $1" >&2; return 1; }

bport=$(free_port)
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
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$bport; location / { return 200 "hello from the backend\n"; } }
}
NGX
nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" &
pids+=($!)
wait_http "$bport" backend /

path=/
mws=""
if [ -n "${CHAIN:-}" ]; then
  path=/api/hello
  mws='      middlewares: [allow, reqhdr, resphdr, strip, add]'
fi
wport=$(free_port)
cat >"$work/dynamic.yml" <<YML
http:
  routers:
    bench:
      rule: "Host(\`bench.local\`)"
      service: backend
$mws
  middlewares:
    allow: { ipAllowList: { sourceRange: ["127.0.0.1/32"] } }
    reqhdr: { headers: { customRequestHeaders: { X-Bench: "1" } } }
    resphdr: { headers: { customResponseHeaders: { X-Served-By: "proxy" } } }
    strip: { stripPrefix: { prefixes: ["/api"] } }
    add: { addPrefix: { prefix: "/v1" } }
  services:
    backend:
      loadBalancer:
        servers:
          - url: "http://127.0.0.1:$bport"
YML
${PIN:+taskset -c 0} valgrind --tool=callgrind --callgrind-out-file="$work/cg.out.%p" "$bin" \
  --entryPoints.web.address="127.0.0.1:$wport" --providers.file.filename="$work/dynamic.yml" \
  --log.level=ERROR 2>"$work/vg.log" &
wpid=$!
pids+=($wpid)
wait_http "$wport" bench.local "$path"
h2load --h1 -c"$conns" -n 1000 -H ":authority: bench.local" "http://127.0.0.1:$wport$path" >/dev/null
callgrind_control -z "$wpid" >/dev/null
h2load --h1 -c"$conns" -n "$k" -H ":authority: bench.local" "http://127.0.0.1:$wport$path" >"$work/h2load.txt"
callgrind_control -d "$wpid" >/dev/null
grep -q "$k succeeded" "$work/h2load.txt" || { echo "not every request succeeded:" >&2; grep requests: "$work/h2load.txt" >&2; exit 1; }
[ -n "${CG_KEEP:-}" ] && cp "$work"/cg.out.*.[0-9]* "$CG_KEEP"
# Each dump states its count twice (`summary:` near the top, `totals:` at the end): take one.
total=$(for f in "$work"/cg.out.*.[0-9]*; do awk '/^totals:/ { t = $2 } /^summary:/ { s = $2 } END { print (t != "" ? t : s) }' "$f"; done | awk '{ s += $1 } END { print s }')
echo "instructions per request: $((total / k)) ($k requests, $conns connections${CHAIN:+, 5-middleware chain}; $(basename "$bin"))"
