# shellcheck shell=bash
# Shared by the deployment checks in tests/deployments (sourced, not run).
#   ROOT             the source tree (set by the sourcing script before sourcing, or derived here)
#   HELM, KUSTOMIZE  the pinned tools from scripts/install-deploy-tools.sh (tools/bin/)
#   HELM_KUBE_VERSION  --kube-version for helm lint/template
#   NODE_PATH        tools/npm/node_modules: kubernetes-models, @kubernetes-models/prometheus-operator,
#                    ajv, yaml (CommonJS `require` honours NODE_PATH)
#   need_tools T...  exit 77 (ctest: skipped) naming what is missing; exit 1 instead when
#                    DEVICEAPI_REQUIRE_DEPLOY_TOOLS=1 (set by .ci/run, where a skip would hide a failure)
#   fail MSG         print "FAIL: MSG" and remember it; finish exits 1 if anything failed
ROOT=${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
HELM=${HELM:-$ROOT/tools/bin/helm}
KUSTOMIZE=${KUSTOMIZE:-$ROOT/tools/bin/kustomize}
export NODE_PATH=${NODE_PATH:-$ROOT/tools/npm/node_modules}
# The Kubernetes version charts are rendered for: helm built by `go install` carries no -ldflags, so
# its built-in default (v1.20) is below the chart's kubeVersion (>=1.25).
HELM_KUBE_VERSION=${HELM_KUBE_VERSION:-1.30.0}

need_tools() {
  local missing=() t
  for t in "$@"; do
    case $t in
      helm) [ -x "$HELM" ] || missing+=("helm ($HELM)") ;;
      kustomize) [ -x "$KUSTOMIZE" ] || missing+=("kustomize ($KUSTOMIZE)") ;;
      npm-validators) [ -d "$NODE_PATH/kubernetes-models" ] || missing+=("schema validators ($NODE_PATH)") ;;
      *) command -v "$t" >/dev/null 2>&1 || missing+=("$t") ;;
    esac
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "missing: ${missing[*]} (run scripts/install-deploy-tools.sh)" >&2
  if [ "${DEVICEAPI_REQUIRE_DEPLOY_TOOLS:-0}" = 1 ]; then
    echo "DEVICEAPI_REQUIRE_DEPLOY_TOOLS=1: failing instead of skipping" >&2
    exit 1
  fi
  exit 77
}

_deploy_failures=0
fail() {
  echo "FAIL: $*" >&2
  _deploy_failures=$((_deploy_failures + 1))
}
finish() {
  if [ "$_deploy_failures" -ne 0 ]; then
    echo "$_deploy_failures check(s) failed" >&2
    exit 1
  fi
  echo "all checks passed"
}
