#!/bin/sh
# Builds wharf's images offline: ONE static release build (glibc, crt-static) of the wharf and
# whoami binaries, then `wharf:dev` and `wharf-whoami:dev`, both FROM scratch (nothing is pulled).
# The binaries are also left in images/bin/ so `docker-compose up --build` in examples/compose
# can rebuild the images from them, and the end-to-end tests use the same binaries.
#
# Environment: CARGO_TARGET_DIR (default: <repo>/target), WHARF_TAG (default: dev),
# WHARF_SKIP_CARGO=1 (reuse the binaries already in images/bin/).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
tag=${WHARF_TAG:-dev}
triple=x86_64-unknown-linux-gnu
target_dir=${CARGO_TARGET_DIR:-$repo/target}

if [ "${WHARF_SKIP_CARGO:-0}" != 1 ]; then
  (cd "$repo" && RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
    cargo build --release --locked --target "$triple" --bin wharf --bin whoami)
  mkdir -p "$here/bin"
  for b in wharf whoami; do
    cp "$target_dir/$triple/release/$b" "$here/bin/$b.tmp"
    mv "$here/bin/$b.tmp" "$here/bin/$b"
  done
fi

for b in wharf whoami; do
  if [ ! -x "$here/bin/$b" ]; then
    echo "images/build.sh: missing $here/bin/$b" >&2
    exit 1
  fi
  # A FROM scratch image has no loader: refuse a dynamically linked binary early.
  if command -v file >/dev/null 2>&1 && file "$here/bin/$b" | grep -q 'dynamically linked'; then
    echo "images/build.sh: $b is dynamically linked; it cannot run FROM scratch" >&2
    exit 1
  fi
done

docker build -q -f "$here/Dockerfile.wharf" -t "wharf:$tag" "$here"
docker build -q -f "$here/Dockerfile.whoami" -t "wharf-whoami:$tag" "$here"
docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E "^(wharf|wharf-whoami):$tag " || true
