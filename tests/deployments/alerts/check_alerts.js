// Helper of tests/deployments/check_alerts.sh (run with NODE_PATH=tools/npm/node_modules).
//   node check_alerts.js rules PROMETHEUSRULE.yaml RULES_OUT.yaml EXTRA.yaml
//       validate the rendered PrometheusRule (and the one rendered with additionalRules, EXTRA) with
//       @kubernetes-models/prometheus-operator; write spec.groups to RULES_OUT for promtool.
//   node check_alerts.js disabled ALL.yaml
//       the chart rendered with defaults has neither a PrometheusRule nor the dashboard ConfigMap.
//   node check_alerts.js configmap CONFIGMAP.yaml DASHBOARD.json
//       the dashboard ConfigMap validates and carries files/dashboard.json unchanged.
//   node check_alerts.js coverage RULES.yaml TEST.yaml...
//       every alert fires in a promtool test and has a case where it does not.
//   node check_alerts.js names RULES.yaml DASHBOARD.json SCRAPE_DIR JOB NAMESPACE
//       every metric (and label matched on) in the alert expressions and the dashboard's queries
//       is exported by the binary behind its endpoint (SCRAPE_DIR/<endpoint>.txt, a live scrape);
//       the dashboard's structure (uid, title, ${datasource}, required panels).
// Prints "FAIL: ..." lines; exits 1 when anything failed.
'use strict';
const fs = require('fs');
const YAML = require('yaml');

let failures = 0;
function fail(msg) {
  console.log(`FAIL: ${msg}`);
  failures++;
}
const readYamlDocs = (f) => YAML.parseAllDocuments(fs.readFileSync(f, 'utf8')).map((d) => d.toJS()).filter(Boolean);

// --- PromQL: the vector selectors of an expression ------------------------------------------------
const KEYWORDS = new Set(['and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right',
  'bool', 'offset', 'inf', 'nan', 'atan2']);

