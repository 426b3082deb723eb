#!/usr/bin/env bash
# Checks the chart's Prometheus alerts and Grafana dashboard (ctest deployments_alerts):
#   (1) templates/prometheusrule.yaml, rendered with metrics.prometheusRule.enabled=true, validates
#       as a monitoring.coreos.com/v1 PrometheusRule (also with additionalRules), every alert has a
#       severity, summary, description and runbook_url (#<alert in lower case>); `promtool check
#       rules` accepts its spec.groups;
#   (2) `promtool test rules` passes tests/deployments/alerts/*_test.yaml, in which every alert
#       fires once and stays quiet once;
#   (3) every metric an alert uses is in the live /metrics of the binary behind its endpoint label
#       (device-api-server, nvml-provider on a fake NVML with an XID and an ECC event, gpu-device-plugin
#       after one Allocate, npd-gpu-monitor after one CheckHealth), with the labels it matches on;
#       `up` is Prometheus' own;
#   (4) files/dashboard.json is JSON with a uid, a title, a ${datasource} variable used by every
#       panel, the promised panels, and only metrics and labels of the same live scrapes;
#   (5) neither the PrometheusRule nor the dashboard ConfigMap renders unless enabled; the ConfigMap
#       validates and carries files/dashboard.json unchanged.
#
# Usage: check_alerts.sh SOURCE_DIR SERVER PROVIDER PLUGIN MONITOR DEVICECTL [FAKE_NVML]
#   FAKE_NVML: the fake libnvidia-ml.so.1 (tests/fakes); default: <build>/tests/fakes/ next to SERVER.
# Exit 0: all good; 1: a check failed; 2: bad usage; 77: a tool is missing (skipped).
set -euo pipefail

