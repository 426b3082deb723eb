#!/usr/bin/env node
// Checks that every command line our manifests give one of our binaries is one the binary accepts,
// against the binary's own --help (CLI11), offline:
//   check_flags.js --binary device-api-server=/path/to/device-api-server [--binary ...] [--min N] FILE...
// (no FILE or "-": stdin; multi-document YAML, e.g. `kustomize build` or `helm template` output).
//
// Invocations found:
//   - a container or init container whose image is one of ours (last path component before ':' or
//     '@', e.g. deviceapi/npd-gpu-monitor:v0.1.0) and that has no `command`: the image's entrypoint is
//     the binary, the argv is `args`;
//   - a container (any image) whose `command[0]` (or the program after `env`) is one of ours;
//   - in `sh -c`/`bash -c` scripts, each simple command whose program is one of ours (by basename;
//     `cp /usr/local/bin/npd-gpu-monitor ...` is not an invocation);
//   - in ConfigMaps, NPD custom-plugin configs (*.json, "plugin": "custom"): rules[].path naming one
//     of ours, with rules[].args.
// A container of our image whose explicit command never runs our binary (chown, cp) is skipped.
// Checked per invocation, against `<binary> [<subcommand>...] --help`: every --flag/-f name exists
// (for a binary with subcommands, the first non-flag argument picks the subcommand and later flags
// are checked against its help), a flag that takes a value has one, values of INT/UINT flags are
// integers, of flags whose default is a Go duration are durations, of host:port flags are
// host:port or 0, of {true} flags true/false; no stray positional; REQUIRED flags present.
// A Kubernetes $(VAR) reference in a value is env expansion: accepted as it is.
// One line per error; exit 1 on any error (or fewer than --min invocations checked).
'use strict';

const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');
const YAML = require('yaml');

const binaries = new Map(); // name -> path
const files = [];
let minInvocations = 0;
{
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--binary' || a.startsWith('--binary=')) {
      const v = a === '--binary' ? argv[++i] : a.slice('--binary='.length);
      const eq = v ? v.indexOf('=') : -1;
      if (eq <= 0) {
        console.error(`check_flags: --binary NAME=PATH, got ${JSON.stringify(v)}`);
        process.exit(2);
      }
      binaries.set(v.slice(0, eq), v.slice(eq + 1));
    } else if (a === '--min') {
      minInvocations = Number(argv[++i]);
    } else {
      files.push(a);
    }
  }
  if (!binaries.size) {
    console.error('usage: check_flags.js --binary NAME=PATH [--binary ...] [--min N] [FILE...]');
    process.exit(2);
  }
  if (!files.length) files.push('-');
}

// ---- --help parsing ------------------------------------------------------------------------------
const helpCache = new Map();
function helpSpec(bin, subpath) {
  const key = [bin, ...subpath].join(' ');
  if (helpCache.has(key)) return helpCache.get(key);
  let text;
  try {
    text = execFileSync(binaries.get(bin), [...subpath, '--help'], { encoding: 'utf8', timeout: 10000,
      stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    text = null;
    helpCache.set(key, { error: `\`${key} --help\` failed: ${(e.stderr || e.message || '').toString().trim()}` });
    return helpCache.get(key);
  }
  const spec = { options: new Map(), subcommands: new Set(), positionals: false };
  let section = '';
  for (const line of text.split('\n')) {
    const header = /^(\w[\w ]*):\s*$/.exec(line);
    if (header) {
      section = header[1];
      continue;
    }
    if (section === 'Options') {
      const m = /^ {2}(-\S+)(.*)$/.exec(line);
      if (!m) continue;
      const names = m[1].replace(/\{[^}]*\}$/, '').split(',');
      const optionalValue = /\{[^}]*\}$/.test(m[1]);
      const t = /^\s+([A-Z]+)(?:=(\S*))?(?:\s+(REQUIRED))?/.exec(m[2]);
      const type = t && /^(TEXT|INT|UINT|FLOAT|NUMBER|BOOLEAN|ENUM)$/.test(t[1]) ? t[1] : null;
      const opt = { names, type, def: t && type ? t[2] : undefined, optionalValue,
        required: !!(t && t[3]) || / REQUIRED\b/.test(m[2].slice(0, 40)) };
      for (const n of names) spec.options.set(n, opt);
    } else if (section === 'Subcommands') {
      const m = /^ {2}(\w[\w-]*)\s/.exec(line);
      if (m) spec.subcommands.add(m[1]);
    } else if (section === 'Positionals') {
      if (/^ {2}\S/.test(line)) spec.positionals = true;
    }
  }
  helpCache.set(key, spec);
  return spec;
}

