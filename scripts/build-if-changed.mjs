#!/usr/bin/env node
/**
 * Builds only when the sources changed since the last build: a fingerprint of every source file's
 * path, size and modification time (plus the package and build files) against the stamp the last
 * build wrote in dist/. Run directly, it builds if needed and exits; `npm start` uses it through
 * scripts/start.mjs.
 */
import process from 'node:process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fingerprint, ROOT, STAMP } from './fingerprint.mjs';

/** What must exist for a build to count as done. */
const OUTPUTS = ['dist/server/main.js', 'dist/server/vendor.cjs', 'dist/server/package.json', 'dist/web/index.html'];

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
