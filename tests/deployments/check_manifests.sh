#!/usr/bin/env bash
# The Kubernetes manifests under deployments/ (all but helm/), offline:
#   check_manifests.sh SOURCE_DIR BINARY...   (the built device-api-server, nvml-provider,
#                                               gpu-device-plugin, npd-gpu-monitor, devicectl)
# - `kustomize build` of every directory with a kustomization.yaml, and of each variant that a
#   commented-out `# - file.yaml` resource line offers (the device plugin's test pod, the NPD
#   variants), each rendered output then
#   - validated against the Kubernetes schemas, unknown fields included (validate_k8s.js),
#   - every command line of our binaries checked against their --help (check_flags.js),
#   - held to the shared rules (manifest_asserts.js: hardening, probes, sockets, NPD wiring);
# - deployments/static/*.yaml the same, and static/device-api-server.yaml equal to the
#   kustomization's build (DEVICEAPI_UPDATE_STATIC=1 rewrites it);
# - the device plugin as the seed lays it out: namespace gpu-device-plugin, time slicing x10
#   (accepted by the built gpu-device-plugin), the test pod commented out, metrics Service on 2112;
# - the stock NPD variant's init script bundles a runnable npd-gpu-monitor.
# Exit 0 all good, 1 a failure (one FAIL line each), 77 tools missing (skip).
set -uo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 SOURCE_DIR BINARY..." >&2
  exit 2
fi
ROOT=$(cd "$1" && pwd)
shift
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC1091 # followed with shellcheck -x
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_tools kustomize node npm-validators

HERE=$ROOT/tests/deployments
declare -A BIN=()
bin_args=()
for b in "$@"; do
  if [ ! -x "$b" ]; then
    fail "binary $b is not executable"
    continue
  fi
  BIN[$(basename "$b")]=$b
  bin_args+=(--binary "$(basename "$b")=$b")
done
for b in device-api-server nvml-provider gpu-device-plugin npd-gpu-monitor devicectl; do
  [ -n "${BIN[$b]:-}" ] || fail "no $b among the binaries given"
