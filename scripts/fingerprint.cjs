/**
 * Whether dist/ holds a build of the current sources, and the stamp the last build left for that
 * (dist/.build-stamp). CommonJS so that `npm start` (scripts/start.cjs) checks it without Node's ES
 * module loader; scripts/fingerprint.mjs re-exports it for build.mjs and build-if-changed.mjs.
 *
 * The stamp lists every source file with its size and modification time, and every source folder
 * with its modification time, as they were when the build began. A start with nothing changed
 * costs one read of the stamp and one `statSync` per listed file and folder (about 190), with no
 * directory listing and no hash: an edited file changes its own size or mtime, and a file added,
 * removed or renamed changes its folder's mtime. Only when a folder's mtime differs (an editor's
 * swap file, a new file) are the folders listed again and the files compared one by one; when they
 * are the same, the stamp's folder times are refreshed so that the next start is fast again.
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const STAMP = 'dist/.build-stamp';
/** Folders whose files go into the build, and single files that change it. */
const SOURCE_DIRS = ['server', 'shared', 'web'];
const SOURCE_FILES = ['package.json', 'package-lock.json', 'vite.config.ts', 'tsconfig.json', 'scripts/build.mjs', 'scripts/fingerprint.cjs', 'scripts/code-cache-loader.cjs'];
/** What must exist for a build to count as done. */
const OUTPUTS = ['dist/server/main.js', 'dist/server/app.js', 'dist/server/vendor.cjs', 'dist/server/package.json', 'dist/web/index.html'];
const VERSION = 2;

/** Every source folder (relative, '/'-separated) and file under `dir`; dot entries and node_modules left out. */
function walk(root, rel, dirs, files) {
  let entries;
  try {
    entries = fs.readdirSync(path.join(root, rel), { withFileTypes: true });
  } catch {
    return;
  }
  dirs.push(rel);
  for (const e of entries) {
    if (e.name === 'node_modules' || e.name.startsWith('.')) continue;
    const p = rel + '/' + e.name;
    if (e.isDirectory()) walk(root, p, dirs, files);
    else if (e.isFile()) files.push(p);
  }
}

/** `[size, mtimeMs]` of a file, or null when it is missing. */
function fileState(root, rel) {
  const st = fs.statSync(path.join(root, rel), { throwIfNoEntry: false });
  return st === undefined ? null : [st.size, st.mtimeMs];
}

/**
 * The sources as they are now: `{ v, dirs: {folder: mtimeMs}, files: {file: [size, mtimeMs] | null} }`.
 * A build takes it before it starts, so a file edited during the build makes the next start build again.
 */
function snapshotSync(root = ROOT) {
  const dirs = [];
  const files = [];
  for (const d of SOURCE_DIRS) walk(root, d, dirs, files);
  dirs.sort();
  files.push(...SOURCE_FILES);
  files.sort();
  const snap = { v: VERSION, dirs: {}, files: {} };
  for (const d of dirs) {
    const st = fs.statSync(path.join(root, d), { throwIfNoEntry: false });
    snap.dirs[d] = st === undefined ? null : st.mtimeMs;
  }
  for (const f of files) snap.files[f] = fileState(root, f);
  return snap;
}

function readStamp(root) {
  try {
    const s = JSON.parse(fs.readFileSync(path.join(root, STAMP), 'utf8'));
    return s !== null && typeof s === 'object' && s.v === VERSION && s.dirs && s.files ? s : undefined;
  } catch {
    return undefined;
  }
}

function writeStampSync(snap, root = ROOT) {
  const file = path.join(root, STAMP);
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(snap) + '\n');
  fs.renameSync(tmp, file);
}

function sameState(a, b) {
  return a === b || (Array.isArray(a) && Array.isArray(b) && a[0] === b[0] && a[1] === b[1]);
}

/** The fast check: every listed file and folder as the stamp has it (no listing, no hash). */
function stampHoldsSync(stamp, root) {
  for (const d in stamp.dirs) {
    const st = fs.statSync(path.join(root, d), { throwIfNoEntry: false });
    if ((st === undefined ? null : st.mtimeMs) !== stamp.dirs[d]) return false;
  }
  for (const f in stamp.files) if (!sameState(fileState(root, f), stamp.files[f])) return false;
  // A source folder that did not exist at the build (its parent's mtime covers the others).
  for (const d of SOURCE_DIRS) if (!(d in stamp.dirs) && fs.existsSync(path.join(root, d))) return false;
  return true;
}

/** True when dist/ holds a complete build of the current sources. Synchronous: about 190 stat calls. */
function upToDateSync(root = ROOT) {
  if (!OUTPUTS.every((f) => fs.existsSync(path.join(root, f)))) return false;
  const stamp = readStamp(root);
  if (stamp === undefined) return false;
  if (stampHoldsSync(stamp, root)) return true;
  // A folder changed: list again and compare the files themselves.
  const now = snapshotSync(root);
  const names = Object.keys(now.files);
  if (names.length !== Object.keys(stamp.files).length) return false;
  for (const f of names) if (!(f in stamp.files) || !sameState(now.files[f], stamp.files[f])) return false;
  // Same files, same sizes and times (say an editor's swap file came and went): keep the stamp's
  // files and take the folders' new times, so that the next start takes the fast path again.
  try {
    writeStampSync({ v: VERSION, dirs: now.dirs, files: stamp.files }, root);
  } catch {
    // A read-only checkout: the next start lists the folders again.
  }
  return true;
}

module.exports = { ROOT, STAMP, OUTPUTS, SOURCE_DIRS, SOURCE_FILES, snapshotSync, writeStampSync, upToDateSync };
