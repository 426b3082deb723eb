#!/usr/bin/env bash
# Installs the third-party tools the deployment checks (tests/deployments) run against our manifests:
#   tools/bin/helm       helm.sh/helm/v3        ${HELM_VERSION}       (go install)
#   tools/bin/kustomize  sigs.k8s.io/kustomize  ${KUSTOMIZE_VERSION}  (go install)
#   tools/npm/           kubernetes-models, @kubernetes-models/prometheus-operator, ajv, yaml at the
#                        versions pinned in tests/deployments/npm/package-lock.json (npm ci)
# promtool and shellcheck come from Debian (scripts/install-deps.sh).
# Idempotent: a tool already at its pinned version is left alone. Needs Go (GO env var, else `go` on
# PATH, else /usr/local/go/bin/go), npm, and the Go module proxy and npm registry.
# Exit status: 0 when every tool is there; 1 (naming what is missing) otherwise.
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v3.21.4}"
KUSTOMIZE_VERSION="${KUSTOMIZE_VERSION:-v5.7.1}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN_DIR="${ROOT}/tools/bin"
NPM_DIR="${ROOT}/tools/npm"
NPM_SRC="${ROOT}/tests/deployments/npm"

say() { echo "install-deploy-tools: $*" >&2; }

# shellcheck source=scripts/find-go.sh
. "${ROOT}/scripts/find-go.sh"

failed=()
mkdir -p "${BIN_DIR}"

# go_tool NAME VERSION PACKAGE MODULE: installs PACKAGE@VERSION unless tools/bin/NAME was built from
# MODULE at VERSION (read from the binary's build info: `go install` builds carry no -ldflags version).
go_tool() {
  local name="$1" version="$2" pkg="$3" module="$4"
  if [ -x "${BIN_DIR}/${name}" ] && [ -n "${GO}" ] &&
    "${GO}" version -m "${BIN_DIR}/${name}" 2>/dev/null |
    grep -qE "^[[:space:]]+mod[[:space:]]+${module}[[:space:]]+${version}[[:space:]]"; then
    return 0
  fi
  if [ -z "${GO}" ]; then
    say "Go not found (set GO=/path/to/go): ${name} not installed"
    failed+=("${name}")
    return 0
  fi
  say "installing ${name} ${version} into ${BIN_DIR}"
  if ! GOBIN="${BIN_DIR}" GOFLAGS=-buildvcs=false "${GO}" install "${pkg}@${version}"; then
    say "go install ${pkg}@${version} failed"
    failed+=("${name}")
  fi
}

go_tool helm "${HELM_VERSION}" helm.sh/helm/v3/cmd/helm helm.sh/helm/v3
go_tool kustomize "${KUSTOMIZE_VERSION}" sigs.k8s.io/kustomize/kustomize/v5 sigs.k8s.io/kustomize/kustomize/v5

# npm ci into tools/npm from the committed lock file; redone only when the lock file changed.
if ! cmp -s "${NPM_SRC}/package-lock.json" "${NPM_DIR}/package-lock.json" ||
  [ ! -d "${NPM_DIR}/node_modules" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    say "npm not found: the schema validators are not installed"
    failed+=(npm)
  else
    say "installing the schema validators into ${NPM_DIR}"
    rm -rf "${NPM_DIR}"
    mkdir -p "${NPM_DIR}"
    cp "${NPM_SRC}/package.json" "${NPM_SRC}/package-lock.json" "${NPM_DIR}/"
    if ! (cd "${NPM_DIR}" && npm ci --no-audit --no-fund --loglevel=error >/dev/null); then
      say "npm ci failed"
      rm -f "${NPM_DIR}/package-lock.json"
      failed+=(npm)
    fi
  fi
fi

if [ ${#failed[@]} -ne 0 ]; then
  say "not installed: ${failed[*]} (the deployment checks that need them will be skipped)"
  exit 1
fi