// ---- values --------------------------------------------------------------------------------------
const GO_DURATION = /^[-+]?((\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h))+$|^0$/;
const HAS_ENV_REF = /\$\([A-Za-z_][A-Za-z0-9_]*\)/;
function checkValue(opt, name, value) {
  if (HAS_ENV_REF.test(value)) return null;
  if (opt.optionalValue) {
    return /^(true|false)$/.test(value) ? null : `${name}=${value}: expects true or false`;
  }
  switch (opt.type) {
    case 'INT': return /^[-+]?\d+$/.test(value) ? null : `${name} ${JSON.stringify(value)}: not an integer`;
    case 'UINT': return /^\+?\d+$/.test(value) ? null : `${name} ${JSON.stringify(value)}: not a non-negative integer`;
    default: break;
  }
  if (opt.def !== undefined && opt.def !== '' && GO_DURATION.test(opt.def) && opt.def !== '0' &&
      !GO_DURATION.test(value)) {
    return `${name} ${JSON.stringify(value)}: not a duration (the default is ${opt.def})`;
  }
  if (opt.def !== undefined && /^[\w.-]*:\d+$/.test(opt.def) && !/^(\[[0-9a-fA-F:.]*\]|[\w.-]*):\d+$|^0$/.test(value)) {
    return `${name} ${JSON.stringify(value)}: not host:port (the default is ${opt.def})`;
  }
  if (/^unix:/.test(value) && !/^unix:\/\/\//.test(value)) {
    return `${name} ${JSON.stringify(value)}: a unix:// target needs an absolute path (unix:///...)`;
  }
  return null;
}

// Checks one argv (without argv[0]) for binary `bin`; returns error strings.
function checkArgv(bin, argv) {
  const errors = [];
  const subpath = [];
  let spec = helpSpec(bin, subpath);
  if (spec.error) return [spec.error];
  const given = new Set();
  const shellWord = (a) => typeof a === 'string' && /^\$/.test(a); // "$@", $VAR from a shell script
  for (let i = 0; i < argv.length; i++) {
    const a = String(argv[i]);
    if (a === '--') break;
    if (a.startsWith('-') && a !== '-') {
      let name;
      let value;
      if (a.startsWith('--')) {
        const eq = a.indexOf('=');
        name = eq < 0 ? a : a.slice(0, eq);
        value = eq < 0 ? undefined : a.slice(eq + 1);
      } else {
        name = a.slice(0, 2);
        value = a.length > 2 ? a.slice(2).replace(/^=/, '') : undefined;
      }
      const where = [bin, ...subpath].join(' ');
      const opt = spec.options.get(name);
      if (!opt) {
        errors.push(`${where}: unknown flag ${name}`);
        continue;
      }
      for (const n of opt.names) given.add(n);
      if (opt.type && !opt.optionalValue && value === undefined) {
        if (i + 1 >= argv.length || /^-[^\d]/.test(String(argv[i + 1]))) {
          errors.push(`${where}: ${name} needs a value`);
          continue;
        }
        value = String(argv[++i]);
      } else if (!opt.type && !opt.optionalValue && value !== undefined) {
        errors.push(`${where}: ${name} takes no value, got ${JSON.stringify(value)}`);
        continue;
      }
      if (value !== undefined && !shellWord(value)) {
        const e = checkValue(opt, name, value);
        if (e) errors.push(`${where}: ${e}`);
      }
    } else if (spec.subcommands.size && !spec.positionals) {
      if (!spec.subcommands.has(a)) {
        errors.push(`${[bin, ...subpath].join(' ')}: unknown subcommand ${JSON.stringify(a)}`);
        return errors;
      }
      subpath.push(a);
      spec = helpSpec(bin, subpath);
      if (spec.error) return [...errors, spec.error];
    } else if (!spec.positionals && !shellWord(a)) {
      errors.push(`${[bin, ...subpath].join(' ')}: unexpected argument ${JSON.stringify(a)}`);
    }
  }
  if (!argv.some((a) => a === '--help' || a === '-h' || a === '--version')) {
    for (const opt of new Set(spec.options.values())) {
      if (opt.required && !opt.names.some((n) => given.has(n))) {
        errors.push(`${[bin, ...subpath].join(' ')}: missing required ${opt.names[opt.names.length - 1]}`);
      }
    }
  }
  return errors;
}

