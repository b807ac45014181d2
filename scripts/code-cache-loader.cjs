#!/usr/bin/env node
/**
 * dist/server/main.js (copied here by scripts/build.mjs): runs the bundle (app.js) and the server's
 * packages (vendor.cjs) through `vm.Script` with the V8 code cache the build wrote beside them
 * (*.cache), so a start skips parsing and compiling about 1.2 MB of JavaScript. Node 20 has no
 * module.enableCompileCache. A cache V8 rejects (another Node version, other flags) is ignored and
 * the files are compiled as usual. TUF_ROTATE_WRITE_CODE_CACHE=1 (the build's warm-up run) writes
 * the caches when the process exits, after the functions the run used were compiled.
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const { createRequire } = require('node:module');

const WRITE = process.env.TUF_ROTATE_WRITE_CODE_CACHE === '1';
const scripts = [];

function run(file) {
  let source = fs.readFileSync(file, 'utf8');
  // A shebang is no JavaScript inside the wrapper; keep the line (source maps count lines).
  if (source.startsWith('#!')) source = '//' + source.slice(2);
  let cachedData;
  if (!WRITE) {
    try {
      cachedData = fs.readFileSync(file + '.cache');
    } catch {
      cachedData = undefined;
    }
  }
  const script = new vm.Script('(function (exports, require, module, __filename, __dirname) {' + source + '\n})', {
    filename: file,
    cachedData,
    importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  if (WRITE) scripts.push({ file, script });
  const mod = { exports: {}, filename: file, id: file, loaded: false };
  const req = createRequire(file);
  const localRequire = (id) => (id === './vendor.cjs' ? vendor() : req(id));
  localRequire.resolve = req.resolve;
  localRequire.cache = req.cache;
  localRequire.main = req.main;
  script.runInThisContext().call(mod.exports, mod.exports, localRequire, mod, file, path.dirname(file));
  mod.loaded = true;
  return mod.exports;
}

let vendorExports;
function vendor() {
  if (vendorExports === undefined) vendorExports = run(path.join(__dirname, 'vendor.cjs'));
  return vendorExports;
}

if (WRITE) {
  process.on('exit', () => {
    for (const { file, script } of scripts) fs.writeFileSync(file + '.cache', script.createCachedData());
  });
}

run(path.join(__dirname, 'app.js'));
