/**
 * The fingerprint of the sources a build reads, and where the last build's is kept (dist/.build-stamp).
 * Its own module: build.mjs and build-if-changed.mjs both import it (neither imports the other at
 * load, so running either directly cannot deadlock on a module cycle).
 */
import { promises as fs } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const STAMP = 'dist/.build-stamp';
/** Folders whose files go into the build, and single files that change it. */
const SOURCE_DIRS = ['server', 'shared', 'web'];
const SOURCE_FILES = ['package.json', 'package-lock.json', 'vite.config.ts', 'tsconfig.json', 'scripts/build.mjs', 'scripts/fingerprint.mjs', 'scripts/code-cache-loader.cjs'];
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