// ---- shell scripts -------------------------------------------------------------------------------
// Splits a script into simple commands (lists of words, quotes removed), honouring quotes, $(...)
// and backslash-newline. Good enough for the short scripts in manifests, not a shell.
function shellCommands(script) {
  const commands = [];
  let words = [];
  let word = '';
  let inWord = false;
  let quote = '';
  let depth = 0; // inside $( ... )
  const endWord = () => {
    if (inWord) words.push(word);
    word = '';
    inWord = false;
  };
  const endCommand = () => {
    endWord();
    if (words.length) commands.push(words);
    words = [];
  };
  for (let i = 0; i < script.length; i++) {
    const c = script[i];
    if (quote === "'") {
      if (c === "'") quote = ''; else word += c;
      continue;
    }
    if (c === '\\' && i + 1 < script.length) {
      if (script[i + 1] === '\n') { i++; continue; }
      word += script[++i];
      inWord = true;
      continue;
    }
    if (quote === '"') {
      if (c === '"') quote = ''; else word += c;
      continue;
    }
    if (depth > 0) {
      word += c;
      if (c === '(') depth++;
      if (c === ')') depth--;
      continue;
    }
    if (c === "'" || c === '"') { quote = c; inWord = true; continue; }
    if (c === '$' && script[i + 1] === '(') { word += '$('; i++; depth = 1; inWord = true; continue; }
    if (c === '#' && !inWord) { while (i < script.length && script[i] !== '\n') i++; endCommand(); continue; }
    if (c === '\n' || c === ';' || c === '|' || c === '&' || c === '(' || c === ')') { endCommand(); continue; }
    if (c === ' ' || c === '\t') { endWord(); continue; }
    word += c;
    inWord = true;
  }
  endCommand();
  return commands;
}

const SHELL_SKIP = new Set(['exec', 'then', 'do', 'else', 'elif', 'if', 'while', 'until', '!', '{', '}', 'time', 'nohup']);
function programAndArgs(words) {
  let i = 0;
  for (; i < words.length; i++) {
    const w = words[i];
    if (SHELL_SKIP.has(w) || /^[A-Za-z_][A-Za-z0-9_]*=/.test(w)) continue;
    if (path.basename(w) === 'env') {
      while (i + 1 < words.length && (/^-/.test(words[i + 1]) || /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[i + 1]))) i++;
      continue;
    }
    break;
  }
  if (i >= words.length) return null;
  const args = [];
  for (let j = i + 1; j < words.length; j++) {
    const w = words[j];
    if (/^\d*(>|<|>>|>&|<&)/.test(w)) { // redirection; "> file" takes the next word
      if (/^\d*(>|<|>>)$/.test(w)) j++;
      continue;
    }
    args.push(w);
  }
  return { program: words[i], args };
}

function ourBinary(program) {
  if (typeof program !== 'string') return null;
  const b = path.basename(program);
  return binaries.has(b) ? b : null;
}

function imageName(image) {
  if (typeof image !== 'string') return '';
  const last = image.split('@')[0].split('/').pop();
  return last.split(':')[0];
}

