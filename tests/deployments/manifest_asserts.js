#!/usr/bin/env node
// Structural checks of rendered manifests (one build per invocation: `kustomize build` or
// `helm template` output, multi-document YAML; FILE or stdin), for the rules our deployments
// share. Generic over where the YAML came from, so the Helm chart's output can be held to it too.
//   manifest_asserts.js [--source-dir DIR] FILE
// For every workload pod (Pod, DaemonSet, Deployment, StatefulSet, Job):
//   - containers of our images (deviceapi/<binary>, any registry): readOnlyRootFilesystem,
//     allowPrivilegeEscalation false, capabilities drop ALL, requests and a memory limit; a container
//     that runs the binary (no explicit command) as 65534 non-root, except gpu-device-plugin (root);
//     long-running ones: liveness /livez and readiness /readyz over HTTP on the binary's metrics
//     port (server 9090, provider 8082, plugin 2112, monitor 2113);
//   - pods running our binaries: seccomp RuntimeDefault, nodeSelector nvidia.com/gpu.present "true",
//     toleration nvidia.com/gpu Exists NoSchedule, the Device API socket dir /var/run/nvidia-device-api
//     as a hostPath mounted where it runs (device-api-server, nvml-provider, gpu-device-plugin,
//     npd-gpu-monitor serve, NPD running `npd-gpu-monitor check`);
//   - a container that runs as root without capabilities next to those sockets (0660 65534:65534)
//     needs group 65534 (supplementalGroups or fsGroup);
//   - device-api-server: sqlite datastore on a hostPath, terminationGracePeriodSeconds =
//     --shutdown-delay + preStop sleep + --shutdown-grace-period + 5 s (a delay > 0), the hostPath dirs chowned by an init
//     container with at most CHOWN/FOWNER (an --audit-log directory too: a writable hostPath of
//     its own, mounted into that init container), no service account token;
// NPD containers (command /node-problem-detector):
//   - every --config.<monitor>=/path,... file comes from a mounted ConfigMap that has that key;
//     with --source-dir, the ConfigMap's JSON equals deployments/npd/<key> byte for byte;
//   - custom plugin configs: each rule's `path` is mounted into the container (our binary from an
//     init container), and npd-gpu-monitor's state directory /var/run/npd is writable;
//   - npd-gpu-monitor serve with --socket directly in an emptyDir: an init container chmods it
//     without o+w (the monitor refuses world-writable socket directories);
//   - external monitor configs: the socketAddress directory is shared with a container running
//     `npd-gpu-monitor serve --socket <socketAddress>`: the same emptyDir in the pod (sidecar), or
//     the same hostPath in another DaemonSet of the build (separate);
// Services: a port whose targetPort names a container port of the selected pods.
// One line per failure; exit 1 on any.
'use strict';

const fs = require('fs');
const path = require('path');
const YAML = require('yaml');

let sourceDir = null;
const files = [];
for (let i = 2; i < process.argv.length; i++) {
  if (process.argv[i] === '--source-dir') sourceDir = process.argv[++i];
  else files.push(process.argv[i]);
}
const file = files[0] || '-';
const label = file === '-' ? '<stdin>' : file;
const objects = YAML.parseAllDocuments(fs.readFileSync(file === '-' ? 0 : file, 'utf8'))
  .map((d) => d.toJSON()).filter((o) => o && typeof o === 'object');

let failures = 0;
const reported = new Set();
function fail(where, msg) {
  const line = `${label}: ${where}: ${msg}`;
  if (reported.has(line)) return;
  reported.add(line);
  console.log(line);
  failures++;
}

const METRICS_PORT = { 'device-api-server': 9090, 'nvml-provider': 8082, 'gpu-device-plugin': 2112, 'npd-gpu-monitor': 2113 };
const OURS = new Set([...Object.keys(METRICS_PORT), 'devicectl']);
const SOCKET_DIR = '/var/run/nvidia-device-api';

