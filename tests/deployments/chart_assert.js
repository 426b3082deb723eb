'use strict';
// Facts about the rendered device-api-server chart, for tests/deployments/check_chart.sh.
//
//   node chart_assert.js render CHART_DIR RELEASE NAMESPACE RENDERED.yaml [VALUES.yaml...]
//       asserts on `helm template RELEASE CHART_DIR -n NAMESPACE -f VALUES...` (in RENDERED.yaml),
//       expecting what the chart's values.yaml merged with VALUES (in order) asks for, and validates
//       every object against the Kubernetes (and prometheus-operator) schemas.
//   node chart_assert.js readme CHART_DIR
//       the README's parameter table keys == the leaf keys of values.yaml (see leafKeys).
//
// Prints one problem per line and exits 1 when there are any; exits 0 when there are none. Any
// other exit status is a crash of this script. NODE_PATH must hold kubernetes-models,
// @kubernetes-models/prometheus-operator and yaml (tests/deployments/lib.sh sets it).

const fs = require('fs');
const path = require('path');
const YAML = require('yaml');

const problems = [];
const problem = (msg) => problems.push(msg);

function isMap(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

// Helm's value merge: maps merge key by key, everything else (lists included) replaces.
function merge(base, over) {
  if (!isMap(base) || !isMap(over)) return over === undefined ? base : over;
  const out = { ...base };
  for (const [k, v] of Object.entries(over)) {
    out[k] = v === null ? undefined : merge(base[k], v);
    if (out[k] === undefined) delete out[k];
  }
  return out;
}

function loadYamlFile(file) {
  return YAML.parse(fs.readFileSync(file, 'utf8')) || {};
}

// Deep equality, map key order ignored.
const canon = (v) => (Array.isArray(v) ? v.map(canon) : isMap(v) ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon(v[k])])) : v);
const eq = (a, b) => JSON.stringify(canon(a)) === JSON.stringify(canon(b));
const show = (v) => JSON.stringify(v);

// Schemas, unknown fields included: the one validator every deployment check uses.
const { validateObject } = require('./validate_k8s.js');

function fullname(chart, values, release) {
  if (values.fullnameOverride) return values.fullnameOverride.slice(0, 55).replace(/-+$/, '');
  const name = values.nameOverride || chart.name;
  const full = release.includes(name) ? release : `${release}-${name}`;
  return full.slice(0, 55).replace(/-+$/, '');
}

function datastoreEndpoint(ds) {
  switch (ds.type) {
    case 'memory':
      return 'memory://';
    case 'sqlite':
      return `sqlite://${ds.sqlite.hostPath.replace(/\/+$/, '')}/${ds.sqlite.fileName}`;
    case 'etcd':
      return `etcd://${ds.etcd.endpoints.join(',')}${ds.etcd.prefix ? `?prefix=${ds.etcd.prefix}` : ''}`;
    default:
      throw new Error(`unknown datastore.type ${ds.type}`);
  }
}

// The server's audit and authorization flags: the audit log when auditLog.enabled; each
// authorization value only when set (else the binary's default); providers in key order.
function securityArgs(V) {
  const out = [];
  const a = V.auditLog;
  if (a.enabled) {
    out.push(`--audit-log=${a.hostPath.replace(/\/+$/, '')}/${a.fileName}`, `--audit-log-max-size=${a.maxSize}`, `--audit-log-max-backups=${a.maxBackups}`);
  }
  const z = V.authorization;
  if (z.writerUids.length) out.push(`--writer-uids=${z.writerUids.join(',')}`);
  if (z.writerGids.length) out.push(`--writer-gids=${z.writerGids.join(',')}`);
  if (z.operatorUids.length) out.push(`--operator-uids=${z.operatorUids.join(',')}`);
  const ids = Object.keys(z.providers).sort();
  if (ids.length) {
    out.push(`--provider-uids=${ids.map((id) => `${id}=${z.providers[id].uids.join(':')}`).join(',')}`);
    out.push(`--provider-conditions=${ids.map((id) => `${id}=${z.providers[id].conditions.join(':')}`).join(',')}`);
  }
  return out;
}

const IANA_SVC_NAME = /^(?=.{1,15}$)(?=.*[a-z])[a-z0-9]+(-[a-z0-9]+)*$/;

