/**
 * The fingerprint of the sources a build reads, and where the last build's is kept (dist/.build-stamp).
 * CommonJS so that `npm start` (scripts/start.cjs) checks it without loading Node's ES module loader;
 * scripts/fingerprint.mjs re-exports it for build.mjs and build-if-changed.mjs.
 */
'use strict';
const fs = require('node:fs');
const { createHash } = require('node:crypto');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const STAMP = 'dist/.build-stamp';
/** Folders whose files go into the build, and single files that change it. */
const SOURCE_DIRS = ['server', 'shared', 'web'];
const SOURCE_FILES = ['package.json', 'package-lock.json', 'vite.config.ts', 'tsconfig.json', 'scripts/build.mjs', 'scripts/fingerprint.cjs', 'scripts/code-cache-loader.cjs'];
/** What must exist for a build to count as done. */
const OUTPUTS = ['dist/server/main.js', 'dist/server/app.js', 'dist/server/vendor.cjs', 'dist/server/package.json', 'dist/web/index.html'];

// Synchronous on purpose: `npm start` runs this before every start, and ~140 statSync calls take a
// few milliseconds where as many awaited promises took tens.
function walk(dir, out) {
  let entries;
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    if (e.name === 'node_modules' || e.name.startsWith('.')) continue;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (e.isFile()) out.push(p);
  }
}

/** A hash of the path, size and modification time of every source file. */
function fingerprintSync() {
  const files = [];
  for (const d of SOURCE_DIRS) walk(path.join(ROOT, d), files);
  for (const f of SOURCE_FILES) files.push(path.join(ROOT, f));
  files.sort();
  const hash = createHash('sha256');
  for (const f of files) {
    const st = fs.statSync(f, { throwIfNoEntry: false });
    hash.update(st === undefined ? `${path.relative(ROOT, f)}\0missing\n` : `${path.relative(ROOT, f)}\0${st.size}\0${st.mtimeMs}\n`);
  }
  return hash.digest('hex');
}

/** True when dist/ holds a complete build of the current sources (synchronous: a few stat calls). */
function upToDateSync() {
  try {
    if (fs.readFileSync(path.join(ROOT, STAMP), 'utf8').trim() !== fingerprintSync()) return false;
    return OUTPUTS.every((f) => fs.existsSync(path.join(ROOT, f)));
  } catch {
    return false;
  }
}

module.exports = { ROOT, STAMP, OUTPUTS, fingerprintSync, upToDateSync };