if [ $# -lt 6 ]; then
  echo "usage: check_alerts.sh SOURCE_DIR SERVER PROVIDER PLUGIN MONITOR DEVICECTL [FAKE_NVML]" >&2
  exit 2
fi
ROOT=$(cd "$1" && pwd)
server=$2 provider=$3 plugin=$4 monitor=$5 devicectl=$6
fake_nvml=${7:-$(dirname "$server")/../../tests/fakes/libnvidia-ml.so.1}
# shellcheck source=lib.sh disable=SC1091 # followed with shellcheck -x from tests/deployments
. "$ROOT/tests/deployments/lib.sh"
GRPCURL=${GRPCURL:-$ROOT/tools/bin/grpcurl}
need_tools helm promtool node npm-validators curl "$GRPCURL"
for f in "$server" "$provider" "$plugin" "$monitor" "$devicectl" "$fake_nvml"; do
  [ -r "$f" ] || { echo "check_alerts.sh: cannot read $f" >&2; exit 2; }
done

chart=$ROOT/deployments/helm/device-api-server
tests_dir=$ROOT/tests/deployments/alerts
helper=$tests_dir/check_alerts.js
release=device-api-server namespace=device-api
job=$release-metrics  # the Service <fullname>-metrics; fullname = release when it holds the chart name

tmp=$(mktemp -d "${TMPDIR:-/tmp}/check_alerts.XXXXXX")
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

# --- the binaries (started first: they come up while the chart is checked) ---------------------------
sock=$tmp/s.sock
mkdir -p "$tmp/driver/usr/lib64" "$tmp/dp" "$tmp/scrape"
ln -s "$(cd "$(dirname "$fake_nvml")" && pwd)/$(basename "$fake_nvml")" "$tmp/driver/usr/lib64/libnvidia-ml.so.1"
gpu1=GPU-a1e27000-0000-4000-8000-000000000001
gpu2=GPU-a1e27000-0000-4000-8000-000000000002
: >"$tmp/nvml-events"
cat >"$tmp/nvml.json" <<EOF
{"driver_version": "550.54.15", "events": "$tmp/nvml-events",
 "devices": [{"uuid": "$gpu1", "pci_bus_id": "0000:01:00.0", "minor": 0, "retired_pages": 1},
             {"uuid": "$gpu2", "pci_bus_id": "0000:02:00.0", "minor": 1}]}
EOF

# start NAME CMD...: runs CMD in the background, logging to $tmp/NAME.log.
start() {
  local name=$1
  shift
  "$@" >"$tmp/$name.log" 2>&1 &
  pids+=($!)
}
# port NAME PATTERN: waits (20 s) for the log line that names the port the binary bound (port 0).
port() {
  local name=$1 pattern=$2 i p
  for i in $(seq 200); do
    p=$(sed -n "s/.*$pattern\([0-9][0-9]*\).*/\1/p" "$tmp/$name.log" | head -n 1)
    if [ -n "$p" ]; then
      echo "$p"
      return 0
    fi
    [ "$i" -eq 200 ] || sleep 0.1
  done
  echo "check_alerts.sh: $name did not report its port; its log:" >&2
  cat "$tmp/$name.log" >&2
  return 1
}
scrape() { curl -fsS --max-time 5 "http://127.0.0.1:$1/metrics"; }
# wait_metric PORT REGEX [TENTHS]: waits (TENTHS/10 s, default 20 s) until the scrape has a line
# matching REGEX.
wait_metric() {
  local i
  for i in $(seq "${3:-200}"); do
    if scrape "$1" 2>/dev/null | grep -Eq "$2"; then return 0; fi
    sleep 0.1
  done
  return 1
}

start server "$server" --bind-address "unix://$sock" --health-probe-bind-address 127.0.0.1:0 \
  --metrics-bind-address 127.0.0.1:0
server_port=$(port server 'metrics :')
FAKE_NVML_CONFIG=$tmp/nvml.json start provider "$provider" --server-address "unix://$sock" \
  --health-host 127.0.0.1 --health-port 0 --driver-root "$tmp/driver" --nvml-missing exit
start plugin "$plugin" --server-address "unix://$sock" --device-plugin-path "$tmp/dp/" --kubelet-socket "" \
  --metrics-bind-address 127.0.0.1:0
start monitor "$monitor" serve --server-address "unix://$sock" --socket "$tmp/npd.sock" \
  --metrics-bind-address 127.0.0.1:0

# --- (1) the PrometheusRule ---------------------------------------------------------------------
render() { "$HELM" template "$release" "$chart" --kube-version "$HELM_KUBE_VERSION" --namespace "$namespace" "$@"; }
render --set metrics.prometheusRule.enabled=true --show-only templates/prometheusrule.yaml >"$tmp/rule.yaml"
render --set metrics.prometheusRule.enabled=true --show-only templates/prometheusrule.yaml \
  --set-json 'metrics.prometheusRule.additionalRules=[{"alert":"ExtraAlert","expr":"vector(1)"}]' >"$tmp/rule-extra.yaml"
node "$helper" rules "$tmp/rule.yaml" "$tmp/rules.yaml" "$tmp/rule-extra.yaml" || fail "PrometheusRule (above)"
if [ -s "$tmp/rules.yaml" ]; then
  promtool check rules "$tmp/rules.yaml" >"$tmp/promtool-check.log" 2>&1 ||
    { cat "$tmp/promtool-check.log" >&2; fail "promtool check rules"; }

  # --- (2) promtool unit tests, next to rules.yaml (rule_files is relative to the test file) --------
  tests=()
  for t in "$tests_dir"/*_test.yaml; do
    cp "$t" "$tmp/"
    tests+=("$tmp/$(basename "$t")")
  done
  promtool test rules "${tests[@]}" >"$tmp/promtool-test.log" 2>&1 ||
    { cat "$tmp/promtool-test.log" >&2; fail "promtool test rules"; }
  node "$helper" coverage "$tmp/rules.yaml" "${tests[@]}" || fail "alert test coverage (above)"
fi

# --- (5) rendered only when enabled ----------------------------------------------------------------
render >"$tmp/default.yaml"
node "$helper" disabled "$tmp/default.yaml" || fail "rendered while disabled (above)"
render --set metrics.grafanaDashboard.enabled=true --set-string 'metrics.grafanaDashboard.annotations.grafana-folder=GPU' \
  --show-only templates/dashboard-configmap.yaml >"$tmp/dashboard-cm.yaml"
node "$helper" configmap "$tmp/dashboard-cm.yaml" "$chart/files/dashboard.json" || fail "dashboard ConfigMap (above)"

# --- (3, 4) live scrapes ----------------------------------------------------------------------------
provider_port=$(port provider 'health endpoint on port ')
plugin_port=$(port plugin 'metrics and probes on port ')
monitor_port=$(port monitor 'metrics and probes on port ')
# The provider has registered both GPUs (and created its NVML event set): one critical XID, one
# ignored XID and a double-bit ECC event.
wait_metric "$provider_port" '^nvml_provider_gpus\{health="healthy"\} 2$' ||
  { cat "$tmp/provider.log" >&2; fail "nvml-provider did not register the fake GPUs"; }
# The fake's event set only sees lines written after it was created: write again until counted.
for i in $(seq 5); do
  printf '%s 79\n%s 13\n%s dbe\n' "$gpu1" "$gpu2" "$gpu2" >>"$tmp/nvml-events"
  if wait_metric "$provider_port" '^nvml_provider_ecc_events_total' 30; then break; fi
  if [ "$i" -eq 5 ]; then
    cat "$tmp/provider.log" >&2
    fail "nvml-provider did not count the fake NVML events"
  fi
done
# One unary call of our own; one Allocate (healthy GPU), one refused Allocate (unknown GPU) and one
# CheckHealth, as the kubelet and NPD would.
"$devicectl" -s "unix://$sock" get gpus >/dev/null || fail "devicectl get gpus"
for i in $(seq 200); do
  [ -S "$tmp/dp/nvidia-gpu.sock" ] && break
  sleep 0.1
done
"$GRPCURL" -plaintext -unix -import-path "$ROOT/api/proto" -proto deviceplugin/v1beta1/api.proto \
  -d "{\"container_requests\":[{\"devices_ids\":[\"$gpu2\"]}]}" "$tmp/dp/nvidia-gpu.sock" v1beta1.DevicePlugin/Allocate \
  >"$tmp/allocate.log" 2>&1 || { cat "$tmp/allocate.log" "$tmp/plugin.log" >&2; fail "Allocate on gpu-device-plugin"; }
if "$GRPCURL" -plaintext -unix -import-path "$ROOT/api/proto" -proto deviceplugin/v1beta1/api.proto \
  -d '{"container_requests":[{"devices_ids":["GPU-not-there"]}]}' "$tmp/dp/nvidia-gpu.sock" \
  v1beta1.DevicePlugin/Allocate >"$tmp/allocate-refused.log" 2>&1; then
  fail "gpu-device-plugin allocated a GPU it does not have"
fi
"$GRPCURL" -plaintext -unix -import-path "$ROOT/api/proto" -proto npd/external/v1/external_monitor.proto \
  -d '{}' "$tmp/npd.sock" npd.external.v1.ExternalMonitor/CheckHealth >"$tmp/check.log" 2>&1 ||
  { cat "$tmp/check.log" "$tmp/monitor.log" >&2; fail "CheckHealth on npd-gpu-monitor"; }

scrape "$server_port" >"$tmp/scrape/metrics.txt" || fail "scrape device-api-server"
scrape "$provider_port" >"$tmp/scrape/provider-metrics.txt" || fail "scrape nvml-provider"
scrape "$plugin_port" >"$tmp/scrape/plugin-metrics.txt" || fail "scrape gpu-device-plugin"
scrape "$monitor_port" >"$tmp/scrape/monitor-metrics.txt" || fail "scrape npd-gpu-monitor"
if [ -s "$tmp/rules.yaml" ]; then
  node "$helper" names "$tmp/rules.yaml" "$chart/files/dashboard.json" "$tmp/scrape" "$job" "$namespace" ||
    fail "metric names (above)"
fi

finish