function checkRender(chartDir, release, namespace, renderedFile, valueFiles) {
  const chart = loadYamlFile(path.join(chartDir, 'Chart.yaml'));
  let V = loadYamlFile(path.join(chartDir, 'values.yaml'));
  for (const f of valueFiles) V = merge(V, loadYamlFile(f));
  const full = fullname(chart, V, release);
  const hasTemplate = (t) => fs.existsSync(path.join(chartDir, 'templates', t));

  const docs = YAML.parseAllDocuments(fs.readFileSync(renderedFile, 'utf8'));
  const objs = [];
  for (const d of docs) {
    if (d.errors.length) {
      problem(`rendered YAML does not parse: ${d.errors[0].message}`);
      continue;
    }
    const o = d.toJS();
    if (o !== null && o !== undefined) objs.push(o);
  }
  const byKind = (kind) => objs.filter((o) => o.kind === kind);

  // Schemas, names, namespaces, labels of every object.
  const commonLabels = {
    'helm.sh/chart': `${chart.name}-${chart.version}`,
    'app.kubernetes.io/name': V.nameOverride || chart.name,
    'app.kubernetes.io/instance': release,
    'app.kubernetes.io/version': String(chart.appVersion),
    'app.kubernetes.io/managed-by': 'Helm',
  };
  for (const o of objs) {
    const where = `${o.kind}/${o.metadata && o.metadata.name}`;
    for (const e of validateObject(o)) problem(`${where}: schema: ${e}`);
    if (!o.metadata || o.metadata.namespace !== namespace) {
      problem(`${where}: namespace ${show(o.metadata && o.metadata.namespace)}, want ${namespace}`);
    }
    const labels = (o.metadata && o.metadata.labels) || {};
    for (const [k, v] of Object.entries(commonLabels)) {
      if (labels[k] !== v) problem(`${where}: label ${k}=${show(labels[k])}, want ${show(v)}`);
    }
  }

  // Which objects exist.
  const expectCount = (kind, name, want) => {
    const n = objs.filter((o) => o.kind === kind && (name === null || o.metadata.name === name)).length;
    if (n !== want) problem(`${kind}${name ? ` ${name}` : ''}: ${n} rendered, want ${want}`);
  };
  expectCount('DaemonSet', full, 1);
  expectCount('ServiceAccount', null, V.serviceAccount.create ? 1 : 0);
  expectCount('Service', `${full}-metrics`, V.metrics.enabled ? 1 : 0);
  expectCount('ServiceMonitor', null, V.metrics.serviceMonitor.enabled ? 1 : 0);
  // The alerts and the dashboard come from another part of the chart; absent by default, always.
  if (!V.metrics.prometheusRule.enabled || hasTemplate('prometheusrule.yaml')) {
    expectCount('PrometheusRule', null, V.metrics.prometheusRule.enabled ? 1 : 0);
  }
  const pluginConfig = V.devicePlugin.enabled && V.devicePlugin.config ? V.devicePlugin.config : '';
  expectCount('ConfigMap', `${full}-device-plugin-config`, pluginConfig ? 1 : 0);
  if (!V.metrics.grafanaDashboard.enabled) {
    const dash = objs.filter((o) => o.kind === 'ConfigMap' && o.metadata.name !== `${full}-device-plugin-config`);
    if (dash.length) problem(`ConfigMap ${dash[0].metadata.name} rendered with metrics.grafanaDashboard.enabled=false`);
  }
  const known = new Set(['DaemonSet', 'ServiceAccount', 'Service', 'ServiceMonitor', 'PrometheusRule', 'ConfigMap']);
  for (const o of objs) if (!known.has(o.kind)) problem(`unexpected ${o.kind} ${o.metadata.name}`);

  const ds = byKind('DaemonSet')[0];
  if (!ds) return;

  // The defaults themselves (no values files): the server alone, nothing that needs a CRD.
  if (!valueFiles.length) {
    const names = ds.spec.template.spec.containers.map((c) => c.name);
    if (!eq(names, ['device-api-server'])) problem(`defaults: containers ${show(names)}, want only device-api-server (sidecars off by default)`);
    for (const kind of ['ServiceMonitor', 'PrometheusRule', 'ConfigMap']) {
      if (byKind(kind).length) problem(`defaults: ${kind} rendered, want none by default`);
    }
    const server = ds.spec.template.spec.containers[0];
    for (const a of [
      '--bind-address=unix:///var/run/nvidia-device-api/device-api.sock',
      '--datastore-endpoint=sqlite:///var/lib/nvidia-device-api/state.db',
      // The audit log: off in the binary, on in the chart.
      '--audit-log=/var/log/nvidia-device-api/audit.log',
      '--audit-log-max-size=10485760',
      '--audit-log-max-backups=3',
    ]) {
      if (!(server.args || []).includes(a)) problem(`defaults: device-api-server args lack ${a}`);
    }
    // Authorization: the binary's defaults (no flag), no read-only socket.
    for (const a of server.args || []) {
      if (/^--(writer-uids|writer-gids|operator-uids|provider-uids|provider-conditions|read-only-bind-address)=/.test(a)) {
        problem(`defaults: device-api-server has ${a}, want the binary's default`);
      }
    }
    const audit = (ds.spec.template.spec.volumes || []).find((v) => v.name === 'audit-log');
    if (!audit || !audit.hostPath || audit.hostPath.path !== '/var/log/nvidia-device-api') problem('defaults: no audit-log hostPath volume /var/log/nvidia-device-api');
    if (ds.spec.template.spec.terminationGracePeriodSeconds !== 35) problem('defaults: terminationGracePeriodSeconds is not 5 + 25 + 5 = 35');
    if (!eq(ds.spec.template.spec.nodeSelector, { 'nvidia.com/gpu.present': 'true' })) problem('defaults: nodeSelector is not nvidia.com/gpu.present=true');
  }
  const pod = ds.spec.template.spec;
  const sel = ds.spec.selector.matchLabels;
  for (const [k, v] of Object.entries(sel)) {
    if (ds.spec.template.metadata.labels[k] !== v) problem(`DaemonSet: selector ${k}=${v} not on the pod template`);
  }

  const us = ds.spec.updateStrategy || {};
  if (us.type !== V.updateStrategy.type) problem(`updateStrategy.type ${us.type}, want ${V.updateStrategy.type}`);
  if (us.rollingUpdate && us.type !== 'RollingUpdate') problem(`updateStrategy.rollingUpdate with type ${us.type} (the API server rejects it)`);

  // Pod-level facts.
  const grace = V.server.shutdownDelay + V.server.shutdownGracePeriod + 5;
  if (pod.terminationGracePeriodSeconds !== grace) {
    problem(`terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds}, want shutdownDelay+shutdownGracePeriod+5 = ${grace}`);
  }
  if (!eq(pod.nodeSelector || {}, V.nodeSelector)) problem(`nodeSelector ${show(pod.nodeSelector)}, want ${show(V.nodeSelector)}`);
  if (!eq(pod.tolerations || [], V.tolerations)) problem(`tolerations ${show(pod.tolerations)}, want ${show(V.tolerations)}`);
  if (!eq(pod.affinity || {}, V.affinity)) problem(`affinity ${show(pod.affinity)}, want ${show(V.affinity)}`);
  if ((pod.runtimeClassName || '') !== V.runtimeClassName) problem(`runtimeClassName ${show(pod.runtimeClassName)}, want ${show(V.runtimeClassName)}`);
  if ((pod.priorityClassName || '') !== V.priorityClassName) problem(`priorityClassName ${show(pod.priorityClassName)}, want ${show(V.priorityClassName)}`);
  if (pod.automountServiceAccountToken !== V.serviceAccount.automountServiceAccountToken) {
    problem(`automountServiceAccountToken ${pod.automountServiceAccountToken}, want ${V.serviceAccount.automountServiceAccountToken}`);
  }
  const saName = V.serviceAccount.create ? V.serviceAccount.name || full : V.serviceAccount.name || 'default';
  if (pod.serviceAccountName !== saName) problem(`serviceAccountName ${pod.serviceAccountName}, want ${saName}`);
  const psc = pod.securityContext || {};
  if (!psc.seccompProfile || psc.seccompProfile.type !== 'RuntimeDefault') problem('pod securityContext: seccompProfile is not RuntimeDefault');
  if (psc.fsGroup !== V.podSecurityContext.fsGroup) problem(`pod fsGroup ${psc.fsGroup}, want ${V.podSecurityContext.fsGroup}`);
  if (pod.hostNetwork || pod.hostPID || pod.hostIPC) problem('pod uses a host namespace');

  // Containers present exactly when enabled, in order.
  const wantNames = ['device-api-server'];
  if (V.nvmlProvider.enabled) wantNames.push('nvml-provider');
  if (V.devicePlugin.enabled) wantNames.push('gpu-device-plugin');
  if (V.gpuMonitor.enabled) wantNames.push('npd-gpu-monitor');
  const names = pod.containers.map((c) => c.name);
  if (!eq(names, wantNames)) problem(`containers ${show(names)}, want ${show(wantNames)}`);
  const ctr = (n) => pod.containers.find((c) => c.name === n);

  // Volumes: every mount has a volume, every volume is mounted, hostPaths as the values say.
  const volumes = new Map((pod.volumes || []).map((v) => [v.name, v]));
  const mounted = new Set();
  for (const c of [...(pod.initContainers || []), ...pod.containers]) {
    for (const m of c.volumeMounts || []) {
      mounted.add(m.name);
      if (!volumes.has(m.name)) problem(`${c.name}: volumeMount ${m.name} has no volume`);
    }
  }
  for (const v of volumes.keys()) if (!mounted.has(v)) problem(`volume ${v} is mounted nowhere`);
  const hostPathOf = (name) => volumes.has(name) && volumes.get(name).hostPath ? volumes.get(name).hostPath.path : undefined;
  const mountOf = (c, name) => c && (c.volumeMounts || []).find((m) => m.name === name);
  const socketDir = path.posix.dirname(V.server.unixSocket);
  if (hostPathOf('socket-dir') !== socketDir) problem(`socket-dir hostPath ${show(hostPathOf('socket-dir'))}, want ${socketDir}`);
  const sqlite = V.datastore.type === 'sqlite';
  if (sqlite && hostPathOf('datastore') !== V.datastore.sqlite.hostPath) {
    problem(`datastore hostPath ${show(hostPathOf('datastore'))}, want ${V.datastore.sqlite.hostPath}`);
  }
  if (!sqlite && volumes.has('datastore')) problem(`datastore volume with datastore.type=${V.datastore.type}`);
  const npdDir = V.gpuMonitor.enabled ? path.posix.dirname(V.gpuMonitor.socket) : null;
  if (hostPathOf('npd-socket-dir') !== (npdDir || undefined)) problem(`npd-socket-dir hostPath ${show(hostPathOf('npd-socket-dir'))}, want ${show(npdDir)}`);
  const auditDir = V.auditLog.enabled ? V.auditLog.hostPath.replace(/\/+$/, '') : null;
  if (hostPathOf('audit-log') !== (auditDir || undefined)) problem(`audit-log hostPath ${show(hostPathOf('audit-log'))}, want ${show(auditDir)}`);
  if (auditDir && volumes.get('audit-log').hostPath.type !== 'DirectoryOrCreate') problem('audit-log hostPath type is not DirectoryOrCreate');
  for (const c of pod.containers) {
    const m = mountOf(c, 'audit-log');
    const want = auditDir && c.name === 'device-api-server';
    if (!!m !== !!want) problem(`${c.name}: audit-log ${m ? 'mounted' : 'not mounted'}, want ${want ? 'mounted (the server writes it)' : 'none'}`);
    else if (m && (m.mountPath !== auditDir || m.readOnly)) problem(`${c.name}: audit-log mounted at ${m.mountPath}${m.readOnly ? ' read-only' : ''}, want ${auditDir} writable`);
  }
  for (const c of pod.containers) {
    const m = mountOf(c, 'socket-dir');
    if (!m || m.mountPath !== socketDir) problem(`${c.name}: socket directory not mounted at ${socketDir}`);
  }

  // Init container: root with only CHOWN and FOWNER, handing the host directories over.
  const init = (pod.initContainers || []).find((c) => c.name === 'init-dirs');
  if (!init) {
    problem('init container init-dirs missing');
  } else {
    const sc = init.securityContext || {};
    const caps = sc.capabilities || {};
    if (!eq(caps.drop, ['ALL']) || !eq([...(caps.add || [])].sort(), ['CHOWN', 'FOWNER'])) {
      problem(`init-dirs capabilities ${show(caps)}, want drop [ALL] add [CHOWN, FOWNER]`);
    }
    if (sc.allowPrivilegeEscalation !== false || sc.readOnlyRootFilesystem !== true || sc.privileged) {
      problem('init-dirs: allowPrivilegeEscalation must be false, readOnlyRootFilesystem true, not privileged');
    }
    const wantDirs = [socketDir, ...(sqlite ? [V.datastore.sqlite.hostPath] : []), ...(npdDir ? [npdDir] : []), ...(auditDir ? [auditDir] : [])];
    const cmd = init.command || [];
    const dirs = cmd.slice(cmd.indexOf('init-dirs') + 1);
    if (!eq(dirs, wantDirs)) problem(`init-dirs prepares ${show(dirs)}, want ${show(wantDirs)}`);
    const uid = V.securityContext.runAsUser;
    const gid = V.securityContext.runAsGroup;
    if (!cmd.some((a) => a.includes(`chown ${uid}:${gid} `) && a.includes('chmod 0750'))) {
      problem(`init-dirs does not chown ${uid}:${gid} and chmod 0750`);
    }
    for (const [d, vol] of [[socketDir, 'socket-dir'], [V.datastore.sqlite.hostPath, sqlite && 'datastore'], [npdDir, npdDir && 'npd-socket-dir'], [auditDir, auditDir && 'audit-log']]) {
      if (!vol) continue;
      const m = mountOf(init, vol);
      if (!m || m.mountPath !== d) problem(`init-dirs: ${vol} not mounted at ${d}`);
    }
  }

  // Images.
  const image = (im) => `${im.repository}:${im.tag || chart.appVersion}`;
  const wantImage = {
    'device-api-server': image(V.image),
    'nvml-provider': image(V.nvmlProvider.image),
    'gpu-device-plugin': image(V.devicePlugin.image),
    'npd-gpu-monitor': image(V.gpuMonitor.image),
  };
  for (const c of pod.containers) {
    if (c.image !== wantImage[c.name]) problem(`${c.name}: image ${c.image}, want ${wantImage[c.name]}`);
  }
  if (init && init.image !== image(V.image)) problem(`init-dirs: image ${init.image}, want ${image(V.image)}`);

  // Arguments, exactly.
  const serverAddress = `--server-address=unix://${V.server.unixSocket}`;
  // The readers (plugin, monitor) dial the read-only socket when there is one.
  const readerAddress = `--server-address=unix://${V.server.readOnlySocket || V.server.unixSocket}`;
  const logArgs = [`--v=${V.logging.verbosity}`, `--log-format=${V.logging.format}`];
  const wantArgs = {
    'device-api-server': [
      `--bind-address=unix://${V.server.unixSocket}`,
      ...(V.server.readOnlySocket ? [`--read-only-bind-address=unix://${V.server.readOnlySocket}`] : []),
      `--health-probe-bind-address=:${V.server.healthPort}`,
      `--metrics-bind-address=:${V.server.metricsPort}`,
      `--shutdown-grace-period=${V.server.shutdownGracePeriod}s`,
      '--hostname-override=$(NODE_NAME)',
      `--datastore-endpoint=${datastoreEndpoint(V.datastore)}`,
      ...securityArgs(V),
      ...logArgs,
      ...V.server.extraArgs,
    ],
    'nvml-provider': [
      serverAddress,
      `--provider-id=${V.nvmlProvider.providerID}`,
      '--driver-root=/run/nvidia/driver',
      `--health-port=${V.nvmlProvider.healthPort}`,
      ...logArgs,
      ...V.nvmlProvider.extraArgs,
    ],
    'gpu-device-plugin': [
      readerAddress,
      `--metrics-bind-address=:${V.devicePlugin.metricsPort}`,
      ...(pluginConfig ? ['--config-file=/etc/gpu-device-plugin/config.yaml'] : []),
      ...logArgs,
      ...V.devicePlugin.extraArgs,
    ],
    'npd-gpu-monitor': [
      'serve',
      readerAddress,
      `--socket=${V.gpuMonitor.socket}`,
      `--metrics-bind-address=:${V.gpuMonitor.metricsPort}`,
      `--expected-gpus=${V.gpuMonitor.expectedGPUs}`,
      ...logArgs,
      ...V.gpuMonitor.extraArgs,
    ],
  };
  for (const c of pod.containers) {
    if (c.command) problem(`${c.name}: command overrides the image's entrypoint`);
    if (!eq(c.args, wantArgs[c.name])) problem(`${c.name}: args ${show(c.args)}, want ${show(wantArgs[c.name])}`);
  }

  // Server: NODE_NAME, preStop.
  const server = ctr('device-api-server');
  if (server) {
    const env = (server.env || []).find((e) => e.name === 'NODE_NAME');
    if (!env || !env.valueFrom || !env.valueFrom.fieldRef || env.valueFrom.fieldRef.fieldPath !== 'spec.nodeName') {
      problem('device-api-server: env NODE_NAME is not the fieldRef spec.nodeName');
    }
    const preStop = server.lifecycle && server.lifecycle.preStop;
    if (V.server.shutdownDelay > 0) {
      const want = ['/bin/sleep', String(V.server.shutdownDelay)];
      if (!preStop || !preStop.exec || !eq(preStop.exec.command, want)) problem(`device-api-server: preStop ${show(preStop)}, want exec ${show(want)}`);
    } else if (preStop) {
      problem('device-api-server: preStop with server.shutdownDelay=0');
    }
    if (sqlite && !mountOf(server, 'datastore')) problem('device-api-server: the SQLite directory is not mounted');
  }

  // nvml-provider: environment, driver root.
  const nvml = ctr('nvml-provider');
  if (nvml) {
    const env = Object.fromEntries((nvml.env || []).map((e) => [e.name, e.value]));
    if (env.NVIDIA_VISIBLE_DEVICES !== 'all' || env.NVIDIA_DRIVER_CAPABILITIES !== 'utility') {
      problem(`nvml-provider: env ${show(env)}, want NVIDIA_VISIBLE_DEVICES=all NVIDIA_DRIVER_CAPABILITIES=utility`);
    }
    const m = mountOf(nvml, 'driver-root');
    if (!m || m.mountPath !== '/run/nvidia/driver' || m.readOnly !== true) problem('nvml-provider: driver root not mounted read-only at /run/nvidia/driver');
    if (hostPathOf('driver-root') !== V.nvmlProvider.driverRoot) problem(`driver-root hostPath ${hostPathOf('driver-root')}, want ${V.nvmlProvider.driverRoot}`);
    if (!!(nvml.securityContext || {}).privileged !== !!V.nvmlProvider.privileged) problem(`nvml-provider: privileged is not ${V.nvmlProvider.privileged}`);
    const nsc = nvml.securityContext || {};
    if (nsc.privileged && nsc.allowPrivilegeEscalation === false) problem('nvml-provider: privileged with allowPrivilegeEscalation=false (the API server rejects it)');
    // securityContext with nvmlProvider.securityContext merged over it (privileged drops two keys).
    const wantSC = merge(V.securityContext, V.nvmlProvider.securityContext);
    if (V.nvmlProvider.privileged) {
      delete wantSC.allowPrivilegeEscalation;
      delete wantSC.capabilities;
      wantSC.privileged = true;
    }
    if (!eq(nsc, wantSC)) problem(`nvml-provider: securityContext ${show(nsc)}, want ${show(wantSC)}`);
  }
  const plugin = ctr('gpu-device-plugin');
  if (plugin) {
    const m = mountOf(plugin, 'device-plugins');
    if (!m || m.mountPath !== '/var/lib/kubelet/device-plugins') problem('gpu-device-plugin: device-plugins not mounted at /var/lib/kubelet/device-plugins');
    if (hostPathOf('device-plugins') !== V.devicePlugin.devicePluginPath) problem(`device-plugins hostPath ${hostPathOf('device-plugins')}, want ${V.devicePlugin.devicePluginPath}`);
    const cm = mountOf(plugin, 'device-plugin-config');
    if (!!cm !== !!pluginConfig || (cm && cm.mountPath !== '/etc/gpu-device-plugin')) problem('gpu-device-plugin: config mount does not follow devicePlugin.config');
    if (pluginConfig) {
      const cmObj = objs.find((o) => o.kind === 'ConfigMap' && o.metadata.name === `${full}-device-plugin-config`);
      if (cmObj && cmObj.data['config.yaml'].trim() !== pluginConfig.trim()) problem('device plugin ConfigMap: config.yaml differs from devicePlugin.config');
      const vol = volumes.get('device-plugin-config');
      if (!vol || !vol.configMap || vol.configMap.name !== `${full}-device-plugin-config`) problem('device-plugin-config volume is not the ConfigMap');
      const ann = ds.spec.template.metadata.annotations || {};
      if (!ann['checksum/device-plugin-config']) problem('pod template: no checksum/device-plugin-config annotation');
    }
  }
  const monitor = ctr('npd-gpu-monitor');
  if (monitor) {
    const m = mountOf(monitor, 'npd-socket-dir');
    if (!m || m.mountPath !== npdDir) problem(`npd-gpu-monitor: NPD socket directory not mounted at ${npdDir}`);
  }

  // Security contexts: non-root read-only everywhere but the plugin (root, still read-only, no caps).
  for (const c of pod.containers) {
    const sc = c.securityContext || {};
    const caps = (sc.capabilities && sc.capabilities.drop) || [];
    if (sc.readOnlyRootFilesystem !== true) problem(`${c.name}: readOnlyRootFilesystem is not true`);
    if (c.name === 'gpu-device-plugin') {
      if (sc.runAsUser !== 0) problem(`${c.name}: runAsUser ${sc.runAsUser}, want 0`);
    } else if (sc.runAsNonRoot !== true || !(sc.runAsUser > 0)) {
      problem(`${c.name}: not runAsNonRoot with a non-zero runAsUser (${show(sc)})`);
    }
    if (c.name === 'nvml-provider' && V.nvmlProvider.privileged) continue;
    if (sc.allowPrivilegeEscalation !== false) problem(`${c.name}: allowPrivilegeEscalation is not false`);
    if (!eq(caps, ['ALL']) || (sc.capabilities.add || []).length) problem(`${c.name}: capabilities ${show(sc.capabilities)}, want drop [ALL] and no add`);
    if (sc.privileged) problem(`${c.name}: privileged`);
  }
  if (ctr('device-api-server')) {
    const sc = ctr('device-api-server').securityContext || {};
    if (sc.runAsUser !== 65534 && V.securityContext.runAsUser === 65534) problem('device-api-server: runAsUser is not 65534');
  }

  // Ports and probes: every probe hits a port its container declares, the container's metrics port.
  const wantMetricsPort = {
    'device-api-server': V.server.metricsPort,
    'nvml-provider': V.nvmlProvider.healthPort,
    'gpu-device-plugin': V.devicePlugin.metricsPort,
    'npd-gpu-monitor': V.gpuMonitor.metricsPort,
  };
  const portNumbers = new Map();
  for (const c of pod.containers) {
    const ports = c.ports || [];
    for (const p of ports) {
      if (!IANA_SVC_NAME.test(p.name || '')) problem(`${c.name}: port name ${show(p.name)} is not a valid IANA_SVC_NAME (at most 15 characters)`);
      if (portNumbers.has(p.containerPort)) problem(`port ${p.containerPort} declared by ${portNumbers.get(p.containerPort)} and ${c.name}`);
      portNumbers.set(p.containerPort, c.name);
    }
    const resolve = (port) => ports.find((p) => p.name === port || p.containerPort === port);
    for (const [kind, wantPath] of [['livenessProbe', '/livez'], ['readinessProbe', '/readyz']]) {
      const probe = c[kind];
      if (!probe || !probe.httpGet) {
        problem(`${c.name}: no httpGet ${kind}`);
        continue;
      }
      const p = resolve(probe.httpGet.port);
      if (!p) {
        problem(`${c.name}: ${kind} port ${show(probe.httpGet.port)} is not a port of the container`);
      } else if (p.containerPort !== wantMetricsPort[c.name]) {
        problem(`${c.name}: ${kind} on port ${p.containerPort}, want its metrics port ${wantMetricsPort[c.name]}`);
      }
      if (probe.httpGet.path !== wantPath) problem(`${c.name}: ${kind} path ${probe.httpGet.path}, want ${wantPath}`);
      const timing = kind === 'livenessProbe' ? V.livenessProbe : V.readinessProbe;
      for (const [k, v] of Object.entries(timing)) if (probe[k] !== v) problem(`${c.name}: ${kind}.${k} ${probe[k]}, want ${v}`);
    }
    if (!resolve(wantMetricsPort[c.name])) problem(`${c.name}: metrics port ${wantMetricsPort[c.name]} not declared`);
  }
  if (server && !(server.ports || []).some((p) => p.containerPort === V.server.healthPort)) problem(`device-api-server: health port ${V.server.healthPort} not declared`);

  // The metrics Service: one named port per enabled container, each on that container's port.
  const svc = objs.find((o) => o.kind === 'Service');
  const wantSvcPorts = { metrics: V.server.metricsPort };
  if (V.nvmlProvider.enabled) wantSvcPorts['provider-metrics'] = V.nvmlProvider.healthPort;
  if (V.devicePlugin.enabled) wantSvcPorts['plugin-metrics'] = V.devicePlugin.metricsPort;
  if (V.gpuMonitor.enabled) wantSvcPorts['monitor-metrics'] = V.gpuMonitor.metricsPort;
  if (svc) {
    if (!eq(svc.spec.selector, sel)) problem(`Service selector ${show(svc.spec.selector)}, want the DaemonSet's ${show(sel)}`);
    const got = Object.fromEntries(svc.spec.ports.map((p) => [p.name, p.port]));
    if (!eq(got, wantSvcPorts)) problem(`Service ports ${show(got)}, want ${show(wantSvcPorts)}`);
    for (const p of svc.spec.ports) {
      const target = pod.containers.flatMap((c) => c.ports || []).find((cp) => cp.name === p.targetPort || cp.containerPort === p.targetPort);
      if (!target) problem(`Service port ${p.name}: targetPort ${show(p.targetPort)} is no container port`);
      else if (target.containerPort !== p.port) problem(`Service port ${p.name}: ${p.port} targets container port ${target.containerPort}`);
    }
  }

  // The ServiceMonitor: selects the Service, one endpoint per Service port, the values' timing.
  const sm = objs.find((o) => o.kind === 'ServiceMonitor');
  if (sm) {
    const smv = V.metrics.serviceMonitor;
    for (const [k, v] of Object.entries(smv.additionalLabels)) {
      if (sm.metadata.labels[k] !== v) problem(`ServiceMonitor: additional label ${k}=${v} missing`);
    }
    if (svc) {
      for (const [k, v] of Object.entries(sm.spec.selector.matchLabels || {})) {
        if (svc.metadata.labels[k] !== v) problem(`ServiceMonitor selector ${k}=${v} does not match the Service`);
      }
    }
    const ns = sm.spec.namespaceSelector && sm.spec.namespaceSelector.matchNames;
    if (!eq(ns, [namespace])) problem(`ServiceMonitor namespaceSelector ${show(ns)}, want [${namespace}]`);
    const ports = sm.spec.endpoints.map((e) => e.port);
    if (!eq([...ports].sort(), Object.keys(wantSvcPorts).sort())) problem(`ServiceMonitor endpoints ${show(ports)}, want ${show(Object.keys(wantSvcPorts))}`);
    for (const e of sm.spec.endpoints) {
      if (e.interval !== smv.interval || e.scrapeTimeout !== smv.scrapeTimeout || e.path !== '/metrics') {
        problem(`ServiceMonitor endpoint ${e.port}: ${e.path} every ${e.interval} (timeout ${e.scrapeTimeout}), want /metrics every ${smv.interval} (${smv.scrapeTimeout})`);
      }
    }
  }
}

