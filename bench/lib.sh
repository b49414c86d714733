#!/usr/bin/env bash
# Shared preamble of wharf's benchmark scripts (sourced, not run): installs wrk and nginx when
# missing, finds or builds the wharf binary, makes a work directory cleaned up on exit, starts
# the nginx backend on core 1, and defines the helpers the scripts use. Prints nothing.
#   bench_init <cargo-profile>   sets: bin, work, pids, bport, hz; writes $work/pct.lua
# Environment: WHARF_BIN overrides the binary (else `cargo build --profile <profile>`).
# Scripts with their own backend (chain.sh, instr.sh) use the pieces: bench_need, bench_workdir,
# target_dir, wharf_bin, write_pct_lua, free_port, cpu_ticks.

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_http() { for _ in $(seq 1 200); do curl -fsS -o /dev/null -H "Host: $2" "http://127.0.0.1:$1/" 2>/dev/null && return 0; sleep 0.05; done; echo "nothing answers on $1" >&2; return 1; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# bench_need CMD:PACKAGE...: installs the Debian packages whose command is missing.
bench_need() {
  local need=() cp
  for cp in "$@"; do
    command -v "${cp%%:*}" >/dev/null || need+=("${cp#*:}")
  done
  if [ ${#need[@]} -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi
}

# Cargo's target directory (honours CARGO_TARGET_DIR and .cargo/config).
target_dir() { cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])'; }

# wharf_bin <cargo-profile>: sets bin to $WHARF_BIN, else builds the profile's wharf quietly.
wharf_bin() {
  local profile=$1
  bin=${WHARF_BIN:-}
  if [ -z "$bin" ]; then
    cargo build --profile "$profile" --bin wharf >/dev/null
    local dir=$profile
    [ "$profile" = dev ] && dir=debug
    bin="$(target_dir)/$dir/wharf"
  fi
}

# bench_workdir: sets work (a temp dir) and pids; on exit kills every pid and removes work.
bench_workdir() {
  work=$(mktemp -d)
  pids=()
  trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
}

# write_pct_lua: $work/pct.lua, a wrk script printing `RESULT reqs secs p50 p99 p99.9` (ms).
write_pct_lua() {
  cat > "$work/pct.lua" <<'LUA'
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %.3f %.3f %.3f %.3f\n", summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency:percentile(99.9) / 1000))
end
LUA
}

bench_init() {
  local profile=$1
  bench_need wrk:wrk nginx:nginx-light
  wharf_bin "$profile"
  bench_workdir
  hz=$(getconf CLK_TCK)

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

  # One router to the backend.
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

  write_pct_lua
}