// Returns [{bin, argv, what}] for a container.
function containerInvocations(c) {
  const out = [];
  const command = Array.isArray(c.command) ? c.command.map(String) : null;
  const args = Array.isArray(c.args) ? c.args.map(String) : [];
  const img = imageName(c.image);
  if (!command) {
    if (binaries.has(img)) out.push({ bin: img, argv: args, what: 'entrypoint' });
    return out;
  }
  const full = [...command, ...args];
  const prog = programAndArgs(full);
  if (!prog) return out;
  const b = ourBinary(prog.program);
  if (b) {
    out.push({ bin: b, argv: prog.args, what: 'command' });
    return out;
  }
  const shell = path.basename(prog.program);
  if (/^(sh|bash|dash|ash|busybox)$/.test(shell)) {
    const ci = prog.args.indexOf('-c');
    if (ci >= 0 && ci + 1 < prog.args.length) {
      // Kubernetes turns $$ into $ before the shell sees it.
      const script = prog.args[ci + 1].replace(/\$\$/g, '$');
      for (const words of shellCommands(script)) {
        const p = programAndArgs(words);
        const sb = p && ourBinary(p.program);
        if (sb) out.push({ bin: sb, argv: p.args, what: `script: ${words.join(' ').slice(0, 60)}` });
      }
    }
  }
  return out;
}

function podSpec(obj) {
  const s = obj && obj.spec;
  if (!s) return null;
  switch (obj.kind) {
    case 'Pod': return s;
    case 'CronJob': return s.jobTemplate && s.jobTemplate.spec && s.jobTemplate.spec.template && s.jobTemplate.spec.template.spec;
    default: return s.template && s.template.spec;
  }
}

// ---- main ----------------------------------------------------------------------------------------
let failures = 0;
let checked = 0;
function report(where, errors) {
  for (const e of errors) {
    console.log(`${where}: ${e}`);
    failures++;
  }
}

for (const file of files) {
  const name = file === '-' ? '<stdin>' : file;
  const docs = YAML.parseAllDocuments(fs.readFileSync(file === '-' ? 0 : file, 'utf8'));
  for (const doc of docs) {
    if (doc.errors.length) {
      report(name, doc.errors.map((e) => `YAML: ${e.message.split('\n')[0]}`));
      continue;
    }
    const obj = doc.toJSON();
    if (!obj || typeof obj !== 'object') continue;
    const id = `${obj.kind}/${obj.metadata && obj.metadata.name}`;
    const ps = podSpec(obj);
    if (ps) {
      for (const field of ['initContainers', 'containers', 'ephemeralContainers']) {
        for (const c of ps[field] || []) {
          for (const inv of containerInvocations(c)) {
            checked++;
            report(`${name}: ${id}: ${field} ${c.name} (${inv.what})`, checkArgv(inv.bin, inv.argv));
          }
        }
      }
    }
    if (obj.kind === 'ConfigMap' && obj.data) {
      for (const [key, text] of Object.entries(obj.data)) {
        if (!key.endsWith('.json')) continue;
        let cfg;
        try {
          cfg = JSON.parse(text);
        } catch (e) {
          report(`${name}: ${id}: data ${key}`, [`not JSON: ${e.message}`]);
          continue;
        }
        if (!cfg || cfg.plugin !== 'custom' || !Array.isArray(cfg.rules)) continue;
        cfg.rules.forEach((rule, i) => {
          const b = ourBinary(rule && rule.path);
          if (!b) return;
          checked++;
          report(`${name}: ${id}: data ${key} rules[${i}] (${rule.path})`, checkArgv(b, (rule.args || []).map(String)));
        });
      }
    }
  }
}
if (checked < minInvocations) {
  console.log(`check_flags: ${checked} invocation(s) of our binaries found, expected at least ${minInvocations}`);
  failures++;
}
if (failures) {
  console.log(`check_flags: ${failures} error(s) in ${checked} invocation(s)`);
  process.exitCode = 1;
} else {
  console.log(`check_flags: ${checked} invocation(s) accepted`);
}