// Leaf keys of a values tree: scalars, lists, empty maps, and maps that values.schema.json leaves
// free-form (no "properties": nodeSelector, securityContext, label maps, resources.requests); maps
// with a fixed set of keys are descended into.
function leafKeys(v, schema, root, prefix, out) {
  const resolve = (s) => {
    while (s && s.$ref) s = s.$ref.replace(/^#\//, '').split('/').reduce((a, k) => a[k], root);
    return s || {};
  };
  for (const [k, x] of Object.entries(v)) {
    const key = prefix ? `${prefix}.${k}` : k;
    const sub = resolve(resolve(schema).properties ? resolve(schema).properties[k] : undefined);
    if (isMap(x) && Object.keys(x).length && sub.properties) leafKeys(x, sub, root, key, out);
    else out.push(key);
  }
  return out;
}

function checkReadme(chartDir) {
  const schema = JSON.parse(fs.readFileSync(path.join(chartDir, 'values.schema.json'), 'utf8'));
  const leaves = new Set(leafKeys(loadYamlFile(path.join(chartDir, 'values.yaml')), schema, schema, '', []));
  const table = new Set();
  const text = fs.readFileSync(path.join(chartDir, 'README.md'), 'utf8');
  let header = false;
  for (const line of text.split('\n')) {
    if (/^\|\s*Key\s*\|\s*Type\s*\|\s*Default\s*\|\s*Description\s*\|/.test(line)) {
      header = true;
      continue;
    }
    if (!header) continue;
    const m = /^\|\s*`([^`]+)`\s*\|/.exec(line);
    if (m) {
      if (table.has(m[1])) problem(`${m[1]} listed twice`);
      table.add(m[1]);
    }
  }
  if (!header) problem('no "| Key | Type | Default | Description |" table');
  for (const k of leaves) if (!table.has(k)) problem(`values.yaml key ${k} missing from the parameter table`);
  for (const k of table) if (!leaves.has(k)) problem(`parameter table key ${k} is not a leaf key of values.yaml`);
}

function main(argv) {
  const [mode, ...rest] = argv;
  if (mode === 'render' && rest.length >= 4) {
    const [chartDir, release, namespace, rendered, ...valueFiles] = rest;
    checkRender(chartDir, release, namespace, rendered, valueFiles);
  } else if (mode === 'readme' && rest.length === 1) {
    checkReadme(rest[0]);
  } else {
    console.error('usage: chart_assert.js render CHART_DIR RELEASE NAMESPACE RENDERED.yaml [VALUES.yaml...] | readme CHART_DIR');
    process.exit(2);
  }
  for (const p of problems) console.log(p);
  process.exit(problems.length ? 1 : 0);
}

module.exports = { leafKeys, merge };
if (require.main === module) main(process.argv.slice(2));
