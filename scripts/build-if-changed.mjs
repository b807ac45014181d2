#!/usr/bin/env node
/**
 * Builds only when the sources changed since the last build: a fingerprint of every source file's
 * path, size and modification time (plus the package and build files) against the stamp the last
 * build wrote in dist/. Run directly, it builds if needed and exits; `npm start` uses it through
 * scripts/start.mjs.
 */
import process from 'node:process';
import { promises as fs } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const STAMP = 'dist/.build-stamp';
/** Folders whose files go into the build, and single files that change it. */
const SOURCE_DIRS = ['server', 'shared', 'web'];
const SOURCE_FILES = ['package.json', 'package-lock.json', 'vite.config.ts', 'tsconfig.json', 'scripts/build.mjs'];
/** What must exist for a build to count as done. */
const OUTPUTS = ['dist/server/main.js', 'dist/server/vendor.cjs', 'dist/server/package.json', 'dist/web/index.html'];

async function walk(dir, out) {
  let entries;
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    if (e.name === 'node_modules' || e.name.startsWith('.')) continue;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) await walk(p, out);
    else if (e.isFile()) out.push(p);
  }
}

/** A hash of the path, size and modification time of every source file. */
export async function fingerprint() {
  const files = [];
  for (const d of SOURCE_DIRS) await walk(path.join(ROOT, d), files);
  for (const f of SOURCE_FILES) files.push(path.join(ROOT, f));
  files.sort();
  const hash = createHash('sha256');
  for (const f of files) {
    try {
      const st = await fs.stat(f);
      hash.update(`${path.relative(ROOT, f)}\0${st.size}\0${st.mtimeMs}\n`);
    } catch {
      hash.update(`${path.relative(ROOT, f)}\0missing\n`);
    }
  }
  return hash.digest('hex');
}

/** True when dist/ holds a complete build of the current sources. */
export async function upToDate() {
  try {
    const [stamp, now] = await Promise.all([fs.readFile(path.join(ROOT, STAMP), 'utf8'), fingerprint()]);
    if (stamp.trim() !== now) return false;
    await Promise.all(OUTPUTS.map((f) => fs.access(path.join(ROOT, f))));
    return true;
  } catch {
    return false;
  }
}

/** Builds if the sources changed; returns whether it built. */
export async function buildIfChanged({ log = (s) => process.stderr.write(s) } = {}) {
  if (await upToDate()) return false;
  log('tuf-rotate: sources changed since the last build; building…\n');
  const { build } = await import('./build.mjs');
  await build({ quiet: true });
  return true;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await buildIfChanged();
}
