#!/usr/bin/env bash
# Shows that check_images.sh can fail (ctest deployments_images_broken): it runs the checker on
# copies of deployments/container/Dockerfile, each broken in one way, and expects a failure whose
# message names the image and what is wrong. The unbroken copy must pass, so that each failure
# comes from its change.
#
# Usage: check_images_broken.sh SOURCE_DIR BINARY...   (the arguments of check_images.sh)
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: check_images_broken.sh SOURCE_DIR BINARY..." >&2
  exit 2
fi
src=$1
shift
here=$(cd "$(dirname "$0")" && pwd)
checker=$here/check_images.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$src/deployments/container/Dockerfile" "$tmp/Dockerfile.orig"
cp "$src/deployments/container/README.md" "$tmp/README.md"

failures=0
bins=("$@")

rc=0
"$checker" --dockerfile "$tmp/Dockerfile.orig" --readme "$tmp/README.md" "$src" "${bins[@]}" >"$tmp/out" 2>&1 || rc=$?
if [ "$rc" -eq 77 ]; then
  cat "$tmp/out"
  exit 77
fi
if [ "$rc" -ne 0 ]; then
  echo "FAIL: the unbroken Dockerfile does not pass:"
  cat "$tmp/out"
  exit 1
fi

# case NAME STAGE SED_EXPRESSION EXPECTED_TEXT...: apply the sed expression to the lines of stage
# STAGE only (from its FROM to the next FROM), then expect the checker to fail with a FAIL line that
# contains every EXPECTED_TEXT.
case_() {
  local name=$1 stage=$2 expr=$3
  shift 3
  local df=$tmp/Dockerfile.$name rc=0 t line
  sed -E "/^FROM .* AS ${stage}\$/,/^FROM /{ ${expr} }" "$tmp/Dockerfile.orig" >"$df"
  if cmp -s "$df" "$tmp/Dockerfile.orig"; then
    echo "FAIL: $name: the change did not apply (the Dockerfile changed?)"
    failures=$((failures + 1))
    return
  fi
  "$checker" --dockerfile "$df" --readme "$tmp/README.md" "$src" "${bins[@]}" >"$tmp/out" 2>&1 || rc=$?
  if [ "$rc" -ne 1 ]; then
    echo "FAIL: $name: the checker exited $rc, not 1:"
    cat "$tmp/out"
    failures=$((failures + 1))
    return
  fi
  line=$(grep '^FAIL: ' "$tmp/out" || true)
  for t in "$@"; do
    if ! grep -qF -- "$t" <<<"$line"; then
      echo "FAIL: $name: no failure message containing '$t'; the checker said:"
      cat "$tmp/out"
      failures=$((failures + 1))
      return
    fi
  done
  echo "ok: $name: $line"
}

# (b) a package missing, and a package too many.
case_ missing-package device-api-server 's/ libsqlite3-0//' \
  "device-api-server:" "does not apt-install libsqlite3-0" "libsqlite3.so.0"
case_ extra-package gpu-device-plugin 's/libyaml-cpp0\.7/libyaml-cpp0.7 libgrpc29/' \
  "gpu-device-plugin:" "apt-installs libgrpc29, which provides none"
# (c) a port that is not the binary's, and a missing one.
case_ extra-port nvml-provider 's/^EXPOSE 8082$/EXPOSE 8082 8080/' \
  "nvml-provider:" "EXPOSE '8080 8082'" "'8082'"
case_ missing-port device-api-server 's/^EXPOSE 50051 9090$/EXPOSE 9090/' \
  "device-api-server:" "EXPOSE '9090'" "'9090 50051'"
# (d) a user other than the documented one; root where it is not needed.
case_ plugin-user gpu-device-plugin 's/^USER 0:0$/USER 65534:65534/' \
  "gpu-device-plugin:" "USER 65534:65534" "documents 0:0"
case_ root-monitor npd-gpu-monitor 's/^USER 65534:65534$/USER 0:0/' \
  "npd-gpu-monitor:" "runs as root"
# (a) a COPY or ENTRYPOINT that names something the build does not produce.
case_ copy-typo nvml-provider 's#/out/nvml-provider #/out/nvml-providr #' \
  "nvml-provider:" "nvml-providr" "not a binary the build produces"
case_ entrypoint-typo devicectl 's#"/usr/local/bin/devicectl"#"/usr/local/bin/devctl"#' \
  "devicectl:" "ENTRYPOINT"

if [ "$failures" -gt 0 ]; then
  echo "check_images_broken.sh: $failures broken Dockerfile(s) not caught as expected"
  exit 1
fi
echo "check_images_broken.sh: every broken Dockerfile failed the check with its message"