done
[ ${#bin_args[@]} -gt 0 ] || finish

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# check_rendered NAME FILE [MIN_INVOCATIONS]: the three checkers on one rendered build.
check_rendered() {
  local name=$1 file=$2 min=${3:-0} out
  if ! out=$(node "$HERE/validate_k8s.js" "$file" 2>&1); then
    while IFS= read -r l; do fail "$name: schema: $l"; done <<<"$out"
  fi
  if ! out=$(node "$HERE/check_flags.js" "${bin_args[@]}" --min "$min" "$file" 2>&1); then
    while IFS= read -r l; do fail "$name: flags: $l"; done <<<"$out"
  fi
  if ! out=$(node "$HERE/manifest_asserts.js" --source-dir "$ROOT" "$file" 2>&1); then
    while IFS= read -r l; do fail "$name: $l"; done <<<"$out"
  fi
}

# build NAME DIR OUT: kustomize build, a failure reported.
build() {
  local out
  if ! out=$("$KUSTOMIZE" build "$2" 2>&1 >"$3"); then
    fail "$1: kustomize build: $out"
    return 1
  fi
}

# ---- every kustomization, and its commented-out variants ----------------------------------------
n=0
while IFS= read -r k; do
  dir=$(dirname "$k")
  rel=${dir#"$ROOT"/}
  n=$((n + 1))
  out=$tmp/$n.yaml
  build "$rel" "$dir" "$out" && check_rendered "$rel" "$out" 1
  # A commented resource line `# - file.yaml` (file present) is a variant: build with it listed,
  # replacing the first resource of the same prefix (npd-*) or added (the test pod).
  while IFS= read -r f; do
    if [ ! -f "$dir/$f" ]; then
      fail "$rel: kustomization.yaml offers $f, which does not exist"
      continue
    fi
    v=$tmp/variant-$n-${f%.yaml}
    cp -r "$dir" "$v"
    sed -i -E "s|^([[:space:]]*)#[[:space:]]*-[[:space:]]+$f\b.*|\1- $f|" "$v/kustomization.yaml"
    case $f in
      npd-*) sed -i -E "/^[[:space:]]*- npd-stock-check\.yaml/d" "$v/kustomization.yaml" ;;
    esac
    build "$rel (with $f)" "$v" "$v.yaml" && check_rendered "$rel (with $f)" "$v.yaml"
    cp "$v.yaml" "$tmp/rendered-${f%.yaml}.yaml"
  done < <(sed -n -E 's/^[[:space:]]*#[[:space:]]*-[[:space:]]+([A-Za-z0-9._-]+\.yaml).*/\1/p' "$k")
done < <(find "$ROOT/deployments" -path "$ROOT/deployments/helm" -prune -o -name kustomization.yaml -print | sort)
[ "$n" -ge 3 ] || fail "found $n kustomizations under deployments/, expected at least 3"

# Every NPD manifest is a resource or an offered variant of deployments/npd/kustomization.yaml.
for f in "$ROOT"/deployments/npd/*.yaml; do
  [ "$(basename "$f")" = kustomization.yaml ] && continue
  grep -Eq "^[[:space:]]*(#[[:space:]]*)?-[[:space:]]+$(basename "$f")\b" "$ROOT/deployments/npd/kustomization.yaml" ||
    fail "deployments/npd/$(basename "$f") is not listed (nor offered commented) in deployments/npd/kustomization.yaml"
done

# ---- static manifests --------------------------------------------------------------------------
static=$ROOT/deployments/static/device-api-server.yaml
server_build=$tmp/server.yaml
if build deployments/kustomize/device-api-server "$ROOT/deployments/kustomize/device-api-server" "$server_build"; then
  if [ "${DEVICEAPI_UPDATE_STATIC:-0}" = 1 ]; then
    { sed -n '/^#/!q;p' "$static" 2>/dev/null; cat "$server_build"; } >"$tmp/static.new" && cp "$tmp/static.new" "$static"
    echo "rewrote $static"
  fi
  if ! diff -u <(sed -n '/^[^#]/,$p' "$static") "$server_build" >"$tmp/static.diff"; then
    fail "deployments/static/device-api-server.yaml differs from \`kustomize build deployments/kustomize/device-api-server\` (DEVICEAPI_UPDATE_STATIC=1 $0 ... rewrites it): $(head -20 "$tmp/static.diff")"
  fi
fi
for f in "$ROOT"/deployments/static/*.yaml; do
  [ -f "$f" ] && check_rendered "deployments/static/$(basename "$f")" "$f" 1
done

# ---- the device plugin, as the seed lays it out ---------------------------------------------------
dp=$ROOT/deployments/kustomize/device-plugin
if [ -f "$dp/kustomization.yaml" ]; then
  grep -Eq '^[[:space:]]*#[[:space:]]*-[[:space:]]+nvidia-test-pod\.yaml' "$dp/kustomization.yaml" ||
    fail "device-plugin: nvidia-test-pod.yaml is not listed commented out in kustomization.yaml"
  if grep -Eq '^[[:space:]]*-[[:space:]]+nvidia-test-pod\.yaml' "$dp/kustomization.yaml"; then
    fail "device-plugin: nvidia-test-pod.yaml is deployed by default"
  fi
  "$KUSTOMIZE" build "$dp" >"$tmp/dp.yaml" 2>/dev/null
  out=$(node - "$tmp/dp.yaml" "$tmp/dp-config.yaml" "$tmp/rendered-nvidia-test-pod.yaml" <<'EOF' 2>&1
const fs = require('fs');
const YAML = require('yaml');
const load = (f) => fs.existsSync(f) ? YAML.parseAllDocuments(fs.readFileSync(f, 'utf8')).map((d) => d.toJSON()).filter(Boolean) : [];
const objs = load(process.argv[2]);
const out = [];
const ns = 'gpu-device-plugin';
if (!objs.some((o) => o.kind === 'Namespace' && o.metadata.name === ns)) out.push(`no Namespace ${ns}`);
for (const o of objs) {
  if (!['Namespace', 'ClusterRole', 'ClusterRoleBinding'].includes(o.kind) && o.metadata.namespace !== ns) out.push(`${o.kind}/${o.metadata.name} not in namespace ${ns}`);
}
const ds = objs.find((o) => o.kind === 'DaemonSet');
const c = ds && ds.spec.template.spec.containers.find((x) => /gpu-device-plugin/.test(x.image));
if (!c) out.push('no DaemonSet running gpu-device-plugin');
if (ds && ds.spec.template.metadata.labels['app.kubernetes.io/name'] !== 'nvidia-device-plugin') out.push('pod label app.kubernetes.io/name is not nvidia-device-plugin');
if (c) {
  const cf = (c.args || []).map(String).find((a) => a.startsWith('--config-file='));
  if (!cf) out.push('gpu-device-plugin has no --config-file');
  else {
    const p = cf.slice('--config-file='.length);
    const vm = (c.volumeMounts || []).find((m) => p.startsWith(`${m.mountPath}/`));
    const vol = vm && ds.spec.template.spec.volumes.find((v) => v.name === vm.name);
    const cm = vol && vol.configMap && objs.find((o) => o.kind === 'ConfigMap' && o.metadata.name === vol.configMap.name);
    const key = vm && p.slice(vm.mountPath.length + 1);
    if (!cm || !cm.data || !(key in cm.data)) out.push(`--config-file ${p} is in no ConfigMap of the build`);
    else {
      fs.writeFileSync(process.argv[3], cm.data[key]);
      const cfg = YAML.parse(cm.data[key]);
      const ts = cfg && cfg.sharing && cfg.sharing.timeSlicing;
      const r = ts && (ts.resources || []).find((x) => x.name === 'nvidia.com/gpu');
      if (!r || r.replicas !== 10) out.push('time slicing: nvidia.com/gpu is not shared 10 ways');
      if (!ts || ts.renameByDefault !== false) out.push('time slicing: renameByDefault is not false');
      if (!ts || ts.failRequestsGreaterThanOne !== true) out.push('time slicing: failRequestsGreaterThanOne is not true');
    }
  }
  for (const p of ['/var/lib/kubelet/device-plugins', '/var/run/nvidia-device-api']) {
    const vm = (c.volumeMounts || []).find((m) => m.mountPath === p);
    const vol = vm && ds.spec.template.spec.volumes.find((v) => v.name === vm.name);
    if (!vol || !vol.hostPath || vol.hostPath.path !== p) out.push(`${p} is not mounted from the host`);
  }
}
const svc = objs.find((o) => o.kind === 'Service');
if (!svc || !(svc.spec.ports || []).some((p) => p.port === 2112)) out.push('no metrics Service on port 2112');
const sa = objs.find((o) => o.kind === 'ServiceAccount');
if (!sa || sa.automountServiceAccountToken !== false) out.push('ServiceAccount with automountServiceAccountToken: false missing');
if (ds && ds.spec.template.spec.serviceAccountName !== (sa && sa.metadata.name)) out.push('the DaemonSet does not use its ServiceAccount');
const pod = load(process.argv[4]).find((o) => o.kind === 'Pod');
if (!pod) out.push('the test pod did not render');
else {
  const pc = pod.spec.containers[0];
  if (pod.spec.runtimeClassName !== 'nvidia') out.push('test pod: runtimeClassName is not nvidia');
  if (!pc.resources || !pc.resources.limits || String(pc.resources.limits['nvidia.com/gpu']) !== '1') out.push('test pod: does not ask for nvidia.com/gpu: 1');
  if (!(pc.command || []).includes('nvidia-smi')) out.push('test pod: does not run nvidia-smi');
  if (pod.metadata.namespace !== ns) out.push(`test pod: not in ${ns}`);
}
for (const l of out) console.log(l);
process.exitCode = out.length ? 1 : 0;
EOF
  ) || while IFS= read -r l; do fail "device-plugin: $l"; done <<<"$out"
  # The config, as the plugin itself reads it: exit 2 on a config error, else it runs (killed after 1 s).
  if [ -s "$tmp/dp-config.yaml" ] && [ -n "${BIN[gpu-device-plugin]:-}" ]; then
    timeout 1 "${BIN[gpu-device-plugin]}" --config-file "$tmp/dp-config.yaml" --device-plugin-path "$tmp/dp" \
      --kubelet-socket "" --metrics-bind-address 0 --server-address "unix://$tmp/none.sock" >"$tmp/dp.log" 2>&1
    rc=$?
    [ $rc -eq 124 ] || fail "device-plugin: gpu-device-plugin rejects the ConfigMap's config.yaml (exit $rc): $(grep -v '^[IW][0-9]' "$tmp/dp.log" | head -3)"
  fi
fi

# ---- the stock NPD variant's init script: bundles a binary that runs -----------------------------
npd_out=$tmp/npd.yaml
if [ -n "${BIN[npd-gpu-monitor]:-}" ] && build deployments/npd "$ROOT/deployments/npd" "$npd_out"; then
  node - "$npd_out" >"$tmp/install.sh" <<'EOF'
const fs = require('fs');
const YAML = require('yaml');
for (const o of YAML.parseAllDocuments(fs.readFileSync(process.argv[2], 'utf8')).map((d) => d.toJSON())) {
  const ps = o && o.kind === 'DaemonSet' && o.spec.template.spec;
  for (const c of (ps && ps.initContainers) || []) {
    const cmd = c.command || [];
    if (/npd-gpu-monitor/.test(c.image) && cmd[0] === 'sh' && cmd[1] === '-c') process.stdout.write(cmd[2].replace(/\$\$/g, '$'));
  }
}
EOF
  if [ ! -s "$tmp/install.sh" ]; then
    fail "deployments/npd: no init container installing npd-gpu-monitor into the stock NPD pod"
  else
    sed -i -e "s|^d=/opt/npd-gpu-monitor$|d=$tmp/bundle|" -e "s|^bin=/usr/local/bin/npd-gpu-monitor$|bin=${BIN[npd-gpu-monitor]}|" "$tmp/install.sh"
    if ! grep -q "^d=$tmp/bundle$" "$tmp/install.sh" || ! grep -q "^bin=${BIN[npd-gpu-monitor]}$" "$tmp/install.sh"; then
      fail "deployments/npd: the install script no longer sets d=/opt/npd-gpu-monitor and bin=/usr/local/bin/npd-gpu-monitor (this check substitutes them)"
    elif ! out=$(sh "$tmp/install.sh" 2>&1); then
      fail "deployments/npd: the npd-gpu-monitor install script fails: $out"
    else
      # No Device API here: a working check answers Unknown (exit 2) with that line.
      # LD_DEBUG=libs: every library loaded must come from the bundle (NPD's image has none of them).
      out=$(env -i LD_DEBUG=libs "$tmp/bundle/bin/npd-gpu-monitor" check --condition GPUUnhealthy \
        --server-address "unix://$tmp/none.sock" --timeout 200ms 2>"$tmp/ld.log")
      rc=$?
      case "$rc:$out" in
        "2:Device API unreachable"*) ;;
        *) fail "deployments/npd: the bundled npd-gpu-monitor does not run a check (exit $rc): $out" ;;
      esac
      # (The log starts with the wrapper's /bin/sh, up to its first "transferring control".)
      outside=$(sed -n '/transferring control:/,$p' "$tmp/ld.log" | sed -n 's/.*calling init: //p' |
        grep -v "^$tmp/bundle/" | sort -u | tr '\n' ' ')
      grep -q 'calling init: ' "$tmp/ld.log" || outside="(no LD_DEBUG output)"
      [ -z "$outside" ] || fail "deployments/npd: the bundled npd-gpu-monitor loads libraries from outside the bundle: $outside"
    fi
  fi
fi

finish
