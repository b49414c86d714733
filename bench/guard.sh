#!/usr/bin/env bash
# Regression guard of the hot path: instructions per operation (callgrind: deterministic, the same
# on a loaded machine) of the route lookup among 10,000 host routes, among 10,000 path routes on
# one host, and of a 5-middleware chain (bench/src/bin/guard.rs). Each workload runs twice, with
# K1 and K2 iterations, counting only inside the measured loop; (Ir(K2) - Ir(K1)) / (K2 - K1)
# is one operation.
# Fails when a figure exceeds its baseline (bench/guard-baseline.txt) by more than GUARD_MAX_PCT
# (default 25) percent. Run by scripts/test on the release build.
#   bench/guard.sh [--update]      (--update rewrites the baseline from this run)
# Environment: GUARD_BIN (default: the release build of wharf-bench's `guard`, built if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
baseline=bench/guard-baseline.txt
max_pct=${GUARD_MAX_PCT:-25}
k1=${GUARD_K1:-2000}
k2=${GUARD_K2:-12000}

command -v valgrind >/dev/null || {
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null
}
bin=${GUARD_BIN:-}
if [ -z "$bin" ]; then
  cargo build --release -p wharf-bench --bin guard >&2
  bin="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/guard"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
instructions() { # workload iterations
  # Only inside `measured` (guard.rs): the setup's cost varies from run to run.
  valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*guard::measured*' \
    --callgrind-out-file="$tmp/cg.out" "$bin" "$1" "$2" >/dev/null 2>"$tmp/vg.log" || {
    cat "$tmp/vg.log" >&2
    return 1
  }
  awk '/^(summary|totals):/ { print $2; exit }' "$tmp/cg.out"
}

declare -A base=()
if [ -f "$baseline" ]; then
  while read -r name value _; do
    case "$name" in '#'* | '') continue ;; esac
    base[$name]=$value
  done <"$baseline"
fi

failed=0
out=()
printf '%-8s %14s %14s %8s\n' workload "instr/op" baseline change
for w in hosts paths chain; do
  a=$(instructions "$w" "$k1")
  b=$(instructions "$w" "$k2")
  per=$(((b - a) / (k2 - k1)))
  out+=("$w $per")
  ref=${base[$w]:-}
  if [ -n "$ref" ]; then
    change=$(python3 -c "print(f'{($per - $ref) / $ref * 100:+.1f}%')")
    printf '%-8s %14s %14s %8s\n' "$w" "$per" "$ref" "$change"
    if [ $((per * 100)) -gt $((ref * (100 + max_pct))) ]; then
      echo "REGRESSION: $w costs $per instructions per operation, baseline $ref (+${max_pct}% allowed)" >&2
      failed=1
    fi
  else
    printf '%-8s %14s %14s %8s\n' "$w" "$per" "-" "-"
  fi
done

if [ "${1:-}" = "--update" ]; then
  {
    echo "# Instructions per operation, written by bench/guard.sh --update ($(basename "$(dirname "$bin")") build)."
    echo "# A run fails above baseline + ${max_pct}%."
    printf '%s\n' "${out[@]}"
  } >"$baseline"
  echo "baseline written to $baseline"
  exit 0
fi
exit $failed
