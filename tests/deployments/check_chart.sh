#!/usr/bin/env bash
# deployments/helm/device-api-server, offline: helm lint --strict and helm template with the default
# values and the variants in tests/deployments/chart-values/, facts about every render and the
# Kubernetes schemas of every object (chart_assert.js), values.schema.json rejecting a misspelt key
# and a wrong type, the renders that must fail with their message, and the README's parameter table
# against values.yaml.
# With the binaries, also every command line the renders give them (check_flags.js), and the default
# and all-sidecars renders held to the rules every manifest of ours follows (manifest_asserts.js).
# Usage: check_chart.sh SOURCE_DIR [SERVER PROVIDER PLUGIN MONITOR DEVICECTL]
set -euo pipefail

ROOT=$(cd "${1:?usage: check_chart.sh SOURCE_DIR [SERVER PROVIDER PLUGIN MONITOR DEVICECTL]}" && pwd)
bin_args=()
if [ $# -eq 6 ]; then
  bin_args=(--binary "device-api-server=$2" --binary "nvml-provider=$3" --binary "gpu-device-plugin=$4"
    --binary "npd-gpu-monitor=$5" --binary "devicectl=$6")
elif [ $# -ne 1 ]; then
  echo "usage: check_chart.sh SOURCE_DIR [SERVER PROVIDER PLUGIN MONITOR DEVICECTL]" >&2
  exit 2
fi
# shellcheck source=tests/deployments/lib.sh
. "$ROOT/tests/deployments/lib.sh"
need_tools helm node npm-validators

CHART=$ROOT/deployments/helm/device-api-server
CASES=$ROOT/tests/deployments/chart-values
ASSERT=$ROOT/tests/deployments/chart_assert.js
RELEASE=dapi
NAMESPACE=gpu-system
# helm template's built-in Kubernetes version is below the chart's kubeVersion (>=1.25).
KUBE=(--kube-version "$HELM_KUBE_VERSION")

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# Runs chart_assert.js; its output lines are failures, prefixed with $1.
assert_js() {
  local label=$1 out rc=0
  shift
  out=$(node "$ASSERT" "$@" 2>&1) || rc=$?
  if [ "$rc" -eq 1 ]; then
    while IFS= read -r line; do fail "$label: $line"; done <<<"$out"
  elif [ "$rc" -ne 0 ]; then
    fail "$label: chart_assert.js exited $rc: $(tail -n 3 <<<"$out" | tr '\n' ' ')"
  fi
}

# Lint and render: the defaults and each variant.
cases=(default)
for f in "$CASES"/*.yaml; do cases+=("$(basename "$f" .yaml)"); done
for c in "${cases[@]}"; do
  vals=()
  [ "$c" = default ] || vals=(-f "$CASES/$c.yaml")
  if ! out=$("$HELM" lint --strict "${KUBE[@]}" --namespace "$NAMESPACE" "$CHART" "${vals[@]}" 2>&1); then
    fail "$c: helm lint --strict: $(grep -E 'ERROR|WARNING|Error' <<<"$out" | head -n 3 | tr '\n' ' ')"
  fi
  if ! "$HELM" template "$RELEASE" "$CHART" "${KUBE[@]}" --namespace "$NAMESPACE" "${vals[@]}" \
      >"$WORK/$c.yaml" 2>"$WORK/$c.err"; then
    fail "$c: helm template: $(head -n 3 "$WORK/$c.err" | tr '\n' ' ')"
    continue
  fi
  assert_js "$c" render "$CHART" "$RELEASE" "$NAMESPACE" "$WORK/$c.yaml" "${vals[@]:1}"
  if [ ${#bin_args[@]} -gt 0 ] && ! out=$(node "$ROOT/tests/deployments/check_flags.js" "${bin_args[@]}" --min 1 \
      "$WORK/$c.yaml" 2>&1); then
    while IFS= read -r line; do fail "$c: $line"; done <<<"$out"
  fi
  # The shared rules hold for the chart's defaults (the variants change them on purpose: memory,
  # etcd, another socket path, a privileged provider).
  if [ "$c" = default ] || [ "$c" = all-sidecars ]; then
    if ! out=$(node "$ROOT/tests/deployments/manifest_asserts.js" --source-dir "$ROOT" "$WORK/$c.yaml" 2>&1); then
      while IFS= read -r line; do fail "$c: $line"; done <<<"$out"
    fi
  fi
done

# Renders that must fail, each with its message: name=values-yaml=expected-substring.
must_fail() {
  local name=$1 values=$2 want=$3 out
  printf '%s\n' "$values" >"$WORK/bad-$name.yaml"
  if out=$("$HELM" template "$RELEASE" "$CHART" "${KUBE[@]}" -f "$WORK/bad-$name.yaml" 2>&1); then
    fail "$name: helm template succeeded, want a failure with \"$want\""
  elif ! grep -qF -- "$want" <<<"$out"; then
    fail "$name: helm template failed without \"$want\": $(head -n 3 <<<"$out" | tr '\n' ' ')"
  fi
}
# values.schema.json: a misspelt key and a wrong type, each named.
must_fail schema-typo $'server:\n  metricPort: 9091' "additional properties 'metricPort' not allowed"
must_fail schema-type $'server:\n  shutdownDelay: "5s"' "/server/shutdownDelay"
must_fail schema-enum $'logging:\n  format: xml' "/logging/format"
must_fail schema-top-typo $'nodeSelecter: {}' "additional properties 'nodeSelecter' not allowed"
must_fail schema-audit-size $'auditLog:\n  maxSize: 1024' "/auditLog/maxSize"
must_fail schema-audit-backups $'auditLog:\n  maxBackups: 101' "/auditLog/maxBackups"
must_fail schema-negative-uid $'authorization:\n  writerUids: [0, -1]' "at '/authorization/writerUids/1': minimum: got -1, want 0"
must_fail schema-uid-string $'authorization:\n  operatorUids: ["root"]' "/authorization/operatorUids/0"
must_fail schema-provider-no-conditions $'authorization:\n  providers:\n    nvml-provider:\n      uids: [10001]' \
  "at '/authorization/providers/nvml-provider': missing property 'conditions'"
must_fail schema-provider-empty-uids $'authorization:\n  providers:\n    nvml-provider:\n      uids: []\n      conditions: [NVMLReady]' \
  "/authorization/providers/nvml-provider/uids"
must_fail schema-condition-type $'authorization:\n  providers:\n    p:\n      uids: [1]\n      conditions: ["NVML:Ready"]' \
  "/authorization/providers/p/conditions/0"
# The templates' own checks.
must_fail socket-relative $'server:\n  unixSocket: device-api.sock' \
  'server.unixSocket must be an absolute path inside a directory of its own under /var/run/, /run/ or /tmp/'
must_fail socket-outside $'server:\n  unixSocket: /etc/device-api/api.sock' 'server.unixSocket must be an absolute path'
must_fail socket-no-dir $'server:\n  unixSocket: /var/run/api.sock' 'server.unixSocket must be an absolute path'
must_fail etcd-no-endpoints $'datastore:\n  type: etcd' 'datastore.type=etcd needs datastore.etcd.endpoints'
must_fail monitor-socket $'gpuMonitor:\n  enabled: true\n  socket: npd.sock' 'gpuMonitor.socket must be an absolute path'
must_fail port-clash $'devicePlugin:\n  enabled: true\n  metricsPort: 9090' 'port 9090 is used twice'
must_fail plugin-config $'devicePlugin:\n  enabled: true\n  config: "flags: {}"' 'devicePlugin.config must be an NVIDIA device plugin config with version: v1'
must_fail audit-dir-clash $'auditLog:\n  hostPath: /var/lib/nvidia-device-api' \
  'datastore.sqlite.hostPath, gpuMonitor.socket'"'"'s directory and auditLog.hostPath must differ'
must_fail read-only-socket-dir $'server:\n  readOnlySocket: /run/other/ro.sock' \
  "server.readOnlySocket must be another socket in server.unixSocket's directory"
must_fail read-only-socket-same $'server:\n  readOnlySocket: /var/run/nvidia-device-api/device-api.sock' \
  "server.readOnlySocket must be another socket in server.unixSocket's directory"
must_fail provider-not-writer $'nvmlProvider:\n  enabled: true\n  securityContext:\n    runAsUser: 10001' \
  'nvml-provider runs as uid 10001, which may not write: add it to authorization.writerUids'
must_fail provider-not-owner $'nvmlProvider:\n  enabled: true\n  securityContext:\n    runAsUser: 10001\nauthorization:\n  writerUids: [10001]\n  providers:\n    nvml-provider:\n      uids: [10002]\n      conditions: [NVMLReady]' \
  'authorization.providers.nvml-provider.uids [10002] lacks uid 10001 that nvml-provider runs as'
must_fail servicemonitor-no-metrics $'metrics:\n  enabled: false\n  serviceMonitor:\n    enabled: true' \
  'metrics.serviceMonitor.enabled needs metrics.enabled'

# The README's parameter table against values.yaml.
assert_js README readme "$CHART"

finish