function imageBinary(image) {
  if (typeof image !== 'string') return null;
  const name = image.split('@')[0].split('/').pop().split(':')[0];
  return OURS.has(name) ? name : null;
}
function podSpecOf(o) {
  if (o.kind === 'Pod') return o.spec;
  if (['DaemonSet', 'Deployment', 'StatefulSet', 'ReplicaSet', 'Job'].includes(o.kind)) return o.spec && o.spec.template && o.spec.template.spec;
  return null;
}
function durationSeconds(s) {
  if (s === '0') return 0;
  let total = 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g;
  let m;
  let consumed = 0;
  while ((m = re.exec(s))) {
    total += Number(m[1]) * { ns: 1e-9, us: 1e-6, 'µs': 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 }[m[2]];
    consumed += m[0].length;
  }
  return consumed === s.length ? total : NaN;
}
function flagValue(argv, name) {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === name) return argv[i + 1];
    if (argv[i].startsWith(`${name}=`)) return argv[i].slice(name.length + 1);
  }
  return undefined;
}
function argvOf(c) {
  return [...(c.command || []), ...(c.args || [])].map(String);
}
function volumeAt(ps, c, mountPath) {
  const vm = (c.volumeMounts || []).find((m) => m.mountPath === mountPath);
  if (!vm) return null;
  return { mount: vm, volume: (ps.volumes || []).find((v) => v.name === vm.name) };
}
function mountFor(ps, c, p) {
  // The mount that holds file path p (longest mountPath prefix).
  let best = null;
  for (const m of c.volumeMounts || []) {
    const mp = m.mountPath.replace(/\/$/, '');
    if ((p === mp || p.startsWith(`${mp}/`)) && (!best || mp.length > best.mountPath.length)) best = m;
  }
  if (!best) return null;
  return { mount: best, volume: (ps.volumes || []).find((v) => v.name === best.name), rel: path.relative(best.mountPath, p) };
}
function containerPort(c, port) {
  if (typeof port === 'number') return port;
  const p = (c.ports || []).find((x) => x.name === port);
  return p ? p.containerPort : undefined;
}
function configMapByName(name, ns) {
  return objects.find((o) => o.kind === 'ConfigMap' && o.metadata && o.metadata.name === name &&
    (!ns || !o.metadata.namespace || o.metadata.namespace === ns));
}
// The directories an init container's `chown 65534:65534` names: in its `sh -c` script (paths
// after the owner), or, when the script chowns a variable ("$d" in a loop over "$@"), the script's
// positional arguments (after $0). Only the chown itself counts, not a chmod beside it.
function chownedDirs(ic) {
  const argv = argvOf(ic);
  const i = argv.findIndex((a) => a.includes('chown 65534:65534'));
  if (i < 0) return [];
  const seg = argv[i].split(/&&|;|\n/).find((x) => x.includes('chown 65534:65534'));
  const words = seg.trim().split(/\s+/);
  const paths = words.slice(words.indexOf('65534:65534') + 1);
  const norm = (d) => d.replace(/^["']|["']$/g, '').replace(/(.)\/$/, '$1');
  if (paths.some((w) => w.includes('$'))) return argv.slice(i + 2).map(norm);
  return paths.map(norm);
}
function runsAsRoot(ps, c) {
  const u = (c.securityContext && c.securityContext.runAsUser) ?? (ps.securityContext && ps.securityContext.runAsUser);
  return u === 0 || u === undefined;
}

// Pods running `npd-gpu-monitor serve`, for the separate variant: hostPath dir -> socket paths.
const serveSockets = [];
for (const o of objects) {
  const ps = podSpecOf(o);
  if (!ps) continue;
  for (const c of ps.containers || []) {
    if (imageBinary(c.image) !== 'npd-gpu-monitor' || c.command) continue;
    const args = (c.args || []).map(String);
    if (args[0] !== 'serve') continue;
    const sock = flagValue(args, '--socket') || '/var/run/npd/npd-gpu-monitor.sock';
    const v = mountFor(ps, c, sock);
    serveSockets.push({ o, ps, c, sock, v });
    // npd-gpu-monitor refuses a socket directory everyone may write (no sticky bit); an emptyDir
    // is created 0777: an init container must hand it over (chmod without o+w) first.
    if (v && v.volume && v.volume.emptyDir && path.dirname(sock) === v.mount.mountPath.replace(/\/$/, '')) {
      const fixed = (ps.initContainers || []).some((ic) => {
        const m = (ic.volumeMounts || []).find((vm) => vm.name === v.mount.name);
        const mode = /chmod\s+(0?[0-7]{3,4})\s/.exec(`${argvOf(ic).join(' ')} `);
        return m && mode && (parseInt(mode[1], 8) & 0o002) === 0;
      });
      if (!fixed) {
        fail(`${o.kind}/${o.metadata && o.metadata.name}: container ${c.name}`,
             `--socket ${sock}: its directory is an emptyDir (0777) that no init container chmods without o+w; npd-gpu-monitor refuses it`);
      }
    }
  }
}

for (const o of objects) {
  const ps = podSpecOf(o);
  const id = `${o.kind}/${o.metadata && o.metadata.name}`;
  if (o.kind === 'Service' && o.spec) {
    const sel = o.spec.selector || {};
    const pods = objects.map((x) => [x, podSpecOf(x)]).filter(([x, p]) => p && Object.keys(sel).length &&
      Object.entries(sel).every(([k, v]) => ((x.kind === 'Pod' ? x.metadata : x.spec.template.metadata).labels || {})[k] === v));
    if (!pods.length) fail(id, 'selects no pod of this build');
    for (const port of o.spec.ports || []) {
      const t = port.targetPort ?? port.port;
      const ok = pods.some(([, p]) => (p.containers || []).some((c) => (c.ports || []).some((cp) =>
        (typeof t === 'number' ? cp.containerPort === t : cp.name === t))));
      if (pods.length && !ok) fail(id, `port ${port.name || port.port}: targetPort ${t} is no container port of the selected pods`);
    }
  }
  if (!ps) continue;
  const all = [...(ps.initContainers || []).map((c) => [c, true]), ...(ps.containers || []).map((c) => [c, false])];
  let runsOurs = false;
  for (const [c, init] of all) {
    const bin = imageBinary(c.image);
    const where = `${id}: ${init ? 'initContainer' : 'container'} ${c.name}`;
    const sc = c.securityContext || {};
    const psc = ps.securityContext || {};
    if (bin) {
      if (sc.readOnlyRootFilesystem !== true) fail(where, 'securityContext.readOnlyRootFilesystem is not true');
      if (sc.allowPrivilegeEscalation !== false) fail(where, 'securityContext.allowPrivilegeEscalation is not false');
      if (sc.privileged) fail(where, 'privileged');
      if (!((sc.capabilities && sc.capabilities.drop) || []).includes('ALL')) fail(where, 'capabilities.drop lacks ALL');
      const r = c.resources || {};
      if (!r.requests || !r.requests.cpu || !r.requests.memory) fail(where, 'no cpu/memory requests');
      if (!r.limits || !r.limits.memory) fail(where, 'no memory limit');
    }
    const runsBinary = bin && !c.command;
    if (!runsBinary) continue;
    runsOurs = true;
    if (bin !== 'gpu-device-plugin') {
      if ((sc.runAsNonRoot ?? psc.runAsNonRoot) !== true) fail(where, 'runAsNonRoot is not true');
      if ((sc.runAsUser ?? psc.runAsUser) !== 65534) fail(where, 'runAsUser is not 65534');
    }
    if (init || bin === 'devicectl') continue;
    const args = (c.args || []).map(String);
    for (const [probe, p] of [['livenessProbe', '/livez'], ['readinessProbe', '/readyz']]) {
      const pr = c[probe];
      if (!pr || !pr.httpGet) {
        fail(where, `${probe}: none over HTTP`);
        continue;
      }
      if (pr.httpGet.path !== p) fail(where, `${probe}: path ${pr.httpGet.path}, expected ${p}`);
      const port = containerPort(c, pr.httpGet.port);
      let expect = METRICS_PORT[bin];
      const bind = flagValue(args, '--metrics-bind-address') || flagValue(args, '--health-port');
      if (bind !== undefined && /(^|:)(\d+)$/.test(bind)) expect = Number(/(\d+)$/.exec(bind)[1]);
      if (port !== expect) fail(where, `${probe}: port ${pr.httpGet.port} (${port}), the binary serves ${expect}`);
    }
    const needsSocket = bin !== 'devicectl';
    if (needsSocket) {
      const v = volumeAt(ps, c, SOCKET_DIR);
      if (!v || !v.volume || !v.volume.hostPath || v.volume.hostPath.path !== SOCKET_DIR) {
        fail(where, `the Device API socket dir ${SOCKET_DIR} is not mounted from the host`);
      }
    }
    if (bin === 'device-api-server') {
      const ds = flagValue(args, '--datastore-endpoint') || '';
      const m = /^sqlite:\/\/(\/.+)$/.exec(ds);
      if (!m) {
        fail(where, `--datastore-endpoint ${ds || '(default memory://)'}: not sqlite on the node`);
      } else {
        const v = mountFor(ps, c, m[1]);
        if (!v || !v.volume || !v.volume.hostPath || v.mount.readOnly) fail(where, `${m[1]}: not on a writable hostPath`);
      }
      // The delay before the server stops: --shutdown-delay (NOT_SERVING while still serving, after
      // SIGTERM) and/or a preStop `sleep N` (before SIGTERM); the kubelet's grace covers both.
      const preStop = (c.lifecycle && c.lifecycle.preStop && c.lifecycle.preStop.exec &&
                       c.lifecycle.preStop.exec.command) || [];
      const sleep = /(^|\/)sleep$/.test(preStop[0] || '') && /^\d+$/.test(preStop[1] || '') ? Number(preStop[1]) : 0;
      const delay = durationSeconds(flagValue(args, '--shutdown-delay') || '0s') + sleep;
      const grace = durationSeconds(flagValue(args, '--shutdown-grace-period') || '25s');
      const want = delay + grace + 5;
      if (ps.terminationGracePeriodSeconds !== want) {
        fail(id, `terminationGracePeriodSeconds ${ps.terminationGracePeriodSeconds}, expected ${want} (shutdown delay ${delay} (preStop sleep ${sleep}) + grace ${grace} + 5)`);
      }
      if (delay === 0) fail(id, 'no shutdown delay (--shutdown-delay or a preStop sleep): clients see the socket vanish at once');
      if (!flagValue(args, '--hostname-override')) fail(where, 'no --hostname-override (the pod\'s hostname is not the node\'s)');
      const chown = (ps.initContainers || []).find((ic) => argvOf(ic).join(' ').includes('chown 65534:65534'));
      if (!chown) {
        fail(id, 'no init container chowning the hostPath dirs to 65534');
      } else {
        const add = (chown.securityContext && chown.securityContext.capabilities && chown.securityContext.capabilities.add) || [];
        const extra = add.filter((cap) => !['CHOWN', 'FOWNER'].includes(cap));
        if (extra.length) fail(id, `init ${chown.name}: capabilities beyond CHOWN/FOWNER: ${extra.join(', ')}`);
        const dirs = [SOCKET_DIR, path.dirname(m ? m[1] : '/x')];
        // The --audit-log directory: the server creates the file (0600) in it as 65534.
        const audit = flagValue(args, '--audit-log');
        if (audit) dirs.push(path.dirname(audit));
        const chowned = chownedDirs(chown);
        for (const d of dirs) if (!chowned.includes(d)) fail(id, `init ${chown.name} does not chown ${d} (it chowns ${chowned.join(' ') || 'nothing'})`);
        if (audit) {
          const im = mountFor(ps, chown, audit);
          if (!im || im.mount.mountPath.replace(/\/$/, '') !== path.dirname(audit)) fail(id, `init ${chown.name} does not mount the --audit-log directory ${path.dirname(audit)}`);
        }
      }
      const audit = flagValue(args, '--audit-log');
      if (audit) {
        // A hostPath of its own, so the log outlives the pod and stays off the container's root.
        const v = mountFor(ps, c, audit);
        if (!v || !v.volume || !v.volume.hostPath || v.mount.readOnly || v.mount.mountPath.replace(/\/$/, '') !== path.dirname(audit)) {
          fail(where, `--audit-log ${audit}: its directory is not a writable hostPath mounted there`);
        }
      }
      if (ps.automountServiceAccountToken !== false) fail(id, 'automountServiceAccountToken is not false');
    }
  }
  // NPD containers.
  for (const c of ps.containers || []) {
    const argv = argvOf(c);
    if (!argv.length || path.basename(argv[0]) !== 'node-problem-detector') continue;
    const where = `${id}: container ${c.name}`;
    runsOurs = true;
    for (const a of argv) {
      const m = /^--config\.([\w-]+)=(.*)$/.exec(a);
      if (!m) continue;
      for (const p of m[2].split(',').filter(Boolean)) {
        const v = mountFor(ps, c, p);
        if (!v || !v.volume || !v.volume.configMap) {
          fail(where, `--config.${m[1]} ${p}: not in a mounted ConfigMap`);
          continue;
        }
        let key = v.rel;
        if (v.volume.configMap.items) {
          const it = v.volume.configMap.items.find((x) => x.path === v.rel);
          key = it ? it.key : null;
        }
        const cm = configMapByName(v.volume.configMap.name, o.metadata && o.metadata.namespace);
        if (!cm) {
          fail(where, `--config.${m[1]} ${p}: ConfigMap ${v.volume.configMap.name} is not in this build`);
          continue;
        }
        if (!key || !cm.data || !(key in cm.data)) {
          fail(where, `--config.${m[1]} ${p}: ConfigMap ${cm.metadata.name} has no key ${key}`);
          continue;
        }
        if (sourceDir) {
          const src = path.join(sourceDir, 'deployments/npd', key);
          if (fs.existsSync(src) && fs.readFileSync(src, 'utf8') !== cm.data[key]) {
            fail(where, `ConfigMap ${cm.metadata.name} key ${key} differs from deployments/npd/${key}`);
          }
        }
        let cfg;
        try { cfg = JSON.parse(cm.data[key]); } catch (e) { fail(where, `${key}: not JSON`); continue; }
        if (m[1] === 'custom-plugin-monitor') {
          for (const rule of cfg.rules || []) {
            const rv = mountFor(ps, c, rule.path);
            if (!rv || rv.mount.mountPath !== rule.path) {
              fail(where, `${key}: rule path ${rule.path} is not mounted into the container (NPD exits when it is missing)`);
            } else if (rv.volume && rv.volume.emptyDir) {
              const writer = (ps.initContainers || []).some((ic) => (ic.volumeMounts || []).some((vm) => vm.name === rv.mount.name && !vm.readOnly));
              if (!writer) fail(where, `${rule.path}: the emptyDir is filled by no init container`);
            }
            if (path.basename(rule.path) === 'npd-gpu-monitor') {
              const st = mountFor(ps, c, '/var/run/npd/npd-gpu-monitor-xid.state');
              if (!st || st.mount.readOnly) fail(where, 'npd-gpu-monitor check: /var/run/npd (the GPUXID state) is not writable');
              const sk = volumeAt(ps, c, SOCKET_DIR);
              if (!sk || !sk.volume || !sk.volume.hostPath) fail(where, `npd-gpu-monitor check: ${SOCKET_DIR} is not mounted from the host`);
            }
          }
        }
        if (m[1] === 'external-monitor') {
          const sock = cfg.pluginConfig && cfg.pluginConfig.socketAddress;
          const v2 = sock && mountFor(ps, c, sock);
          if (!v2 || !v2.volume) {
            fail(where, `${key}: socketAddress ${sock} is on no volume`);
            continue;
          }
          const same = serveSockets.filter((s) => s.sock === sock);
          const sidecar = same.find((s) => s.ps === ps);
          if (sidecar) {
            if (!v2.volume.emptyDir) fail(where, `${key}: ${path.dirname(sock)} is not an emptyDir`);
            if (!sidecar.v || sidecar.v.mount.name !== v2.mount.name) fail(where, `${key}: the serve sidecar ${sidecar.c.name} does not mount ${path.dirname(sock)} from volume ${v2.mount.name}`);
          } else {
            const other = same.find((s) => s.v && s.v.volume && s.v.volume.hostPath && v2.volume.hostPath &&
              s.v.volume.hostPath.path === v2.volume.hostPath.path);
            if (!other) fail(where, `${key}: no npd-gpu-monitor serve --socket ${sock} shares its directory (emptyDir in this pod or the same hostPath)`);
          }
        }
      }
    }
  }
  if (!runsOurs) continue;
  const seccomp = (ps.securityContext && ps.securityContext.seccompProfile && ps.securityContext.seccompProfile.type);
  for (const [c] of all) {
    const t = (c.securityContext && c.securityContext.seccompProfile && c.securityContext.seccompProfile.type) || seccomp;
    if (t !== 'RuntimeDefault') fail(`${id}: ${c.name}`, 'seccompProfile is not RuntimeDefault');
  }
  if (o.kind !== 'Pod') {
    if (!ps.nodeSelector || ps.nodeSelector['nvidia.com/gpu.present'] !== 'true') fail(id, 'nodeSelector nvidia.com/gpu.present: "true" missing');
    if (!(ps.tolerations || []).some((t) => t.key === 'nvidia.com/gpu' && t.operator === 'Exists' && t.effect === 'NoSchedule')) {
      fail(id, 'no toleration nvidia.com/gpu Exists NoSchedule');
    }
  }
  for (const c of ps.containers || []) {
    const sc = c.securityContext || {};
    const dropped = ((sc.capabilities && sc.capabilities.drop) || []).includes('ALL');
    const socketMount = (c.volumeMounts || []).some((m) => m.mountPath === SOCKET_DIR || m.mountPath === '/var/run/npd');
    // fsGroup is a supplementary group of every container of the pod, as supplementalGroups are.
    const psc = ps.securityContext || {};
    const groups = (psc.supplementalGroups || []).concat(psc.fsGroup === undefined ? [] : [psc.fsGroup]);
    if (runsAsRoot(ps, c) && dropped && socketMount && !groups.includes(65534) && imageBinary(c.image) !== 'device-api-server') {
      fail(`${id}: container ${c.name}`, 'root without capabilities cannot open the 0660 65534:65534 sockets: neither supplementalGroups nor fsGroup has 65534');
    }
  }
}

if (failures) {
  console.log(`manifest_asserts: ${failures} failure(s)`);
  process.exitCode = 1;
} else {
  console.log(`manifest_asserts: ${objects.length} object(s) ok`);
}