// Returns [{name, matchers: [{label, op, value}]}]; throws on what it does not understand.
function selectors(expr) {
  let out = '';
  const blocks = [];
  for (let i = 0; i < expr.length;) {
    const c = expr[i];
    if (c === '"' || c === "'" || c === '`') {  // a string outside a selector: drop its content
      let j = i + 1;
      while (j < expr.length && expr[j] !== c) j += (expr[j] === '\\' && c !== '`') ? 2 : 1;
      out += '""';
      i = j + 1;
    } else if (c === '{') {  // label matchers, strings respected
      let j = i + 1;
      let q = null;
      for (; j < expr.length; j++) {
        if (q) {
          if (expr[j] === '\\' && q !== '`') j++;
          else if (expr[j] === q) q = null;
        } else if (expr[j] === '"' || expr[j] === "'" || expr[j] === '`') q = expr[j];
        else if (expr[j] === '}') break;
      }
      const body = expr.slice(i + 1, j);
      const matchers = [];
      const re = /\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)\s*(,|$)/y;
      let m;
      let pos = 0;
      while (pos < body.length && (m = re.exec(body))) {
        matchers.push({ label: m[1], op: m[2], value: m[3].slice(1, -1) });
        pos = re.lastIndex;
      }
      if (body.trim() !== '' && pos < body.length) throw new Error(`cannot parse matchers {${body}}`);
      out += `\u0001${blocks.length}\u0001`;
      blocks.push(matchers);
      i = j + 1;
    } else {
      out += c;
      i++;
    }
  }
  out = out
    .replace(/\[[^\]]*\]/g, ' ')  // ranges and subqueries
    .replace(/\b(by|without)\s*\([^)]*\)/g, ' ')  // sum by (x) (...) -> sum (...)
    .replace(/\b(on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' $1 ')
    .replace(/\boffset\s+-?[0-9a-zA-Z_$]+/g, ' ')
    .replace(/(^|[^a-zA-Z0-9_:\u0001])(0x[0-9a-fA-F]+|\d+(\.\d*)?([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?)/g, '$1 ');
  const result = [];
  const tok = /[a-zA-Z_:][a-zA-Z0-9_:]*|\u0001(\d+)\u0001/g;
  let m;
  while ((m = tok.exec(out))) {
    if (m[1] !== undefined) {  // a selector without a name
      throw new Error(`selector without a metric name in ${expr}`);
    }
    const word = m[0];
    const rest = out.slice(tok.lastIndex);
    if (/^\s*\(/.test(rest) || KEYWORDS.has(word.toLowerCase())) continue;  // function, aggregation, keyword
    const sel = { name: word, matchers: [] };
    const b = /^\u0001(\d+)\u0001/.exec(rest);
    if (b) {
      sel.matchers = blocks[Number(b[1])];
      tok.lastIndex += b[0].length;
    }
    result.push(sel);
  }
  return result;
}

// --- scrapes ------------------------------------------------------------------------------------
const ENDPOINTS = { metrics: 'device-api-server', 'provider-metrics': 'nvml-provider',
  'plugin-metrics': 'gpu-device-plugin', 'monitor-metrics': 'npd-gpu-monitor' };
// Labels that Prometheus (the ServiceMonitor's target) attaches, not the binaries.
const TARGET_LABELS = new Set(['job', 'namespace', 'pod', 'endpoint', 'instance', 'service', 'container', '__name__']);
const SYNTHESIZED = new Set(['up']);  // written by Prometheus for every target

function readScrapes(dir) {
  const scrapes = {};
  for (const ep of Object.keys(ENDPOINTS)) {
    const metrics = new Map();  // name -> Set(label names)
    for (const line of fs.readFileSync(`${dir}/${ep}.txt`, 'utf8').split('\n')) {
      let m;
      if ((m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) /.exec(line))) {
        if (!metrics.has(m[1])) metrics.set(m[1], new Set());
      } else if ((m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s/.exec(line))) {
        if (!metrics.has(m[1])) metrics.set(m[1], new Set());
        for (const l of (m[3] || '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="/g)) metrics.get(m[1]).add(l[1]);
      }
    }
    if (metrics.size === 0) fail(`the scrape of ${ENDPOINTS[ep]} (${dir}/${ep}.txt) is empty`);
    scrapes[ep] = metrics;
  }
  return scrapes;
}

// Checks one expression; `where` names it; `want` is {job: value} (matchers every selector needs).
function checkExpr(expr, where, scrapes, want) {
  let sels;
  try {
    sels = selectors(expr);
  } catch (e) {
    fail(`${where}: ${e.message}`);
    return [];
  }
  if (sels.length === 0) fail(`${where}: no metric in ${JSON.stringify(expr)}`);
  for (const s of sels) {
    for (const [label, value] of Object.entries(want)) {
      if (!s.matchers.some((m) => m.label === label && m.op === '=' && m.value === value)) {
        fail(`${where}: ${s.name} does not select ${label}="${value}"`);
      }
    }
    if (SYNTHESIZED.has(s.name)) continue;
    const ep = s.matchers.find((m) => m.label === 'endpoint' && m.op === '=');
    let sources;
    if (ep) {
      if (!(ep.value in ENDPOINTS)) {
        fail(`${where}: unknown endpoint "${ep.value}" (the Service's port names: ${Object.keys(ENDPOINTS).join(', ')})`);
        continue;
      }
      sources = [ep.value];
    } else {
      sources = Object.keys(ENDPOINTS).filter((e) => scrapes[e].has(s.name));
    }
    const found = sources.filter((e) => scrapes[e].has(s.name));
    if (found.length === 0) {
      const names = sources.length ? sources.map((e) => ENDPOINTS[e]).join(', ') : 'any binary';
      fail(`${where}: metric ${s.name} is not in the live /metrics of ${names}`);
      continue;
    }
    for (const m of s.matchers) {
      if (TARGET_LABELS.has(m.label)) continue;
      if (!found.some((e) => scrapes[e].get(s.name).has(m.label))) {
        fail(`${where}: ${s.name} has no label "${m.label}" in the live /metrics of ${found.map((e) => ENDPOINTS[e]).join(', ')}`);
      }
    }
  }
  return sels;
}

function alertRules(rulesFile) {
  const doc = YAML.parse(fs.readFileSync(rulesFile, 'utf8'));
  return doc.groups.flatMap((g) => g.rules).filter((r) => r.alert);
}

// --- modes ----------------------------------------------------------------------------------------
const [mode, ...args] = process.argv.slice(2);

if (mode === 'rules') {
  const { PrometheusRule } = require('@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1');
  const [prFile, rulesOut, extraFile] = args;
  const check = (file) => {
    const docs = readYamlDocs(file);
    if (docs.length !== 1 || docs[0].kind !== 'PrometheusRule') {
      fail(`${file}: expected one PrometheusRule, got ${docs.map((d) => d.kind).join(', ') || 'nothing'}`);
      return null;
    }
    try {
      new PrometheusRule(docs[0]).validate();
    } catch (e) {
      fail(`${file}: PrometheusRule does not validate: ${e.message}`);
    }
    return docs[0];
  };
  const pr = check(prFile);
  if (pr) {
    fs.writeFileSync(rulesOut, YAML.stringify({ groups: pr.spec.groups }));
    const groups = pr.spec.groups.map((g) => g.name);
    if (groups.join() !== 'device-api-server') fail(`groups: expected [device-api-server], got [${groups}]`);
    for (const r of pr.spec.groups.flatMap((g) => g.rules)) {
      const where = `alert ${r.alert}`;
      if (!r.alert) fail(`a rule without alert name: ${JSON.stringify(r)}`);
      if (!['critical', 'warning', 'info'].includes(r.labels?.severity)) fail(`${where}: severity label missing or odd`);
      for (const a of ['summary', 'description', 'runbook_url']) {
        if (!r.annotations?.[a]) fail(`${where}: annotation ${a} missing`);
      }
      const anchor = `#${String(r.alert).toLowerCase()}`;
      if (!String(r.annotations?.runbook_url).endsWith(anchor)) fail(`${where}: runbook_url does not end with ${anchor}`);
      if (/\{\{\s*[^$\s]/.test(JSON.stringify(r.annotations).replace(/\{\{\s*\$(labels|value)\b/g, ''))) {
        fail(`${where}: annotations keep a Helm template: ${JSON.stringify(r.annotations)}`);
      }
    }
  }
  const extra = check(extraFile);
  if (extra) {
    const g = extra.spec.groups;
    if (g.length !== 2 || g[1].rules?.[0]?.alert !== 'ExtraAlert') {
      fail(`additionalRules: expected a second group with ExtraAlert, got ${JSON.stringify(g.map((x) => x.name))}`);
    }
  }
} else if (mode === 'disabled') {
  const docs = readYamlDocs(args[0]);
  for (const d of docs) {
    if (d.kind === 'PrometheusRule') fail(`PrometheusRule ${d.metadata?.name} rendered with metrics.prometheusRule.enabled=false`);
    if (d.kind === 'ConfigMap' && d.data && 'device-api-server.json' in d.data) {
      fail(`dashboard ConfigMap ${d.metadata?.name} rendered with metrics.grafanaDashboard.enabled=false`);
    }
  }
} else if (mode === 'configmap') {
  const { ConfigMap } = require('kubernetes-models/v1');
  const [cmFile, dashFile] = args;
  const docs = readYamlDocs(cmFile);
  if (docs.length !== 1 || docs[0].kind !== 'ConfigMap') {
    fail(`${cmFile}: expected one ConfigMap, got ${docs.map((d) => d.kind).join(', ') || 'nothing'}`);
  } else {
    const cm = docs[0];
    try {
      new ConfigMap(cm).validate();
    } catch (e) {
      fail(`dashboard ConfigMap does not validate: ${e.message}`);
    }
    if (cm.metadata?.labels?.grafana_dashboard !== '1') fail('dashboard ConfigMap lacks the label grafana_dashboard: "1"');
    if (cm.metadata?.annotations?.['grafana-folder'] !== 'GPU') fail('dashboard ConfigMap lacks the annotation set with --set');
    const json = Object.values(cm.data || {});
    if (json.length !== 1 || json[0] !== fs.readFileSync(dashFile, 'utf8').replace(/\n$/, '')) {
      fail('dashboard ConfigMap does not carry files/dashboard.json unchanged');
    }
  }
} else if (mode === 'coverage') {
  const [rulesFile, ...tests] = args;
  const fired = new Set();
  const quiet = new Set();
  for (const t of tests) {
    for (const tc of YAML.parse(fs.readFileSync(t, 'utf8')).tests || []) {
      for (const a of tc.alert_rule_test || []) (a.exp_alerts?.length ? fired : quiet).add(a.alertname);
    }
  }
  for (const r of alertRules(rulesFile)) {
    if (!fired.has(r.alert)) fail(`alert ${r.alert} fires in no promtool test (tests/deployments/alerts)`);
    if (!quiet.has(r.alert)) fail(`alert ${r.alert} has no promtool test where it must not fire`);
  }
} else if (mode === 'names') {
  const [rulesFile, dashFile, scrapeDir, job, namespace] = args;
  const scrapes = readScrapes(scrapeDir);
  const rules = alertRules(rulesFile);
  const alertMetrics = new Set();
  for (const r of rules) {
    checkExpr(r.expr, `alert ${r.alert}`, scrapes, { job, namespace }).forEach((s) => alertMetrics.add(s.name));
  }
  console.log(`${rules.length} alerts use ${alertMetrics.size} metrics: ${[...alertMetrics].sort().join(' ')}`);

  let dash;
  try {
    dash = JSON.parse(fs.readFileSync(dashFile, 'utf8'));
  } catch (e) {
    fail(`${dashFile} is not valid JSON: ${e.message}`);
    dash = null;
  }
  if (dash) {
    if (!dash.uid || !dash.title) fail('dashboard: uid or title missing');
    const vars = dash.templating?.list || [];
    if (!vars.some((v) => v.name === 'datasource' && v.type === 'datasource' && v.query === 'prometheus')) {
      fail('dashboard: no datasource variable "datasource" of type prometheus');
    }
    const dsOk = (ds) => ds && ds.uid === '${datasource}';
    const used = new Set();
    for (const v of vars.filter((x) => x.type === 'query')) {
      if (!dsOk(v.datasource)) fail(`dashboard variable ${v.name}: datasource is not \${datasource}`);
      const q = typeof v.query === 'string' ? v.query : v.query?.query;
      const lv = /^\s*label_values\((.*),\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)\s*$/.exec(q || '');
      if (!lv) {
        fail(`dashboard variable ${v.name}: expected label_values(<selector>, <label>), got ${q}`);
        continue;
      }
      checkExpr(lv[1], `dashboard variable ${v.name}`, scrapes, {}).forEach((s) => used.add(s.name));
    }
    const panels = (dash.panels || []).flatMap((p) => [p, ...(p.panels || [])]).filter((p) => p.type !== 'row');
    const ids = new Set();
    for (const p of panels) {
      const where = `dashboard panel "${p.title}"`;
      if (ids.has(p.id)) fail(`${where}: duplicate id ${p.id}`);
      ids.add(p.id);
      if (!dsOk(p.datasource)) fail(`${where}: datasource is not \${datasource}`);
      if (!p.targets?.length) fail(`${where}: no targets`);
      for (const t of p.targets || []) {
        if (!dsOk(t.datasource)) fail(`${where}: target ${t.refId} datasource is not \${datasource}`);
        checkExpr(t.expr || '', where, scrapes, { job: '$job' }).forEach((s) => used.add(s.name));
      }
    }
    // The panels the dashboard promises, by the metrics they show.
    const required = {
      'GPUs by health': 'device_api_server_gpus',
      'RPC rate by method/code': 'grpc_server_handled_total',
      'p99 latency': 'grpc_server_handling_seconds_bucket',
      'watch streams': 'device_api_server_watch_streams_active',
      'watcher evictions': 'device_api_server_watchers_evicted_total',
      writes: 'device_api_server_writes_total',
      RSS: 'process_resident_memory_bytes',
      'provider XID events': 'nvml_provider_xid_events_total',
      'plugin allocations': 'gpu_device_plugin_allocations_total',
      'plugin Device API connectivity': 'gpu_device_plugin_device_api_connected',
      'npd monitor conditions': 'npd_gpu_monitor_condition',
    };
    console.log(`dashboard: ${panels.length} panels use ${used.size} metrics`);
    for (const [what, metric] of Object.entries(required)) {
      if (!used.has(metric)) fail(`dashboard: no panel shows ${what} (${metric})`);
    }
  }
} else {
  console.error(`usage: check_alerts.js rules|disabled|configmap|coverage|names ...`);
  process.exit(2);
}
process.exit(failures ? 1 : 0);
