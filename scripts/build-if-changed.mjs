#!/usr/bin/env node
/**
 * Builds only when the sources changed since the last build: a fingerprint of every source file's
 * path, size and modification time (plus the package and build files) against the stamp the last
 * build wrote in dist/. Run directly, it builds if needed and exits; `npm start` uses it through
 * scripts/start.cjs.
 */
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { upToDateSync } from './fingerprint.mjs';

export async function upToDate() {
  return upToDateSync();
}

/** Builds if the sources changed; returns whether it built. */
export async function buildIfChanged({ log = (s) => process.stderr.write(s) } = {}) {
  if (upToDateSync()) return false;
  log('tuf-rotate: sources changed since the last build; building…\n');
  const { build } = await import('./build.mjs');
  await build({ quiet: true });
  return true;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await buildIfChanged();
}
