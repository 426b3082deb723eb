#!/usr/bin/env node
// Validates Kubernetes objects in multi-document YAML files (arguments; none or "-": stdin) against
// the schemas of kubernetes-models (core and apps/rbac/... groups) and
// @kubernetes-models/prometheus-operator (monitoring.coreos.com), offline:
//   - each object's class is chosen by apiVersion + kind; an apiVersion/kind with no model is an error;
//   - the model's own validate() (ajv-compiled OpenAPI schema): types, required fields, enums, formats;
//   - unknown fields, which those schemas let through (a misspelt `imagePullPolcy` validates): the
//     compiled validators carry no JSON schema to walk, so the object is handed to validate() behind
//     a Proxy that records which properties the validator looks up. A validator looks up every
//     property its schema declares (present or not), and enumerates the keys of maps
//     (additionalProperties). So in an object that the validator looked into but did not
//     enumerate, a key it never asked for is not in the schema. An object it did not look into at
//     all has no declared properties (free-form, e.g. x-kubernetes-preserve-unknown-fields) and is
//     not judged.
//   - the same kind/namespace/name twice.
// One line per error: "<file>: <kind>/<name>: <path>: <message>". Exit 1 on any error, 0 otherwise.
// Needs NODE_PATH=tools/npm/node_modules (tests/deployments/lib.sh sets it).
'use strict';

const fs = require('fs');
const YAML = require('yaml');

const MODEL_PACKAGES = ['kubernetes-models', '@kubernetes-models/prometheus-operator'];

function modelClass(apiVersion, kind) {
  if (typeof apiVersion !== 'string' || typeof kind !== 'string' || !/^[A-Za-z0-9.\-/]+$/.test(apiVersion) ||
      !/^[A-Za-z0-9]+$/.test(kind)) {
    return null;
  }
  for (const pkg of MODEL_PACKAGES) {
    let mod;
    try {
      mod = require(`${pkg}/${apiVersion}`);
    } catch (e) {
      if (e.code === 'MODULE_NOT_FOUND' || e.code === 'ERR_PACKAGE_PATH_NOT_EXPORTED') continue;
      throw e;
    }
    const cls = mod[kind];
    if (typeof cls === 'function' && cls.apiVersion === apiVersion && cls.kind === kind &&
        typeof cls.prototype.validate === 'function') {
      return cls;
    }
  }
  return null;
}

function pointerToPath(pointer) {
  if (!pointer) return '.';
  return pointer.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? `[${s}]` : `.${s}`)).join('');
}

function childPath(path, key, isArray) {
  const base = path === '.' ? '' : path;
  return isArray ? `${base}[${key}]` : `${base}.${key}`;
}

// Wraps `root` so that every property lookup and key enumeration on each (nested) plain object is
// recorded. Returns { proxy, report() } where report() lists [path, key] of unknown keys.
function instrument(root) {
  const info = new Map(); // target object -> { path, accessed: Set, enumerated: bool }
  const proxies = new WeakMap();
  function wrap(value, path) {
    if (value === null || typeof value !== 'object') return value;
    if (proxies.has(value)) return proxies.get(value);
    const rec = { path, accessed: new Set(), enumerated: false, isArray: Array.isArray(value) };
    info.set(value, rec);
    const proxy = new Proxy(value, {
      get(target, key, receiver) {
        const v = Reflect.get(target, key, receiver);
        if (typeof key !== 'string') return v;
        rec.accessed.add(key);
        if (Object.prototype.hasOwnProperty.call(target, key) && v !== null && typeof v === 'object') {
          return wrap(v, childPath(rec.path, key, rec.isArray));
        }
        return v;
      },
      has(target, key) {
        if (typeof key === 'string') rec.accessed.add(key);
        return Reflect.has(target, key);
      },
      ownKeys(target) {
        rec.enumerated = true;
        return Reflect.ownKeys(target);
      },
    });
    proxies.set(value, proxy);
    return proxy;
  }
  const proxy = wrap(root, '.');
  function report() {
    const unknown = [];
    for (const [target, rec] of info) {
      if (rec.isArray || rec.enumerated || rec.accessed.size === 0) continue;
      for (const key of Object.keys(target)) {
        if (!rec.accessed.has(key)) unknown.push([rec.path, key]);
      }
    }
    // Objects the validator never reached are not in `info`: a parent that was not looked into.
    return unknown;
  }
  return { proxy, report };
}

function validateObject(obj) {
  const errors = [];
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
    return ['.: not an object'];
  }
  const cls = modelClass(obj.apiVersion, obj.kind);
  if (!cls) {
    return [`.: no schema for apiVersion ${JSON.stringify(obj.apiVersion)} kind ${JSON.stringify(obj.kind)}`];
  }
  const { proxy, report } = instrument(obj);
  try {
    cls.prototype.validate.call(proxy);
  } catch (e) {
    if (Array.isArray(e.errors)) {
      for (const err of e.errors) {
        const extra = err.params && err.params.missingProperty ? ` (${err.params.missingProperty})` :
          err.params && err.params.allowedValues ? ` (${err.params.allowedValues.join(', ')})` : '';
        errors.push(`${pointerToPath(err.instancePath)}: ${err.message || err.keyword}${extra}`);
      }
    } else {
      errors.push(`.: ${e.message}`);
    }
  }
  for (const [path, key] of report()) {
    errors.push(`${childPath(path, key, false)}: unknown field "${key}"`);
  }
  return errors;
}

function main(argv) {
  const files = argv.length ? argv : ['-'];
  let failures = 0;
  let objects = 0;
  for (const file of files) {
    const name = file === '-' ? '<stdin>' : file;
    let text;
    try {
      text = fs.readFileSync(file === '-' ? 0 : file, 'utf8');
    } catch (e) {
      console.log(`${name}: cannot read: ${e.message}`);
      failures++;
      continue;
    }
    const seen = new Map();
    const docs = YAML.parseAllDocuments(text, { uniqueKeys: true });
    docs.forEach((doc, i) => {
      if (doc.errors.length) {
        for (const e of doc.errors) console.log(`${name}: document ${i + 1}: YAML: ${e.message.split('\n')[0]}`);
        failures += doc.errors.length;
        return;
      }
      const obj = doc.toJSON();
      if (obj === null || obj === undefined) return; // empty document
      objects++;
      const md = (obj && obj.metadata) || {};
      const id = `${obj && obj.kind}/${md.name || md.generateName || `(document ${i + 1})`}`;
      for (const e of validateObject(obj)) {
        console.log(`${name}: ${id}: ${e}`);
        failures++;
      }
      const key = `${obj.apiVersion} ${obj.kind} ${md.namespace || ''} ${md.name}`;
      if (md.name && seen.has(key)) {
        console.log(`${name}: ${id}: defined twice (documents ${seen.get(key)} and ${i + 1})`);
        failures++;
      }
      seen.set(key, i + 1);
    });
  }
  if (failures) {
    console.log(`validate_k8s: ${failures} error(s) in ${objects} object(s)`);
    return 1;
  }
  console.log(`validate_k8s: ${objects} object(s) valid`);
  return 0;
}

if (require.main === module) {
  process.exitCode = main(process.argv.slice(2));
}

module.exports = { validateObject, modelClass };
