#!/usr/bin/env bash
# make demo (docs/demo.md): one node's GPU health pipeline, end to end, on this machine.
#
#   device-api-server (memory://)  <-  nvml-provider on the fake NVML (tests/fakes, loaded through
#   its real --driver-root dlopen search)
#   consumers: devicectl get gpus -w
#              gpu-device-plugin  ->  devapi-fake-kubelet (Registration + ListAndWatch)
#              npd-gpu-monitor serve  <-  devapi-fake-npd (npd-ext: CheckHealth every second)
#
# A critical XID is injected on one GPU through the fake NVML's events file; every consumer must
# show that GPU unhealthy. Then the GPU is reset (the fake NVML answers RESET_REQUIRED for it, then
# healthy again), which is the provider's documented automatic recovery (docs/nvml-provider.md,
# "Recovery rule" 1); every consumer must show it healthy again.
#
# Environment:
#   BUILD_DIR           build directory with the binaries (default: build, relative to the repo)
#   DEMO_UNATTENDED=1   never pause; exit 0 only if every step was seen, else 1 naming the step
#   DEMO_STEP_TIMEOUT   seconds each step may take (default 30)
#   DEMO_GPUS, DEMO_XID fake GPUs (default 4), the XID injected (default 79; must be critical)
#   DEMO_KEEP=1         keep the temp dir (logs) also after a successful or interrupted run
#                       (a failed run always keeps it and prints the logs)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-build}
[[ $BUILD_DIR == /* ]] || BUILD_DIR=$ROOT/$BUILD_DIR
UNATTENDED=${DEMO_UNATTENDED:-0}
STEP_TIMEOUT=${DEMO_STEP_TIMEOUT:-30}
GPUS=${DEMO_GPUS:-4}
XID=${DEMO_XID:-79}

SERVER=$BUILD_DIR/cmd/device-api-server/device-api-server
PROVIDER=$BUILD_DIR/cmd/nvml-provider/nvml-provider
PLUGIN=$BUILD_DIR/cmd/gpu-device-plugin/gpu-device-plugin
MONITOR=$BUILD_DIR/cmd/npd-gpu-monitor/npd-gpu-monitor
DEVICECTL=$BUILD_DIR/cmd/devicectl/devicectl
FAKE_NVML=$BUILD_DIR/tests/fakes/libnvidia-ml.so.1
FAKE_KUBELET=$BUILD_DIR/tools/demo/devapi-fake-kubelet
FAKE_NPD=$BUILD_DIR/tools/demo/devapi-fake-npd

for f in "$SERVER" "$PROVIDER" "$PLUGIN" "$MONITOR" "$DEVICECTL" "$FAKE_NVML" "$FAKE_KUBELET" "$FAKE_NPD"; do
  if [[ ! -f $f ]]; then
    echo "demo: $f is missing; build it first (make demo builds everything it needs)" >&2
    exit 1
  fi
done

if [[ -t 1 ]]; then
  BOLD=$'\e[1m' GREEN=$'\e[32m' RED=$'\e[31m' RESET=$'\e[0m'
else
  BOLD='' GREEN='' RED='' RESET=''
fi

# Short: Unix socket paths must stay under 108 bytes.
TMP=$(mktemp -d /tmp/devapi-demo.XXXXXX)
PIDS=()
FAILED=''
START_US=${EPOCHREALTIME/./}

# Seconds since the start, e.g. " 12.34s".
elapsed() {
  local us=$((${EPOCHREALTIME/./} - START_US))
  printf '%3d.%02ds' $((us / 1000000)) $((us % 1000000 / 10000))
}

cleanup() {
  local rc=$? pid i
  trap - EXIT INT TERM
  # Consumers first, the server last, each with SIGTERM, then SIGKILL after 3 s.
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    kill -TERM "${PIDS[i]}" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 30); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  done
  if [[ -z $FAILED && ($rc -eq 130 || $rc -eq 143) ]]; then
    echo "demo interrupted"
    if [[ ${DEMO_KEEP:-0} == 1 ]]; then echo "logs kept in $TMP"; else rm -rf "$TMP"; fi
  elif [[ -n $FAILED || $rc -ne 0 ]]; then
    local log
    for log in "$TMP"/*.log "$TMP"/*.out; do
      [[ -f $log ]] || continue
      echo "----- $log (last 40 lines) -----"
      tail -n 40 "$log"
    done
    echo "${RED}${BOLD}demo FAILED${FAILED:+: step not seen: $FAILED}${RESET} (logs in $TMP)"
    [[ $rc -ne 0 ]] || rc=1
  elif [[ ${DEMO_KEEP:-0} == 1 ]]; then
    echo "logs kept in $TMP"
  else
    rm -rf "$TMP"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

STEP=0
CHECKS=0
banner() {
  STEP=$((STEP + 1))
  echo
  echo "${BOLD}=== [$(elapsed)] step $STEP: $* ===${RESET}"
}

# Interactive runs wait for Enter between steps (on the terminal, whatever stdin is); unattended
# runs and runs without a terminal go straight on.
pause() {
  [[ $UNATTENDED == 1 ]] && return 0
  if { exec 3</dev/tty; } 2>/dev/null; then
    printf '%s' "${BOLD}--- press Enter to continue ---${RESET}" >/dev/tty
    read -r -u 3 || true
    exec 3<&-
  fi
}

# Waits until every expectation is met. Arguments come in triples: a label, a file, and an extended
# regex that a line of that file appended after the mark (mark_outputs) must match. Reports each one
# when seen; on timeout the first one not seen is the failed step.
declare -A MARK
mark_outputs() {
  local f
  for f in devicectl kubelet npd; do MARK[$f]=$(wc -l <"$TMP/$f.out"); done
}
expect() {
  local -a labels=() files=() regexes=() seen=()
  while (($# > 0)); do
    labels+=("$1") files+=("$2") regexes+=("$3")
    seen+=(0)
    shift 3
  done
  local deadline=$((SECONDS + STEP_TIMEOUT)) left i from
  while true; do
    left=0
    for i in "${!labels[@]}"; do
      ((seen[i] == 0)) || continue
      from=$((MARK[${files[i]}] + 1))
      # Not grep -q: with pipefail, tail killed by SIGPIPE would fail the pipeline after a match.
      if tail -n +"$from" "$TMP/${files[i]}.out" | grep -E -- "${regexes[i]}" >/dev/null; then
        seen[i]=1
        CHECKS=$((CHECKS + 1))
        echo "${GREEN}  [$(elapsed)] seen: ${labels[i]}${RESET}"
      else
        left=1
      fi
    done
    ((left == 0)) && return 0
    check_alive
    if ((SECONDS >= deadline)); then
      for i in "${!labels[@]}"; do
        if ((seen[i] == 0)); then
          FAILED="step $STEP: ${labels[i]} (no line matching /${regexes[i]}/ in ${files[i]} within ${STEP_TIMEOUT}s)"
          exit 1
        fi
      done
    fi
    sleep 0.1
  done
}

declare -A NAMES
check_alive() {
  local pid
  for pid in "${PIDS[@]}"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      FAILED="step $STEP: ${NAMES[$pid]} (pid $pid) exited"
      exit 1
    fi
  done
}

# Runs a command in the background with its output in $TMP/<name>.log.
spawn() {
  local name=$1
  shift
  "$@" >"$TMP/$name.log" 2>&1 &
  PIDS+=($!)
  NAMES[$!]=$name
}

# Like spawn, but stdout (one line per update) also goes to the terminal, prefixed with the name
# where the program does not print one itself, and to $TMP/<name>.out for expect.
spawn_consumer() {
  local name=$1 prefix=$2
  shift 2
  : >"$TMP/$name.out"
  "$@" 2>"$TMP/$name.log" > >(while IFS= read -r line; do printf '%s%s\n' "$prefix" "$line"; done |
    tee -a "$TMP/$name.out") &
  PIDS+=($!)
  NAMES[$!]=$name
}

wait_until() {
  local what=$1
  shift
  local deadline=$((SECONDS + STEP_TIMEOUT))
  until "$@" >/dev/null 2>&1; do
    check_alive
    if ((SECONDS >= deadline)); then
      FAILED="step $STEP: $what (within ${STEP_TIMEOUT}s)"
      exit 1
    fi
    sleep 0.1
  done
}

API=unix://$TMP/api.sock
ctl() { "$DEVICECTL" --server "$API" --request-timeout 5s "$@"; }

# The fake NVML: GPUS GPUs, re-read whenever the file changes (replaced atomically).
uuid() { printf 'GPU-%08x-5e1f-4d3a-9c2b-%012d' $((0x6f1b2c00 + $1)) "$1"; }
write_nvml_config() {
  local reset_gpu=${1:-} i sep='' devices=''
  for ((i = 0; i < GPUS; i++)); do
    local reset=false
    [[ $(uuid "$i") == "$reset_gpu" ]] && reset=true
    devices+="$sep"$(printf '{"uuid": "%s", "name": "NVIDIA H100 80GB HBM3", "memory_bytes": 85520809984,
      "pci_bus_id": "0000:%02x:00.0", "minor": %d, "numa_node": %d, "architecture": "Hopper",
      "compute_capability": "9.0", "serial": "165000000%04d", "reset_required": %s}' \
      "$(uuid "$i")" $((0x18 + i * 0x10)) "$i" $((i * 2 / GPUS)) "$i" "$reset")
    sep=$',\n    '
  done
  printf '{"driver_version": "550.54.15", "events": "%s",\n  "devices": [\n    %s]}\n' \
    "$TMP/nvml-events" "$devices" >"$TMP/fake-nvml.json.tmp"
  mv "$TMP/fake-nvml.json.tmp" "$TMP/fake-nvml.json"
}

VICTIM=$(uuid 1)
VICTIM_NAME=${VICTIM,,}
VICTIM_RE=${VICTIM_NAME//./\\.}

echo "${BOLD}Device API demo${RESET}: $GPUS fake GPUs; everything runs in $TMP"
[[ $UNATTENDED == 1 ]] && echo "(unattended: no pauses, ${STEP_TIMEOUT}s per step)"

banner "start the server, nvml-provider on the fake NVML, and the three consumers"
mkdir -p "$TMP/driver/usr/lib64" "$TMP/driver/sys" "$TMP/kubelet" "$TMP/npd"
ln -s "$FAKE_NVML" "$TMP/driver/usr/lib64/libnvidia-ml.so.1"
: >"$TMP/nvml-events"
write_nvml_config
echo "device-api-server  --datastore-endpoint memory:// on $API"
spawn server "$SERVER" --bind-address "$API" --health-probe-bind-address 127.0.0.1:0 \
  --metrics-bind-address 127.0.0.1:0 --datastore-endpoint memory://
wait_until "device-api-server answers" ctl get gpus
echo "nvml-provider      --driver-root $TMP/driver (finds the fake libnvidia-ml.so.1 there)"
FAKE_NVML_CONFIG=$TMP/fake-nvml.json spawn provider "$PROVIDER" --server-address "$API" \
  --driver-root "$TMP/driver" --sysfs-root "$TMP/driver/sys" --health-host 127.0.0.1 --health-port 0 \
  --reconcile-interval 1s --heartbeat-interval 20s
echo "devapi-fake-kubelet --dir $TMP/kubelet, gpu-device-plugin registering with it"
spawn_consumer kubelet '' "$FAKE_KUBELET" --dir "$TMP/kubelet"
wait_until "the fake kubelet serves kubelet.sock" test -S "$TMP/kubelet/kubelet.sock"
spawn plugin "$PLUGIN" --server-address "$API" --device-plugin-path "$TMP/kubelet/" \
  --metrics-bind-address 0
echo "npd-gpu-monitor serve --socket $TMP/npd/monitor.sock, devapi-fake-npd calling CheckHealth every 1s"
spawn monitor "$MONITOR" serve --server-address "$API" --socket "$TMP/npd/monitor.sock" \
  --expected-gpus "$GPUS" --metrics-bind-address 0
spawn_consumer npd '' "$FAKE_NPD" --socket "$TMP/npd/monitor.sock" --interval-ms 1000
echo "devicectl get gpus -w"
spawn_consumer devicectl 'devicectl: ' "$DEVICECTL" --server "$API" get gpus -w
MARK=([devicectl]=0 [kubelet]=0 [npd]=0)

banner "every consumer sees $GPUS healthy GPUs"
expect "devicectl: $VICTIM_NAME healthy" devicectl "^devicectl: $VICTIM_RE +healthy" \
  "kubelet: nvidia.com/gpu $GPUS devices, all healthy" kubelet \
  "^kubelet: nvidia.com/gpu $GPUS devices: $GPUS healthy, 0 unhealthy" \
  "npd: GPUUnhealthy=False" npd "^npd: condition GPUUnhealthy=False" \
  "npd: GPUCountMismatch=False ($GPUS GPUs expected)" npd "^npd: condition GPUCountMismatch=False"
pause

banner "inject XID $XID on $VICTIM (echo '$VICTIM $XID' >> the fake NVML's events file)"
mark_outputs
echo "$VICTIM $XID" >>"$TMP/nvml-events"
expect "devicectl: $VICTIM_NAME unhealthy" devicectl "^devicectl: $VICTIM_RE +unhealthy" \
  "kubelet: $VICTIM Unhealthy" kubelet "^kubelet: nvidia.com/gpu $GPUS devices: $((GPUS - 1)) healthy, 1 unhealthy \\($VICTIM Unhealthy\\)" \
  "npd: GPUUnhealthy=True (XID$XID)" npd "^npd: condition GPUUnhealthy=True .*XID$XID" \
  "npd: event GPUXID$XID" npd "^npd: event Warning GPUXID$XID "
echo "devicectl describe gpu $VICTIM_NAME:"
ctl describe gpu "$VICTIM_NAME" | sed -n '/^Status:/,$p'
pause

banner "recover: reset the GPU (the fake NVML answers RESET_REQUIRED for it, then healthy again)"
echo "A False NVMLReady is latched; the provider clears it itself only after it has seen the GPU"
echo "being reset and then healthy (--reconcile-interval 1s here). The other documented way is an"
echo "operator's: devicectl set condition $VICTIM_NAME NVMLReady=True --reason OperatorCleared"
mark_outputs
write_nvml_config "$VICTIM"
echo "  fake NVML: $VICTIM reset_required=true"
wait_until "nvml-provider sees $VICTIM reset (reason ResetRequired)" \
  bash -c '"$@" | grep -q "\"reason\": \"ResetRequired\""' _ \
  "$DEVICECTL" --server "$API" get gpu "$VICTIM_NAME" -o json
CHECKS=$((CHECKS + 1))
echo "${GREEN}  [$(elapsed)] seen: nvml-provider: NVMLReady=False reason=ResetRequired${RESET}"
write_nvml_config
echo "  fake NVML: $VICTIM reset done, healthy"
expect "devicectl: $VICTIM_NAME healthy" devicectl "^devicectl: $VICTIM_RE +healthy" \
  "kubelet: nvidia.com/gpu $GPUS devices, all healthy" kubelet \
  "^kubelet: nvidia.com/gpu $GPUS devices: $GPUS healthy, 0 unhealthy" \
  "npd: GPUUnhealthy=False" npd "^npd: condition GPUUnhealthy=False"
echo "devicectl describe gpu $VICTIM_NAME:"
ctl describe gpu "$VICTIM_NAME" | sed -n '/^Status:/,$p'

echo
echo "${GREEN}${BOLD}demo passed: all $STEP steps, $CHECKS checks seen in $(elapsed)${RESET}"
