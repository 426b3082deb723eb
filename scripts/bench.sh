#!/usr/bin/env bash
# The command behind `make bench`: installs what is missing (etcd-server comes from
# scripts/install-deps.sh), builds device-api-server and devapi-bench, then runs the standard
# suite against the server, a local etcd and the bare-gRPC floor, all started by the bench on
# loopback with temp data dirs. Writes the markdown table (with the machine and the command) to
# $BENCH_OUT (default $BUILD_DIR/bench/results.md) and prints it. Bounded: 10 minutes at most.
#
#   scripts/bench.sh [devapi-bench flags...]     e.g. --scenarios get,watch-fanout
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo}
OUT=${BENCH_OUT:-$BUILD_DIR/bench/results.md}

command -v etcd >/dev/null 2>&1 || ./scripts/install-deps.sh
[ -f "$BUILD_DIR/build.ninja" ] || cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="$BUILD_TYPE"
ninja -C "$BUILD_DIR" -j"$(nproc)" devapi-bench device-api-server

mkdir -p "$(dirname "$OUT")"
raw=$(mktemp)
trap 'rm -f "$raw"' EXIT
timeout 600 "$BUILD_DIR/bench/devapi-bench" --etcd-bin "$(command -v etcd)" --out "$raw" "$@"
{
  echo "Machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(free -g | awk '/Mem:/{print $2}') GiB RAM, $(uname -sr); $(etcd --version 2>/dev/null | head -1)."
  echo "Command: \`make bench\` (scripts/bench.sh$( [ $# -gt 0 ] && printf ' %s' "$@"), $BUILD_TYPE build), $(date -u +%Y-%m-%dT%H:%MZ)."
  echo
  cat "$raw"
} > "$OUT"
echo "bench: table written to $OUT"
