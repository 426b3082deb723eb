#!/usr/bin/env bash
# Installs every build and test dependency of the project from Debian 12 packages.
# Idempotent: does nothing when all packages are already present. Needs root or sudo.
set -euo pipefail

PKGS=(
  build-essential cmake ninja-build ccache pkg-config git
  libgrpc++-dev libgrpc-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev prometheus-cpp-dev libsqlite3-dev sqlite3 libyaml-cpp-dev nlohmann-json3-dev
  libspdlog-dev libfmt-dev libcivetweb-dev libcli11-dev libgtest-dev libgmock-dev libbenchmark-dev
  etcd-server etcd-client prometheus curl shellcheck
  clang-14 clang-format-14 clang-tidy-14 libclang-rt-14-dev faketime
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The prometheus package ships a service we do not want running; tests start their own peers.
if command -v systemctl >/dev/null 2>&1; then
  $SUDO systemctl disable --now prometheus etcd >/dev/null 2>&1 || true
fi
