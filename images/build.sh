#!/bin/sh
# Builds wharf's images offline: ONE static release build (glibc, crt-static) of the wharf and
# whoami binaries, then `wharf:dev` and `wharf-whoami:dev`, both FROM scratch (nothing is pulled).
# The binaries are also copied to images/bin/ (the images' build context), so
# `docker-compose up --build` in examples/compose rebuilds the images from them offline.
#
#   images/build.sh              cargo build (static, release), then the images
#   images/build.sh --no-build   reuse the binaries of an earlier static build (scripts/test)
#
# Environment: WHARF_BIN_DIR (where the static binaries are; default
# <target>/x86_64-unknown-linux-gnu/release), CARGO_TARGET_DIR, WHARF_TAG (default: dev).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
tag=${WHARF_TAG:-dev}
triple=x86_64-unknown-linux-gnu
target_dir=${CARGO_TARGET_DIR:-$repo/target}
bin_dir=${WHARF_BIN_DIR:-$target_dir/$triple/release}

build=1
for arg in "$@"; do
  case "$arg" in
    --no-build) build=0 ;;
    *) echo "usage: images/build.sh [--no-build]" >&2; exit 2 ;;
  esac
done

if [ "$build" = 1 ]; then
  (cd "$repo" && RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
    cargo build --release --target "$triple" --bin wharf --bin whoami)
fi

mkdir -p "$here/bin"
for b in wharf whoami; do
  src="$bin_dir/$b"
  if [ ! -x "$src" ]; then
    echo "images/build.sh: missing $src (run without --no-build, or set WHARF_BIN_DIR)" >&2
    exit 1
  fi
  # A FROM scratch image has no loader: refuse a dynamically linked binary early.
  if command -v file >/dev/null 2>&1 && file -L "$src" | grep -q 'dynamically linked'; then
    echo "images/build.sh: $src is dynamically linked; build with RUSTFLAGS='-C target-feature=+crt-static'" >&2
    exit 1
  fi
  # Images carry stripped copies (the build keeps its line tables for the tests' backtraces).
  if command -v strip >/dev/null 2>&1; then
    strip -o "$here/bin/$b.tmp" "$src"
  else
    cp "$src" "$here/bin/$b.tmp"
  fi
  mv "$here/bin/$b.tmp" "$here/bin/$b"
done

docker build -q -f "$here/Dockerfile.wharf" -t "wharf:$tag" "$here"
docker build -q -f "$here/Dockerfile.whoami" -t "wharf-whoami:$tag" "$here"
docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E "^(wharf|wharf-whoami):$tag " || true
